//! Measures how fast the projections rebuild from a log of realistic events, and how long an
//! event takes from commit to visible in every projection under a steady append load.
//! Numbers for the closing note of issue 6.
//!
//! ```sh
//! cargo run --release -p projections --example rebuild_speed            # 1,000,000 events
//! cargo run --release -p projections --example rebuild_speed -- 200000  # fewer
//! REBUILD_EACH=1 cargo run --release -p projections --example rebuild_speed  # and each alone
//! ```
//!
//! PostgreSQL: a throwaway database on `ANSLUT_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), dropped at the end. Cases of all five real
//! programmes are walked from application to go-live by real domain commands (agreements,
//! staff commitments, technical milestones, a self-declaration answering every requirement,
//! findings, verification), a fifth of them with a security incident, and appended through
//! the store in large batches. Then all seven projections rebuild together from position
//! zero, and finally the runtime follows 200 appends a second while each append's
//! commit-to-visible time is measured with `wait_for`.

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{Duration as Days, NaiveDate};
use cqrs_es::Aggregate as _;
use domain::Personal;
use domain::Role;
use domain::case::{
    CaseCommand, CommitmentKind, FindingKind, Milestone, RecordFinding, RecordMilestone,
    RecordStaffCommitment, ResolveFinding, StaffMember,
};
use domain::identity::{HsaId, Personnummer};
use domain::ids::{CaseId, FindingNo, IncidentId};
use domain::incident::{IncidentEvent, SecurityIncident, Severity};
use projections::testing::{
    CaseFixture, IncidentFixture, append_request, date, long, real_registry, subject, text,
};
use projections::{ProjectionName, ProjectionOptions, Projections};
use store::testing::TestDatabase;
use store::{AppendRequest, StoreOptions, StreamRef};
use uuid::Uuid;

const PROGRAMMES: [&str; 5] = [
    "jamtland-halsoval",
    "dalarna-bup",
    "dalarna-halsoval",
    "varmland-vardcentral",
    "varmland-fysioterapi",
];
/// Cases appended per store call.
const CASES_PER_BATCH: usize = 100;
const LOAD_RATE: u32 = 200;
const LOAD_SECONDS: u64 = 20;

fn hsa(n: usize) -> HsaId {
    HsaId::parse(&format!("SE2321000180-U{n:07}")).expect("an HSA-id")
}

