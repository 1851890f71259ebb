//! Every refusal the API gives, as an RFC 9457 `application/problem+json` body with a stable
//! `code`, a [`ProblemCode`]. This is the one place where domain, store, authentication,
//! extractor, webhook, audit and privacy errors become HTTP statuses: every
//! `From<_> for ApiError` is here.
//!
//! | status | codes |
//! | --- | --- |
//! | 400 | `invalid_body`, `invalid_path`, `invalid_query`, `invalid_header`, `invalid_request` (a framework refusal without a code of its own) |
//! | 401 | `unauthenticated` (no token), `invalid_token` |
//! | 403 | `forbidden` (the role lacks the permission), the domain's `not_permitted` |
//! | 404 | `not_found` (also for another tenant's resources) |
//! | 405 | `method_not_allowed` |
//! | 408 | `request_timeout` (the body did not arrive within `request_body_timeout_milliseconds`) |
//! | 409 | the domain's conflicts (`wrong_phase`, `go_live_blocked` with `unmet`, ...), `subscription_exists`, `delivery_state`, `too_many_subscriptions`, `shared_subject` |
//! | 412 | `precondition_failed` (stale `If-Match`, or a write in between) |
//! | 413 | `payload_too_large` |
//! | 415 | `unsupported_media_type` |
//! | 422 | the domain's content rules (`invalid_application`, ...), `idempotency_key_reused`, `beyond_the_log`, `out_of_range`, `invalid_subscription`, `url_refused` |
//! | 428 | `precondition_required` (a command without `If-Match`) |
//! | 429 | `too_many_requests` (a rate limit: failed authentication per client address, commands or data-subject lookups per caller), `too_many_long_polls`, both with `Retry-After`; `lookup_limit_reached` (a caller's data-subject lookups for the day are used up; `Retry-After`) |
//! | 431 | `request_header_fields_too_large` |
//! | 500 | `internal` (nothing leaked; the cause chain is logged) |
//! | 503 | `unavailable`, `outcome_unknown`, `projection_lagging` (a read's `min_position` not reached in time), `not_ready` (`/readyz`), all with `Retry-After` |

use std::error::Error as StdError;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use cqrs_es::AggregateError;
use domain::case::{Blocker, CaseError};
use domain::incident::IncidentError;
use domain::subject::SubjectError;
use domain::{DomainError, ErrorClass};
use projections::ProjectionError;
use serde::Serialize;
use serde_json::{Map, Value, json};
use store::StoreError;
use utoipa::ToSchema;

use crate::application::commands::CommandError;

/// Defines [`ProblemCode`]: each variant with its string, which is also its serialised form.
macro_rules! problem_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal,)*) => {
        /// Every problem code the API answers with: the API's own and every domain refusal's.
        /// Serialised as its `snake_case` string; the OpenAPI `Problem.code` lists them all.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        #[schema(example = "go_live_blocked")]
        pub enum ProblemCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ProblemCode {
            /// Every code, in the order of the schema's enum.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The code as it appears in `code` and in `type` (`urn:anslut:problem:<code>`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)*
                }
            }
        }
    };
}

