//! Golden event files: one JSON example per event type and version under
//! `domain/tests/golden/`. Stored history must stay readable, so every file must still
//! deserialise into today's types and serialise back to exactly the same JSON. A change that
//! breaks this needs a new event version and an upcaster, not an edited golden file.
//!
//! `UPDATE_GOLDEN=1 cargo test -p domain golden` writes files that are missing (a new event
//! type or version); it never overwrites one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cqrs_es::DomainEvent;
use cqrs_es::persist::SerializedEvent;
use domain::case::upcast::upcasters;
use domain::case::{
    AgreeDeviation, AttestCatalogueVersion, CASE_EVENT_TYPES, CaseChange, CaseCommand, CaseEvent,
    CommitmentKind, DecideNonStandardService, EndConnection, Ending, FailFinalVerification,
    FindingKind, Milestone, OrganisationalChange, PlanRecorded, RecordFinding, RecordMilestone,
    RecordStaffCommitment, RecordStepApplicability, RejectApplication, RejectFindingResponse,
    ReportOrganisationalChange, RequestNonStandardService, ResolveFinding, RespondToFinding,
    ResumeConnection, ReturnSelfDeclaration, ServiceDecision, StaffMember, StaffMemberListed,
    SuspendConnection, TechnicalCheckRecorded,
};
use domain::contact::{ContactDetails, EmailAddress, PhoneNumber};
use domain::identity::{HsaId, Personnummer};
use domain::ids::{FindingNo, IncidentId, ServiceRequestNo};
use domain::incident::{
    AssessIncident, CloseIncident, INCIDENT_EVENT_TYPES, IncidentCommand, IncidentEvent,
    IncidentServices, RecordIncidentAction, ReportIncident, SecurityIncident, Severity,
};
use domain::{FixedClock, Personal};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::fixtures::*;

fn golden_dir(aggregate: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(aggregate)
}

fn file_name(event_type: &str, version: &str) -> String {
    format!("{event_type}.v{version}.json")
}

/// Every golden file of an aggregate reads back into today's type unchanged.
fn check_files<E: DomainEvent + Serialize + DeserializeOwned>(aggregate: &str) -> usize {
    let dir = golden_dir(aggregate);
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        // An older version reads through the domain's upcasters, as the store reads it.
        let (event_type, version) = name
            .trim_end_matches(".json")
            .rsplit_once(".v")
            .unwrap_or_else(|| panic!("{name}: not <type>.v<version>.json"));
        let serialized = SerializedEvent::new(
            String::new(),
            1,
            aggregate.to_owned(),
            event_type.to_owned(),
            version.to_owned(),
            serde_json::from_str(&text).unwrap(),
            serde_json::Value::Null,
        );
        let upcast = upcasters().iter().fold(serialized, |event, upcaster| {
            if upcaster.can_upcast(&event.event_type, &event.event_version) {
                upcaster.upcast(event)
            } else {
                event
            }
        });
        let stored = upcast.payload;
        let event: E = serde_json::from_value(stored.clone()).unwrap_or_else(|e| {
            panic!("{} no longer deserialises: {e}", path.display());
        });
        assert_eq!(
            file_name(&upcast.event_type, &upcast.event_version),
            file_name(&event.event_type(), &event.event_version()),
            "{name}: the file name (after upcasting) must match the event's type and version"
        );
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            stored,
            "{name} serialises differently now: stored history would change meaning"
        );
        checked += 1;
    }
    checked
}

/// Every current type and version has a golden file; missing ones are written when asked.
fn check_coverage<E: DomainEvent + Serialize>(
    aggregate: &str,
    types: &[(&str, &str)],
    examples: &[E],
) {
    let dir = golden_dir(aggregate);
    let by_name: BTreeMap<String, &E> = examples
        .iter()
        .map(|e| (file_name(&e.event_type(), &e.event_version()), e))
        .collect();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut missing = Vec::new();
    for (event_type, version) in types {
        let name = file_name(event_type, version);
        let path = dir.join(&name);
        if path.exists() {
            continue;
        }
        match (update, by_name.get(&name)) {
            (true, Some(example)) => {
                std::fs::create_dir_all(&dir).unwrap();
                let json = serde_json::to_string_pretty(example).unwrap();
                std::fs::write(&path, json + "\n").unwrap();
            }
            _ => missing.push(name),
        }
    }
    assert!(
        missing.is_empty(),
        "no golden file (or example) for: {missing:?}; run with UPDATE_GOLDEN=1 to write them"
    );
}

