//! The crate's one error type. Codes are stable: the API layer maps each [`WebhookError::code`]
//! to a status (invalid input to 422, unknown or foreign resources to 404, a delivery in the
//! wrong state to 409, an unavailable database to 503, the rest to 500).

use std::sync::Arc;

use store::StoreError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum WebhookError {
    /// A subscription request that cannot be accepted: the message names the field and the
    /// rule, never the value sent.
    #[error("invalid subscription: {0}")]
    Invalid(String),

    /// The endpoint URL breaks the URL policy (scheme, credentials, a private or loopback
    /// address where those are refused).
    #[error("the endpoint URL is refused: {0}")]
    UrlRefused(String),

    /// No such subscription or delivery in the caller's region. A resource of another region
    /// is indistinguishable from a missing one.
    #[error("no such {0}")]
    NotFound(&'static str),

    /// The delivery or subscription is not in a state that allows the request (redelivering
    /// a delivery that is already pending, skipping one that is not parked, a redelivery for
    /// a deactivated subscription).
    #[error("{0}")]
    Conflict(String),

    /// The `Idempotency-Key` was used by the same caller for a registration with other
    /// content.
    #[error("this Idempotency-Key was used for another subscription request")]
    IdempotencyKeyReused,

    /// The region already has as many subscriptions as allowed.
    #[error("the region already has {0} active subscriptions, the most allowed")]
    TooMany(usize),

    /// The server key cannot open a stored secret (another key sealed it, or the row was
    /// altered), or a key file is unusable.
    #[error("secret key: {0}")]
    Key(String),

    /// The webhook tables hold something this version cannot read.
    #[error("webhook data is corrupt or unreadable: {0}")]
    Corrupt(String),

    /// The database could not be reached in time; retrying later is safe.
    #[error("the webhook database is unavailable")]
    Unavailable(#[source] Arc<sqlx::Error>),

    #[error("database error")]
    Database(#[source] Arc<sqlx::Error>),

    #[error("migrating the webhook tables failed")]
    Migration(#[source] Arc<sqlx::migrate::MigrateError>),

    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WebhookError {
    /// A stable machine-readable code for logs and API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "webhooks.invalid",
            Self::UrlRefused(_) => "webhooks.url_refused",
            Self::NotFound(_) => "webhooks.not_found",
            Self::Conflict(_) => "webhooks.conflict",
            Self::TooMany(_) => "webhooks.too_many",
            Self::IdempotencyKeyReused => "webhooks.idempotency_key_reused",
            Self::Key(_) => "webhooks.key",
            Self::Corrupt(_) => "webhooks.corrupt",
            Self::Unavailable(_) => "webhooks.unavailable",
            Self::Database(_) => "webhooks.database",
            Self::Migration(_) => "webhooks.migration",
            Self::Store(error) => error.code(),
        }
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Store(error) => error.is_retryable(),
            _ => false,
        }
    }
}

// The one classification of database errors (`dbkit::classify`).
dbkit::db_error_conversions!(WebhookError);

impl From<dbkit::OutOfRange> for WebhookError {
    fn from(error: dbkit::OutOfRange) -> Self {
        Self::Corrupt(error.to_string())
    }
}
