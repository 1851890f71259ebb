//! Operations: liveness, readiness and metrics. Not under `/v1` and not authenticated.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::webhooks::WebhookHealthView;
use crate::problem::ApiError;
use crate::read_models;
use crate::state::AppState;
use crate::webhook_setup;

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
`projections.ready_max_lag_seconds` (60) allow: the 503 `not_ready` lists each with its \
checkpoint, lag and last error. The webhooks' outbox projector is judged alike (stopped on an \
error, or more than `projections.ready_max_lag_events` behind: `not_ready` with `webhooks`); \
deliveries waiting on receivers never make an instance unready, and are reported in `webhooks` \
(pending, delivering, parked, the age of the oldest due delivery).",
    responses(
        (status = 200, description = "Ready to serve.", body = HealthView, example = json!({"status": "ok", "head": 1290, "webhooks": {"pending": 3, "delivering": 1, "parked": 0, "oldest_due_seconds": 0.4, "lag_events": 0}})),
        (status = 503, response = crate::openapi::NotReady),
    ),
    security(()),
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
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
    let webhooks = state.webhooks.status().await.map_err(|error| {
        tracing::warn!(error = %crate::problem::cause_chain(&error), "not ready: the webhooks");
        ApiError::unavailable()
    })?;
    if let Some(reason) = webhook_setup::unready(&webhooks, &state.projection_settings) {
        tracing::warn!(reason, error = ?webhooks.projector_error, "not ready: the webhook outbox projector");
        return Err(webhook_setup::not_ready(reason, &webhooks));
    }
    Ok(HttpResponse::Ok().json(HealthView {
        status: "ok".into(),
        head: Some(head.get()),
        webhooks: Some(WebhookHealthView::from(&webhooks)),
    }))
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
`anslut_webhook_leader` (1 in the instance that runs the outbox projector).",
    responses((status = 200, description = "The metrics.", body = String, content_type = "text/plain; version=0.0.4",
        example = json!("# TYPE anslut_http_requests_total counter\nanslut_http_requests_total{method=\"GET\",route=\"/v1/cases/{case_id}\",status=\"200\"} 3\n# TYPE anslut_projection_lag_events gauge\nanslut_projection_lag_events{projection=\"case_overview\"} 0\n# TYPE anslut_projection_leader gauge\nanslut_projection_leader{projection=\"case_overview\"} 1\n"))),
    security(()),
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
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

/// `GET /docs` (without the slash) leads to the Swagger UI at `/docs/`.
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, "/docs/"))
        .finish()
}