problem_codes! {
    // The request's form (400).
    /// A body that is not valid JSON or breaks a field's rule.
    InvalidBody = "invalid_body",
    /// A path parameter that does not parse.
    InvalidPath = "invalid_path",
    /// A query string or parameter that does not parse.
    InvalidQuery = "invalid_query",
    /// A header that does not parse.
    InvalidHeader = "invalid_header",
    /// A client error the server's framework answered without a code of its own.
    InvalidRequest = "invalid_request",
    // Authentication and authorisation (401, 403).
    Unauthenticated = "unauthenticated",
    InvalidToken = "invalid_token",
    Forbidden = "forbidden",
    // HTTP (404, 405, 408, 412, 413, 415, 422, 428, 431).
    NotFound = "not_found",
    MethodNotAllowed = "method_not_allowed",
    RequestTimeout = "request_timeout",
    PreconditionFailed = "precondition_failed",
    PreconditionRequired = "precondition_required",
    PayloadTooLarge = "payload_too_large",
    UnsupportedMediaType = "unsupported_media_type",
    IdempotencyKeyReused = "idempotency_key_reused",
    RequestHeaderFieldsTooLarge = "request_header_fields_too_large",
    // Limits (429).
    TooManyRequests = "too_many_requests",
    TooManyLongPolls = "too_many_long_polls",
    LookupLimitReached = "lookup_limit_reached",
    // The server (500, 503).
    Internal = "internal",
    Unavailable = "unavailable",
    OutcomeUnknown = "outcome_unknown",
    ProjectionLagging = "projection_lagging",
    NotReady = "not_ready",
    // Reads of the log and the audit tree (422).
    BeyondTheLog = "beyond_the_log",
    OutOfRange = "out_of_range",
    // Webhooks (409, 422).
    InvalidSubscription = "invalid_subscription",
    UrlRefused = "url_refused",
    DeliveryState = "delivery_state",
    TooManySubscriptions = "too_many_subscriptions",
    SubscriptionExists = "subscription_exists",
    // Privacy (409).
    SharedSubject = "shared_subject",
    // The domain's refusals (403, 409, 422), by `domain::DomainError::CODES`.
    NotPermitted = "not_permitted",
    WrongPhase = "wrong_phase",
    UnknownProgramme = "unknown_programme",
    NoCatalogueInForce = "no_catalogue_in_force",
    ProgrammeOfOtherRegion = "programme_of_other_region",
    OrganisationMismatch = "organisation_mismatch",
    InvalidApplication = "invalid_application",
    InvalidDate = "invalid_date",
    RequirementNotInCatalogue = "requirement_not_in_catalogue",
    NotAnAgreement = "not_an_agreement",
    AgreementAlreadySigned = "agreement_already_signed",
    SelfDeclarationNotExpected = "self_declaration_not_expected",
    NoSelfDeclarationToReview = "no_self_declaration_to_review",
    IncompleteAnswers = "incomplete_answers",
    NonCompliantWithoutDeviation = "non_compliant_without_deviation",
    DeviationNotNeeded = "deviation_not_needed",
    DeviationAlreadyAgreed = "deviation_already_agreed",
    CommitmentAlreadyRecorded = "commitment_already_recorded",
    MilestoneAlreadyRecorded = "milestone_already_recorded",
    TrainingAlreadyCompleted = "training_already_completed",
    FinalVerificationNotPending = "final_verification_not_pending",
    FinalVerificationNotHeld = "final_verification_not_held",
    OpenDemands = "open_demands",
    FindingNotFound = "finding_not_found",
    FindingAlreadyResolved = "finding_already_resolved",
    FinalVerificationNotApproved = "final_verification_not_approved",
    FinalContractAlreadySigned = "final_contract_already_signed",
    GoLiveBlocked = "go_live_blocked",
    ServiceRequestNotFound = "service_request_not_found",
    ServiceRequestAlreadyDecided = "service_request_already_decided",
    CatalogueVersionNotNewer = "catalogue_version_not_newer",
    UnknownCatalogueVersion = "unknown_catalogue_version",
    CatalogueVersionNotInForce = "catalogue_version_not_in_force",
    StepNotInProcess = "step_not_in_process",
    UnknownStep = "unknown_step",
    StepNotConditional = "step_not_conditional",
    PlanAlreadyRecorded = "plan_already_recorded",
    StaffMemberAlreadyListed = "staff_member_already_listed",
    DemandIsTheRegions = "demand_is_the_regions",
    NoFindingResponse = "no_finding_response",
    NoProcessDefinition = "no_process_definition",
    NoWorkstations = "no_workstations",
    WrongStatus = "wrong_status",
    OccurredAfterDetection = "occurred_after_detection",
    OccurredAfterConnectionEnded = "occurred_after_connection_ended",
    AlreadyAcknowledged = "already_acknowledged",
    NotABreach = "not_a_breach",
    BreachAlreadyNotified = "breach_already_notified",
    NotifiedBeforeDetection = "notified_before_detection",
    AlreadyForgotten = "already_forgotten",
    WrongSubject = "wrong_subject",
}

