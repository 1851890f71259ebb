//! The audit crate's suite: every database test runs on PostgreSQL and on SQLite.
//!
//! `both!` instantiates each test function in a `postgres` and an `sqlite` module; each
//! instance gets a fresh database (`store::testing::TestDatabase`; PostgreSQL on the server
//! named by `ANSLUT_TEST_DATABASE_URL`). Proofs and notes are checked with the independent
//! verifier in `independent.rs`, never with the crate's own verification code.

mod checkpointer;
mod export;
mod independent;
mod proofs;
mod tamper;
mod tree;

use audit::{AuditConfig, Auditor, CheckpointSigner};
use serde_json::json;
use store::testing::TestDatabase;
use store::{
    ActorRecord, AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, Position,
    RecordedEvent, StreamRef,
};
use uuid::Uuid;

store::on_both_backends!(
    tree::the_follower_covers_the_log_and_checkpoints_sign_its_root,
    tree::roots_match_vectors_derived_by_hand_for_1_2_3_and_7_events,
    tree::migrations_can_run_twice_and_the_audit_tables_are_append_only,
    tree::concurrent_followers_add_every_leaf_once,
    proofs::inclusion_and_consistency_proofs_verify_independently_for_many_tree_sizes,
    proofs::proofs_outside_the_tree_are_refused,
    tamper::verify_passes_an_intact_log,
    tamper::verify_names_an_event_whose_payload_was_changed,
    tamper::verify_names_an_event_rewritten_with_a_recomputed_hash,
    tamper::verify_catches_a_truncated_log_by_the_checkpoint_that_exceeds_it,
    tamper::verify_reports_a_forged_checkpoint_and_a_changed_node,
    export::an_export_verifies_offline_with_the_published_key,
    export::a_tampered_export_and_a_wrong_key_are_rejected,
    export::exports_carry_payloads_as_stored_not_as_decoded,
    checkpointer::checkpoints_follow_the_interval_on_a_controlled_clock,
    checkpointer::the_checkpointer_loop_signs_after_appends_and_stops_on_shutdown,
);

pub const ORIGIN: &str = "anslut.example/test";

pub fn signer() -> CheckpointSigner {
    CheckpointSigner::from_seed(ORIGIN, &[42; 32]).unwrap()
}

/// The store (migrated) and an auditor (migrated) on the test database.
pub async fn setup(db: &TestDatabase) -> (EventStore, Auditor) {
    setup_with(db, AuditConfig::default()).await
}

pub async fn setup_with(db: &TestDatabase, config: AuditConfig) -> (EventStore, Auditor) {
    let store = db.store().await;
    let auditor = Auditor::connect(db.url(), signer(), config).await.unwrap();
    auditor.migrate().await.unwrap();
    (store, auditor)
}

pub fn stream(id: &str) -> StreamRef {
    StreamRef::new("ConnectionCase", id)
}

/// Appends `n` single-event commands, round robin over `streams`, in one batch.
pub async fn append(store: &EventStore, streams: &[StreamRef], n: usize) {
    let requests = (0..n)
        .map(|i| AppendRequest {
            stream: streams[i % streams.len()].clone(),
            expected: ExpectedVersion::Any,
            metadata: EventMetadata::new(
                Uuid::now_v7(),
                Some(ActorRecord {
                    subject: "SE2321000032-officer1".into(),
                    role: "officer".into(),
                    region: "dalarna".into(),
                    provider_org: (i % 2 == 0).then(|| "5560360793".into()),
                }),
            ),
            events: vec![NewEvent {
                event_type: "NoteAdded".into(),
                event_version: "1".into(),
                payload: json!({"i": i, "text": format!("anteckning {i} – åäö \"citat\"")}),
            }],
            snapshot: None,
        })
        .collect();
    for outcome in store.append_batch(requests).await {
        outcome.unwrap();
    }
}

/// Every event of the log, in position order.
pub async fn log(store: &EventStore) -> Vec<RecordedEvent> {
    let mut events: Vec<RecordedEvent> = Vec::new();
    loop {
        let after = events.last().map_or(Position(0), |e| e.position);
        let page = store.read_all(after, 1000).await.unwrap();
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}

/// The leaf data of the log: each event's chain hash.
pub async fn leaf_data(store: &EventStore) -> Vec<independent::Hash> {
    log(store).await.iter().map(|e| e.hash.0).collect()
}
