//! The SQL, written once for both databases: reading, and writing a batch of appends in one
//! transaction under the log's lock.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, QueryBuilder, Row,
    Transaction, Type,
};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::canonical::{self, EventFields, EventHash};
use crate::dialect::{Dialect, NOTIFY_CHANNEL};
use crate::error::StoreError;
use crate::model::{AppendOutcome, Position, StreamRef};
use crate::store::Job;

/// A value that can be bound as a query parameter.
pub(crate) trait Bind<DB: Database>: for<'q> Encode<'q, DB> + Type<DB> {}
impl<DB: Database, T: for<'q> Encode<'q, DB> + Type<DB>> Bind<DB> for T {}

/// A value that can be read from a result column.
pub(crate) trait Load<DB: Database>: for<'r> Decode<'r, DB> + Type<DB> {}
impl<DB: Database, T: for<'r> Decode<'r, DB> + Type<DB>> Load<DB> for T {}

/// Rows per multi-row INSERT: 1000 events of 19 columns stay below both databases'
/// parameter limits (SQLite 32766, PostgreSQL 65535).
const ROWS_PER_INSERT: usize = 1000;

/// An event row exactly as stored; JSON columns as text.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub position: u64,
    pub stream: StreamRef,
    pub version: u64,
    pub event_id: Uuid,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub extra_metadata: String,
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub actor_subject: Option<String>,
    pub actor_role: Option<String>,
    pub actor_region: Option<String>,
    pub actor_provider_org: Option<String>,
    pub recorded_at: DateTime<Utc>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// An event ready for the writer: canonicalised, encoded and validated by the appending task.
#[derive(Debug, Clone)]
pub(crate) struct PreparedEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub event_version: String,
    /// Canonical JSON of the (encoded) payload.
    pub payload: String,
}

/// An append ready for the writer.
#[derive(Debug, Clone)]
pub(crate) struct PreparedAppend {
    pub stream: StreamRef,
    pub expected: crate::model::ExpectedVersion,
    pub metadata: crate::model::EventMetadata,
    /// Canonical JSON of the metadata object that is hashed.
    pub hashed_metadata: String,
    /// Canonical JSON of `metadata.extra`, stored in the `metadata` column.
    pub extra_metadata: String,
    pub events: Vec<PreparedEvent>,
    /// `(snapshot_number, canonical JSON payload)`.
    pub snapshot: Option<(u64, String)>,
}

#[derive(Debug, Clone, Copy)]
struct StreamHead {
    version: u64,
    last_position: u64,
    hash: EventHash,
}

struct StagedEvent<'a> {
    position: u64,
    version: u64,
    append: &'a PreparedAppend,
    event: &'a PreparedEvent,
    prev_hash: EventHash,
    hash: EventHash,
}

/// What the batch decided for each request, before commit.
enum Decision {
    Appended(AppendOutcome),
    Replayed(AppendOutcome),
    Rejected(StoreError),
}

pub(crate) struct Engine<DB: Database> {
    /// Appends go through here. On SQLite a pool of one connection: the single writer.
    pub write_pool: Pool<DB>,
    /// Reads go through here. On PostgreSQL the same pool.
    pub read_pool: Pool<DB>,
}

fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{value} exceeds 2^63 - 1")))
}

fn to_u64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("negative position or version {value}")))
}

