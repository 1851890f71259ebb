//! The privacy crate's one error type.

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// The database could not be reached, refused a statement or its migrations failed,
    /// classified once by [`dbkit`] (an unavailable database stays distinguishable).
    #[error("the key table: {0}")]
    Database(#[from] dbkit::DbError),
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

/// Classified once, by [`dbkit::classify`]: the store and the API read the class from the
/// [`dbkit::DbError`] kept here ([`PrivacyError::into_codec_error`]).
impl From<sqlx::Error> for PrivacyError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error.into())
    }
}

impl From<sqlx::migrate::MigrateError> for PrivacyError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Self::Database(error.into())
    }
}

impl PrivacyError {
    /// A stable code for logs and the API.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Database(_) => "privacy.database",
            Self::Key(_) => "privacy.key",
            Self::Corrupt(_) => "privacy.corrupt",
            Self::Invalid(_) => "privacy.invalid",
        }
    }

    /// What the store makes of it: a key table that cannot be reached is a passing outage
    /// ([`store::CodecError::Unavailable`], 503 in the API), anything else is not.
    pub fn into_codec_error(self) -> store::CodecError {
        match self {
            Self::Database(dbkit::DbError::Unavailable(error)) => {
                store::CodecError::Unavailable(error)
            }
            other => store::CodecError::Invalid(other.to_string()),
        }
    }
}
