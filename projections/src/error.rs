//! The crate's one error type. Codes are stable: the API maps [`ProjectionError::Lagging`] to
//! 503 with `Retry-After`, [`ProjectionError::InvalidCursor`] to 400, the rest to 500 or 503.

use std::sync::Arc;
use std::time::Duration;

use store::{Position, StoreError};

use crate::name::ProjectionName;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProjectionError {
    /// A read asked for `min_position` and the projection did not reach it in time.
    #[error("projection {projection} is at {checkpoint}, the read needs {wanted}")]
    Lagging {
        projection: ProjectionName,
        checkpoint: Position,
        wanted: Position,
        /// A fair guess at when to ask again.
        retry_after: Duration,
    },

    /// A cursor that this crate did not hand out.
    #[error("the cursor is not one this list handed out")]
    InvalidCursor,

    /// An event the projector cannot read or apply. The projector stops on it rather than
    /// skip it: a read model that silently misses an event tells a wrong story.
    #[error("projection {projection} cannot apply the event at position {position}: {message}")]
    Poison {
        projection: ProjectionName,
        position: Position,
        message: String,
    },

    /// The read-model tables hold something this version cannot read.
    #[error("read model data is corrupt or unreadable: {0}")]
    Corrupt(String),

    /// Another instance moved the checkpoint or swapped the generation while this one was
    /// writing a batch; the batch was rolled back and is retried from the new state.
    #[error("projection {0} was advanced or swapped by someone else")]
    LostRace(ProjectionName),

    /// The database could not be reached in time; retrying later is safe.
    #[error("the read-model database is unavailable")]
    Unavailable(#[source] Arc<sqlx::Error>),

    #[error("database error")]
    Database(#[source] Arc<sqlx::Error>),

    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("invalid: {0}")]
    Invalid(String),
}

impl ProjectionError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Lagging { .. } => "projections.lagging",
            Self::InvalidCursor => "projections.invalid_cursor",
            Self::Poison { .. } => "projections.poison",
            Self::Corrupt(_) => "projections.corrupt",
            Self::LostRace(_) => "projections.lost_race",
            Self::Unavailable(_) => "projections.unavailable",
            Self::Database(_) => "projections.database",
            Self::Store(e) => e.code(),
            Self::Invalid(_) => "projections.invalid",
        }
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Lagging { .. } | Self::Unavailable(_) | Self::LostRace(_) => true,
            Self::Store(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// A table was dropped under a reader (a rebuild swapped generations): resolve the live
    /// generation again and retry.
    pub(crate) fn is_missing_table(&self) -> bool {
        let Self::Database(error) = self else {
            return false;
        };
        match error.as_ref() {
            sqlx::Error::Database(db) => {
                db.code().as_deref() == Some("42P01") || db.message().contains("no such table")
            }
            _ => false,
        }
    }
}

impl From<sqlx::Error> for ProjectionError {
    fn from(error: sqlx::Error) -> Self {
        dbkit::DbError::from(error).into()
    }
}

/// The one classification of database errors ([`dbkit::classify`]).
impl From<dbkit::DbError> for ProjectionError {
    fn from(error: dbkit::DbError) -> Self {
        match error {
            dbkit::DbError::Unavailable(error) => Self::Unavailable(error),
            dbkit::DbError::Corrupt(message) => Self::Corrupt(message),
            dbkit::DbError::Invalid(message) => Self::Invalid(message),
            dbkit::DbError::Database(error) => Self::Database(error),
            // The read models keep no migration history (their tables are rebuilt).
            error @ dbkit::DbError::Migration(_) => Self::Store(error.into()),
        }
    }
}

impl From<dbkit::OutOfRange> for ProjectionError {
    fn from(error: dbkit::OutOfRange) -> Self {
        Self::Corrupt(error.to_string())
    }
}
