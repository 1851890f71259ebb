//! The rules a programme's process adds to a case, on the test programmes: staff
//! commitments where the programme has every user sign them (and again at each new hire),
//! nothing where it does not, and the lead time as a flag.

use domain::case::{
    AcceptSelfDeclaration, Blocker, CaseCommand, CaseError, CaseServices, CommitmentKind,
    ConnectionCase, Flag, GoLive, ListStaffMember, Phase, RecordStaffCommitment, SignContract,
    StaffMember, SubmitSelfDeclaration,
};
use domain::catalogue::LeadTimeKind;
use domain::identity::{HsaId, Personnummer};
use domain::ids::{DataSubjectId, ProgrammeId};
use domain::{Actor, Personal};

use crate::fixtures::*;

fn run(case: &mut ConnectionCase, services: &CaseServices, actor: Actor, c: CaseCommand) {
    let name = c.name();
    let event = case
        .decide(by(actor, c), services)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    cqrs_es::Aggregate::apply(case, event);
}

fn person(n: u128, pnr: &str) -> Personal<StaffMember> {
    Personal::new(
        subject(n),
        StaffMember {
            name: text("Eva Lund"),
            personnummer: Personnummer::parse_canonical(pnr).unwrap(),
            hsa_id: HsaId::parse("SE2321000180-EVA1").unwrap(),
        },
    )
}

fn list(n: u128, pnr: &str) -> CaseCommand {
    CaseCommand::ListStaffMember(ListStaffMember {
        person: person(n, pnr),
        access_from: date(TODAY),
    })
}

fn sign(n: u128, pnr: &str, kind: CommitmentKind) -> CaseCommand {
    CaseCommand::RecordStaffCommitment(RecordStaffCommitment {
        person: person(n, pnr),
        kind,
        signed_on: date(TODAY),
    })
}

/// A test-bup case (Dalarna BUP's shape) with its contract signed and its declaration
/// accepted: only the staff commitments are left before go-live.
fn bup_declared(services: &CaseServices) -> ConnectionCase {
    let mut case = ConnectionCase::default();
    let mut app = application();
    app.programme = ProgrammeId::parse("test-bup").unwrap();
    app.service_packages.clear();
    app.listed_patients = None;
    run(
        &mut case,
        services,
        provider(),
        CaseCommand::SubmitApplication(app),
    );
    run(
        &mut case,
        services,
        officer(),
        CaseCommand::ApproveApplication(domain::case::ApproveApplication { reason: long("ok") }),
    );
    run(
        &mut case,
        services,
        officer(),
        CaseCommand::SignContract(SignContract {
            signed_on: date(TODAY),
            document: None,
        }),
    );
    run(
        &mut case,
        services,
        provider(),
        CaseCommand::SubmitSelfDeclaration(SubmitSelfDeclaration {
            answers: vec![complies(&req("B-001"))],
        }),
    );
    run(
        &mut case,
        services,
        officer(),
        CaseCommand::AcceptSelfDeclaration(AcceptSelfDeclaration { reason: long("ok") }),
    );
    case
}

fn missing(subject: DataSubjectId, commitment: CommitmentKind) -> Blocker {
    Blocker::StaffCommitmentMissing {
        subject,
        commitment,
    }
}

#[test]
fn every_listed_user_must_sign_every_commitment_of_the_form_before_go_live() {
    let services = services();
    let mut case = bup_declared(&services);
    let blockers = |case: &ConnectionCase| case.open_blockers(&services.catalogues, date(TODAY));
    assert_eq!(blockers(&case), vec![Blocker::StaffNotListed]);
    run(&mut case, &services, provider(), list(1, "198504212385"));
    run(&mut case, &services, provider(), list(2, "199003142388"));
    run(
        &mut case,
        &services,
        provider(),
        sign(1, "198504212385", CommitmentKind::ResponsibilityCommitment),
    );
    assert_eq!(
        blockers(&case),
        vec![
            missing(subject(1), CommitmentKind::ConfidentialityReminder),
            missing(subject(2), CommitmentKind::ResponsibilityCommitment),
            missing(subject(2), CommitmentKind::ConfidentialityReminder),
        ]
    );
    let refused = case
        .decide(
            by(
                officer(),
                CaseCommand::GoLive(GoLive { reason: long("go") }),
            ),
            &services,
        )
        .unwrap_err();
    assert!(matches!(refused, CaseError::GoLiveBlocked { unmet } if unmet.len() == 3));
    for (n, pnr) in [(1, "198504212385"), (2, "199003142388")] {
        for kind in CommitmentKind::ALL {
            if !(n == 1 && kind == CommitmentKind::ResponsibilityCommitment) {
                run(&mut case, &services, provider(), sign(n, pnr, kind));
            }
        }
    }
    assert_eq!(blockers(&case), vec![]);
    run(
        &mut case,
        &services,
        officer(),
        CaseCommand::GoLive(GoLive { reason: long("go") }),
    );
    assert_eq!(case.phase(), Phase::Live);
    // Listing the same user twice is refused.
    assert_eq!(
        case.decide(by(provider(), list(1, "198504212385")), &services)
            .unwrap_err(),
        CaseError::StaffMemberAlreadyListed
    );
}

