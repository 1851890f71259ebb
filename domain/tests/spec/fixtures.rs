//! Shared fixtures: a test catalogue registry with rules worth testing, actors of every
//! role, a fixed clock, and a builder that walks a case through its phases by issuing real
//! commands (so "given" events are always events the domain itself would record).

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::test::TestFramework;
use domain::case::{
    AcceptSelfDeclaration, Answer, Application, ApproveApplication, ApproveFinalVerification,
    CaseCommand, CaseEvent, CaseServices, CompleteTraining, Compliance, ConnectionCase, GoLive,
    Issued, NamedContact, ScheduleFinalVerification, SignAgreement, SignContract,
    SignFinalContract, SubmitSelfDeclaration,
};
use domain::catalogue::CatalogueRegistry;
use domain::contact::{ContactDetails, ContactRole, EmailAddress};
use domain::identity::OrgNumber;
use domain::ids::{CaseId, DataSubjectId, ProgrammeId, RegionId, RequirementId};
use domain::text::{LongText, ShortText};
use domain::{Actor, FixedClock, Personal, Role};
use uuid::Uuid;

pub const TEST_V1: &str = r#"
programme = "test-halsoval"
programme_name = "Hälsoval (test)"
region = "testregion"
region_name = "Region Test"
version = 1
label = "1"
title = "Test appendix"
effective_from = "2024-01-01"

[source]
file = "test.txt"

[lead_time]
months = 3
kind = "minimum"
section = "2.1"

[application]
required_contacts = ["it_contact", "head_of_unit"]
requires_call_measurement_system = true
workstation_group_size = 10

[[service_packages]]
id = "bas"
name = "Vårdutbud bas"
mandatory = true

[[service_packages]]
id = "telefoni"
name = "Telefoni"
mandatory = false

[[prices]]
item = "helpdesk"
description = "Helpdesk"
amount_ore = 120000
unit = "per_workstation_group_per_month"
effective_from = "2024-01-01"
package = "bas"
section = "3.1"

[[prices]]
item = "journal"
description = "Pregnancy record"
amount_ore = 1540000
unit = "per_unit_per_year"
effective_from = "2024-01-01"
optional = true
approximate = true
section = "3.1"

[[prices]]
item = "quality"
description = "Primary care quality"
amount_ore = 253
unit = "per_listed_patient_per_year"
effective_from = "2024-01-01"
section = "3.1"

[[requirements]]
id = "T-001"
section = "2.5"
quote = "ska teckna anslutningsavtal"
summary = "Sign the connection agreement."
category = "agreements"
level = "must"
evidence = "signed_document"
programmes = ["test-halsoval"]

[[requirements]]
id = "T-002"
section = "2.4"
quote = "ska ansluta sig till Sjunet enligt separat avtal"
summary = "Sign the Sjunet agreement with Inera."
category = "agreements"
level = "must"
evidence = "signed_document"
programmes = ["test-halsoval"]

[[requirements]]
id = "T-003"
section = "2.6"
quote = "bör teckna tilläggsavtal"
summary = "Should sign the supplementary agreement."
category = "agreements"
level = "should"
evidence = "signed_document"
programmes = ["test-halsoval"]

[[requirements]]
id = "T-004"
section = "3.1"
quote = "ska använda regionens nät"
summary = "Use the region's network."
category = "network"
level = "must"
evidence = "declared"
programmes = ["test-halsoval"]

[[requirements]]
id = "T-005"
section = "3.4"
quote = "ska skydda lokalerna"
summary = "Protect the premises."
category = "information_security"
level = "must"
evidence = "verified"
programmes = ["test-halsoval"]

[[requirements]]
id = "T-006"
section = "3.5"
quote = "bör hålla datorerna uppdaterade"
summary = "Should keep computers patched."
category = "cyber_hygiene"
level = "should"
evidence = "declared"
programmes = ["test-halsoval"]

[[requirements]]
id = "T-007"
section = "3.7"
quote = "ska genomgå introduktionsutbildning"
summary = "Complete the introductory training."
category = "training"
level = "must"
evidence = "training"
programmes = ["test-halsoval"]
"#;

