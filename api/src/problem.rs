//! Every refusal the API gives, as an RFC 9457 `application/problem+json` body with a stable
//! `code`. This is the one place where domain, store, authentication and extractor errors
//! become HTTP statuses.
//!
//! | status | codes |
//! | --- | --- |
//! | 400 | `invalid_body`, `invalid_path`, `invalid_query`, `invalid_header` |
//! | 401 | `unauthenticated` (no token), `invalid_token` |
//! | 403 | `forbidden` (the role lacks the permission), the domain's `not_permitted` |
//! | 404 | `not_found` (also for another tenant's resources) |
//! | 405 | `method_not_allowed` |
//! | 408 | `request_timeout` (the body did not arrive within `request_body_timeout_milliseconds`) |
//! | 409 | the domain's conflicts (`wrong_phase`, `go_live_blocked` with `unmet`, ...) |
//! | 412 | `precondition_failed` (stale `If-Match`, or a write in between) |
//! | 413 | `payload_too_large` |
//! | 415 | `unsupported_media_type` |
//! | 422 | the domain's content rules (`invalid_application`, ...), `idempotency_key_reused` |
//! | 428 | `precondition_required` (a command without `If-Match`) |
//! | 429 | `too_many_requests` (a rate limit: failed authentication per client address, commands or data-subject lookups per caller), `too_many_long_polls`, both with `Retry-After`; `lookup_limit_reached` (a caller's data-subject lookups for the day are used up; `Retry-After`) |
//! | 431 | `request_header_fields_too_large` |
//! | 500 | `internal` (nothing leaked; the cause chain is logged) |
//! | 503 | `unavailable`, `projection_lagging` (a read's `min_position` not reached in time), `not_ready` (`/readyz`), all with `Retry-After` |

use std::error::Error as StdError;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use cqrs_es::AggregateError;
use domain::case::{Blocker, CaseError, ErrorClass};
use domain::incident::IncidentError;
use projections::ProjectionError;
use serde::Serialize;
use serde_json::{Map, Value, json};
use store::StoreError;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Where in the request the problem is: a JSON path into the body (`contacts[0].email`),
    /// a path parameter or a header name.
    #[schema(example = "org_number")]
    pub path: String,
    /// What is wrong, without repeating the value sent.
    #[schema(example = "organisationsnummer has a wrong check digit")]
    pub message: String,
}

/// An unmet go-live condition, as listed by `go_live_blocked`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnmetCondition {
    /// The condition's stable code.
    #[schema(example = "agreement_not_signed")]
    pub condition: String,
    /// The agreement not yet signed, for `agreement_not_signed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "JHV-014")]
    pub agreement: Option<String>,
    /// The open demand, for `demand_open`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 1)]
    pub finding: Option<u32>,
    /// The condition in words.
    #[schema(example = "the agreement JHV-014 is not signed")]
    pub message: String,
}

impl From<&Blocker> for UnmetCondition {
    fn from(blocker: &Blocker) -> Self {
        let (agreement, finding) = match blocker {
            Blocker::AgreementNotSigned { agreement } => (Some(agreement.to_string()), None),
            Blocker::DemandOpen { finding } => (None, Some(finding.get())),
            _ => (None, None),
        };
        Self {
            condition: blocker.code().to_owned(),
            agreement,
            finding,
            message: blocker.to_string(),
        }
    }
}

/// An RFC 9457 problem: `type`, `title`, `status`, `detail`, plus `code` and, where they
/// apply, extension members (`errors`, `unmet`, `current_version`, and the fields of a domain
/// refusal).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemDoc {
    /// A URI naming the kind of problem: `urn:anslut:problem:<code>`.
    #[serde(rename = "type")]
    #[schema(example = "urn:anslut:problem:go_live_blocked")]
    pub kind: String,
    /// A short summary of the kind of problem.
    #[schema(example = "The case's state does not allow this command")]
    pub title: String,
    /// The HTTP status.
    #[schema(example = 409)]
    pub status: u16,
    /// What went wrong in this occurrence.
    #[schema(example = "go-live is blocked: demand 1 is open")]
    pub detail: String,
    /// A stable, machine-readable code.
    #[schema(example = "go_live_blocked")]
    pub code: String,
    /// For `invalid_*`: each field and what is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// For `go_live_blocked`: every unmet condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmet: Option<Vec<UnmetCondition>>,
    /// For `precondition_failed`: the resource's current version (also in `ETag`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 7)]
    pub current_version: Option<u64>,
    /// On every answer of the command pipeline (refusals, `unavailable`, `outcome_unknown`):
    /// the id under which the command was or would have been recorded (also in
    /// `Command-Id`); `GET /v1/commands/{command_id}` tells whether it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "0196a3c2-5b7d-7e21-8f3a-2c4d6e8f0a1b")]
    pub command_id: Option<uuid::Uuid>,
}

