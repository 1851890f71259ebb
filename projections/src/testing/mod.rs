//! Fixtures for this crate's tests, its example and later crates (feature `testing`): the
//! domain's test catalogues, actors, and [`CaseFixture`] / [`IncidentFixture`], which walk a
//! case or an incident through its life by issuing real commands to the domain and append
//! the resulting events to a store, so every history a test projects is one the domain would
//! record.

pub mod realistic;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use domain::case::{
    AcceptSelfDeclaration, Answer, Application, ApproveApplication, ApproveFinalVerification,
    CaseCommand, CaseEvent, CaseServices, CompleteTraining, Compliance, ConnectionCase, GoLive,
    Issued, NamedContact, RecordPlan, RecordTechnicalCheck, ScheduleFinalVerification,
    SignAgreement, SignContract, SignFinalContract, SubmitSelfDeclaration,
};
use domain::catalogue::{Catalogue, CatalogueRegistry, PriceUnit};
use domain::contact::{ContactDetails, EmailAddress};
use domain::identity::OrgNumber;
use domain::ids::{CaseId, DataSubjectId, IncidentId, ProgrammeId, RequirementId};
use domain::incident::{
    AssessIncident, CloseIncident, IncidentCommand, IncidentEvent, IncidentServices,
    ReportIncident, SecurityIncident, Severity,
};
use domain::process::{StepId, StepKind};
use domain::text::{LongText, ShortText};
use domain::{Actor, FixedClock, Personal, Role};
use serde::Serialize;
use store::{
    ActorRecord, AppendOutcome, AppendRequest, EventMetadata, EventStore, ExpectedVersion,
    NewEvent, StreamRef,
};
use uuid::Uuid;

/// The domain's test catalogue (version 1 in force from 2024-01-01): two must agreements,
/// a should agreement, declared, verified and training requirements, Jämtland-like prices.
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

/// The test catalogues (both versions of `test-halsoval`).
/// The process of the test catalogue v1: every kind of step a case can meet, gated like
/// Jämtland's (the file is shared with the other crates' tests).
pub const TEST_PROCESS_V1: &str =
    include_str!("../../../domain/tests/fixtures/test-halsoval-process-v1.toml");

/// The process of version 2: version 1's, with the agreement T-009 that version 2 adds.
pub fn test_process_v2() -> String {
    TEST_PROCESS_V1.replace("version = 1", "version = 2").replace(
        "[[steps]]\nid = \"telefoniavtal\"",
        "[[steps]]\nid = \"nytt-avtal\"\nkind = \"agreement\"\nname = \"Nytt avtal\"\nsummary = \"The agreement version 2 adds.\"\nsection = \"2.7\"\nquote = \"avtal\"\nrequirements = [\"T-009\"]\ndocument = \"nytt avtal\"\n\n[steps.gate]\nbasis = \"stated\"\nsection = \"2.7\"\nquote = \"avtal\"\n\n[[steps]]\nid = \"telefoniavtal\"",
    )
}

pub fn registry() -> Arc<CatalogueRegistry> {
    let v2 = test_v2();
    Arc::new(
        CatalogueRegistry::from_sources([
            ("test-halsoval-v1.toml", TEST_V1),
            ("test-halsoval-v2.toml", v2.as_str()),
        ])
        .expect("the test catalogues are valid")
        .with_processes([
            ("test-halsoval-process-v1.toml", TEST_PROCESS_V1),
            ("test-halsoval-process-v2.toml", test_process_v2().as_str()),
        ])
        .expect("the test processes are valid"),
    )
}

/// The catalogues compiled into the binary (Dalarna, Jämtland, Värmland).
pub fn real_registry() -> Arc<CatalogueRegistry> {
    Arc::new(CatalogueRegistry::load_embedded().expect("the embedded catalogues are valid"))
}

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date")
}

/// 09:00 UTC on a day.
pub fn instant(s: &str) -> DateTime<Utc> {
    date(s).and_hms_opt(9, 0, 0).expect("a time").and_utc()
}

pub fn text(s: &str) -> ShortText {
    ShortText::parse(s).expect("a short text")
}

