//! Every programme of the five documents goes from application to go-live with exactly the
//! steps its own process (`domain/processes/`) gates go-live with, and no others: the test
//! asks the go-live gate what blocks, does that step, and asks again, until go-live succeeds;
//! the steps it had to take are compared with what each document names (the table in
//! `docs/processes.md`). The commands for steps a document does not name are refused.

use std::collections::BTreeSet;
use std::sync::Arc;

use domain::case::{
    AcceptSelfDeclaration, Application, ApproveApplication, ApproveFinalVerification, Blocker,
    CaseCommand, CaseError, CaseServices, CompleteTraining, ConnectionCase, GoLive,
    ListStaffMember, Phase, RecordPlan, RecordStaffCommitment, RecordStepApplicability,
    RecordTechnicalCheck, ScheduleFinalVerification, SignAgreement, SignContract,
    SignFinalContract, StaffMember, SubmitSelfDeclaration,
};
use domain::catalogue::{CatalogueRegistry, PriceUnit};
use domain::identity::{HsaId, Personnummer};
use domain::ids::ProgrammeId;
use domain::process::StepKind;
use domain::{Actor, FixedClock, Personal, Role};

use crate::fixtures::*;

const DAY: &str = "2025-06-02";

fn real() -> (Arc<CatalogueRegistry>, CaseServices) {
    let registry = Arc::new(CatalogueRegistry::load_embedded().unwrap());
    let services = CaseServices::new(Arc::new(FixedClock::at(instant(DAY))), registry.clone());
    (registry, services)
}

fn run(case: &mut ConnectionCase, services: &CaseServices, actor: Actor, c: CaseCommand) {
    let name = c.name();
    let event = case
        .decide(by(actor, c), services)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    cqrs_es::Aggregate::apply(case, event);
}

fn staff_member() -> Personal<StaffMember> {
    Personal::new(
        subject(31),
        StaffMember {
            name: text("Eva Lund"),
            personnummer: Personnummer::parse_canonical("198504212385").unwrap(),
            hsa_id: HsaId::parse("SE2321000180-EVA1").unwrap(),
        },
    )
}

