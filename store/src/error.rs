//! The store's one error type. Variants are stable: the API maps each [`StoreError::code`] to
//! an HTTP status (conflicts to 409, [`StoreError::Unavailable`] to 503, ...).

use std::sync::Arc;

use uuid::Uuid;

use crate::model::{ExpectedVersion, StreamRef};

/// Clone, so that one failed transaction can answer every request it carried.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The stream is not at the expected version: someone else appended first. Nothing was
    /// written; reload and decide again.
    #[error("stream {stream} is at version {actual}, the append expected {expected}")]
    Conflict {
        stream: StreamRef,
        expected: ExpectedVersion,
        actual: u64,
    },

    /// The command id was already used for a different stream. Nothing was written.
    #[error("command {command_id} was already appended to stream {stream}")]
    CommandIdReused { command_id: Uuid, stream: StreamRef },

    /// The connection broke while committing and the store could not find out whether the
    /// commit happened. Retry with the same command id: the retry either replays the original
    /// outcome or appends.
    #[error("the outcome of the commit is unknown; retry with the same command id")]
    CommitUnknown(#[source] Arc<sqlx::Error>),

    /// The database could not be reached in time (connection refused or lost, pool exhausted).
    /// Nothing was written by the failed call; retrying later is safe.
    #[error("the event store is unavailable")]
    Unavailable(#[source] Arc<sqlx::Error>),

    /// Something in the database cannot be read as an event: the data or the schema is not
    /// what this version of the store wrote.
    #[error("stored data is corrupt or unreadable: {0}")]
    Corrupt(String),

    /// A payload could not be encoded or decoded by the payload codec.
    #[error("payload codec: {0}")]
    Codec(String),

    /// Migrating the schema failed.
    #[error("migrating the event store failed")]
    Migration(#[source] Arc<sqlx::migrate::MigrateError>),

    /// The request itself is unacceptable (an empty stream id, a float in a payload, a
    /// malformed id in metadata, an unsupported database URL, ...). Nothing was written.
    #[error("invalid: {0}")]
    Invalid(String),

    /// Any other database error, e.g. the append-only guard refusing a change.
    #[error("database error")]
    Database(#[source] Arc<sqlx::Error>),
}

impl StoreError {
    /// A stable machine-readable code for logs and API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Conflict { .. } => "store.conflict",
            Self::CommandIdReused { .. } => "store.command_id_reused",
            Self::CommitUnknown(_) => "store.commit_unknown",
            Self::Unavailable(_) => "store.unavailable",
            Self::Corrupt(_) => "store.corrupt",
            Self::Codec(_) => "store.codec",
            Self::Migration(_) => "store.migration",
            Self::Invalid(_) => "store.invalid",
            Self::Database(_) => "store.database",
        }
    }

    /// Whether retrying the same call (with the same command id) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::CommitUnknown(_) | Self::Unavailable(_))
    }
}

// The one classification of database errors (`dbkit::classify`), which the read models, the
// outbox, the audit tree and the keys share.
dbkit::db_error_conversions!(StoreError);

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Self::Migration(Arc::new(error))
    }
}

impl From<StoreError> for cqrs_es::persist::PersistenceError {
    fn from(error: StoreError) -> Self {
        use cqrs_es::persist::PersistenceError as P;
        match error {
            StoreError::Conflict { .. } => P::OptimisticLockError,
            StoreError::Unavailable(_) => P::ConnectionError(Box::new(error)),
            StoreError::Corrupt(_) | StoreError::Codec(_) => {
                P::DeserializationError(Box::new(error))
            }
            other => P::UnknownError(Box::new(other)),
        }
    }
}
