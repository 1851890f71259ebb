//! The cqrs-es side: the repository under `PersistedEventStore` and `CqrsFramework`, the
//! snapshotting `AggregateStore`, upcasting.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cqrs_es::persist::{PersistedEventRepository, PersistedEventStore};
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventStore as _};
use serde_json::json;
use store::testing::TestDatabase;
use store::{
    ActorRecord, AggregateStore, AppendRequest, EventMetadata, EventStore, ExpectedVersion,
    NewEvent, Position, StoreOptions, StreamRef, metadata_keys,
};
use uuid::Uuid;

use crate::aggregate::{Checklist, ChecklistCommand, ChecklistEvent, item_ticked_v1, upcasters};

fn checklist(id: &str) -> StreamRef {
    StreamRef::new(Checklist::TYPE, id)
}

fn replay(events: impl IntoIterator<Item = ChecklistEvent>) -> Checklist {
    let mut aggregate = Checklist::default();
    for event in events {
        aggregate.apply(event);
    }
    aggregate
}

/// Overwrites the payload of event `version` of checklist `id` with one no `Checklist` event
/// reads, behind the store's back.
async fn make_unreadable(db: &TestDatabase, id: &str, version: u64) {
    db.disable_append_only_guard().await;
    db.execute(&format!(
        "UPDATE events SET payload = '\"unreadable\"' \
         WHERE stream_type = 'Checklist' AND stream_id = '{id}' AND version = {version}"
    ))
    .await
    .unwrap();
}

fn metadata() -> EventMetadata {
    EventMetadata {
        command_id: Uuid::now_v7(),
        correlation_id: Uuid::now_v7(),
        causation_id: Some(Uuid::now_v7()),
        actor: Some(ActorRecord {
            subject: "SE2321000032-it5".into(),
            role: "region_it".into(),
            region: "dalarna".into(),
            provider_org: None,
        }),
        extra: BTreeMap::from([("request_id".to_owned(), "r-9".to_owned())]),
    }
}

pub async fn an_old_event_version_is_read_through_an_upcaster(db: TestDatabase) {
    let store = db
        .store_with(StoreOptions {
            upcasters: Arc::new(upcasters()),
            ..StoreOptions::default()
        })
        .await;
    // Stored as an older release of the code wrote it: ItemTicked at version 1.
    store
        .append(AppendRequest {
            stream: checklist("c1"),
            expected: ExpectedVersion::NoStream,
            metadata: EventMetadata::new(Uuid::now_v7(), None),
            events: vec![
                NewEvent {
                    event_type: "Opened".into(),
                    event_version: "1".into(),
                    payload: json!({"Opened": {"title": "Go-live"}}),
                },
                NewEvent {
                    event_type: "ItemTicked".into(),
                    event_version: "1".into(),
                    payload: item_ticked_v1("firewall"),
                },
            ],
            snapshot: None,
        })
        .await
        .unwrap();

    // Followers see the current version (as cqrs-es's semantic-version upcaster writes it).
    let events = store.read_all(Position::START, 10).await.unwrap();
    assert_eq!(events[1].event_version, "2.0.0");
    let current: ChecklistEvent = serde_json::from_value(events[1].payload.clone()).unwrap();
    assert_eq!(
        current,
        ChecklistEvent::ItemTicked {
            item: "firewall".into(),
            note: String::new()
        }
    );

    // Aggregates load through cqrs-es's PersistedEventStore with the same upcasters...
    let persisted = PersistedEventStore::<EventStore, Checklist>::new_event_store(store.clone())
        .with_upcasters(upcasters());
    let loaded = persisted.load_aggregate("c1").await.unwrap();
    assert_eq!(loaded.aggregate.ticked, ["firewall"]);
    // ... and through the store's own aggregate store, which uses the store's upcasters.
    let own = store.aggregate_store::<Checklist>();
    assert_eq!(
        own.load_aggregate("c1").await.unwrap().aggregate,
        loaded.aggregate
    );

    // Without upcasters the stored form is what comes back, and can be upcast by hand.
    let plain = EventStore::connect(db.url(), StoreOptions::default())
        .await
        .unwrap();
    let stored = plain.read_all(Position::START, 10).await.unwrap().remove(1);
    assert_eq!(
        (stored.event_version.as_str(), &stored.payload),
        ("1", &item_ticked_v1("firewall"))
    );
    let upcast = stored.upcast(&upcasters());
    assert_eq!(
        (upcast.event_version, upcast.payload),
        ("2.0.0".to_owned(), events[1].payload.clone())
    );
    // The chain covers the stored form.
    assert!(store.verify().await.unwrap().is_intact());
}

