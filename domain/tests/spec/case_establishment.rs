//! Establishment: agreements, the self-declaration and its review, deviations, staff
//! commitments, technical milestones and training.

use domain::case::{
    AcceptSelfDeclaration, AgreeDeviation, Answer, CaseChange, CaseCommand, CaseError,
    CommitmentKind, CompleteTraining, Compliance, DateProblem, DeclarationStatus, Milestone,
    MilestoneKind, Phase, RecordMilestone, RecordStaffCommitment, Remark, ReturnSelfDeclaration,
    SignAgreement, StaffMember, SubmitSelfDeclaration,
};
use domain::identity::{HsaId, Personnummer};
use domain::{Personal, Role};

use crate::fixtures::*;

fn sign(id: &str) -> CaseCommand {
    CaseCommand::SignAgreement(SignAgreement {
        agreement: req(id),
        signed_on: date(TODAY),
        counterparty: text("Inera AB"),
        document: Some(text("Sjunet-avtal 2025")),
    })
}

#[test]
fn an_agreement_the_programme_demands_is_recorded_as_signed() {
    let events = spec()
        .given(History::new().contracted().events)
        .when(by(officer(), sign("T-002")))
        .inspect_result()
        .unwrap();
    let CaseChange::AgreementSigned(e) = &events[0].change else {
        panic!("expected AgreementSigned");
    };
    assert_eq!(e.agreement, req("T-002"));
    assert_eq!(e.counterparty.as_str(), "Inera AB");
}

#[test]
fn an_agreement_is_signed_during_establishment_not_before() {
    spec()
        .given(History::new().approved().events)
        .when(by(officer(), sign("T-001")))
        .then_expect_error(CaseError::WrongPhase {
            command: "sign-agreement",
            phase: Phase::Approved,
        });
}

#[test]
fn a_requirement_that_is_not_an_agreement_cannot_be_signed() {
    spec()
        .given(History::new().contracted().events)
        .when(by(officer(), sign("T-004")))
        .then_expect_error(CaseError::NotAnAgreement {
            requirement: req("T-004"),
        });
}

#[test]
fn an_agreement_outside_the_catalogue_cannot_be_signed() {
    spec()
        .given(History::new().contracted().events)
        .when(by(officer(), sign("T-009")))
        .then_expect_error(CaseError::RequirementNotInCatalogue {
            requirement: req("T-009"),
        });
}

#[test]
fn an_agreement_is_signed_once() {
    spec()
        .given(History::new().contracted().agreements_signed().events)
        .when(by(officer(), sign("T-001")))
        .then_expect_error(CaseError::AgreementAlreadySigned {
            agreement: req("T-001"),
        });
}

#[test]
fn a_should_agreement_may_be_signed_too() {
    spec()
        .given(History::new().contracted().events)
        .when(by(officer(), sign("T-003")))
        .inspect_result()
        .unwrap();
}

fn submit(answers: Vec<Answer>) -> CaseCommand {
    CaseCommand::SubmitSelfDeclaration(SubmitSelfDeclaration { answers })
}

fn accept() -> CaseCommand {
    CaseCommand::AcceptSelfDeclaration(AcceptSelfDeclaration {
        reason: long("Complete and credible."),
    })
}

fn with(answers: Vec<Answer>, replaced: &Answer) -> Vec<Answer> {
    answers
        .into_iter()
        .map(|a| {
            if a.requirement == replaced.requirement {
                replaced.clone()
            } else {
                a
            }
        })
        .collect()
}

#[test]
fn a_self_declaration_answering_every_requirement_is_submitted() {
    let answers = answers_complying(&registry(), 1);
    let events = spec()
        .given(History::new().contracted().events)
        .when(by(provider(), submit(answers.clone())))
        .inspect_result()
        .unwrap();
    let CaseChange::SelfDeclarationSubmitted(e) = &events[0].change else {
        panic!("expected SelfDeclarationSubmitted");
    };
    assert_eq!(e.answers, answers);
    assert_eq!(e.catalogue.version, 1);
}

#[test]
fn only_the_provider_declares() {
    spec()
        .given(History::new().contracted().events)
        .when(by(officer(), submit(answers_complying(&registry(), 1))))
        .then_expect_error(CaseError::NotPermitted {
            command: "submit-self-declaration",
            role: Role::Officer,
        });
}

