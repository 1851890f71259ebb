//! cqrs-es integration.
//!
//! * [`EventStore`] implements cqrs-es's `PersistedEventRepository`, so
//!   `PersistedEventStore::new_event_store(store.clone())` and `CqrsFramework` work unchanged.
//!   Metadata travels as the [`crate::metadata_keys`] entries of cqrs-es's metadata map; an
//!   append without a command id gets a fresh one (so plain `execute` works, without
//!   idempotency across retries). The stream type is `Aggregate::TYPE`.
//! * [`AggregateStore`] is a cqrs-es `EventStore` over the same repository that takes
//!   snapshots correctly and applies the store's upcasters; use it when snapshots are wanted
//!   ([`EventStore::aggregate_store`]).
//!
//! Why not cqrs-es 0.5's own snapshotting (`PersistedEventStore::new_snapshot_store`)? In
//! 0.5, `Aggregate::handle` applies each event to the aggregate as it writes it to the
//! `EventSink`, and `PersistedEventStore::commit` then applies the same events to that
//! aggregate once more before serialising the snapshot. Any `apply` that is not idempotent
//! (pushing to a list, counting) yields a wrong snapshot, and the aggregate loaded from it
//! differs from a full replay. The repository stores whatever snapshot it is given, so that
//! path still works mechanically, but Anslut uses [`AggregateStore`].
//!
//! Do not register cqrs-es `Query` processors: they run in-process after commit and miss
//! events on a crash. Read models follow the log with [`EventStore::read_all`] instead.

use std::collections::HashMap;
use std::marker::PhantomData;

use cqrs_es::persist::{
    EventStoreAggregateContext, PersistedEventRepository, PersistenceError, ReplayStream,
    SerializedEvent, SerializedSnapshot,
};
use cqrs_es::{Aggregate, AggregateError, EventEnvelope};
use serde_json::Value;

use crate::cache::Cached;
use crate::error::StoreError;
use crate::model::{
    AppendOutcome, AppendRequest, EventMetadata, ExpectedVersion, NewEvent, Position,
    RecordedEvent, SnapshotUpdate, StreamRef,
};
use crate::store::EventStore;

/// How many events a cqrs-es replay stream buffers.
const REPLAY_BUFFER: usize = 256;

fn to_serialized(event: RecordedEvent) -> Result<SerializedEvent, PersistenceError> {
    Ok(SerializedEvent {
        aggregate_id: event.stream.stream_id,
        sequence: usize::try_from(event.version)
            .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?,
        aggregate_type: event.stream.stream_type,
        event_type: event.event_type,
        event_version: event.event_version,
        payload: event.payload,
        metadata: serde_json::to_value(event.metadata.to_map())?,
    })
}

/// The number of the stream's latest snapshot once `request` is committed: the one it
/// carries, or the one the context was loaded with.
fn snapshot_number<A: Aggregate>(
    request: &AppendRequest,
    context: &EventStoreAggregateContext<A>,
) -> Result<Option<usize>, PersistenceError> {
    request
        .snapshot
        .as_ref()
        .map_or(Ok(context.current_snapshot), |snapshot| {
            usize::try_from(snapshot.snapshot_number)
                .map(Some)
                .map_err(|e| PersistenceError::UnknownError(Box::new(e)))
        })
}

fn sequence(n: usize) -> u64 {
    u64::try_from(n).expect("usize fits in u64")
}

