//! The store's conformance suite: every test runs on PostgreSQL and on SQLite.
//!
//! `store::on_both_backends!` instantiates each test function in a `postgres` and an `sqlite` module;
//! each instance gets a fresh database ([`TestDatabase`]). PostgreSQL databases are created
//! on the server named by `ANSLUT_TEST_DATABASE_URL` (see `store::testing`).

mod aggregate;
mod cqrs;
mod filtered;
mod gaps;
mod log;
mod tail;
mod tamper;

use std::time::Duration;

use serde_json::{Value, json};
use store::testing::TestDatabase;
use store::{ActorRecord, AppendRequest, EventMetadata, ExpectedVersion, NewEvent, StreamRef};
use uuid::Uuid;

store::on_both_backends!(
    log::an_append_reads_back_with_all_its_metadata,
    log::positions_are_dense_across_streams_and_appends,
    log::read_all_pages_through_the_log_in_order,
    log::a_stale_append_conflicts_and_writes_nothing,
    log::a_request_is_all_or_none_and_its_batch_neighbours_are_unaffected,
    log::a_failed_transaction_writes_nothing_and_a_retry_with_the_same_command_id_succeeds,
    log::replaying_a_command_returns_the_original_outcome_and_writes_nothing,
    log::a_command_id_reused_on_another_stream_is_refused,
    log::an_append_of_no_events_writes_nothing_and_reports_the_current_version,
    log::payloads_survive_the_round_trip_byte_for_byte_after_canonicalisation,
    log::migrations_can_run_twice,
    log::followers_are_woken_by_appends,
    log::a_payload_codec_encodes_before_hashing_and_decodes_on_read,
    log::a_codec_that_cannot_reach_its_keys_makes_the_store_unavailable_not_corrupt,
    log::a_settled_command_lookup_waits_for_the_commit_in_flight,
    gaps::concurrent_writers_never_let_a_reader_skip_an_event,
    gaps::racing_appenders_on_one_stream_produce_exactly_one_winner,
    tamper::the_database_refuses_to_change_or_remove_events_and_commands,
    tamper::verify_passes_an_untouched_log,
    tamper::verify_names_an_event_whose_payload_was_changed,
    tamper::verify_names_an_event_whose_actor_was_changed,
    tamper::verify_names_the_event_after_a_removed_middle_event,
    tamper::verify_notices_events_removed_from_the_end,
    tamper::a_row_that_cannot_be_read_is_reported_corrupt_by_every_reader,
    cqrs::an_old_event_version_is_read_through_an_upcaster,
    cqrs::snapshots_are_taken_every_n_events_and_loading_reads_only_what_follows,
    cqrs::a_snapshot_the_aggregate_cannot_read_is_ignored_and_the_stream_replayed,
    cqrs::a_cached_aggregate_is_the_replayed_one_with_other_writers_events_after_it,
    cqrs::a_replayed_command_leaves_the_cached_state_as_the_log_has_it,
    cqrs::the_cqrs_framework_appends_with_metadata_and_retries_are_idempotent,
    cqrs::cqrs_replay_streams_yield_every_event,
    filtered::a_filtered_read_decodes_only_the_events_it_returns,
    tail::a_follower_is_never_answered_short_of_a_commit_this_process_made,
    tail::followers_reading_the_tail_see_the_log_as_read_all_gives_it,
);

/// Runs only on PostgreSQL: notifications cross process boundaries there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_wakes_followers_in_other_processes() {
    log::other_stores_wake_followers_through_notify(TestDatabase::postgres().await).await;
}