/// A programme's case with its contract signed: establishment has begun.
fn contracted(programme: &str) -> (ConnectionCase, CaseServices, impl Fn(Role) -> Actor) {
    let (registry, services) = real();
    let programme = ProgrammeId::parse(programme).unwrap();
    let catalogue = registry.in_force(&programme, date(DAY)).unwrap();
    let region = catalogue.region.clone();
    let who = move |role: Role| {
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
    run(
        &mut case,
        &services,
        who(Role::Provider),
        CaseCommand::SubmitApplication(app),
    );
    run(
        &mut case,
        &services,
        who(Role::Officer),
        CaseCommand::ApproveApplication(ApproveApplication { reason: long("ok") }),
    );
    run(
        &mut case,
        &services,
        who(Role::Officer),
        CaseCommand::SignContract(SignContract {
            signed_on: date(DAY),
            document: None,
        }),
    );
    (case, services, who)
}

/// Takes a contracted case to go-live by doing, each time, what the gate says blocks it
/// first; answers the steps it took, by the name each has in `docs/processes.md`.
fn walk_to_go_live(programme: &str) -> Vec<String> {
    let (mut case, services, who) = contracted(programme);
    let registry = services.catalogues.clone();
    let catalogue = case.catalogue(&registry, date(DAY)).unwrap().clone();
    let mut taken = Vec::new();
    for _ in 0..40 {
        let refused = case.decide(
            by(
                who(Role::Officer),
                CaseCommand::GoLive(GoLive { reason: long("go") }),
            ),
            &services,
        );
        let unmet = match refused {
            Ok(event) => {
                cqrs_es::Aggregate::apply(&mut case, event);
                assert_eq!(case.phase(), Phase::Live, "{programme}");
                return taken;
            }
            Err(CaseError::GoLiveBlocked { unmet }) => unmet,
            Err(other) => panic!("{programme}: go-live refused with {other}"),
        };
        let (step, actor, command) = match unmet.first().unwrap().clone() {
            Blocker::SelfDeclarationNotAccepted => {
                let answers = catalogue
                    .requirements
                    .iter()
                    .map(|r| complies(&r.id))
                    .collect();
                run(
                    &mut case,
                    &services,
                    who(Role::Provider),
                    CaseCommand::SubmitSelfDeclaration(SubmitSelfDeclaration { answers }),
                );
                (
                    "self-declaration".to_owned(),
                    Role::Officer,
                    CaseCommand::AcceptSelfDeclaration(AcceptSelfDeclaration {
                        reason: long("ok"),
                    }),
                )
            }
            Blocker::AgreementNotSigned { agreement } => (
                format!("agreement {agreement}"),
                Role::Officer,
                CaseCommand::SignAgreement(SignAgreement {
                    agreement,
                    signed_on: date(DAY),
                    counterparty: text("Region"),
                    document: None,
                }),
            ),
            Blocker::PlanNotRecorded { step } => (
                format!("plan {step}"),
                Role::RegionIt,
                CaseCommand::RecordPlan(RecordPlan {
                    step,
                    recorded_on: date(DAY),
                    document: text("Plan"),
                }),
            ),
            Blocker::TrainingNotCompleted => (
                "training".to_owned(),
                Role::RegionIt,
                CaseCommand::CompleteTraining(CompleteTraining {
                    completed_on: date(DAY),
                    description: long("Introductory training."),
                }),
            ),
            Blocker::StaffNotListed => (
                "user listed".to_owned(),
                Role::Provider,
                CaseCommand::ListStaffMember(ListStaffMember {
                    person: staff_member(),
                    access_from: date(DAY),
                }),
            ),
            Blocker::StaffCommitmentMissing { commitment, .. } => (
                format!("commitment {}", commitment.as_str()),
                Role::Provider,
                CaseCommand::RecordStaffCommitment(RecordStaffCommitment {
                    person: staff_member(),
                    kind: commitment,
                    signed_on: date(DAY),
                }),
            ),
            Blocker::TechnicalCheckNotApproved => (
                "computer checked".to_owned(),
                Role::RegionIt,
                CaseCommand::RecordTechnicalCheck(RecordTechnicalCheck {
                    computer: text("KLT-01"),
                    checked_on: date(DAY),
                    approved: true,
                    remark: None,
                }),
            ),
            Blocker::FinalVerificationNotApproved => {
                run(
                    &mut case,
                    &services,
                    who(Role::RegionIt),
                    CaseCommand::ScheduleFinalVerification(ScheduleFinalVerification {
                        scheduled_for: date(DAY),
                    }),
                );
                (
                    "final verification".to_owned(),
                    Role::RegionIt,
                    CaseCommand::ApproveFinalVerification(ApproveFinalVerification {
                        reason: long("ok"),
                    }),
                )
            }
            Blocker::FinalContractNotSigned => (
                "final contract".to_owned(),
                Role::Officer,
                CaseCommand::SignFinalContract(SignFinalContract {
                    signed_on: date(DAY),
                    document: None,
                }),
            ),
            other => panic!("{programme}: unexpected blocker {other:?}"),
        };
        run(&mut case, &services, who(actor), command);
        taken.push(step);
    }
    panic!("{programme}: go-live not reached: {taken:?}");
}

#[test]
fn every_programme_goes_live_with_exactly_the_steps_its_document_names() {
    let expected: [(&str, &[&str]); 5] = [
        // Dalarna BUP: §17 personuppgiftsbiträdesavtal; §1 the demands as conditions; §16
        // every user signs the Sekretesserinran och IT-ansvarsförbindelse. No training, no
        // final verification, no final contract.
        (
            "dalarna-bup",
            &[
                "self-declaration",
                "agreement DBUP-065",
                "user listed",
                "commitment responsibility_commitment",
                "commitment confidentiality_reminder",
            ],
        ),
        // Dalarna Hälsoval: §2 the demands; §12 the Ansvarsförbindelse för IT-användande.
        // The training of §2.1 gates nothing; the agreements of §5.3 only where needed.
        (
            "dalarna-halsoval",
            &[
                "self-declaration",
                "user listed",
                "commitment responsibility_commitment",
            ],
        ),
        // Jämtland Hälsoval: §2.5 IT-anslutningsavtal, §2.4 Sjunet, §3.9 the joint IT plan,
        // §3.8 the self-declaration, §3.7 training, §3.10 final verification and final
        // contract. The special agreements of §3.1, §3.2 and §2.7 only where they apply.
        (
            "jamtland-halsoval",
            &[
                "self-declaration",
                "agreement JHV-008",
                "agreement JHV-014",
                "plan gemensam-it-plan",
                "training",
                "final verification",
                "final contract",
            ],
        ),
        // Värmland Vårdcentral: the three agreements of §3 and the demands.
        (
            "varmland-vardcentral",
            &[
                "self-declaration",
                "agreement VRM-067",
                "agreement VRM-068",
                "agreement VRM-069",
            ],
        ),
        // Värmland Fysioterapi: as Vårdcentral, plus §1.2's activity plan and §3's check of
        // each connecting computer.
        (
            "varmland-fysioterapi",
            &[
                "self-declaration",
                "agreement VRM-067",
                "agreement VRM-068",
                "agreement VRM-069",
                "plan aktivitetsplan",
                "computer checked",
            ],
        ),
    ];
    let (registry, _) = real();
    let programmes: BTreeSet<String> = registry.programmes().map(ToString::to_string).collect();
    assert_eq!(
        programmes,
        expected.iter().map(|(p, _)| (*p).to_owned()).collect(),
        "every programme is in the table"
    );
    for (programme, steps) in expected {
        assert_eq!(walk_to_go_live(programme), steps, "{programme}");
    }
}

#[test]
fn a_step_the_document_does_not_name_cannot_be_recorded() {
    use StepKind::{FinalVerification, StaffCommitments, TechnicalCheck, Training};
    let attempts = |programme: &str| -> Vec<(StepKind, bool)> {
        let (case, services, who) = contracted(programme);
        let refused = |role: Role, command: CaseCommand| match case
            .decide(by(who(role), command), &services)
        {
            Err(CaseError::StepNotInProcess { .. }) => true,
            Ok(_) => false,
            Err(other) => panic!("{programme}: {other}"),
        };
        vec![
            (
                StepKind::Training,
                refused(
                    Role::RegionIt,
                    CaseCommand::CompleteTraining(CompleteTraining {
                        completed_on: date(DAY),
                        description: long("t"),
                    }),
                ),
            ),
            (
                StepKind::FinalVerification,
                refused(
                    Role::RegionIt,
                    CaseCommand::ScheduleFinalVerification(ScheduleFinalVerification {
                        scheduled_for: date(DAY),
                    }),
                ),
            ),
            (
                StepKind::TechnicalCheck,
                refused(
                    Role::RegionIt,
                    CaseCommand::RecordTechnicalCheck(RecordTechnicalCheck {
                        computer: text("KLT-01"),
                        checked_on: date(DAY),
                        approved: true,
                        remark: None,
                    }),
                ),
            ),
            (
                StepKind::StaffCommitments,
                refused(
                    Role::Provider,
                    CaseCommand::ListStaffMember(ListStaffMember {
                        person: staff_member(),
                        access_from: date(DAY),
                    }),
                ),
            ),
        ]
    };
    // (kind, refused)
    assert_eq!(
        attempts("dalarna-bup"),
        [
            (Training, true),
            (FinalVerification, true),
            (TechnicalCheck, true),
            (StaffCommitments, false)
        ]
    );
    assert_eq!(
        attempts("jamtland-halsoval"),
        [
            (Training, false),
            (FinalVerification, false),
            (TechnicalCheck, true),
            (StaffCommitments, true)
        ]
    );
    assert_eq!(
        attempts("varmland-vardcentral"),
        [
            (Training, false),
            (FinalVerification, true),
            (TechnicalCheck, true),
            (StaffCommitments, true)
        ]
    );
    assert_eq!(
        attempts("varmland-fysioterapi"),
        [
            (Training, false),
            (FinalVerification, true),
            (TechnicalCheck, false),
            (StaffCommitments, true)
        ]
    );
}

#[test]
fn a_conditional_agreement_blocks_only_once_the_region_says_it_applies() {
    // Jämtland §3.2: "utom Hjälpmedelssystem där anslutning ska ske enligt särskilt avtal
    // med regionen": only a unit that connects Hjälpmedelssystem needs the agreement.
    let (mut case, services, who) = contracted("jamtland-halsoval");
    let registry = services.catalogues.clone();
    let blocks_jhv_026 = |case: &ConnectionCase| {
        case.open_blockers(&registry, date(DAY))
            .contains(&Blocker::AgreementNotSigned {
                agreement: req("JHV-026"),
            })
    };
    assert!(!blocks_jhv_026(&case));
    run(
        &mut case,
        &services,
        who(Role::Officer),
        CaseCommand::RecordStepApplicability(RecordStepApplicability {
            step: step("avtal-hjalpmedelssystem"),
            applies: true,
            reason: long("The unit prescribes aids."),
        }),
    );
    assert!(blocks_jhv_026(&case));
    // The step of an unconditional agreement is not the region's to switch off.
    let refused = case
        .decide(
            by(
                who(Role::Officer),
                CaseCommand::RecordStepApplicability(RecordStepApplicability {
                    step: step("it-anslutningsavtal"),
                    applies: false,
                    reason: long("no"),
                }),
            ),
            &services,
        )
        .unwrap_err();
    assert_eq!(
        refused,
        CaseError::StepNotConditional {
            step: step("it-anslutningsavtal")
        }
    );
}

#[test]
fn a_failed_computer_blocks_and_a_plan_is_recorded_once_under_its_own_step() {
    // Värmland Fysioterapi §3: "krävs att anslutande dator godkänns i den kontroll som görs
    // vid anslutning"; §1.2: the activity plan.
    let (mut case, services, who) = contracted("varmland-fysioterapi");
    let registry = services.catalogues.clone();
    let check = |computer: &str, approved: bool| {
        CaseCommand::RecordTechnicalCheck(RecordTechnicalCheck {
            computer: text(computer),
            checked_on: date(DAY),
            approved,
            remark: None,
        })
    };
    run(
        &mut case,
        &services,
        who(Role::RegionIt),
        check("KLT-01", true),
    );
    run(
        &mut case,
        &services,
        who(Role::RegionIt),
        check("KLT-02", false),
    );
    let blockers = case.open_blockers(&registry, date(DAY));
    assert!(
        blockers.contains(&Blocker::ComputerNotApproved {
            computer: text("KLT-02")
        }),
        "{blockers:?}"
    );
    assert!(!blockers.contains(&Blocker::TechnicalCheckNotApproved));
    run(
        &mut case,
        &services,
        who(Role::RegionIt),
        check("KLT-02", true),
    );
    assert!(
        !case
            .open_blockers(&registry, date(DAY))
            .iter()
            .any(|b| matches!(b, Blocker::ComputerNotApproved { .. }))
    );

    let plan = |step: &str| {
        CaseCommand::RecordPlan(RecordPlan {
            step: crate::fixtures::step(step),
            recorded_on: date(DAY),
            document: text("Aktivitetsplan"),
        })
    };
    let refused = case
        .decide(by(who(Role::RegionIt), plan("start")), &services)
        .unwrap_err();
    assert_eq!(
        refused,
        CaseError::UnknownStep {
            step: crate::fixtures::step("start"),
            kind: "plan"
        }
    );
    run(
        &mut case,
        &services,
        who(Role::RegionIt),
        plan("aktivitetsplan"),
    );
    assert_eq!(
        case.decide(by(who(Role::RegionIt), plan("aktivitetsplan")), &services)
            .unwrap_err(),
        CaseError::PlanAlreadyRecorded {
            step: crate::fixtures::step("aktivitetsplan")
        }
    );
}
