//! Appending and reading: metadata, positions, paging, conflicts, atomicity, idempotency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use store::canonical::to_canonical_string;
use store::testing::TestDatabase;
use store::{
    ActorRecord, AppendRequest, CodecContext, CodecError, EventHash, EventMetadata, EventStore,
    ExpectedVersion, PayloadCodec, Position, StoreError, StoreOptions,
};
use uuid::Uuid;

use crate::{new_event, request, stream};

pub async fn an_append_reads_back_with_all_its_metadata(db: TestDatabase) {
    let store = db.store().await;
    let case = stream("case-1");
    let metadata = EventMetadata {
        command_id: Uuid::now_v7(),
        correlation_id: Uuid::now_v7(),
        causation_id: Some(Uuid::now_v7()),
        actor: Some(ActorRecord {
            subject: "SE2321000032-provider7".into(),
            role: "provider".into(),
            region: "dalarna".into(),
            provider_org: Some("5560360793".into()),
        }),
        extra: BTreeMap::from([("request_id".to_owned(), "req-17".to_owned())]),
    };
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    let outcome = store
        .append(AppendRequest {
            stream: case.clone(),
            expected: ExpectedVersion::NoStream,
            metadata: metadata.clone(),
            events: vec![
                new_event("ApplicationSubmitted", json!({"unit": "Vårdcentral Norr"})),
                new_event("ContractSigned", json!({"signed_on": "2026-02-01"})),
            ],
            snapshot: None,
        })
        .await
        .unwrap();

    assert_eq!(outcome.stream, case);
    assert_eq!(outcome.command_id, metadata.command_id);
    assert_eq!((outcome.first_version, outcome.last_version), (1, 2));
    assert_eq!(
        (outcome.first_position, outcome.last_position),
        (Position(1), Position(2))
    );
    assert!(!outcome.replayed);
    assert_eq!(outcome.len(), 2);

    let events = store.read_stream(&case, 0, 100).await.unwrap();
    assert_eq!(events, store.read_all(Position::START, 100).await.unwrap());
    assert_eq!(events.len(), 2);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.position, Position(i as u64 + 1));
        assert_eq!(event.version, i as u64 + 1);
        assert_eq!(event.stream, case);
        assert_eq!(event.metadata, metadata);
        assert_eq!(event.event_version, "1");
        assert_eq!(event.event_id.get_version_num(), 7);
        assert_eq!(event.recorded_at, outcome.recorded_at);
        assert!(event.recorded_at > before);
        assert_eq!(event.recorded_at.timestamp_subsec_nanos() % 1000, 0);
    }
    assert_eq!(events[0].event_type, "ApplicationSubmitted");
    assert_eq!(events[0].payload, json!({"unit": "Vårdcentral Norr"}));
    assert_eq!(events[1].event_type, "ContractSigned");
    assert_ne!(events[0].event_id, events[1].event_id);
    assert_eq!(events[0].prev_hash, EventHash::ZERO);
    assert_eq!(events[1].prev_hash, events[0].hash);

    let recorded = store
        .command_outcome(metadata.command_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        recorded,
        store::AppendOutcome {
            replayed: true,
            ..outcome
        }
    );
    assert_eq!(store.command_outcome(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(store.head().await.unwrap(), Position(2));
}

pub async fn positions_are_dense_across_streams_and_appends(db: TestDatabase) {
    let store = db.store().await;
    let mut expected_versions = BTreeMap::new();
    for i in 0..12 {
        let case = stream(&format!("case-{}", i % 4));
        let version = expected_versions.entry(case.clone()).or_insert(0);
        let outcome = store
            .append(request(&case, ExpectedVersion::Exact(*version), i % 3 + 1))
            .await
            .unwrap();
        *version = outcome.last_version;
    }
    let all = store.read_all(Position::START, 1000).await.unwrap();
    let positions: Vec<u64> = all.iter().map(|e| e.position.0).collect();
    assert_eq!(positions, (1..=all.len() as u64).collect::<Vec<_>>());
    assert_eq!(store.head().await.unwrap(), Position(all.len() as u64));
    for (case, version) in expected_versions {
        let versions: Vec<u64> = store
            .read_stream(&case, 0, 1000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.version)
            .collect();
        assert_eq!(versions, (1..=version).collect::<Vec<_>>());
    }
}

pub async fn read_all_pages_through_the_log_in_order(db: TestDatabase) {
    let store = db.store().await;
    for i in 0..5 {
        store
            .append(request(
                &stream(&format!("c{i}")),
                ExpectedVersion::NoStream,
                5,
            ))
            .await
            .unwrap();
    }
    let full = store.read_all(Position::START, 1000).await.unwrap();
    assert_eq!(full.len(), 25);
    let mut paged = Vec::new();
    let mut after = Position::START;
    let mut sizes = Vec::new();
    loop {
        let page = store.read_all(after, 7).await.unwrap();
        if page.is_empty() {
            break;
        }
        sizes.push(page.len());
        after = page.last().unwrap().position;
        paged.extend(page);
    }
    assert_eq!(sizes, [7, 7, 7, 4]);
    assert_eq!(paged, full);
    assert_eq!(
        store.read_all(Position(20), 100).await.unwrap(),
        full[20..].to_vec()
    );
    assert_eq!(
        store.read_stream(&stream("c2"), 2, 2).await.unwrap(),
        full[12..14].to_vec()
    );
    // Bounds past the database's BIGINT: nothing comes after such a position or version, and
    // such a limit is no limit. Never an error.
    assert!(
        store
            .read_all(Position(u64::MAX), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.read_all(Position::START, u64::MAX).await.unwrap(),
        full
    );
    assert!(
        store
            .read_stream(&stream("c2"), u64::MAX, u64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn a_stale_append_conflicts_and_writes_nothing(db: TestDatabase) {
    let store = db.store().await;
    let case = stream("case-1");
    store
        .append(request(&case, ExpectedVersion::NoStream, 2))
        .await
        .unwrap();
    for expected in [
        ExpectedVersion::Exact(0),
        ExpectedVersion::Exact(1),
        ExpectedVersion::Exact(3),
        ExpectedVersion::NoStream,
    ] {
        let stale = request(&case, expected, 3);
        let command_id = stale.metadata.command_id;
        match store.append(stale).await {
            Err(StoreError::Conflict {
                stream,
                expected: e,
                actual,
            }) => {
                assert_eq!((stream, e, actual), (case.clone(), expected, 2));
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(store.command_outcome(command_id).await.unwrap(), None);
    }
    assert_eq!(store.head().await.unwrap(), Position(2));
    let ok = store
        .append(request(&case, ExpectedVersion::Exact(2), 1))
        .await
        .unwrap();
    assert_eq!(ok.last_version, 3);
    let any = store
        .append(request(&case, ExpectedVersion::Any, 1))
        .await
        .unwrap();
    assert_eq!((any.last_version, any.last_position), (4, Position(4)));
}

pub async fn a_request_is_all_or_none_and_its_batch_neighbours_are_unaffected(db: TestDatabase) {
    let store = db.store().await;
    let a = request(&stream("a"), ExpectedVersion::NoStream, 2);
    // Two events prepare fine, the third has a number without a canonical form.
    let mut poisoned = request(&stream("b"), ExpectedVersion::NoStream, 2);
    poisoned
        .events
        .push(new_event("Measured", json!({"value": 0.5})));
    let c = request(&stream("c"), ExpectedVersion::NoStream, 3);
    let stale = request(&stream("a"), ExpectedVersion::Exact(7), 2);
    let (poisoned_id, stale_id) = (poisoned.metadata.command_id, stale.metadata.command_id);

    let answers = store
        .append_batch(vec![a.clone(), poisoned, c.clone(), stale])
        .await;
    assert_eq!(answers.len(), 4);
    let first = answers[0].as_ref().unwrap();
    assert!(
        matches!(answers[1], Err(StoreError::Invalid(_))),
        "{answers:?}"
    );
    let third = answers[2].as_ref().unwrap();
    assert!(matches!(
        answers[3],
        Err(StoreError::Conflict { actual: 2, .. })
    ));
    // Neighbours in the same transaction: consecutive positions, one recorded_at.
    assert_eq!(first.last_position.next(), third.first_position);
    assert_eq!(first.recorded_at, third.recorded_at);

    let all = store.read_all(Position::START, 100).await.unwrap();
    let streams: Vec<&str> = all.iter().map(|e| e.stream.stream_id.as_str()).collect();
    assert_eq!(streams, ["a", "a", "c", "c", "c"]);
    assert!(
        store
            .read_stream(&stream("b"), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.command_outcome(poisoned_id).await.unwrap(), None);
    assert_eq!(store.command_outcome(stale_id).await.unwrap(), None);
    assert!(store.verify().await.unwrap().is_intact());
}

pub async fn a_failed_transaction_writes_nothing_and_a_retry_with_the_same_command_id_succeeds(
    db: TestDatabase,
) {
    let store = db.store().await;
    store
        .append(request(&stream("before"), ExpectedVersion::NoStream, 1))
        .await
        .unwrap();
    // A trigger that fails the insert of one event type: the failure happens inside the
    // database, in the middle of writing the batch.
    let fault = if db.is_postgres() {
        "CREATE FUNCTION fail_boom() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.event_type = 'Boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER fail_boom BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION fail_boom();"
    } else {
        "CREATE TRIGGER fail_boom BEFORE INSERT ON events WHEN NEW.event_type = 'Boom' \
         BEGIN SELECT RAISE(ABORT, 'boom'); END;"
    };
    db.execute(fault).await.unwrap();

    let innocent = request(&stream("innocent"), ExpectedVersion::NoStream, 2);
    let mut failing = request(&stream("failing"), ExpectedVersion::NoStream, 2);
    failing.events.push(new_event("Boom", json!({})));
    let answers = store
        .append_batch(vec![innocent.clone(), failing.clone()])
        .await;
    assert!(answers.iter().all(Result::is_err), "{answers:?}");
    assert!(
        matches!(answers[1], Err(StoreError::Database(_))),
        "{answers:?}"
    );
    assert_eq!(store.head().await.unwrap(), Position(1));
    assert_eq!(
        store
            .command_outcome(innocent.metadata.command_id)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .read_stream(&stream("failing"), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Retrying is safe: same command id, now written once.
    let retried = store.append(innocent.clone()).await.unwrap();
    assert!(!retried.replayed);
    assert_eq!(retried.first_position, Position(2));
    assert!(store.verify().await.unwrap().is_intact());
}

pub async fn replaying_a_command_returns_the_original_outcome_and_writes_nothing(db: TestDatabase) {
    let store = db.store().await;
    let case = stream("case-1");
    let original = request(&case, ExpectedVersion::NoStream, 2);
    let first = store.append(original.clone()).await.unwrap();
    store
        .append(request(&case, ExpectedVersion::Exact(2), 1))
        .await
        .unwrap();
    let log_before = store.read_all(Position::START, 100).await.unwrap();

    // The same command again, now stale and with other events: the original outcome.
    let mut retry = original.clone();
    retry.events.push(new_event("Extra", json!({})));
    let replayed = store.append(retry).await.unwrap();
    assert_eq!(
        replayed,
        store::AppendOutcome {
            replayed: true,
            ..first.clone()
        }
    );
    assert_eq!(
        store.read_all(Position::START, 100).await.unwrap(),
        log_before
    );

    // Two copies of a new command in one batch: written once, the copy replays it.
    let twice = request(&case, ExpectedVersion::Exact(3), 1);
    let answers = store.append_batch(vec![twice.clone(), twice]).await;
    let (a, b) = (answers[0].as_ref().unwrap(), answers[1].as_ref().unwrap());
    assert!(!a.replayed && b.replayed);
    assert_eq!(a.first_position, b.first_position);
    assert_eq!(store.head().await.unwrap(), Position(4));
}

pub async fn a_command_id_reused_on_another_stream_is_refused(db: TestDatabase) {
    let store = db.store().await;
    let original = request(&stream("one"), ExpectedVersion::NoStream, 1);
    store.append(original.clone()).await.unwrap();
    let mut elsewhere = request(&stream("two"), ExpectedVersion::NoStream, 1);
    elsewhere.metadata.command_id = original.metadata.command_id;
    match store.append(elsewhere.clone()).await {
        Err(StoreError::CommandIdReused {
            command_id,
            stream: s,
        }) => {
            assert_eq!(
                (command_id, s),
                (original.metadata.command_id, stream("one"))
            );
        }
        other => panic!("expected CommandIdReused, got {other:?}"),
    }
    elsewhere.events.clear();
    assert!(matches!(
        store.append(elsewhere).await,
        Err(StoreError::CommandIdReused { .. })
    ));
    assert_eq!(store.head().await.unwrap(), Position(1));
}

pub async fn an_append_of_no_events_writes_nothing_and_reports_the_current_version(
    db: TestDatabase,
) {
    let store = db.store().await;
    let case = stream("case-1");
    store
        .append(request(&case, ExpectedVersion::NoStream, 3))
        .await
        .unwrap();
    let empty = store
        .append(request(&case, ExpectedVersion::Exact(3), 0))
        .await
        .unwrap();
    assert!(empty.is_empty());
    assert_eq!((empty.first_version, empty.last_version), (4, 3));
    assert_eq!(
        (empty.first_position, empty.last_position),
        (Position(4), Position(3))
    );
    assert_eq!(store.command_outcome(empty.command_id).await.unwrap(), None);
    assert!(matches!(
        store
            .append(request(&case, ExpectedVersion::Exact(1), 0))
            .await,
        Err(StoreError::Conflict { actual: 3, .. })
    ));
    assert_eq!(store.head().await.unwrap(), Position(3));
}

pub async fn payloads_survive_the_round_trip_byte_for_byte_after_canonicalisation(
    db: TestDatabase,
) {
    let store = db.store().await;
    let payloads = [
        json!({"name": "Vårdcentral Åre – \"Norr\"", "emoji": "😀", "nul": "a\u{0}b", "ctl": "\u{1f}\t\n"}),
        json!({"z": {"y": {"x": [1, [2, [3, {"deep": true}]]]}}, "a": null, "m": []}),
        json!({"max": u64::MAX, "min": i64::MIN, "zero": 0, "neg": -1, "big": 9_007_199_254_740_993_u64}),
        json!(["a", 1, false, null, {}]),
        json!("just a string"),
        json!({"html": "</script>", "slash": "a/b", "backslash": "c:\\d", "del": "\u{7f}"}),
        json!({"": "empty key", "é": 1, "e": 2, "Z": 3}),
    ];
    let case = stream("unicode");
    store
        .append(AppendRequest {
            events: payloads
                .iter()
                .map(|p| new_event("Payload", p.clone()))
                .collect(),
            ..request(&case, ExpectedVersion::NoStream, 0)
        })
        .await
        .unwrap();
    let events = store.read_stream(&case, 0, 100).await.unwrap();
    for (event, original) in events.iter().zip(&payloads) {
        assert_eq!(&event.payload, original);
        assert_eq!(
            to_canonical_string(&event.payload).unwrap(),
            to_canonical_string(original).unwrap()
        );
    }
    // verify recomputes every hash from the stored rows: the stored bytes are the hashed ones.
    assert!(store.verify().await.unwrap().is_intact());

    for not_canonical in [json!({"f": 1.5}), json!(1e300), json!({"n": [0.1]})] {
        let refused = store
            .append(AppendRequest {
                events: vec![new_event("Payload", not_canonical)],
                ..request(&case, ExpectedVersion::Any, 0)
            })
            .await;
        assert!(
            matches!(refused, Err(StoreError::Invalid(_))),
            "{refused:?}"
        );
    }
}

pub async fn migrations_can_run_twice(db: TestDatabase) {
    let store = db.store().await;
    store
        .append(request(&stream("case"), ExpectedVersion::NoStream, 2))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let again = EventStore::connect(db.url(), StoreOptions::default())
        .await
        .unwrap();
    again.migrate().await.unwrap();
    assert_eq!(again.head().await.unwrap(), Position(2));
    assert!(again.verify().await.unwrap().is_intact());
}

pub async fn followers_are_woken_by_appends(db: TestDatabase) {
    let store = db.store().await;
    let mut head = store.subscribe();
    let mut wakeups = store.listen().await.unwrap();
    let writer = store.clone();
    let appended = tokio::spawn(async move {
        writer
            .append(request(&stream("case"), ExpectedVersion::NoStream, 3))
            .await
            .unwrap()
    });
    tokio::time::timeout(Duration::from_secs(10), wakeups.wait())
        .await
        .expect("woken within 10 s")
        .unwrap();
    let outcome = appended.await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        head.wait_for(|h| *h >= outcome.last_position),
    )
    .await
    .expect("the head is published")
    .unwrap();
    assert_eq!(*head.borrow(), Position(3));
}

pub async fn other_stores_wake_followers_through_notify(db: TestDatabase) {
    let follower = db.store().await;
    let other_process = EventStore::connect(db.url(), StoreOptions::default())
        .await
        .unwrap();
    let mut wakeups = follower.listen().await.unwrap();
    other_process
        .append(request(&stream("case"), ExpectedVersion::NoStream, 1))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), wakeups.wait())
        .await
        .expect("woken by the other store's commit within 10 s")
        .unwrap();
    // The follower's own in-process head did not move: only NOTIFY carried the news.
    assert_eq!(*follower.subscribe().borrow(), Position::START);
    assert_eq!(
        follower.read_all(Position::START, 10).await.unwrap().len(),
        1
    );
}

/// Seals payloads on the way in and opens them on the way out, as an encrypting codec would;
/// refuses payloads it has no key for.
struct Sealing;

#[async_trait::async_trait]
impl PayloadCodec for Sealing {
    async fn encode(
        &self,
        context: &CodecContext<'_>,
        payload: Value,
    ) -> Result<Value, CodecError> {
        if payload.get("subject_without_key").is_some() {
            return Err(CodecError::Invalid("no key for this data subject".into()));
        }
        Ok(json!({"sealed": payload, "for": context.event_type}))
    }

    async fn decode(&self, _: &CodecContext<'_>, stored: Value) -> Result<Value, CodecError> {
        stored
            .get("sealed")
            .cloned()
            .ok_or_else(|| CodecError::Invalid("not sealed".to_owned()))
    }
}

pub async fn a_payload_codec_encodes_before_hashing_and_decodes_on_read(db: TestDatabase) {
    let store = db
        .store_with(StoreOptions {
            codec: Arc::new(Sealing),
            ..StoreOptions::default()
        })
        .await;
    let case = stream("case-1");
    let payload = json!({"name": "Anna Andersson", "n": 1});
    store
        .append(AppendRequest {
            events: vec![new_event("ContactAdded", payload.clone())],
            ..request(&case, ExpectedVersion::NoStream, 0)
        })
        .await
        .unwrap();
    let read = store.read_all(Position::START, 10).await.unwrap();
    assert_eq!(read[0].payload, payload);

    // What is stored, and hashed, is the encoded form.
    let raw = EventStore::connect(db.url(), StoreOptions::default())
        .await
        .unwrap();
    let stored = raw.read_all(Position::START, 10).await.unwrap();
    assert_eq!(
        stored[0].payload,
        json!({"sealed": payload, "for": "ContactAdded"})
    );
    assert!(raw.verify().await.unwrap().is_intact());

    // A payload the codec cannot encode fails the whole request.
    let refused = store
        .append(AppendRequest {
            events: vec![
                new_event("ContactAdded", json!({"name": "B"})),
                new_event("ContactAdded", json!({"subject_without_key": true})),
            ],
            ..request(&case, ExpectedVersion::Exact(1), 0)
        })
        .await;
    assert!(matches!(refused, Err(StoreError::Codec(_))), "{refused:?}");
    assert_eq!(store.head().await.unwrap(), Position(1));
}

/// A codec whose key table can be switched off, as a database outage or an exhausted pool
/// would. Clones share the switch.
#[derive(Clone, Default)]
struct Outage {
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Outage {
    fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), CodecError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            Err(CodecError::from_database(sqlx::Error::PoolTimedOut))
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl PayloadCodec for Outage {
    async fn encode(&self, _: &CodecContext<'_>, payload: Value) -> Result<Value, CodecError> {
        self.check().map(|()| payload)
    }

    async fn decode(&self, _: &CodecContext<'_>, stored: Value) -> Result<Value, CodecError> {
        self.check().map(|()| stored)
    }
}

pub async fn a_codec_that_cannot_reach_its_keys_makes_the_store_unavailable_not_corrupt(
    db: TestDatabase,
) {
    let outage = Outage::default();
    let store = db
        .store_with(StoreOptions {
            codec: Arc::new(outage.clone()),
            ..StoreOptions::default()
        })
        .await;
    let case = stream("case-1");
    let first = new_event("ContactAdded", json!({"n": 1}));
    store
        .append(AppendRequest {
            events: vec![first],
            ..request(&case, ExpectedVersion::NoStream, 0)
        })
        .await
        .unwrap();

    outage.set_down(true);
    let refused = store
        .append(AppendRequest {
            events: vec![new_event("ContactAdded", json!({"n": 2}))],
            ..request(&case, ExpectedVersion::Exact(1), 1)
        })
        .await;
    assert!(
        matches!(&refused, Err(e @ StoreError::Unavailable(_)) if e.is_retryable()),
        "{refused:?}"
    );
    assert_eq!(store.head().await.unwrap(), Position(1), "nothing written");
    let read = store.read_all(Position::START, 10).await;
    assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");
    let read = store.read_stream(&case, 0, 10).await;
    assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");

    outage
        .down
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let retried = store
        .append(AppendRequest {
            events: vec![new_event("ContactAdded", json!({"n": 2}))],
            ..request(&case, ExpectedVersion::Exact(1), 1)
        })
        .await
        .unwrap();
    assert_eq!(retried.last_position, Position(2));
    assert_eq!(store.read_all(Position::START, 10).await.unwrap().len(), 2);
}

/// `command_outcome_settled` waits for a commit in flight: while another transaction holds the
/// log's lock (as a writer whose connection broke mid-commit may, until the server ends it), it
/// does not answer "not recorded"; once that transaction has ended, it answers what the log
/// holds. The plain lookup answers at once.
pub async fn a_settled_command_lookup_waits_for_the_commit_in_flight(db: TestDatabase) {
    use sqlx::Connection as _;
    let store = db.store().await;
    store
        .append(request(&stream("before"), ExpectedVersion::NoStream, 1))
        .await
        .unwrap();
    // Someone holds the log's lock, as the store's writer does while it commits.
    let mut holder = if db.is_postgres() {
        let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
        sqlx::raw_sql("BEGIN; UPDATE log_head SET position = position WHERE id = 1")
            .execute(&mut conn)
            .await
            .unwrap();
        LockHolder::Postgres(conn)
    } else {
        let mut conn = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .unwrap();
        LockHolder::Sqlite(conn)
    };
    let appended = request(&stream("in-flight"), ExpectedVersion::NoStream, 1);
    let command_id = appended.metadata.command_id;
    let appending = tokio::spawn({
        let store = store.clone();
        async move { store.append(appended).await }
    });
    // The append queues behind the lock; then the settled lookup does.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let settled = tokio::spawn({
        let store = store.clone();
        async move { store.command_outcome_settled(command_id).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.command_outcome(command_id).await.unwrap(), None);
    assert!(
        !settled.is_finished(),
        "the settled lookup answered while a commit was in flight"
    );
    holder.release().await;
    let outcome = appending.await.unwrap().unwrap();
    let settled = settled.await.unwrap().unwrap();
    if db.is_postgres() {
        // Row locks are granted in the order they were asked for: the writer's first.
        assert_eq!(
            settled,
            Some(store::AppendOutcome {
                replayed: true,
                ..outcome
            })
        );
    }
    // Once the commit has ended, both lookups agree with the log.
    assert!(
        store
            .command_outcome_settled(command_id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.command_outcome_settled(Uuid::now_v7()).await.unwrap(),
        None
    );
}

/// A connection holding the log's lock in an open transaction.
enum LockHolder {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl LockHolder {
    async fn release(&mut self) {
        match self {
            Self::Postgres(conn) => {
                sqlx::raw_sql("ROLLBACK").execute(conn).await.unwrap();
            }
            Self::Sqlite(conn) => {
                sqlx::raw_sql("ROLLBACK").execute(conn).await.unwrap();
            }
        }
    }
}
