//! Application, approval and contract: who may apply, what an application must hold, the
//! lead-time rule, and the catalogue version a case is held to.

use std::collections::BTreeSet;

use domain::Role;
use domain::case::{
    ApplicationProblem, ApproveApplication, CaseChange, CaseCommand, CaseError, DateProblem, Flag,
    LeadTimeCheck, Phase, RejectApplication, SignContract,
};
use domain::catalogue::LeadTimeKind;
use domain::contact::ContactRole;
use domain::ids::{ProgrammeId, ServicePackageId};

use crate::fixtures::*;

fn submitted(events: &[domain::case::CaseEvent]) -> &domain::case::ApplicationSubmitted {
    match &events[0].change {
        CaseChange::ApplicationSubmitted(e) => e,
        other => panic!("expected ApplicationSubmitted, got {other:?}"),
    }
}

#[test]
fn a_provider_applies_for_its_own_unit_and_the_case_opens() {
    let events = spec()
        .given_no_previous_events()
        .when(by(
            provider(),
            CaseCommand::SubmitApplication(application()),
        ))
        .inspect_result()
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, provider());
    assert_eq!(events[0].at, instant(TODAY));
    let e = submitted(&events);
    assert_eq!(e.case_id, case_id());
    assert_eq!(e.region, region());
    assert_eq!(e.applied_on, date(TODAY));
    assert_eq!(e.catalogue_in_force.version, 1);
    assert_eq!(e.catalogue_in_force.digest.len(), 64);
    assert_eq!(e.contacts.len(), 2);
    assert_eq!(
        e.lead_time,
        Some(LeadTimeCheck {
            months: 3,
            kind: LeadTimeKind::Minimum,
            earliest: date("2025-06-03"),
            requested: date("2025-07-15"),
            met: true,
        })
    );
}

#[test]
fn workstations_are_counted_in_groups_of_ten() {
    for (workstations, groups) in [(1, 1), (10, 1), (11, 2), (12, 2), (40, 4), (41, 5)] {
        let mut app = application();
        app.workstations = workstations;
        let events = spec()
            .given_no_previous_events()
            .when(by(provider(), CaseCommand::SubmitApplication(app)))
            .inspect_result()
            .unwrap();
        assert_eq!(
            submitted(&events).workstation_groups,
            Some(groups),
            "{workstations}"
        );
    }
}

#[test]
fn an_officer_may_register_an_application_on_the_providers_behalf() {
    let events = spec()
        .given_no_previous_events()
        .when(by(officer(), CaseCommand::SubmitApplication(application())))
        .inspect_result()
        .unwrap();
    assert_eq!(events[0].actor.role, Role::Officer);
}

#[test]
fn a_provider_cannot_apply_for_another_organisation() {
    let mut app = application();
    app.org_number = other_org();
    spec()
        .given_no_previous_events()
        .when(by(provider(), CaseCommand::SubmitApplication(app)))
        .then_expect_error(CaseError::OrganisationMismatch);
}

#[test]
fn roles_that_only_read_can_send_no_command() {
    for role in [Role::Auditor, Role::Dashboard] {
        spec()
            .given_no_previous_events()
            .when(by(
                actor(role),
                CaseCommand::SubmitApplication(application()),
            ))
            .then_expect_error(CaseError::NotPermitted {
                command: "submit-application",
                role,
            });
    }
}

#[test]
fn an_application_to_an_unknown_programme_is_refused() {
    let mut app = application();
    app.programme = ProgrammeId::parse("no-such-programme").unwrap();
    spec()
        .given_no_previous_events()
        .when(by(provider(), CaseCommand::SubmitApplication(app)))
        .then_expect_error(CaseError::UnknownProgramme {
            programme: ProgrammeId::parse("no-such-programme").unwrap(),
        });
}

#[test]
fn an_application_to_another_regions_programme_is_refused() {
    let mut app = application();
    app.programme = ProgrammeId::parse("other-programme").unwrap();
    let err = spec()
        .given_no_previous_events()
        .when(by(provider(), CaseCommand::SubmitApplication(app)))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.code(), "programme_of_other_region");
}

#[test]
fn an_application_to_a_programme_whose_catalogue_is_not_yet_in_force_is_refused() {
    let mut app = application();
    app.programme = ProgrammeId::parse("future-programme").unwrap();
    spec()
        .given_no_previous_events()
        .when(by(provider(), CaseCommand::SubmitApplication(app)))
        .then_expect_error(CaseError::NoCatalogueInForce {
            programme: ProgrammeId::parse("future-programme").unwrap(),
            on: date(TODAY),
        });
}