#[test]
fn a_self_declaration_must_answer_every_requirement_once_and_explain_every_exception() {
    let mut answers = answers_complying(&registry(), 1);
    answers.retain(|a| a.requirement != req("T-006"));
    answers.push(complies(&req("T-999")));
    answers.push(complies(&req("T-001")));
    let mut undescribed = does_not_comply("T-004");
    undescribed.description = None;
    let answers = with(answers, &undescribed);
    spec()
        .given(History::new().contracted().events)
        .when(by(provider(), submit(answers)))
        .then_expect_error(CaseError::IncompleteAnswers {
            missing: vec![req("T-006")],
            unknown: vec![req("T-999")],
            duplicated: vec![req("T-001")],
            undescribed: vec![req("T-004")],
        });
}

#[test]
fn a_self_declaration_under_review_cannot_be_submitted_again() {
    spec()
        .given(History::new().contracted().declared().events)
        .when(by(provider(), submit(answers_complying(&registry(), 1))))
        .then_expect_error(CaseError::SelfDeclarationNotExpected {
            status: DeclarationStatus::Submitted,
        });
}

#[test]
fn an_accepted_self_declaration_cannot_be_submitted_again() {
    spec()
        .given(History::new().contracted().declaration_accepted().events)
        .when(by(provider(), submit(answers_complying(&registry(), 1))))
        .then_expect_error(CaseError::SelfDeclarationNotExpected {
            status: DeclarationStatus::Accepted,
        });
}

#[test]
fn the_region_accepts_a_complete_self_declaration() {
    let history = History::new().contracted().declaration_accepted();
    assert_eq!(
        history.case().declaration_status(),
        DeclarationStatus::Accepted
    );
}

#[test]
fn nothing_is_reviewed_before_a_self_declaration_is_submitted() {
    spec()
        .given(History::new().contracted().events)
        .when(by(officer(), accept()))
        .then_expect_error(CaseError::NoSelfDeclarationToReview {
            status: DeclarationStatus::NotSubmitted,
        });
}

#[test]
fn not_complying_with_a_must_requirement_blocks_acceptance_without_an_agreed_deviation() {
    let answers = with(answers_complying(&registry(), 1), &does_not_comply("T-004"));
    spec()
        .given(
            History::new()
                .contracted()
                .then(provider(), submit(answers))
                .events,
        )
        .when(by(officer(), accept()))
        .then_expect_error(CaseError::NonCompliantWithoutDeviation {
            requirements: vec![req("T-004")],
        });
}

fn deviate(id: &str, until: Option<&str>) -> CaseCommand {
    CaseCommand::AgreeDeviation(AgreeDeviation {
        requirement: req(id),
        reason: long("Sjunet is delayed; RDnet meanwhile."),
        valid_until: until.map(date),
    })
}

#[test]
fn an_agreed_deviation_lets_a_non_compliant_answer_be_accepted() {
    let answers = with(answers_complying(&registry(), 1), &does_not_comply("T-004"));
    spec()
        .given(
            History::new()
                .contracted()
                .then(provider(), submit(answers))
                .then(officer(), deviate("T-004", None))
                .events,
        )
        .when(by(officer(), accept()))
        .inspect_result()
        .unwrap();
}

#[test]
fn a_lapsed_deviation_no_longer_counts() {
    let answers = with(answers_complying(&registry(), 1), &does_not_comply("T-004"));
    let given = History::on("2025-03-03")
        .contracted()
        .then(provider(), submit(answers))
        .then(officer(), deviate("T-004", Some("2025-03-31")))
        .events;
    spec_on("2025-04-01")
        .given(given)
        .when(by(officer(), accept()))
        .then_expect_error(CaseError::NonCompliantWithoutDeviation {
            requirements: vec![req("T-004")],
        });
}

#[test]
fn not_complying_with_a_should_requirement_never_blocks_acceptance() {
    let answers = with(answers_complying(&registry(), 1), &does_not_comply("T-006"));
    spec()
        .given(
            History::new()
                .contracted()
                .then(provider(), submit(answers))
                .events,
        )
        .when(by(officer(), accept()))
        .inspect_result()
        .unwrap();
}

