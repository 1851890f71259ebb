//! Final verification, findings, the final contract and the go-live gate.

use domain::case::{
    ApproveFinalVerification, Blocker, CaseChange, CaseCommand, CaseError, DateProblem,
    FailFinalVerification, FindingKind, GoLive, Phase, RecordFinding, RejectFindingResponse,
    ResolveFinding, RespondToFinding, ScheduleFinalVerification, SignFinalContract,
    VerificationContext,
};
use domain::ids::FindingNo;

use crate::fixtures::*;

fn schedule(on: &str) -> CaseCommand {
    CaseCommand::ScheduleFinalVerification(ScheduleFinalVerification {
        scheduled_for: date(on),
    })
}

fn finding(kind: FindingKind) -> CaseCommand {
    CaseCommand::RecordFinding(RecordFinding {
        kind,
        requirement: Some(req("T-005")),
        description: long("The server room door does not lock."),
        due: None,
    })
}

fn resolve(n: u32) -> CaseCommand {
    CaseCommand::ResolveFinding(ResolveFinding {
        finding: FindingNo::new(n),
        resolution: long("A lock was fitted."),
    })
}

fn approve() -> CaseCommand {
    CaseCommand::ApproveFinalVerification(ApproveFinalVerification {
        reason: long("The premises meet the contract."),
    })
}

fn fail() -> CaseCommand {
    CaseCommand::FailFinalVerification(FailFinalVerification {
        reason: long("The premises are not secured."),
    })
}

fn go_live() -> CaseCommand {
    CaseCommand::GoLive(GoLive {
        reason: long("Ready."),
    })
}

#[test]
fn scheduling_the_final_verification_enters_its_phase() {
    let history = History::new().contracted().verification_scheduled();
    assert_eq!(history.case().phase(), Phase::FinalVerification);
    assert_eq!(history.case().verification().unwrap().round, 1);
}

#[test]
fn a_final_verification_is_not_scheduled_in_the_past() {
    spec()
        .given(History::new().contracted().events)
        .when(by(region_it(), schedule("2025-03-02")))
        .then_expect_error(CaseError::InvalidDate {
            field: "scheduled_for",
            date: date("2025-03-02"),
            problem: DateProblem::InPast,
        });
}

#[test]
fn moving_a_pending_verification_keeps_its_round_and_a_failed_one_starts_the_next() {
    let moved = History::new()
        .contracted()
        .verification_scheduled()
        .then(region_it(), schedule("2025-03-10"));
    assert_eq!(moved.case().verification().unwrap().round, 1);
    let failed = History::new()
        .contracted()
        .verification_scheduled()
        .then(officer(), fail())
        .then(region_it(), schedule("2025-03-10"));
    assert_eq!(failed.case().verification().unwrap().round, 2);
}

#[test]
fn an_approved_verification_is_not_scheduled_again() {
    spec()
        .given(
            History::new()
                .contracted()
                .verification_scheduled()
                .verification_approved()
                .events,
        )
        .when(by(region_it(), schedule(TODAY)))
        .then_expect_error(CaseError::FinalVerificationNotPending {
            round: 1,
            state: "approved",
        });
}

#[test]
fn findings_are_numbered_in_order_within_their_verification() {
    let history = History::new()
        .contracted()
        .verification_scheduled()
        .then(region_it(), finding(FindingKind::Recommendation));
    let events = spec()
        .given(history.events)
        .when(by(region_it(), finding(FindingKind::Demand)))
        .inspect_result()
        .unwrap();
    let CaseChange::FindingRecorded(e) = &events[0].change else {
        panic!("expected FindingRecorded");
    };
    assert_eq!(e.finding, FindingNo::new(2));
    assert_eq!(
        e.context,
        VerificationContext::FinalVerification { round: 1 }
    );
    assert_eq!(e.kind, FindingKind::Demand);
}

#[test]
fn findings_belong_to_a_verification() {
    spec()
        .given(History::new().contracted().events)
        .when(by(region_it(), finding(FindingKind::Demand)))
        .then_expect_error(CaseError::WrongPhase {
            command: "record-finding",
            phase: Phase::Establishment,
        });
}

#[test]
fn a_finding_on_a_requirement_outside_the_catalogue_is_refused() {
    spec()
        .given(History::new().contracted().verification_scheduled().events)
        .when(by(
            region_it(),
            CaseCommand::RecordFinding(RecordFinding {
                kind: FindingKind::Demand,
                requirement: Some(req("Z-1")),
                description: long("?"),
                due: None,
            }),
        ))
        .then_expect_error(CaseError::RequirementNotInCatalogue {
            requirement: req("Z-1"),
        });
}

#[test]
fn on_site_verification_during_operation_records_findings_too() {
    let events = spec()
        .given(History::new().live().events)
        .when(by(region_it(), finding(FindingKind::Demand)))
        .inspect_result()
        .unwrap();
    let CaseChange::FindingRecorded(e) = &events[0].change else {
        panic!("expected FindingRecorded");
    };
    assert_eq!(e.context, VerificationContext::OnSite);
}