/// Every event of checklist `id`, in order, as `load_events` reads them.
async fn events_of(aggregates: &AggregateStore<Checklist>, id: &str) -> Vec<ChecklistEvent> {
    aggregates
        .load_events(id)
        .await
        .unwrap()
        .into_iter()
        .map(|envelope| envelope.payload)
        .collect()
}

/// A store snapshotting every ten events, and checklist "c" opened through `CqrsFramework`
/// on it (one event).
async fn opened_checklist_with_snapshots_every_ten(
    db: &TestDatabase,
) -> (
    EventStore,
    CqrsFramework<Checklist, AggregateStore<Checklist>>,
) {
    let store = db
        .store_with(StoreOptions {
            snapshot_every: 10,
            ..StoreOptions::default()
        })
        .await;
    let cqrs = CqrsFramework::new(store.aggregate_store::<Checklist>(), vec![], ());
    cqrs.execute(
        "c",
        ChecklistCommand::Open {
            title: "Go-live Vårdcentral Norr".into(),
        },
    )
    .await
    .unwrap();
    (store, cqrs)
}

pub async fn snapshots_are_taken_every_n_events_and_loading_reads_only_what_follows(
    db: TestDatabase,
) {
    let (store, cqrs) = opened_checklist_with_snapshots_every_ten(&db).await;
    // Single ticks and pairs, so some commands straddle a multiple of ten: 95 events.
    let mut events = 1;
    let mut i = 0;
    while events < 95 {
        let command = if i % 3 == 0 && events <= 93 {
            events += 2;
            ChecklistCommand::TickPair {
                first: format!("item-{i}-a"),
                second: format!("item-{i}-b"),
            }
        } else {
            events += 1;
            ChecklistCommand::Tick {
                item: format!("item-{i}"),
                note: format!("checked {i}"),
            }
        };
        cqrs.execute("c", command).await.unwrap();
        i += 1;
    }

    let aggregates = store.aggregate_store::<Checklist>();
    let all = events_of(&aggregates, "c").await;
    assert_eq!(all.len(), 95);
    let full_replay = replay(all.clone());
    assert_eq!(full_replay.events_applied, 95);

    let snapshot = store.snapshot(&checklist("c")).await.unwrap().unwrap();
    assert_eq!(snapshot.snapshot_number, 9, "one snapshot per ten events");
    assert!(
        (90..=91).contains(&snapshot.version),
        "{}",
        snapshot.version
    );
    let version = usize::try_from(snapshot.version).unwrap();
    let at_snapshot: Checklist = serde_json::from_value(snapshot.payload).unwrap();
    assert_eq!(at_snapshot, replay(all[..version].to_vec()));

    let loaded = aggregates.load_aggregate("c").await.unwrap();
    assert_eq!(loaded.aggregate, full_replay);
    assert_eq!(loaded.current_sequence, 95);
    assert_eq!(loaded.current_snapshot, Some(9));
    // cqrs-es's own loader reads the same snapshot the same way.
    let persisted =
        PersistedEventStore::<EventStore, Checklist>::new_snapshot_store(store.clone(), 10);
    assert_eq!(
        persisted.load_aggregate("c").await.unwrap().aggregate,
        full_replay
    );

    // Proof that the events before the snapshot are not read: make one unreadable.
    make_unreadable(&db, "c", 5).await;
    assert!(matches!(
        aggregates.load_events("c").await,
        Err(AggregateError::DeserializationError(_))
    ));
    let from_snapshot = aggregates.load_aggregate("c").await.unwrap();
    assert_eq!(from_snapshot.aggregate, full_replay);
}

