//! What each read model shows, given histories the domain itself records.

use std::collections::BTreeSet;

use domain::case::{
    AgreeDeviation, AttestCatalogueVersion, Blocker, CaseCommand, CommitmentKind, Compliance,
    FindingKind, Phase, RecordFinding, RecordStaffCommitment, ResolveFinding, StaffMember,
};
use domain::catalogue::CatalogueDiff;
use domain::identity::{HsaId, Personnummer};
use domain::ids::{FindingNo, IncidentId, ProgrammeId, RegionId};
use domain::incident::Severity;
use domain::money::Ore;
use domain::{Personal, Role};
use projections::read_models::case_overview::CaseFilter;
use projections::read_models::compliance::ComplianceFilter;
use projections::read_models::costs::CostFilter;
use projections::read_models::findings::FindingFilter;
use projections::read_models::incidents::IncidentFilter;
use projections::read_models::staff::StaffFilter;
use projections::testing::{
    CaseFixture, IncidentFixture, complies, date, instant, long, org, real_registry, registry, req,
    subject, text,
};
use projections::{Cursor, PageRequest, ProjectionError, Tenancy, to_csv};
use store::testing::TestDatabase;
use uuid::Uuid;

use crate::{caught_up, open, options};

fn testregion() -> Tenancy {
    Tenancy::region(RegionId::parse("testregion").unwrap())
}