/// The response header naming a command's id on every answer of the command pipeline.
pub const COMMAND_ID_HEADER: &str = "command-id";

/// The API's one error type (boxed: errors travel through every `Result` of a request).
pub struct ApiError(Box<Inner>);

struct Inner {
    status: StatusCode,
    code: String,
    title: &'static str,
    detail: String,
    extensions: Map<String, Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The cause of an internal error, logged and never shown.
    cause: Option<Box<dyn StdError + Send + Sync>>,
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.0.status.as_u16())
            .field("code", &self.0.code)
            .field("detail", &self.0.detail)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.0.status.as_u16(),
            self.0.code,
            self.0.detail
        )
    }
}

impl StdError for ApiError {}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<String>,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self(Box::new(Inner {
            status,
            code: code.into(),
            title,
            detail: detail.into(),
            extensions: Map::new(),
            headers: Vec::new(),
            cause: None,
        }))
    }

    #[must_use]
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.0.extensions.insert(key.to_owned(), value);
        self
    }

    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers.push((name, value));
        self
    }

    pub const fn status(&self) -> StatusCode {
        self.0.status
    }

    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// 400 with one error per field.
    pub fn invalid(code: &'static str, detail: impl Into<String>, errors: &[FieldError]) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            code,
            "The request is malformed",
            detail,
        )
        .with("errors", json!(errors))
    }

    pub fn invalid_body(errors: &[FieldError]) -> Self {
        let detail = match errors {
            [one] if one.path.is_empty() => format!("the body is not valid: {}", one.message),
            [one] => format!("{}: {}", one.path, one.message),
            _ => format!("{} fields are not valid", errors.len()),
        };
        Self::invalid("invalid_body", detail, errors)
    }

    pub fn invalid_header(name: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::invalid(
            "invalid_header",
            format!("{name}: {message}"),
            &[FieldError {
                path: name.to_owned(),
                message,
            }],
        )
    }

    /// 401 without a token: the challenge carries no error code (RFC 6750 §3.1).
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Authentication is required",
            "send a bearer token in the Authorization header",
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"anslut\""),
        )
    }

    /// 401 for a token that is malformed, expired, not yet valid, for another audience or
    /// issuer, signed with another key or algorithm, or missing a claim.
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The bearer token is not valid",
            detail,
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"anslut\", error=\"invalid_token\""),
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "The caller's role may not do this",
            detail,
        )
    }

    /// 404: also the answer for another tenant's resources, with the same body.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            format!("no {what} with this id is visible to the caller"),
        )
    }

    pub fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            "there is no resource at this path",
        )
    }

    pub fn precondition_failed(current_version: u64) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            "The resource has changed",
            format!("the resource is at version {current_version}; read it again and decide anew"),
        )
        .with("current_version", json!(current_version))
        .with_header(header::ETAG, etag_value(current_version))
    }

    pub fn precondition_required() -> Self {
        Self::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition_required",
            "If-Match is required",
            "commands to an existing resource need If-Match with its ETag (or *), so that \
             nobody acts on a stale view by accident",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The request body is too large",
            format!("request bodies are limited to {limit} bytes"),
        )
    }

    /// 408: the client did not send the whole body in time (it stalled or trickles).
    pub fn request_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "The request body did not arrive in time",
            "the body was not received within the server's time limit; send it again",
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "The body must be JSON",
            "send the body with Content-Type: application/json",
        )
    }

    pub fn idempotency_key_reused() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "The Idempotency-Key was used for another request",
            "this Idempotency-Key was already used with a different request; use a new key",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The service is unavailable",
            "the database could not be reached in time and nothing was written; retry later \
             (with the same Idempotency-Key, a retry is safe)",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    }

    /// 503 when the store cannot tell whether the command was recorded: the connection broke
    /// after the commit was sent and the follow-up lookup failed too. Unlike `unavailable`,
    /// something may have been written; the command id (added by the pipeline) is how to find
    /// out.
    pub fn outcome_unknown() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "outcome_unknown",
            "The outcome of the command is unknown",
            "the database failed while committing and it cannot be told whether the command \
             was recorded; ask GET /v1/commands/{command_id} once the service is back, or \
             send the request again with the same Idempotency-Key (both are safe; never \
             resend it under a new key)",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    }

    /// Names the command this answer is about, in the body (`command_id`) and in the
    /// `Command-Id` header; `outcome_unknown`'s detail names the URL to ask.
    #[must_use]
    pub fn with_command_id(mut self, command_id: uuid::Uuid) -> Self {
        if self.0.code == "outcome_unknown" {
            self.0.detail = self
                .0
                .detail
                .replace("{command_id}", &command_id.to_string());
        }
        self.0
            .headers
            .retain(|(name, _)| name.as_str() != COMMAND_ID_HEADER);
        if let Ok(value) = HeaderValue::from_str(&command_id.to_string()) {
            self.0
                .headers
                .push((HeaderName::from_static(COMMAND_ID_HEADER), value));
        }
        self.with("command_id", json!(command_id))
    }

    /// 500: the cause is logged with its chain and never shown.
    pub fn internal(cause: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the server failed to answer; the error was logged",
        );
        error.0.cause = Some(cause.into());
        error
    }

    pub fn method_not_allowed(allow: &str) -> Self {
        let mut error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
            format!("this resource answers {allow}"),
        );
        if let Ok(value) = HeaderValue::from_str(allow) {
            error = error.with_header(header::ALLOW, value);
        }
        error
    }

    /// 429: a rate limit or a cap on concurrent work was reached; `Retry-After` says when to
    /// try again, in whole seconds (at least 1).
    pub fn too_many_requests(
        code: &'static str,
        detail: impl Into<String>,
        retry_after: std::time::Duration,
    ) -> Self {
        let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            code,
            "Too many requests",
            detail,
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)))
    }

    /// 431: the request line and headers together exceed `limit` bytes. No `WWW-Authenticate`:
    /// the request was not looked at, so nothing is said about its credentials.
    pub fn header_fields_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_header_fields_too_large",
            "The request's headers are too large",
            format!("the request line and headers together are limited to {limit} bytes"),
        )
    }

    /// A domain refusal: 403, 409 or 422 by its class, its `code`, and its fields as
    /// extension members (for `go_live_blocked`, `unmet` lists each condition).
    fn domain(class: ErrorClass, code: &str, detail: String, fields: Value) -> Self {
        let (status, title) = match class {
            ErrorClass::Forbidden => (StatusCode::FORBIDDEN, "The caller's role may not do this"),
            ErrorClass::Conflict => (
                StatusCode::CONFLICT,
                "The current state does not allow this command",
            ),
            ErrorClass::Unprocessable => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "The command breaks a rule",
            ),
        };
        let mut error = Self::new(status, code, title, detail);
        if let Value::Object(fields) = fields {
            for (key, value) in fields {
                if key != "code" && !RESERVED.contains(&key.as_str()) {
                    error.0.extensions.insert(key, value);
                }
            }
        }
        error
    }

    fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            json!(format!("urn:anslut:problem:{}", self.0.code)),
        );
        body.insert("title".into(), json!(self.0.title));
        body.insert("status".into(), json!(self.0.status.as_u16()));
        body.insert("detail".into(), json!(self.0.detail));
        body.insert("code".into(), json!(self.0.code));
        for (key, value) in &self.0.extensions {
            body.insert(key.clone(), value.clone());
        }
        Value::Object(body)
    }
}

