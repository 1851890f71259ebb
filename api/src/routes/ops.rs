//! Operations: liveness, readiness and metrics. Not under `/v1`, and not behind the API's
//! tokens.
//!
//! `/healthz` and the bare readiness status (200 `{"status": "ok"}` or 503 `not_ready`, with
//! nothing else) are open to anyone who reaches the port: a load balancer needs no secret.
//! What tells how the instance is built and fails (the log head, each read model's lag and last
//! error, the webhook outbox) is *operations detail*: `/metrics`, and `/readyz` with its
//! reasons, answer it only to a request that came in on the separate `ops.listen` address, or
//! that carries `Authorization: Bearer <ops.token>`. Without either, `/metrics` answers 401
//! (or 404 when neither is configured: then metrics are not served at all) and `/readyz` the
//! bare status.

use std::net::SocketAddr;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::application::read_models;
use crate::application::webhooks;
use crate::dto::webhooks::WebhookHealthView;
use crate::problem::{ApiError, ProblemCode};
use crate::state::AppState;

/// What a health check answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// `ok` or `unavailable`.
    #[schema(example = "ok")]
    pub status: String,
    /// The last position in the event log (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 1290)]
    pub head: Option<u64>,
    /// The webhook deliveries (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<WebhookHealthView>,
}

/// The bound address of the operations listener (`ops.listen`), if one is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpsListener(pub Option<SocketAddr>);

/// Paths the operations listener serves; every other path there answers 404.
pub const OPS_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Whether `req` came in on the operations listener.
pub fn on_ops_listener(req: &HttpRequest) -> bool {
    req.app_data::<web::Data<OpsListener>>()
        .and_then(|listener| listener.0)
        .is_some_and(|ops| ops == req.app_config().local_addr())
}

/// Whether `req` may see operations detail: it came in on the operations listener, or it
/// carries the operations token.
fn may_see_detail(req: &HttpRequest, state: &AppState) -> bool {
    on_ops_listener(req) || carries_ops_token(req, state)
}

fn carries_ops_token(req: &HttpRequest, state: &AppState) -> bool {
    let Some(expected) = &state.ops_token else {
        return false;
    };
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .is_some_and(|(_, token)| {
            constant_time_eq(token.trim().as_bytes(), expected.expose().trim().as_bytes())
        })
}

/// Compares without stopping at the first difference (the length may show; the content not).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /healthz`
#[utoipa::path(
    tag = "operations",
    summary = "Liveness",
    description = "Answers 200 while the process runs; it checks nothing else.",
    responses((status = 200, description = "The process is up.", body = HealthView, example = json!({"status": "ok"}))),
    security(()),
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthView {
        status: "ok".into(),
        head: None,
        webhooks: None,
    })
}

/// `GET /readyz`
#[utoipa::path(
    tag = "operations",
    summary = "Readiness",
    description = "Answers 200 when the database answers, the event log's schema is in place \
(the migrations have run) and the read models are fit to serve; 503 otherwise. A read model is \
not fit when its projector stopped on an event it cannot apply, or when it is more events or \
seconds behind the log than `projections.ready_max_lag_events` (10,000) or \
`projections.ready_max_lag_seconds` (60) allow. The webhooks' outbox projector is judged alike \
(stopped on an error, or more than `projections.ready_max_lag_events` behind); deliveries waiting \
on receivers never make an instance unready.\n\nOpen to anyone: the bare status, 200 \
`{\"status\": \"ok\"}` or 503 `not_ready`, nothing more. With the operations token \
(`Authorization: Bearer <ops.token>`) or on the operations listener (`ops.listen`) the answer \
has the detail: the log head and the webhook deliveries (pending, delivering, parked, the age of \
the oldest due delivery) when ready; each unfit read model with its checkpoint, lag and last \
error, or the outbox projector's state, when not.",
    responses(
        (status = 200, description = "Ready to serve (the detail only with the operations token).", body = HealthView, example = json!({"status": "ok", "head": 1290, "webhooks": {"pending": 3, "delivering": 1, "parked": 0, "oldest_due_seconds": 0.4, "lag_events": 0}})),
        (status = 503, response = crate::openapi::NotReady),
    ),
    security(()),
)]
#[get("/readyz")]
pub async fn readyz(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let detail = may_see_detail(&req, &state);
    match readiness(&state).await {
        Ok(ready) if detail => Ok(HttpResponse::Ok().json(ready)),
        Ok(_) => Ok(HttpResponse::Ok().json(HealthView {
            status: "ok".into(),
            head: None,
            webhooks: None,
        })),
        Err(unready) if detail => Err(unready),
        Err(_) => Err(bare_not_ready()),
    }
}

/// 503 `not_ready` without the reasons (they are operations detail).
fn bare_not_ready() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        ProblemCode::NotReady,
        "Not ready",
        "this instance is not ready to serve",
    )
    .with_header(header::RETRY_AFTER, header::HeaderValue::from_static("5"))
}