/// A snapshot of a shape the aggregate no longer reads (an older release's) is passed over: the
/// load replays the whole stream instead of failing or starting from a default state.
pub async fn a_snapshot_the_aggregate_cannot_read_is_ignored_and_the_stream_replayed(
    db: TestDatabase,
) {
    let (store, cqrs) = opened_checklist_with_snapshots_every_ten(&db).await;
    for i in 0..24 {
        cqrs.execute(
            "c",
            ChecklistCommand::Tick {
                item: format!("item-{i}"),
                note: format!("checked {i}"),
            },
        )
        .await
        .unwrap();
    }
    db.execute("UPDATE snapshots SET payload = '{\"shape\": \"of an older release\"}'")
        .await
        .unwrap();
    let aggregates = store.aggregate_store::<Checklist>();
    let all = events_of(&aggregates, "c").await;
    assert_eq!(all.len(), 25);

    let loaded = aggregates.load_aggregate("c").await.unwrap();
    assert_eq!(loaded.aggregate, replay(all));
    assert_eq!(loaded.current_sequence, 25);
    assert_eq!(
        loaded.current_snapshot,
        Some(2),
        "the next snapshot is numbered after it"
    );
}

pub async fn a_cached_aggregate_is_the_replayed_one_with_other_writers_events_after_it(
    db: TestDatabase,
) {
    let cached =
        |store: &EventStore| CqrsFramework::new(store.aggregate_store::<Checklist>(), vec![], ());
    let options = StoreOptions {
        snapshot_every: 10,
        cached_aggregates: 16,
        ..StoreOptions::default()
    };
    // Two processes' stores on one log, each with its own cache, and one without a cache.
    let here = db.store_with(options.clone()).await;
    let there = db.store_with(options).await;
    let uncached = db
        .store_with(StoreOptions {
            snapshot_every: 10,
            ..StoreOptions::default()
        })
        .await;
    let tick = |i: usize| ChecklistCommand::Tick {
        item: format!("item-{i}"),
        note: String::new(),
    };
    let (cqrs_here, cqrs_there) = (cached(&here), cached(&there));
    cqrs_here
        .execute(
            "c",
            ChecklistCommand::Open {
                title: "Go-live".into(),
            },
        )
        .await
        .unwrap();
    for i in 0..12 {
        cqrs_here.execute("c", tick(i)).await.unwrap();
    }
    // Another process writes after this one's cached state (version 13).
    for i in 12..14 {
        cqrs_there.execute("c", tick(i)).await.unwrap();
    }
    let truth = || async {
        uncached
            .aggregate_store::<Checklist>()
            .load_aggregate("c")
            .await
    };
    let loaded = here
        .aggregate_store::<Checklist>()
        .load_aggregate("c")
        .await
        .unwrap();
    assert_eq!(loaded.current_sequence, 15);
    assert_eq!(loaded.aggregate, truth().await.unwrap().aggregate);
    assert_eq!(loaded.aggregate.events_applied, 15);
    assert_eq!(loaded.current_snapshot, Some(1));

    // A command here starts from the cached state plus the other process's events, so it
    // commits (no conflict) and its snapshot numbering goes on.
    for i in 14..20 {
        cqrs_here.execute("c", tick(i)).await.unwrap();
    }
    let snapshot = here.snapshot(&checklist("c")).await.unwrap().unwrap();
    assert_eq!((snapshot.snapshot_number, snapshot.version), (2, 20));
    let expected = truth().await.unwrap();

    // Proof that the cached state is what a command here starts from: with an event before
    // it made unreadable and the snapshots gone, a load without the cache fails, this one
    // does not.
    make_unreadable(&db, "c", 16).await;
    db.execute("DELETE FROM snapshots").await.unwrap();
    assert!(matches!(
        truth().await,
        Err(AggregateError::DeserializationError(_))
    ));
    let from_cache = here
        .aggregate_store::<Checklist>()
        .load_aggregate("c")
        .await
        .unwrap();
    assert_eq!(from_cache.aggregate, expected.aggregate);
    assert_eq!(from_cache.current_sequence, 21);
}