pub fn long(s: &str) -> LongText {
    LongText::parse(s).expect("a long text")
}

pub fn req(id: &str) -> RequirementId {
    RequirementId::parse(id).expect("a requirement id")
}

pub fn org(raw: &str) -> OrgNumber {
    OrgNumber::parse(raw).expect("an organisation number")
}

/// The provider organisation of the fixtures unless told otherwise.
pub fn provider_org() -> OrgNumber {
    org("559123-4561")
}

pub fn subject(n: u128) -> DataSubjectId {
    DataSubjectId::from_uuid(Uuid::from_u128(n))
}

/// An actor of `role` in the catalogue's region (providers act for `provider_org`).
pub fn actor_in(catalogue: &Catalogue, role: Role, provider_org: &OrgNumber) -> Actor {
    let org = (role == Role::Provider).then(|| provider_org.clone());
    Actor::new(
        domain::actor::Subject::parse(&format!("{role}@{}", catalogue.region)).expect("a subject"),
        role,
        catalogue.region.clone(),
        org,
    )
    .expect("an actor")
}

/// The store's record of a domain actor.
pub fn actor_record(actor: &Actor) -> ActorRecord {
    ActorRecord {
        subject: actor.subject.to_string(),
        role: actor.role.as_str().to_owned(),
        region: actor.region.to_string(),
        provider_org: actor.provider_org.as_ref().map(ToString::to_string),
    }
}

/// Answers "complies" to every requirement of a catalogue.
pub fn answers_complying(catalogue: &Catalogue) -> Vec<Answer> {
    catalogue
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
        evidence: vec![text("Policy 2025")],
    }
}

/// Appends domain events to one stream in one request (one command's worth).
pub async fn append_events<E: DomainEvent + Serialize>(
    store: &EventStore,
    stream: StreamRef,
    expected: u64,
    events: &[E],
    actor: &Actor,
) -> AppendOutcome {
    store
        .append(append_request(stream, expected, events, actor))
        .await
        .expect("appending fixture events")
}

/// The append request for domain events to one stream.
pub fn append_request<E: DomainEvent + Serialize>(
    stream: StreamRef,
    expected: u64,
    events: &[E],
    actor: &Actor,
) -> AppendRequest {
    AppendRequest {
        stream,
        expected: ExpectedVersion::Exact(expected),
        metadata: EventMetadata::new(Uuid::now_v7(), Some(actor_record(actor))),
        events: events
            .iter()
            .map(|e| NewEvent {
                event_type: e.event_type(),
                event_version: e.event_version(),
                payload: serde_json::to_value(e).expect("domain events serialise"),
            })
            .collect(),
        snapshot: None,
    }
}

/// A case walked through its life by real commands; [`CaseFixture::append`] writes what
/// happened since the last append.
pub struct CaseFixture {
    pub id: CaseId,
    pub programme: ProgrammeId,
    pub org: OrgNumber,
    clock: Arc<FixedClock>,
    services: CaseServices,
    case: ConnectionCase,
    pending: Vec<CaseEvent>,
    appended: u64,
    last_actor: Option<Actor>,
}

impl CaseFixture {
    /// A case of `programme` (with the registry's catalogues) whose clock stands on `day`.
    pub fn new(id: CaseId, registry: Arc<CatalogueRegistry>, programme: &str, day: &str) -> Self {
        let clock = Arc::new(FixedClock::at(instant(day)));
        Self {
            id,
            programme: ProgrammeId::parse(programme).expect("a programme id"),
            org: provider_org(),
            services: CaseServices::new(clock.clone(), registry),
            clock,
            case: ConnectionCase::default(),
            pending: Vec::new(),
            appended: 0,
            last_actor: None,
        }
    }

    /// The test programme on the domain fixtures' day.
    pub fn test(n: u128) -> Self {
        Self::new(
            CaseId::from_uuid(Uuid::from_u128(
                0x0193_0000_0000_7000_8000_0000_0000_0000 + n,
            )),
            registry(),
            "test-halsoval",
            "2025-03-03",
        )
    }

