//! [`EventStore`]: connecting, appending through the single writer, and reading.

use std::sync::Arc;

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use dbkit::{Durability, PoolPolicy};
use serde_json::Value;
use sqlx::postgres::PgListener;
use sqlx::{Postgres, Sqlite};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::cache::AggregateCache;
use crate::canonical;
use crate::dialect::NOTIFY_CHANNEL;
use crate::engine::{Engine, PreparedAppend, PreparedEvent};
use crate::error::StoreError;
use crate::model::{
    AppendOutcome, AppendRequest, EventMetadata, Position, RecordedEvent, StoredSnapshot, StreamRef,
};
use crate::options::{CodecContext, StoreOptions};
use crate::tail::Tail;

/// Events per page when a read has no limit of its own (loading a stream, verifying).
pub(crate) const PAGE: u64 = 1000;

pub(crate) enum Backend {
    Postgres(Arc<Engine<Postgres>>),
    Sqlite(Arc<Engine<Sqlite>>),
}

/// Runs `$body` with `$engine` bound to the concrete engine of the store's backend.
macro_rules! dispatch {
    ($store:expr, $engine:ident => $body:expr) => {
        match &$store.inner.backend {
            Backend::Postgres($engine) => $body,
            Backend::Sqlite($engine) => $body,
        }
    };
}
pub(crate) use dispatch;

pub(crate) struct Job {
    pub append: PreparedAppend,
    pub reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
}

pub(crate) struct Inner {
    pub backend: Backend,
    writes: mpsc::Sender<Vec<Job>>,
    head: watch::Sender<Position>,
    pub options: StoreOptions,
    pub aggregates: AggregateCache,
    tail: Arc<Tail>,
}

