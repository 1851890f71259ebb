//! How a store is configured, and the payload codec seam.

use std::sync::Arc;
use std::time::Duration;

use cqrs_es::persist::EventUpcaster;
use serde_json::Value;

use crate::error::StoreError;
use crate::model::StreamRef;

/// Why a payload codec failed. The distinction matters to clients: a codec whose key table
/// cannot be reached is a passing outage (the API answers 503 and the client retries), a
/// payload it cannot transform is not.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CodecError {
    /// What the codec needs (its key table, say) could not be reached in time: nothing is
    /// wrong with the payload, and retrying later may succeed. Surfaces as
    /// [`StoreError::Unavailable`].
    #[error("the codec's storage is unavailable")]
    Unavailable(#[source] Arc<sqlx::Error>),
    /// The payload cannot be encoded or decoded. Surfaces as [`StoreError::Codec`].
    #[error("{0}")]
    Invalid(String),
}

impl CodecError {
    /// Classifies a database error of the codec's own as the store classifies its own:
    /// unreachable, timed out or shutting down is [`CodecError::Unavailable`], anything else
    /// [`CodecError::Invalid`].
    pub fn from_database(error: sqlx::Error) -> Self {
        match StoreError::from(error) {
            StoreError::Unavailable(error) => Self::Unavailable(error),
            other => Self::Invalid(other.to_string()),
        }
    }

    /// The store's error for this failure, with `at` (which event) in the message.
    pub(crate) fn into_store_error(self, at: &str) -> StoreError {
        match self {
            Self::Unavailable(error) => StoreError::Unavailable(error),
            Self::Invalid(message) => StoreError::Codec(format!("{at}: {message}")),
        }
    }
}

/// Transforms payloads on their way into and out of the log. The seam for crypto-shredding:
/// personal data in a payload will be encrypted per data subject here, before the store
/// canonicalises and hashes it (so the chain covers ciphertext and survives erasing a key), and
/// decrypted after loading. The default, [`IdentityCodec`], leaves payloads alone.
///
/// Both methods are async so that a codec can fetch (or create) a key from a database.
/// `encode` runs in the appending task, before the append reaches the single writer, so slow
/// work here (fetching a key) never holds the log's lock. `decode` runs on every read path
/// that returns payloads (`read_all`, `read_stream`, the cqrs-es repository), but not in
/// `verify`, which checks the stored form. A codec whose key was erased should decode to a
/// redacted payload rather than fail, or the events could no longer be replayed.
#[async_trait::async_trait]
pub trait PayloadCodec: Send + Sync + 'static {
    async fn encode(&self, context: &CodecContext<'_>, payload: Value)
    -> Result<Value, CodecError>;
    async fn decode(&self, context: &CodecContext<'_>, stored: Value) -> Result<Value, CodecError>;

    /// Decodes a page of payloads, in order: what one `read_all` or `read_stream` call read.
    /// The default decodes them one by one; a codec that fetches keys overrides it to fetch
    /// the page's keys at once.
    async fn decode_page(
        &self,
        items: Vec<(CodecContext<'_>, Value)>,
    ) -> Result<Vec<Value>, CodecError> {
        let mut decoded = Vec::with_capacity(items.len());
        for (context, stored) in items {
            decoded.push(self.decode(&context, stored).await?);
        }
        Ok(decoded)
    }
}

/// What a codec knows about the payload it transforms.
#[derive(Debug, Clone, Copy)]
pub struct CodecContext<'a> {
    pub stream: &'a StreamRef,
    pub event_type: &'a str,
    pub event_version: &'a str,
}

/// Stores payloads as given.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityCodec;

#[async_trait::async_trait]
impl PayloadCodec for IdentityCodec {
    async fn encode(&self, _: &CodecContext<'_>, payload: Value) -> Result<Value, CodecError> {
        Ok(payload)
    }

    async fn decode(&self, _: &CodecContext<'_>, stored: Value) -> Result<Value, CodecError> {
        Ok(stored)
    }

    /// The page as read, without a call per payload.
    async fn decode_page(
        &self,
        items: Vec<(CodecContext<'_>, Value)>,
    ) -> Result<Vec<Value>, CodecError> {
        Ok(items.into_iter().map(|(_, stored)| stored).collect())
    }
}

/// Options for [`crate::EventStore::connect`]. `Default` gives production-sane values.
#[derive(Clone)]
pub struct StoreOptions {
    /// PostgreSQL: the pool's size (the writer takes one connection per batch; readers share
    /// the rest).
    pub max_connections: u32,
    /// SQLite: how many connections serve reads (the writer has its own).
    pub sqlite_readers: u32,
    /// How long to wait for a pooled connection (and, on SQLite, for a lock) before failing
    /// with [`crate::StoreError::Unavailable`].
    pub acquire_timeout: Duration,
    /// The most append requests the writer puts into one transaction.
    pub max_batch: usize,
    /// SQLite: `synchronous=FULL` (every commit reaches the disk) when true, `NORMAL` (a
    /// power loss may lose the last commits, never corrupt) when false.
    pub sqlite_durable: bool,
    /// Take a snapshot of an aggregate every this many events (0: never). Used by
    /// [`crate::EventStore::aggregate_store`].
    pub snapshot_every: usize,
    /// How many aggregates [`crate::EventStore::aggregate_store`] keeps in memory, in the
    /// state the last command committed here left them (0: none). A command on a cached
    /// stream then reads only the events after that state, not a snapshot and the events
    /// since it. A hint, never an answer: the events after it are always read, and the append
    /// still checks the version.
    pub cached_aggregates: usize,
    /// How many of the newest events [`crate::EventStore::read_tail`] keeps for this
    /// process's followers (0: none, every follower reads the database). Each is held for at
    /// most a few seconds.
    pub tail_events: usize,
    /// Upcasters applied to every event read (`read_all`, `read_stream`, the aggregate
    /// store), in order, so that readers only ever see current event versions.
    pub upcasters: Arc<Vec<Box<dyn EventUpcaster>>>,
    /// Applied to payloads on write (before hashing) and on read.
    pub codec: Arc<dyn PayloadCodec>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            sqlite_readers: 4,
            acquire_timeout: Duration::from_secs(5),
            max_batch: 512,
            sqlite_durable: true,
            snapshot_every: 0,
            cached_aggregates: 0,
            tail_events: 1024,
            upcasters: Arc::new(Vec::new()),
            codec: Arc::new(IdentityCodec),
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("max_connections", &self.max_connections)
            .field("sqlite_readers", &self.sqlite_readers)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("max_batch", &self.max_batch)
            .field("sqlite_durable", &self.sqlite_durable)
            .field("snapshot_every", &self.snapshot_every)
            .field("cached_aggregates", &self.cached_aggregates)
            .field("tail_events", &self.tail_events)
            .field("upcasters", &self.upcasters.len())
            .finish_non_exhaustive()
    }
}