#[test]
fn an_incomplete_application_lists_every_problem_at_once() {
    let mut app = application();
    app.contacts.retain(|c| c.role == ContactRole::ItContact);
    app.service_packages = BTreeSet::from([ServicePackageId::parse("sms").unwrap()]);
    app.optional_services = BTreeSet::from(["helpdesk".to_owned()]);
    app.workstations = 0;
    app.call_measurement_system = None;
    app.listed_patients = None;
    app.requested_go_live = date(TODAY);
    spec()
        .given_no_previous_events()
        .when(by(provider(), CaseCommand::SubmitApplication(app)))
        .then_expect_error(CaseError::InvalidApplication {
            problems: vec![
                ApplicationProblem::MissingContact {
                    role: ContactRole::HeadOfUnit,
                },
                ApplicationProblem::UnknownServicePackage {
                    package: "sms".into(),
                },
                ApplicationProblem::MandatoryPackageMissing {
                    package: "bas".into(),
                },
                ApplicationProblem::UnknownOptionalService {
                    service: "helpdesk".into(),
                },
                ApplicationProblem::NoWorkstations,
                ApplicationProblem::CallMeasurementSystemMissing,
                ApplicationProblem::ListedPatientsMissing,
                ApplicationProblem::RequestedGoLiveNotInFuture,
            ],
        });
}

#[test]
fn an_optional_priced_service_the_programme_offers_is_accepted() {
    let mut app = application();
    app.optional_services = BTreeSet::from(["journal".to_owned()]);
    let events = spec()
        .given_no_previous_events()
        .when(by(provider(), CaseCommand::SubmitApplication(app)))
        .inspect_result()
        .unwrap();
    assert!(submitted(&events).optional_services.contains("journal"));
}

#[test]
fn a_minimum_lead_time_flags_an_earlier_requested_start_without_refusing_the_application() {
    // Dalarna Hälsoval §2.1: "kräver en tidsperiod av minst 3 månader från att beställning
    // inkommit": a duration the work takes, not a condition of the order. The application is
    // recorded; the case carries a flag with the earliest start the minimum allows.
    let mut app = application();
    app.requested_go_live = date("2025-06-02");
    let events = spec()
        .given_no_previous_events()
        .when(by(provider(), CaseCommand::SubmitApplication(app)))
        .inspect_result()
        .unwrap();
    let check = submitted(&events).lead_time.clone().unwrap();
    assert_eq!(check.kind, LeadTimeKind::Minimum);
    assert!(!check.met);
    let case = case_from(&events);
    assert_eq!(
        case.flags(&registry(), date(TODAY)),
        vec![Flag::LeadTimeNotMet {
            kind: LeadTimeKind::Minimum,
            months: 3,
            earliest: date("2025-06-03"),
            requested: date("2025-06-02"),
        }]
    );
}

#[test]
fn a_minimum_lead_time_is_met_on_the_day_it_ends() {
    let mut app = application();
    app.requested_go_live = date("2025-06-03");
    let events = spec()
        .given_no_previous_events()
        .when(by(provider(), CaseCommand::SubmitApplication(app)))
        .inspect_result()
        .unwrap();
    assert!(submitted(&events).lead_time.as_ref().unwrap().met);
}

#[test]
fn an_approximate_lead_time_only_warns() {
    // Dalarna BUP: about 3 months; an earlier date is recorded with the warning.
    let mut app = application();
    app.programme = ProgrammeId::parse("test-bup").unwrap();
    app.service_packages.clear();
    app.listed_patients = None;
    app.requested_go_live = date("2025-04-01");
    let events = spec()
        .given_no_previous_events()
        .when(by(provider(), CaseCommand::SubmitApplication(app)))
        .inspect_result()
        .unwrap();
    let check = submitted(&events).lead_time.clone().unwrap();
    assert_eq!(check.kind, LeadTimeKind::Approximate);
    assert!(!check.met);
    assert_eq!(check.earliest, date("2025-06-03"));
    assert_eq!(submitted(&events).workstation_groups, None);
}

#[test]
fn a_case_is_applied_for_only_once() {
    spec()
        .given(History::new().applied().events)
        .when(by(
            provider(),
            CaseCommand::SubmitApplication(application()),
        ))
        .then_expect_error(CaseError::WrongPhase {
            command: "submit-application",
            phase: Phase::Application,
        });
}

