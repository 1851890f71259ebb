//! Erasure of personal data (crypto-shredding) over HTTP: forgetting a data subject, and
//! finding a staff member's subject from a personnummer sent in the body (never in the URL,
//! which is logged).
//!
//! Who: officers and region IT (`Authorized<ForgetSubject>`). Tenancy: each region is its
//! own controller, and a data subject belongs to one region (a person named in two regions'
//! cases is two subjects with two keys), so only that region may forget it; any other
//! answers 404, exactly like a subject that does not exist, and no answer says anything of
//! another region. The regions come from the `subject_regions` index, not a scan of the log.
//! A subject of the old scheme (an HMAC of the personnummer, one for every region) that more
//! than one region names is refused with 409 `shared_subject`: forgetting it would erase
//! another controller's records (`anslut privacy forget` is the operator's way).
//!
//! Lookup (`POST /v1/privacy/subjects/lookup`) answers only with a subject the caller's
//! region names (404 otherwise, and never creates one), records every lookup (who, region,
//! when, what was found; never the personnummer) in `subject_lookups`, and allows each caller
//! [`LOOKUPS_PER_DAY`] a day (429 `lookup_limit_reached` with `Retry-After`).
//!
//! Order: the `SubjectForgotten` event is recorded first, then the key is destroyed and the
//! read models are erased. A crash in between leaves the event without the erasure: forgetting
//! again answers 409 `already_forgotten`, but only after destroying the key and erasing the
//! read models, so re-running repairs it.

use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Utc};
use domain::identity::Personnummer;
use domain::ids::DataSubjectId;
use domain::text::Reason;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_actix_web::UtoipaApp;
use uuid::Uuid;

use crate::application::forget::{Forgetting, forget};
use crate::authz::{self, Authorized};
use crate::commands::OPERATION_KEY;
use crate::dto::identity_message;
use crate::extract::{JsonBody, RequestContext};
use crate::problem::{ApiError, FieldError, ProblemCode};
use crate::state::AppState;
use crate::tenancy::TENANT_REGION;

/// Registers `/v1/privacy`.
pub fn register<T>(app: UtoipaApp<T>) -> UtoipaApp<T>
where
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        >,
{
    app.service(
        utoipa_actix_web::scope("/v1/privacy")
            .service(forget_subject)
            .service(lookup_subject),
    )
}

/// Why a data subject is forgotten.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetSubjectRequest {
    /// A reference to the erasure request or its legal ground, 1 to 4,000 characters. Kept
    /// in clear on the record: it must not repeat the person's data.
    #[schema(value_type = String, example = "Erasure request 2026-17 (GDPR art. 17)", pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$", min_length = 1, max_length = 4000)]
    pub reason: Reason,
}

/// The recorded erasure.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectForgottenView {
    pub subject_id: Uuid,
    /// When the subject was forgotten.
    pub forgotten_at: DateTime<Utc>,
    /// The global position of the `SubjectForgotten` event.
    pub position: u64,
    /// Whether a key was destroyed (false when the subject never had sealed data).
    pub key_destroyed: bool,
    /// Read-model documents rewritten to the erased form.
    pub documents_erased: u64,
}

/// A personnummer, in the body so that it never reaches a log.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupSubjectRequest {
    /// 10 or 12 digits, with or without separator.
    #[schema(
        example = "19811218-9876",
        format = "personnummer",
        pattern = "^([0-9]{8}-?[0-9]{4}|[0-9]{6}[-+]?[0-9]{4})$"
    )]
    pub personnummer: String,
}

/// A staff member's data subject id.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectLookupView {
    pub subject_id: Uuid,
    /// Always true: a lookup answers only with a subject the caller's region names.
    pub named_in_region: bool,
}

/// `POST /v1/privacy/subjects/{subject_id}/forget`
#[utoipa::path(
    tag = "privacy",
    summary = "Forget a data subject",
    description = "Records `SubjectForgotten` in the stream `data_subject/{subject_id}`, destroys \
the subject's key and its staff-index entry, and erases the read models: from then on every \
read, history, export, feed item and webhook shows the subject's personal data as \
`{\"pii\": {\"subject\": ..., \"erased\": true}}`, while hashes and proofs stay valid (they \
cover the ciphertext). A subject belongs to one region (each region is its own controller; a \
person named in two regions is two subjects): officers and region IT of that region may forget \
it, any other caller gets 404. A subject recorded before subjects were per region and named by \
several regions answers 409 `shared_subject`. Forgetting again answers 409 `already_forgotten` \
with the first decision, after making sure the key is gone (which repairs an erasure \
interrupted after its event was recorded).",
    params(("subject_id" = Uuid, Path, description = "The data subject: from a `pii` object, or from `POST /v1/privacy/subjects/lookup`.")),
    request_body(content = ForgetSubjectRequest, content_type = "application/json", example = json!({"reason": "Erasure request 2026-17 (GDPR art. 17)"})),
    responses(
        (status = 200, description = "The subject was forgotten.", body = SubjectForgottenView,
            example = json!({"subject_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4d", "forgotten_at": "2026-05-04T08:30:00Z", "position": 1290, "key_destroyed": true, "documents_erased": 3})),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = [])),
)]
#[post("/subjects/{subject_id}/forget")]
#[tracing::instrument(name = "forget-data-subject", skip_all, fields(subject_id = %subject_id))]
pub async fn forget_subject(
    auth: Authorized<authz::ForgetSubject>,
    state: web::Data<AppState>,
    context: RequestContext,
    subject_id: web::Path<Uuid>,
    body: JsonBody<ForgetSubjectRequest>,
) -> Result<HttpResponse, ApiError> {
    let subject = DataSubjectId::from_uuid(subject_id.into_inner());
    let principal = auth.principal;
    let regions = state.subject_keys.regions_of(subject).await?;
    if !regions.contains(principal.region().as_str()) {
        return Err(ApiError::not_found("data subject"));
    }
    if regions.len() > 1 {
        return Err(shared_subject());
    }
    let extra = BTreeMap::from([
        (
            OPERATION_KEY.to_owned(),
            format!("{} {}", context.method, context.route),
        ),
        (
            TENANT_REGION.to_owned(),
            principal.region().as_str().to_owned(),
        ),
    ]);
    let forgotten = forget(
        &Forgetting::of(&state),
        principal.actor().clone(),
        principal.record(),
        context.request_id,
        extra,
        subject,
        body.value.reason,
    )
    .await?;
    Ok(HttpResponse::Ok().json(SubjectForgottenView {
        subject_id: *forgotten.subject.as_uuid(),
        forgotten_at: forgotten.forgotten_at,
        position: forgotten.position.get(),
        key_destroyed: forgotten.key_destroyed,
        documents_erased: forgotten.documents_erased,
    }))
}

