//! History and time travel: `GET /v1/cases/{case_id}/history` and
//! `GET /v1/incidents/{incident_id}/history` (every event with who, role, when, why and
//! correlation, paged by stream version), and the past states behind
//! `GET /v1/cases/{case_id}?as_of=` (or `?as_of_position=`) and the same for incidents:
//! a fresh aggregate, no snapshot, replayed from the stream's events up to the point asked.
//!
//! Tenancy is the same as for the current state: a stream the caller may not see answers 404,
//! as does a point before the resource existed.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::Role;
use domain::case::{CaseEvent, ConnectionCase};
use domain::ids::{CaseId, IncidentId};
use domain::incident::{IncidentEvent, SecurityIncident};
use serde::de::DeserializeOwned;
use store::{RecordedEvent, StreamRef};
use uuid::Uuid;

use crate::auth::Principal;
use crate::authz::{self, Authorized};
use crate::commands;
use crate::dto::history::{
    AsOf, AsOfView, CaseReadView, HistoryEventView, HistoryPage, HistoryQuery, IncidentReadView,
};
use crate::dto::incidents::IncidentView;
use crate::dto::views::CaseView;
use crate::problem::ApiError;
use crate::state::AppState;

/// Events read per page while replaying a stream.
const REPLAY_PAGE: u64 = 1000;

/// What the history needs of a domain event beyond the store's record of it.
trait DomainRecord: DeserializeOwned {
    /// When the domain decided it.
    fn at(&self) -> DateTime<Utc>;
    /// The reason recorded with a decision.
    fn reason(&self) -> Option<String>;
}

impl DomainRecord for CaseEvent {
    fn at(&self) -> DateTime<Utc> {
        self.at
    }

    fn reason(&self) -> Option<String> {
        self.change.reason().map(ToString::to_string)
    }
}

impl DomainRecord for IncidentEvent {
    fn at(&self) -> DateTime<Utc> {
        self.at
    }

    fn reason(&self) -> Option<String> {
        self.change.reason().map(ToString::to_string)
    }
}

/// The domain event a stored event holds; a stored event the domain cannot read is a 500.
fn domain_event<E: DeserializeOwned>(event: &RecordedEvent) -> Result<E, ApiError> {
    serde_json::from_value(event.payload.clone()).map_err(|error| {
        ApiError::internal(format!(
            "the event at position {} does not read as a {}: {error}",
            event.position, event.event_type
        ))
    })
}

/// `GET /v1/cases/{case_id}/history`
#[utoipa::path(
    tag = "cases",
    summary = "Read a case's history",
    description = "Every event of the case, oldest first, with its metadata: the global \
`position`, the stream `version`, the event id, type and type version, when the store recorded \
it (`recorded_at`) and when the domain decided it (`at`), who did it (`actor`: subject, role, \
region, provider organisation), the command and correlation ids, the `reason` of a decision, \
and the event's `data` as the domain records it (personal data as `{\"pii\": ...}`).\n\nPaged \
by stream version: `after_version` is the `version` of the last event seen; the next page is \
in `next` and in the `Link` header (`rel=\"next\"`), absent on the last page. Auditors read \
every case of their region; another region's case, or another provider's, answers 404.",
    params(
        ("case_id" = Uuid, Path, description = "The case id."),
        HistoryQuery,
    ),
    responses(
        (status = 200, description = "A page of the case's history.", body = HistoryPage,
            headers(("Link" = String, description = "`<...>; rel=\"next\"` when there is a next page.")),
            example = json!({
                "events": [
                    {"position": 1281, "version": 1, "event_id": "0196a3c2-4f1f-7a10-8c2d-1e2f3a4b5c6d", "type": "ApplicationSubmitted", "event_version": "1",
                     "recorded_at": "2026-02-16T08:02:11.120331Z", "at": "2026-02-16T08:02:11.101204Z",
                     "actor": {"subject": "SE5566778899-k.lindqvist", "role": "provider", "region": "jamtland-harjedalen", "provider_org": "556677-8899"},
                     "command_id": "1f3c1c0e-8a0e-5b7d-9f6e-2d1c0b9a8f7e", "correlation_id": "0196a3c2-4f1e-7c3a-9b2d-000000000001", "causation_id": null,
                     "reason": null, "data": {"unit_name": "Östersundshälsan Vårdcentral", "programme": "jamtland-halsoval", "...": "..."}},
                    {"position": 1283, "version": 2, "event_id": "0196a3c2-9a01-7b22-8d3e-2f3a4b5c6d7e", "type": "ApplicationApproved", "event_version": "1",
                     "recorded_at": "2026-02-18T13:40:55.901117Z", "at": "2026-02-18T13:40:55.884002Z",
                     "actor": {"subject": "SE2321000032-officer7", "role": "officer", "region": "jamtland-harjedalen", "provider_org": null},
                     "command_id": "0196a3c2-9a00-7c11-a1b2-c3d4e5f60718", "correlation_id": "0196a3c2-9a00-7c11-a1b2-c3d4e5f60718", "causation_id": null,
                     "reason": "The application is complete.", "data": {"reason": "The application is complete."}}
                ],
                "next": "/v1/cases/0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e/history?after_version=2&limit=2"
            })),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = [])),
)]
#[get("/{case_id}/history")]
#[tracing::instrument(name = "case-history", skip_all, fields(case_id = %case_id))]
pub async fn case_history(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    case_id: web::Path<Uuid>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let case_id = CaseId::from_uuid(case_id.into_inner());
    let limit = query.limit()?;
    commands::load_case(&state, &auth.principal, case_id).await?;
    let stream = StreamRef::new(ConnectionCase::TYPE, case_id.to_string());
    let base = format!("/v1/cases/{case_id}/history");
    let role = auth.principal.role();
    history::<CaseEvent>(&state, &stream, query.after_version()?, limit, &base, role).await
}