impl EventStore {
    /// The events of one cqrs-es aggregate as an append request.
    fn request_from_serialized(
        events: &[SerializedEvent],
        snapshot: Option<SnapshotUpdate>,
    ) -> Result<AppendRequest, StoreError> {
        let first = events
            .first()
            .ok_or_else(|| StoreError::Invalid("no events".into()))?;
        for (offset, event) in events.iter().enumerate() {
            if event.sequence != first.sequence + offset
                || event.aggregate_id != first.aggregate_id
                || event.aggregate_type != first.aggregate_type
            {
                return Err(StoreError::Invalid(
                    "cqrs-es events of one commit must be consecutive in one aggregate".into(),
                ));
            }
        }
        let map: HashMap<String, String> = serde_json::from_value(first.metadata.clone())
            .map_err(|e| StoreError::Invalid(format!("cqrs-es metadata: {e}")))?;
        Ok(AppendRequest {
            stream: StreamRef::new(first.aggregate_type.clone(), first.aggregate_id.clone()),
            expected: ExpectedVersion::Exact(sequence(first.sequence.saturating_sub(1))),
            metadata: EventMetadata::from_map(&map)?,
            events: events
                .iter()
                .map(|event| NewEvent {
                    event_type: event.event_type.clone(),
                    event_version: event.event_version.clone(),
                    payload: event.payload.clone(),
                })
                .collect(),
            snapshot,
        })
    }

    /// A cqrs-es `EventStore` for aggregate `A` over this store, snapshotting every
    /// `StoreOptions::snapshot_every` events (never when 0) and upcasting with the store's
    /// upcasters.
    pub fn aggregate_store<A: Aggregate>(&self) -> AggregateStore<A> {
        AggregateStore {
            store: self.clone(),
            snapshot_every: self.options().snapshot_every,
            _aggregate: PhantomData,
        }
    }
}

