//! Commands at the HTTP edge: the pipeline (`application::commands`) run for a request, its
//! outcome as an answer (`ETag`, `Location`, `Command-Id`, the body), and the loads and
//! tenancy checks of the command routes. Every refusal names the command id too.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use cqrs_es::Aggregate;
use cqrs_es::EventStore as _;
use domain::case::{CaseCommand, ConnectionCase, Issued};
use domain::ids::{CaseId, IncidentId};
use domain::incident::SecurityIncident;
use serde::Serialize;

use crate::application::commands::{self as pipeline, CommandError, Pipeline};
pub use crate::application::commands::{CommandInput, Executed, Target};
pub use crate::application::commands::{FINGERPRINT_KEY, OPERATION_KEY};
pub(crate) use crate::application::commands::{recorded, views, warnings_in};
use crate::auth::Principal;
use crate::authz::visible;
use crate::dto::views::{CaseCommandResult, IncidentCommandResult};
use crate::problem::{ApiError, COMMAND_ID_HEADER, etag_value};
use crate::state::AppState;
use crate::tenancy::Tenanted;

/// Runs one command for a request through the pipeline; every answer, success or refusal,
/// names the command id (`Command-Id`; `command_id` in the body). `visible` says whether
/// the caller may act on the loaded aggregate (404 `not_found` for `resource` if not).
pub async fn execute<A>(
    state: &AppState,
    input: &CommandInput,
    stream_id: &str,
    target: Target,
    visible: impl FnOnce(&A) -> bool,
    command: A::Command,
    services: &A::Services,
) -> Result<Executed, ApiError>
where
    A: Aggregate + Clone + Tenanted + 'static,
    A::Error: Into<ApiError>,
{
    let key = state.subjects.fingerprint_key();
    let pipeline = Pipeline {
        store: &state.store,
        metrics: &state.metrics,
        fingerprint_key: &key,
    };
    pipeline::execute(
        pipeline, input, stream_id, target, visible, command, services,
    )
    .await
    .map_err(|error| answer(error, A::RESOURCE).with_command_id(input.command_id()))
}

/// The pipeline's refusal as a problem.
fn answer<E: Into<ApiError>>(error: CommandError<E>, resource: &str) -> ApiError {
    match error {
        CommandError::NotFound => ApiError::not_found(resource),
        other => other.into(),
    }
}

/// A JSON response with `ETag`, and `Location` for a created resource.
pub fn respond<T: Serialize>(
    status: StatusCode,
    body: &T,
    version: u64,
    location: Option<String>,
) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.insert_header((header::ETAG, etag_value(version)));
    if let Some(location) = location
        && let Ok(value) = HeaderValue::from_str(&location)
    {
        response.insert_header((header::LOCATION, value));
    }
    response.json(body)
}

/// The answer to a command: `ETag`, `Location` when it created its resource, `Command-Id`.
fn command_response<T: Serialize>(
    status: StatusCode,
    body: &T,
    executed: &Executed,
    location: Option<String>,
) -> HttpResponse {
    let mut response = respond(status, body, executed.outcome.last_version, location);
    if let Ok(value) = HeaderValue::from_str(&executed.command_id.to_string()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(COMMAND_ID_HEADER), value);
    }
    response
}

/// The body of the answer to a command on a case.
pub fn case_result(case_id: CaseId, executed: &Executed) -> CaseCommandResult {
    CaseCommandResult {
        case_id: *case_id.as_uuid(),
        command_id: executed.command_id,
        version: executed.outcome.last_version,
        position: executed.outcome.last_position.get(),
        events: executed.events.clone(),
        warnings: executed.warnings.clone(),
    }
}

/// The body of the answer to a command on an incident.
pub fn incident_result(incident_id: IncidentId, executed: &Executed) -> IncidentCommandResult {
    IncidentCommandResult {
        incident_id: *incident_id.as_uuid(),
        command_id: executed.command_id,
        version: executed.outcome.last_version,
        position: executed.outcome.last_position.get(),
        events: executed.events.clone(),
    }
}

