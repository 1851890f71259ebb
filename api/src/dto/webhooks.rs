//! What the API takes and shows of webhooks: subscription requests, subscriptions (the signing
//! secret only in the answer to their creation), deliveries and their attempts. Built from the
//! `webhooks` crate's plain values, which never derive `ToSchema`.

use ::webhooks::{
    Attempt, Delivery, DeliveryDetail, DeliveryPage, DeliveryStatus, Intervention, Registered,
    Subscription, SubscriptionSpec,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::code_of;

/// A new subscription: where to send, and which events.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscriptionRequest {
    /// The endpoint that receives the deliveries (POST): `https://` (development also allows
    /// `http://` to a loopback host), without credentials or fragment, at most 2,048 bytes. In
    /// production the host must not be a private, loopback or reserved address.
    #[schema(example = "https://cases.region.example/anslut/webhooks")]
    pub url: String,
    /// CloudEvents types to receive: exact types
    /// (`se.anslut.connection_case.ApplicationApproved.v1`), prefixes ending in `.*`
    /// (`se.anslut.security_incident.*`), or `*` for every event of the region. 1 to 64
    /// entries; each must match at least one type this system records.
    #[schema(example = json!(["se.anslut.connection_case.*", "se.anslut.security_incident.IncidentReported.v1"]))]
    pub event_types: Vec<String>,
    /// A label for people, at most 200 characters.
    #[schema(example = "Case system, production")]
    pub description: Option<String>,
}

impl From<CreateSubscriptionRequest> for SubscriptionSpec {
    fn from(request: CreateSubscriptionRequest) -> Self {
        Self {
            url: request.url,
            event_types: request.event_types,
            description: request.description,
        }
    }
}

/// A subscription of the caller's region. Never its signing secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionView {
    #[schema(example = "0196a3d0-7b1c-7e2a-9f3d-2c4b6a8e0f12")]
    pub subscription_id: Uuid,
    #[schema(example = "jamtland-harjedalen")]
    pub region: String,
    #[schema(example = "https://cases.region.example/anslut/webhooks")]
    pub url: String,
    /// The patterns, de-duplicated and sorted.
    #[schema(example = json!(["se.anslut.connection_case.*"]))]
    pub event_types: Vec<String>,
    #[schema(example = "Case system, production")]
    pub description: Option<String>,
    /// False once deactivated (on request, or by a receiver answering 410 Gone): nothing more
    /// is enqueued or sent.
    #[schema(example = true)]
    pub active: bool,
    /// The log's head when the subscription was created: it receives the matching events
    /// after this position.
    #[schema(example = 1290)]
    pub starts_after: u64,
    #[schema(example = "2026-05-04T09:12:00Z")]
    pub created_at: DateTime<Utc>,
    /// The token subject that created it.
    #[schema(example = "integration-case-system")]
    pub created_by: String,
    #[schema(example = json!(null))]
    pub deactivated_at: Option<DateTime<Utc>>,
    #[schema(example = json!(null))]
    pub deactivated_by: Option<String>,
    #[schema(example = json!(null))]
    pub deactivation_reason: Option<String>,
}

impl From<Subscription> for SubscriptionView {
    fn from(s: Subscription) -> Self {
        Self {
            subscription_id: s.id.0,
            region: s.region,
            url: s.url,
            event_types: s.event_types,
            description: s.description,
            active: s.active,
            starts_after: s.starts_after.get(),
            created_at: s.created_at,
            created_by: s.created_by,
            deactivated_at: s.deactivated_at,
            deactivated_by: s.deactivated_by,
            deactivation_reason: s.deactivation_reason,
        }
    }
}

/// The answer to a creation: the subscription and its signing secret, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedSubscriptionView {
    pub subscription: SubscriptionView,
    /// The Standard Webhooks signing secret, `whsec_` and base64 of 32 random bytes. Shown
    /// only here: Anslut keeps it sealed and never shows it again. Verify each delivery's
    /// `webhook-signature` with it.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw3z5ezdJ2nNE=")]
    pub secret: String,
}

impl From<Registered> for CreatedSubscriptionView {
    fn from(registered: Registered) -> Self {
        Self {
            secret: registered.secret.expose(),
            subscription: registered.subscription.into(),
        }
    }
}

/// The default overlap of a secret rotation: a day.
pub const DEFAULT_ROTATION_OVERLAP_SECONDS: u64 = 24 * 3600;
/// The longest overlap of a secret rotation: a week.
pub const MAX_ROTATION_OVERLAP_SECONDS: u64 = 7 * 24 * 3600;