pub async fn a_replayed_command_leaves_the_cached_state_as_the_log_has_it(db: TestDatabase) {
    let store = db
        .store_with(StoreOptions {
            cached_aggregates: 16,
            ..StoreOptions::default()
        })
        .await;
    let cqrs = CqrsFramework::new(store.aggregate_store::<Checklist>(), vec![], ());
    let tick = |item: &str| ChecklistCommand::Tick {
        item: item.into(),
        note: String::new(),
    };
    cqrs.execute(
        "c",
        ChecklistCommand::Open {
            title: "Go-live".into(),
        },
    )
    .await
    .unwrap();
    let once = metadata();
    cqrs.execute_with_metadata("c", tick("firewall"), once.to_map())
        .await
        .unwrap();
    // The same command id with another decision: the store replays the first, records
    // nothing, and the state this decision left must not be taken for the log's.
    cqrs.execute_with_metadata("c", tick("backup"), once.to_map())
        .await
        .unwrap();
    let loaded = store
        .aggregate_store::<Checklist>()
        .load_aggregate("c")
        .await
        .unwrap();
    assert_eq!(loaded.aggregate.ticked, ["firewall"]);
    assert_eq!(loaded.current_sequence, 2);
    // The next command starts from the log's state, so it commits at version 3.
    cqrs.execute("c", tick("backup")).await.unwrap();
    let uncached = EventStore::connect(db.url(), StoreOptions::default())
        .await
        .unwrap()
        .aggregate_store::<Checklist>()
        .load_aggregate("c")
        .await
        .unwrap();
    assert_eq!(uncached.aggregate.ticked, ["firewall", "backup"]);
    assert_eq!(uncached.current_sequence, 3);
}