/// Anslut's event store: one log with a gap-free global order over PostgreSQL or SQLite.
///
/// Cheap to clone; clones share the pools and the single writer task. The writer ends when
/// the last clone is dropped.
#[derive(Clone)]
pub struct EventStore {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for EventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.inner.backend {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite(_) => "sqlite",
        };
        f.debug_struct("EventStore")
            .field("backend", &backend)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl EventStore {
    /// Connects to `postgres://…` / `postgresql://…`, or to an SQLite file given as
    /// `sqlite://path?mode=rwc` (created if missing with `mode=rwc`) or as a plain path
    /// (always created if missing). In-memory SQLite is refused: every pooled connection
    /// would see a different database. Does not migrate: call [`EventStore::migrate`].
    ///
    /// Must be called within a Tokio runtime: it spawns the writer task.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let policy = PoolPolicy {
            // The writer task and a reader may each need a connection at once.
            max_connections: options.max_connections.max(2),
            sqlite_readers: options.sqlite_readers,
            acquire_timeout: options.acquire_timeout,
            busy_timeout: options.acquire_timeout,
            durability: if options.sqlite_durable {
                Durability::Full
            } else {
                Durability::Normal
            },
            secure_delete: false,
            purpose: "the event log",
        };
        let backend = match dbkit::connect(url, &policy).await? {
            dbkit::Db::Postgres(pools) => Backend::Postgres(Arc::new(Engine {
                write_pool: pools.write.clone(),
                read_pool: pools.read.clone(),
            })),
            dbkit::Db::Sqlite(pools) => Backend::Sqlite(Arc::new(Engine {
                write_pool: pools.write.clone(),
                read_pool: pools.read.clone(),
            })),
        };
        let (writes, requests) = mpsc::channel(options.max_batch.max(1) * 4);
        let (head, _) = watch::channel(Position::START);
        let max_batch = options.max_batch.max(1);
        match &backend {
            Backend::Postgres(engine) => {
                tokio::spawn(
                    engine
                        .clone()
                        .serve_writes(requests, head.clone(), max_batch),
                );
            }
            Backend::Sqlite(engine) => {
                tokio::spawn(
                    engine
                        .clone()
                        .serve_writes(requests, head.clone(), max_batch),
                );
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                backend,
                writes,
                head,
                aggregates: AggregateCache::new(options.cached_aggregates),
                tail: Arc::new(Tail::new(options.tail_events)),
                options,
            }),
        })
    }

    /// Creates or updates the schema (embedded migrations; running them again is a no-op).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        dispatch!(self, engine => engine.migrate().await)?;
        let head = self.head().await?;
        self.publish(head);
        Ok(())
    }

    pub fn options(&self) -> &StoreOptions {
        &self.inner.options
    }

    /// Whether this store runs on PostgreSQL (otherwise SQLite).
    pub fn is_postgres(&self) -> bool {
        matches!(self.inner.backend, Backend::Postgres(_))
    }

    /// Appends a command's events to one stream, all or none.
    ///
    /// * If `metadata.command_id` was appended before to the same stream, returns that
    ///   append's outcome with `replayed = true` and writes nothing (whatever the events and
    ///   expected version of this request); to another stream, fails with
    ///   [`StoreError::CommandIdReused`].
    /// * If the stream is not at `expected`, fails with [`StoreError::Conflict`].
    /// * With no events, writes nothing and returns an empty outcome at the current version
    ///   (after the same two checks).
    ///
    /// Concurrent appends are written together by the store's writer, in one transaction,
    /// but are decided one by one: one request's conflict does not affect another's.
    #[tracing::instrument(skip_all, fields(stream = %request.stream, command_id = %request.metadata.command_id, events = request.events.len()))]
    pub async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        let prepared = self.prepare(request).await?;
        if prepared.events.is_empty() {
            return self.append_nothing(&prepared).await;
        }
        let (reply, answer) = oneshot::channel();
        self.submit(vec![Job {
            append: prepared,
            reply,
        }])
        .await?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Appends several requests in one transaction (e.g. an import), answering each as
    /// [`EventStore::append`] would. A request that fails validation, conflicts or reuses a
    /// command id fails alone; the others are still written.
    pub async fn append_batch(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Vec<Result<AppendOutcome, StoreError>> {
        enum Slot {
            Done(Result<AppendOutcome, StoreError>),
            Waiting(oneshot::Receiver<Result<AppendOutcome, StoreError>>),
        }
        let mut slots = Vec::with_capacity(requests.len());
        let mut jobs = Vec::new();
        for request in requests {
            match self.prepare(request).await {
                Err(error) => slots.push(Slot::Done(Err(error))),
                Ok(prepared) if prepared.events.is_empty() => {
                    slots.push(Slot::Done(self.append_nothing(&prepared).await));
                }
                Ok(prepared) => {
                    let (reply, answer) = oneshot::channel();
                    jobs.push(Job {
                        append: prepared,
                        reply,
                    });
                    slots.push(Slot::Waiting(answer));
                }
            }
        }
        let submitted = if jobs.is_empty() {
            Ok(())
        } else {
            self.submit(jobs).await
        };
        let mut answers = Vec::with_capacity(slots.len());
        for slot in slots {
            answers.push(match (slot, &submitted) {
                (Slot::Done(answer), _) => answer,
                (Slot::Waiting(_), Err(error)) => Err(error.clone()),
                (Slot::Waiting(answer), Ok(())) => {
                    answer.await.unwrap_or_else(|_| Err(writer_gone()))
                }
            });
        }
        answers
    }

    async fn submit(&self, jobs: Vec<Job>) -> Result<(), StoreError> {
        self.inner
            .writes
            .send(jobs)
            .await
            .map_err(|_| writer_gone())
    }

    /// Validates, encodes and canonicalises a request in the caller's task, so the writer
    /// (which holds the log's lock) only assigns positions and hashes.
    async fn prepare(&self, request: AppendRequest) -> Result<PreparedAppend, StoreError> {
        request.stream.validate()?;
        let codec = &self.inner.options.codec;
        let mut events = Vec::with_capacity(request.events.len());
        for (index, event) in request.events.into_iter().enumerate() {
            for (what, value) in [
                ("event type", &event.event_type),
                ("event version", &event.event_version),
            ] {
                if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
                    return Err(StoreError::Invalid(format!(
                        "event {index}: a {what} is 1 to 256 bytes without control characters"
                    )));
                }
            }
            let context = CodecContext {
                stream: &request.stream,
                event_type: &event.event_type,
                event_version: &event.event_version,
            };
            let encoded = codec
                .encode(&context, event.payload)
                .await
                .map_err(|e| e.into_store_error(&format!("event {index}")))?;
            let payload = canonical::to_canonical_string(&encoded).map_err(|e| {
                StoreError::Invalid(format!("event {index} ({}): {e}", event.event_type))
            })?;
            events.push(PreparedEvent {
                event_id: Uuid::now_v7(),
                event_type: event.event_type,
                event_version: event.event_version,
                payload,
            });
        }
        let metadata = request.metadata;
        let hashed_metadata = canonical::to_canonical_string(&metadata.hashed_json())
            .map_err(|e| StoreError::Invalid(format!("metadata: {e}")))?;
        let extra_metadata = canonical::to_canonical_string(&serde_json::json!(metadata.extra))
            .map_err(|e| StoreError::Invalid(format!("metadata: {e}")))?;
        let snapshot = request
            .snapshot
            .map(|s| {
                serde_json::to_string(&s.payload)
                    .map(|payload| (s.snapshot_number, payload))
                    .map_err(|e| StoreError::Invalid(format!("snapshot: {e}")))
            })
            .transpose()?;
        Ok(PreparedAppend {
            stream: request.stream,
            expected: request.expected,
            metadata,
            hashed_metadata,
            extra_metadata,
            events,
            snapshot,
        })
    }

    /// An append of no events: the same checks as a real one, read without the writer.
    async fn append_nothing(&self, append: &PreparedAppend) -> Result<AppendOutcome, StoreError> {
        if let Some(original) = self.command_outcome(append.metadata.command_id).await? {
            return if original.stream == append.stream {
                Ok(original)
            } else {
                Err(StoreError::CommandIdReused {
                    command_id: append.metadata.command_id,
                    stream: original.stream,
                })
            };
        }
        let (version, head) =
            dispatch!(self, engine => engine.stream_version_and_head(&append.stream).await)?;
        if !append.expected.admits(version) {
            return Err(StoreError::Conflict {
                stream: append.stream.clone(),
                expected: append.expected,
                actual: version,
            });
        }
        Ok(AppendOutcome {
            stream: append.stream.clone(),
            command_id: append.metadata.command_id,
            first_version: version + 1,
            last_version: version,
            first_position: head.next(),
            last_position: head,
            recorded_at: chrono::Utc::now(),
            replayed: false,
        })
    }

    /// The last position in the log (`Position(0)` when empty).
    pub async fn head(&self) -> Result<Position, StoreError> {
        dispatch!(self, engine => engine.head().await)
    }

    /// What the command appended, if it was appended: callers use it after
    /// `CqrsFramework::execute_with_metadata` to learn the positions, and before executing a
    /// retried command to answer it without running it again.
    pub async fn command_outcome(
        &self,
        command_id: Uuid,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        dispatch!(self, engine => engine.command(command_id).await)
    }

    /// What the command appended, if it was appended, asked once no append is in flight: a
    /// `None` here is final for every attempt that had started before the call (a commit
    /// whose connection broke has ended by then, one way or the other). For telling a client
    /// whose command's outcome was unknown what happened; costs a short wait on the log's
    /// lock, so [`EventStore::command_outcome`] is the one for ordinary replays.
    pub async fn command_outcome_settled(
        &self,
        command_id: Uuid,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        if let Some(found) = self.command_outcome(command_id).await? {
            return Ok(Some(found));
        }
        dispatch!(self, engine => engine.command_settled(command_id).await)
    }

    /// Up to `limit` events after `after`, in position order, with the store's codec and
    /// upcasters applied (so `event_version` and `payload` are current; `hash` still refers to
    /// the stored form).
    ///
    /// Gap-free: positions are dense and become visible in order, so a follower that keeps
    /// its last position and asks for what comes after it never skips an event. An empty
    /// answer means the follower is at the head; wait on [`EventStore::subscribe`] or
    /// [`EventStore::listen`] before asking again.
    pub async fn read_all(
        &self,
        after: Position,
        limit: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let read = dispatch!(self, engine => engine.read_all(after.0, limit).await)?;
        self.to_recorded_all(read, true).await
    }

    /// [`EventStore::read_all`] for this process's live followers (projectors, outbox, audit):
    /// the same answer, from the events another follower just read when the tail
    /// (`crate::tail`) can give it, else from the database, one such reader at a time. Not
    /// for readers that serve clients: the tail holds decoded events.
    pub async fn read_tail(
        &self,
        after: Position,
        limit: u64,
    ) -> Result<Vec<Arc<RecordedEvent>>, StoreError> {
        let tail = &self.inner.tail;
        let read = |events: Vec<RecordedEvent>| events.into_iter().map(Arc::new).collect();
        if !tail.enabled() || tail.behind(after) {
            return Ok(read(self.read_all(after, limit).await?));
        }
        if let Some(events) = tail.serve(after, limit, *self.inner.head.borrow()) {
            return Ok(events);
        }
        let _turn = tail.filling.lock().await;
        if let Some(events) = tail.serve(after, limit, *self.inner.head.borrow()) {
            return Ok(events);
        }
        let epoch = tail.epoch();
        let events: Vec<Arc<RecordedEvent>> = read(self.read_all(after, limit).await?);
        tail.fill(epoch, after, limit, &events);
        Ok(events)
    }

    /// Tells the tail what a notification on [`NOTIFY_CHANNEL`] announced (its payload: the
    /// head another process committed), so that no follower is told it caught up short of it.
    pub fn notified(&self, payload: &str) {
        self.inner.tail.notified(payload);
    }

    /// Drops every event the tail holds (erasing a data subject calls it, so that nothing
    /// decoded before the key was destroyed is handed out again).
    pub fn clear_tail(&self) {
        self.inner.tail.clear();
    }

    /// A follower's scan of the log after `after` for events that `keep` admits by their
    /// metadata alone (e.g. a tenancy recorded in it): reads pages of stored rows, tests each
    /// row's metadata before its payload is parsed or decoded, stops at `limit` kept events,
    /// at the head of the log, or after `budget` rows, and decodes (codec, upcasters) only the
    /// events it returns, as one page. So a caller who may see few of the events costs a
    /// metadata test per row, not a decryption.
    pub async fn read_all_where(
        &self,
        after: Position,
        limit: usize,
        budget: u64,
        keep: impl Fn(&EventMetadata) -> bool,
    ) -> Result<FilteredRead, StoreError> {
        let mut kept = Vec::new();
        let mut read = FilteredRead {
            events: Vec::new(),
            scanned: 0,
            last_scanned: after,
            at_head: false,
        };
        'pages: while kept.len() < limit && read.scanned < budget {
            let wanted = PAGE.min(budget - read.scanned);
            let page = dispatch!(self, engine => engine.read_all_stored(read.last_scanned.0, wanted).await)?;
            let full = page.len() as u64 == wanted;
            for stored in page {
                read.scanned += 1;
                read.last_scanned = Position(stored.position);
                if keep(&stored.metadata()?) {
                    kept.push(stored.into_recorded()?);
                    if kept.len() == limit {
                        break 'pages;
                    }
                }
            }
            if !full {
                read.at_head = true;
                break;
            }
        }
        read.events = self.to_recorded_all(kept, true).await?;
        Ok(read)
    }

    /// Up to `limit` events of one stream after `after_version`, in version order, with codec
    /// and upcasters applied.
    pub async fn read_stream(
        &self,
        stream: &StreamRef,
        after_version: u64,
        limit: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_stream_as(stream, after_version, limit, true)
            .await
    }

    pub(crate) async fn read_stream_as(
        &self,
        stream: &StreamRef,
        after_version: u64,
        limit: u64,
        upcast: bool,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let stored =
            dispatch!(self, engine => engine.read_stream(stream, after_version, limit).await)?;
        self.to_recorded_all(stored, upcast).await
    }

    /// Every event of a stream after `after_version`, read page by page.
    pub(crate) async fn read_stream_to_end(
        &self,
        stream: &StreamRef,
        after_version: u64,
        upcast: bool,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = Vec::new();
        let mut after = after_version;
        loop {
            let page = self.read_stream_as(stream, after, PAGE, upcast).await?;
            let full = page.len() as u64 == PAGE;
            if let Some(last) = page.last() {
                after = last.version;
            }
            events.extend(page);
            if !full {
                return Ok(events);
            }
        }
    }

    pub(crate) async fn read_type_page(
        &self,
        stream_type: &str,
        after: Position,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let stored = dispatch!(self, engine => engine.read_type(stream_type, after.0, PAGE).await)?;
        self.to_recorded_all(stored, false).await
    }

    /// The stream's latest snapshot (version, snapshot number, payload) with the payload as
    /// `parse` makes it from the stored text, for a load that deserialises it straight into its
    /// aggregate: a snapshot of a large case is tens of kilobytes, and going through a `Value`
    /// (or a copy of the text) first adds to its cost.
    pub(crate) async fn snapshot_parsed<T>(
        &self,
        stream: &StreamRef,
        parse: impl FnOnce(&str) -> T,
    ) -> Result<Option<(u64, u64, T)>, StoreError> {
        let found = dispatch!(self, engine => engine.snapshot(stream, parse).await)?;
        Ok(found.map(|(version, number, payload, _)| (version, number, payload)))
    }

    /// The stream's latest snapshot, if one was taken.
    pub async fn snapshot(&self, stream: &StreamRef) -> Result<Option<StoredSnapshot>, StoreError> {
        let parse = |text: &str| serde_json::from_str::<Value>(text);
        let found = dispatch!(self, engine => engine.snapshot(stream, parse).await)?;
        found
            .map(|(version, snapshot_number, payload, recorded_at)| {
                Ok(StoredSnapshot {
                    stream: stream.clone(),
                    version,
                    snapshot_number,
                    payload: payload
                        .map_err(|e| StoreError::Corrupt(format!("snapshot of {stream}: {e}")))?,
                    recorded_at,
                })
            })
            .transpose()
    }

    /// The head as last published by this process's writer; changes after every commit.
    /// A wake-up signal for in-process followers, not a source of truth: read with
    /// [`EventStore::read_all`] from your own checkpoint. Other processes' appends do not show
    /// here; use [`EventStore::listen`] for those.
    pub fn subscribe(&self) -> watch::Receiver<Position> {
        self.inner.head.subscribe()
    }

    /// Wake-ups for followers: on SQLite, this process's commits; on PostgreSQL, also every
    /// other process's, through `LISTEN` on [`NOTIFY_CHANNEL`] (which holds one of the pool's
    /// connections for as long as the [`Wakeups`] lives).
    pub async fn listen(&self) -> Result<Wakeups, StoreError> {
        let remote = match &self.inner.backend {
            Backend::Postgres(engine) => {
                let mut listener = PgListener::connect_with(&engine.read_pool).await?;
                listener.listen(NOTIFY_CHANNEL).await?;
                let (sender, receiver) = mpsc::channel(NOTIFICATIONS_BUFFER);
                tokio::spawn(forward_notifications(listener, sender));
                Some(receiver)
            }
            Backend::Sqlite(_) => None,
        };
        Ok(Wakeups {
            local: self.subscribe(),
            remote,
            tail: self.inner.tail.clone(),
        })
    }

    fn publish(&self, head: Position) {
        self.inner.head.send_if_modified(|current| {
            let newer = *current < head;
            if newer {
                *current = head;
            }
            newer
        });
    }

    /// Decodes the payloads of events read from the log (as stored: `Engine::read_all`) as one
    /// page (a codec that fetches keys fetches them once for the page), and optionally upcasts
    /// them; in order.
    async fn to_recorded_all(
        &self,
        mut events: Vec<RecordedEvent>,
        upcast: bool,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (first, last) = match (events.first(), events.last()) {
            (Some(first), Some(last)) => (first.position, last.position),
            _ => return Ok(events),
        };
        let count = events.len();
        let items = events
            .iter_mut()
            .map(|event| {
                let RecordedEvent {
                    stream,
                    event_type,
                    event_version,
                    payload,
                    ..
                } = event;
                let context = CodecContext {
                    stream,
                    event_type,
                    event_version,
                };
                (context, std::mem::take(payload))
            })
            .collect();
        let at = || format!("events at positions {first} to {last}");
        let payloads = self
            .inner
            .options
            .codec
            .decode_page(items)
            .await
            .map_err(|e| e.into_store_error(&at()))?;
        if payloads.len() != count {
            return Err(StoreError::Codec(format!(
                "{}: the codec decoded {} of {count} payloads",
                at(),
                payloads.len()
            )));
        }
        for (event, payload) in events.iter_mut().zip(payloads) {
            event.payload = payload;
        }
        let upcasters = &self.inner.options.upcasters;
        if upcast && !upcasters.is_empty() {
            events = events
                .into_iter()
                .map(|event| event.upcast(upcasters))
                .collect();
        }
        Ok(events)
    }
}