    #[must_use]
    pub fn with_org(mut self, org: OrgNumber) -> Self {
        self.org = org;
        self
    }

    pub fn case(&self) -> &ConnectionCase {
        &self.case
    }

    pub fn registry(&self) -> &CatalogueRegistry {
        &self.services.catalogues
    }

    /// The catalogue the case is held to, or in force today before contract signing.
    pub fn catalogue(&self) -> &Catalogue {
        let today = self.today();
        self.case
            .catalogue(&self.services.catalogues, today)
            .or_else(|| self.services.catalogues.in_force(&self.programme, today))
            .expect("a catalogue for the programme")
    }

    pub fn today(&self) -> NaiveDate {
        domain::Clock::now(self.clock.as_ref()).date_naive()
    }

    /// Moves the case's clock to 09:00 on `day`.
    pub fn on(&mut self, day: &str) -> &mut Self {
        self.clock.set(instant(day));
        self
    }

    /// Moves the case's clock to 09:00 on `date`.
    pub fn on_date(&mut self, date: NaiveDate) -> &mut Self {
        self.clock
            .set(date.and_hms_opt(9, 0, 0).expect("a time").and_utc());
        self
    }

    pub fn actor(&self, role: Role) -> Actor {
        actor_in(self.catalogue(), role, &self.org)
    }

    /// Issues a command; panics if the domain refuses it (a broken fixture).
    pub fn then(&mut self, role: Role, command: CaseCommand) -> &mut Self {
        let actor = self.actor(role);
        let name = command.name();
        let event = self
            .case
            .decide(Issued::new(actor.clone(), command), &self.services)
            .unwrap_or_else(|e| panic!("fixture step {name} refused: {e}"));
        self.case.apply(event.clone());
        self.pending.push(event);
        self.last_actor = Some(actor);
        self
    }

    /// The events decided since the last append, taken out (for tests that append them
    /// themselves).
    pub fn take_pending(&mut self) -> (u64, Vec<CaseEvent>) {
        let expected = self.appended;
        let events = std::mem::take(&mut self.pending);
        self.appended += events.len() as u64;
        (expected, events)
    }

    /// Appends every event decided since the last append, one request per event (one
    /// command each), and returns the last outcome.
    pub async fn append(&mut self, store: &EventStore) -> AppendOutcome {
        let (mut expected, events) = self.take_pending();
        let actor = self.last_actor.clone().expect("a command was issued");
        let mut last = None;
        for event in &events {
            let stream = StreamRef::new(ConnectionCase::TYPE, self.id.to_string());
            last = Some(
                append_events(store, stream, expected, std::slice::from_ref(event), &actor).await,
            );
            expected += 1;
        }
        last.expect("events to append")
    }

    /// A complete application: the catalogue's mandatory packages, required contacts,
    /// listed patients where priced per patient, go-live four months ahead.
    pub fn application(&self) -> Application {
        let catalogue = self
            .services
            .catalogues
            .in_force(&self.programme, self.today())
            .expect("a catalogue in force");
        Application {
            case_id: self.id,
            programme: self.programme.clone(),
            unit_name: text("Vårdcentralen Norr"),
            org_number: self.org.clone(),
            service_packages: catalogue
                .service_packages
                .iter()
                .filter(|p| p.mandatory)
                .map(|p| p.id.clone())
                .collect(),
            optional_services: BTreeSet::new(),
            workstations: 12,
            listed_patients: catalogue
                .prices
                .iter()
                .any(|p| p.unit == PriceUnit::PerListedPatientPerYear)
                .then_some(8000),
            contacts: catalogue
                .application
                .required_contacts
                .iter()
                .zip(1..)
                .map(|(role, n)| NamedContact {
                    role: *role,
                    person: Personal::new(
                        subject(n),
                        ContactDetails {
                            name: text("Anna Andersson"),
                            email: EmailAddress::parse("anna@vardcentral.se").expect("an e-mail"),
                            phone: None,
                        },
                    ),
                })
                .collect(),
            requested_go_live: self
                .today()
                .checked_add_months(chrono::Months::new(4))
                .expect("a date"),
            call_measurement_system: catalogue
                .application
                .requires_call_measurement_system
                .then(|| text("Telia CallGuide")),
        }
    }