/// `POST /v1/privacy/subjects/lookup`
#[utoipa::path(
    tag = "privacy",
    summary = "Find a staff member's data subject",
    description = "The data subject id under which the caller's region records the staff \
member with this personnummer, to forget them with \
`POST /v1/privacy/subjects/{subject_id}/forget`; 404 when the region's records name no such \
person (or the subject was forgotten). The personnummer is sent in the body so that no URL, log \
or metric holds it. Every lookup is recorded (who, region, when, the subject found; never the \
personnummer), and a caller may make 100 a day (then 429 `lookup_limit_reached` with \
`Retry-After`). Officers and region IT.",
    request_body(content = LookupSubjectRequest, content_type = "application/json", example = json!({"personnummer": "19811218-9876"})),
    responses(
        (status = 200, description = "The subject id.", body = SubjectLookupView,
            example = json!({"subject_id": "5b2f4c1e-8a4b-4e07-9b3c-d1e2f3a4b5c6", "named_in_region": true})),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 429, response = crate::openapi::LookupLimited),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = [])),
)]
#[post("/subjects/lookup")]
#[tracing::instrument(name = "lookup-data-subject", skip_all)]
pub async fn lookup_subject(
    auth: Authorized<authz::ForgetSubject>,
    state: web::Data<AppState>,
    body: JsonBody<LookupSubjectRequest>,
) -> Result<HttpResponse, ApiError> {
    let personnummer =
        Personnummer::parse(&body.value.personnummer, state.clock.today()).map_err(|e| {
            ApiError::invalid_body(&[FieldError {
                path: "personnummer".into(),
                message: identity_message(&e),
            }])
        })?;
    let principal = &auth.principal;
    let region = principal.region();
    let caller = principal.actor().subject.as_str();
    let now = state.clock.now();
    let since = (now - chrono::Duration::hours(24)).timestamp_micros();
    if state
        .subject_keys
        .lookups_since(region.as_str(), caller, since)
        .await?
        >= LOOKUPS_PER_DAY
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ProblemCode::LookupLimitReached,
            "Too many lookups",
            format!("a caller may look up {LOOKUPS_PER_DAY} data subjects a day"),
        )
        .with_header(
            header::RETRY_AFTER,
            HeaderValue::from_static(LOOKUP_RETRY_AFTER),
        ));
    }
    let found = state
        .subject_keys
        .find_staff_subject(
            &state.subjects.staff_lookup(&personnummer, region),
            state.subjects.legacy_staff(&personnummer),
            region.as_str(),
        )
        .await?;
    state
        .subject_keys
        .record_lookup(
            now.timestamp_micros(),
            region.as_str(),
            caller,
            principal.role().as_str(),
            found,
        )
        .await?;
    let subject = found.ok_or_else(|| ApiError::not_found("data subject"))?;
    tracing::info!(%subject, "looked up a data subject");
    Ok(HttpResponse::Ok().json(SubjectLookupView {
        subject_id: *subject.as_uuid(),
        named_in_region: true,
    }))
}

/// The lookups one caller (token subject in a region) may make in 24 hours: enough for an
/// officer answering erasure requests, far too few to try the ~1,000 personnummer of a birth
/// date. Every lookup, found or not, counts and is recorded.
pub const LOOKUPS_PER_DAY: u64 = 100;
/// `Retry-After` of `lookup_limit_reached`, in seconds (an hour: the window slides).
const LOOKUP_RETRY_AFTER: &str = "3600";

/// 409 `shared_subject`: an old-scheme subject that several regions name.
fn shared_subject() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        ProblemCode::SharedSubject,
        "The data subject is shared",
        "this data subject was recorded before subjects were per region and is named by more \
         than one region's records; forgetting it here would erase another controller's \
         records. An operator forgets it with `anslut privacy forget`",
    )
}