/// The readiness checks, with their detail. The webhooks' health reads no delivery counts over
/// the whole outbox: only the bounded ones (pending, delivering, parked).
async fn readiness(state: &AppState) -> Result<HealthView, ApiError> {
    let head = state.store.head().await.map_err(|error| {
        tracing::warn!(error = %crate::problem::cause_chain(&error), "not ready");
        ApiError::unavailable()
    })?;
    let statuses = state.projections.status().await.map_err(|error| {
        tracing::warn!(error = %crate::problem::cause_chain(&error), "not ready: the read models");
        ApiError::unavailable()
    })?;
    let unready = read_models::unready(&statuses, &state.projection_settings);
    if !unready.is_empty() {
        tracing::warn!(projections = ?unready, "not ready: read models stopped or behind");
        return Err(read_models::not_ready(&unready));
    }
    let webhooks = state.webhooks.health().await.map_err(|error| {
        tracing::warn!(error = %crate::problem::cause_chain(&error), "not ready: the webhooks");
        ApiError::unavailable()
    })?;
    if let Some(reason) = webhooks::unready(&webhooks, &state.projection_settings) {
        tracing::warn!(reason, error = ?webhooks.projector_error, "not ready: the webhook outbox projector");
        return Err(webhooks::not_ready(reason, &webhooks));
    }
    Ok(HealthView {
        status: "ok".into(),
        head: Some(head.get()),
        webhooks: Some(WebhookHealthView::from(&webhooks)),
    })
}

/// `GET /metrics`
#[utoipa::path(
    tag = "operations",
    summary = "Prometheus metrics",
    description = "Metrics in the Prometheus text format: `anslut_http_requests_total` by route \
template, method and status; `anslut_http_request_duration_seconds`; \
`anslut_events_appended_total` by stream type; `anslut_command_conflicts_total`; and per read \
model (label `projection`) `anslut_projection_lag_events`, `anslut_projection_lag_seconds` (the \
age of the oldest event not yet projected), `anslut_projection_checkpoint` and \
`anslut_projection_leader` (1 in the instance that runs its projector); and for webhooks \
`anslut_webhook_deliveries` by `status` (pending, delivering, delivered, parked, skipped), \
`anslut_webhook_oldest_due_seconds` (how long the earliest due delivery has waited), \
`anslut_webhook_lag_events` (events the outbox projector has not looked at) and \
`anslut_webhook_leader` (1 in the instance that runs the outbox projector). Labels are \
bounded: `method` is one of the methods HTTP defines or `other`, `route` a route template or \
`unmatched`. The delivered and skipped counts are recounted at most every 30 seconds.\n\nOnly \
with the operations token (`Authorization: Bearer <ops.token>`, 401 otherwise) or on the \
operations listener (`ops.listen`); 404 when neither is configured.",
    responses((status = 200, description = "The metrics.", body = String, content_type = "text/plain; version=0.0.4",
        example = json!("# TYPE anslut_http_requests_total counter\nanslut_http_requests_total{method=\"GET\",route=\"/v1/cases/{case_id}\",status=\"200\"} 3\n# TYPE anslut_projection_lag_events gauge\nanslut_projection_lag_events{projection=\"case_overview\"} 0\n# TYPE anslut_projection_leader gauge\nanslut_projection_leader{projection=\"case_overview\"} 1\n")),
        (status = 401, response = crate::openapi::OpsUnauthorized),
        (status = 404, response = crate::openapi::NotFound),
    ),
    security(("ops" = [])),
)]
#[get("/metrics")]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !may_see_detail(&req, &state) {
        let listener = req
            .app_data::<web::Data<OpsListener>>()
            .is_some_and(|listener| listener.0.is_some());
        return Err(if state.ops_token.is_some() {
            ApiError::new(
                actix_web::http::StatusCode::UNAUTHORIZED,
                ProblemCode::Unauthenticated,
                "Authentication is required",
                "metrics need the operations token as a bearer token",
            )
            .with_header(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"anslut-ops\""),
            )
        } else if listener {
            ApiError::new(
                actix_web::http::StatusCode::NOT_FOUND,
                ProblemCode::NotFound,
                "Not found",
                "metrics are served on the operations listener",
            )
        } else {
            ApiError::new(
                actix_web::http::StatusCode::NOT_FOUND,
                ProblemCode::NotFound,
                "Not found",
                "metrics are not served: configure ops.token or ops.listen",
            )
        });
    }
    match state.projections.status().await {
        Ok(statuses) => state.metrics.observe_projections(&statuses),
        Err(error) => {
            tracing::warn!(error = %crate::problem::cause_chain(&error), "metrics: the read models' status is unavailable");
        }
    }
    match state.webhooks.status().await {
        Ok(status) => state.metrics.observe_webhooks(&status),
        Err(error) => {
            tracing::warn!(error = %crate::problem::cause_chain(&error), "metrics: the webhooks' status is unavailable");
        }
    }
    let text = state.metrics.render().map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text))
}

/// The OpenAPI document served at `/openapi.json`, serialised once at startup and shared by
/// every worker.
#[derive(Debug, Clone)]
pub struct OpenApiJson(pub web::Bytes);

/// `GET /openapi.json`: the document the handlers' attributes describe (`crate::openapi`).
pub async fn openapi_json(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .body(document.0.clone())
}

/// `GET /docs` (without the slash) leads to the Swagger UI at `/docs/`.
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, "/docs/"))
        .finish()
}