    pub fn applied(&mut self) -> &mut Self {
        let application = self.application();
        self.then(Role::Provider, CaseCommand::SubmitApplication(application))
    }

    pub fn approved(&mut self) -> &mut Self {
        self.then(
            Role::Officer,
            CaseCommand::ApproveApplication(ApproveApplication {
                reason: long("Meets the criteria of the programme."),
            }),
        )
    }

    pub fn contracted(&mut self) -> &mut Self {
        let today = self.today();
        self.then(
            Role::Officer,
            CaseCommand::SignContract(SignContract {
                signed_on: today,
                document: Some(text("RS 2025/1")),
            }),
        )
    }

    pub fn agreements_signed(&mut self) -> &mut Self {
        let today = self.today();
        let agreements: Vec<RequirementId> = self
            .catalogue()
            .required_agreements()
            .map(|r| r.id.clone())
            .collect();
        for agreement in agreements {
            self.then(
                Role::Officer,
                CaseCommand::SignAgreement(SignAgreement {
                    agreement,
                    signed_on: today,
                    counterparty: text("Region"),
                    document: None,
                }),
            );
        }
        self
    }

    pub fn declared(&mut self) -> &mut Self {
        let answers = answers_complying(self.catalogue());
        self.then(
            Role::Provider,
            CaseCommand::SubmitSelfDeclaration(SubmitSelfDeclaration { answers }),
        )
    }

    pub fn declaration_accepted(&mut self) -> &mut Self {
        self.then(
            Role::Officer,
            CaseCommand::AcceptSelfDeclaration(AcceptSelfDeclaration {
                reason: long("Complete."),
            }),
        )
    }

    /// Whether the case's process has a step of this kind (the programme's document names
    /// one): the fixture's steps record only what the programme has.
    pub fn has(&self, kind: StepKind) -> bool {
        self.case
            .process(&self.services.catalogues, self.today())
            .is_some_and(|process| process.has(kind))
    }

    pub fn trained(&mut self) -> &mut Self {
        if !self.has(StepKind::Training) {
            return self;
        }
        let today = self.today();
        self.then(
            Role::RegionIt,
            CaseCommand::CompleteTraining(CompleteTraining {
                completed_on: today,
                description: long("Introductory training for 12 users."),
            }),
        )
    }

    pub fn verification_scheduled(&mut self) -> &mut Self {
        if !self.has(StepKind::FinalVerification) {
            return self;
        }
        let today = self.today();
        self.then(
            Role::RegionIt,
            CaseCommand::ScheduleFinalVerification(ScheduleFinalVerification {
                scheduled_for: today,
            }),
        )
    }

    pub fn verification_approved(&mut self) -> &mut Self {
        if !self.has(StepKind::FinalVerification) {
            return self;
        }
        self.then(
            Role::Officer,
            CaseCommand::ApproveFinalVerification(ApproveFinalVerification {
                reason: long("The premises meet the contract."),
            }),
        )
    }

    pub fn final_contract_signed(&mut self) -> &mut Self {
        if !self.has(StepKind::FinalContract) {
            return self;
        }
        let today = self.today();
        self.then(
            Role::Officer,
            CaseCommand::SignFinalContract(SignFinalContract {
                signed_on: today,
                document: None,
            }),
        )
    }

