//! What sealing costs: appends and reads of events holding personal data, through a store
//! with the subject codec and through one without, on PostgreSQL (`DATABASE_URL`, a scratch
//! database this creates and drops) and SQLite (a temporary file).
//!
//! `cargo run --release -p privacy --example codec_cost [-- EVENTS]`

use std::sync::Arc;
use std::time::Instant;

use privacy::{KeyEncryptionKey, KeyOptions, SubjectKeys};
use serde_json::json;
use store::testing::TestDatabase;
use store::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, Position, StoreOptions,
    StreamRef,
};
use uuid::Uuid;

#[expect(
    clippy::print_stdout,
    clippy::cast_precision_loss,
    reason = "the output; rates of a few thousand"
)]
#[tokio::main]
async fn main() {
    let events: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    for postgres in [true, false] {
        let backend = if postgres { "postgres" } else { "sqlite" };
        for sealed in [false, true] {
            let db = if postgres {
                TestDatabase::postgres().await
            } else {
                TestDatabase::sqlite()
            };
            let options = if sealed {
                let keys = SubjectKeys::connect(
                    db.url(),
                    KeyEncryptionKey::from_bytes(&[7; 32]).unwrap(),
                    KeyOptions::default(),
                )
                .await
                .unwrap();
                StoreOptions {
                    codec: Arc::new(keys.codec()),
                    ..StoreOptions::default()
                }
            } else {
                StoreOptions::default()
            };
            let store = db.store_with(options).await;
            let (append, read) = run(&store, events).await;
            println!(
                "{backend:8} {:8} {events} events: append {:7.0} events/s, read_all {:8.0} events/s",
                if sealed { "sealed" } else { "plain" },
                events as f64 / append,
                events as f64 / read,
            );
        }
    }
}

/// Appends `events` single-event commands, eight at a time, each naming two people (a new
/// subject and one of 50 recurring ones); then reads the log back. Seconds for each.
async fn run(store: &EventStore, events: u64) -> (f64, f64) {
    let recurring: Vec<Uuid> = (0..50).map(|_| Uuid::now_v7()).collect();
    let started = Instant::now();
    let mut n = 0;
    while n < events {
        let batch = (n..(n + 8).min(events)).map(|i| {
            let store = store.clone();
            let staff = recurring[usize::try_from(i % 50).unwrap()];
            async move {
                store
                    .append(AppendRequest {
                        stream: StreamRef::new("connection_case", format!("case-{i}")),
                        expected: ExpectedVersion::NoStream,
                        metadata: EventMetadata::new(Uuid::now_v7(), None),
                        events: vec![NewEvent {
                            event_type: "StaffCommitmentRecorded".into(),
                            event_version: "1".into(),
                            payload: json!({
                                "hsa_id": "SE2321000016-A1B2",
                                "person": {"pii": {"subject": staff.to_string(), "value": {
                                    "name": "Anna Andersson", "personnummer": "198112189876"}}},
                                "contact": {"pii": {"subject": Uuid::now_v7().to_string(), "value": {
                                    "name": "Bo Berg", "email": "bo@example.se", "phone": "+46 70 000 00 00"}}},
                            }),
                        }],
                        snapshot: None,
                    })
                    .await
                    .unwrap();
            }
        });
        futures_join(batch.collect()).await;
        n = (n + 8).min(events);
    }
    let append = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut after = Position::START;
    loop {
        let page = store.read_all(after, 500).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.position;
    }
    (append, started.elapsed().as_secs_f64())
}

async fn futures_join(tasks: Vec<impl Future<Output = ()> + Send + 'static>) {
    let handles: Vec<_> = tasks.into_iter().map(tokio::spawn).collect();
    for handle in handles {
        handle.await.unwrap();
    }
}