/// How long the previous secret keeps signing after a rotation.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretQuery {
    /// Seconds the previous secret keeps signing beside the new one, 0 to 604800 (a week);
    /// 86400 (a day) by default. 0 stops it at once.
    #[param(example = 86400, minimum = 0, maximum = 604_800)]
    pub overlap_seconds: Option<u64>,
}

/// The answer to a rotation: the subscription, its new signing secret (shown this once), and
/// until when the previous secret signs too.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RotatedSecretView {
    pub subscription: SubscriptionView,
    /// The new Standard Webhooks signing secret, `whsec_` and base64 of 32 random bytes. Shown
    /// only here.
    #[schema(example = "whsec_Q2hhbmdlZCBzZWNyZXQgZm9yIHRoZSBleGFtcGxlIQ==")]
    pub secret: String,
    /// Until this time deliveries carry the previous secret's signature beside the new one's.
    #[schema(example = "2026-05-05T09:12:00Z")]
    pub previous_secret_expires_at: DateTime<Utc>,
}

impl From<::webhooks::Rotated> for RotatedSecretView {
    fn from(rotated: ::webhooks::Rotated) -> Self {
        Self {
            secret: rotated.secret.expose(),
            previous_secret_expires_at: rotated.previous_expires_at,
            subscription: rotated.subscription.into(),
        }
    }
}

/// The region's subscriptions, active or not, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionListView {
    pub subscriptions: Vec<SubscriptionView>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatusDto {
    /// Waiting for its first or next attempt, or for an earlier event of its case.
    Pending,
    /// Being sent.
    Delivering,
    /// The receiver answered 2xx.
    Delivered,
    /// Failed every attempt (or the receiver answered 410 Gone): it waits for a redelivery
    /// or a skip, and later events of its case wait behind it.
    Parked,
    /// Given up on by a person; no longer holds up its case.
    Skipped,
}

impl From<DeliveryStatusDto> for DeliveryStatus {
    fn from(status: DeliveryStatusDto) -> Self {
        match status {
            DeliveryStatusDto::Pending => Self::Pending,
            DeliveryStatusDto::Delivering => Self::Delivering,
            DeliveryStatusDto::Delivered => Self::Delivered,
            DeliveryStatusDto::Parked => Self::Parked,
            DeliveryStatusDto::Skipped => Self::Skipped,
        }
    }
}

/// One event for one subscription.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryView {
    #[schema(example = "0196a3d2-0c4e-7f10-8b2a-6d1e3f5a7c90")]
    pub delivery_id: Uuid,
    #[schema(example = "0196a3d0-7b1c-7e2a-9f3d-2c4b6a8e0f12")]
    pub subscription_id: Uuid,
    /// The event's global position.
    #[schema(example = 1291)]
    pub position: u64,
    /// The event id: the `webhook-id` of every attempt.
    #[schema(example = "0196a3d1-9e2f-7a64-b1c3-4d5e6f708192")]
    pub event_id: Uuid,
    /// The CloudEvents type.
    #[schema(example = "se.anslut.connection_case.ApplicationApproved.v1")]
    pub event_type: String,
    /// `connection_case` or `security_incident`.
    #[schema(example = "connection_case")]
    pub stream_type: String,
    /// The case or incident id.
    #[schema(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub stream_id: String,
    /// `pending`, `delivering`, `delivered`, `parked` or `skipped`.
    #[schema(example = "delivered")]
    pub status: String,
    /// Attempts since it was created or last redelivered.
    #[schema(example = 1)]
    pub attempts: u32,
    /// When the next attempt is due (pending deliveries).
    #[schema(example = json!(null))]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last attempt, when it got one.
    #[schema(example = 204)]
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    #[schema(example = json!(null))]
    pub last_error: Option<String>,
    #[schema(example = "2026-05-04T09:14:03Z")]
    pub created_at: DateTime<Utc>,
    #[schema(example = "2026-05-04T09:14:04Z")]
    pub updated_at: DateTime<Utc>,
    #[schema(example = "2026-05-04T09:14:04Z")]
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            delivery_id: d.id.0,
            subscription_id: d.subscription_id.0,
            position: d.position.get(),
            event_id: d.event_id,
            event_type: d.event_type,
            stream_type: d.stream.stream_type,
            stream_id: d.stream.stream_id,
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error,
            created_at: d.created_at,
            updated_at: d.updated_at,
            delivered_at: d.delivered_at,
        }
    }
}

