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

use projections::testing::date;
use projections::testing::realistic::{cached_real_registry, case_history, history_batch};
use projections::{ProjectionName, ProjectionOptions, Projections};
use store::testing::TestDatabase;
use store::{AppendRequest, StoreOptions};
use uuid::Uuid;

/// Cases appended per store call.
const CASES_PER_BATCH: usize = 100;
const LOAD_RATE: u32 = 200;
const LOAD_SECONDS: u64 = 20;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a percentile's index: of a non-empty slice, as f64 and back"
    )]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[expect(clippy::print_stdout, reason = "the example's output is its result")]
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
        let requests = history_batch(cases, CASES_PER_BATCH);
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
        ProjectionOptions::new(cached_real_registry()),
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
            case_history(2_000_000 + i * 5 + 1, first_day)
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
    #[expect(
        clippy::cast_precision_loss,
        reason = "a count or a duration as f64 for a rate or a percentage: far below 2^52, where f64 is exact"
    )]
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
