//! Operation: organisational changes, non-standard services, attestation to a newer
//! catalogue version, suspension and ending; which commands each late phase still accepts.

use domain::case::{
    AttestCatalogueVersion, CaseChange, CaseCommand, CaseError, DateProblem,
    DecideNonStandardService, EndConnection, Ending, OrganisationalChange, Phase,
    ReportOrganisationalChange, RequestNonStandardService, ResumeConnection, ServiceDecision,
    SuspendConnection,
};
use domain::ids::ServiceRequestNo;

use crate::fixtures::*;

fn change(kind: OrganisationalChange, effective: &str) -> CaseCommand {
    CaseCommand::ReportOrganisationalChange(ReportOrganisationalChange {
        change: kind,
        effective_on: date(effective),
        description: None,
    })
}

#[test]
fn an_organisational_change_reported_after_it_took_effect_is_marked_late() {
    let events = spec()
        .given(History::new().live().events)
        .when(by(
            provider(),
            change(
                OrganisationalChange::Moved {
                    new_address: text("Storgatan 1, Östersund"),
                },
                "2025-03-01",
            ),
        ))
        .inspect_result()
        .unwrap();
    let CaseChange::OrganisationalChangeReported(e) = &events[0].change else {
        panic!("expected OrganisationalChangeReported");
    };
    assert!(e.reported_late);
}

#[test]
fn a_name_change_renames_the_unit() {
    let history = History::new().live().then(
        provider(),
        change(
            OrganisationalChange::NameChanged {
                new_name: text("Vårdcentralen Söder"),
            },
            "2025-04-01",
        ),
    );
    let CaseChange::OrganisationalChangeReported(e) = &history.events.last().unwrap().change else {
        panic!("expected OrganisationalChangeReported");
    };
    assert!(!e.reported_late);
    assert_eq!(
        history.case().facts().unwrap().unit_name.as_str(),
        "Vårdcentralen Söder"
    );
}

fn request() -> CaseCommand {
    CaseCommand::RequestNonStandardService(RequestNonStandardService {
        service: text("Dictation app on tablets"),
        justification: long("The physiotherapists work away from desks."),
        desired_on: None,
        function_and_technology: None,
    })
}

fn decide(n: u32) -> CaseCommand {
    CaseCommand::DecideNonStandardService(DecideNonStandardService {
        request: ServiceRequestNo::new(n),
        decision: ServiceDecision::Rejected,
        reason: long("Not compatible with the region's security demands."),
    })
}

#[test]
fn requests_for_non_standard_services_are_numbered_and_decided_with_a_reason() {
    let history = History::new()
        .live()
        .then(provider(), request())
        .then(provider(), request());
    let CaseChange::NonStandardServiceRequested(second) = &history.events.last().unwrap().change
    else {
        panic!("expected NonStandardServiceRequested");
    };
    assert_eq!(second.request, ServiceRequestNo::new(2));
    let decided = history.then(region_it(), decide(1));
    assert!(decided.events.last().unwrap().change.reason().is_some());
    spec()
        .given(decided.events)
        .when(by(officer(), decide(1)))
        .then_expect_error(CaseError::ServiceRequestAlreadyDecided {
            request: ServiceRequestNo::new(1),
        });
}

#[test]
fn an_unknown_request_cannot_be_decided() {
    spec()
        .given(History::new().live().events)
        .when(by(officer(), decide(3)))
        .then_expect_error(CaseError::ServiceRequestNotFound {
            request: ServiceRequestNo::new(3),
        });
}

fn attest(version: u32, answers: Vec<domain::case::Answer>) -> CaseCommand {
    CaseCommand::AttestCatalogueVersion(AttestCatalogueVersion { version, answers })
}

/// Answers to what changed from version 1 to 2: T-008 and T-009 added, T-002 reworded
/// (T-004 only moved section, T-006 was removed).
fn v2_answers() -> Vec<domain::case::Answer> {
    vec![
        complies(&req("T-002")),
        complies(&req("T-008")),
        complies(&req("T-009")),
    ]
}

const AFTER_V2: &str = "2025-07-01";