/// The answer to a command on a case.
pub fn case_response(status: StatusCode, case_id: CaseId, executed: &Executed) -> HttpResponse {
    let location = (status == StatusCode::CREATED).then(|| format!("/v1/cases/{case_id}"));
    command_response(status, &case_result(case_id, executed), executed, location)
}

/// The answer to a command on an incident.
pub fn incident_response(
    status: StatusCode,
    incident_id: IncidentId,
    executed: &Executed,
) -> HttpResponse {
    let location = (status == StatusCode::CREATED).then(|| format!("/v1/incidents/{incident_id}"));
    command_response(
        status,
        &incident_result(incident_id, executed),
        executed,
        location,
    )
}

/// A case as the caller may see it: loaded, existing and in its tenancy, or 404.
#[tracing::instrument(skip(state, principal))]
pub async fn load_case(
    state: &AppState,
    principal: &Principal,
    case_id: CaseId,
) -> Result<(ConnectionCase, u64), ApiError> {
    let context = state
        .store
        .aggregate_store::<ConnectionCase>()
        .load_aggregate(&case_id.to_string())
        .await
        .map_err(ApiError::from)?;
    visible_case(&context.aggregate, principal)?;
    Ok((
        context.aggregate,
        u64::try_from(context.current_sequence).unwrap_or(u64::MAX),
    ))
}

/// An incident as the caller may see it, or 404.
#[tracing::instrument(skip(state, principal))]
pub async fn load_incident(
    state: &AppState,
    principal: &Principal,
    incident_id: IncidentId,
) -> Result<(SecurityIncident, u64), ApiError> {
    let context = state
        .store
        .aggregate_store::<SecurityIncident>()
        .load_aggregate(&incident_id.to_string())
        .await
        .map_err(ApiError::from)?;
    visible_incident(&context.aggregate, principal)?;
    Ok((
        context.aggregate,
        u64::try_from(context.current_sequence).unwrap_or(u64::MAX),
    ))
}

/// 404 unless the case exists and is in the caller's tenancy.
pub fn visible_case(case: &ConnectionCase, principal: &Principal) -> Result<(), ApiError> {
    if case_is_visible(case, principal) {
        Ok(())
    } else {
        Err(ApiError::not_found(ConnectionCase::RESOURCE))
    }
}

/// Whether the case exists and is in the caller's tenancy.
pub fn case_is_visible(case: &ConnectionCase, principal: &Principal) -> bool {
    case.facts()
        .is_some_and(|facts| visible(principal, &facts.region, &facts.org_number))
}

/// 404 unless the incident exists and is in the caller's tenancy.
pub fn visible_incident(
    incident: &SecurityIncident,
    principal: &Principal,
) -> Result<(), ApiError> {
    if incident_is_visible(incident, principal) {
        Ok(())
    } else {
        Err(ApiError::not_found(SecurityIncident::RESOURCE))
    }
}

/// Whether the incident exists and is in the caller's tenancy.
pub fn incident_is_visible(incident: &SecurityIncident, principal: &Principal) -> bool {
    incident
        .facts()
        .is_some_and(|facts| visible(principal, &facts.region, &facts.provider_org))
}

/// For a new case: free, or taken by a case the caller can see (the domain refuses a second
/// application to it); a case the caller cannot see answers 404.
pub fn new_case_slot(case: &ConnectionCase, principal: &Principal) -> bool {
    case.facts().is_none() || case_is_visible(case, principal)
}

/// Runs a case command (any but `submit-application`) for the caller.
pub async fn run_case_command(
    state: &AppState,
    input: &CommandInput,
    case_id: CaseId,
    command: CaseCommand,
) -> Result<HttpResponse, ApiError> {
    let actor = input.principal.actor().clone();
    let executed = execute::<ConnectionCase>(
        state,
        input,
        &case_id.to_string(),
        Target::Existing,
        |case| case_is_visible(case, &input.principal),
        Issued::new(actor, command),
        &state.case_services(),
    )
    .await?;
    Ok(case_response(StatusCode::OK, case_id, &executed))
}
