//! Operations: liveness, readiness and metrics. Not under `/v1` and not authenticated.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::ApiError;
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
    })
}

/// `GET /readyz`
#[utoipa::path(
    tag = "operations",
    summary = "Readiness",
    description = "Answers 200 when the database answers and the event log's schema is in place \
(the migrations have run); 503 otherwise.",
    responses(
        (status = 200, description = "Ready to serve.", body = HealthView, example = json!({"status": "ok", "head": 1290})),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(()),
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.store.head().await {
        Ok(head) => Ok(HttpResponse::Ok().json(HealthView {
            status: "ok".into(),
            head: Some(head.get()),
        })),
        Err(error) => {
            tracing::warn!(error = %crate::problem::cause_chain(&error), "not ready");
            Err(ApiError::unavailable())
        }
    }
}

/// `GET /metrics`
#[utoipa::path(
    tag = "operations",
    summary = "Prometheus metrics",
    description = "Metrics in the Prometheus text format: `anslut_http_requests_total` by route \
template, method and status; `anslut_http_request_duration_seconds`; \
`anslut_events_appended_total` by stream type; `anslut_command_conflicts_total`.",
    responses((status = 200, description = "The metrics.", body = String, content_type = "text/plain; version=0.0.4",
        example = json!("# TYPE anslut_http_requests_total counter\nanslut_http_requests_total{method=\"GET\",route=\"/v1/cases/{case_id}\",status=\"200\"} 3\n"))),
    security(()),
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
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