fn hash_from(bytes: &[u8], what: &str) -> Result<EventHash, StoreError> {
    EventHash::from_slice(bytes)
        .ok_or_else(|| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

impl<DB> Engine<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    i64: Bind<DB> + Load<DB>,
    String: Bind<DB> + Load<DB>,
    Uuid: Bind<DB> + Load<DB>,
    DateTime<Utc>: Bind<DB> + Load<DB>,
    Vec<u8>: Bind<DB> + Load<DB>,
    Option<String>: Bind<DB>,
    Option<Uuid>: Bind<DB>,
{
    /// The single writer: takes the first waiting group of requests, adds whatever else is
    /// queued (up to `max_batch` requests), writes them in one transaction, publishes the new
    /// head and answers each request. Ends when every sender (every `EventStore` clone) is
    /// gone.
    pub async fn serve_writes(
        self: Arc<Self>,
        mut requests: mpsc::Receiver<Vec<Job>>,
        head: watch::Sender<Position>,
        max_batch: usize,
    ) {
        while let Some(mut jobs) = requests.recv().await {
            while jobs.len() < max_batch {
                match requests.try_recv() {
                    Ok(more) => jobs.extend(more),
                    Err(_) => break,
                }
            }
            let (appends, replies): (Vec<_>, Vec<_>) =
                jobs.into_iter().map(|job| (job.append, job.reply)).unzip();
            let (answers, new_head) = self.write_batch(&appends).await;
            tracing::debug!(requests = appends.len(), head = ?new_head, "append batch");
            if let Some(new_head) = new_head {
                head.send_if_modified(|current| {
                    let newer = *current < new_head;
                    if newer {
                        *current = new_head;
                    }
                    newer
                });
            }
            for (reply, answer) in replies.into_iter().zip(answers) {
                if reply.send(answer).is_err() {
                    tracing::debug!("an appender stopped waiting for its answer");
                }
            }
        }
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        DB::migrate(&self.write_pool).await?;
        Ok(())
    }

    pub async fn head(&self) -> Result<Position, StoreError> {
        let mut conn = self.read_pool.acquire().await?;
        let position: i64 = sqlx::query("SELECT position FROM log_head WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        Ok(Position(to_u64(position)?))
    }

    fn decode_event(row: &DB::Row) -> Result<StoredEvent, StoreError> {
        Ok(StoredEvent {
            position: to_u64(row.try_get("position")?)?,
            stream: StreamRef::new(
                row.try_get::<String, _>("stream_type")?,
                row.try_get::<String, _>("stream_id")?,
            ),
            version: to_u64(row.try_get("version")?)?,
            event_id: row.try_get("event_id")?,
            event_type: row.try_get("event_type")?,
            event_version: row.try_get("event_version")?,
            payload: row.try_get("payload")?,
            extra_metadata: row.try_get("metadata")?,
            command_id: row.try_get("command_id")?,
            correlation_id: row.try_get("correlation_id")?,
            causation_id: row.try_get("causation_id")?,
            actor_subject: row.try_get("actor_subject")?,
            actor_role: row.try_get("actor_role")?,
            actor_region: row.try_get("actor_region")?,
            actor_provider_org: row.try_get("actor_provider_org")?,
            recorded_at: row.try_get("recorded_at")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }

    /// Events with positions after `after`, in position order.
    pub async fn read_all(&self, after: u64, limit: u64) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
            DB::EVENT_COLUMNS
        );
        let mut conn = self.read_pool.acquire().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_i64(after)?)
            .bind(to_i64(limit)?)
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(Self::decode_event).collect()
    }

    /// Events of one aggregate type with positions after `after`, in position order.
    pub async fn read_type(
        &self,
        stream_type: &str,
        after: u64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {} FROM events WHERE stream_type = $1 AND position > $2 \
             ORDER BY position LIMIT $3",
            DB::EVENT_COLUMNS
        );
        let mut conn = self.read_pool.acquire().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(stream_type.to_owned())
            .bind(to_i64(after)?)
            .bind(to_i64(limit)?)
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(Self::decode_event).collect()
    }

    /// Events of one stream with versions after `after_version`, in version order.
    pub async fn read_stream(
        &self,
        stream: &StreamRef,
        after_version: u64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {} FROM events WHERE stream_type = $1 AND stream_id = $2 AND version > $3 \
             ORDER BY version LIMIT $4",
            DB::EVENT_COLUMNS
        );
        let mut conn = self.read_pool.acquire().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(stream.stream_type.clone())
            .bind(stream.stream_id.clone())
            .bind(to_i64(after_version)?)
            .bind(to_i64(limit)?)
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(Self::decode_event).collect()
    }

    /// A page of stream heads after `after` in key order: `(stream, version, last_hash)`.
    pub async fn stream_heads(
        &self,
        after: Option<&StreamRef>,
        limit: u64,
    ) -> Result<Vec<(StreamRef, u64, EventHash)>, StoreError> {
        let (after_type, after_id) = after.map_or((String::new(), String::new()), |s| {
            (s.stream_type.clone(), s.stream_id.clone())
        });
        let mut conn = self.read_pool.acquire().await?;
        let rows = sqlx::query(
            "SELECT stream_type, stream_id, version, last_hash FROM streams \
             WHERE stream_type > $1 OR (stream_type = $1 AND stream_id > $2) \
             ORDER BY stream_type, stream_id LIMIT $3",
        )
        .bind(after_type)
        .bind(after_id)
        .bind(to_i64(limit)?)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    StreamRef::new(row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?),
                    to_u64(row.try_get(2)?)?,
                    hash_from(&row.try_get::<Vec<u8>, _>(3)?, "a stream's last hash")?,
                ))
            })
            .collect()
    }

    /// The stream's version and the log head, read in one statement (one snapshot).
    pub async fn stream_version_and_head(
        &self,
        stream: &StreamRef,
    ) -> Result<(u64, Position), StoreError> {
        let mut conn = self.read_pool.acquire().await?;
        let row = sqlx::query(
            "SELECT (SELECT version FROM streams WHERE stream_type = $1 AND stream_id = $2), \
                    (SELECT position FROM log_head WHERE id = 1)",
        )
        .bind(stream.stream_type.clone())
        .bind(stream.stream_id.clone())
        .fetch_one(&mut *conn)
        .await?;
        let version: Option<i64> = row.try_get(0)?;
        Ok((
            version.map(to_u64).transpose()?.unwrap_or(0),
            Position(to_u64(row.try_get(1)?)?),
        ))
    }

    fn decode_command(row: &DB::Row) -> Result<AppendOutcome, StoreError> {
        Ok(AppendOutcome {
            command_id: row.try_get("command_id")?,
            stream: StreamRef::new(
                row.try_get::<String, _>("stream_type")?,
                row.try_get::<String, _>("stream_id")?,
            ),
            first_version: to_u64(row.try_get("first_version")?)?,
            last_version: to_u64(row.try_get("last_version")?)?,
            first_position: Position(to_u64(row.try_get("first_position")?)?),
            last_position: Position(to_u64(row.try_get("last_position")?)?),
            recorded_at: row.try_get("recorded_at")?,
            replayed: true,
        })
    }

    const COMMAND_COLUMNS: &'static str = "command_id, stream_type, stream_id, first_version, \
        last_version, first_position, last_position, recorded_at";

    pub async fn command(&self, command_id: Uuid) -> Result<Option<AppendOutcome>, StoreError> {
        let sql = format!(
            "SELECT {} FROM commands WHERE command_id = $1",
            Self::COMMAND_COLUMNS
        );
        let mut conn = self.read_pool.acquire().await?;
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(command_id)
            .fetch_optional(&mut *conn)
            .await?
            .as_ref()
            .map(Self::decode_command)
            .transpose()
    }

    /// `(version, snapshot_number, payload, recorded_at)` of the stream's snapshot.
    pub async fn snapshot(
        &self,
        stream: &StreamRef,
    ) -> Result<Option<(u64, u64, String, DateTime<Utc>)>, StoreError> {
        let sql = format!(
            "SELECT version, snapshot_number, {}, recorded_at FROM snapshots \
             WHERE stream_type = $1 AND stream_id = $2",
            DB::SNAPSHOT_PAYLOAD
        );
        let mut conn = self.read_pool.acquire().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(stream.stream_type.clone())
            .bind(stream.stream_id.clone())
            .fetch_optional(&mut *conn)
            .await?;
        row.map(|row| {
            Ok((
                to_u64(row.try_get(0)?)?,
                to_u64(row.try_get(1)?)?,
                row.try_get(2)?,
                row.try_get(3)?,
            ))
        })
        .transpose()
    }

    /// Writes a batch of appends in one transaction and answers each. Returns the answers
    /// and, when something was committed, the new head.
    pub async fn write_batch(
        &self,
        batch: &[PreparedAppend],
    ) -> (Vec<Result<AppendOutcome, StoreError>>, Option<Position>) {
        let mut tx = match DB::begin_write(&self.write_pool).await {
            Ok(tx) => tx,
            Err(error) => return (fail_all(batch.len(), &error.into()), None),
        };
        let (decisions, head) = match self.stage_and_write(&mut tx, batch).await {
            Ok(staged) => staged,
            Err(error) => {
                // Dropping the transaction rolls it back; nothing of the batch was written.
                drop(tx);
                return (fail_all(batch.len(), &error), None);
            }
        };
        let Some(head) = head else {
            // Only replays and rejections: nothing to commit.
            drop(tx.rollback().await);
            return (finish(decisions), None);
        };
        match tx.commit().await {
            Ok(()) => (finish(decisions), Some(head)),
            Err(error) => {
                self.after_failed_commit(batch, decisions, head, error)
                    .await
            }
        }
    }

    /// The commit reported an error, but the server may have committed before the connection
    /// broke. Wait for the log's lock (which the old transaction held until it ended, either
    /// way), then look for this batch's command ids: all of them or none were committed.
    async fn after_failed_commit(
        &self,
        batch: &[PreparedAppend],
        decisions: Vec<Decision>,
        head: Position,
        error: sqlx::Error,
    ) -> (Vec<Result<AppendOutcome, StoreError>>, Option<Position>) {
        let probe = batch
            .iter()
            .zip(&decisions)
            .find_map(|(append, decision)| {
                matches!(decision, Decision::Appended(_)).then_some(append.metadata.command_id)
            })
            .expect("a batch with a head to commit appended something");
        let committed = async {
            let mut tx = DB::begin_write(&self.write_pool).await?;
            sqlx::query(DB::LOCK_HEAD).fetch_one(&mut *tx).await?;
            let found = sqlx::query("SELECT 1 FROM commands WHERE command_id = $1")
                .bind(probe)
                .fetch_optional(&mut *tx)
                .await?;
            drop(tx.rollback().await);
            Ok::<bool, sqlx::Error>(found.is_some())
        }
        .await;
        match committed {
            Ok(true) => (finish(decisions), Some(head)),
            Ok(false) => {
                let error = StoreError::from(error);
                let answers = decisions
                    .into_iter()
                    .map(|decision| match decision {
                        Decision::Appended(_) => Err(error.clone()),
                        Decision::Replayed(outcome) => Ok(outcome),
                        Decision::Rejected(rejection) => Err(rejection),
                    })
                    .collect();
                (answers, None)
            }
            Err(probe_error) => {
                tracing::error!(
                    commit_error = %error,
                    probe_error = %probe_error,
                    "commit outcome unknown"
                );
                let error = StoreError::CommitUnknown(Arc::new(error));
                let answers = decisions
                    .into_iter()
                    .map(|decision| match decision {
                        Decision::Appended(_) => Err(error.clone()),
                        Decision::Replayed(outcome) => Ok(outcome),
                        Decision::Rejected(rejection) => Err(rejection),
                    })
                    .collect();
                (answers, None)
            }
        }
    }

    /// Under the log's lock: decides every request of the batch in order, then writes what
    /// was decided with a few multi-row statements.
    async fn stage_and_write(
        &self,
        tx: &mut Transaction<'static, DB>,
        batch: &[PreparedAppend],
    ) -> Result<(Vec<Decision>, Option<Position>), StoreError> {
        let head_row = sqlx::query(DB::LOCK_HEAD).fetch_one(&mut **tx).await?;
        let head = to_u64(head_row.try_get(0)?)?;
        let last_recorded_at: Option<DateTime<Utc>> = head_row.try_get(1)?;
        let clock: Option<DateTime<Utc>> = head_row.try_get(2)?;
        // Microseconds, as both databases store them, and never before the newest event.
        let now = clock.unwrap_or_else(Utc::now).trunc_subsecs(6);
        let now = last_recorded_at.map_or(now, |last| now.max(last));

        let mut known_commands = self.commands_of(tx, batch).await?;
        let mut heads = self.stream_heads_of(tx, batch).await?;

        let mut next_position = head + 1;
        let mut decisions = Vec::with_capacity(batch.len());
        let mut staged: Vec<StagedEvent<'_>> = Vec::new();
        let mut touched: HashMap<&StreamRef, StreamHead> = HashMap::new();
        let mut new_commands: Vec<AppendOutcome> = Vec::new();
        let mut snapshots: HashMap<&StreamRef, (u64, u64, &str)> = HashMap::new();

        for append in batch {
            if let Some(original) = known_commands.get(&append.metadata.command_id) {
                decisions.push(if original.stream == append.stream {
                    Decision::Replayed(original.clone())
                } else {
                    Decision::Rejected(StoreError::CommandIdReused {
                        command_id: append.metadata.command_id,
                        stream: original.stream.clone(),
                    })
                });
                continue;
            }
            let current = heads.get(&append.stream).copied().unwrap_or(StreamHead {
                version: 0,
                last_position: 0,
                hash: EventHash::ZERO,
            });
            if !append.expected.admits(current.version) {
                decisions.push(Decision::Rejected(StoreError::Conflict {
                    stream: append.stream.clone(),
                    expected: append.expected,
                    actual: current.version,
                }));
                continue;
            }
            let first_position = next_position;
            let mut stream_head = current;
            for event in &append.events {
                let position = next_position;
                next_position += 1;
                stream_head.version += 1;
                let bytes = canonical::event_bytes(&EventFields {
                    position,
                    stream_type: &append.stream.stream_type,
                    stream_id: &append.stream.stream_id,
                    version: stream_head.version,
                    event_id: event.event_id,
                    event_type: &event.event_type,
                    event_version: &event.event_version,
                    canonical_metadata: &append.hashed_metadata,
                    canonical_payload: &event.payload,
                    recorded_at: &now,
                });
                let hash = EventHash::chain(&stream_head.hash, &bytes);
                staged.push(StagedEvent {
                    position,
                    version: stream_head.version,
                    append,
                    event,
                    prev_hash: stream_head.hash,
                    hash,
                });
                stream_head.hash = hash;
                stream_head.last_position = position;
            }
            let outcome = AppendOutcome {
                stream: append.stream.clone(),
                command_id: append.metadata.command_id,
                first_version: current.version + 1,
                last_version: stream_head.version,
                first_position: Position(first_position),
                last_position: Position(next_position - 1),
                recorded_at: now,
                replayed: false,
            };
            heads.insert(append.stream.clone(), stream_head);
            touched.insert(&append.stream, stream_head);
            if let Some((number, payload)) = &append.snapshot {
                snapshots.insert(&append.stream, (stream_head.version, *number, payload));
            }
            let replay = AppendOutcome {
                replayed: true,
                ..outcome.clone()
            };
            known_commands.insert(append.metadata.command_id, replay);
            new_commands.push(outcome.clone());
            decisions.push(Decision::Appended(outcome));
        }

        if staged.is_empty() {
            return Ok((decisions, None));
        }
        let last = next_position - 1;
        self.insert_events(tx, &staged, &now).await?;
        self.upsert_streams(tx, &touched).await?;
        self.insert_commands(tx, &new_commands).await?;
        self.upsert_snapshots(tx, &snapshots, &now).await?;
        sqlx::query("UPDATE log_head SET position = $1, last_recorded_at = $2 WHERE id = 1")
            .bind(to_i64(last)?)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        if let Some(notify) = DB::NOTIFY {
            sqlx::query(notify)
                .bind(NOTIFY_CHANNEL.to_owned())
                .bind(last.to_string())
                .execute(&mut **tx)
                .await?;
        }
        Ok((decisions, Some(Position(last))))
    }

    async fn commands_of(
        &self,
        tx: &mut Transaction<'static, DB>,
        batch: &[PreparedAppend],
    ) -> Result<HashMap<Uuid, AppendOutcome>, StoreError> {
        let mut found = HashMap::new();
        for chunk in batch.chunks(ROWS_PER_INSERT) {
            let mut query = QueryBuilder::<DB>::new(format!(
                "SELECT {} FROM commands WHERE command_id IN (",
                Self::COMMAND_COLUMNS
            ));
            let mut ids = query.separated(", ");
            for append in chunk {
                ids.push_bind(append.metadata.command_id);
            }
            query.push(")");
            for row in query.build().fetch_all(&mut **tx).await? {
                let outcome = Self::decode_command(&row)?;
                found.insert(outcome.command_id, outcome);
            }
        }
        Ok(found)
    }

    async fn stream_heads_of(
        &self,
        tx: &mut Transaction<'static, DB>,
        batch: &[PreparedAppend],
    ) -> Result<HashMap<StreamRef, StreamHead>, StoreError> {
        let mut streams: Vec<&StreamRef> = batch.iter().map(|a| &a.stream).collect();
        streams.sort_unstable();
        streams.dedup();
        let mut found = HashMap::new();
        for chunk in streams.chunks(ROWS_PER_INSERT) {
            let mut query = QueryBuilder::<DB>::new(
                "SELECT stream_type, stream_id, version, last_position, last_hash FROM streams \
                 WHERE (stream_type, stream_id) IN (",
            );
            query.push_values(chunk, |mut row, stream| {
                row.push_bind(stream.stream_type.clone())
                    .push_bind(stream.stream_id.clone());
            });
            query.push(")");
            for row in query.build().fetch_all(&mut **tx).await? {
                let stream =
                    StreamRef::new(row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?);
                let head = StreamHead {
                    version: to_u64(row.try_get(2)?)?,
                    last_position: to_u64(row.try_get(3)?)?,
                    hash: hash_from(&row.try_get::<Vec<u8>, _>(4)?, "a stream's last hash")?,
                };
                found.insert(stream, head);
            }
        }
        Ok(found)
    }

    async fn insert_events(
        &self,
        tx: &mut Transaction<'static, DB>,
        staged: &[StagedEvent<'_>],
        now: &DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for chunk in staged.chunks(ROWS_PER_INSERT) {
            let mut query = QueryBuilder::<DB>::new(
                "INSERT INTO events (position, stream_type, stream_id, version, event_id, \
                 event_type, event_version, payload, metadata, command_id, correlation_id, \
                 causation_id, actor_subject, actor_role, actor_region, actor_provider_org, \
                 recorded_at, prev_hash, hash) ",
            );
            let mut failure = None;
            query.push_values(chunk, |mut row, staged| {
                let (append, event) = (staged.append, staged.event);
                let metadata = &append.metadata;
                let actor = metadata.actor.as_ref();
                let (position, version) = match (to_i64(staged.position), to_i64(staged.version)) {
                    (Ok(p), Ok(v)) => (p, v),
                    (Err(e), _) | (_, Err(e)) => {
                        failure = Some(e);
                        (0, 0)
                    }
                };
                row.push_bind(position)
                    .push_bind(append.stream.stream_type.clone())
                    .push_bind(append.stream.stream_id.clone())
                    .push_bind(version)
                    .push_bind(event.event_id)
                    .push_bind(event.event_type.clone())
                    .push_bind(event.event_version.clone())
                    .push_bind(event.payload.clone())
                    .push_unseparated(DB::JSON_PARAM)
                    .push_bind(append.extra_metadata.clone())
                    .push_unseparated(DB::JSON_PARAM)
                    .push_bind(metadata.command_id)
                    .push_bind(metadata.correlation_id)
                    .push_bind(metadata.causation_id)
                    .push_bind(actor.map(|a| a.subject.clone()))
                    .push_bind(actor.map(|a| a.role.clone()))
                    .push_bind(actor.map(|a| a.region.clone()))
                    .push_bind(actor.and_then(|a| a.provider_org.clone()))
                    .push_bind(*now)
                    .push_bind(staged.prev_hash.0.to_vec())
                    .push_bind(staged.hash.0.to_vec());
            });
            if let Some(error) = failure {
                return Err(error);
            }
            query.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn upsert_streams(
        &self,
        tx: &mut Transaction<'static, DB>,
        touched: &HashMap<&StreamRef, StreamHead>,
    ) -> Result<(), StoreError> {
        let rows = touched
            .iter()
            .map(|(stream, head)| {
                Ok((
                    *stream,
                    to_i64(head.version)?,
                    to_i64(head.last_position)?,
                    head.hash,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut query = QueryBuilder::<DB>::new(
                "INSERT INTO streams (stream_type, stream_id, version, last_position, last_hash) ",
            );
            query.push_values(chunk, |mut row, (stream, version, position, hash)| {
                row.push_bind(stream.stream_type.clone())
                    .push_bind(stream.stream_id.clone())
                    .push_bind(*version)
                    .push_bind(*position)
                    .push_bind(hash.0.to_vec());
            });
            query.push(
                " ON CONFLICT (stream_type, stream_id) DO UPDATE SET version = excluded.version, \
                 last_position = excluded.last_position, last_hash = excluded.last_hash",
            );
            query.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn insert_commands(
        &self,
        tx: &mut Transaction<'static, DB>,
        outcomes: &[AppendOutcome],
    ) -> Result<(), StoreError> {
        let rows = outcomes
            .iter()
            .map(|o| {
                Ok((
                    o,
                    [
                        to_i64(o.first_version)?,
                        to_i64(o.last_version)?,
                        to_i64(o.first_position.0)?,
                        to_i64(o.last_position.0)?,
                    ],
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut query = QueryBuilder::<DB>::new(format!(
                "INSERT INTO commands ({}) ",
                Self::COMMAND_COLUMNS
            ));
            query.push_values(chunk, |mut row, (outcome, numbers)| {
                row.push_bind(outcome.command_id)
                    .push_bind(outcome.stream.stream_type.clone())
                    .push_bind(outcome.stream.stream_id.clone());
                for number in numbers {
                    row.push_bind(*number);
                }
                row.push_bind(outcome.recorded_at);
            });
            query.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn upsert_snapshots(
        &self,
        tx: &mut Transaction<'static, DB>,
        snapshots: &HashMap<&StreamRef, (u64, u64, &str)>,
        now: &DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for (stream, (version, number, payload)) in snapshots {
            let sql = format!(
                "INSERT INTO snapshots (stream_type, stream_id, version, snapshot_number, \
                 payload, recorded_at) VALUES ($1, $2, $3, $4, $5{}, $6) \
                 ON CONFLICT (stream_type, stream_id) DO UPDATE SET version = excluded.version, \
                 snapshot_number = excluded.snapshot_number, payload = excluded.payload, \
                 recorded_at = excluded.recorded_at WHERE snapshots.version < excluded.version",
                DB::JSON_PARAM
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(stream.stream_type.clone())
                .bind(stream.stream_id.clone())
                .bind(to_i64(*version)?)
                .bind(to_i64(*number)?)
                .bind((*payload).to_owned())
                .bind(*now)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

fn fail_all(n: usize, error: &StoreError) -> Vec<Result<AppendOutcome, StoreError>> {
    (0..n).map(|_| Err(error.clone())).collect()
}

fn finish(decisions: Vec<Decision>) -> Vec<Result<AppendOutcome, StoreError>> {
    decisions
        .into_iter()
        .map(|decision| match decision {
            Decision::Appended(outcome) | Decision::Replayed(outcome) => Ok(outcome),
            Decision::Rejected(error) => Err(error),
        })
        .collect()
}