#[test]
fn a_finding_is_resolved_once_and_only_if_it_exists() {
    let given = History::new()
        .contracted()
        .verification_scheduled()
        .then(region_it(), finding(FindingKind::Demand))
        .then(region_it(), resolve(1))
        .events;
    spec()
        .given(given.clone())
        .when(by(region_it(), resolve(1)))
        .then_expect_error(CaseError::FindingAlreadyResolved {
            finding: FindingNo::new(1),
        });
    spec()
        .given(given)
        .when(by(region_it(), resolve(7)))
        .then_expect_error(CaseError::FindingNotFound {
            finding: FindingNo::new(7),
        });
}

fn respond(no: u32) -> CaseCommand {
    CaseCommand::RespondToFinding(RespondToFinding {
        finding: FindingNo::new(no),
        remediation: long("A lock was fitted to the cabinet."),
        evidence: vec![text("Photo 2025-03-03")],
    })
}

fn reject_response(no: u32) -> CaseCommand {
    CaseCommand::RejectFindingResponse(RejectFindingResponse {
        finding: FindingNo::new(no),
        reason: long("The photo shows another cabinet."),
    })
}

#[test]
fn the_provider_cannot_resolve_a_demand_it_responds_with_its_remediation_instead() {
    // Jämtland §3.10: the region gives "besked om sådana som måste vidtas"; whether they
    // were is the region's to judge.
    let demanded = History::new()
        .contracted()
        .verification_scheduled()
        .then(region_it(), finding(FindingKind::Demand));
    spec()
        .given(demanded.events.clone())
        .when(by(provider(), resolve(1)))
        .then_expect_error(CaseError::DemandIsTheRegions {
            finding: FindingNo::new(1),
        });
    let responded = demanded.then(provider(), respond(1));
    let case = case_from(&responded.events);
    assert_eq!(case.open_demands(), vec![FindingNo::new(1)], "still open");
    assert!(case.findings()[&FindingNo::new(1)].response_pending);
    spec()
        .given(responded.events.clone())
        .when(by(officer(), approve()))
        .then_expect_error(CaseError::OpenDemands {
            findings: vec![FindingNo::new(1)],
        });
    // The region rejects the response: still open, nothing pending, the provider responds again.
    let rejected = responded.then(region_it(), reject_response(1));
    let case = case_from(&rejected.events);
    assert!(!case.findings()[&FindingNo::new(1)].response_pending);
    assert_eq!(case.open_demands(), vec![FindingNo::new(1)]);
    spec()
        .given(rejected.events.clone())
        .when(by(region_it(), reject_response(1)))
        .then_expect_error(CaseError::NoFindingResponse {
            finding: FindingNo::new(1),
        });
    // The region accepts the next response by resolving the demand.
    spec()
        .given(
            rejected
                .then(provider(), respond(1))
                .then(region_it(), resolve(1))
                .events,
        )
        .when(by(officer(), approve()))
        .inspect_result()
        .unwrap();
}

#[test]
fn the_provider_may_resolve_a_recommendation_but_not_respond_to_a_resolved_finding() {
    let given = History::new()
        .contracted()
        .verification_scheduled()
        .then(region_it(), finding(FindingKind::Recommendation))
        .then(provider(), resolve(1))
        .events;
    spec()
        .given(given)
        .when(by(provider(), respond(1)))
        .then_expect_error(CaseError::FindingAlreadyResolved {
            finding: FindingNo::new(1),
        });
}

#[test]
fn a_final_verification_with_an_open_demand_cannot_be_approved() {
    spec()
        .given(
            History::new()
                .contracted()
                .verification_scheduled()
                .then(region_it(), finding(FindingKind::Demand))
                .events,
        )
        .when(by(officer(), approve()))
        .then_expect_error(CaseError::OpenDemands {
            findings: vec![FindingNo::new(1)],
        });
}

#[test]
fn a_resolved_demand_no_longer_blocks_approval() {
    spec()
        .given(
            History::new()
                .contracted()
                .verification_scheduled()
                .then(region_it(), finding(FindingKind::Demand))
                .then(officer(), resolve(1))
                .events,
        )
        .when(by(officer(), approve()))
        .inspect_result()
        .unwrap();
}

#[test]
fn a_recommendation_never_blocks_approval_and_stays_on_record() {
    let events = spec()
        .given(
            History::new()
                .contracted()
                .verification_scheduled()
                .then(region_it(), finding(FindingKind::Recommendation))
                .events,
        )
        .when(by(officer(), approve()))
        .inspect_result()
        .unwrap();
    let CaseChange::FinalVerificationApproved(e) = &events[0].change else {
        panic!("expected FinalVerificationApproved");
    };
    assert_eq!(e.open_findings, vec![FindingNo::new(1)]);
}

