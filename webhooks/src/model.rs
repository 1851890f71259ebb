//! The values the crate takes and gives: subscriptions, deliveries, attempts, status. Plain
//! data with `Serialize`, so the API layer can wrap them in its own documented views.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use store::{Position, StreamRef};
use uuid::Uuid;

use crate::error::WebhookError;
use crate::secret::SigningSecret;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Parses the hyphenated form, as it appears in URLs.
            pub fn parse(text: &str) -> Result<Self, WebhookError> {
                Uuid::parse_str(text)
                    .map(Self)
                    .map_err(|_| WebhookError::NotFound($what))
            }

            pub(crate) fn from_stored(text: &str) -> Result<Self, WebhookError> {
                Uuid::parse_str(text)
                    .map(Self)
                    .map_err(|_| WebhookError::Corrupt(format!("{} id {text:?}", $what)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

id_type!(
    /// A subscription's id (UUIDv7).
    SubscriptionId,
    "subscription"
);
id_type!(
    /// An outbox row's id (UUIDv7): one event for one subscription.
    DeliveryId,
    "delivery"
);

/// Who asks, as the API's verified token says: their subject, and the region whose
/// subscriptions they manage. Every operation is confined to that region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub region: String,
}

/// What a region asks for when it registers a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSpec {
    /// Where to POST: `https://…` (see [`crate::UrlPolicy`]).
    pub url: String,
    /// Exact CloudEvents types, prefixes ending in `.*`, or `*`.
    pub event_types: Vec<String>,
    /// A label for people ("Case system, production"); at most 200 characters.
    pub description: Option<String>,
}

/// A subscription as stored (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub region: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub active: bool,
    /// The log's head when the subscription was registered: it receives the matching events
    /// after this position, and none before.
    pub starts_after: Position,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub deactivated_by: Option<String>,
    pub deactivation_reason: Option<String>,
}

/// The answer to a registration: the subscription, and its signing secret, shown this once.
#[derive(Debug, Clone)]
pub struct Registered {
    pub subscription: Subscription,
    pub secret: SigningSecret,
}

/// The answer to a registration with an idempotency key.
#[derive(Debug, Clone)]
pub enum Registration {
    /// The first request with the key: created, with its secret.
    Created(Registered),
    /// A retry: the subscription the key created before. Its secret is not shown again.
    Existing(Subscription),
}

/// The answer to a secret rotation: the new secret, shown this once, and until when the
/// previous one keeps signing beside it.
#[derive(Debug, Clone)]
pub struct Rotated {
    pub subscription: Subscription,
    pub secret: SigningSecret,
    pub previous_expires_at: DateTime<Utc>,
}

/// Where an outbox row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt (or for an earlier event of its stream).
    Pending,
    /// Claimed by a worker, which holds a lease on it.
    Delivering,
    /// The receiver answered 2xx.
    Delivered,
    /// Failed `max_attempts` times (or the receiver answered 410 Gone): no more attempts
    /// until someone redelivers or skips it. Later events of its stream wait behind it.
    Parked,
    /// Given up on by an operator: never sent again unless redelivered; no longer holds up
    /// its stream.
    Skipped,
}

impl DeliveryStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Delivering,
        Self::Delivered,
        Self::Parked,
        Self::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivering => "delivering",
            Self::Delivered => "delivered",
            Self::Parked => "parked",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event for one subscription: an outbox row. Holds no payload: the body is rendered
/// from the store at each attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub subscription_id: SubscriptionId,
    pub position: Position,
    /// The `webhook-id` of every attempt.
    pub event_id: Uuid,
    /// The CloudEvents type.
    pub event_type: String,
    pub stream: StreamRef,
    pub status: DeliveryStatus,
    /// Attempts since the row was created or last redelivered.
    pub attempts: u32,
    /// When the next attempt is due (pending rows).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last attempt, when it got one.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// 2xx.
    Delivered,
    /// Any other status, a timeout, a refused or broken connection.
    Failed,
    /// The worker stopped (crashed) before recording an outcome; its lease expired.
    Abandoned,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Abandoned => "abandoned",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        [Self::Delivered, Self::Failed, Self::Abandoned]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// One attempt in the delivery log: when, how long, what came back. Never the body, never
/// the secret or signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub delivery_id: DeliveryId,
    /// 1 for the first attempt after the row was created or redelivered.
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub outcome: AttemptOutcome,
    /// The instance that made the attempt.
    pub worker: String,
}

/// A person's action on a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InterventionKind {
    Redeliver,
    Skip,
}

/// Who redelivered or skipped a delivery, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Intervention {
    pub action: InterventionKind,
    /// The status the delivery had before.
    pub from_status: DeliveryStatus,
    pub requested_at: DateTime<Utc>,
    pub requested_by: String,
}

/// A delivery with its attempt log and interventions, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryDetail {
    pub delivery: Delivery,
    pub attempts: Vec<Attempt>,
    pub interventions: Vec<Intervention>,
}

/// Which deliveries of a subscription to list: newest (highest position) first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryQuery {
    /// Only deliveries in this status.
    pub status: Option<DeliveryStatus>,
    /// Only deliveries of events before this position: the previous page's `next`.
    pub before: Option<Position>,
    /// At most this many (1 to 500; 100 when 0).
    pub limit: u32,
}

/// A page of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    /// The `before` of the next page; `None` on the last.
    pub next: Option<Position>,
}

/// Who runs the outbox projector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Leader {
    /// This process.
    Here,
    /// Another process holds the projector's lock (PostgreSQL).
    Elsewhere,
    /// Nobody, as far as can be seen.
    Nobody,
}

/// The webhooks' state for `/readyz`, `/metrics` and operators.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookStatus {
    /// The outbox projector's checkpoint.
    pub checkpoint: Position,
    pub head: Position,
    pub lag_events: u64,
    pub leader: Leader,
    /// Why the projector last failed, until it succeeds again.
    pub projector_error: Option<String>,
    /// Whether this process runs the projector and workers.
    pub running: bool,
    /// Outbox rows per status, over all subscriptions. Delivered and skipped rows are counted
    /// only by `Webhooks::status` (they grow with every delivery; `Webhooks::health` leaves
    /// them out).
    pub pending: u64,
    pub delivering: u64,
    pub delivered: Option<u64>,
    pub parked: u64,
    pub skipped: Option<u64>,
    /// How long the earliest due pending row has been due; 0 when none is. Rows waiting
    /// behind an earlier event of their case (parked or being retried) count as due, so a
    /// growing figure means deliveries are stuck, whatever the reason.
    pub oldest_due_seconds: f64,
}
