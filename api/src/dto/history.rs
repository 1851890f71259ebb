//! What the API shows of a stream's history, and of a case or incident at a past point.

use chrono::{DateTime, Utc};
use domain::Role;
use domain::disclosure::Outlet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::{ActorRecord, RecordedEvent};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::incidents::IncidentView;
use super::views::CaseView;
use crate::problem::{ApiError, FieldError, ProblemCode};

/// The most events one history page holds.
pub const MAX_HISTORY_LIMIT: u32 = 500;
/// The events a history page holds unless `limit` says otherwise.
pub const DEFAULT_HISTORY_LIMIT: u32 = 100;

/// Who recorded an event, as the verified token named them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActorView {
    /// The token's `sub`.
    #[schema(example = "SE2321000032-officer7")]
    pub subject: String,
    /// `officer`, `region_it`, `provider`, `auditor`, `dashboard` or `integration`.
    #[schema(example = "officer")]
    pub role: String,
    #[schema(example = "jamtland-harjedalen")]
    pub region: String,
    /// The organisation a provider acted for; `null` for the region's roles.
    #[schema(example = json!(null))]
    pub provider_org: Option<String>,
}

impl From<&ActorRecord> for ActorView {
    fn from(actor: &ActorRecord) -> Self {
        Self {
            subject: actor.subject.clone(),
            role: actor.role.clone(),
            region: actor.region.clone(),
            provider_org: actor.provider_org.clone(),
        }
    }
}

/// One event of a case's or an incident's history: what happened, who did it, when and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryEventView {
    /// The event's place in the global log: the `position` of the event feed and of the
    /// audit proofs.
    #[schema(example = 1287)]
    pub position: u64,
    /// The event's version in its stream (1 for the first); the `ETag` the resource had
    /// after it.
    #[schema(example = 4)]
    pub version: u64,
    #[schema(example = "0196a3c5-1b7e-7d40-8a9c-3f1e2d4c5b6a")]
    pub event_id: Uuid,
    /// The event type, e.g. `ContractSigned`.
    #[serde(rename = "type")]
    #[schema(example = "ContractSigned")]
    pub event_type: String,
    /// The version of the event type's shape.
    #[schema(example = "1")]
    pub event_version: String,
    /// When the store recorded the event (the database's clock).
    #[schema(example = "2026-03-02T09:14:03.512230Z")]
    pub recorded_at: DateTime<Utc>,
    /// When the domain decided it (the application's clock).
    #[schema(example = "2026-03-02T09:14:03.498811Z")]
    pub at: DateTime<Utc>,
    /// Who did it; `null` for the system itself.
    pub actor: Option<ActorView>,
    /// The command that recorded the event (derived from the `Idempotency-Key` when one was
    /// sent).
    #[schema(example = "5c0d0c52-0a4e-5f0b-9d53-0e7c1f6f2a11")]
    pub command_id: Uuid,
    /// The request that sent the command (its `X-Request-Id`).
    #[schema(example = "0196a3c5-1b70-7c1e-b2a4-7d9e8f6a5b4c")]
    pub correlation_id: Uuid,
    /// The event or command that caused this one, when there is one.
    #[schema(example = json!(null))]
    pub causation_id: Option<Uuid>,
    /// The reason given with a decision; `null` for events that are not decisions.
    #[schema(example = json!(null))]
    pub reason: Option<String>,
    /// The event's content as the domain records it, personal data as the caller's role
    /// may see it: `{"pii": {"subject": ..., "value": {...}, "withheld": [...]}}` (the
    /// fields the role may not see are left out and named in `withheld`; the personnummer
    /// always is), or `{"pii": {"subject": ..., "erased": true}}` once forgotten.
    #[schema(value_type = Object, example = json!({"signed_on": "2026-03-02", "document": "RS 2026/114"}))]
    pub data: Value,
}

/// The event's content as a caller of `role` may see it in `outlet`: every personal value
/// reduced to what `domain::disclosure` allows (the personnummer never; dashboards nothing).
/// The one way the API, the feed and the webhooks turn an event into a body (it lives with
/// the CloudEvent mapping the feed and the webhooks share).
pub use ::webhooks::cloudevent::disclosed_data;