#[test]
fn attesting_to_a_newer_version_answers_what_was_added_or_changed() {
    let events = spec_on(AFTER_V2)
        .given(History::new().live().events)
        .when(by(provider(), attest(2, v2_answers())))
        .inspect_result()
        .unwrap();
    let CaseChange::CatalogueVersionAttested(e) = &events[0].change else {
        panic!("expected CatalogueVersionAttested");
    };
    assert_eq!((e.from.version, e.to.version), (1, 2));
    assert_eq!(e.added, vec![req("T-008"), req("T-009")]);
    assert_eq!(e.changed, vec![req("T-002"), req("T-004")]);
    assert_eq!(e.removed, vec![req("T-006")]);
}

#[test]
fn attestation_must_answer_every_added_and_materially_changed_requirement() {
    spec_on(AFTER_V2)
        .given(History::new().live().events)
        .when(by(
            provider(),
            attest(2, vec![complies(&req("T-008")), complies(&req("T-004"))]),
        ))
        .then_expect_error(CaseError::IncompleteAnswers {
            missing: vec![req("T-002"), req("T-009")],
            unknown: vec![req("T-004")],
            duplicated: vec![],
            undescribed: vec![],
        });
}

#[test]
fn attestation_with_a_non_compliant_must_answer_needs_a_deviation() {
    let mut answers = v2_answers();
    answers[1] = does_not_comply("T-008");
    spec_on(AFTER_V2)
        .given(History::new().live().events)
        .when(by(provider(), attest(2, answers)))
        .then_expect_error(CaseError::NonCompliantWithoutDeviation {
            requirements: vec![req("T-008")],
        });
}

#[test]
fn after_attestation_the_case_is_held_to_the_new_version() {
    let history = History::on(AFTER_V2).then(
        provider(),
        CaseCommand::SubmitApplication({
            let mut app = application();
            app.requested_go_live = date("2025-12-01");
            app
        }),
    );
    assert_eq!(history.case().phase(), Phase::Application);
    let live = History::new().live();
    let mut events = live.events;
    let attested = spec_on(AFTER_V2)
        .given(events.clone())
        .when(by(provider(), attest(2, v2_answers())))
        .inspect_result()
        .unwrap();
    events.extend(attested);
    spec_on(AFTER_V2)
        .given(events)
        .when(by(provider(), attest(2, v2_answers())))
        .then_expect_error(CaseError::CatalogueVersionNotNewer {
            held: 2,
            requested: 2,
        });
}

fn require(version: u32, due: &str) -> CaseCommand {
    CaseCommand::RequireAttestation(domain::case::RequireAttestation {
        version,
        due: date(due),
        reason: long("Version 2 applies to every connected unit."),
    })
}

#[test]
fn an_attestation_the_region_requires_shows_until_done_and_overdue_after_its_date() {
    // The documents reserve the region's right to change the appendix; the date is the
    // region's to set, so the case carries it as a flag.
    let live = History::new().live();
    let required = spec_on(AFTER_V2)
        .given(live.events.clone())
        .when(by(officer(), require(2, "2025-09-30")))
        .inspect_result()
        .unwrap();
    let events = [live.events.clone(), required].concat();
    let case = case_from(&events);
    let registry = registry();
    assert_eq!(
        case.flags(&registry, date("2025-09-30")),
        vec![domain::case::Flag::AttestationRequired {
            version: 2,
            due: date("2025-09-30")
        }]
    );
    assert_eq!(
        case.flags(&registry, date("2025-10-01")),
        vec![domain::case::Flag::AttestationOverdue {
            version: 2,
            due: date("2025-09-30")
        }],
        "the day after the date"
    );
    // Attesting clears it.
    let attested = spec_on(AFTER_V2)
        .given(events.clone())
        .when(by(provider(), attest(2, v2_answers())))
        .inspect_result()
        .unwrap();
    let case = case_from(&[events, attested].concat());
    assert_eq!(case.flags(&registry, date("2025-10-01")), vec![]);
    // Only the region requires it; not an older version; not a date in the past.
    spec_on(AFTER_V2)
        .given(live.events.clone())
        .when(by(provider(), require(2, "2025-09-30")))
        .then_expect_error(CaseError::NotPermitted {
            command: "require-attestation",
            role: domain::Role::Provider,
        });
    spec_on(AFTER_V2)
        .given(live.events.clone())
        .when(by(officer(), require(1, "2025-09-30")))
        .then_expect_error(CaseError::CatalogueVersionNotNewer {
            held: 1,
            requested: 1,
        });
    spec_on(AFTER_V2)
        .given(live.events)
        .when(by(officer(), require(2, "2025-06-30")))
        .then_expect_error(CaseError::InvalidDate {
            field: "due",
            date: date("2025-06-30"),
            problem: DateProblem::InPast,
        });
}