impl RecordedEvent {
    /// Applies cqrs-es upcasters, in order, as `PersistedEventStore` does on load.
    #[must_use]
    pub fn upcast(self, upcasters: &[Box<dyn EventUpcaster>]) -> Self {
        if upcasters.is_empty() {
            return self;
        }
        let serialized = SerializedEvent {
            aggregate_id: self.stream.stream_id.clone(),
            sequence: usize::try_from(self.version).unwrap_or(usize::MAX),
            aggregate_type: self.stream.stream_type.clone(),
            event_type: self.event_type,
            event_version: self.event_version,
            payload: self.payload,
            metadata: Value::Null,
        };
        let upcast = upcasters.iter().fold(serialized, |event, upcaster| {
            if upcaster.can_upcast(&event.event_type, &event.event_version) {
                upcaster.upcast(event)
            } else {
                event
            }
        });
        Self {
            event_type: upcast.event_type,
            event_version: upcast.event_version,
            payload: upcast.payload,
            ..self
        }
    }
}

/// What [`EventStore::read_all_where`] found.
#[derive(Debug, Clone)]
pub struct FilteredRead {
    /// The kept events, in position order, decoded.
    pub events: Vec<RecordedEvent>,
    /// Rows read (kept or not).
    pub scanned: u64,
    /// The last position read: where the next scan starts.
    pub last_scanned: Position,
    /// Whether the scan reached the head of the log.
    pub at_head: bool,
}

