//! The SQL, written once for both databases: reading, and writing a batch of appends in one
//! transaction under the log's lock.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use dbkit::{Bind, Load};
use sqlx::{ColumnIndex, Database, Executor, IntoArguments, Pool, QueryBuilder, Row, Transaction};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::canonical::{self, EventFields, EventHash};
use crate::dialect::{Dialect, NOTIFY_CHANNEL};
use crate::error::StoreError;
use crate::model::{ActorRecord, AppendOutcome, EventMetadata, Position, RecordedEvent, StreamRef};
use crate::store::Job;

/// Rows per statement: 1000 events of 19 columns stay below both databases' parameter
/// limits (SQLite 32766, PostgreSQL 65535).
const ROWS_PER_STATEMENT: usize = 1000;

/// PostgreSQL's limit on a statement's bound parameters, with room to spare.
const MAX_PARAMETERS: usize = 65_000;

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
    pub metadata: StoredMetadata<String>,
    pub recorded_at: DateTime<Utc>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// The metadata columns of a row; `extra` is the `metadata` column's JSON text, owned
/// (`StoredEvent`) or borrowed from the row (`Engine::decode_recorded`).
#[derive(Debug, Clone)]
pub(crate) struct StoredMetadata<X> {
    pub extra: X,
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub actor_subject: Option<String>,
    pub actor_role: Option<String>,
    pub actor_region: Option<String>,
    pub actor_provider_org: Option<String>,
}

impl<X: AsRef<str>> StoredMetadata<X> {
    /// The metadata of the event at `position`: `extra` parsed, the actor whole or absent (a
    /// partial actor is corrupt).
    pub fn parse(self, position: u64) -> Result<EventMetadata, StoreError> {
        let at = || format!("event at position {position}");
        let extra: BTreeMap<String, String> = serde_json::from_str(self.extra.as_ref())
            .map_err(|e| StoreError::Corrupt(format!("{}: metadata: {e}", at())))?;
        let actor = match (self.actor_subject, self.actor_role, self.actor_region) {
            (Some(subject), Some(role), Some(region)) => Some(ActorRecord {
                subject,
                role,
                region,
                provider_org: self.actor_provider_org,
            }),
            (None, None, None) if self.actor_provider_org.is_none() => None,
            _ => return Err(StoreError::Corrupt(format!("{}: a partial actor", at()))),
        };
        Ok(EventMetadata {
            command_id: self.command_id,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            actor,
            extra,
        })
    }
}

impl StoredEvent {
    /// The row's metadata (copies what it takes from the row).
    pub fn metadata(&self) -> Result<EventMetadata, StoreError> {
        self.metadata.clone().parse(self.position)
    }

    /// The row as readers take it (see `Engine::decode_recorded`).
    pub fn into_recorded(self) -> Result<RecordedEvent, StoreError> {
        let payload = serde_json::from_str(&self.payload).map_err(|e| {
            StoreError::Corrupt(format!("event at position {}: payload: {e}", self.position))
        })?;
        Ok(RecordedEvent {
            position: Position(self.position),
            stream: self.stream,
            version: self.version,
            event_id: self.event_id,
            event_type: self.event_type,
            event_version: self.event_version,
            payload,
            metadata: self.metadata.parse(self.position)?,
            recorded_at: self.recorded_at,
            prev_hash: event_hash(&self.prev_hash, self.position, "prev_hash")?,
            hash: event_hash(&self.hash, self.position, "hash")?,
        })
    }
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
    position: i64,
    version: i64,
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

/// A read's bound (an `after` position or version, a limit) as the database's BIGINT: nothing
/// is stored past `i64::MAX`, so a larger `after` reads nothing and a larger limit is no limit.
fn read_bound(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{value} exceeds 2^63 - 1")))
}

fn to_u64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("negative position or version {value}")))
}

/// Decodes every row, into a vector sized for them up front (collecting a `Result` cannot
/// know its length, and would move a page of events several times as it grows).
fn decode_rows<R, T>(
    rows: &[R],
    decode: fn(&R) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut decoded = Vec::with_capacity(rows.len());
    for row in rows {
        decoded.push(decode(row)?);
    }
    Ok(decoded)
}

/// A hash column, which must be 32 bytes; `what` names it in the error (formatted only then).
fn hash_from(bytes: &[u8], what: impl FnOnce() -> String) -> Result<EventHash, StoreError> {
    EventHash::from_slice(bytes)
        .ok_or_else(|| StoreError::Corrupt(format!("{} is not 32 bytes", what())))
}