#[test]
fn attestation_to_a_version_not_yet_in_force_is_refused() {
    spec()
        .given(History::new().live().events)
        .when(by(provider(), attest(2, v2_answers())))
        .then_expect_error(CaseError::CatalogueVersionNotInForce {
            version: 2,
            effective_from: date("2025-06-01"),
        });
}

#[test]
fn attestation_to_an_unknown_version_is_refused() {
    spec_on(AFTER_V2)
        .given(History::new().live().events)
        .when(by(provider(), attest(3, vec![])))
        .then_expect_error(CaseError::UnknownCatalogueVersion {
            programme: domain::ids::ProgrammeId::parse("test-halsoval").unwrap(),
            version: 3,
        });
}

fn suspend() -> CaseCommand {
    CaseCommand::SuspendConnection(SuspendConnection {
        reason: long("Unpaid invoices."),
    })
}

fn resume() -> CaseCommand {
    CaseCommand::ResumeConnection(ResumeConnection {
        reason: long("Paid."),
    })
}

fn end(on: &str) -> CaseCommand {
    CaseCommand::EndConnection(EndConnection {
        ending: Ending::ProviderReplaced {
            successor: Some(other_org()),
        },
        ended_on: date(on),
        reason: long("The contract was taken over."),
    })
}

#[test]
fn a_live_connection_is_suspended_and_resumed_with_reasons() {
    let history = History::new().live().then(officer(), suspend());
    assert_eq!(history.case().phase(), Phase::Suspended);
    let history = history.then(officer(), resume());
    assert_eq!(history.case().phase(), Phase::Live);
    assert!(
        history.events[history.events.len() - 2..]
            .iter()
            .all(|e| e.change.reason().is_some())
    );
}

#[test]
fn only_a_live_connection_is_suspended() {
    spec()
        .given(History::new().contracted().events)
        .when(by(officer(), suspend()))
        .then_expect_error(CaseError::WrongPhase {
            command: "suspend-connection",
            phase: Phase::Establishment,
        });
}

#[test]
fn only_a_suspended_connection_is_resumed() {
    spec()
        .given(History::new().live().events)
        .when(by(officer(), resume()))
        .then_expect_error(CaseError::WrongPhase {
            command: "resume-connection",
            phase: Phase::Live,
        });
}

#[test]
fn a_connection_ends_when_replaced_and_cannot_end_in_the_future() {
    let ended = History::new().live().then(officer(), end(TODAY));
    assert_eq!(ended.case().phase(), Phase::Ended);
    assert_eq!(ended.case().ended_on(), Some(date(TODAY)));
    spec()
        .given(History::new().live().events)
        .when(by(officer(), end("2025-12-31")))
        .then_expect_error(CaseError::InvalidDate {
            field: "ended_on",
            date: date("2025-12-31"),
            problem: DateProblem::InFuture,
        });
}

#[test]
fn an_application_is_rejected_rather_than_ended() {
    spec()
        .given(History::new().applied().events)
        .when(by(officer(), end(TODAY)))
        .then_expect_error(CaseError::WrongPhase {
            command: "end-connection",
            phase: Phase::Application,
        });
}