/// Version 2 changes T-002's wording, moves T-004, removes T-006 and adds T-008 and T-009.
pub fn test_v2() -> String {
    TEST_V1
        .replace("version = 1", "version = 2")
        .replace("label = \"1\"", "label = \"2\"")
        .replace(
            "effective_from = \"2024-01-01\"\n\n[source]",
            "effective_from = \"2025-06-01\"\n\n[source]",
        )
        .replace(
            "ska ansluta sig till Sjunet enligt separat avtal",
            "ska ansluta sig till Sjunet enligt avtal med Inera",
        )
        .replace(
            "section = \"3.1\"\nquote = \"ska använda",
            "section = \"3.2\"\nquote = \"ska använda",
        )
        .replace(
            r#"[[requirements]]
id = "T-006"
section = "3.5"
quote = "bör hålla datorerna uppdaterade"
summary = "Should keep computers patched."
category = "cyber_hygiene"
level = "should"
evidence = "declared"
programmes = ["test-halsoval"]
"#,
            r#"[[requirements]]
id = "T-008"
section = "3.8"
quote = "ska rapportera incidenter"
summary = "Report incidents."
category = "incident_and_change_reporting"
level = "must"
evidence = "declared"
programmes = ["test-halsoval"]

[[requirements]]
id = "T-009"
section = "2.7"
quote = "ska teckna personuppgiftsbiträdesavtal"
summary = "Sign the processor agreement."
category = "agreements"
level = "must"
evidence = "signed_document"
programmes = ["test-halsoval"]
"#,
        )
}

pub const TEST_BUP: &str = r#"
programme = "test-bup"
programme_name = "Vårdval BUP (test)"
region = "testregion"
region_name = "Region Test"
version = 1
label = "1"
title = "Test appendix BUP"
effective_from = "2024-01-01"

[source]
file = "test-bup.txt"

[lead_time]
months = 3
kind = "approximate"
section = "1.1"

[[requirements]]
id = "B-001"
section = "2"
quote = "ska kunna kommunicera elektroniskt"
summary = "Communicate electronically."
category = "network"
level = "must"
evidence = "declared"
programmes = ["test-bup"]
"#;

pub const OTHER_REGION: &str = r#"
programme = "other-programme"
programme_name = "Other"
region = "otherregion"
region_name = "Region Other"
version = 1
label = "1"
title = "Other appendix"
effective_from = "2024-01-01"

[source]
file = "other.txt"

[[requirements]]
id = "O-001"
section = "1"
quote = "ska"
summary = "Must."
category = "network"
level = "must"
evidence = "declared"
programmes = ["other-programme"]
"#;

pub const NOT_YET_IN_FORCE: &str = r#"
programme = "future-programme"
programme_name = "Future"
region = "testregion"
region_name = "Region Test"
version = 1
label = "1"
title = "Future appendix"
effective_from = "2030-01-01"

[source]
file = "future.txt"

[[requirements]]
id = "F-001"
section = "1"
quote = "ska"
summary = "Must."
category = "network"
level = "must"
evidence = "declared"
programmes = ["future-programme"]
"#;

/// The process of the test catalogue v1: every kind of step a case can meet, gated like
/// Jämtland's (the file is shared with the other crates' tests).
pub const TEST_PROCESS_V1: &str = include_str!("../fixtures/test-halsoval-process-v1.toml");

/// The process of version 2: version 1's, with the agreement T-009 that version 2 adds.
pub fn test_process_v2() -> String {
    TEST_PROCESS_V1.replace("version = 1", "version = 2").replace(
        "[[steps]]\nid = \"telefoniavtal\"",
        "[[steps]]\nid = \"nytt-avtal\"\nkind = \"agreement\"\nname = \"Nytt avtal\"\nsummary = \"The agreement version 2 adds.\"\nsection = \"2.7\"\nquote = \"avtal\"\nrequirements = [\"T-009\"]\ndocument = \"nytt avtal\"\n\n[steps.gate]\nbasis = \"stated\"\nsection = \"2.7\"\nquote = \"avtal\"\n\n[[steps]]\nid = \"telefoniavtal\"",
    )
}

pub const TEST_BUP_PROCESS: &str = include_str!("../fixtures/test-bup-process-v1.toml");
pub const OTHER_PROCESS: &str = include_str!("../fixtures/other-programme-process-v1.toml");
pub const FUTURE_PROCESS: &str = include_str!("../fixtures/future-programme-process-v1.toml");

