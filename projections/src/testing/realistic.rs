//! Realistic logs, decided by the domain, for benchmarks and measurements: cases of all five
//! real programmes walked from application to go-live by real commands (agreements, staff
//! commitments, technical milestones, a self-declaration answering every requirement,
//! findings, verification), a fifth of them with a security incident reported, assessed and
//! closed.

use std::sync::{Arc, OnceLock};

use chrono::{Duration as Days, NaiveDate};
use cqrs_es::Aggregate as _;
use domain::case::{
    CaseCommand, CommitmentKind, FindingKind, Milestone, RecordFinding, RecordMilestone,
    RecordStaffCommitment, ResolveFinding, RespondToFinding, StaffMember,
};
use domain::catalogue::CatalogueRegistry;
use domain::identity::{HsaId, Personnummer};
use domain::ids::{CaseId, FindingNo, IncidentId};
use domain::incident::{IncidentEvent, SecurityIncident, Severity};
use domain::process::StepKind;
use domain::{Personal, Role};
use store::{AppendRequest, StreamRef};
use uuid::Uuid;

use super::{
    CaseFixture, IncidentFixture, append_request, date, long, real_registry, subject, text,
};

pub const PROGRAMMES: [&str; 5] = [
    "jamtland-halsoval",
    "dalarna-bup",
    "dalarna-halsoval",
    "varmland-vardcentral",
    "varmland-fysioterapi",
];

/// The catalogues compiled into the binary, loaded once.
pub fn cached_real_registry() -> Arc<CatalogueRegistry> {
    static REGISTRY: OnceLock<Arc<CatalogueRegistry>> = OnceLock::new();
    REGISTRY.get_or_init(real_registry).clone()
}

pub fn hsa(n: usize) -> HsaId {
    HsaId::parse(&format!("SE2321000180-U{n:07}")).expect("a valid HSA-id")
}

/// Moves the case's clock `days` ahead.
fn next(case: &mut CaseFixture, day: &mut NaiveDate, days: i64) {
    *day += Days::days(days);
    case.on_date(*day);
}

/// Case `i`'s whole history as append requests, starting on `start`: the case stream, and an incident stream for
/// every fifth case.
pub fn case_history(i: usize, start: NaiveDate) -> Vec<AppendRequest> {
    let programme = PROGRAMMES[i % PROGRAMMES.len()];
    let id = CaseId::from_uuid(Uuid::now_v7());
    let mut case = CaseFixture::new(id, cached_real_registry(), programme, "2024-06-01");
    let mut day = start;
    case.on_date(day).applied();
    next(&mut case, &mut day, 3);
    case.approved();
    next(&mut case, &mut day, 7);
    case.contracted().agreements_signed();
    // The commitments the programme's form holds (Dalarna); elsewhere a commitment is a fact
    // that gates nothing, and every other case leaves one unsigned.
    let required: Vec<CommitmentKind> = case
        .case()
        .process(case.registry(), day)
        .map(|process| {
            process
                .steps_of(StepKind::StaffCommitments)
                .flat_map(|step| step.commitments.clone())
                .collect()
        })
        .unwrap_or_default();
    for user in 0..3 {
        for kind in CommitmentKind::ALL {
            if user == 2
                && kind == CommitmentKind::ConfidentialityReminder
                && i.is_multiple_of(2)
                && !required.contains(&kind)
            {
                continue;
            }
            let person = Personal::new(
                subject(1000 + u128::try_from(i * 3 + user).unwrap_or_default()),
                StaffMember {
                    name: text("Anna Andersson"),
                    personnummer: Personnummer::parse("198001011017", day)
                        .expect("a valid personnummer"),
                    hsa_id: hsa(i * 3 + user),
                },
            );
            case.then(
                Role::Provider,
                CaseCommand::RecordStaffCommitment(RecordStaffCommitment {
                    person,
                    kind,
                    signed_on: day,
                }),
            );
        }
    }
    next(&mut case, &mut day, 5);
    for milestone in [
        Milestone::NetworkConnected {
            network: text("Sjunet"),
        },
        Milestone::WorkstationsRegistered { count: 12 },
        Milestone::AccountsCreated { count: 12 },
    ] {
        case.then(
            Role::RegionIt,
            CaseCommand::RecordMilestone(RecordMilestone {
                milestone,
                completed_on: day,
            }),
        );
    }
    case.declared();
    next(&mut case, &mut day, 4);
    case.declaration_accepted();
    next(&mut case, &mut day, 10);
    case.trained().verification_scheduled();
    let due = day + Days::days(14);
    // Findings of the final verification, where the programme has one (Jämtland §3.10).
    let verifies = case.has(StepKind::FinalVerification);
    for kind in [FindingKind::Demand, FindingKind::Recommendation]
        .into_iter()
        .filter(|_| verifies)
    {
        case.then(
            Role::RegionIt,
            CaseCommand::RecordFinding(RecordFinding {
                kind,
                requirement: None,
                description: long("Lock the server cabinet."),
                due: Some(due),
            }),
        );
    }
    next(&mut case, &mut day, 6);
    // The demand is the region's: the provider responds, region IT accepts by resolving.
    if verifies {
        case.then(
            Role::Provider,
            CaseCommand::RespondToFinding(RespondToFinding {
                finding: FindingNo::new(1),
                remediation: long("The cabinet is locked."),
                evidence: Vec::new(),
            }),
        );
        case.then(
            Role::RegionIt,
            CaseCommand::ResolveFinding(ResolveFinding {
                finding: FindingNo::new(1),
                resolution: long("The cabinet is locked; checked on site."),
            }),
        );
    }
    next(&mut case, &mut day, 2);
    case.verification_approved().final_contract_signed();
    next(&mut case, &mut day, 3);
    case.went_live();
    let (expected, events) = case.take_pending();
    let stream = StreamRef::new("connection_case", id.to_string());
    let mut requests = vec![append_request(
        stream,
        expected,
        &events,
        &case.actor(Role::Officer),
    )];
    if i.is_multiple_of(5) {
        let reported = day + Days::days(30);
        let mut incident = IncidentFixture::report(
            IncidentId::from_uuid(Uuid::now_v7()),
            &case,
            &reported.to_string(),
            Severity::Medium,
        );
        incident
            .at(reported.and_hms_opt(15, 0, 0).expect("a time").and_utc())
            .assessed(Severity::Low)
            .closed();
        let (expected, events): (u64, Vec<IncidentEvent>) = incident.take_pending();
        requests.push(append_request(
            StreamRef::new(SecurityIncident::TYPE, incident.id.to_string()),
            expected,
            &events,
            &case.actor(Role::Provider),
        ));
    }
    requests
}

/// The histories of cases `first` to `first + count - 1`, their starts spread over 500 days
/// from 2024-02-01: what one `append_batch` call of a generator appends.
pub fn history_batch(first: usize, count: usize) -> Vec<AppendRequest> {
    let first_day = date("2024-02-01");
    (first..first + count)
        .flat_map(|i| {
            case_history(
                i,
                first_day + Days::days(i64::try_from(i % 500).unwrap_or(0)),
            )
        })
        .collect()
}
