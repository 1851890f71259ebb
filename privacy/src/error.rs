//! The privacy crate's one error type.

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// The database could not be reached or refused a statement.
    #[error("the key table: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the key table's migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A key could not be made, wrapped or unwrapped (the wrong key-encryption key, most
    /// likely).
    #[error("{0}")]
    Key(String),
    /// A payload names its data subject wrongly, or a sealed value is damaged.
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
}

/// The one classification of database errors lives in [`dbkit::classify`]; the store reads
/// it from the `sqlx::Error` kept here ([`PrivacyError::into_codec_error`]).
impl From<dbkit::DbError> for PrivacyError {
    fn from(error: dbkit::DbError) -> Self {
        match error {
            dbkit::DbError::Unavailable(error) | dbkit::DbError::Database(error) => Self::Database(
                std::sync::Arc::into_inner(error).unwrap_or(sqlx::Error::WorkerCrashed),
            ),
            dbkit::DbError::Migration(error) => {
                Self::Migrate(std::sync::Arc::into_inner(error).unwrap_or(
                    sqlx::migrate::MigrateError::Execute(sqlx::Error::WorkerCrashed),
                ))
            }
            dbkit::DbError::Corrupt(message) => Self::Corrupt(message),
            dbkit::DbError::Invalid(message) => Self::Invalid(message),
        }
    }
}

impl PrivacyError {
    /// A stable code for logs and the API.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Database(_) | Self::Migrate(_) => "privacy.database",
            Self::Key(_) => "privacy.key",
            Self::Corrupt(_) => "privacy.corrupt",
            Self::Invalid(_) => "privacy.invalid",
        }
    }

    /// What the store makes of it: a key table that cannot be reached is a passing outage
    /// ([`store::CodecError::Unavailable`], 503 in the API), anything else is not.
    pub fn into_codec_error(self) -> store::CodecError {
        match self {
            Self::Database(error) => store::CodecError::from_database(error),
            other => store::CodecError::Invalid(other.to_string()),
        }
    }
}
