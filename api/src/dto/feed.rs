//! The event feed's shapes: CloudEvents 1.0 in the JSON event format, and the feed's query.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::RecordedEvent;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use domain::Role;
use domain::disclosure::Outlet;

/// The most events one feed page holds.
pub const MAX_FEED_LIMIT: u32 = 500;
/// The events a feed page holds unless `limit` says otherwise.
pub const DEFAULT_FEED_LIMIT: u32 = 100;
/// The longest a feed request waits for an event, in seconds.
pub const MAX_FEED_WAIT: u32 = 30;

/// One event of the log as a CloudEvent 1.0 (JSON event format). `position` and
/// `streamversion` are decimal strings: CloudEvents integers are 32-bit, positions 64-bit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CloudEventView {
    /// Always `1.0`.
    #[schema(example = "1.0")]
    pub specversion: String,
    /// The event id (unique in the log; the same in the history and in exports).
    #[schema(example = "0196a3c5-1b7e-7d40-8a9c-3f1e2d4c5b6a")]
    pub id: Uuid,
    /// The resource: `/regions/<region>/cases/<case_id>` or
    /// `/regions/<region>/incidents/<incident_id>`.
    #[schema(example = "/regions/jamtland-harjedalen/cases/0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub source: String,
    /// `se.anslut.<stream type>.<event type>.v<event type version>`.
    #[serde(rename = "type")]
    #[schema(example = "se.anslut.connection_case.ContractSigned.v1")]
    pub event_type: String,
    /// The case or incident id.
    #[schema(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub subject: String,
    /// When the store recorded the event.
    #[schema(example = "2026-03-02T09:14:03.512230Z")]
    pub time: DateTime<Utc>,
    /// Always `application/json`.
    #[schema(example = "application/json")]
    pub datacontenttype: String,
    /// The event's content as the domain records it, personal data as the caller's role may
    /// see it (as in the history's `data`).
    #[schema(value_type = Object, example = json!({"signed_on": "2026-03-02", "document": "RS 2026/114"}))]
    pub data: Value,
    /// Extension: the event's global position, the feed's cursor.
    #[schema(example = "1287")]
    pub position: String,
    /// Extension: the event's version in its stream.
    #[schema(example = "4")]
    pub streamversion: String,
    /// Extension: the request that recorded the event.
    #[schema(example = "0196a3c5-1b70-7c1e-b2a4-7d9e8f6a5b4c")]
    pub correlationid: String,
    /// Extension: the role of who recorded it; absent for the system itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "officer")]
    pub actorrole: Option<String>,
}

impl CloudEventView {
    /// The CloudEvent of a recorded event of a stream in `region`, for a caller of `role`:
    /// the webhooks' own mapping (`webhooks::CloudEvent`), with the feed's disclosure.
    pub fn of(event: &RecordedEvent, region: &str, role: Role) -> Self {
        ::webhooks::CloudEvent::disclosed(event, region, role, Outlet::Feed).into()
    }
}

impl From<::webhooks::CloudEvent> for CloudEventView {
    fn from(event: ::webhooks::CloudEvent) -> Self {
        let ::webhooks::CloudEvent {
            specversion,
            id,
            source,
            event_type,
            subject,
            time,
            datacontenttype,
            data,
            position,
            streamversion,
            correlationid,
            actorrole,
        } = event;
        Self {
            specversion,
            id,
            source,
            event_type,
            subject,
            time,
            datacontenttype,
            data,
            position,
            streamversion,
            correlationid,
            actorrole,
        }
    }
}

/// Where to read the feed from, how much, and how long to wait.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// Events after this position: the `Anslut-Feed-Cursor` of the previous answer; 0 (the
    /// default) from the beginning of the log.
    #[param(example = 1280)]
    pub after: Option<u64>,
    /// At most this many events, 1 to 500; 100 by default.
    #[param(example = 100, minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Long poll: when no event is available, wait up to this many seconds (0 to 30) for
    /// one before answering an empty batch; 0, the default, answers at once.
    #[param(example = 25, maximum = 30)]
    pub wait: Option<u32>,
}