impl ProblemCode {
    /// The one mapping of a domain error's code into the enum; `None` for a code the enum
    /// lacks (a test keeps every code of `domain::DomainError::CODES` in it).
    pub fn from_domain(code: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|known| known.as_str() == code)
    }
}

impl PartialEq<&str> for ProblemCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// The step of the programme's process, for `plan_not_recorded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "gemensam-it-plan")]
    pub step: Option<String>,
    /// The user's data subject id (a pseudonym), for `staff_commitment_missing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<uuid::Uuid>,
    /// The commitment not signed, for `staff_commitment_missing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "responsibility_commitment")]
    pub commitment: Option<String>,
    /// The computer, for `computer_not_approved`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computer: Option<String>,
    /// The condition in words.
    #[schema(example = "the agreement JHV-014 is not signed")]
    pub message: String,
}

impl From<&Blocker> for UnmetCondition {
    fn from(blocker: &Blocker) -> Self {
        let mut unmet = Self {
            condition: blocker.code().to_owned(),
            agreement: None,
            finding: None,
            step: None,
            subject: None,
            commitment: None,
            computer: None,
            message: blocker.to_string(),
        };
        match blocker {
            Blocker::AgreementNotSigned { agreement } => {
                unmet.agreement = Some(agreement.to_string());
            }
            Blocker::DemandOpen { finding } => unmet.finding = Some(finding.get()),
            Blocker::PlanNotRecorded { step } => unmet.step = Some(step.to_string()),
            Blocker::StaffCommitmentMissing {
                subject,
                commitment,
            } => {
                unmet.subject = Some(*subject.as_uuid());
                unmet.commitment = Some(commitment.as_str().to_owned());
            }
            Blocker::ComputerNotApproved { computer } => {
                unmet.computer = Some(computer.to_string());
            }
            Blocker::ContractNotSigned
            | Blocker::SelfDeclarationNotAccepted
            | Blocker::TrainingNotCompleted
            | Blocker::StaffNotListed
            | Blocker::TechnicalCheckNotApproved
            | Blocker::FinalVerificationNotApproved
            | Blocker::FinalContractNotSigned => {}
        }
        unmet
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
    // A stable, machine-readable code: one of the API's own or a domain refusal's. The
    // description and example are the enum's own: a field-level one would make utoipa wrap
    // the enum in an `allOf` with an object schema, which no code string matches.
    #[schema(inline)]
    pub code: ProblemCode,
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
    code: ProblemCode,
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
        code: ProblemCode,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self(Box::new(Inner {
            status,
            code,
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

    pub const fn code(&self) -> ProblemCode {
        self.0.code
    }

    /// 400 with one error per field.
    pub fn invalid(code: ProblemCode, detail: impl Into<String>, errors: &[FieldError]) -> Self {
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
        Self::invalid(ProblemCode::InvalidBody, detail, errors)
    }

    pub fn invalid_header(name: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::invalid(
            ProblemCode::InvalidHeader,
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
            ProblemCode::Unauthenticated,
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
            ProblemCode::InvalidToken,
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
            ProblemCode::Forbidden,
            "The caller's role may not do this",
            detail,
        )
    }

    /// 404: also the answer for another tenant's resources, with the same body.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ProblemCode::NotFound,
            "Not found",
            format!("no {what} with this id is visible to the caller"),
        )
    }

    pub fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ProblemCode::NotFound,
            "Not found",
            "there is no resource at this path",
        )
    }