impl PersistedEventRepository for EventStore {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let stream = StreamRef::new(A::TYPE, aggregate_id);
        self.read_stream_to_end(&stream, 0, false)
            .await?
            .into_iter()
            .map(to_serialized)
            .collect()
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let stream = StreamRef::new(A::TYPE, aggregate_id);
        self.read_stream_to_end(&stream, sequence(last_sequence), false)
            .await?
            .into_iter()
            .map(to_serialized)
            .collect()
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        let stream = StreamRef::new(A::TYPE, aggregate_id);
        let Some(snapshot) = self.snapshot(&stream).await? else {
            return Ok(None);
        };
        let to_usize = |n: u64| {
            usize::try_from(n).map_err(|e| PersistenceError::DeserializationError(Box::new(e)))
        };
        Ok(Some(SerializedSnapshot {
            aggregate_id: aggregate_id.to_owned(),
            aggregate: snapshot.payload,
            current_sequence: to_usize(snapshot.version)?,
            current_snapshot: to_usize(snapshot.snapshot_number)?,
        }))
    }

    /// One append (expected version: the first event's sequence − 1), with the snapshot in
    /// the same transaction; the snapshot covers the last of these events.
    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if events.is_empty() {
            return Ok(());
        }
        let snapshot = snapshot_update.map(|(_, payload, number)| SnapshotUpdate {
            snapshot_number: sequence(number),
            payload,
        });
        let request = Self::request_from_serialized(events, snapshot)?;
        self.append(request).await?;
        Ok(())
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        let (mut feed, stream) = ReplayStream::new(REPLAY_BUFFER);
        let store = self.clone();
        let stream_ref = StreamRef::new(A::TYPE, aggregate_id);
        tokio::spawn(async move {
            let mut after = 0;
            loop {
                let page = match store
                    .read_stream_as(&stream_ref, after, crate::store::PAGE, false)
                    .await
                {
                    Ok(page) => page,
                    Err(error) => {
                        drop(feed.push(Err(error.into())).await);
                        return;
                    }
                };
                let Some(last) = page.last() else { return };
                after = last.version;
                for event in page {
                    if feed.push(to_serialized(event)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(stream)
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        let (mut feed, stream) = ReplayStream::new(REPLAY_BUFFER);
        let store = self.clone();
        tokio::spawn(async move {
            let mut after = Position::START;
            loop {
                let page = match store.read_type_page(A::TYPE, after).await {
                    Ok(page) => page,
                    Err(error) => {
                        drop(feed.push(Err(error.into())).await);
                        return;
                    }
                };
                let Some(last) = page.last() else { return };
                after = last.position;
                for event in page {
                    if feed.push(to_serialized(event)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(stream)
    }
}

/// A cqrs-es `EventStore` for aggregate `A`: loads from the latest snapshot plus the events
/// after it, commits events and (every `snapshot_every` events) a snapshot in one append.
///
/// A command whose command id was appended before (a retry) commits nothing and returns no
/// envelopes; `EventStore::command_outcome` tells the caller what the original appended.
///
/// The snapshot is the aggregate as `handle` left it: cqrs-es 0.5 applies every event to the
/// aggregate when it is written to the `EventSink`, so after `handle` the aggregate already
/// reflects all of the command's events (see the module docs for why cqrs-es's own
/// snapshotting is not used).
pub struct AggregateStore<A> {
    store: EventStore,
    snapshot_every: usize,
    _aggregate: PhantomData<fn() -> A>,
}

impl<A> std::fmt::Debug for AggregateStore<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateStore")
            .field("snapshot_every", &self.snapshot_every)
            .finish_non_exhaustive()
    }
}

impl<A: Aggregate + Clone + 'static> AggregateStore<A> {
    /// Commits like `cqrs_es::EventStore::commit` and answers with what the store recorded
    /// (positions, versions, `replayed` when the command id had been appended before), so a
    /// caller needs no second round trip to learn it; `None` when there were no events.
    ///
    /// # Errors
    /// As `commit`: a conflict, the store's error (a `StoreError` inside), or an event that
    /// does not serialise.
    pub async fn commit_with_outcome(
        &self,
        events: Vec<A::Event>,
        context: &EventStoreAggregateContext<A>,
        metadata: &HashMap<String, String>,
    ) -> Result<Option<AppendOutcome>, AggregateError<A::Error>> {
        let Some((envelopes, request)) = self.prepare(events, context, metadata)? else {
            return Ok(None);
        };
        Ok(Some(
            self.append_and_cache(request, context, envelopes.len())
                .await?,
        ))
    }

    /// Appends `request` (`events` events after the context's version) and, unless the store
    /// replayed an earlier command with its id (then nothing of this decision was recorded,
    /// and the state it left never existed in the log), caches the aggregate as it left it.
    async fn append_and_cache(
        &self,
        request: AppendRequest,
        context: &EventStoreAggregateContext<A>,
        events: usize,
    ) -> Result<AppendOutcome, PersistenceError> {
        let snapshot = snapshot_number(&request, context)?;
        let outcome = self.store.append(request).await?;
        if !outcome.replayed {
            self.store.inner.aggregates.put(
                &context.aggregate_id,
                Cached {
                    aggregate: context.aggregate.clone(),
                    version: context.current_sequence + events,
                    snapshot,
                },
            );
        }
        Ok(outcome)
    }

    /// The envelopes of a command's events and the append request that records them, with
    /// a snapshot when this commit crosses a multiple of `snapshot_every`.
    #[expect(
        clippy::type_complexity,
        reason = "a private pair of what commit needs, named at its two callers"
    )]
    fn prepare(
        &self,
        events: Vec<A::Event>,
        context: &EventStoreAggregateContext<A>,
        metadata: &HashMap<String, String>,
    ) -> Result<Option<(Vec<EventEnvelope<A>>, AppendRequest)>, AggregateError<A::Error>> {
        let envelopes: Vec<EventEnvelope<A>> = events
            .into_iter()
            .zip(context.current_sequence + 1..)
            .map(|(payload, sequence)| EventEnvelope {
                aggregate_id: context.aggregate_id.clone(),
                sequence,
                payload,
                metadata: metadata.clone(),
            })
            .collect();
        if envelopes.is_empty() {
            return Ok(None);
        }
        let serialized = envelopes
            .iter()
            .map(SerializedEvent::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let every = self.snapshot_every;
        let before = context.current_sequence;
        let after = before + envelopes.len();
        let snapshot = if every > 0 && after / every > before / every {
            Some(SnapshotUpdate {
                snapshot_number: sequence(context.current_snapshot.map_or(1, |n| n + 1)),
                payload: serde_json::to_value(&context.aggregate)?,
            })
        } else {
            None
        };
        let request = EventStore::request_from_serialized(&serialized, snapshot)
            .map_err(PersistenceError::from)?;
        Ok(Some((envelopes, request)))
    }

    async fn envelopes(
        &self,
        aggregate_id: &str,
        after_version: u64,
    ) -> Result<Vec<EventEnvelope<A>>, PersistenceError> {
        let stream = StreamRef::new(A::TYPE, aggregate_id);
        self.store
            .read_stream_to_end(&stream, after_version, true)
            .await?
            .into_iter()
            .map(|event| EventEnvelope::try_from(to_serialized(event)?))
            .collect()
    }
}

impl<A: Aggregate + Clone + 'static> cqrs_es::EventStore<A> for AggregateStore<A> {
    type AC = EventStoreAggregateContext<A>;

    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        Ok(self.envelopes(aggregate_id, 0).await?)
    }

    async fn load_aggregate(
        &self,
        aggregate_id: &str,
    ) -> Result<EventStoreAggregateContext<A>, AggregateError<A::Error>> {
        let mut context = EventStoreAggregateContext {
            aggregate_id: aggregate_id.to_owned(),
            aggregate: A::default(),
            current_sequence: 0,
            current_snapshot: None,
        };
        let cache = &self.store.inner.aggregates;
        let cached = cache.get::<A>(aggregate_id);
        let hit = cached.is_some();
        if let Some(cached) = cached {
            context.aggregate = cached.aggregate;
            context.current_sequence = cached.version;
            context.current_snapshot = cached.snapshot;
        } else if self.snapshot_every > 0 {
            let stream = StreamRef::new(A::TYPE, aggregate_id);
            // A snapshot of an older aggregate shape (or not JSON at all) is ignored: replay
            // everything, and the next snapshot replaces it.
            let parse = |text: &str| serde_json::from_str::<A>(text).ok();
            if let Some((version, number, aggregate)) = self
                .store
                .snapshot_parsed(&stream, parse)
                .await
                .map_err(PersistenceError::from)?
            {
                context.current_snapshot = Some(
                    usize::try_from(number)
                        .map_err(|e| AggregateError::UnexpectedError(Box::new(e)))?,
                );
                if let Some(aggregate) = aggregate {
                    context.aggregate = aggregate;
                    context.current_sequence = usize::try_from(version)
                        .map_err(|e| AggregateError::UnexpectedError(Box::new(e)))?;
                }
            }
        }
        let envelopes = self
            .envelopes(aggregate_id, sequence(context.current_sequence))
            .await?;
        let read = envelopes.len();
        for envelope in envelopes {
            context.current_sequence = envelope.sequence;
            context.aggregate.apply(envelope.payload);
        }
        // What was read from the store is cached too, so that the next command on this
        // stream (this one may be refused) starts from it.
        if cache.enabled() && (!hit || read > 0) && context.current_sequence > 0 {
            cache.put(
                aggregate_id,
                Cached {
                    aggregate: context.aggregate.clone(),
                    version: context.current_sequence,
                    snapshot: context.current_snapshot,
                },
            );
        }
        Ok(context)
    }

    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: EventStoreAggregateContext<A>,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let Some((envelopes, request)) = self.prepare(events, &context, &metadata)? else {
            return Ok(Vec::new());
        };
        let outcome = self
            .append_and_cache(request, &context, envelopes.len())
            .await?;
        // A retried command that was appended before: nothing was committed now, so nothing
        // is returned (and `CqrsFramework` dispatches nothing).
        if outcome.replayed {
            return Ok(Vec::new());
        }
        Ok(envelopes)
    }
}