/// Members of the problem object that a domain error's fields must not overwrite.
const RESERVED: [&str; 5] = ["type", "title", "status", "detail", "instance"];

/// An ETag for a stream version: `"7"`.
pub fn etag_value(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.0.status.is_server_error() {
            if let Some(cause) = &self.0.cause {
                tracing::error!(code = %self.0.code, error = %cause_chain(cause.as_ref()), "request failed");
            } else {
                tracing::warn!(code = %self.0.code, "request refused: {}", self.0.detail);
            }
        }
        let mut response = HttpResponse::build(self.0.status);
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        for (name, value) in &self.0.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        response.body(self.body().to_string())
    }
}

/// An error and its sources, joined by ": ".
pub fn cause_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl From<CaseError> for ApiError {
    fn from(error: CaseError) -> Self {
        let fields = serde_json::to_value(&error).unwrap_or(Value::Null);
        let mut api = Self::domain(error.class(), error.code(), error.to_string(), fields);
        if let CaseError::GoLiveBlocked { unmet } = &error {
            let unmet: Vec<UnmetCondition> = unmet.iter().map(UnmetCondition::from).collect();
            api = api.with("unmet", json!(unmet));
        }
        api
    }
}

impl From<IncidentError> for ApiError {
    fn from(error: IncidentError) -> Self {
        let fields = serde_json::to_value(&error).unwrap_or(Value::Null);
        Self::domain(error.class(), error.code(), error.to_string(), fields)
    }
}

impl From<domain::subject::SubjectError> for ApiError {
    fn from(error: domain::subject::SubjectError) -> Self {
        let fields = serde_json::to_value(&error).unwrap_or(Value::Null);
        Self::domain(error.class(), error.code(), error.to_string(), fields)
    }
}