/// Runs only on PostgreSQL: `LISTEN` is PostgreSQL's. A follower that stops waiting (a
/// `select!`, a timeout, `now_or_never`) while its listener re-establishes a lost connection
/// must not leave a connection that already sent `LISTEN` in the store's pool. A query that
/// meets a notification on such a connection fails with "unexpected message:
/// NotificationResponse"; after a database restart, commands answered 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_follower_that_stops_waiting_during_a_reconnect_leaves_no_listening_connection()
{
    const CUT: &str = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'";
    const LISTENING: &str = "SELECT count(*) FROM pg_stat_activity \
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'";
    let db = TestDatabase::postgres().await;
    let store = db
        .store_with(store::StoreOptions {
            max_connections: 3,
            ..store::StoreOptions::default()
        })
        .await;
    let probe = sqlx::PgPool::connect(db.url()).await.unwrap();
    let mut wakeups = store.listen().await.unwrap();
    let case = stream("case");
    let mut version = 0;
    for round in 0..5 {
        // Cut the listener's connection, as a database restart does.
        sqlx::query(CUT).execute(&probe).await.unwrap();
        // A follower that gives up at once, again and again.
        for _ in 0..10 {
            let _ = tokio::time::timeout(Duration::ZERO, wakeups.wait()).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // One listening connection at most (the listener's own), once the cut one is gone.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let listening: i64 = sqlx::query_scalar(LISTENING)
                .fetch_one(&probe)
                .await
                .unwrap();
            if listening <= 1 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {round}: {listening} connections sent LISTEN; a pooled one was left behind"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Commits notify; every pooled connection then serves a query.
        let expected = if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        };
        version = store
            .append(request(&case, expected, 1))
            .await
            .unwrap()
            .last_version;
        let start = store::Position::START;
        let reads = tokio::join!(
            store.read_all(start, 1),
            store.read_all(start, 1),
            store.read_all(start, 1)
        );
        for read in [reads.0, reads.1, reads.2] {
            read.expect("a pooled connection reads without meeting a notification");
        }
    }
    probe.close().await;
}

/// Runs only on PostgreSQL: TOAST compression is PostgreSQL's. A large snapshot is stored out
/// of line as it is, not compressed: loading it must not decompress the whole case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stores_snapshots_uncompressed() {
    let db = TestDatabase::postgres().await;
    let store = db.store().await;
    let case = stream("large");
    let mut append = request(&case, ExpectedVersion::NoStream, 1);
    // 1,000 entries of the same shape: pglz would shrink it to a fraction.
    let entries: serde_json::Map<String, Value> = (0..1000)
        .map(|i| {
            (
                format!("subject-{i:04}"),
                json!(["ResponsibilityCommitment"]),
            )
        })
        .collect();
    append.snapshot = Some(store::SnapshotUpdate {
        snapshot_number: 1,
        payload: json!({ "staff_commitments": entries }),
    });
    store.append(append).await.unwrap();
    db.execute(
        "DO $$ BEGIN \
           IF (SELECT pg_column_size(payload) < octet_length(payload::text) FROM snapshots) \
           THEN RAISE EXCEPTION 'the snapshot was stored compressed'; END IF; \
         END $$",
    )
    .await
    .unwrap();
}

pub fn actor() -> ActorRecord {
    ActorRecord {
        subject: "SE2321000032-officer1".into(),
        role: "officer".into(),
        region: "dalarna".into(),
        provider_org: None,
    }
}

pub fn new_event(event_type: &str, payload: Value) -> NewEvent {
    NewEvent {
        event_type: event_type.into(),
        event_version: "1".into(),
        payload,
    }
}

/// A request with a fresh command id and `n` small events.
pub fn request(stream: &StreamRef, expected: ExpectedVersion, n: usize) -> AppendRequest {
    AppendRequest {
        stream: stream.clone(),
        expected,
        metadata: EventMetadata::new(Uuid::now_v7(), Some(actor())),
        events: (0..n)
            .map(|i| new_event("Noted", json!({"i": i, "note": format!("note {i}")})))
            .collect(),
        snapshot: None,
    }
}

pub fn stream(id: &str) -> StreamRef {
    StreamRef::new("Case", id)
}