#[test]
fn the_region_approves_an_application_with_its_reason() {
    spec()
        .given(History::new().applied().events)
        .when(by(
            officer(),
            CaseCommand::ApproveApplication(ApproveApplication {
                reason: long("Meets the criteria."),
            }),
        ))
        .then_expect_events(vec![domain::case::CaseEvent {
            actor: officer(),
            at: instant(TODAY),
            change: CaseChange::ApplicationApproved(domain::case::Decision {
                reason: long("Meets the criteria."),
            }),
        }]);
}

#[test]
fn the_region_rejects_an_application_with_its_reason() {
    let history = History::new().applied().then(
        officer(),
        CaseCommand::RejectApplication(RejectApplication {
            reason: long("The unit is outside the county."),
        }),
    );
    assert_eq!(history.case().phase(), Phase::Rejected);
    assert_eq!(
        history.events[1]
            .change
            .reason()
            .map(domain::text::LongText::as_str),
        Some("The unit is outside the county.")
    );
}

#[test]
fn a_provider_cannot_decide_on_its_own_application() {
    spec()
        .given(History::new().applied().events)
        .when(by(
            provider(),
            CaseCommand::ApproveApplication(ApproveApplication {
                reason: long("We approve ourselves."),
            }),
        ))
        .then_expect_error(CaseError::NotPermitted {
            command: "approve-application",
            role: Role::Provider,
        });
}

#[test]
fn region_it_cannot_take_the_officers_decisions() {
    spec()
        .given(History::new().applied().events)
        .when(by(
            region_it(),
            CaseCommand::ApproveApplication(ApproveApplication {
                reason: long("Looks fine."),
            }),
        ))
        .then_expect_error(CaseError::NotPermitted {
            command: "approve-application",
            role: Role::RegionIt,
        });
}

#[test]
fn a_rejected_case_accepts_no_further_command() {
    let rejected = History::new()
        .applied()
        .then(
            officer(),
            CaseCommand::RejectApplication(RejectApplication {
                reason: long("No."),
            }),
        )
        .events;
    spec()
        .given(rejected)
        .when(by(
            officer(),
            CaseCommand::ApproveApplication(ApproveApplication {
                reason: long("Changed our mind."),
            }),
        ))
        .then_expect_error(CaseError::WrongPhase {
            command: "approve-application",
            phase: Phase::Rejected,
        });
}

fn sign_contract(on: &str) -> CaseCommand {
    CaseCommand::SignContract(SignContract {
        signed_on: date(on),
        document: Some(text("RS 2025/1")),
    })
}

#[test]
fn the_contract_is_not_signed_before_the_application_is_approved() {
    spec()
        .given(History::new().applied().events)
        .when(by(officer(), sign_contract(TODAY)))
        .then_expect_error(CaseError::WrongPhase {
            command: "sign-contract",
            phase: Phase::Application,
        });
}

#[test]
fn signing_the_contract_holds_the_case_to_the_catalogue_in_force_that_day() {
    let events = spec_on("2025-07-01")
        .given(History::on("2025-03-03").approved().events)
        .when(by(officer(), sign_contract("2025-05-31")))
        .inspect_result()
        .unwrap();
    let CaseChange::ContractSigned(signed) = &events[0].change else {
        panic!("expected ContractSigned");
    };
    assert_eq!(
        signed.catalogue.version, 1,
        "version 2 takes effect 2025-06-01"
    );

    let events = spec_on("2025-07-01")
        .given(History::on("2025-03-03").approved().events)
        .when(by(officer(), sign_contract("2025-06-01")))
        .inspect_result()
        .unwrap();
    let CaseChange::ContractSigned(signed) = &events[0].change else {
        panic!("expected ContractSigned");
    };
    assert_eq!(signed.catalogue.version, 2);
}

#[test]
fn a_contract_cannot_be_signed_in_the_future() {
    spec()
        .given(History::new().approved().events)
        .when(by(officer(), sign_contract("2025-03-04")))
        .then_expect_error(CaseError::InvalidDate {
            field: "signed_on",
            date: date("2025-03-04"),
            problem: DateProblem::InFuture,
        });
}

#[test]
fn a_contract_cannot_be_signed_before_the_application() {
    spec()
        .given(History::new().approved().events)
        .when(by(officer(), sign_contract("2025-03-02")))
        .then_expect_error(CaseError::InvalidDate {
            field: "signed_on",
            date: date("2025-03-02"),
            problem: DateProblem::BeforePreviousStep,
        });
}

#[test]
fn signing_the_contract_starts_the_establishment_phase() {
    let history = History::new().contracted();
    assert_eq!(history.case().phase(), Phase::Establishment);
    assert_eq!(history.case().held_to().unwrap().version, 1);
}
