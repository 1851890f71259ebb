//! One classification of database errors, so that an outage reads the same in every crate:
//! the store, the read models, the outbox, the audit tree and the keys all answer 503 for it.

use std::sync::Arc;

/// What a database error means to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The database could not be reached in time (connection refused or lost, pool exhausted,
    /// shutting down, busy): nothing was done; retrying later is safe.
    Unavailable,
    /// A value in the database cannot be read as what this version wrote.
    Corrupt,
    /// Anything else: a constraint, a trigger refusing a change, a bug in a statement.
    Other,
}

/// Database error codes that mean "try again later" rather than "this request is wrong":
/// PostgreSQL's connection exceptions (08xxx), insufficient resources (53xxx), operator
/// intervention (57xxx: admin shutdown, statement timeout) and SQLite's BUSY/LOCKED (5, 6).
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57")
        || code == "5"
        || code == "6"
}

/// Classifies a database error.
pub fn classify(error: &sqlx::Error) -> Class {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => Class::Unavailable,
        sqlx::Error::Database(db) if db.code().is_some_and(|c| is_unavailable_code(&c)) => {
            Class::Unavailable
        }
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::TypeNotFound { .. } => Class::Corrupt,
        _ => Class::Other,
    }
}

/// A database error, classified. Every crate's error type converts from it variant by variant.
/// Clone, so that one failed transaction can answer every request it carried.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
    /// See [`Class::Unavailable`].
    #[error("the database is unavailable")]
    Unavailable(#[source] Arc<sqlx::Error>),
    /// Stored data is not what this version wrote.
    #[error("stored data is corrupt or unreadable: {0}")]
    Corrupt(String),
    /// The caller's input cannot be used (an unsupported URL, an in-memory SQLite database).
    #[error("invalid: {0}")]
    Invalid(String),
    /// Applying the migrations failed.
    #[error("migrating the database failed")]
    Migration(#[source] Arc<sqlx::migrate::MigrateError>),
    /// See [`Class::Other`].
    #[error("database error")]
    Database(#[source] Arc<sqlx::Error>),
}

impl From<sqlx::Error> for DbError {
    fn from(error: sqlx::Error) -> Self {
        match classify(&error) {
            Class::Unavailable => Self::Unavailable(Arc::new(error)),
            Class::Corrupt => Self::Corrupt(error.to_string()),
            Class::Other => Self::Database(Arc::new(error)),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for DbError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Self::Migration(Arc::new(error))
    }
}

impl From<crate::OutOfRange> for DbError {
    fn from(error: crate::OutOfRange) -> Self {
        Self::Corrupt(error.to_string())
    }
}

/// Implements `From<sqlx::Error>` and `From<DbError>` for a crate's error enum that has
/// [`DbError`]'s five variants under the same names and with the same payloads
/// (`Unavailable`, `Corrupt`, `Invalid`, `Migration`, `Database`), so that every database
/// error is classified once, here, and keeps its class in the crate's own error. A crate
/// whose error lacks one of them writes its own conversion (and the compiler says so).
#[macro_export]
macro_rules! db_error_conversions {
    ($error:ty) => {
        impl From<$crate::DbError> for $error {
            fn from(error: $crate::DbError) -> Self {
                match error {
                    $crate::DbError::Unavailable(error) => Self::Unavailable(error),
                    $crate::DbError::Corrupt(message) => Self::Corrupt(message),
                    $crate::DbError::Invalid(message) => Self::Invalid(message),
                    $crate::DbError::Migration(error) => Self::Migration(error),
                    $crate::DbError::Database(error) => Self::Database(error),
                }
            }
        }

        impl From<sqlx::Error> for $error {
            fn from(error: sqlx::Error) -> Self {
                $crate::DbError::from(error).into()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_or_exhausted_database_is_unavailable() {
        for error in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ] {
            assert_eq!(classify(&error), Class::Unavailable, "{error}");
            assert!(matches!(DbError::from(error), DbError::Unavailable(_)));
        }
    }

    #[test]
    fn shutdown_resources_and_busy_codes_are_unavailable_and_others_are_not() {
        for code in ["08006", "53300", "57P01", "57014", "5", "6"] {
            assert!(is_unavailable_code(code), "{code}");
        }
        for code in ["23505", "P0001", "42P01", "19", "1"] {
            assert!(!is_unavailable_code(code), "{code}");
        }
    }

    #[test]
    fn an_unreadable_column_is_corruption() {
        let error = sqlx::Error::ColumnNotFound("position".into());
        assert_eq!(classify(&error), Class::Corrupt);
        assert!(matches!(DbError::from(error), DbError::Corrupt(_)));
    }
}