#[test]
fn a_not_applicable_answer_to_a_must_needs_an_agreed_deviation() {
    // A must the provider finds not applicable to its unit is for the region to agree to:
    // without a deviation the declaration cannot be accepted.
    let answer = Answer {
        requirement: req("T-004"),
        compliance: Compliance::NotApplicable,
        description: Some(long("The unit uses Sjunet only.")),
        evidence: vec![],
    };
    let answers = with(answers_complying(&registry(), 1), &answer);
    let declared = History::new()
        .contracted()
        .then(provider(), submit(answers));
    spec()
        .given(declared.events.clone())
        .when(by(officer(), accept()))
        .then_expect_error(CaseError::NonCompliantWithoutDeviation {
            requirements: vec![req("T-004")],
        });
    spec()
        .given(
            declared
                .then(
                    officer(),
                    CaseCommand::AgreeDeviation(AgreeDeviation {
                        requirement: req("T-004"),
                        reason: long("The unit connects over Sjunet only; agreed."),
                        valid_until: None,
                    }),
                )
                .events,
        )
        .when(by(officer(), accept()))
        .inspect_result()
        .unwrap();
}

#[test]
fn a_not_applicable_answer_to_a_should_needs_no_deviation() {
    let answer = Answer {
        requirement: req("T-006"),
        compliance: Compliance::NotApplicable,
        description: Some(long("The unit has no such equipment.")),
        evidence: vec![],
    };
    let answers = with(answers_complying(&registry(), 1), &answer);
    spec()
        .given(
            History::new()
                .contracted()
                .then(provider(), submit(answers))
                .events,
        )
        .when(by(officer(), accept()))
        .inspect_result()
        .unwrap();
}

#[test]
fn the_region_returns_a_self_declaration_with_remarks_and_it_can_be_submitted_again() {
    let returned = History::new().contracted().declared().then(
        officer(),
        CaseCommand::ReturnSelfDeclaration(ReturnSelfDeclaration {
            reason: long("Evidence is missing."),
            remarks: vec![Remark {
                requirement: req("T-005"),
                remark: long("Describe the alarm."),
            }],
        }),
    );
    assert_eq!(
        returned.case().declaration_status(),
        DeclarationStatus::Returned
    );
    spec()
        .given(returned.events)
        .when(by(provider(), submit(answers_complying(&registry(), 1))))
        .inspect_result()
        .unwrap();
}

#[test]
fn a_remark_on_a_requirement_outside_the_catalogue_is_refused() {
    spec()
        .given(History::new().contracted().declared().events)
        .when(by(
            officer(),
            CaseCommand::ReturnSelfDeclaration(ReturnSelfDeclaration {
                reason: long("See remarks."),
                remarks: vec![Remark {
                    requirement: req("X-1"),
                    remark: long("?"),
                }],
            }),
        ))
        .then_expect_error(CaseError::RequirementNotInCatalogue {
            requirement: req("X-1"),
        });
}

#[test]
fn a_deviation_from_a_should_requirement_is_not_needed() {
    spec()
        .given(History::new().contracted().events)
        .when(by(officer(), deviate("T-006", None)))
        .then_expect_error(CaseError::DeviationNotNeeded {
            requirement: req("T-006"),
        });
}

#[test]
fn a_deviation_is_agreed_once_while_it_is_in_force() {
    spec()
        .given(
            History::new()
                .contracted()
                .then(officer(), deviate("T-004", None))
                .events,
        )
        .when(by(officer(), deviate("T-004", None)))
        .then_expect_error(CaseError::DeviationAlreadyAgreed {
            requirement: req("T-004"),
        });
}

#[test]
fn a_deviation_cannot_lapse_in_the_past() {
    spec()
        .given(History::new().contracted().events)
        .when(by(officer(), deviate("T-004", Some("2025-03-02"))))
        .then_expect_error(CaseError::InvalidDate {
            field: "valid_until",
            date: date("2025-03-02"),
            problem: DateProblem::InPast,
        });
}

