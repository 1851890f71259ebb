//! The audit crate's one error type, with stable codes for logs and API error bodies.

use std::sync::Arc;

use store::{StoreError, StreamRef};

/// What went wrong while following, signing, proving, verifying or exporting. Problems found
/// *in the data* by [`crate::Auditor::verify`] and [`crate::verify_export`] are not errors:
/// they are the findings of a report.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    /// The event store failed (reading the log, or its own verification).
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The audit tables could not be read or written.
    #[error("audit database error")]
    Database(#[source] Arc<sqlx::Error>),

    /// The database could not be reached in time; retrying later is safe.
    #[error("the audit database is unavailable")]
    Unavailable(#[source] Arc<sqlx::Error>),

    /// Migrating the audit tables failed.
    #[error("migrating the audit tables failed")]
    Migration(#[source] Arc<sqlx::migrate::MigrateError>),

    /// The signing key or a verifier key is missing, unreadable or malformed.
    #[error("key: {0}")]
    Key(String),

    /// A proof or root was asked for a tree size or position the tree does not (yet) cover.
    #[error("out of range: {0}")]
    OutOfRange(String),

    /// The stream has no events.
    #[error("stream {0} has no events")]
    NoSuchStream(StreamRef),

    /// The audit tables hold something this code did not write (a gap in the follower's
    /// input, a node of the wrong length, ...). Run [`crate::Auditor::verify`].
    #[error("audit data is corrupt: {0}")]
    Corrupt(String),

    /// Signing was refused: the tree no longer agrees with a checkpoint already signed, and a
    /// log must never sign two inconsistent checkpoints.
    #[error("refusing to sign: {0}")]
    Inconsistent(String),

    /// Writing an export failed.
    #[error("writing the export failed")]
    Io(#[source] Arc<std::io::Error>),
}

impl AuditError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Store(error) => error.code(),
            Self::Database(_) => "audit.database",
            Self::Unavailable(_) => "audit.unavailable",
            Self::Migration(_) => "audit.migration",
            Self::Key(_) => "audit.key",
            Self::OutOfRange(_) => "audit.out_of_range",
            Self::NoSuchStream(_) => "audit.no_such_stream",
            Self::Corrupt(_) => "audit.corrupt",
            Self::Inconsistent(_) => "audit.inconsistent",
            Self::Io(_) => "audit.io",
        }
    }
}

impl From<sqlx::Error> for AuditError {
    fn from(error: sqlx::Error) -> Self {
        dbkit::DbError::from(error).into()
    }
}

/// The one classification of database errors ([`dbkit::classify`]): what it calls unavailable
/// (connection lost, pool timed out, PostgreSQL's 08/53/57 classes such as an admin shutdown,
/// SQLite's BUSY) is unavailable here too, so the audit routes answer 503 like every other
/// route.
impl From<dbkit::DbError> for AuditError {
    fn from(error: dbkit::DbError) -> Self {
        match error {
            dbkit::DbError::Unavailable(error) => Self::Unavailable(error),
            dbkit::DbError::Corrupt(message) => Self::Corrupt(message),
            dbkit::DbError::Migration(error) => Self::Migration(error),
            dbkit::DbError::Database(error) => Self::Database(error),
            error @ dbkit::DbError::Invalid(_) => Self::Store(error.into()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for AuditError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Self::Migration(Arc::new(error))
    }
}

impl From<std::io::Error> for AuditError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(Arc::new(error))
    }
}
