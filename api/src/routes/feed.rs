//! `GET /v1/feed`: the event log in global order as CloudEvents, filtered by the caller's
//! tenancy, with an optional long poll.
//!
//! * **Tenancy** comes from each event's own metadata (`tenant_region`, `tenant_org`, written
//!   by the command pipeline, see `tenancy`), so no read model is consulted: a region's
//!   roles see the events of their region's cases and incidents, a provider only those of its
//!   organisation's. Events without a recorded tenancy are shown to nobody.
//! * **Cursor.** A request scans the log after `after` a page at a time, keeps the events
//!   the caller may see, and stops at `limit` of them, at the head of the log, or after
//!   scanning [`MAX_SCAN`] events. `Anslut-Feed-Cursor` (and the `Link` to the next page)
//!   is the last position *scanned*: the next request starts there, so a caller never
//!   rescans events it may not see, and, the log being gap-free and visible in order, never
//!   skips one. An empty batch with an advanced cursor is normal.
//! * **Work.** The tenancy test needs the metadata alone: a page of rows is read, each row's
//!   metadata tested, and only the events returned are decoded and decrypted.
//! * **Long poll.** With `wait=N` and nothing to show, the request waits (at most `N` ≤ 30
//!   seconds) for the log to grow: `long_poll::FeedSignal` is woken by this process's commits
//!   and, on PostgreSQL, by every process's (`LISTEN`), through one listener for all requests,
//!   coalesced; `long_poll::LongPolls` caps the polls waiting at once (429 beyond).

use std::time::Duration;

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, get, web};
use store::{EventStore, Position, RecordedEvent};
use tokio::time::Instant;

use crate::auth::Principal;
use crate::authz::{self, Authorized};
use crate::dto::feed::{
    CloudEventView, DEFAULT_FEED_LIMIT, FeedQuery, MAX_FEED_LIMIT, MAX_FEED_WAIT,
};
use crate::dto::history::{int64_param, invalid_query};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::tenancy;

/// The media type of a batch of CloudEvents (JSON batch format).
pub const CLOUDEVENTS_BATCH: &str = "application/cloudevents-batch+json";
/// The header naming the next request's `after`.
pub const CURSOR_HEADER: &str = "anslut-feed-cursor";
/// The most events one request scans, visible or not.
pub const MAX_SCAN: u64 = 10_000;

/// What one scan found.
struct Scan {
    events: Vec<RecordedEvent>,
    /// The last position scanned.
    cursor: u64,
    /// Whether the scan reached the head of the log.
    at_head: bool,
}

/// Scans the log after `after` for up to `limit` events `principal` may see, reading at
/// most `budget` events. The tenancy test reads each event's metadata only; payloads are
/// decoded (and their personal data decrypted) for the events returned alone
/// (`EventStore::read_all_where`).
async fn scan(
    store: &EventStore,
    principal: &Principal,
    after: u64,
    limit: usize,
    budget: u64,
) -> Result<(Scan, u64), ApiError> {
    let read = store
        .read_all_where(Position(after), limit, budget, |metadata| {
            tenancy::visible(principal, metadata)
        })
        .await?;
    Ok((
        Scan {
            events: read.events,
            cursor: read.last_scanned.get(),
            at_head: read.at_head,
        },
        read.scanned,
    ))
}