#[test]
fn a_new_hire_after_go_live_is_flagged_until_the_commitments_are_signed() {
    // Dalarna BUP §16: "i samband med nyetablering och vid nyanställning".
    let services = services();
    let mut case = bup_declared(&services);
    run(&mut case, &services, provider(), list(1, "198504212385"));
    for kind in CommitmentKind::ALL {
        run(
            &mut case,
            &services,
            provider(),
            sign(1, "198504212385", kind),
        );
    }
    run(
        &mut case,
        &services,
        officer(),
        CaseCommand::GoLive(GoLive { reason: long("go") }),
    );
    let flags = |case: &ConnectionCase| case.flags(&services.catalogues, date(TODAY));
    assert_eq!(flags(&case), vec![]);
    run(&mut case, &services, provider(), list(2, "199003142388"));
    assert_eq!(
        flags(&case),
        vec![
            Flag::StaffCommitmentMissing {
                subject: subject(2),
                commitment: CommitmentKind::ResponsibilityCommitment
            },
            Flag::StaffCommitmentMissing {
                subject: subject(2),
                commitment: CommitmentKind::ConfidentialityReminder
            },
        ]
    );
    for kind in CommitmentKind::ALL {
        run(
            &mut case,
            &services,
            provider(),
            sign(2, "199003142388", kind),
        );
    }
    assert_eq!(flags(&case), vec![]);
}

#[test]
fn where_the_programme_names_no_staff_commitments_they_are_recorded_but_gate_nothing() {
    // The test Hälsoval programme, like Jämtland's document, names none.
    let services = services();
    let history = History::new().contracted().then(
        provider(),
        sign(1, "198504212385", CommitmentKind::ResponsibilityCommitment),
    );
    let case = history.case();
    assert!(
        !case
            .open_blockers(&services.catalogues, date(TODAY))
            .iter()
            .any(|b| matches!(
                b,
                Blocker::StaffNotListed | Blocker::StaffCommitmentMissing { .. }
            ))
    );
    assert!(matches!(
        case.decide(by(provider(), list(2, "199003142388")), &services),
        Err(CaseError::StepNotInProcess { .. })
    ));
}

#[test]
fn an_approximate_lead_time_not_met_is_flagged_until_go_live() {
    // Dalarna BUP §1.1: "Riktmärke ... ca 3 månader": a benchmark, flagged, never refused.
    let services = services();
    let mut case = ConnectionCase::default();
    let mut app = application();
    app.programme = ProgrammeId::parse("test-bup").unwrap();
    app.service_packages.clear();
    app.listed_patients = None;
    app.requested_go_live = date("2025-04-01");
    run(
        &mut case,
        &services,
        provider(),
        CaseCommand::SubmitApplication(app),
    );
    assert_eq!(
        case.flags(&services.catalogues, date(TODAY)),
        vec![Flag::LeadTimeNotMet {
            kind: LeadTimeKind::Approximate,
            months: 3,
            earliest: date("2025-06-03"),
            requested: date("2025-04-01"),
        }]
    );
}

#[test]
fn a_contract_recorded_before_processes_were_pinned_follows_its_catalogue_versions_process() {
    let services = services();
    let mut events = History::new().contracted().events;
    let pinned = case_from(&events);
    for event in &mut events {
        if let domain::case::CaseChange::ContractSigned(e) = &mut event.change {
            assert!(e.process.is_some(), "new contracts pin the process");
            e.process = None;
        }
    }
    let old = case_from(&events);
    let today = date(TODAY);
    assert_eq!(
        old.process(&services.catalogues, today)
            .map(domain::process::ProcessDefinition::reference),
        pinned
            .process(&services.catalogues, today)
            .map(domain::process::ProcessDefinition::reference)
    );
    assert_eq!(
        old.open_blockers(&services.catalogues, today),
        pinned.open_blockers(&services.catalogues, today)
    );
    assert!(!old.open_blockers(&services.catalogues, today).is_empty());
}
