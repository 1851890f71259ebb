//! What a delivery carries: the event as a CloudEvents 1.0 JSON event (structured mode,
//! `application/cloudevents+json`), with the same fields as the API's feed (`GET /v1/feed`),
//! so a receiver that reads both sees one shape. Kept here, free of HTTP and OpenAPI types,
//! so that the API can render its feed from the same function.
//!
//! Tenancy comes from the event's own metadata (`tenant_region`, `tenant_org`), written by
//! the API's command pipeline with every append: the outbox projector routes by it, and an
//! event without it is sent to nobody (as the feed shows it to nobody).

use chrono::{DateTime, Utc};
use domain::Role;
use domain::disclosure::{Outlet, redact};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::{EventMetadata, RecordedEvent};
use uuid::Uuid;

/// The metadata key holding the region of the resource an event belongs to.
pub const TENANT_REGION: &str = "tenant_region";
/// The metadata key holding the provider organisation of the resource an event belongs to.
pub const TENANT_ORG: &str = "tenant_org";
/// The media type of a delivery's body.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";

/// The region an event's metadata names, if any.
pub fn region_of(metadata: &EventMetadata) -> Option<&str> {
    metadata.extra.get(TENANT_REGION).map(String::as_str)
}

/// `se.anslut.<stream type>.<event type>.v<event version>`.
pub fn event_type_of(event: &RecordedEvent) -> String {
    format!(
        "se.anslut.{}.{}.v{}",
        event.stream.stream_type, event.event_type, event.event_version
    )
}

/// One event as a CloudEvent 1.0 in the JSON event format. `position` and `streamversion`
/// are decimal strings: CloudEvents integers are 32-bit, positions 64-bit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    /// Always `1.0`.
    pub specversion: String,
    /// The event id: unique in the log, and the `webhook-id` of its deliveries.
    pub id: Uuid,
    /// `/regions/<region>/cases/<case id>` or `/regions/<region>/incidents/<incident id>`.
    pub source: String,
    /// `se.anslut.<stream type>.<event type>.v<version>`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The case or incident id.
    pub subject: String,
    /// When the store recorded the event.
    pub time: DateTime<Utc>,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The event's content as the domain records it (`change.data` of the payload), with no
    /// personal data: each personal value keeps its subject id and lists what was withheld.
    pub data: Value,
    /// Extension: the event's global position.
    pub position: String,
    /// Extension: the event's version in its stream.
    pub streamversion: String,
    /// Extension: the request that recorded the event.
    pub correlationid: String,
    /// Extension: the role of who recorded it; absent for the system itself.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub actorrole: Option<String>,
}

impl CloudEvent {
    /// The CloudEvent of a recorded event of a stream in `region`, its personal data as the
    /// disclosure policy lets webhooks carry it (`domain::disclosure`, outlet `Webhook`:
    /// subject ids only, no value). A URL is no role: Anslut cannot tell who holds the
    /// receiving end (region IT may point it anywhere), and a pushed copy is out of reach of
    /// a later erasure; a receiver that needs a name reads the case's history with its own
    /// token, under its own role.
    pub fn of(event: &RecordedEvent, region: &str) -> Self {
        Self::disclosed(event, region, Role::Integration, Outlet::Webhook)
    }

    /// The CloudEvent of a recorded event of a stream in `region`, its personal data as the
    /// disclosure policy lets `outlet` show it to `role`: the one mapping from the log to a
    /// CloudEvent, for the webhooks ([`Self::of`]) and the API's feed alike.
    pub fn disclosed(event: &RecordedEvent, region: &str, role: Role, outlet: Outlet) -> Self {
        let data = disclosed_data(&event.payload, role, outlet);
        let stream = &event.stream;
        let collection = match stream.stream_type.as_str() {
            "connection_case" => "cases",
            "security_incident" => "incidents",
            other => other,
        };
        Self {
            specversion: "1.0".into(),
            id: event.event_id,
            source: format!("/regions/{region}/{collection}/{}", stream.stream_id),
            event_type: event_type_of(event),
            subject: stream.stream_id.clone(),
            time: event.recorded_at,
            datacontenttype: "application/json".into(),
            data,
            position: event.position.to_string(),
            streamversion: event.version.to_string(),
            correlationid: event.metadata.correlation_id.to_string(),
            actorrole: event.metadata.actor.as_ref().map(|a| a.role.clone()),
        }
    }
}

/// The event's content, the `data` of its `change` as the domain serialises it, with its
/// personal data as the disclosure policy lets `outlet` show it to `role`.
pub fn disclosed_data(payload: &Value, role: Role, outlet: Outlet) -> Value {
    let mut data = payload
        .get("change")
        .and_then(|change| change.get("data"))
        .cloned()
        .unwrap_or(Value::Null);
    redact(&mut data, role, outlet);
    data
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;
    use store::{ActorRecord, EventHash, Position, StreamRef};

    use super::*;

    #[test]
    fn an_event_renders_with_the_feeds_fields() {
        let mut metadata = EventMetadata::new(
            Uuid::now_v7(),
            Some(ActorRecord {
                subject: "officer-7".into(),
                role: "officer".into(),
                region: "dalarna".into(),
                provider_org: None,
            }),
        );
        metadata.extra = BTreeMap::from([(TENANT_REGION.to_owned(), "dalarna".to_owned())]);
        let event = RecordedEvent {
            position: Position(1287),
            stream: StreamRef::new("connection_case", "case-1"),
            version: 3,
            event_id: Uuid::now_v7(),
            event_type: "ContractSigned".into(),
            event_version: "1".into(),
            payload: json!({"at": "2026-03-02T09:14:03Z", "change": {"type": "ContractSigned", "data": {"document": "RS 2026/114"}}}),
            metadata,
            recorded_at: Utc::now(),
            prev_hash: EventHash::from_slice(&[0; 32]).unwrap(),
            hash: EventHash::from_slice(&[1; 32]).unwrap(),
        };
        let rendered = serde_json::to_value(CloudEvent::of(&event, "dalarna")).unwrap();
        assert_eq!(rendered["specversion"], "1.0");
        assert_eq!(rendered["id"], event.event_id.to_string());
        assert_eq!(rendered["source"], "/regions/dalarna/cases/case-1");
        assert_eq!(
            rendered["type"],
            "se.anslut.connection_case.ContractSigned.v1"
        );
        assert_eq!(rendered["subject"], "case-1");
        assert_eq!(rendered["datacontenttype"], "application/json");
        assert_eq!(rendered["data"], json!({"document": "RS 2026/114"}));
        assert_eq!(rendered["position"], "1287");
        assert_eq!(rendered["streamversion"], "3");
        assert_eq!(rendered["actorrole"], "officer");
        assert_eq!(region_of(&event.metadata), Some("dalarna"));
    }
}