/// One command of every kind, valid in content, issued by a role allowed to issue it.
fn every_command() -> Vec<(domain::Actor, CaseCommand)> {
    use domain::case::*;
    vec![
        (provider(), CaseCommand::SubmitApplication(application())),
        (
            officer(),
            CaseCommand::ApproveApplication(ApproveApplication { reason: long("r") }),
        ),
        (
            officer(),
            CaseCommand::RejectApplication(RejectApplication { reason: long("r") }),
        ),
        (
            officer(),
            CaseCommand::SignContract(SignContract {
                signed_on: date(TODAY),
                document: None,
            }),
        ),
        (
            officer(),
            CaseCommand::SignAgreement(SignAgreement {
                agreement: req("T-003"),
                signed_on: date(TODAY),
                counterparty: text("x"),
                document: None,
            }),
        ),
        (
            provider(),
            CaseCommand::SubmitSelfDeclaration(SubmitSelfDeclaration {
                answers: answers_complying(&registry(), 1),
            }),
        ),
        (
            officer(),
            CaseCommand::AcceptSelfDeclaration(AcceptSelfDeclaration { reason: long("r") }),
        ),
        (
            officer(),
            CaseCommand::ReturnSelfDeclaration(ReturnSelfDeclaration {
                reason: long("r"),
                remarks: vec![],
            }),
        ),
        (
            officer(),
            CaseCommand::AgreeDeviation(AgreeDeviation {
                requirement: req("T-005"),
                reason: long("r"),
                valid_until: None,
            }),
        ),
        (
            region_it(),
            CaseCommand::RecordMilestone(RecordMilestone {
                milestone: Milestone::ContactCardPublished,
                completed_on: date(TODAY),
            }),
        ),
        (
            region_it(),
            CaseCommand::CompleteTraining(CompleteTraining {
                completed_on: date(TODAY),
                description: long("d"),
            }),
        ),
        (
            region_it(),
            CaseCommand::ScheduleFinalVerification(ScheduleFinalVerification {
                scheduled_for: date(TODAY),
            }),
        ),
        (
            region_it(),
            CaseCommand::RecordFinding(RecordFinding {
                kind: FindingKind::Recommendation,
                requirement: None,
                description: long("d"),
                due: None,
            }),
        ),
        (
            provider(),
            CaseCommand::ResolveFinding(ResolveFinding {
                finding: domain::ids::FindingNo::new(1),
                resolution: long("d"),
            }),
        ),
        (
            officer(),
            CaseCommand::ApproveFinalVerification(ApproveFinalVerification { reason: long("r") }),
        ),
        (
            officer(),
            CaseCommand::FailFinalVerification(FailFinalVerification { reason: long("r") }),
        ),
        (
            officer(),
            CaseCommand::SignFinalContract(SignFinalContract {
                signed_on: date(TODAY),
                document: None,
            }),
        ),
        (officer(), CaseCommand::GoLive(GoLive { reason: long("r") })),
        (
            provider(),
            change(
                OrganisationalChange::NewUnit {
                    name: text("Filial"),
                },
                TODAY,
            ),
        ),
        (provider(), request()),
        (officer(), decide(1)),
        (provider(), attest(2, v2_answers())),
        (officer(), suspend()),
        (officer(), resume()),
        (officer(), end(TODAY)),
        (
            officer(),
            CaseCommand::RecordStepApplicability(RecordStepApplicability {
                step: step("tillaggsavtal"),
                applies: true,
                reason: long("r"),
            }),
        ),
        (
            officer(),
            CaseCommand::RecordPlan(RecordPlan {
                step: step("plan"),
                recorded_on: date(TODAY),
                document: text("d"),
            }),
        ),
        (
            officer(),
            CaseCommand::RecordTechnicalCheck(RecordTechnicalCheck {
                computer: text("KLT-01"),
                checked_on: date(TODAY),
                approved: true,
                remark: None,
            }),
        ),
        (
            provider(),
            CaseCommand::RespondToFinding(RespondToFinding {
                finding: domain::ids::FindingNo::new(1),
                remediation: long("d"),
                evidence: vec![],
            }),
        ),
        (
            officer(),
            CaseCommand::RejectFindingResponse(RejectFindingResponse {
                finding: domain::ids::FindingNo::new(1),
                reason: long("r"),
            }),
        ),
        (
            officer(),
            CaseCommand::RequireAttestation(RequireAttestation {
                version: 2,
                due: date("2025-12-31"),
                reason: long("r"),
            }),
        ),
        (
            provider(),
            CaseCommand::ChangeWorkstations(ChangeWorkstations {
                workstations: 14,
                effective_on: date(TODAY),
            }),
        ),
        (
            provider(),
            CaseCommand::UpdateContact(UpdateContact {
                contact: contact(domain::contact::ContactRole::ItContact, 9),
            }),
        ),
    ]
}

