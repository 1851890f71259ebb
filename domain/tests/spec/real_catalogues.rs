//! Every programme of the real catalogues can be taken from application to go-live, with
//! exactly the agreements and answers its catalogue demands.

use std::collections::BTreeSet;
use std::sync::Arc;

use domain::case::{
    AcceptSelfDeclaration, Application, ApproveApplication, ApproveFinalVerification, CaseCommand,
    CaseError, CaseServices, CompleteTraining, ConnectionCase, GoLive, Phase,
    ScheduleFinalVerification, SignAgreement, SignContract, SignFinalContract,
    SubmitSelfDeclaration,
};
use domain::catalogue::{CatalogueRegistry, PriceUnit};
use domain::{FixedClock, Role};

use crate::fixtures::*;

const DAY: &str = "2025-06-02";

fn step(case: &mut ConnectionCase, services: &CaseServices, actor: domain::Actor, c: CaseCommand) {
    let name = c.name();
    let event = case
        .decide(by(actor, c), services)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    cqrs_es::Aggregate::apply(case, event);
}

#[test]
fn every_real_programme_can_go_live_with_what_its_catalogue_demands() {
    let registry = Arc::new(CatalogueRegistry::load_embedded().unwrap());
    let services = CaseServices::new(Arc::new(FixedClock::at(instant(DAY))), registry.clone());
    let programmes: Vec<_> = registry.programmes().cloned().collect();
    assert_eq!(programmes.len(), 5);
    for programme in programmes {
        let catalogue = registry.in_force(&programme, date(DAY)).unwrap();
        let region = catalogue.region.clone();
        let who = |role: Role| {
            let mut a = actor(role);
            a.region = region.clone();
            a
        };
        let mut case = ConnectionCase::default();
        let mut app: Application = application();
        app.programme = programme.clone();
        app.service_packages = catalogue
            .service_packages
            .iter()
            .filter(|p| p.mandatory)
            .map(|p| p.id.clone())
            .collect();
        app.contacts = catalogue
            .application
            .required_contacts
            .iter()
            .zip(1..)
            .map(|(role, n)| contact(*role, n))
            .collect();
        app.optional_services = BTreeSet::new();
        app.listed_patients = catalogue
            .prices
            .iter()
            .any(|p| p.unit == PriceUnit::PerListedPatientPerYear)
            .then_some(5000);
        app.requested_go_live = date("2025-12-01");
        step(
            &mut case,
            &services,
            who(Role::Provider),
            CaseCommand::SubmitApplication(app),
        );
        step(
            &mut case,
            &services,
            who(Role::Officer),
            CaseCommand::ApproveApplication(ApproveApplication { reason: long("ok") }),
        );
        step(
            &mut case,
            &services,
            who(Role::Officer),
            CaseCommand::SignContract(SignContract {
                signed_on: date(DAY),
                document: None,
            }),
        );
        let required: Vec<_> = catalogue
            .required_agreements()
            .map(|r| r.id.clone())
            .collect();
        let refused = case
            .decide(
                by(
                    who(Role::Officer),
                    CaseCommand::GoLive(GoLive { reason: long("x") }),
                ),
                &services,
            )
            .unwrap_err();
        let CaseError::GoLiveBlocked { unmet } = refused else {
            panic!("{programme}: expected the gate");
        };
        assert_eq!(
            unmet
                .iter()
                .filter(|b| b.code() == "agreement_not_signed")
                .count(),
            required.len(),
            "{programme}"
        );
        for agreement in required {
            step(
                &mut case,
                &services,
                who(Role::Officer),
                CaseCommand::SignAgreement(SignAgreement {
                    agreement,
                    signed_on: date(DAY),
                    counterparty: text("Region"),
                    document: None,
                }),
            );
        }
        let answers = catalogue
            .requirements
            .iter()
            .map(|r| complies(&r.id))
            .collect();
        step(
            &mut case,
            &services,
            who(Role::Provider),
            CaseCommand::SubmitSelfDeclaration(SubmitSelfDeclaration { answers }),
        );
        for command in [
            CaseCommand::AcceptSelfDeclaration(AcceptSelfDeclaration { reason: long("ok") }),
            CaseCommand::CompleteTraining(CompleteTraining {
                completed_on: date(DAY),
                description: long("Introductory training."),
            }),
            CaseCommand::ScheduleFinalVerification(ScheduleFinalVerification {
                scheduled_for: date(DAY),
            }),
            CaseCommand::ApproveFinalVerification(ApproveFinalVerification { reason: long("ok") }),
            CaseCommand::SignFinalContract(SignFinalContract {
                signed_on: date(DAY),
                document: None,
            }),
            CaseCommand::GoLive(GoLive { reason: long("ok") }),
        ] {
            step(&mut case, &services, who(Role::Officer), command);
        }
        assert_eq!(case.phase(), Phase::Live, "{programme}");
    }
}