#[test]
fn a_deviation_outside_the_catalogue_is_refused() {
    spec()
        .given(History::new().contracted().events)
        .when(by(officer(), deviate("T-404", None)))
        .then_expect_error(CaseError::RequirementNotInCatalogue {
            requirement: req("T-404"),
        });
}

fn commitment(kind: CommitmentKind) -> CaseCommand {
    CaseCommand::RecordStaffCommitment(RecordStaffCommitment {
        person: Personal::new(
            subject(10),
            StaffMember {
                name: text("Bo Berg"),
                personnummer: Personnummer::parse_canonical("198001011017").unwrap(),
                hsa_id: HsaId::parse("SE2321000180-ABC1").unwrap(),
            },
        ),
        kind,
        signed_on: date(TODAY),
    })
}

#[test]
fn each_user_signs_both_commitments_once() {
    let given = History::new()
        .contracted()
        .then(
            provider(),
            commitment(CommitmentKind::ResponsibilityCommitment),
        )
        .events;
    spec()
        .given(given.clone())
        .when(by(
            provider(),
            commitment(CommitmentKind::ConfidentialityReminder),
        ))
        .inspect_result()
        .unwrap();
    spec()
        .given(given)
        .when(by(
            officer(),
            commitment(CommitmentKind::ResponsibilityCommitment),
        ))
        .then_expect_error(CaseError::CommitmentAlreadyRecorded {
            kind: CommitmentKind::ResponsibilityCommitment,
        });
}

#[test]
fn staff_commitments_begin_with_the_establishment() {
    spec()
        .given(History::new().approved().events)
        .when(by(
            provider(),
            commitment(CommitmentKind::ResponsibilityCommitment),
        ))
        .then_expect_error(CaseError::WrongPhase {
            command: "record-staff-commitment",
            phase: Phase::Approved,
        });
}

#[test]
fn a_staff_commitment_event_never_shows_the_personnummer_in_debug_output() {
    let events = spec()
        .given(History::new().contracted().events)
        .when(by(
            provider(),
            commitment(CommitmentKind::ResponsibilityCommitment),
        ))
        .inspect_result()
        .unwrap();
    let shown = format!("{events:?}");
    assert!(!shown.contains("1017"), "{shown}");
    assert!(!shown.contains("Bo Berg"), "{shown}");
}

fn milestone(m: Milestone, on: &str) -> CaseCommand {
    CaseCommand::RecordMilestone(RecordMilestone {
        milestone: m,
        completed_on: date(on),
    })
}

#[test]
fn each_technical_milestone_is_recorded_once() {
    let network = || Milestone::NetworkConnected {
        network: text("Sjunet"),
    };
    let given = History::new()
        .contracted()
        .then(region_it(), milestone(network(), TODAY));
    assert_eq!(
        given
            .case()
            .milestones()
            .get(&MilestoneKind::NetworkConnected),
        Some(&date(TODAY))
    );
    spec()
        .given(given.events)
        .when(by(region_it(), milestone(network(), TODAY)))
        .then_expect_error(CaseError::MilestoneAlreadyRecorded {
            milestone: MilestoneKind::NetworkConnected,
        });
}

#[test]
fn a_milestone_is_not_completed_in_the_future() {
    spec()
        .given(History::new().contracted().events)
        .when(by(
            region_it(),
            milestone(Milestone::AccountsCreated { count: 12 }, "2025-03-04"),
        ))
        .then_expect_error(CaseError::InvalidDate {
            field: "completed_on",
            date: date("2025-03-04"),
            problem: DateProblem::InFuture,
        });
}

#[test]
fn the_provider_does_not_record_the_regions_milestones() {
    spec()
        .given(History::new().contracted().events)
        .when(by(
            provider(),
            milestone(Milestone::ContactCardPublished, TODAY),
        ))
        .then_expect_error(CaseError::NotPermitted {
            command: "record-milestone",
            role: Role::Provider,
        });
}

#[test]
fn training_is_completed_once() {
    spec()
        .given(History::new().contracted().trained().events)
        .when(by(
            region_it(),
            CaseCommand::CompleteTraining(CompleteTraining {
                completed_on: date(TODAY),
                description: long("Again."),
            }),
        ))
        .then_expect_error(CaseError::TrainingAlreadyCompleted);
}