/// `GET /v1/incidents/{incident_id}/history`
#[utoipa::path(
    tag = "incidents",
    summary = "Read an incident's history",
    description = "Every event of the incident, oldest first, with the same metadata as a case's \
history (position, version, ids, `recorded_at` and `at`, actor, correlation, the `reason` of an \
assessment or a closing, and the `data`), paged by stream version with `after_version` and \
`limit`, the next page in `next` and `Link`. Another tenant's incident answers 404.",
    params(
        ("incident_id" = Uuid, Path, description = "The incident id."),
        HistoryQuery,
    ),
    responses(
        (status = 200, description = "A page of the incident's history.", body = HistoryPage,
            headers(("Link" = String, description = "`<...>; rel=\"next\"` when there is a next page.")),
            example = json!({
                "events": [
                    {"position": 1302, "version": 2, "event_id": "0196a3d0-11aa-7b22-8d3e-2f3a4b5c6d7e", "type": "IncidentAssessed", "event_version": "1",
                     "recorded_at": "2026-05-04T13:02:40.310552Z", "at": "2026-05-04T13:02:40.299871Z",
                     "actor": {"subject": "SE2321000032-mit3", "role": "region_it", "region": "jamtland-harjedalen", "provider_org": null},
                     "command_id": "0196a3d0-11a0-7c11-a1b2-c3d4e5f60718", "correlation_id": "0196a3d0-11a0-7c11-a1b2-c3d4e5f60718", "causation_id": null,
                     "reason": "No traffic from the workstation reached the region's network.",
                     "data": {"severity": "medium", "region_it_affected": false, "assessment": "No traffic from the workstation reached the region's network."}}
                ],
                "next": null
            })),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = [])),
)]
#[get("/{incident_id}/history")]
#[tracing::instrument(name = "incident-history", skip_all, fields(incident_id = %incident_id))]
pub async fn incident_history(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    incident_id: web::Path<Uuid>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let incident_id = IncidentId::from_uuid(incident_id.into_inner());
    let limit = query.limit()?;
    commands::load_incident(&state, &auth.principal, incident_id).await?;
    let stream = StreamRef::new(SecurityIncident::TYPE, incident_id.to_string());
    let base = format!("/v1/incidents/{incident_id}/history");
    let role = auth.principal.role();
    history::<IncidentEvent>(&state, &stream, query.after_version()?, limit, &base, role).await
}