pub fn registry() -> Arc<CatalogueRegistry> {
    let v2 = test_v2();
    Arc::new(
        CatalogueRegistry::from_sources([
            ("test-halsoval-v1.toml", TEST_V1),
            ("test-halsoval-v2.toml", v2.as_str()),
            ("test-bup-v1.toml", TEST_BUP),
            ("other-v1.toml", OTHER_REGION),
            ("future-v1.toml", NOT_YET_IN_FORCE),
        ])
        .expect("the test catalogues are valid")
        .with_processes([
            ("test-halsoval-process-v1.toml", TEST_PROCESS_V1),
            ("test-halsoval-process-v2.toml", test_process_v2().as_str()),
            ("test-bup-process-v1.toml", TEST_BUP_PROCESS),
            ("other-process-v1.toml", OTHER_PROCESS),
            ("future-process-v1.toml", FUTURE_PROCESS),
        ])
        .expect("the test processes are valid"),
    )
}

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date")
}

pub fn instant(s: &str) -> DateTime<Utc> {
    date(s).and_hms_opt(9, 0, 0).expect("a time").and_utc()
}

/// The day most tests run on: version 1 of the test catalogue is in force.
pub const TODAY: &str = "2025-03-03";

pub fn services_on(day: &str) -> CaseServices {
    CaseServices::new(Arc::new(FixedClock::at(instant(day))), registry())
}

pub fn services() -> CaseServices {
    services_on(TODAY)
}

pub fn spec() -> TestFramework<ConnectionCase> {
    TestFramework::with(services())
}

pub fn spec_on(day: &str) -> TestFramework<ConnectionCase> {
    TestFramework::with(services_on(day))
}

pub fn region() -> RegionId {
    RegionId::parse("testregion").unwrap()
}

pub fn provider_org() -> OrgNumber {
    OrgNumber::parse("559123-4561").unwrap()
}

pub fn other_org() -> OrgNumber {
    OrgNumber::parse("556677-8899").unwrap()
}

pub fn actor(role: Role) -> Actor {
    let org = (role == Role::Provider).then(provider_org);
    Actor::new(
        domain::actor::Subject::parse(&format!("{role}@testregion")).unwrap(),
        role,
        region(),
        org,
    )
    .unwrap()
}

pub fn provider() -> Actor {
    actor(Role::Provider)
}

pub fn officer() -> Actor {
    actor(Role::Officer)
}

pub fn region_it() -> Actor {
    actor(Role::RegionIt)
}

pub fn by(actor: Actor, command: CaseCommand) -> Issued<CaseCommand> {
    Issued::new(actor, command)
}

pub fn text(s: &str) -> ShortText {
    ShortText::parse(s).unwrap()
}

pub fn long(s: &str) -> LongText {
    LongText::parse(s).unwrap()
}

pub fn req(id: &str) -> RequirementId {
    RequirementId::parse(id).unwrap()
}

pub fn case_id() -> CaseId {
    CaseId::from_uuid(Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001))
}

pub fn subject(n: u128) -> DataSubjectId {
    DataSubjectId::from_uuid(Uuid::from_u128(n))
}

pub fn contact(role: ContactRole, n: u128) -> NamedContact {
    NamedContact {
        role,
        person: Personal::new(
            subject(n),
            ContactDetails {
                name: text("Anna Andersson"),
                email: EmailAddress::parse("anna@vardcentral.se").unwrap(),
                phone: None,
            },
        ),
    }
}

/// A complete application to the test Hälsoval programme, go-live four months ahead.
pub fn application() -> Application {
    Application {
        case_id: case_id(),
        programme: ProgrammeId::parse("test-halsoval").unwrap(),
        unit_name: text("Vårdcentralen Norr"),
        org_number: provider_org(),
        service_packages: BTreeSet::from([domain::ids::ServicePackageId::parse("bas").unwrap()]),
        optional_services: BTreeSet::new(),
        workstations: 12,
        listed_patients: Some(8000),
        contacts: vec![
            contact(ContactRole::ItContact, 1),
            contact(ContactRole::HeadOfUnit, 2),
        ],
        requested_go_live: date("2025-07-15"),
        call_measurement_system: Some(text("Telia CallGuide")),
    }
}

/// Complies with everything in the catalogue version given.
pub fn answers_complying(registry: &CatalogueRegistry, version: u32) -> Vec<Answer> {
    let programme = ProgrammeId::parse("test-halsoval").unwrap();
    registry
        .get(&programme, version)
        .unwrap()
        .requirements
        .iter()
        .map(|r| complies(&r.id))
        .collect()
}

pub fn complies(id: &RequirementId) -> Answer {
    Answer {
        requirement: id.clone(),
        compliance: Compliance::Complies,
        description: None,
        evidence: vec![],
    }
}