/// `GET /v1/feed`
#[utoipa::path(
    tag = "feed",
    summary = "Follow the event log",
    description = "The events of the log after `after`, in global order, as a CloudEvents 1.0 \
JSON batch (`application/cloudevents-batch+json`), only those the caller may see: a region's \
roles the events of their region's cases and incidents, a provider those of its own \
organisation's. Each event: `specversion` `1.0`, `id` (the event id), `source` \
(`/regions/<region>/cases/<case_id>` or `/regions/<region>/incidents/<incident_id>`), `type` \
(`se.anslut.<stream type>.<event type>.v<version>`), `subject` (the case or incident id), \
`time` (when recorded), `datacontenttype` and `data` (the event's content), and the extensions \
`position`, `streamversion`, `correlationid` and `actorrole`.\n\nPaging: send the \
`Anslut-Feed-Cursor` of each answer as the next `after` (the `Link` header, `rel=\"next\"`, \
says the same). The cursor is the last position *scanned*, which may be past the last event \
shown when the caller may not see the events between: a follower never rescans them and never \
skips one. A request scans at most 10,000 events, so an empty batch does not mean the end of \
the log unless the request waited.\n\nLong poll: with `wait` (seconds, at most 30), a request \
with nothing to show waits for the next event it may see and answers as soon as one is \
recorded, or with an empty batch when the time is up; an integration follows the log with one \
open request at a time. Every role may read the feed.",
    params(FeedQuery),
    responses(
        (status = 200, description = "A batch of CloudEvents, oldest first; possibly empty.",
            body = Vec<CloudEventView>, content_type = "application/cloudevents-batch+json",
            headers(
                ("Anslut-Feed-Cursor" = String, description = "The last position scanned: the next request's `after`."),
                ("Link" = String, description = "`</v1/feed?after=<cursor>&limit=...>; rel=\"next\"`."),
            ),
            example = json!([{
                "specversion": "1.0", "id": "0196a3c5-1b7e-7d40-8a9c-3f1e2d4c5b6a",
                "source": "/regions/jamtland-harjedalen/cases/0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e",
                "type": "se.anslut.connection_case.ContractSigned.v1",
                "subject": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e",
                "time": "2026-03-02T09:14:03.512230Z", "datacontenttype": "application/json",
                "data": {"signed_on": "2026-03-02", "document": "RS 2026/114", "catalogue": {"programme": "jamtland-halsoval", "version": 1, "digest": "5b1c0e0f6a2d4e8b9c7f1a3d5e7b9c1f2a4d6e8b0c2f4a6d8e0b2c4f6a8d0e2b"}},
                "position": "1287", "streamversion": "3",
                "correlationid": "0196a3c5-1b70-7c1e-b2a4-7d9e8f6a5b4c", "actorrole": "officer"
            }])),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/feed")]
#[tracing::instrument(name = "feed", skip_all, fields(after = query.after.unwrap_or(0)))]
pub async fn feed(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = match query.limit {
        None => DEFAULT_FEED_LIMIT,
        Some(limit) if (1..=MAX_FEED_LIMIT).contains(&limit) => limit,
        Some(_) => {
            return Err(invalid_query(
                "limit",
                format!("must be 1 to {MAX_FEED_LIMIT}"),
            ));
        }
    };
    let wait = query.wait.unwrap_or(0);
    if wait > MAX_FEED_WAIT {
        return Err(invalid_query(
            "wait",
            format!("must be 0 to {MAX_FEED_WAIT} seconds"),
        ));
    }
    // A place among the long polls waiting, held until the answer (429 when there is none).
    let _place = if wait > 0 {
        Some(state.long_polls.admit(&auth.principal)?)
    } else {
        None
    };
    let deadline = Instant::now() + Duration::from_secs(wait.into());
    // Subscribed before the first scan, so that a commit after it always wakes us.
    let mut wakeups = state.feed.subscribe();
    let mut after = int64_param("after", query.after.unwrap_or(0))?;
    let mut budget = MAX_SCAN;
    let found = loop {
        let (found, scanned) =
            scan(&state.store, &auth.principal, after, limit as usize, budget).await?;
        budget -= scanned;
        if !found.events.is_empty() || !found.at_head || budget == 0 || wait == 0 {
            break found;
        }
        after = found.cursor;
        match tokio::time::timeout_at(deadline, wakeups.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => break found,
        }
    };
    let events: Vec<CloudEventView> = found
        .events
        .iter()
        .map(|event| {
            CloudEventView::of(
                event,
                tenancy::region_of(&event.metadata).unwrap_or(""),
                auth.principal.role(),
            )
        })
        .collect();
    let next = if wait > 0 {
        format!("/v1/feed?after={}&limit={limit}&wait={wait}", found.cursor)
    } else {
        format!("/v1/feed?after={}&limit={limit}", found.cursor)
    };
    let mut response = HttpResponse::Ok();
    response.content_type(CLOUDEVENTS_BATCH);
    response.insert_header((
        HeaderName::from_static(CURSOR_HEADER),
        HeaderValue::from(found.cursor),
    ));
    if let Ok(link) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
        response.insert_header((header::LINK, link));
    }
    Ok(response.body(serde_json::to_string(&events).map_err(ApiError::internal)?))
}