/// One case's whole history as append requests (the case stream, and an incident stream
/// for every fifth case). Days advance as the case moves on.
fn history(i: usize, start: NaiveDate) -> Vec<AppendRequest> {
    let registry = real_registry_cached();
    let programme = PROGRAMMES[i % PROGRAMMES.len()];
    let id = CaseId::from_uuid(Uuid::now_v7());
    let mut case = CaseFixture::new(id, registry, programme, "2024-06-01");
    let mut day = start;
    case.on_date(day).applied();
    next(&mut case, &mut day, 3);
    case.approved();
    next(&mut case, &mut day, 7);
    case.contracted().agreements_signed();
    for user in 0..3 {
        for kind in CommitmentKind::ALL {
            if user == 2 && kind == CommitmentKind::ConfidentialityReminder && i.is_multiple_of(2) {
                continue;
            }
            let person = Personal::new(
                subject(1000 + u128::try_from(i * 3 + user).unwrap_or_default()),
                StaffMember {
                    name: text("Anna Andersson"),
                    personnummer: Personnummer::parse("198001011017", day).expect("a pnr"),
                },
            );
            case.then(
                Role::Provider,
                CaseCommand::RecordStaffCommitment(RecordStaffCommitment {
                    hsa_id: hsa(i * 3 + user),
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
    for kind in [FindingKind::Demand, FindingKind::Recommendation] {
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
    case.then(
        Role::Provider,
        CaseCommand::ResolveFinding(ResolveFinding {
            finding: FindingNo::new(1),
            resolution: long("The cabinet is locked."),
        }),
    );
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

/// Moves the case's clock `days` ahead.
fn next(case: &mut CaseFixture, day: &mut NaiveDate, days: i64) {
    *day += Days::days(days);
    case.on_date(*day);
}

fn real_registry_cached() -> Arc<domain::catalogue::CatalogueRegistry> {
    static REGISTRY: std::sync::OnceLock<Arc<domain::catalogue::CatalogueRegistry>> =
        std::sync::OnceLock::new();
    REGISTRY.get_or_init(real_registry).clone()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[allow(clippy::print_stdout)]
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let target: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let db = TestDatabase::postgres().await;
    let store = db
        .store_with(StoreOptions {
            max_batch: 4096,
            ..StoreOptions::default()
        })
        .await;

    // 1. A log of `target` events.
    let started = Instant::now();
    let first_day = date("2024-02-01");
    let mut cases = 0_usize;
    loop {
        let head = store.head().await.expect("the head");
        if head.get() >= target {
            break;
        }
        let requests: Vec<AppendRequest> = (cases..cases + CASES_PER_BATCH)
            .flat_map(|i| {
                let start = first_day + Days::days(i64::try_from(i % 500).unwrap_or(0));
                history(i, start)
            })
            .collect();
        cases += CASES_PER_BATCH;
        for answer in store.append_batch(requests).await {
            answer.expect("appending the generated history");
        }
        print!("\rlog: {head} events, {cases} cases");
        let _ = std::io::stdout().flush();
    }
    let head = store.head().await.expect("the head");
    println!(
        "\rlog: {head} events in {cases} cases, generated and appended in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // 2. Rebuild all seven projections from zero.
    let projections = Projections::open(
        db.url(),
        store.clone(),
        ProjectionOptions::new(real_registry_cached()),
    )
    .await
    .expect("opening the projections");
    let last_print = Mutex::new(Instant::now());
    let report = projections
        .rebuild(&ProjectionName::ALL, |p| {
            let mut last = last_print.lock().expect("lock");
            if last.elapsed() > Duration::from_secs(5) {
                *last = Instant::now();
                println!(
                    "rebuild: {}/{} events, {:.0} events/s, {:.0} s left",
                    p.position,
                    p.target,
                    p.events_per_second,
                    p.remaining.unwrap_or_default().as_secs_f64()
                );
            }
        })
        .await
        .expect("rebuilding");
    println!(
        "rebuild of all 7 projections: {} events in {:.1} s = {:.0} events/s",
        report.events,
        report.elapsed.as_secs_f64(),
        report.events_per_second
    );

    if std::env::var_os("REBUILD_EACH").is_some() {
        for name in ProjectionName::ALL {
            let report = projections
                .rebuild(&[name], |_| {})
                .await
                .expect("rebuilding");
            println!("  {name}: {:.0} events/s", report.events_per_second);
        }
    }

    // 3. Commit-to-visible under a steady load.
    let handle = projections.start();
    handle
        .wait_for(&ProjectionName::ALL, head, Duration::from_secs(120))
        .await
        .expect("caught up after the rebuild");
    // Single-event requests, interleaved across cases so each stream's versions stay in order.
    let mut queues: Vec<std::collections::VecDeque<AppendRequest>> = (0..200)
        .map(|i| {
            history(2_000_000 + i * 5 + 1, first_day)
                .into_iter()
                .next()
                .map(|request| {
                    let AppendRequest {
                        stream,
                        expected,
                        metadata,
                        events,
                        snapshot,
                    } = request;
                    let store::ExpectedVersion::Exact(base) = expected else {
                        unreachable!("fixtures append with exact versions")
                    };
                    events
                        .into_iter()
                        .enumerate()
                        .map(|(n, event)| AppendRequest {
                            stream: stream.clone(),
                            expected: store::ExpectedVersion::Exact(base + n as u64),
                            metadata: store::EventMetadata::new(
                                Uuid::now_v7(),
                                metadata.actor.clone(),
                            ),
                            events: vec![event],
                            snapshot: snapshot.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut waiters = tokio::task::JoinSet::new();
    let interval = Duration::from_secs(1) / LOAD_RATE;
    let mut tick = tokio::time::interval(interval);
    let load_started = Instant::now();
    let mut appended = 0_u64;
    'load: while load_started.elapsed() < Duration::from_secs(LOAD_SECONDS) {
        for queue in &mut queues {
            let Some(request) = queue.pop_front() else {
                continue;
            };
            tick.tick().await;
            let outcome = store.append(request).await.expect("a load append");
            let committed = Instant::now();
            appended += 1;
            let projections = (*handle).clone();
            let latencies = latencies.clone();
            waiters.spawn(async move {
                projections
                    .wait_for(
                        &ProjectionName::ALL,
                        outcome.last_position,
                        Duration::from_secs(30),
                    )
                    .await
                    .expect("visible in time");
                latencies.lock().expect("lock").push(committed.elapsed());
            });
            if load_started.elapsed() >= Duration::from_secs(LOAD_SECONDS) {
                break 'load;
            }
        }
        if queues.iter().all(std::collections::VecDeque::is_empty) {
            break;
        }
    }
    while waiters.join_next().await.is_some() {}
    let mut latencies = latencies.lock().expect("lock").clone();
    latencies.sort_unstable();
    #[allow(clippy::cast_precision_loss)]
    let rate = appended as f64 / load_started.elapsed().as_secs_f64();
    println!(
        "commit to visible in all 7 projections at {rate:.0} appends/s over {appended} appends: \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    handle.shutdown().await;
}