impl HistoryEventView {
    /// The view of a recorded event for a caller of `role`, given what the domain event
    /// says of its time and reason.
    pub fn of(
        event: &RecordedEvent,
        at: DateTime<Utc>,
        reason: Option<String>,
        role: Role,
    ) -> Self {
        Self {
            position: event.position.get(),
            version: event.version,
            event_id: event.event_id,
            event_type: event.event_type.clone(),
            event_version: event.event_version.clone(),
            recorded_at: event.recorded_at,
            at,
            actor: event.metadata.actor.as_ref().map(ActorView::from),
            command_id: event.metadata.command_id,
            correlation_id: event.metadata.correlation_id,
            causation_id: event.metadata.causation_id,
            reason,
            data: disclosed_data(&event.payload, role, Outlet::History),
        }
    }
}

/// A page of a history, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryPage {
    pub events: Vec<HistoryEventView>,
    /// The next page (also in the `Link` header, `rel="next"`); `null` on the last page.
    #[schema(
        example = "/v1/cases/0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e/history?after_version=100&limit=100"
    )]
    pub next: Option<String>,
}

/// Which page of a history.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Start after this stream version (the `version` of the last event seen); 0, the
    /// default, starts at the first event.
    #[param(example = 100)]
    pub after_version: Option<u64>,
    /// At most this many events, 1 to 500; 100 by default.
    #[param(example = 100, minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

impl HistoryQuery {
    /// The page size, or 400 `invalid_query`.
    /// The version to page after, 0 (the start) by default.
    pub fn after_version(&self) -> Result<u64, ApiError> {
        int64_param("after_version", self.after_version.unwrap_or(0))
    }

    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_HISTORY_LIMIT),
            Some(limit) if (1..=MAX_HISTORY_LIMIT).contains(&limit) => Ok(limit),
            Some(_) => Err(invalid_query(
                "limit",
                format!("must be 1 to {MAX_HISTORY_LIMIT}"),
            )),
        }
    }
}

/// A global position or stream version given in a query: the database stores them as BIGINT,
/// and the spec says int64, so a larger value is 400 `invalid_query` naming the parameter.
pub fn int64_param(parameter: &str, value: u64) -> Result<u64, ApiError> {
    within_int64(value).ok_or_else(|| invalid_query(parameter, int64_range()))
}

/// The same bound for a path parameter: 400 `invalid_path` naming it.
pub fn int64_path(parameter: &str, value: u64) -> Result<u64, ApiError> {
    within_int64(value)
        .ok_or_else(|| invalid_field(ProblemCode::InvalidPath, parameter, int64_range()))
}

fn within_int64(value: u64) -> Option<u64> {
    i64::try_from(value).is_ok().then_some(value)
}

fn int64_range() -> String {
    format!("must be 0 to {}", i64::MAX)
}

/// 400 `invalid_query` naming one parameter.
pub fn invalid_query(parameter: &str, message: impl Into<String>) -> ApiError {
    invalid_field(ProblemCode::InvalidQuery, parameter, message.into())
}

/// 400 with `code`, naming one parameter.
fn invalid_field(code: ProblemCode, parameter: &str, message: String) -> ApiError {
    ApiError::invalid(
        code,
        format!("{parameter}: {message}"),
        &[FieldError {
            path: parameter.to_owned(),
            message,
        }],
    )
}

/// A point in a stream's past: the last event within every bound given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsOf {
    /// Only events the store recorded at or before this time.
    pub time: Option<DateTime<Utc>>,
    /// Only events at or before this global position.
    pub position: Option<u64>,
}

impl AsOf {
    /// Whether an event recorded at `recorded_at` at `position` is within every bound.
    pub fn includes(&self, recorded_at: DateTime<Utc>, position: u64) -> bool {
        self.time.is_none_or(|time| recorded_at <= time)
            && self.position.is_none_or(|bound| position <= bound)
    }
}

/// Reading a case or incident as it stood at a past point.
///
/// `as_of` and `as_of_position` may be given together: both bound the same replay from
/// above, so together the state is the one after the last event within both, and the answer's
/// `as_of` names that event. A client that sends both (a dashboard keeping a position and a
/// time picker, say) gets the earlier of the two points, never a refusal it would have to
/// special-case; one that sends one gets exactly that point.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AsOfQuery {
    /// Answer the state as it was at this instant (RFC 3339, e.g. `2026-03-02T10:00:00Z`;
    /// encode a `+` offset as `%2B`): rebuilt from the events the store recorded at or
    /// before it. With `as_of_position` too, from the events within both.
    #[param(value_type = Option<String>, format = DateTime, example = "2026-03-02T10:00:00Z")]
    pub as_of: Option<DateTime<Utc>>,
    /// Answer the state as it was at this global position of the log: rebuilt from the
    /// events at or before it. With `as_of` too, from the events within both.
    #[param(example = 1287)]
    pub as_of_position: Option<u64>,
}