    pub fn precondition_failed(current_version: u64) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            ProblemCode::PreconditionFailed,
            "The resource has changed",
            format!("the resource is at version {current_version}; read it again and decide anew"),
        )
        .with("current_version", json!(current_version))
        .with_header(header::ETAG, etag_value(current_version))
    }

    /// 412: a write between our load and our commit; the caller's view is stale.
    pub fn changed_meanwhile() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            ProblemCode::PreconditionFailed,
            "The resource has changed",
            "another command changed the resource meanwhile; read it again and decide anew",
        )
    }

    pub fn precondition_required() -> Self {
        Self::new(
            StatusCode::PRECONDITION_REQUIRED,
            ProblemCode::PreconditionRequired,
            "If-Match is required",
            "commands to an existing resource need If-Match with its ETag (or *), so that \
             nobody acts on a stale view by accident",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ProblemCode::PayloadTooLarge,
            "The request body is too large",
            format!("request bodies are limited to {limit} bytes"),
        )
    }

    /// 408: the client did not send the whole body in time (it stalled or trickles).
    pub fn request_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            ProblemCode::RequestTimeout,
            "The request body did not arrive in time",
            "the body was not received within the server's time limit; send it again",
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemCode::UnsupportedMediaType,
            "The body must be JSON",
            "send the body with Content-Type: application/json",
        )
    }

    pub fn idempotency_key_reused() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::IdempotencyKeyReused,
            "The Idempotency-Key was used for another request",
            "this Idempotency-Key was already used with a different request; use a new key",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ProblemCode::Unavailable,
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
            ProblemCode::OutcomeUnknown,
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
        if self.0.code == ProblemCode::OutcomeUnknown {
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
            ProblemCode::Internal,
            "Internal error",
            "the server failed to answer; the error was logged",
        );
        error.0.cause = Some(cause.into());
        error
    }

    pub fn method_not_allowed(allow: &str) -> Self {
        let mut error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ProblemCode::MethodNotAllowed,
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
        code: ProblemCode,
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
            ProblemCode::RequestHeaderFieldsTooLarge,
            "The request's headers are too large",
            format!("the request line and headers together are limited to {limit} bytes"),
        )
    }

    /// A domain refusal: 403, 409 or 422 by its class, its `code`, and its fields as
    /// extension members (for `go_live_blocked`, `unmet` lists each condition).
    fn domain(class: ErrorClass, code: ProblemCode, detail: String, fields: Value) -> Self {
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

impl ApiError {
    /// Any domain refusal: 403, 409 or 422 by its class, its code (mapped by
    /// [`ProblemCode::from_domain`]), and its fields as extension members.
    fn refusal<E: DomainError>(error: &E) -> Self {
        let fields = serde_json::to_value(error).unwrap_or(Value::Null);
        let code = ProblemCode::from_domain(error.code()).unwrap_or_else(|| {
            // Unreachable while `every_domain_code_is_a_problem_code` passes.
            tracing::error!(
                code = error.code(),
                "a domain code missing from ProblemCode"
            );
            ProblemCode::Internal
        });
        Self::domain(error.class(), code, error.to_string(), fields)
    }
}

impl From<CaseError> for ApiError {
    fn from(error: CaseError) -> Self {
        let mut api = Self::refusal(&error);
        if let CaseError::GoLiveBlocked { unmet } = &error {
            let unmet: Vec<UnmetCondition> = unmet.iter().map(UnmetCondition::from).collect();
            api = api.with("unmet", json!(unmet));
        }
        api
    }
}

impl From<IncidentError> for ApiError {
    fn from(error: IncidentError) -> Self {
        Self::refusal(&error)
    }
}

impl From<SubjectError> for ApiError {
    fn from(error: SubjectError) -> Self {
        Self::refusal(&error)
    }
}

impl From<crate::auth::token::AuthError> for ApiError {
    fn from(error: crate::auth::token::AuthError) -> Self {
        Self::invalid_token(error.to_string())
    }
}

impl From<::audit::AuditError> for ApiError {
    fn from(error: ::audit::AuditError) -> Self {
        match error {
            ::audit::AuditError::Store(error) => error.into(),
            ::audit::AuditError::Unavailable(_) => Self::unavailable(),
            ::audit::AuditError::OutOfRange(detail) => {
                crate::application::checkpoints::out_of_range(detail)
            }
            ::audit::AuditError::NoSuchStream(_) => Self::not_found("stream"),
            other => Self::internal(other),
        }
    }
}

/// 422 for a subscription the crate refuses: `invalid_subscription` (the field and the rule)
/// or `url_refused` (which URL rule; the URL is never repeated).
fn subscription_refused(code: ProblemCode, detail: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        "The subscription is not acceptable",
        detail,
    )
}