/// Wakes a follower when the log may have grown. Spurious wake-ups are possible; a follower
/// always reads from its own checkpoint.
pub struct Wakeups {
    local: watch::Receiver<Position>,
    /// PostgreSQL: the payloads of other processes' notifications, from the task that owns the
    /// listener (`forward_notifications`); an error ends them.
    remote: Option<mpsc::Receiver<Result<String, StoreError>>>,
    tail: Arc<Tail>,
}

/// Notifications the listener's task may hold for a follower that has not asked yet.
const NOTIFICATIONS_BUFFER: usize = 64;

/// Owns a listener and forwards what it receives until it fails, or until the [`Wakeups`] it
/// feeds is gone (noticed at the next notification, or when the pool closes and the listener
/// fails).
///
/// `PgListener::recv` is not cancel-safe: dropped while it re-establishes a lost connection,
/// it can return a connection that already sent `LISTEN` to the pool. A query that later
/// meets a notification on that connection fails ("unexpected message:
/// NotificationResponse"): after a database restart, commands answered 500. So a `recv` is
/// never dropped in flight here. [`Wakeups::wait`] selects over this task's channel instead,
/// and may be dropped at any point.
async fn forward_notifications(
    mut listener: PgListener,
    sender: mpsc::Sender<Result<String, StoreError>>,
) {
    loop {
        let received = listener
            .recv()
            .await
            .map(|notification| notification.payload().to_owned())
            .map_err(StoreError::from);
        let failed = received.is_err();
        if sender.send(received).await.is_err() || failed {
            return;
        }
    }
}

impl Wakeups {
    /// Waits until this process committed something, or (PostgreSQL) any process did.
    /// Cancel-safe: dropping the future loses no notification and leaves no connection behind.
    pub async fn wait(&mut self) -> Result<(), StoreError> {
        let closed = || StoreError::Unavailable(Arc::new(sqlx::Error::PoolClosed));
        match &mut self.remote {
            None => self.local.changed().await.map_err(|_| closed()),
            Some(remote) => tokio::select! {
                changed = self.local.changed() => changed.map_err(|_| closed()),
                notified = remote.recv() => match notified {
                    Some(Ok(payload)) => {
                        self.tail.notified(&payload);
                        Ok(())
                    }
                    Some(Err(error)) => Err(error),
                    None => Err(closed()),
                },
            },
        }
    }
}

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeups")
            .field("remote", &self.remote.is_some())
            .finish_non_exhaustive()
    }
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable(Arc::new(sqlx::Error::WorkerCrashed))
}
