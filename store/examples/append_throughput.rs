//! Measures appends per second through the store at 1 and 16 concurrent streams, against
//! plain single-row INSERTs of the same row shape from the same number of tasks (no global
//! order, no lock, no hash chain): the price of the serialised log and what group commit
//! wins back. Numbers for docs/adr/001-global-order.md.
//!
//! ```sh
//! cargo run --release -p store --example append_throughput            # PostgreSQL
//! cargo run --release -p store --example append_throughput -- sqlite  # and SQLite
//! ```
//!
//! PostgreSQL: a throwaway database on `ANSLUT_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), dropped at the end. Each task owns one
//! stream and appends one event per command with an exact expected version, for a fixed
//! time per run.

use std::io::Write as _;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::{Connection, PgConnection};
use store::testing::TestDatabase;
use store::{
    ActorRecord, AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, StreamRef,
};
use tokio::task::JoinSet;
use uuid::Uuid;

const RUN: Duration = Duration::from_secs(4);
/// Runs per measurement, alternating store and plain; the median is reported (the machine is
/// shared, so single runs are noisy).
const REPEAT: usize = 3;
const CONCURRENCY: [usize; 2] = [1, 16];

fn payload(i: u64) -> serde_json::Value {
    json!({
        "case_id": "a1b2c3d4-0000-7000-8000-000000000000",
        "milestone": "firewall_opened",
        "reason": "Brandväggsöppning klar enligt beställning",
        "n": i,
    })
}

fn actor() -> ActorRecord {
    ActorRecord {
        subject: "SE2321000032-it5".into(),
        role: "region_it".into(),
        region: "dalarna".into(),
        provider_org: None,
    }
}

// Counts stay far below 2^52, where f64 would start to round them.
#[expect(
    clippy::cast_precision_loss,
    reason = "a count or a duration as f64 for a rate or a percentage: far below 2^52, where f64 is exact"
)]
fn per_second(count: u64, started: Instant) -> f64 {
    count as f64 / started.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Appends for `RUN` from `tasks` tasks, one stream each; returns appends per second.
async fn store_run(store: &EventStore, tasks: usize, label: &str) -> f64 {
    let started = Instant::now();
    let mut set = JoinSet::new();
    for t in 0..tasks {
        let store = store.clone();
        let stream = StreamRef::new("Bench", format!("{label}-{t}"));
        set.spawn(async move {
            let mut version = 0;
            while started.elapsed() < RUN {
                store
                    .append(AppendRequest {
                        stream: stream.clone(),
                        expected: ExpectedVersion::Exact(version),
                        metadata: EventMetadata::new(Uuid::now_v7(), Some(actor())),
                        events: vec![NewEvent {
                            event_type: "MilestoneRecorded".into(),
                            event_version: "1".into(),
                            payload: payload(version),
                        }],
                        snapshot: None,
                    })
                    .await
                    .expect("append");
                version += 1;
            }
            version
        });
    }
    let mut appends = 0;
    while let Some(done) = set.join_next().await {
        appends += done.expect("task");
    }
    per_second(appends, started)
}

const PLAIN_TABLE: &str = "CREATE TABLE plain_events (
    position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_type TEXT NOT NULL, stream_id TEXT NOT NULL, version BIGINT NOT NULL,
    event_id UUID NOT NULL UNIQUE, event_type TEXT NOT NULL, event_version TEXT NOT NULL,
    payload JSON NOT NULL, metadata JSON NOT NULL, command_id UUID NOT NULL,
    correlation_id UUID NOT NULL, causation_id UUID, actor_subject TEXT, actor_role TEXT,
    actor_region TEXT, actor_provider_org TEXT, recorded_at TIMESTAMPTZ NOT NULL,
    prev_hash BYTEA NOT NULL, hash BYTEA NOT NULL, UNIQUE (stream_type, stream_id, version))";

/// Single-row autocommit INSERTs of the same shape, one connection per task.
async fn plain_run(url: &str, tasks: usize, label: &str) -> f64 {
    let started = Instant::now();
    let mut set = JoinSet::new();
    for t in 0..tasks {
        let url = url.to_owned();
        let stream_id = format!("{label}-{t}");
        set.spawn(async move {
            let mut conn = PgConnection::connect(&url).await.expect("connect");
            let mut version = 0_i64;
            while started.elapsed() < RUN {
                version += 1;
                let id = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO plain_events (stream_type, stream_id, version, event_id, \
                     event_type, event_version, payload, metadata, command_id, correlation_id, \
                     causation_id, actor_subject, actor_role, actor_region, actor_provider_org, \
                     recorded_at, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7::json, \
                     $8::json, $9, $10, NULL, $11, $12, $13, NULL, clock_timestamp(), $14, $15)",
                )
                .bind("Bench")
                .bind(&stream_id)
                .bind(version)
                .bind(id)
                .bind("MilestoneRecorded")
                .bind("1")
                .bind(payload(u64::try_from(version).expect("positive")).to_string())
                .bind("{}")
                .bind(id)
                .bind(id)
                .bind("SE2321000032-it5")
                .bind("region_it")
                .bind("dalarna")
                .bind(vec![0_u8; 32])
                .bind(vec![1_u8; 32])
                .execute(&mut conn)
                .await
                .expect("insert");
            }
            u64::try_from(version).expect("positive")
        });
    }
    let mut rows = 0_u64;
    while let Some(done) = set.join_next().await {
        rows += done.expect("task");
    }
    per_second(rows, started)
}

#[tokio::main]
async fn main() {
    let with_sqlite = std::env::args().any(|arg| arg == "sqlite");
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "| backend | concurrent streams | store appends/s | plain INSERTs/s |"
    )
    .and_then(|()| writeln!(out, "|---|---|---|---|"))
    .expect("stdout");

    let db = TestDatabase::postgres().await;
    db.execute(PLAIN_TABLE).await.expect("plain table");
    let store = db.store().await;
    for tasks in CONCURRENCY {
        let (mut appends, mut plain) = (Vec::new(), Vec::new());
        for run in 0..REPEAT {
            let label = format!("pg{tasks}-{run}");
            appends.push(store_run(&store, tasks, &label).await);
            plain.push(plain_run(db.url(), tasks, &label).await);
        }
        let (appends, plain) = (median(appends), median(plain));
        writeln!(out, "| PostgreSQL | {tasks} | {appends:.0} | {plain:.0} |").expect("stdout");
    }
    assert!(store.verify().await.expect("verify").is_intact());

    if with_sqlite {
        let db = TestDatabase::sqlite();
        let store = db.store().await;
        for tasks in CONCURRENCY {
            let mut appends = Vec::new();
            for run in 0..REPEAT {
                appends.push(store_run(&store, tasks, &format!("sqlite{tasks}-{run}")).await);
            }
            let appends = median(appends);
            writeln!(
                out,
                "| SQLite (synchronous=FULL) | {tasks} | {appends:.0} | – |"
            )
            .expect("stdout");
        }
    }
}