impl AsOfQuery {
    /// The point asked for, `None` for the current state.
    pub fn point(&self) -> Result<Option<AsOf>, ApiError> {
        let position = self
            .as_of_position
            .map(|position| int64_param("as_of_position", position))
            .transpose()?;
        Ok(
            (self.as_of.is_some() || position.is_some()).then_some(AsOf {
                time: self.as_of,
                position,
            }),
        )
    }
}

/// The last event a past state was rebuilt from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AsOfView {
    /// Its global position.
    #[schema(example = 1287)]
    pub position: u64,
    /// When the store recorded it.
    #[schema(example = "2026-03-02T09:14:03.512230Z")]
    pub recorded_at: DateTime<Utc>,
}

/// A case: as it stands now, or, with `as_of` or `as_of_position`, as it stood then
/// (with `as_of` saying which event it was rebuilt up to).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseReadView {
    #[serde(flatten)]
    pub case: CaseView,
    /// For a past state only: the last event it was rebuilt from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<AsOfView>,
}

/// An incident: as it stands now, or as it stood at a past point.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentReadView {
    #[serde(flatten)]
    pub incident: IncidentView,
    /// For a past state only: the last event it was rebuilt from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<AsOfView>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_data_is_the_changes_content() {
        let payload = json!({"actor": {}, "at": "2026-01-01T00:00:00Z",
            "change": {"type": "ContractSigned", "data": {"signed_on": "2026-01-01"}}});
        assert_eq!(
            disclosed_data(&payload, Role::Officer, Outlet::History),
            json!({"signed_on": "2026-01-01"})
        );
        assert_eq!(
            disclosed_data(&json!({"other": 1}), Role::Officer, Outlet::History),
            Value::Null
        );
    }

    #[test]
    fn a_point_is_a_time_a_position_or_both() {
        let at = "2026-03-02T10:00:00Z".parse().unwrap();
        let query = |as_of, as_of_position| AsOfQuery {
            as_of,
            as_of_position,
        };
        let point = |time, position| Some(AsOf { time, position });
        assert_eq!(query(None, None).point().unwrap(), None);
        assert_eq!(
            query(Some(at), None).point().unwrap(),
            point(Some(at), None)
        );
        assert_eq!(query(None, Some(7)).point().unwrap(), point(None, Some(7)));
        assert_eq!(
            query(Some(at), Some(7)).point().unwrap(),
            point(Some(at), Some(7))
        );
        assert_eq!(
            query(None, Some(i64::MAX.unsigned_abs())).point().unwrap(),
            point(None, Some(i64::MAX.unsigned_abs()))
        );
        assert_eq!(
            query(None, Some(i64::MAX.unsigned_abs() + 1))
                .point()
                .unwrap_err()
                .code(),
            "invalid_query"
        );
        let both = AsOf {
            time: Some(at),
            position: Some(7),
        };
        assert!(both.includes(at, 7));
        assert!(!both.includes(at, 8));
        assert!(!both.includes(at + chrono::Duration::seconds(1), 7));
    }

    #[test]
    fn history_limits_are_bounded() {
        let query = |limit| HistoryQuery {
            after_version: None,
            limit,
        };
        assert_eq!(query(None).limit().unwrap(), DEFAULT_HISTORY_LIMIT);
        assert_eq!(query(Some(500)).limit().unwrap(), 500);
        assert!(query(Some(0)).limit().is_err());
        assert!(query(Some(501)).limit().is_err());
        let after = |after_version| HistoryQuery {
            after_version,
            limit: None,
        };
        assert_eq!(after(None).after_version().unwrap(), 0);
        assert_eq!(after(Some(3)).after_version().unwrap(), 3);
        assert_eq!(
            after(Some(i64::MAX.unsigned_abs() + 1))
                .after_version()
                .unwrap_err()
                .code(),
            "invalid_query"
        );
    }
}