impl From<::privacy::PrivacyError> for ApiError {
    /// The key table out of reach is 503, as the store's own outage is; anything else is a
    /// fault of ours.
    fn from(error: ::privacy::PrivacyError) -> Self {
        match error {
            ::privacy::PrivacyError::Database(error) => StoreError::from(error).into(),
            other => Self::internal(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { actual, .. } => Self::precondition_failed(actual),
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %cause_chain(&error), "the event store is unavailable");
                Self::unavailable()
            }
            StoreError::CommitUnknown(_) => {
                tracing::warn!(error = %cause_chain(&error), "the outcome of a commit is unknown");
                Self::outcome_unknown()
            }
            StoreError::CommandIdReused { .. } => Self::idempotency_key_reused(),
            other => Self::internal(other),
        }
    }
}

impl From<ProjectionError> for ApiError {
    fn from(error: ProjectionError) -> Self {
        match error {
            ProjectionError::Lagging {
                projection,
                checkpoint,
                wanted,
                retry_after,
            } => {
                let seconds = retry_after.as_secs_f64().ceil().max(1.0);
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "projection_lagging",
                    "The read model has not caught up",
                    format!(
                        "the read model {projection} has projected the log up to position \
                         {checkpoint}, not yet {wanted}; retry later"
                    ),
                )
                .with("projection", json!(projection))
                .with("checkpoint", json!(checkpoint.get()))
                .with("min_position", json!(wanted.get()))
                .with_header(
                    header::RETRY_AFTER,
                    HeaderValue::from_str(&format!("{seconds:.0}"))
                        .unwrap_or(HeaderValue::from_static("1")),
                )
            }
            ProjectionError::InvalidCursor => Self::invalid(
                "invalid_query",
                "cursor: not a cursor this list handed out",
                &[FieldError {
                    path: "cursor".into(),
                    message: "not a cursor this list handed out".into(),
                }],
            ),
            ProjectionError::Unavailable(_) => {
                tracing::warn!(error = %cause_chain(&error), "the read models are unavailable");
                Self::unavailable()
            }
            ProjectionError::Store(store) => store.into(),
            other => Self::internal(other),
        }
    }
}

impl<E> From<AggregateError<E>> for ApiError
where
    E: StdError + Into<Self>,
{
    fn from(error: AggregateError<E>) -> Self {
        match error {
            AggregateError::UserError(e) => e.into(),
            // A write between our load and our commit: the caller's view is stale.
            AggregateError::AggregateConflict => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "The resource has changed",
                "another command changed the resource meanwhile; read it again and decide anew",
            ),
            AggregateError::DatabaseConnectionError(cause)
            | AggregateError::UnexpectedError(cause) => match cause.downcast::<StoreError>() {
                Ok(store) => (*store).into(),
                Err(other) => Self::internal(other),
            },
            AggregateError::DeserializationError(cause) => Self::internal(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use domain::ids::RequirementId;

    use super::*;

    #[test]
    fn go_live_blocked_lists_every_unmet_condition() {
        let error: ApiError = CaseError::GoLiveBlocked {
            unmet: vec![
                Blocker::AgreementNotSigned {
                    agreement: RequirementId::parse("JHV-014").unwrap(),
                },
                Blocker::TrainingNotCompleted,
            ],
        }
        .into();
        assert_eq!(error.status(), StatusCode::CONFLICT);
        let body = error.body();
        assert_eq!(body["code"], "go_live_blocked");
        assert_eq!(body["unmet"][0]["condition"], "agreement_not_signed");
        assert_eq!(body["unmet"][0]["agreement"], "JHV-014");
        assert_eq!(body["unmet"][1]["condition"], "training_not_completed");
        assert!(body["unmet"][1]["message"].is_string());
    }

    #[test]
    fn a_key_table_out_of_reach_is_503_and_a_broken_key_500() {
        let error: ApiError = ::privacy::PrivacyError::Database(sqlx::Error::PoolTimedOut).into();
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.code(), "unavailable");
        let error: ApiError = ::privacy::PrivacyError::Key("unwrapping failed".into()).into();
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn an_unavailable_store_is_503_with_retry_after_and_a_stale_append_412() {
        let error: ApiError =
            StoreError::Unavailable(std::sync::Arc::new(sqlx::Error::PoolTimedOut)).into();
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.code(), "unavailable");
        let response = error.error_response();
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
        let error: ApiError = StoreError::Conflict {
            stream: store::StreamRef::new("connection_case", "c"),
            expected: store::ExpectedVersion::Exact(3),
            actual: 4,
        }
        .into();
        assert_eq!(error.status(), StatusCode::PRECONDITION_FAILED);
        assert_eq!(
            error.error_response().headers().get(header::ETAG).unwrap(),
            "\"4\""
        );
    }

    #[test]
    fn internal_errors_show_nothing_of_their_cause() {
        let error = ApiError::internal("password authentication failed for user x");
        assert!(!error.body().to_string().contains("password"));
    }
}