/// The first `limit` events of a case's history as `GET /v1/cases/{case_id}/history` shows
/// them to `principal` (tenancy, then the disclosure policy of its role), and whether more
/// follow: the dashboard's history page.
pub async fn case_events(
    state: &AppState,
    principal: &Principal,
    case_id: CaseId,
    limit: u32,
) -> Result<(Vec<HistoryEventView>, bool), ApiError> {
    commands::load_case(state, principal, case_id).await?;
    let stream = StreamRef::new(ConnectionCase::TYPE, case_id.to_string());
    let mut events = state
        .store
        .read_stream(&stream, 0, u64::from(limit) + 1)
        .await?;
    let more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let views = events
        .iter()
        .map(|event| {
            let domain: CaseEvent = domain_event(event)?;
            Ok(HistoryEventView::of(
                event,
                domain.at(),
                domain.reason(),
                principal.role(),
            ))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok((views, more))
}

/// One page of a stream's history after `after_version`, with the link to the next.
async fn history<E: DomainRecord>(
    state: &AppState,
    stream: &StreamRef,
    after_version: u64,
    limit: u32,
    base: &str,
    role: Role,
) -> Result<HttpResponse, ApiError> {
    // One more than the page, to know whether a next page exists.
    let mut events = state
        .store
        .read_stream(stream, after_version, u64::from(limit) + 1)
        .await?;
    let more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let views = events
        .iter()
        .map(|event| {
            let domain: E = domain_event(event)?;
            Ok(HistoryEventView::of(
                event,
                domain.at(),
                domain.reason(),
                role,
            ))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let next = more
        .then(|| views.last())
        .flatten()
        .map(|last| format!("{base}?after_version={}&limit={limit}", last.version));
    let mut response = HttpResponse::Ok();
    if let Some(next) = &next
        && let Ok(link) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\""))
    {
        response.insert_header((header::LINK, link));
    }
    Ok(response.json(HistoryPage {
        events: views,
        next,
    }))
}

/// An aggregate rebuilt from the first events of its stream.
struct Replayed<A> {
    aggregate: A,
    version: u64,
    last: AsOfView,
    /// The instant the state is judged at: the time asked for when the replay stopped at it
    /// (or at the stream's end), else (a position bound stopped it first) the last event's.
    then: DateTime<Utc>,
}

/// Replays the stream into a fresh aggregate (no snapshot), event by event in version order,
/// up to the last event within `point`'s bounds: by time, the events the store recorded at or
/// before it; by position, the events at or before it; with both, the events within both;
/// stopping at the first event outside them. 404 when no event is that early, or when the
/// resource is not `visible` to the caller (checked after the first event, before reading on).
async fn replay<A>(
    state: &AppState,
    stream: &StreamRef,
    point: AsOf,
    visible: impl Fn(&A) -> Result<(), ApiError>,
    what: &str,
) -> Result<Replayed<A>, ApiError>
where
    A: Aggregate,
    A::Event: DeserializeOwned,
{
    let included = |event: &RecordedEvent| point.includes(event.recorded_at, event.position.get());
    let mut aggregate = A::default();
    let mut last: Option<(u64, AsOfView)> = None;
    // Whether the position bound stopped the replay at an event the time bound admits.
    let mut stopped_by_position = false;
    'pages: loop {
        let after = last.as_ref().map_or(0, |(version, _)| *version);
        let page = state.store.read_stream(stream, after, REPLAY_PAGE).await?;
        let full = page.len() as u64 == REPLAY_PAGE;
        for event in &page {
            if !included(event) {
                stopped_by_position = point.time.is_none_or(|time| event.recorded_at <= time);
                break 'pages;
            }
            aggregate.apply(domain_event(event)?);
            if last.is_none() {
                visible(&aggregate)?;
            }
            last = Some((
                event.version,
                AsOfView {
                    position: event.position.get(),
                    recorded_at: event.recorded_at,
                },
            ));
        }
        if !full {
            break;
        }
    }
    let (version, last) = last.ok_or_else(|| ApiError::not_found(what))?;
    let then = match point.time {
        Some(time) if !stopped_by_position => time,
        _ => last.recorded_at,
    };
    Ok(Replayed {
        aggregate,
        version,
        last,
        then,
    })
}

/// The case as it stood at `point`, for `GET /v1/cases/{case_id}?as_of=`. No `ETag`: only
/// the current state takes commands. Blockers are judged on the day of the point.
pub async fn case_as_of(
    state: &AppState,
    principal: &Principal,
    case_id: CaseId,
    point: AsOf,
) -> Result<HttpResponse, ApiError> {
    let stream = StreamRef::new(ConnectionCase::TYPE, case_id.to_string());
    let replayed = replay::<ConnectionCase>(
        state,
        &stream,
        point,
        |case| commands::visible_case(case, principal),
        "case",
    )
    .await?;
    let day = replayed.then.date_naive();
    let case = CaseView::of(
        &replayed.aggregate,
        replayed.version,
        &state.catalogues,
        day,
    )
    .ok_or_else(|| ApiError::not_found("case"))?;
    Ok(HttpResponse::build(StatusCode::OK).json(CaseReadView {
        case,
        as_of: Some(replayed.last),
    }))
}

/// The incident as it stood at `point`, for `GET /v1/incidents/{incident_id}?as_of=`.
pub async fn incident_as_of(
    state: &AppState,
    principal: &Principal,
    incident_id: IncidentId,
    point: AsOf,
) -> Result<HttpResponse, ApiError> {
    let stream = StreamRef::new(SecurityIncident::TYPE, incident_id.to_string());
    let replayed = replay::<SecurityIncident>(
        state,
        &stream,
        point,
        |incident| commands::visible_incident(incident, principal),
        "incident",
    )
    .await?;
    // The breach clock as it stood then: judged at the instant asked about.
    let then = replayed.then;
    let incident = IncidentView::of(&replayed.aggregate, replayed.version, then)
        .ok_or_else(|| ApiError::not_found("incident"))?;
    Ok(HttpResponse::build(StatusCode::OK).json(IncidentReadView {
        incident,
        as_of: Some(replayed.last),
    }))
}
