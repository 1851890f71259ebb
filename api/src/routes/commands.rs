//! `/v1/commands/{command_id}`: what became of a command. Every answer of the command pipeline
//! names its command id; a client whose answer was lost, or said `outcome_unknown`, asks here.

use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use cqrs_es::Aggregate as _;
use domain::case::ConnectionCase;
use domain::ids::{CaseId, IncidentId};
use domain::incident::SecurityIncident;
use utoipa_actix_web::UtoipaApp;
use uuid::Uuid;

use crate::authz::{self, Authorized};
use crate::commands::{self, Executed};
use crate::dto::views::{CommandOutcome, CommandResult, CommandStatusView};
use crate::problem::{ApiError, ProblemCode};
use crate::state::AppState;
use crate::tenancy;

/// Registers the `/v1/commands` scope.
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
    app.service(utoipa_actix_web::scope("/v1/commands").service(command_status))
}

/// The answer for a command that is not recorded, or not the caller's to see: alike.
fn not_recorded() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ProblemCode::NotFound,
        "Not found",
        "no command with this id is recorded that is visible to the caller; a command whose \
         outcome was unknown and that is not found here was not recorded, and no attempt that \
         started before this answer will record it: send it again",
    )
}

/// `GET /v1/commands/{command_id}`
#[utoipa::path(
    tag = "commands",
    summary = "Find out whether a command was recorded",
    description = "Whether the command with this id (the `Command-Id` of its answer, or \
`command_id` in its body) was recorded, and if so its original answer: the status (201 for a \
command that created its case or incident, 200 otherwise), the created resource and the body. \
Use it after an `outcome_unknown` answer, or when an answer was lost, also for a command sent \
without an `Idempotency-Key`.\n\nThe answer is settled: the lookup waits for any commit in \
flight, so a 404 means the command was not recorded and no attempt that had started will \
record it; send it again (with the same `Idempotency-Key`, if it had one). A command on a case \
or incident the caller may not read answers 404 like one that was never recorded.",
    params(("command_id" = Uuid, Path, description = "The command id.")),
    responses(
        (status = 200, description = "The command was recorded; this was its answer.", body = CommandStatusView,
            example = json!({
                "command_id": "0196a3c2-5b7d-7e21-8f3a-2c4d6e8f0a1b",
                "outcome": "recorded",
                "operation": "POST /v1/cases/{case_id}/sign-contract",
                "recorded_at": "2026-03-02T09:14:07.512Z",
                "status": 200,
                "result": {"case_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e", "command_id": "0196a3c2-5b7d-7e21-8f3a-2c4d6e8f0a1b", "version": 4, "position": 1287, "events": [{"type": "ContractSigned", "version": 4}]}
            })),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = [])),
)]
#[get("/{command_id}")]
#[tracing::instrument(name = "command-status", skip_all, fields(command_id = %command_id))]
pub async fn command_status(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    command_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let command_id = command_id.into_inner();
    let Some(outcome) = state.store.command_outcome_settled(command_id).await? else {
        return Err(not_recorded());
    };
    let events = commands::recorded(&state.store, &outcome).await?;
    let Some(first) = events.first() else {
        return Err(not_recorded());
    };
    if !tenancy::visible(&auth.principal, &first.metadata) {
        return Err(not_recorded());
    }
    let operation = first.metadata.extra.get(commands::OPERATION_KEY).cloned();
    let created = outcome.first_version == 1;
    let stream_type = outcome.stream.stream_type.clone();
    let stream_id = outcome.stream.stream_id.clone();
    let recorded_at = outcome.recorded_at;
    let executed = Executed {
        command_id,
        outcome,
        events: commands::views(&events),
        warnings: commands::warnings_in(events.iter().map(|event| &event.payload)),
    };
    let id = Uuid::parse_str(&stream_id).map_err(|_| not_recorded())?;
    let (location, result) = if stream_type == ConnectionCase::TYPE {
        let case_id = CaseId::from_uuid(id);
        (
            format!("/v1/cases/{case_id}"),
            CommandResult::Case(commands::case_result(case_id, &executed)),
        )
    } else if stream_type == SecurityIncident::TYPE {
        let incident_id = IncidentId::from_uuid(id);
        (
            format!("/v1/incidents/{incident_id}"),
            CommandResult::Incident(commands::incident_result(incident_id, &executed)),
        )
    } else {
        return Err(not_recorded());
    };
    let view = CommandStatusView {
        command_id,
        outcome: CommandOutcome::Recorded,
        operation,
        recorded_at,
        status: if created { 201 } else { 200 },
        location: created.then_some(location),
        result,
    };
    Ok(HttpResponse::Ok().json(view))
}
