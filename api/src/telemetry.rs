//! Structured JSON logs through `tracing`, with the request id of `tracing-actix-web` on
//! every line of a request (and in the `X-Request-Id` response header), and the middleware
//! that counts, times and logs each request.
//!
//! Never logged: the `Authorization` header, the query string, request or response bodies,
//! personnummer. The root span (`edge::RootSpan`) records the method (bounded), route
//! template, path, client address, status and the request id only.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use tracing::Subscriber;
use tracing::subscriber::SetGlobalDefaultError;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::edge;
use crate::problem::{ApiError, PROBLEM_JSON, ProblemCode};
use crate::state::AppState;

/// A JSON-lines subscriber writing to `writer`, filtered by `RUST_LOG` or `default_filter`.
pub fn subscriber<W>(default_filter: &str, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

/// Installs the subscriber for the whole process.
pub fn init(
    subscriber: impl Subscriber + Send + Sync + 'static,
) -> Result<(), SetGlobalDefaultError> {
    tracing::subscriber::set_global_default(subscriber)
}

/// Counts and times every request by route template and status, logs one line when it
/// finishes, refuses a request head over the limit (431), turns any error response that is not
/// already a problem (none should be) into one, so that no plain-text error escapes, and sets
/// the headers every answer carries (`edge::secure_headers`).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let mut response = answer(req, next).await?;
    edge::secure_headers(response.headers_mut());
    Ok(response)
}

async fn answer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let metrics = state.as_ref().map(|state| state.metrics.clone());
    let method = edge::method_label(req.method());
    let request_id = req
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(ToString::to_string);
    let head_limit = state
        .as_ref()
        .map_or(usize::MAX, |state| state.max_request_header_bytes);
    let refusal = if edge::head_size(&req) > head_limit {
        Some(ApiError::header_fields_too_large(head_limit))
    } else if crate::routes::ops::on_ops_listener(req.request())
        && !crate::routes::ops::OPS_PATHS.contains(&req.path())
    {
        // The operations listener serves operations only.
        Some(ApiError::no_route())
    } else {
        None
    };
    let mut response = if let Some(refusal) = refusal {
        let (request, _) = req.into_parts();
        ServiceResponse::new(request, refusal.error_response())
    } else {
        next.call(req).await?.map_into_boxed_body()
    };
    if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| edge::UNMATCHED.to_owned());
    let status = response.status();
    let seconds = started.elapsed().as_secs_f64();
    if let Some(metrics) = metrics {
        metrics.observe_request(&route, method, status.as_u16(), seconds);
    }
    tracing::info!(
        http.method = method,
        http.route = %route,
        http.status = status.as_u16(),
        latency_ms = seconds * 1000.0,
        "request finished"
    );
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if (status.is_client_error() || status.is_server_error()) && !is_problem {
        let problem = ApiError::new(
            status,
            match status.as_u16() {
                404 => ProblemCode::NotFound,
                405 => ProblemCode::MethodNotAllowed,
                413 => ProblemCode::PayloadTooLarge,
                431 => ProblemCode::RequestHeaderFieldsTooLarge,
                415 => ProblemCode::UnsupportedMediaType,
                500..=599 => ProblemCode::Internal,
                _ => ProblemCode::InvalidRequest,
            },
            "The request could not be served",
            status.canonical_reason().unwrap_or("error").to_lowercase(),
        );
        let request_id = response.headers().get("x-request-id").cloned();
        let (request, _) = response.into_parts();
        let mut replaced = ServiceResponse::new(request, problem.error_response());
        if let Some(value) = request_id {
            replaced
                .headers_mut()
                .insert(HeaderName::from_static("x-request-id"), value);
        }
        return Ok(replaced);
    }
    Ok(response)
}