#[test]
fn a_final_verification_is_decided_only_once_held() {
    let given = History::new()
        .contracted()
        .then(region_it(), schedule("2025-03-20"))
        .events;
    spec()
        .given(given.clone())
        .when(by(officer(), approve()))
        .then_expect_error(CaseError::FinalVerificationNotHeld {
            scheduled_for: date("2025-03-20"),
        });
    spec()
        .given(given)
        .when(by(officer(), fail()))
        .then_expect_error(CaseError::FinalVerificationNotHeld {
            scheduled_for: date("2025-03-20"),
        });
}

#[test]
fn a_failed_final_verification_records_the_open_demands() {
    let events = spec()
        .given(
            History::new()
                .contracted()
                .verification_scheduled()
                .then(region_it(), finding(FindingKind::Demand))
                .then(region_it(), finding(FindingKind::Recommendation))
                .events,
        )
        .when(by(officer(), fail()))
        .inspect_result()
        .unwrap();
    let CaseChange::FinalVerificationFailed(e) = &events[0].change else {
        panic!("expected FinalVerificationFailed");
    };
    assert_eq!(e.open_findings, vec![FindingNo::new(1)]);
}

#[test]
fn a_decided_verification_is_not_decided_again() {
    spec()
        .given(
            History::new()
                .contracted()
                .verification_scheduled()
                .then(officer(), fail())
                .events,
        )
        .when(by(officer(), approve()))
        .then_expect_error(CaseError::FinalVerificationNotPending {
            round: 1,
            state: "failed",
        });
}

fn sign_final() -> CaseCommand {
    CaseCommand::SignFinalContract(SignFinalContract {
        signed_on: date(TODAY),
        document: None,
    })
}

#[test]
fn the_final_contract_needs_an_approved_final_verification() {
    spec()
        .given(History::new().contracted().verification_scheduled().events)
        .when(by(officer(), sign_final()))
        .then_expect_error(CaseError::FinalVerificationNotApproved);
}

#[test]
fn the_final_contract_is_signed_once() {
    spec()
        .given(
            History::new()
                .contracted()
                .verification_scheduled()
                .verification_approved()
                .final_contract_signed()
                .events,
        )
        .when(by(officer(), sign_final()))
        .then_expect_error(CaseError::FinalContractAlreadySigned);
}

#[test]
fn go_live_lists_every_unmet_condition_not_just_the_first() {
    spec()
        .given(History::new().contracted().events)
        .when(by(officer(), go_live()))
        .then_expect_error(CaseError::GoLiveBlocked {
            unmet: vec![
                Blocker::SelfDeclarationNotAccepted,
                Blocker::AgreementNotSigned {
                    agreement: req("T-001"),
                },
                Blocker::AgreementNotSigned {
                    agreement: req("T-002"),
                },
                Blocker::TrainingNotCompleted,
                Blocker::FinalVerificationNotApproved,
                Blocker::FinalContractNotSigned,
            ],
        });
}

#[test]
fn go_live_is_refused_while_a_demand_is_open() {
    spec()
        .given(
            History::new()
                .contracted()
                .agreements_signed()
                .declaration_accepted()
                .trained()
                .verification_scheduled()
                .then(region_it(), finding(FindingKind::Demand))
                .events,
        )
        .when(by(officer(), go_live()))
        .then_expect_error(CaseError::GoLiveBlocked {
            unmet: vec![
                Blocker::FinalVerificationNotApproved,
                Blocker::DemandOpen {
                    finding: FindingNo::new(1),
                },
                Blocker::FinalContractNotSigned,
            ],
        });
}

#[test]
fn a_should_agreement_never_blocks_go_live() {
    let history = History::new().ready();
    assert!(!history.case().agreements().contains_key(&req("T-003")));
    spec()
        .given(history.events)
        .when(by(officer(), go_live()))
        .inspect_result()
        .unwrap();
}

#[test]
fn with_every_condition_met_the_case_goes_live_today_under_its_catalogue() {
    let events = spec()
        .given(History::new().ready().events)
        .when(by(officer(), go_live()))
        .inspect_result()
        .unwrap();
    let CaseChange::WentLive(e) = &events[0].change else {
        panic!("expected WentLive");
    };
    assert_eq!(e.went_live_on, date(TODAY));
    assert_eq!(e.catalogue.version, 1);
    assert_eq!(History::new().live().case().phase(), Phase::Live);
}

#[test]
fn go_live_before_the_contract_is_out_of_order() {
    spec()
        .given(History::new().approved().events)
        .when(by(officer(), go_live()))
        .then_expect_error(CaseError::WrongPhase {
            command: "go-live",
            phase: Phase::Approved,
        });
}

#[test]
fn a_live_case_does_not_go_live_again() {
    spec()
        .given(History::new().live().events)
        .when(by(officer(), go_live()))
        .then_expect_error(CaseError::WrongPhase {
            command: "go-live",
            phase: Phase::Live,
        });
}