#[test]
fn the_command_list_above_covers_every_command_but_the_staff_ones() {
    let names: Vec<_> = every_command().iter().map(|(_, c)| c.name()).collect();
    let all: Vec<_> = domain::case::COMMANDS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !matches!(*n, "record-staff-commitment" | "list-staff-member"))
        .collect();
    assert_eq!(names, all);
}

#[test]
fn after_ending_no_case_command_is_accepted_but_incidents_still_are() {
    let ended = History::new().live().then(officer(), end(TODAY));
    for (actor, command) in every_command() {
        let name = command.name();
        let refused = ended
            .case()
            .decide(by(actor, command), &services())
            .expect_err(name);
        assert_eq!(
            refused,
            CaseError::WrongPhase {
                command: name,
                phase: Phase::Ended
            },
            "{name}"
        );
    }
    assert!(ended.case().incident_context().is_ok());
}

#[test]
fn a_suspended_case_can_only_be_resumed_ended_or_have_incidents_reported() {
    let suspended = History::new().live().then(officer(), suspend());
    for (actor, command) in every_command() {
        let name = command.name();
        let outcome = suspended.case().decide(by(actor, command), &services());
        match name {
            "resume-connection" | "end-connection" => {
                assert!(outcome.is_ok(), "{name}: {outcome:?}");
            }
            _ => assert_eq!(
                outcome.expect_err(name),
                CaseError::WrongPhase {
                    command: name,
                    phase: Phase::Suspended
                },
                "{name}"
            ),
        }
    }
    assert!(suspended.case().incident_context().is_ok());
}

#[test]
fn incidents_are_reported_only_once_a_connection_exists() {
    for history in [History::new().applied(), History::new().approved()] {
        let err = history.case().incident_context().unwrap_err();
        assert_eq!(err.code(), "wrong_phase");
    }
    assert!(
        History::new()
            .contracted()
            .case()
            .incident_context()
            .is_ok()
    );
}

#[test]
fn every_event_records_its_actor_and_every_decision_its_reason() {
    let history = History::new()
        .live()
        .then(provider(), request())
        .then(officer(), decide(1))
        .then(officer(), suspend())
        .then(officer(), resume())
        .then(officer(), end(TODAY));
    let decisions = [
        "ApplicationApproved",
        "ApplicationRejected",
        "SelfDeclarationAccepted",
        "SelfDeclarationReturned",
        "DeviationAgreed",
        "FinalVerificationApproved",
        "FinalVerificationFailed",
        "WentLive",
        "NonStandardServiceDecided",
        "ConnectionSuspended",
        "ConnectionResumed",
        "ConnectionEnded",
    ];
    for event in &history.events {
        assert_eq!(event.actor.region, region());
        let is_decision = decisions.contains(&event.change.name());
        assert_eq!(
            event.change.reason().is_some(),
            is_decision,
            "{}",
            event.change.name()
        );
    }
}

fn change_workstations(workstations: u32, effective: &str) -> CaseCommand {
    CaseCommand::ChangeWorkstations(domain::case::ChangeWorkstations {
        workstations,
        effective_on: date(effective),
    })
}

fn registered(count: u32) -> CaseCommand {
    CaseCommand::RecordMilestone(domain::case::RecordMilestone {
        milestone: domain::case::Milestone::WorkstationsRegistered { count },
        completed_on: date(TODAY),
    })
}