/// A stream's `last_hash`.
fn last_hash() -> String {
    "a stream's last hash".to_owned()
}

/// An event's hash column (`prev_hash` or `hash`).
fn event_hash(bytes: &[u8], position: u64, column: &str) -> Result<EventHash, StoreError> {
    hash_from(bytes, || format!("event at position {position}: {column}"))
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
    for<'r> &'r str: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'r> &'r [u8]: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
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
        // By position in `Dialect::EVENT_COLUMNS` (`EVENT_COLUMN_NAMES`), not by name: a name
        // is looked up in the row's columns on every read, 19 times per event.
        Ok(StoredEvent {
            position: to_u64(row.try_get(0)?)?,
            stream: StreamRef::new(row.try_get::<String, _>(1)?, row.try_get::<String, _>(2)?),
            version: to_u64(row.try_get(3)?)?,
            event_id: row.try_get(4)?,
            event_type: row.try_get(5)?,
            event_version: row.try_get(6)?,
            payload: row.try_get(7)?,
            metadata: Self::decode_metadata(row)?,
            recorded_at: row.try_get(16)?,
            prev_hash: row.try_get(17)?,
            hash: row.try_get(18)?,
        })
    }

    /// The metadata columns of an event row, `extra` as `X` (owned or borrowed text). Unchecked
    /// types, as in `decode_recorded`.
    fn decode_metadata<'r, X: sqlx::Decode<'r, DB>>(
        row: &'r DB::Row,
    ) -> Result<StoredMetadata<X>, StoreError> {
        Ok(StoredMetadata {
            extra: row.try_get_unchecked(8)?,
            command_id: row.try_get_unchecked(9)?,
            correlation_id: row.try_get_unchecked(10)?,
            causation_id: row.try_get_unchecked(11)?,
            actor_subject: row.try_get_unchecked(12)?,
            actor_role: row.try_get_unchecked(13)?,
            actor_region: row.try_get_unchecked(14)?,
            actor_provider_org: row.try_get_unchecked(15)?,
        })
    }

    /// A row as readers take it: payload and metadata parsed from the row's own text (never
    /// copied into a `String` first), the hashes checked for length; the payload as stored,
    /// neither decoded by the codec nor upcast. Columns by position, as in `decode_event`.
    fn decode_recorded(row: &DB::Row) -> Result<RecordedEvent, StoreError> {
        // `try_get_unchecked`: the columns are this store's own `EVENT_COLUMNS`, whose types
        // the conformance suite reads back on both databases; checking each value's type
        // against its column's was a tenth of the decoding. The payload is parsed from the
        // row's bytes (`from_slice` checks UTF-8 as it parses; a `&str` checked the whole text
        // first).
        let position = to_u64(row.try_get_unchecked(0)?)?;
        let payload =
            serde_json::from_slice(row.try_get_unchecked::<&[u8], _>(7)?).map_err(|e| {
                StoreError::Corrupt(format!("event at position {position}: payload: {e}"))
            })?;
        let metadata = Self::decode_metadata::<&str>(row)?.parse(position)?;
        Ok(RecordedEvent {
            position: Position(position),
            stream: StreamRef::new(
                row.try_get_unchecked::<String, _>(1)?,
                row.try_get_unchecked::<String, _>(2)?,
            ),
            version: to_u64(row.try_get_unchecked(3)?)?,
            event_id: row.try_get_unchecked(4)?,
            event_type: row.try_get_unchecked(5)?,
            event_version: row.try_get_unchecked(6)?,
            payload,
            metadata,
            recorded_at: row.try_get_unchecked(16)?,
            prev_hash: event_hash(row.try_get_unchecked(17)?, position, "prev_hash")?,
            hash: event_hash(row.try_get_unchecked(18)?, position, "hash")?,
        })
    }

    /// Events with positions after `after`, in position order, as readers take them
    /// (`decode_recorded`).
    pub async fn read_all(&self, after: u64, limit: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        self.events_after(after, limit, Self::decode_recorded).await
    }

    /// [`Engine::read_all`]'s rows exactly as stored: for verifying them, and for scans that
    /// test a row's metadata before parsing its payload.
    pub async fn read_all_stored(
        &self,
        after: u64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.events_after(after, limit, Self::decode_event).await
    }

    async fn events_after<T>(
        &self,
        after: u64,
        limit: u64,
        decode: fn(&DB::Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let sql = format!(
            "SELECT {} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
            DB::EVENT_COLUMNS
        );
        let mut conn = self.read_pool.acquire().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(read_bound(after))
            .bind(read_bound(limit))
            .fetch_all(&mut *conn)
            .await?;
        decode_rows(&rows, decode)
    }

    /// Events of one aggregate type with positions after `after`, in position order.
    pub async fn read_type(
        &self,
        stream_type: &str,
        after: u64,
        limit: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {} FROM events WHERE stream_type = $1 AND position > $2 \
             ORDER BY position LIMIT $3",
            DB::EVENT_COLUMNS
        );
        let mut conn = self.read_pool.acquire().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(stream_type.to_owned())
            .bind(read_bound(after))
            .bind(read_bound(limit))
            .fetch_all(&mut *conn)
            .await?;
        decode_rows(&rows, Self::decode_recorded)
    }

    /// Events of one stream with versions after `after_version`, in version order.
    pub async fn read_stream(
        &self,
        stream: &StreamRef,
        after_version: u64,
        limit: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {} FROM events WHERE stream_type = $1 AND stream_id = $2 AND version > $3 \
             ORDER BY version LIMIT $4",
            DB::EVENT_COLUMNS
        );
        let mut conn = self.read_pool.acquire().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(stream.stream_type.clone())
            .bind(stream.stream_id.clone())
            .bind(read_bound(after_version))
            .bind(read_bound(limit))
            .fetch_all(&mut *conn)
            .await?;
        decode_rows(&rows, Self::decode_recorded)
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
        .bind(read_bound(limit))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    StreamRef::new(row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?),
                    to_u64(row.try_get(2)?)?,
                    hash_from(&row.try_get::<Vec<u8>, _>(3)?, last_hash)?,
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

    /// Like [`Engine::command`], but settled: the lookup waits until no transaction holds the
    /// log's lock ([`Dialect::begin_settled_read`]), so a commit that was in flight when the
    /// question was asked (one whose client lost its connection, say) has ended one way or
    /// the other. "Not found" then means the command was not recorded and no transaction
    /// that started before the question will record it.
    pub async fn command_settled(
        &self,
        command_id: Uuid,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        let sql = format!(
            "SELECT {} FROM commands WHERE command_id = $1",
            Self::COMMAND_COLUMNS
        );
        let mut tx = DB::begin_settled_read(&self.write_pool).await?;
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(command_id)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(Self::decode_command)
            .transpose();
        drop(tx.rollback().await);
        found
    }

    /// The stream's latest snapshot: version, snapshot number, the payload as `parse` makes
    /// it from the row's text (read in place: a large case's snapshot is tens of kilobytes),
    /// and when it was taken.
    pub async fn snapshot<T>(
        &self,
        stream: &StreamRef,
        parse: impl FnOnce(&str) -> T,
    ) -> Result<Option<(u64, u64, T, DateTime<Utc>)>, StoreError> {
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
                parse(row.try_get::<&str, _>(2)?),
                row.try_get(3)?,
            ))
        })
        .transpose()
    }

    /// Writes a batch of appends in one transaction and answers each. Returns the answers
    /// and, when something was committed, the new head.
    pub async fn write_batch(&self, batch: &[PreparedAppend]) -> (Answers, Option<Position>) {
        if DB::OPTIMISTIC_WRITES
            && let Some(answered) = self.write_optimistically(batch).await
        {
            return answered;
        }
        self.write_under_lock(batch).await
    }

    /// PostgreSQL's fast path, two round trips: read the head, command records and stream
    /// heads (no lock), decide, then one autocommit statement that locks the head row,
    /// checks the head is still where the read saw it, and only then inserts everything
    /// (every insert is conditional on that check). If another process appended in between,
    /// nothing is written and the batch is decided again; after [`OPTIMISTIC_ATTEMPTS`] such
    /// misses (or for a batch too big for one statement) `None` hands over to
    /// [`Engine::write_under_lock`]. Either way, events are only ever inserted by a
    /// transaction that holds the head row's lock and based its positions on the head it
    /// locked, so positions stay dense and in commit order.
    async fn write_optimistically(
        &self,
        batch: &[PreparedAppend],
    ) -> Option<(Answers, Option<Position>)> {
        let mut conn = match self.write_pool.acquire().await {
            Ok(conn) => conn,
            Err(error) => return Some((fail_all(batch.len(), &error.into()), None)),
        };
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let lookup = match Self::lookup(&mut conn, batch).await {
                Ok(lookup) => lookup,
                Err(error) => return Some((fail_all(batch.len(), &error), None)),
            };
            let seen_head = lookup.head;
            let (decisions, rows) = match decide(lookup, batch) {
                Ok(decided) => decided,
                Err(error) => return Some((fail_all(batch.len(), &error), None)),
            };
            let Some(rows) = rows else {
                return Some((finish(decisions), None));
            };
            if rows.parameters() > MAX_PARAMETERS {
                return None;
            }
            let head = rows.head();
            match Self::write_in_one_statement(&mut conn, &rows, seen_head).await {
                Ok(true) => return Some((finish(decisions), Some(head))),
                Ok(false) => tracing::debug!("the head moved; deciding the batch again"),
                Err(error) => {
                    drop(conn);
                    return Some(
                        self.after_failed_commit(batch, decisions, head, error)
                            .await,
                    );
                }
            }
        }
        None
    }

    /// The general path: a transaction that takes the log's lock first
    /// ([`Dialect::begin_write`]), reads, decides, writes and commits.
    async fn write_under_lock(&self, batch: &[PreparedAppend]) -> (Answers, Option<Position>) {
        let mut tx = match DB::begin_write(&self.write_pool).await {
            Ok(tx) => tx,
            Err(error) => return (fail_all(batch.len(), &error.into()), None),
        };
        let decided = match Self::lookup(&mut tx, batch).await {
            Ok(lookup) => {
                let seen_head = lookup.head;
                decide(lookup, batch).map(|decided| (decided, seen_head))
            }
            Err(error) => Err(error),
        };
        let ((decisions, rows), seen_head) = match decided {
            Ok(decided) => decided,
            Err(error) => return (fail_all(batch.len(), &error), None),
        };
        let Some(rows) = rows else {
            // Only replays and rejections: nothing to commit.
            drop(tx.rollback().await);
            return (finish(decisions), None);
        };
        let written = if DB::ONE_STATEMENT_WRITES && rows.parameters() <= MAX_PARAMETERS {
            Self::write_in_one_statement(&mut tx, &rows, seen_head)
                .await
                .map_err(StoreError::from)
                .and_then(|written| {
                    written.then_some(()).ok_or_else(|| {
                        StoreError::Corrupt("the log head moved while its lock was held".into())
                    })
                })
        } else {
            Self::write_in_statements(&mut tx, &rows)
                .await
                .map_err(StoreError::from)
        };
        if let Err(error) = written {
            // Dropping the transaction rolls it back: nothing of the batch was written.
            drop(tx);
            return (fail_appended(decisions, &error), None);
        }
        let head = rows.head();
        match tx.commit().await {
            Ok(()) => (finish(decisions), Some(head)),
            Err(error) => {
                self.after_failed_commit(batch, decisions, head, error)
                    .await
            }
        }
    }

    /// Committing reported an error, but the server may have committed before the connection
    /// broke. Take the log's lock (which the failed transaction held until it ended, either
    /// way), then look for one of the batch's command ids: all of them or none were
    /// committed.
    async fn after_failed_commit(
        &self,
        batch: &[PreparedAppend],
        decisions: Vec<Decision>,
        head: Position,
        error: sqlx::Error,
    ) -> (Answers, Option<Position>) {
        let probe = batch
            .iter()
            .zip(&decisions)
            .find_map(|(append, decision)| {
                matches!(decision, Decision::Appended(_)).then_some(append.metadata.command_id)
            })
            .expect("a batch with a head to commit appended something");
        let committed = self
            .command_settled(probe)
            .await
            .map(|found| found.is_some());
        match committed {
            Ok(true) => (finish(decisions), Some(head)),
            Ok(false) => (fail_appended(decisions, &error.into()), None),
            Err(probe_error) => {
                tracing::error!(
                    commit_error = %error,
                    probe_error = %probe_error,
                    "commit outcome unknown"
                );
                let error = StoreError::CommitUnknown(Arc::new(error));
                (fail_appended(decisions, &error), None)
            }
        }
    }

    /// The head, and what the database knows of the batch's command ids and streams, in one
    /// query per thousand requests (a `UNION ALL` of three selects, told apart by `kind`).
    async fn lookup(
        conn: &mut DB::Connection,
        batch: &[PreparedAppend],
    ) -> Result<Lookup, StoreError> {
        let mut streams: Vec<&StreamRef> = batch.iter().map(|a| &a.stream).collect();
        streams.sort_unstable();
        streams.dedup();
        let command_chunks: Vec<_> = batch.chunks(ROWS_PER_STATEMENT).collect();
        let stream_chunks: Vec<_> = streams.chunks(ROWS_PER_STATEMENT).collect();
        let mut lookup = Lookup {
            head: 0,
            last_recorded_at: None,
            clock: None,
            commands: HashMap::new(),
            streams: HashMap::new(),
        };
        for round in 0..command_chunks.len().max(1) {
            let mut query = QueryBuilder::<DB>::new("");
            if round == 0 {
                query.push(typed_nulls(LOOKUP_HEAD).replace("{CLOCK}", DB::CLOCK));
            }
            if let Some(chunk) = command_chunks.get(round) {
                if round == 0 {
                    query.push(" UNION ALL ");
                }
                query.push(typed_nulls(LOOKUP_COMMANDS));
                let mut ids = query.separated(", ");
                for append in *chunk {
                    ids.push_bind(append.metadata.command_id);
                }
                query.push(")");
            }
            if let Some(chunk) = stream_chunks.get(round) {
                query.push(" UNION ALL ");
                query.push(typed_nulls(LOOKUP_STREAMS));
                query.push_values(*chunk, |mut row, stream| {
                    row.push_bind(stream.stream_type.clone())
                        .push_bind(stream.stream_id.clone());
                });
                query.push(")");
            }
            for row in query.build().fetch_all(&mut *conn).await? {
                let kind: i64 = row.try_get(0)?;
                match kind {
                    0 => {
                        lookup.head = to_u64(row.try_get(4)?)?;
                        lookup.last_recorded_at = row.try_get(8)?;
                        lookup.clock = row.try_get(9)?;
                    }
                    1 => {
                        let outcome = AppendOutcome {
                            command_id: row.try_get(1)?,
                            stream: StreamRef::new(
                                row.try_get::<String, _>(2)?,
                                row.try_get::<String, _>(3)?,
                            ),
                            first_version: to_u64(row.try_get(4)?)?,
                            last_version: to_u64(row.try_get(5)?)?,
                            first_position: Position(to_u64(row.try_get(6)?)?),
                            last_position: Position(to_u64(row.try_get(7)?)?),
                            recorded_at: row.try_get(8)?,
                            replayed: true,
                        };
                        lookup.commands.insert(outcome.command_id, outcome);
                    }
                    _ => {
                        let stream = StreamRef::new(
                            row.try_get::<String, _>(2)?,
                            row.try_get::<String, _>(3)?,
                        );
                        let head = StreamHead {
                            version: to_u64(row.try_get(4)?)?,
                            last_position: to_u64(row.try_get(5)?)?,
                            hash: hash_from(&row.try_get::<Vec<u8>, _>(10)?, last_hash)?,
                        };
                        lookup.streams.insert(stream, head);
                    }
                }
            }
        }
        Ok(lookup)
    }

    /// Everything a batch writes, in one statement (PostgreSQL's data-modifying CTEs): the
    /// head row is updated only if it is still at `seen_head` (which takes its lock, waiting
    /// for any appender holding it), every insert is conditional on that update, and the
    /// notification goes out with it. Returns whether the head was where it was expected;
    /// if not, nothing was written.
    async fn write_in_one_statement(
        conn: &mut DB::Connection,
        rows: &Rows<'_>,
        seen_head: u64,
    ) -> Result<bool, sqlx::Error> {
        let seen_head = i64::try_from(seen_head).unwrap_or(i64::MAX);
        let mut query = QueryBuilder::<DB>::new("WITH h AS (UPDATE log_head SET position = ");
        query.push_bind(rows.last_position);
        query.push(", last_recorded_at = ");
        query.push_bind(rows.now);
        query.push(" WHERE id = 1 AND position = ");
        query.push_bind(seen_head);
        query.push(" RETURNING position), e AS (");
        Self::push_events(&mut query, &rows.events, rows.now, true);
        query.push("), s AS (");
        Self::push_streams(&mut query, &rows.streams, true);
        query.push("), c AS (");
        Self::push_commands(&mut query, &rows.commands, true);
        query.push(")");
        if !rows.snapshots.is_empty() {
            query.push(", p AS (");
            Self::push_snapshots(&mut query, &rows.snapshots, rows.now, true);
            query.push(")");
        }
        query.push(" SELECT position");
        if let Some(function) = DB::NOTIFY_FUNCTION {
            query.push(format!(", {function}("));
            query.push_bind(NOTIFY_CHANNEL.to_owned());
            query.push(", CAST(position AS TEXT))");
        }
        query.push(" FROM h");
        Ok(query.build().fetch_optional(&mut *conn).await?.is_some())
    }

    /// One statement per table and thousand rows, in a transaction that holds the lock: for
    /// SQLite (where a statement is a function call, not a round trip) and for batches too
    /// big for one statement's parameters.
    async fn write_in_statements(
        tx: &mut Transaction<'static, DB>,
        rows: &Rows<'_>,
    ) -> Result<(), sqlx::Error> {
        for chunk in rows.events.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<DB>::new("");
            Self::push_events(&mut query, chunk, rows.now, false);
            query.build().execute(&mut **tx).await?;
        }
        for chunk in rows.streams.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<DB>::new("");
            Self::push_streams(&mut query, chunk, false);
            query.build().execute(&mut **tx).await?;
        }
        for chunk in rows.commands.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<DB>::new("");
            Self::push_commands(&mut query, chunk, false);
            query.build().execute(&mut **tx).await?;
        }
        for chunk in rows.snapshots.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<DB>::new("");
            Self::push_snapshots(&mut query, chunk, rows.now, false);
            query.build().execute(&mut **tx).await?;
        }
        sqlx::query("UPDATE log_head SET position = $1, last_recorded_at = $2 WHERE id = 1")
            .bind(rows.last_position)
            .bind(rows.now)
            .execute(&mut **tx)
            .await?;
        if let Some(function) = DB::NOTIFY_FUNCTION {
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {function}($1, $2)")))
                .bind(NOTIFY_CHANNEL.to_owned())
                .bind(rows.last_position.to_string())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// `INSERT INTO table (columns)` followed by the rows: `VALUES ...`, or when `gated`,
    /// `SELECT * FROM (VALUES ...) AS v WHERE EXISTS (SELECT 1 FROM h)`, which inserts only
    /// if the head update `h` of the same statement succeeded.
    fn push_insert<T>(
        query: &mut QueryBuilder<DB>,
        table_and_columns: &str,
        rows: &[T],
        gated: bool,
        mut push_row: impl FnMut(&mut sqlx::query_builder::Separated<'_, DB, &'static str>, &T),
    ) {
        query.push(format!("INSERT INTO {table_and_columns} "));
        if gated {
            query.push("SELECT * FROM (");
        }
        query.push_values(rows, |mut row, item| push_row(&mut row, item));
        if gated {
            query.push(") AS v WHERE EXISTS (SELECT 1 FROM h)");
        }
    }

    fn push_events(
        query: &mut QueryBuilder<DB>,
        events: &[StagedEvent<'_>],
        now: DateTime<Utc>,
        gated: bool,
    ) {
        let columns = "events (position, stream_type, stream_id, version, event_id, event_type, \
             event_version, payload, metadata, command_id, correlation_id, causation_id, \
             actor_subject, actor_role, actor_region, actor_provider_org, recorded_at, \
             prev_hash, hash)";
        Self::push_insert(query, columns, events, gated, |row, staged| {
            let (append, event) = (staged.append, staged.event);
            let metadata = &append.metadata;
            let actor = metadata.actor.as_ref();
            row.push_bind(staged.position)
                .push_bind(append.stream.stream_type.clone())
                .push_bind(append.stream.stream_id.clone())
                .push_bind(staged.version)
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
                .push_bind(now)
                .push_bind(staged.prev_hash.0.to_vec())
                .push_bind(staged.hash.0.to_vec());
        });
    }

    fn push_streams(query: &mut QueryBuilder<DB>, streams: &[StreamRow<'_>], gated: bool) {
        let columns = "streams (stream_type, stream_id, version, last_position, last_hash)";
        Self::push_insert(query, columns, streams, gated, |row, stream| {
            row.push_bind(stream.stream.stream_type.clone())
                .push_bind(stream.stream.stream_id.clone())
                .push_bind(stream.version)
                .push_bind(stream.last_position)
                .push_bind(stream.hash.0.to_vec());
        });
        query.push(
            " ON CONFLICT (stream_type, stream_id) DO UPDATE SET version = excluded.version, \
             last_position = excluded.last_position, last_hash = excluded.last_hash",
        );
    }

    fn push_commands(query: &mut QueryBuilder<DB>, commands: &[CommandRow], gated: bool) {
        let columns = format!("commands ({})", Self::COMMAND_COLUMNS);
        Self::push_insert(query, &columns, commands, gated, |row, command| {
            row.push_bind(command.outcome.command_id)
                .push_bind(command.outcome.stream.stream_type.clone())
                .push_bind(command.outcome.stream.stream_id.clone());
            for number in command.numbers {
                row.push_bind(number);
            }
            row.push_bind(command.outcome.recorded_at);
        });
    }

    fn push_snapshots(
        query: &mut QueryBuilder<DB>,
        snapshots: &[SnapshotRow<'_>],
        now: DateTime<Utc>,
        gated: bool,
    ) {
        let columns =
            "snapshots (stream_type, stream_id, version, snapshot_number, payload, recorded_at)";
        Self::push_insert(query, columns, snapshots, gated, |row, snapshot| {
            row.push_bind(snapshot.stream.stream_type.clone())
                .push_bind(snapshot.stream.stream_id.clone())
                .push_bind(snapshot.version)
                .push_bind(snapshot.number)
                .push_bind(snapshot.payload.to_owned())
                .push_unseparated(DB::JSON_PARAM)
                .push_bind(now);
        });
        query.push(
            " ON CONFLICT (stream_type, stream_id) DO UPDATE SET version = excluded.version, \
             snapshot_number = excluded.snapshot_number, payload = excluded.payload, \
             recorded_at = excluded.recorded_at WHERE snapshots.version < excluded.version",
        );
    }
}

/// One answer per request of a batch.
type Answers = Vec<Result<AppendOutcome, StoreError>>;

/// How many times the optimistic path decides a batch again after another process moved the
/// head, before it takes the lock first.
const OPTIMISTIC_ATTEMPTS: usize = 2;

/// Decides every request of the batch in order against what the lookup found (and what the
/// batch's earlier requests did), assigning positions, versions and hashes. `None` rows when
/// nothing is to be written. Pure: no I/O.
fn decide(
    lookup: Lookup,
    batch: &[PreparedAppend],
) -> Result<(Vec<Decision>, Option<Rows<'_>>), StoreError> {
    let Lookup {
        head,
        last_recorded_at,
        clock,
        commands: mut known_commands,
        streams: mut heads,
    } = lookup;
    // Microseconds, as both databases store them, and never before the newest event.
    let now = clock.unwrap_or_else(Utc::now).trunc_subsecs(6);
    let now = last_recorded_at.map_or(now, |last| now.max(last));

    let mut next_position = head + 1;
    let mut decisions = Vec::with_capacity(batch.len());
    let mut events = Vec::new();
    let mut touched: HashMap<&StreamRef, StreamHead> = HashMap::new();
    let mut commands = Vec::new();
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
            events.push(StagedEvent {
                position: to_i64(position)?,
                version: to_i64(stream_head.version)?,
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
        known_commands.insert(
            append.metadata.command_id,
            AppendOutcome {
                replayed: true,
                ..outcome.clone()
            },
        );
        commands.push(outcome.clone());
        decisions.push(Decision::Appended(outcome));
    }

    if events.is_empty() {
        return Ok((decisions, None));
    }
    let rows = Rows {
        now,
        last_position: to_i64(next_position - 1)?,
        events,
        streams: touched
            .into_iter()
            .map(|(stream, head)| {
                Ok(StreamRow {
                    stream,
                    version: to_i64(head.version)?,
                    last_position: to_i64(head.last_position)?,
                    hash: head.hash,
                })
            })
            .collect::<Result<_, StoreError>>()?,
        commands: commands
            .into_iter()
            .map(|outcome| {
                let numbers = [
                    to_i64(outcome.first_version)?,
                    to_i64(outcome.last_version)?,
                    to_i64(outcome.first_position.0)?,
                    to_i64(outcome.last_position.0)?,
                ];
                Ok(CommandRow { outcome, numbers })
            })
            .collect::<Result<_, StoreError>>()?,
        snapshots: snapshots
            .into_iter()
            .map(|(stream, (version, number, payload))| {
                Ok(SnapshotRow {
                    stream,
                    version: to_i64(version)?,
                    number: to_i64(number)?,
                    payload,
                })
            })
            .collect::<Result<_, StoreError>>()?,
    };
    Ok((decisions, Some(rows)))
}

// The three branches of the lookup query. Every column has one type in all branches
// (PostgreSQL resolves a UNION's column types pairwise, so NULLs are cast explicitly; SQLite
// ignores the type names).
const LOOKUP_HEAD: &str = "SELECT CAST(0 AS BIGINT) AS kind, {UUID} AS command_id, \
    {TEXT} AS stream_type, {TEXT} AS stream_id, position AS a, {INT} AS b, {INT} AS c, \
    {INT} AS d, last_recorded_at AS at, {CLOCK} AS clock, {BYTES} AS hash \
    FROM log_head WHERE id = 1";
const LOOKUP_COMMANDS: &str = "SELECT CAST(1 AS BIGINT), command_id, stream_type, stream_id, \
    first_version, last_version, first_position, last_position, recorded_at, {TIME}, {BYTES} \
    FROM commands WHERE command_id IN (";
const LOOKUP_STREAMS: &str = "SELECT CAST(2 AS BIGINT), {UUID}, stream_type, stream_id, \
    version, last_position, {INT}, {INT}, {TIME}, {TIME}, last_hash \
    FROM streams WHERE (stream_type, stream_id) IN (";

fn typed_nulls(sql: &str) -> String {
    sql.replace("{UUID}", "CAST(NULL AS UUID)")
        .replace("{TEXT}", "CAST(NULL AS TEXT)")
        .replace("{INT}", "CAST(NULL AS BIGINT)")
        .replace("{TIME}", "CAST(NULL AS TIMESTAMPTZ)")
        .replace("{BYTES}", "CAST(NULL AS BYTEA)")
}

/// What [`Engine::lookup`] found.
struct Lookup {
    head: u64,
    last_recorded_at: Option<DateTime<Utc>>,
    clock: Option<DateTime<Utc>>,
    commands: HashMap<Uuid, AppendOutcome>,
    streams: HashMap<StreamRef, StreamHead>,
}

/// Everything a batch writes, ready to bind.
struct Rows<'a> {
    now: DateTime<Utc>,
    last_position: i64,
    events: Vec<StagedEvent<'a>>,
    streams: Vec<StreamRow<'a>>,
    commands: Vec<CommandRow>,
    snapshots: Vec<SnapshotRow<'a>>,
}

struct StreamRow<'a> {
    stream: &'a StreamRef,
    version: i64,
    last_position: i64,
    hash: EventHash,
}

struct CommandRow {
    outcome: AppendOutcome,
    numbers: [i64; 4],
}

struct SnapshotRow<'a> {
    stream: &'a StreamRef,
    version: i64,
    number: i64,
    payload: &'a str,
}

impl Rows<'_> {
    /// Bound parameters of the one-statement write.
    fn parameters(&self) -> usize {
        19 * self.events.len()
            + 5 * self.streams.len()
            + 8 * self.commands.len()
            + 6 * self.snapshots.len()
            + 4
    }

    fn head(&self) -> Position {
        Position(u64::try_from(self.last_position).unwrap_or(0))
    }
}

fn fail_all(n: usize, error: &StoreError) -> Answers {
    (0..n).map(|_| Err(error.clone())).collect()
}

/// The batch was not written: the requests that would have appended get `error`; replays
/// and rejections keep their answers.
fn fail_appended(decisions: Vec<Decision>, error: &StoreError) -> Answers {
    decisions
        .into_iter()
        .map(|decision| match decision {
            Decision::Appended(_) => Err(error.clone()),
            Decision::Replayed(outcome) => Ok(outcome),
            Decision::Rejected(rejection) => Err(rejection),
        })
        .collect()
}

fn finish(decisions: Vec<Decision>) -> Answers {
    decisions
        .into_iter()
        .map(|decision| match decision {
            Decision::Appended(outcome) | Decision::Replayed(outcome) => Ok(outcome),
            Decision::Rejected(error) => Err(error),
        })
        .collect()
}