impl From<::webhooks::WebhookError> for ApiError {
    fn from(error: ::webhooks::WebhookError) -> Self {
        match error {
            ::webhooks::WebhookError::Invalid(detail) => {
                subscription_refused(ProblemCode::InvalidSubscription, detail)
            }
            ::webhooks::WebhookError::UrlRefused(_) => {
                subscription_refused(ProblemCode::UrlRefused, error.to_string())
            }
            ::webhooks::WebhookError::NotFound(what) => Self::not_found(what),
            ::webhooks::WebhookError::IdempotencyKeyReused => Self::idempotency_key_reused(),
            ::webhooks::WebhookError::Conflict(detail) => Self::new(
                StatusCode::CONFLICT,
                ProblemCode::DeliveryState,
                "The delivery's state does not allow this",
                detail,
            ),
            ::webhooks::WebhookError::TooMany(_) => Self::new(
                StatusCode::CONFLICT,
                ProblemCode::TooManySubscriptions,
                "The region has the most subscriptions allowed",
                error.to_string(),
            ),
            ::webhooks::WebhookError::Unavailable(_) => {
                tracing::warn!(error = %cause_chain(&error), "the webhook tables are unavailable");
                Self::unavailable()
            }
            ::webhooks::WebhookError::Store(store) => store.into(),
            other => Self::internal(other),
        }
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
                    ProblemCode::ProjectionLagging,
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
                ProblemCode::InvalidQuery,
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

impl From<crate::application::forget::ForgetError> for ApiError {
    fn from(error: crate::application::forget::ForgetError) -> Self {
        use crate::application::forget::ForgetError;
        match error {
            ForgetError::Refused(refused) => refused.into(),
            ForgetError::Decision(decision) => decision.into(),
            ForgetError::Store(store) => store.into(),
            ForgetError::Keys(keys) => keys.into(),
            ForgetError::ReadModels(read_models) => read_models.into(),
            missing @ ForgetError::OutcomeMissing(_) => Self::internal(missing),
        }
    }
}

impl<E> From<CommandError<E>> for ApiError
where
    E: Into<Self>,
{
    /// The pipeline's refusals. `NotFound` names no resource here: the edge
    /// (`commands::execute`) answers it with the resource's name.
    fn from(error: CommandError<E>) -> Self {
        match error {
            CommandError::PreconditionRequired => Self::precondition_required(),
            CommandError::PreconditionFailed { current } => Self::precondition_failed(current),
            CommandError::NotFound => Self::not_found("resource"),
            CommandError::KeyReused => Self::idempotency_key_reused(),
            CommandError::Conflict => Self::changed_meanwhile(),
            CommandError::Refused(refusal) => refusal.into(),
            CommandError::Store(error) => error.into(),
            CommandError::Internal(cause) => Self::internal(cause),
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
            AggregateError::AggregateConflict => Self::changed_meanwhile(),
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
    fn every_subsystem_answers_503_for_a_database_that_is_going_away_and_500_for_a_bad_statement() {
        use store::testing::refused;
        // PostgreSQL: admin shutdown (what a fast stop sends), crash shutdown, cannot connect
        // now, too many connections, statement timeout, connection failure; SQLite: busy,
        // locked. One classification (the store's) for the log, the audit tables, the read
        // models, the webhook outbox and the key table.
        for code in [
            "57P01", "57P02", "57P03", "53300", "57014", "08006", "5", "6",
        ] {
            let answers: [(&str, ApiError); 5] = [
                ("store", StoreError::from(refused(code)).into()),
                ("audit", ::audit::AuditError::from(refused(code)).into()),
                (
                    "projections",
                    ::projections::ProjectionError::from(refused(code)).into(),
                ),
                (
                    "webhooks",
                    ::webhooks::WebhookError::from(refused(code)).into(),
                ),
                (
                    "privacy",
                    ::privacy::PrivacyError::from(refused(code)).into(),
                ),
            ];
            for (subsystem, error) in answers {
                assert_eq!(
                    error.status(),
                    StatusCode::SERVICE_UNAVAILABLE,
                    "{subsystem}: {code}"
                );
                assert_eq!(error.code(), "unavailable", "{subsystem}: {code}");
            }
        }
        // A syntax error is ours, not the database's availability.
        let error: ApiError = ::audit::AuditError::from(refused("42601")).into();
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_key_table_out_of_reach_is_503_and_a_broken_key_500() {
        let error: ApiError = ::privacy::PrivacyError::from(sqlx::Error::PoolTimedOut).into();
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

    #[test]
    fn crate_errors_become_stable_problems() {
        let cases: [(::webhooks::WebhookError, u16, &str); 5] = [
            (
                ::webhooks::WebhookError::Invalid("event_types[0] ...".into()),
                422,
                "invalid_subscription",
            ),
            (
                ::webhooks::WebhookError::UrlRefused("it must use https".into()),
                422,
                "url_refused",
            ),
            (
                ::webhooks::WebhookError::NotFound("subscription"),
                404,
                "not_found",
            ),
            (
                ::webhooks::WebhookError::Conflict("a pending delivery".into()),
                409,
                "delivery_state",
            ),
            (
                ::webhooks::WebhookError::TooMany(50),
                409,
                "too_many_subscriptions",
            ),
        ];
        for (error, status, code) in cases {
            let api = ApiError::from(error);
            assert_eq!((api.status().as_u16(), api.code().as_str()), (status, code));
        }
    }

    #[test]
    fn every_domain_code_is_a_problem_code() {
        let domain_codes = [
            <CaseError as DomainError>::CODES,
            <IncidentError as DomainError>::CODES,
            <SubjectError as DomainError>::CODES,
        ];
        for code in domain_codes.concat() {
            assert!(
                ProblemCode::from_domain(code).is_some(),
                "the domain's code {code} is not in ProblemCode"
            );
        }
    }

    #[test]
    fn each_code_serialises_as_its_string_once() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ProblemCode::ALL {
            assert_eq!(json!(code), json!(code.as_str()));
            assert!(seen.insert(code.as_str()), "{code} is listed twice");
        }
    }

    #[test]
    fn the_openapi_problem_code_lists_every_code() {
        let spec: Value = serde_json::from_str(&crate::openapi::spec_json()).unwrap();
        let code = &spec["components"]["schemas"]["Problem"]["properties"]["code"];
        // Inlined with its own description: `{"allOf": [{"enum": [...]}], ...}`.
        let schema = code["allOf"]
            .as_array()
            .and_then(|all| all.iter().find(|schema| schema["enum"].is_array()))
            .unwrap_or(code);
        let listed: Vec<&str> = schema["enum"]
            .as_array()
            .expect("Problem.code is an enum")
            .iter()
            .map(|code| code.as_str().unwrap())
            .collect();
        let known: Vec<&str> = ProblemCode::ALL.iter().map(|code| code.as_str()).collect();
        assert_eq!(listed, known);
    }

    #[test]
    fn an_answer_carries_its_code_in_code_and_type() {
        let body = ApiError::not_found("case").body();
        assert_eq!(body["code"], "not_found");
        assert_eq!(body["type"], "urn:anslut:problem:not_found");
    }
}