pub async fn the_case_overview_shows_phases_milestone_dates_and_the_aggregates_blockers(
    db: TestDatabase,
) {
    let (store, projections) = open(&db, options(registry())).await;
    let handle = projections.start();

    let mut establishing = CaseFixture::test(1);
    establishing.applied();
    establishing.on("2025-03-05").approved();
    establishing
        .on("2025-03-10")
        .contracted()
        .agreements_signed()
        .declared();
    establishing.on("2025-03-12").declaration_accepted();
    establishing.append(&store).await;
    let mut live = CaseFixture::test(2);
    live.live();
    live.append(&store).await;
    caught_up(&handle, &store).await;

    let reads = handle.read_models();
    let overview = reads
        .case_overview(&testregion(), establishing.id, date("2025-03-12"))
        .await
        .unwrap()
        .expect("the case is there");
    assert_eq!(overview.phase, Phase::Establishment);
    let history: Vec<_> = overview
        .phase_history
        .iter()
        .map(|e| (e.phase, e.entered_at))
        .collect();
    assert_eq!(
        history,
        vec![
            (Phase::Application, instant("2025-03-03")),
            (Phase::Approved, instant("2025-03-05")),
            (Phase::Establishment, instant("2025-03-10")),
        ]
    );
    let m = &overview.milestones;
    assert_eq!(m.applied_on, Some(date("2025-03-03")));
    assert_eq!(m.approved_at, Some(instant("2025-03-05")));
    assert_eq!(m.contract_signed_on, Some(date("2025-03-10")));
    assert_eq!(
        m.agreements.keys().cloned().collect::<Vec<_>>(),
        vec![req("T-001"), req("T-002")]
    );
    assert_eq!(m.declaration_submitted_at, vec![instant("2025-03-10")]);
    assert_eq!(m.declaration_accepted_at, Some(instant("2025-03-12")));
    assert_eq!(m.training_completed_on, None);

    let expected = establishing
        .case()
        .open_blockers(establishing.registry(), establishing.today());
    assert_eq!(overview.blockers, expected, "the aggregate's own blockers");
    assert_eq!(
        overview.blockers,
        vec![
            Blocker::TrainingNotCompleted,
            Blocker::FinalVerificationNotApproved,
            Blocker::FinalContractNotSigned
        ]
    );
    assert_eq!(overview.catalogue_held.as_ref().map(|c| c.version), Some(1));
    assert!(!overview.attestation_due, "version 2 is not in force yet");
    assert_eq!(overview.lead_time.target_months, Some(3));
    assert_eq!(overview.lead_time.target_days, Some(92));
    assert_eq!(overview.lead_time.days, 9);
    assert!(!overview.lead_time.beyond_target);
    assert_eq!(overview.cost_basis.workstations, 12);

    let later = reads
        .case_overview(&testregion(), establishing.id, date("2025-06-10"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        later.attestation_due,
        "version 2 is in force from 2025-06-01"
    );
    assert_eq!(later.catalogue_in_force, Some(2));
    assert_eq!(later.lead_time.days, 99);
    // The test programme's lead time is a minimum ("minst"): a case cannot run beyond it,
    // only start short of it.
    assert!(!later.lead_time.beyond_target);
    assert!(!later.lead_time.short_of_minimum);

    let went_live = reads
        .case_overview(&testregion(), live.id, date("2025-03-03"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(went_live.phase, Phase::Live);
    assert!(went_live.blockers.is_empty());
    assert_eq!(went_live.milestones.went_live_on, Some(date("2025-03-03")));
    assert_eq!(went_live.milestones.verification_rounds.len(), 1);
    assert_eq!(went_live.lead_time.days, 0);

    let only_live = reads
        .case_overviews(
            &testregion(),
            &CaseFilter {
                phase: Some(Phase::Live),
                ..CaseFilter::default()
            },
            &PageRequest::default(),
            date("2025-03-03"),
        )
        .await
        .unwrap();
    assert_eq!(
        only_live
            .items
            .iter()
            .map(|c| c.case_id)
            .collect::<Vec<_>>(),
        vec![live.id]
    );
    let other_region = Tenancy::region(RegionId::parse("dalarna").unwrap());
    assert!(
        reads
            .case_overview(&other_region, live.id, date("2025-03-03"))
            .await
            .unwrap()
            .is_none(),
        "another region does not see the case"
    );
}

pub async fn the_pipeline_counts_cases_by_phase_and_gives_the_median_of_completed_stays(
    db: TestDatabase,
) {
    let (store, projections) = open(&db, options(registry())).await;
    let handle = projections.start();
    let mut quick = CaseFixture::test(1);
    quick.applied();
    quick.on("2025-03-05").approved();
    quick.on("2025-03-10").contracted();
    quick.append(&store).await;
    let mut slow = CaseFixture::test(2);
    slow.applied();
    slow.on("2025-03-07").approved();
    slow.append(&store).await;
    let mut waiting = CaseFixture::test(3);
    waiting.applied();
    waiting.append(&store).await;
    caught_up(&handle, &store).await;

    let rows = handle
        .read_models()
        .pipeline(&testregion(), None)
        .await
        .unwrap();
    let row = |phase| {
        rows.iter()
            .find(|r| r.phase == phase)
            .unwrap_or_else(|| panic!("a row for {phase}"))
    };
    assert!(rows.iter().all(|r| r.programme.as_str() == "test-halsoval"));
    assert_eq!(
        (
            row(Phase::Application).cases,
            row(Phase::Application).completed_stays
        ),
        (1, 2)
    );
    assert_eq!(row(Phase::Application).median_days, Some(3.0));
    assert_eq!(
        (
            row(Phase::Approved).cases,
            row(Phase::Approved).completed_stays
        ),
        (1, 1)
    );
    assert_eq!(row(Phase::Approved).median_days, Some(5.0));
    assert_eq!(row(Phase::Establishment).cases, 1);
    assert_eq!(row(Phase::Establishment).median_days, None);
    assert_eq!(row(Phase::Live).cases, 0);
    assert!(rows.iter().all(|r| r.phase != Phase::New));
    let other = ProgrammeId::parse("dalarna-bup").unwrap();
    assert!(
        handle
            .read_models()
            .pipeline(&testregion(), Some(&other))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A case in final verification with a demand and a recommendation on 2025-03-03.
fn in_verification_with_findings(n: u128) -> CaseFixture {
    let mut case = CaseFixture::test(n);
    case.applied()
        .approved()
        .contracted()
        .agreements_signed()
        .declared()
        .declaration_accepted()
        .trained()
        .verification_scheduled()
        .then(
            Role::RegionIt,
            CaseCommand::RecordFinding(RecordFinding {
                kind: FindingKind::Demand,
                requirement: Some(req("T-005")),
                description: long("The server room is not locked."),
                due: Some(date("2025-03-10")),
            }),
        )
        .then(
            Role::RegionIt,
            CaseCommand::RecordFinding(RecordFinding {
                kind: FindingKind::Recommendation,
                requirement: None,
                description: long("Label the network sockets."),
                due: Some(date("2025-03-15")),
            }),
        );
    case
}

pub async fn findings_are_listed_by_case_with_their_age_and_whether_they_are_overdue(
    db: TestDatabase,
) {
    let (store, projections) = open(&db, options(registry())).await;
    let handle = projections.start();
    let mut case = in_verification_with_findings(1);
    case.on("2025-03-06").then(
        Role::RegionIt,
        CaseCommand::ResolveFinding(ResolveFinding {
            finding: FindingNo::new(1),
            resolution: long("A lock was fitted."),
        }),
    );
    case.append(&store).await;
    caught_up(&handle, &store).await;
    let reads = handle.read_models();
    let today = date("2025-03-20");

    let open_ones = reads
        .findings(
            &testregion(),
            &FindingFilter {
                open: Some(true),
                ..FindingFilter::default()
            },
            &PageRequest::default(),
            today,
        )
        .await
        .unwrap();
    assert_eq!(open_ones.items.len(), 1);
    let recommendation = &open_ones.items[0];
    assert_eq!(recommendation.finding.number, 2);
    assert_eq!(recommendation.finding.kind, FindingKind::Recommendation);
    assert_eq!(recommendation.age_days, 17);
    assert!(recommendation.overdue);

    let demands = reads
        .findings(
            &testregion(),
            &FindingFilter {
                case_id: Some(case.id),
                kind: Some(FindingKind::Demand),
                open: None,
            },
            &PageRequest::default(),
            today,
        )
        .await
        .unwrap();
    assert_eq!(demands.items.len(), 1);
    let demand = &demands.items[0];
    assert!(!demand.open);
    assert_eq!(demand.age_days, 3, "open from the 3rd to the 6th");
    assert!(!demand.overdue, "resolved before its due date passed");
    assert_eq!(demand.finding.requirement, Some(req("T-005")));
    assert_eq!(demand.finding.resolved_at, Some(instant("2025-03-06")));
}

pub async fn incidents_show_time_from_report_to_assessment_and_counts_by_severity(
    db: TestDatabase,
) {
    let (store, projections) = open(&db, options(registry())).await;
    let handle = projections.start();
    let mut case = CaseFixture::test(1);
    case.live();
    case.append(&store).await;
    let id = |n: u128| IncidentId::from_uuid(Uuid::from_u128(0x77 + n));
    let mut serious = IncidentFixture::report(id(1), &case, "2025-03-04", Severity::High);
    serious
        .at(instant("2025-03-04") + chrono::Duration::hours(6))
        .assessed(Severity::Critical)
        .closed();
    serious.append(&store).await;
    let mut minor = IncidentFixture::report(id(2), &case, "2025-03-05", Severity::Low);
    minor.append(&store).await;
    let mut middling = IncidentFixture::report(id(3), &case, "2025-03-05", Severity::Medium);
    middling
        .at(instant("2025-03-05") + chrono::Duration::hours(2))
        .assessed(Severity::Medium);
    middling.append(&store).await;
    caught_up(&handle, &store).await;
    let reads = handle.read_models();

    let all = reads
        .incidents(
            &testregion(),
            &IncidentFilter::default(),
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(all.items.len(), 3);
    let first = all.items.iter().find(|i| i.incident_id == id(1)).unwrap();
    assert_eq!(first.reported_severity, Severity::High);
    assert_eq!(first.assessed_severity, Some(Severity::Critical));
    assert_eq!(first.seconds_to_assessment, Some(6 * 3600));
    assert!(!first.is_open());
    assert_eq!(
        first.closed_at,
        Some(instant("2025-03-04") + chrono::Duration::hours(6))
    );

    let open_ones = reads
        .incidents(
            &testregion(),
            &IncidentFilter {
                open: Some(true),
                ..IncidentFilter::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        open_ones
            .items
            .iter()
            .map(|i| i.incident_id)
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([id(2), id(3)])
    );
    let critical = reads
        .incidents(
            &testregion(),
            &IncidentFilter {
                severity: Some(Severity::Critical),
                ..IncidentFilter::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(critical.items.len(), 1, "the assessed severity counts");

    let summary = reads.incident_summary(&testregion()).await.unwrap();
    let of = |s: Severity| summary.iter().find(|x| x.severity == s).unwrap();
    assert_eq!(
        (of(Severity::Critical).open, of(Severity::Critical).closed),
        (0, 1)
    );
    assert_eq!(of(Severity::Critical).median_hours_to_assessment, Some(6.0));
    assert_eq!((of(Severity::Low).open, of(Severity::Low).assessed), (1, 0));
    assert_eq!(of(Severity::Medium).median_hours_to_assessment, Some(2.0));
    assert_eq!(of(Severity::High).open + of(Severity::High).closed, 0);
}

pub async fn the_compliance_matrix_follows_attestation_and_marks_verified_requirements(
    db: TestDatabase,
) {
    let (store, projections) = open(&db, options(registry())).await;
    let handle = projections.start();
    let mut case = CaseFixture::test(1);
    case.applied()
        .approved()
        .contracted()
        .agreements_signed()
        .then(
            Role::Officer,
            CaseCommand::AgreeDeviation(AgreeDeviation {
                requirement: req("T-004"),
                reason: long("The region's network arrives in May."),
                valid_until: Some(date("2025-12-31")),
            }),
        );
    let mut answers: Vec<_> = case
        .catalogue()
        .requirements
        .iter()
        .map(|r| complies(&r.id))
        .collect();
    let network = answers
        .iter_mut()
        .find(|a| a.requirement == req("T-004"))
        .unwrap();
    network.compliance = Compliance::DoesNotComply;
    network.description = Some(long("A temporary connection until May."));
    case.then(
        Role::Provider,
        CaseCommand::SubmitSelfDeclaration(domain::case::SubmitSelfDeclaration { answers }),
    )
    .declaration_accepted()
    .trained()
    .verification_scheduled()
    .verification_approved()
    .final_contract_signed()
    .went_live();
    case.append(&store).await;
    caught_up(&handle, &store).await;
    let reads = handle.read_models();
    let filter = ComplianceFilter {
        case_id: Some(case.id),
        ..ComplianceFilter::default()
    };
    let matrix = |today| {
        let reads = reads.clone();
        let filter = filter.clone();
        async move {
            reads
                .compliance_matrix(&testregion(), &filter, &PageRequest::default(), date(today))
                .await
                .unwrap()
                .items
        }
    };

    let before = matrix("2025-03-03").await;
    assert_eq!(before.len(), 7, "every requirement of version 1");
    let row = |rows: &[projections::read_models::compliance::ComplianceRow], id: &str| {
        rows.iter()
            .find(|r| r.cell.requirement == req(id))
            .unwrap_or_else(|| panic!("a row for {id}"))
            .clone()
    };
    let premises = row(&before, "T-005");
    assert!(
        premises.cell.verified,
        "verified evidence, approved after the answer"
    );
    let network = row(&before, "T-004");
    assert_eq!(
        network.cell.answer.as_ref().map(|a| a.compliance),
        Some(Compliance::DoesNotComply)
    );
    assert!(!network.cell.verified, "declared, not verified");
    assert_eq!(
        network.cell.deviation.as_ref().and_then(|d| d.valid_until),
        Some(date("2025-12-31"))
    );
    assert!(network.deviation_in_force);
    assert!(!row(&matrix("2026-01-01").await, "T-004").deviation_in_force);
    assert!(before.iter().any(|r| r.cell.requirement == req("T-006")));

    // Version 2 comes into force; the case attests to it.
    case.on("2025-06-02");
    let registry = case.registry().clone();
    let programme = case.programme.clone();
    let v1 = registry.get(&programme, 1).unwrap();
    let v2 = registry.get(&programme, 2).unwrap();
    let to_attest: Vec<_> = CatalogueDiff::between(v1, v2)
        .to_attest()
        .map(|r| complies(&r.id))
        .collect();
    let attested: BTreeSet<_> = to_attest.iter().map(|a| a.requirement.clone()).collect();
    case.then(
        Role::Provider,
        CaseCommand::AttestCatalogueVersion(AttestCatalogueVersion {
            version: 2,
            answers: to_attest,
        }),
    );
    let outcome = case.append(&store).await;
    handle
        .wait_for(
            &[projections::ProjectionName::ComplianceMatrix],
            outcome.last_position,
            std::time::Duration::from_secs(10),
        )
        .await
        .unwrap();

    let after = matrix("2025-06-02").await;
    assert_eq!(after.len(), v2.requirements.len());
    assert!(
        after.iter().all(|r| r.cell.catalogue_version == 2),
        "held to version 2"
    );
    assert!(
        !after.iter().any(|r| r.cell.requirement == req("T-006")),
        "the removed requirement is dropped"
    );
    for id in ["T-008", "T-009"] {
        let added = row(&after, id);
        assert_eq!(added.cell.answered_under, Some(2), "{id}");
        assert!(!added.cell.verified, "{id}");
    }
    for r in &after {
        let expected = if attested.contains(&r.cell.requirement) {
            2
        } else {
            1
        };
        assert_eq!(
            r.cell.answered_under,
            Some(expected),
            "{}",
            r.cell.requirement
        );
    }
    assert!(
        row(&after, "T-005").cell.verified,
        "unchanged and still verified"
    );
    let csv = to_csv(&after);
    assert!(csv.starts_with("case_id,requirement,section"));
    assert_eq!(csv.lines().count(), after.len() + 1);
}

pub async fn staff_commitments_show_what_is_missing_and_keep_names_inside_personal_data(
    db: TestDatabase,
) {
    let (store, projections) = open(&db, options(registry())).await;
    let handle = projections.start();
    let mut case = CaseFixture::test(1);
    case.applied().approved().contracted();
    let hsa = |raw: &str| HsaId::parse(raw).unwrap();
    let person = |n, name: &str, hsa_id: &str| {
        Personal::new(
            subject(n),
            StaffMember {
                name: text(name),
                personnummer: Personnummer::parse("198001011017", date("2025-03-03")).unwrap(),
                hsa_id: hsa(hsa_id),
            },
        )
    };
    for (who, kind) in [
        (
            person(10, "Anna Ek", "SE2321000180-ABC1"),
            CommitmentKind::ResponsibilityCommitment,
        ),
        (
            person(10, "Anna Ek", "SE2321000180-ABC1"),
            CommitmentKind::ConfidentialityReminder,
        ),
        (
            person(11, "Bo Berg", "SE2321000180-ABC2"),
            CommitmentKind::ResponsibilityCommitment,
        ),
    ] {
        case.then(
            Role::Provider,
            CaseCommand::RecordStaffCommitment(RecordStaffCommitment {
                person: who,
                kind,
                signed_on: date("2025-03-03"),
            }),
        );
    }
    case.append(&store).await;
    caught_up(&handle, &store).await;
    let reads = handle.read_models();

    let all = reads
        .staff_commitments(
            &testregion(),
            &StaffFilter::default(),
            &PageRequest::default(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(all.len(), 2);
    assert!(all[0].is_complete());
    assert_eq!(
        all[1].person.value().map(|p| p.hsa_id.clone()),
        Some(hsa("SE2321000180-ABC2"))
    );
    assert_eq!(
        all[1].missing,
        vec![CommitmentKind::ConfidentialityReminder]
    );
    let missing = reads
        .staff_commitments(
            &testregion(),
            &StaffFilter {
                case_id: Some(case.id),
                complete: Some(false),
            },
            &PageRequest::default(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(missing.len(), 1);
    let json = serde_json::to_value(&missing[0]).unwrap();
    assert_eq!(json["person"]["pii"]["value"]["name"], "Bo Berg");
    assert!(
        !json.to_string().contains("198001011017"),
        "read models store no personnummer: {json}"
    );
    let csv = to_csv(&all);
    assert!(
        !csv.contains("Bo Berg") && !csv.contains("198001011017") && !csv.contains("ABC2"),
        "{csv}"
    );
    assert!(csv.contains(&subject(11).to_string()));

    let erased = handle.erase_subject(subject(11)).await.unwrap();
    assert!(erased >= 2, "the row and the state document: {erased}");
    let after = reads
        .staff_commitments(
            &testregion(),
            &StaffFilter::default(),
            &PageRequest::default(),
        )
        .await
        .unwrap()
        .items;
    assert!(after[1].person.is_erased());
    assert!(!after[0].person.is_erased(), "only that subject");
    // Later events about the case still project onto the erased state.
    case.then(
        Role::Provider,
        CaseCommand::RecordStaffCommitment(RecordStaffCommitment {
            person: person(12, "Cilla Dahl", "SE2321000180-ABC3"),
            kind: CommitmentKind::ConfidentialityReminder,
            signed_on: date("2025-03-03"),
        }),
    );
    case.append(&store).await;
    caught_up(&handle, &store).await;
    let latest = reads
        .staff_commitments(
            &testregion(),
            &StaffFilter::default(),
            &PageRequest::default(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(latest.len(), 3);
    assert!(latest[1].person.is_erased());
}

pub async fn costs_follow_the_jamtland_prices_in_force_on_the_day_asked_about(db: TestDatabase) {
    let (store, projections) = open(&db, options(real_registry())).await;
    let handle = projections.start();
    let id = |n: u128| domain::ids::CaseId::from_uuid(Uuid::from_u128(0x0500 + n));
    let mut jamtland = CaseFixture::new(id(1), real_registry(), "jamtland-halsoval", "2025-03-03");
    jamtland.applied().approved().contracted();
    jamtland.append(&store).await;
    let mut dalarna = CaseFixture::new(id(2), real_registry(), "dalarna-bup", "2025-03-03");
    dalarna.applied();
    dalarna.append(&store).await;
    caught_up(&handle, &store).await;
    let reads = handle.read_models();
    let estimate = |region: &str, on: &str| {
        let reads = reads.clone();
        let tenancy = Tenancy::region(RegionId::parse(region).unwrap());
        let on = date(on);
        async move {
            let mut rows = reads
                .costs(
                    &tenancy,
                    &CostFilter::default(),
                    &PageRequest::default(),
                    on,
                )
                .await
                .unwrap()
                .items;
            assert_eq!(rows.len(), 1);
            rows.remove(0)
        }
    };

    let before = estimate("jamtland-harjedalen", "2025-04-30").await;
    assert_eq!(before.catalogue_version, Some(1));
    let quality = |row: &projections::read_models::costs::CostRow| {
        row.estimate
            .lines
            .iter()
            .find(|l| l.item == "primarvardskvalitet")
            .unwrap()
            .clone()
    };
    assert_eq!(quality(&before).unit_price, Ore(253));
    assert_eq!(quality(&before).yearly, Ore::from_kronor(20_240));
    let helpdesk = before
        .estimate
        .lines
        .iter()
        .find(|l| l.item == "helpdesk")
        .unwrap();
    assert_eq!(
        (helpdesk.quantity, helpdesk.monthly),
        (2, Ore::from_kronor(2_400))
    );
    assert_eq!(before.estimate.yearly, Ore::from_kronor(28_800 + 20_240));

    let after = estimate("jamtland-harjedalen", "2025-05-01").await;
    assert_eq!(quality(&after).unit_price, Ore(285));
    assert_eq!(after.estimate.monthly, Ore::from_kronor(2_400 + 1_900));
    assert_eq!(after.estimate.yearly, Ore::from_kronor(28_800 + 22_800));
    let csv = to_csv(std::slice::from_ref(&after));
    assert!(csv.contains(",4300.00,51600.00,"), "{csv}");

    let unpriced = estimate("dalarna", "2025-05-01").await;
    assert!(unpriced.estimate.lines.is_empty());
    assert_eq!(unpriced.estimate.yearly, Ore(0));
}

pub async fn cursor_paging_returns_every_row_once_and_tenancy_filters_hold(db: TestDatabase) {
    let (store, projections) = open(&db, options(registry())).await;
    let handle = projections.start();
    let other = org("556677-8899");
    let mut expected_other = BTreeSet::new();
    for n in 0..25 {
        let mut case = CaseFixture::test(100 + n);
        if n % 5 == 0 {
            case = case.with_org(other.clone());
            expected_other.insert(case.id);
        }
        case.applied();
        case.append(&store).await;
    }
    caught_up(&handle, &store).await;
    let reads = handle.read_models();
    let today = date("2025-03-03");

    let mut seen = Vec::new();
    let mut page = PageRequest::first(4);
    let mut pages = 0;
    loop {
        let got = reads
            .case_overviews(&testregion(), &CaseFilter::default(), &page, today)
            .await
            .unwrap();
        pages += 1;
        assert!(got.items.len() <= 4);
        seen.extend(got.items.iter().map(|c| c.case_id));
        match got.next {
            Some(next) => page.after = Some(Cursor::parse(next.as_str()).unwrap()),
            None => break,
        }
    }
    assert_eq!(pages, 7);
    assert_eq!(seen.len(), 25);
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        25,
        "no row twice"
    );
    assert!(seen.windows(2).all(|w| w[0].to_string() < w[1].to_string()));

    let provider = Tenancy::provider(RegionId::parse("testregion").unwrap(), other.clone());
    let theirs = reads
        .case_overviews(
            &provider,
            &CaseFilter::default(),
            &PageRequest::first(100),
            today,
        )
        .await
        .unwrap();
    assert_eq!(
        theirs
            .items
            .iter()
            .map(|c| c.case_id)
            .collect::<BTreeSet<_>>(),
        expected_other
    );
    assert!(theirs.items.iter().all(|c| c.provider_org == other));
    let elsewhere = Tenancy::region(RegionId::parse("varmland").unwrap());
    assert!(
        reads
            .case_overviews(
                &elsewhere,
                &CaseFilter::default(),
                &PageRequest::default(),
                today
            )
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        Cursor::parse("not hex"),
        Err(ProjectionError::InvalidCursor)
    ));
    let csv = to_csv(&theirs.items);
    assert_eq!(csv.lines().count(), expected_other.len() + 1);
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .starts_with("case_id,region,provider_org")
    );
}

/// A `SubjectForgotten` event erases the subject's personal data in every read model, in
/// the batch that reaches it, and a rebuild from the log gives the same erased documents
/// (here the events still hold the data in clear: the erasure comes from the event alone).
pub async fn a_forgotten_subject_is_erased_by_the_projectors_and_by_a_rebuild(db: TestDatabase) {
    use domain::subject::{DataSubject, SubjectChange, SubjectEvent, SubjectForgotten};
    use store::{AppendRequest, EventMetadata, ExpectedVersion, NewEvent, StreamRef};

    let (store, projections) = open(&db, options(registry())).await;
    let handle = projections.start();
    let mut case = CaseFixture::test(1);
    case.applied().approved().contracted();
    for (n, name, hsa_id) in [
        (20, "Anna Ek", "SE2321000180-ABC1"),
        (21, "Bo Berg", "SE2321000180-ABC2"),
    ] {
        case.then(
            Role::Provider,
            CaseCommand::RecordStaffCommitment(RecordStaffCommitment {
                person: Personal::new(
                    subject(n),
                    StaffMember {
                        name: text(name),
                        personnummer: Personnummer::parse("198001011017", date("2025-03-03"))
                            .unwrap(),
                        hsa_id: HsaId::parse(hsa_id).unwrap(),
                    },
                ),
                kind: CommitmentKind::ResponsibilityCommitment,
                signed_on: date("2025-03-03"),
            }),
        );
    }
    case.append(&store).await;
    let forgotten = SubjectEvent {
        actor: domain::Actor::new(
            domain::actor::Subject::parse("officer@testregion").unwrap(),
            Role::Officer,
            RegionId::parse("testregion").unwrap(),
            None,
        )
        .unwrap(),
        at: instant("2025-03-04"),
        change: SubjectChange::SubjectForgotten(SubjectForgotten {
            subject: subject(20),
            reason: domain::text::Reason::parse("Erasure request 17.").unwrap(),
        }),
    };
    store
        .append(AppendRequest {
            stream: StreamRef::new(
                <DataSubject as cqrs_es::Aggregate>::TYPE,
                subject(20).to_string(),
            ),
            expected: ExpectedVersion::NoStream,
            metadata: EventMetadata::new(Uuid::now_v7(), None),
            events: vec![NewEvent {
                event_type: "SubjectForgotten".into(),
                event_version: "1".into(),
                payload: serde_json::to_value(&forgotten).unwrap(),
            }],
            snapshot: None,
        })
        .await
        .unwrap();
    caught_up(&handle, &store).await;
    let reads = handle.read_models();
    let staff = || async {
        reads
            .staff_commitments(
                &testregion(),
                &StaffFilter::default(),
                &PageRequest::default(),
            )
            .await
            .unwrap()
            .items
    };
    let live = staff().await;
    assert_eq!(live.len(), 2);
    assert!(live[0].person.is_erased(), "Anna was forgotten");
    assert!(!live[1].person.is_erased(), "Bo was not");
    handle
        .rebuild(&projections::ProjectionName::ALL, |_| {})
        .await
        .unwrap();
    let rebuilt = staff().await;
    assert_eq!(
        serde_json::to_value(&rebuilt).unwrap(),
        serde_json::to_value(&live).unwrap()
    );
}