pub async fn the_cqrs_framework_appends_with_metadata_and_retries_are_idempotent(db: TestDatabase) {
    let store = db.store().await;
    let cqrs = CqrsFramework::new(
        PersistedEventStore::<EventStore, Checklist>::new_event_store(store.clone()),
        vec![],
        (),
    );
    let opened = metadata();
    cqrs.execute_with_metadata(
        "c1",
        ChecklistCommand::Open {
            title: "Go-live".into(),
        },
        opened.to_map(),
    )
    .await
    .unwrap();
    let outcome = store
        .command_outcome(opened.command_id)
        .await
        .unwrap()
        .expect("the command's outcome is recorded");
    assert_eq!(
        (
            outcome.stream,
            outcome.first_position,
            outcome.last_position
        ),
        (checklist("c1"), Position(1), Position(1))
    );
    let recorded = store.read_all(Position::START, 10).await.unwrap().remove(0);
    assert_eq!(recorded.metadata, opened);
    assert_eq!(recorded.event_type, "Opened");

    // A retry of a command that was appended (same command id) writes nothing.
    let tick = metadata();
    let first_tick = ChecklistCommand::Tick {
        item: "firewall".into(),
        note: String::new(),
    };
    cqrs.execute_with_metadata("c1", first_tick, tick.to_map())
        .await
        .unwrap();
    let retry = ChecklistCommand::Tick {
        item: "backup".into(),
        note: String::new(),
    };
    cqrs.execute_with_metadata("c1", retry, tick.to_map())
        .await
        .unwrap();
    assert_eq!(
        store
            .read_stream(&checklist("c1"), 0, 10)
            .await
            .unwrap()
            .len(),
        2
    );

    // Rules still come from the aggregate.
    let again = ChecklistCommand::Open {
        title: "Again".into(),
    };
    assert!(matches!(
        cqrs.execute_with_metadata("c1", again, metadata().to_map())
            .await,
        Err(AggregateError::UserError(_))
    ));

    // A stale commit is an optimistic-lock conflict.
    let persisted = PersistedEventStore::<EventStore, Checklist>::new_event_store(store.clone());
    let stale = persisted.load_aggregate("c1").await.unwrap();
    cqrs.execute("c1", ChecklistCommand::Close).await.unwrap();
    assert!(matches!(
        persisted
            .commit(vec![ChecklistEvent::Closed], stale, metadata().to_map())
            .await,
        Err(AggregateError::AggregateConflict)
    ));

    // Plain execute: a fresh command id, no actor.
    let last = store.read_all(Position(2), 10).await.unwrap().remove(0);
    assert_eq!(last.event_type, "Closed");
    assert_eq!(last.metadata.command_id.get_version_num(), 7);
    assert_eq!(last.metadata.actor, None);

    // Malformed metadata is refused.
    let mut malformed = HashMap::new();
    malformed.insert(
        metadata_keys::COMMAND_ID.to_owned(),
        "not-a-uuid".to_owned(),
    );
    let open = ChecklistCommand::Open {
        title: "Other".into(),
    };
    assert!(
        cqrs.execute_with_metadata("c2", open, malformed)
            .await
            .is_err()
    );
    assert_eq!(store.head().await.unwrap(), Position(3));

    // The same through the store's own aggregate store: a retry commits nothing.
    let own = CqrsFramework::new(store.aggregate_store::<Checklist>(), vec![], ());
    let open_c3 = metadata();
    let open = ChecklistCommand::Open {
        title: "Three".into(),
    };
    own.execute_with_metadata("c3", open, open_c3.to_map())
        .await
        .unwrap();
    own.execute_with_metadata("c3", ChecklistCommand::Close, open_c3.to_map())
        .await
        .unwrap();
    assert_eq!(
        store
            .read_stream(&checklist("c3"), 0, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.head().await.unwrap(), Position(4));
}

pub async fn cqrs_replay_streams_yield_every_event(db: TestDatabase) {
    let store = db.store().await;
    let cqrs = CqrsFramework::new(store.aggregate_store::<Checklist>(), vec![], ());
    for id in ["c1", "c2"] {
        cqrs.execute(id, ChecklistCommand::Open { title: id.into() })
            .await
            .unwrap();
    }
    for id in ["c1", "c2"] {
        cqrs.execute(
            id,
            ChecklistCommand::TickPair {
                first: "a".into(),
                second: "b".into(),
            },
        )
        .await
        .unwrap();
    }
    let mut all = store.stream_all_events::<Checklist>().await.unwrap();
    let mut seen = Vec::new();
    while let Some(envelope) = all.next::<Checklist>(&[]).await {
        let envelope = envelope.unwrap();
        seen.push((envelope.aggregate_id, envelope.sequence));
    }
    let expected: Vec<(String, usize)> = [
        ("c1", 1),
        ("c2", 1),
        ("c1", 2),
        ("c1", 3),
        ("c2", 2),
        ("c2", 3),
    ]
    .into_iter()
    .map(|(id, sequence)| (id.to_owned(), sequence))
    .collect();
    assert_eq!(seen, expected);

    let mut one = store.stream_events::<Checklist>("c2").await.unwrap();
    let mut sequences = Vec::new();
    while let Some(envelope) = one.next::<Checklist>(&[]).await {
        sequences.push(envelope.unwrap().sequence);
    }
    assert_eq!(sequences, [1, 2, 3]);
}