fn case_examples() -> Vec<CaseEvent> {
    let rejected = History::new().applied().then(
        officer(),
        CaseCommand::RejectApplication(RejectApplication {
            reason: long("The unit is outside the county."),
        }),
    );
    let returned = History::new()
        .contracted()
        .declared()
        .then(
            officer(),
            CaseCommand::ReturnSelfDeclaration(ReturnSelfDeclaration {
                reason: long("Evidence is missing."),
                remarks: vec![domain::case::Remark {
                    requirement: req("T-005"),
                    remark: long("Describe the alarm."),
                }],
            }),
        )
        .then(
            officer(),
            CaseCommand::AgreeDeviation(AgreeDeviation {
                requirement: req("T-004"),
                reason: long("Sjunet is delayed."),
                valid_until: Some(date("2025-12-31")),
            }),
        )
        .then(
            provider(),
            CaseCommand::RecordStaffCommitment(RecordStaffCommitment {
                person: Personal::new(
                    subject(10),
                    StaffMember {
                        name: text("Bo Berg"),
                        personnummer: Personnummer::parse_canonical("198001011017").unwrap(),
                        hsa_id: HsaId::parse("SE2321000180-ABC1").unwrap(),
                    },
                ),
                kind: CommitmentKind::ResponsibilityCommitment,
                signed_on: date(TODAY),
            }),
        )
        .then(
            region_it(),
            CaseCommand::RecordMilestone(RecordMilestone {
                milestone: Milestone::WorkstationsRegistered { count: 12 },
                completed_on: date(TODAY),
            }),
        )
        .verification_scheduled()
        .then(
            region_it(),
            CaseCommand::RecordFinding(RecordFinding {
                kind: FindingKind::Demand,
                requirement: Some(req("T-005")),
                description: long("The server room door does not lock."),
                due: Some(date("2025-04-01")),
            }),
        )
        .then(
            officer(),
            CaseCommand::FailFinalVerification(FailFinalVerification {
                reason: long("The premises are not secured."),
            }),
        )
        .then(
            provider(),
            CaseCommand::RespondToFinding(RespondToFinding {
                finding: FindingNo::new(1),
                remediation: long("A lock was fitted."),
                evidence: vec![text("Photo, case file 2025/3")],
            }),
        )
        .then(
            region_it(),
            CaseCommand::RejectFindingResponse(RejectFindingResponse {
                finding: FindingNo::new(1),
                reason: long("The lock is on another door."),
            }),
        )
        .then(
            region_it(),
            CaseCommand::ResolveFinding(ResolveFinding {
                finding: FindingNo::new(1),
                resolution: long("A lock was fitted."),
            }),
        )
        .then(
            officer(),
            CaseCommand::RequireAttestation(domain::case::RequireAttestation {
                version: 2,
                due: date("2025-12-31"),
                reason: long("Version 2 applies to every connected unit."),
            }),
        )
        .then(
            officer(),
            CaseCommand::RecordStepApplicability(RecordStepApplicability {
                step: step("tillaggsavtal"),
                applies: true,
                reason: long("The unit uses the region's e-services."),
            }),
        );
    // Steps the test programme's process does not have, as another programme records them.
    let other_steps = [
        CaseChange::StaffMemberListed(StaffMemberListed {
            person: Personal::new(
                subject(11),
                StaffMember {
                    name: text("Eva Lund"),
                    personnummer: Personnummer::parse_canonical("198504212385").unwrap(),
                    hsa_id: HsaId::parse("SE2321000180-ABC2").unwrap(),
                },
            ),
            access_from: date(TODAY),
            new_hire: false,
        }),
        CaseChange::PlanRecorded(PlanRecorded {
            step: step("aktivitetsplan"),
            recorded_on: date(TODAY),
            document: text("Aktivitetsplan RS 2025/12"),
        }),
        CaseChange::TechnicalCheckRecorded(TechnicalCheckRecorded {
            computer: text("KLT-01"),
            checked_on: date(TODAY),
            approved: true,
            remark: Some(long("Disk encryption on.")),
        }),
    ]
    .into_iter()
    .map(|change| CaseEvent {
        actor: region_it(),
        at: instant(TODAY),
        change,
    })
    .collect::<Vec<_>>();
    let live = History::new()
        .live()
        .then(
            provider(),
            CaseCommand::ReportOrganisationalChange(ReportOrganisationalChange {
                change: OrganisationalChange::NewHeadOfUnit {
                    person: Personal::new(
                        subject(20),
                        ContactDetails {
                            name: text("Cecilia Ek"),
                            email: EmailAddress::parse("cecilia.ek@vardcentral.se").unwrap(),
                            phone: Some(PhoneNumber::parse("+46 63 14 20 00").unwrap()),
                        },
                    ),
                },
                effective_on: date("2025-04-01"),
                description: Some(long("The former head retires.")),
            }),
        )
        .then(
            provider(),
            CaseCommand::ChangeWorkstations(domain::case::ChangeWorkstations {
                workstations: 25,
                effective_on: date("2025-04-01"),
            }),
        )
        .then(
            provider(),
            CaseCommand::UpdateContact(domain::case::UpdateContact {
                contact: contact(domain::contact::ContactRole::ItContact, 21),
            }),
        )
        .then(
            provider(),
            CaseCommand::RequestNonStandardService(RequestNonStandardService {
                service: text("Dictation app on tablets"),
                justification: long("The physiotherapists work away from desks."),
                desired_on: None,
                function_and_technology: None,
            }),
        )
        .then(
            region_it(),
            CaseCommand::DecideNonStandardService(DecideNonStandardService {
                request: ServiceRequestNo::new(1),
                decision: ServiceDecision::Approved,
                reason: long("Meets the security demands when enrolled in MDM."),
            }),
        )
        .then(
            officer(),
            CaseCommand::SuspendConnection(SuspendConnection {
                reason: long("Unpaid invoices."),
            }),
        )
        .then(
            officer(),
            CaseCommand::ResumeConnection(ResumeConnection {
                reason: long("Paid."),
            }),
        )
        .then(
            officer(),
            CaseCommand::EndConnection(EndConnection {
                ending: Ending::ProviderReplaced {
                    successor: Some(other_org()),
                },
                ended_on: date(TODAY),
                reason: long("The contract was taken over."),
            }),
        );
    let attested = {
        let live = History::new().live();
        let services = services_on("2025-07-01");
        let event = live
            .case()
            .decide(
                by(
                    provider(),
                    CaseCommand::AttestCatalogueVersion(AttestCatalogueVersion {
                        version: 2,
                        answers: vec![
                            complies(&req("T-002")),
                            complies(&req("T-008")),
                            complies(&req("T-009")),
                        ],
                    }),
                ),
                &services,
            )
            .unwrap();
        vec![event]
    };
    [
        rejected.events,
        returned.events,
        live.events,
        attested,
        other_steps,
    ]
    .concat()
}