#[test]
fn workstation_groups_change_with_dates_and_registering_beyond_their_allowance_is_flagged() {
    // The test programme bills per started group of 10 registered workstations, like
    // Jämtland; the application named 12 (2 groups, 20 allowed).
    let registry = registry();
    let grown = History::new()
        .live()
        .then(provider(), change_workstations(25, "2025-04-01"));
    let case = grown.case();
    assert_eq!(case.workstations_on(date("2025-03-31")), Some(12));
    assert_eq!(case.workstations_on(date("2025-04-01")), Some(25));
    let CaseChange::WorkstationsChanged(e) = &grown.events.last().unwrap().change else {
        panic!("expected WorkstationsChanged");
    };
    assert_eq!(e.groups, Some(3));
    // Region IT registers 24: within 3 groups from April, beyond 2 before it.
    let registered = grown.then(region_it(), registered(24));
    let case = registered.case();
    assert_eq!(
        case.flags(&registry, date("2025-03-31")),
        vec![domain::case::Flag::WorkstationAllowanceExceeded {
            registered: 24,
            groups: 2,
            allowance: 20,
        }]
    );
    assert_eq!(case.flags(&registry, date("2025-04-01")), vec![]);
    // Removing workstations brings the flag back.
    let shrunk = registered.then(provider(), change_workstations(18, "2025-05-01"));
    assert_eq!(
        shrunk.case().flags(&registry, date("2025-05-01")),
        vec![domain::case::Flag::WorkstationAllowanceExceeded {
            registered: 24,
            groups: 2,
            allowance: 20,
        }]
    );
    spec()
        .given(History::new().live().events)
        .when(by(provider(), change_workstations(0, "2025-04-01")))
        .then_expect_error(CaseError::NoWorkstations);
}

#[test]
fn a_non_standard_request_carries_its_desired_date_its_description_and_the_documents_words() {
    let events = spec()
        .given(History::new().live().events)
        .when(by(
            provider(),
            CaseCommand::RequestNonStandardService(RequestNonStandardService {
                service: text("Waiting-room screen"),
                justification: long("Patients are called by number."),
                desired_on: Some(date("2025-06-01")),
                function_and_technology: Some(long("A screen on its own 4G router.")),
            }),
        ))
        .inspect_result()
        .unwrap();
    let CaseChange::NonStandardServiceRequested(e) = &events[0].change else {
        panic!("expected NonStandardServiceRequested");
    };
    assert_eq!(e.desired_on, Some(date("2025-06-01")));
    assert!(e.function_and_technology.is_some());
    spec()
        .given(History::new().live().events)
        .when(by(
            provider(),
            CaseCommand::RequestNonStandardService(RequestNonStandardService {
                service: text("Waiting-room screen"),
                justification: long("Patients are called by number."),
                desired_on: Some(date("2025-01-01")),
                function_and_technology: None,
            }),
        ))
        .then_expect_error(CaseError::InvalidDate {
            field: "desired_on",
            date: date("2025-01-01"),
            problem: DateProblem::InPast,
        });
}

#[test]
fn a_reported_change_keeps_the_programmes_timeliness_words_for_its_kind() {
    // The test programme words organisational changes "i god tid" and says nothing of
    // premises.
    let report = |kind| {
        let events = spec()
            .given(History::new().live().events)
            .when(by(provider(), change(kind, "2025-04-01")))
            .inspect_result()
            .unwrap();
        let CaseChange::OrganisationalChangeReported(e) = &events[0].change else {
            panic!("expected OrganisationalChangeReported");
        };
        e.timeliness.clone()
    };
    assert_eq!(
        report(OrganisationalChange::NameChanged {
            new_name: text("Vårdcentralen Norr")
        }),
        Some("i god tid".to_owned())
    );
    assert_eq!(
        report(OrganisationalChange::PremisesChanged {
            description: long("The reception moves to the ground floor.")
        }),
        None
    );
}

#[test]
fn an_on_site_demand_during_operation_is_flagged_until_the_region_resolves_it() {
    let demanded = History::new().live().then(
        region_it(),
        CaseCommand::RecordFinding(domain::case::RecordFinding {
            kind: domain::case::FindingKind::Demand,
            requirement: None,
            description: long("The server cabinet is unlocked."),
            due: Some(date("2025-04-01")),
        }),
    );
    let registry = registry();
    let flag = |overdue| domain::case::Flag::DemandOpen {
        finding: domain::ids::FindingNo::new(1),
        due: Some(date("2025-04-01")),
        overdue,
    };
    assert_eq!(
        demanded.case().flags(&registry, date("2025-04-01")),
        vec![flag(false)]
    );
    assert_eq!(
        demanded.case().flags(&registry, date("2025-04-02")),
        vec![flag(true)]
    );
    let resolved = demanded.then(
        region_it(),
        CaseCommand::ResolveFinding(domain::case::ResolveFinding {
            finding: domain::ids::FindingNo::new(1),
            resolution: long("Locked."),
        }),
    );
    assert_eq!(resolved.case().flags(&registry, date("2025-04-02")), vec![]);
}