    /// Go-live, after the plans and the computer check the programme's process gates it
    /// with (Jämtland's joint IT plan, Värmland Fysioterapi's activity plan and check).
    pub fn went_live(&mut self) -> &mut Self {
        let today = self.today();
        let gating: Vec<(StepKind, StepId)> = self
            .case
            .process(&self.services.catalogues, today)
            .map(|process| {
                process
                    .gating_steps()
                    .filter(|step| step.condition.is_none())
                    .map(|step| (step.kind, step.id.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for (kind, step) in gating {
            match kind {
                StepKind::Plan => {
                    self.then(
                        Role::RegionIt,
                        CaseCommand::RecordPlan(RecordPlan {
                            step,
                            recorded_on: today,
                            document: text("Plan, RS 2024/12"),
                        }),
                    );
                }
                StepKind::TechnicalCheck => {
                    self.then(
                        Role::RegionIt,
                        CaseCommand::RecordTechnicalCheck(RecordTechnicalCheck {
                            computer: text("KLT-01"),
                            checked_on: today,
                            approved: true,
                            remark: None,
                        }),
                    );
                }
                _ => {}
            }
        }
        self.then(
            Role::Officer,
            CaseCommand::GoLive(GoLive {
                reason: long("Every condition is met."),
            }),
        )
    }

    /// From nothing to live on one day.
    pub fn live(&mut self) -> &mut Self {
        self.applied()
            .approved()
            .contracted()
            .agreements_signed()
            .declared()
            .declaration_accepted()
            .trained()
            .verification_scheduled()
            .verification_approved()
            .final_contract_signed()
            .went_live()
    }
}

/// A security incident of a case, walked through by real commands.
pub struct IncidentFixture {
    pub id: IncidentId,
    clock: Arc<FixedClock>,
    services: IncidentServices,
    incident: SecurityIncident,
    pending: Vec<IncidentEvent>,
    appended: u64,
    actor: Actor,
}

impl IncidentFixture {
    /// Reports an incident against `case` at 09:00 on `day`.
    pub fn report(id: IncidentId, case: &CaseFixture, day: &str, severity: Severity) -> Self {
        let clock = Arc::new(FixedClock::at(instant(day)));
        let actor = case.actor(Role::Provider);
        let mut fixture = Self {
            id,
            services: IncidentServices {
                clock: clock.clone(),
            },
            clock,
            incident: SecurityIncident::default(),
            pending: Vec::new(),
            appended: 0,
            actor: actor.clone(),
        };
        let context = case
            .case()
            .incident_context()
            .expect("the case accepts incident reports");
        fixture.issue(
            actor,
            IncidentCommand::Report(ReportIncident {
                incident_id: id,
                context,
                summary: text("Phishing mail opened"),
                description: long("A user opened an attachment."),
                detected_at: instant(day),
                occurred_at: None,
                region_it_may_be_affected: true,
                severity,
                personal_data_breach: false,
            }),
        );
        fixture
    }

    /// Moves the incident's clock to `at`.
    pub fn at(&mut self, at: DateTime<Utc>) -> &mut Self {
        self.clock.set(at);
        self
    }

    fn issue(&mut self, actor: Actor, command: IncidentCommand) {
        let name = command.name();
        let event = self
            .incident
            .decide(Issued::new(actor, command), &self.services)
            .unwrap_or_else(|e| panic!("fixture step {name} refused: {e}"));
        self.incident.apply(event.clone());
        self.pending.push(event);
    }

    pub fn assessed(&mut self, severity: Severity) -> &mut Self {
        let mut actor = self.actor.clone();
        actor.role = Role::RegionIt;
        actor.provider_org = None;
        self.issue(
            actor,
            IncidentCommand::Assess(AssessIncident {
                severity,
                region_it_affected: false,
                assessment: long("Contained at the workstation."),
            }),
        );
        self
    }

    pub fn closed(&mut self) -> &mut Self {
        let mut actor = self.actor.clone();
        actor.role = Role::RegionIt;
        actor.provider_org = None;
        self.issue(
            actor,
            IncidentCommand::Close(CloseIncident {
                reason: long("Handled."),
            }),
        );
        self
    }

    /// The events decided since the last append, taken out, with the stream version they
    /// follow.
    pub fn take_pending(&mut self) -> (u64, Vec<IncidentEvent>) {
        let expected = self.appended;
        let events = std::mem::take(&mut self.pending);
        self.appended += events.len() as u64;
        (expected, events)
    }

    pub async fn append(&mut self, store: &EventStore) -> AppendOutcome {
        let events = std::mem::take(&mut self.pending);
        let stream = StreamRef::new(SecurityIncident::TYPE, self.id.to_string());
        let outcome = append_events(store, stream, self.appended, &events, &self.actor).await;
        self.appended += events.len() as u64;
        outcome
    }
}