pub fn does_not_comply(id: &str) -> Answer {
    Answer {
        requirement: req(id),
        compliance: Compliance::DoesNotComply,
        description: Some(long("Not yet in place.")),
        evidence: vec![],
    }
}

/// Walks a case through its phases by issuing real commands, collecting the events.
pub struct History {
    services: CaseServices,
    case: ConnectionCase,
    pub events: Vec<CaseEvent>,
}

impl History {
    pub fn new() -> Self {
        Self::on(TODAY)
    }

    pub fn on(day: &str) -> Self {
        Self {
            services: services_on(day),
            case: ConnectionCase::default(),
            events: Vec::new(),
        }
    }

    /// Issues a command; panics if the domain refuses it (a broken fixture).
    pub fn then(mut self, actor: Actor, command: CaseCommand) -> Self {
        let name = command.name();
        let event = self
            .case
            .decide(Issued::new(actor, command), &self.services)
            .unwrap_or_else(|e| panic!("fixture step {name} refused: {e}"));
        cqrs_es::Aggregate::apply(&mut self.case, event.clone());
        self.events.push(event);
        self
    }

    pub fn case(&self) -> &ConnectionCase {
        &self.case
    }

    pub fn applied(self) -> Self {
        self.then(provider(), CaseCommand::SubmitApplication(application()))
    }

    pub fn approved(self) -> Self {
        self.applied().then(
            officer(),
            CaseCommand::ApproveApplication(ApproveApplication {
                reason: long("Meets the criteria of the programme."),
            }),
        )
    }

    pub fn contracted(self) -> Self {
        self.approved().then(
            officer(),
            CaseCommand::SignContract(SignContract {
                signed_on: date(TODAY),
                document: Some(text("RS 2025/1")),
            }),
        )
    }

    pub fn agreements_signed(self) -> Self {
        ["T-001", "T-002"].into_iter().fold(self, |h, id| {
            h.then(
                officer(),
                CaseCommand::SignAgreement(SignAgreement {
                    agreement: req(id),
                    signed_on: date(TODAY),
                    counterparty: text("Region Test"),
                    document: None,
                }),
            )
        })
    }

    pub fn declared(self) -> Self {
        let answers = answers_complying(&self.services.catalogues, 1);
        self.then(
            provider(),
            CaseCommand::SubmitSelfDeclaration(SubmitSelfDeclaration { answers }),
        )
    }

    pub fn declaration_accepted(self) -> Self {
        self.declared().then(
            officer(),
            CaseCommand::AcceptSelfDeclaration(AcceptSelfDeclaration {
                reason: long("Complete."),
            }),
        )
    }

    pub fn trained(self) -> Self {
        self.then(
            region_it(),
            CaseCommand::CompleteTraining(CompleteTraining {
                completed_on: date(TODAY),
                description: long("Introductory training for 12 users."),
            }),
        )
    }

    pub fn verification_scheduled(self) -> Self {
        self.then(
            region_it(),
            CaseCommand::ScheduleFinalVerification(ScheduleFinalVerification {
                scheduled_for: date(TODAY),
            }),
        )
    }

    pub fn verification_approved(self) -> Self {
        self.then(
            officer(),
            CaseCommand::ApproveFinalVerification(ApproveFinalVerification {
                reason: long("The premises meet the contract."),
            }),
        )
    }

    pub fn final_contract_signed(self) -> Self {
        self.then(
            officer(),
            CaseCommand::SignFinalContract(SignFinalContract {
                signed_on: date(TODAY),
                document: None,
            }),
        )
    }

    /// Everything go-live needs.
    pub fn ready(self) -> Self {
        self.contracted()
            .agreements_signed()
            .declaration_accepted()
            .trained()
            .verification_scheduled()
            .verification_approved()
            .final_contract_signed()
    }

    pub fn live(self) -> Self {
        self.ready().then(
            officer(),
            CaseCommand::GoLive(GoLive {
                reason: long("Every condition is met."),
            }),
        )
    }
}

/// The case these events make, as the aggregate folds them.
pub fn case_from(events: &[CaseEvent]) -> ConnectionCase {
    let mut case = ConnectionCase::default();
    for event in events {
        cqrs_es::Aggregate::apply(&mut case, event.clone());
    }
    case
}

pub fn step(raw: &str) -> domain::process::StepId {
    domain::process::StepId::parse(raw).expect("a step id")
}
