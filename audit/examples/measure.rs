//! Measures what the tree costs at scale on PostgreSQL: the follower covering N events (one
//! leaf and on average one interior node written per event), signing a checkpoint over
//! them, the latency of inclusion and consistency proofs against the tree of N leaves, and
//! (with `verify`) a full `Auditor::verify`.
//!
//! ```sh
//! cargo run --release -p audit --example measure                     # 1,000,000 events
//! cargo run --release -p audit --example measure -- 200000 verify    # fewer, and verify
//! ```
//!
//! A throwaway database on `ANSLUT_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), dropped at the end. Events are synthetic
//! (ten per stream, like a small case history) and appended through the store in large
//! batches.

use std::io::Write as _;
use std::time::{Duration, Instant};

use audit::{AuditConfig, Auditor, CheckpointSigner};
use serde_json::json;
use sqlx::{Connection, PgConnection, Row};
use store::testing::TestDatabase;
use store::{
    ActorRecord, AppendRequest, EventMetadata, ExpectedVersion, NewEvent, Position, StreamRef,
};
use uuid::Uuid;

const EVENTS_PER_STREAM: u64 = 10;
const REQUESTS_PER_CALL: u64 = 2000;
const PROOFS: usize = 2000;

fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").expect("writing to stdout");
}

/// xorshift64*: enough to pick positions.
struct Pick(u64);

impl Pick {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn micros(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let total: Duration = samples.iter().sum();
    let count = u32::try_from(samples.len()).expect("a few thousand samples");
    format!(
        "mean {}, p50 {}, p99 {}",
        micros(total / count),
        micros(samples[samples.len() / 2]),
        micros(samples[samples.len() * 99 / 100])
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let events: u64 = args
        .next()
        .map_or(1_000_000, |n| n.parse().expect("a number of events"));
    let run_verify = args.next().as_deref() == Some("verify");

    let db = TestDatabase::postgres().await;
    let store = db.store().await;
    let started = Instant::now();
    let streams = events / EVENTS_PER_STREAM;
    let mut next_stream = 0;
    while next_stream < streams {
        let end = (next_stream + REQUESTS_PER_CALL).min(streams);
        let requests = (next_stream..end)
            .map(|s| AppendRequest {
                stream: StreamRef::new("ConnectionCase", format!("case-{s}")),
                expected: ExpectedVersion::NoStream,
                metadata: EventMetadata::new(
                    Uuid::now_v7(),
                    Some(ActorRecord {
                        subject: "SE2321000032-officer1".into(),
                        role: "officer".into(),
                        region: "dalarna".into(),
                        provider_org: None,
                    }),
                ),
                events: (0..EVENTS_PER_STREAM)
                    .map(|i| NewEvent {
                        event_type: "MilestoneRecorded".into(),
                        event_version: "1".into(),
                        payload: json!({"milestone": i, "note": "Brandväggsöppning klar"}),
                    })
                    .collect(),
                snapshot: None,
            })
            .collect();
        for outcome in store.append_batch(requests).await {
            outcome.expect("appending synthetic events");
        }
        next_stream = end;
    }
    let events = streams * EVENTS_PER_STREAM;
    out(&format!(
        "appended {events} events in {:.1} s",
        started.elapsed().as_secs_f64()
    ));

    let signer =
        CheckpointSigner::from_seed("anslut.example/measure", &[7; 32]).expect("a signing key");
    let auditor = Auditor::connect(
        db.url(),
        signer,
        AuditConfig {
            batch: 20_000,
            ..AuditConfig::default()
        },
    )
    .await
    .expect("connecting the auditor");
    auditor.migrate().await.expect("migrating the audit tables");

    let started = Instant::now();
    let size = auditor.follow().await.expect("following the log");
    let follow = started.elapsed();
    let started = Instant::now();
    let checkpoint = auditor
        .checkpoint_now()
        .await
        .expect("signing")
        .expect("a checkpoint");
    let sign = started.elapsed();
    assert_eq!((size, checkpoint.tree_size), (events, events));
    out(&format!(
        "follower: {events} events into the tree in {:.1} s ({} events/s); signing the \
         checkpoint then took {}",
        follow.as_secs_f64(),
        u128::from(events) * 1000 / follow.as_millis().max(1),
        micros(sign)
    ));

    let mut pick = Pick(0x9e37_79b9_7f4a_7c15);
    let mut fetch = Vec::with_capacity(PROOFS);
    let mut check = Vec::with_capacity(PROOFS);
    let mut lengths = 0;
    for _ in 0..PROOFS {
        let position = Position(pick.below(events) + 1);
        let started = Instant::now();
        let proof = auditor
            .inclusion_proof(position, events)
            .await
            .expect("an inclusion proof");
        fetch.push(started.elapsed());
        let started = Instant::now();
        proof.verify(&checkpoint.root).expect("a valid proof");
        check.push(started.elapsed());
        lengths += proof.hashes.len();
    }
    out(&format!(
        "inclusion proof at {events} leaves ({} hashes on average): {}; verifying one: {}",
        lengths / PROOFS,
        summary(fetch),
        summary(check)
    ));

    let mut fetch = Vec::with_capacity(PROOFS);
    let mut lengths = 0;
    for _ in 0..PROOFS {
        let from = pick.below(events - 1) + 1;
        let started = Instant::now();
        let proof = auditor
            .consistency_proof(from, events)
            .await
            .expect("a consistency proof");
        fetch.push(started.elapsed());
        lengths += proof.hashes.len();
    }
    out(&format!(
        "consistency proof to {events} leaves ({} hashes on average): {}",
        lengths / PROOFS,
        summary(fetch)
    ));

    let mut conn = PgConnection::connect(db.url()).await.expect("connecting");
    let row = sqlx::query(
        "SELECT pg_total_relation_size('audit_nodes'), pg_total_relation_size('events'), \
         (SELECT COUNT(*) FROM audit_nodes)",
    )
    .fetch_one(&mut conn)
    .await
    .expect("table sizes");
    let (nodes_bytes, events_bytes, nodes): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    conn.close().await.expect("closing");
    out(&format!(
        "storage: audit_nodes {nodes} rows, {} MB with its index; events {} MB",
        nodes_bytes / 1_000_000,
        events_bytes / 1_000_000
    ));

    if run_verify {
        let started = Instant::now();
        let report = auditor.verify().await.expect("verifying");
        assert!(report.is_intact(), "{:?}", report.problems);
        out(&format!(
            "verify (chains, tree, checkpoints) over {events} events: {:.1} s",
            started.elapsed().as_secs_f64()
        ));
    }
}