/// A page of a subscription's delivery log, newest event first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryPageView {
    pub deliveries: Vec<DeliveryView>,
    /// The `before` of the next page; `null` on the last.
    #[schema(example = 1187)]
    pub next: Option<u64>,
}

impl From<DeliveryPage> for DeliveryPageView {
    fn from(page: DeliveryPage) -> Self {
        Self {
            deliveries: page.deliveries.into_iter().map(Into::into).collect(),
            next: page.next.map(store::Position::get),
        }
    }
}

/// One attempt: when, how long, what came back. Never the body, the secret or the signature.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    /// 1 for the first attempt after the delivery was created or redelivered.
    #[schema(example = 1)]
    pub attempt: u32,
    #[schema(example = "2026-05-04T09:14:03Z")]
    pub started_at: DateTime<Utc>,
    #[schema(example = 84)]
    pub duration_ms: u64,
    #[schema(example = 204)]
    pub status_code: Option<u16>,
    #[schema(example = json!(null))]
    pub error: Option<String>,
    /// `delivered`, `failed` or `abandoned` (the worker stopped before recording).
    #[schema(example = "delivered")]
    pub outcome: String,
    /// The instance that made the attempt.
    #[schema(example = "instance-3f9a1c2b7d4e")]
    pub worker: String,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        Self {
            attempt: a.attempt,
            started_at: a.started_at,
            duration_ms: a.duration_ms,
            status_code: a.status_code,
            error: a.error,
            outcome: a.outcome.as_str().to_owned(),
            worker: a.worker,
        }
    }
}

/// A redelivery or skip, and who asked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InterventionView {
    /// `redeliver` or `skip`.
    #[schema(example = "redeliver")]
    pub action: String,
    /// The status the delivery had before.
    #[schema(example = "parked")]
    pub from_status: String,
    #[schema(example = "2026-05-04T11:30:00Z")]
    pub requested_at: DateTime<Utc>,
    #[schema(example = "region-it-anna")]
    pub requested_by: String,
}

impl From<Intervention> for InterventionView {
    fn from(i: Intervention) -> Self {
        Self {
            action: code_of(&i.action),
            from_status: i.from_status.as_str().to_owned(),
            requested_at: i.requested_at,
            requested_by: i.requested_by,
        }
    }
}

/// A delivery with its attempts and interventions, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryDetailView {
    pub delivery: DeliveryView,
    pub attempts: Vec<AttemptView>,
    pub interventions: Vec<InterventionView>,
}

impl From<DeliveryDetail> for DeliveryDetailView {
    fn from(detail: DeliveryDetail) -> Self {
        Self {
            delivery: detail.delivery.into(),
            attempts: detail.attempts.into_iter().map(Into::into).collect(),
            interventions: detail.interventions.into_iter().map(Into::into).collect(),
        }
    }
}

/// The most deliveries one page holds.
pub const MAX_DELIVERY_LIMIT: u32 = 500;

/// Which deliveries of a subscription to list.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQueryParams {
    /// Only deliveries in this status.
    #[param(example = "parked", inline)]
    pub status: Option<DeliveryStatusDto>,
    /// Only deliveries of events before this position: the previous page's `next`.
    #[param(example = 1187, minimum = 1)]
    pub before: Option<u64>,
    /// At most this many, 1 to 500; 100 by default.
    #[param(example = 100, minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The webhooks in `/readyz`: what waits to be delivered, and how long the oldest has.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookHealthView {
    /// Deliveries waiting for their first or next attempt.
    #[schema(example = 3)]
    pub pending: u64,
    /// Deliveries being sent.
    #[schema(example = 1)]
    pub delivering: u64,
    /// Deliveries that failed every attempt and wait for a person (redeliver or skip).
    #[schema(example = 0)]
    pub parked: u64,
    /// How long the earliest due pending delivery has been due, in seconds; 0 when none is.
    /// A growing figure means deliveries are stuck (a receiver down, or a parked event
    /// holding back its case).
    #[schema(example = 0.4)]
    pub oldest_due_seconds: f64,
    /// Events in the log the outbox projector has not looked at yet.
    #[schema(example = 0)]
    pub lag_events: u64,
}

impl From<&::webhooks::WebhookStatus> for WebhookHealthView {
    fn from(status: &::webhooks::WebhookStatus) -> Self {
        Self {
            pending: status.pending,
            delivering: status.delivering,
            parked: status.parked,
            oldest_due_seconds: (status.oldest_due_seconds * 1000.0).round() / 1000.0,
            lag_events: status.lag_events,
        }
    }
}