fn incident_examples() -> Vec<IncidentEvent> {
    let services = IncidentServices {
        clock: Arc::new(FixedClock::at(instant(TODAY))),
    };
    let live = History::new().live();
    let commands = [
        (
            provider(),
            IncidentCommand::Report(ReportIncident {
                incident_id: IncidentId::from_uuid(Uuid::from_u128(0x77)),
                context: live.case().incident_context().unwrap(),
                summary: text("Phishing mail opened"),
                description: long("A user opened an attachment."),
                detected_at: instant(TODAY),
                occurred_at: Some(instant("2025-03-02")),
                region_it_may_be_affected: true,
                severity: Severity::High,
                personal_data_breach: true,
            }),
        ),
        (
            region_it(),
            IncidentCommand::Acknowledge(domain::incident::AcknowledgeIncident {
                note: Some(long("Received by the helpdesk.")),
            }),
        ),
        (
            provider(),
            IncidentCommand::RecordBreachNotification(domain::incident::RecordBreachNotification {
                notified_at: instant(TODAY),
                reference: text("IMY-2025-0042"),
            }),
        ),
        (
            provider(),
            IncidentCommand::RecordAction(RecordIncidentAction {
                action: long("The workstation was isolated."),
                taken_at: instant(TODAY),
            }),
        ),
        (
            region_it(),
            IncidentCommand::Assess(AssessIncident {
                severity: Severity::Medium,
                region_it_affected: false,
                assessment: long("Contained at the workstation."),
            }),
        ),
        (
            region_it(),
            IncidentCommand::Close(CloseIncident {
                reason: long("Reinstalled and trained."),
            }),
        ),
    ];
    let mut incident = SecurityIncident::default();
    commands
        .into_iter()
        .map(|(actor, command)| {
            let event = incident
                .decide(domain::case::Issued::new(actor, command), &services)
                .unwrap();
            cqrs_es::Aggregate::apply(&mut incident, event.clone());
            event
        })
        .collect()
}

#[test]
fn every_case_event_type_and_version_has_a_golden_file() {
    check_coverage("connection_case", &CASE_EVENT_TYPES, &case_examples());
}

#[test]
fn every_incident_event_type_and_version_has_a_golden_file() {
    check_coverage(
        "security_incident",
        &INCIDENT_EVENT_TYPES,
        &incident_examples(),
    );
}

#[test]
fn every_golden_case_event_still_reads_and_writes_the_same() {
    assert!(check_files::<CaseEvent>("connection_case") >= CASE_EVENT_TYPES.len());
}

#[test]
fn every_golden_incident_event_still_reads_and_writes_the_same() {
    assert!(check_files::<IncidentEvent>("security_incident") >= INCIDENT_EVENT_TYPES.len());
}

#[test]
fn every_golden_data_subject_event_still_reads_and_writes_the_same() {
    assert!(
        check_files::<domain::subject::SubjectEvent>("data_subject")
            >= domain::subject::SUBJECT_EVENT_TYPES.len()
    );
}
