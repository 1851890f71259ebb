//! Security incidents: reported against a case (`POST /v1/cases/{case_id}/incidents`), read
//! and acted on under `/v1/incidents/{incident_id}`.

use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use domain::case::Issued;
use domain::ids::{CaseId, IncidentId};
use domain::incident::SecurityIncident;
use utoipa_actix_web::UtoipaApp;
use uuid::Uuid;

use crate::authz::{self, Authorized};
use crate::commands::{self, CommandInput, Target};
use crate::dto::history::{AsOfQuery, IncidentReadView};
use crate::dto::incidents::{
    AcknowledgeIncidentRequest, AssessIncidentRequest, CloseIncidentRequest,
    IncidentCommandRequest, IncidentView, RecordBreachNotificationRequest,
    RecordIncidentActionRequest, ReportIncidentRequest,
};
use crate::dto::views::IncidentCommandResult;
use crate::extract::{CommandHeaders, JsonBody, RequestContext};
use crate::problem::ApiError;
use crate::state::AppState;

/// Registers the `/v1/incidents` scope (reports are under `/v1/cases`).
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
        utoipa_actix_web::scope("/v1/incidents")
            .service(super::read_models::list_incidents)
            .service(super::read_models::get_incident_summary)
            .service(get_incident)
            .service(super::history::incident_history)
            .service(super::audit::incident_export)
            .service(assess_incident)
            .service(record_incident_action)
            .service(close_incident)
            .service(acknowledge_incident)
            .service(record_breach_notification),
    )
}

/// `POST /v1/cases/{case_id}/incidents`
#[utoipa::path(
    tag = "incidents",
    summary = "Report a security incident",
    description = "Reports a security incident that may affect the region's IT security against \
a case, creating the incident. Accepted from contract signing on, also for suspended and ended \
connections (a late report about an ended connection must say when the incident occurred, on or \
before the last day). Providers, officers, region IT and integrations. With an \
`Idempotency-Key` the incident id is derived from the key, so a retry names the same incident.",
    params(
        ("case_id" = Uuid, Path, description = "The case the incident concerns."),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body replay the first response; the same key with another body is 422. 1 to 255 characters."),
    ),
    request_body(content = ReportIncidentRequest, content_type = "application/json", example = json!({
        "summary": "Phishing e-mail opened on a reception workstation",
        "description": "A receptionist opened an attachment; the workstation was disconnected within 10 minutes.",
        "detected_at": "2026-05-04T08:30:00Z",
        "occurred_at": "2026-05-04T08:10:00Z",
        "region_it_may_be_affected": true,
        "severity": "medium"
    })),
    responses(
        (status = 201, description = "The incident was reported.", body = IncidentCommandResult,
            headers(("ETag" = String, description = "The incident's version, `\"1\"`."), ("Location" = String, description = "`/v1/incidents/{incident_id}`"), ("Command-Id" = String, description = "The command's id; `GET /v1/commands/{command_id}` answers this outcome again.")),
            example = json!({"incident_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4d", "command_id": "0196a3c2-5b7d-7e21-8f3a-2c4d6e8f0a1b", "version": 1, "position": 1290, "events": [{"type": "IncidentReported", "version": 1}]})),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, response = crate::openapi::Unprocessable),
        (status = 503, response = crate::openapi::CommandUnavailable),
    ),
    security(("bearer" = [])),
)]
#[post("/{case_id}/incidents")]
#[tracing::instrument(name = "report-incident", skip_all, fields(case_id = %case_id))]
pub async fn report_incident(
    auth: Authorized<authz::ReportIncident>,
    state: web::Data<AppState>,
    context: RequestContext,
    case_id: web::Path<Uuid>,
    body: JsonBody<ReportIncidentRequest>,
    headers: CommandHeaders,
) -> Result<HttpResponse, ApiError> {
    let case_id = CaseId::from_uuid(case_id.into_inner());
    let input = CommandInput {
        principal: auth.principal,
        context,
        headers,
        body: body.bytes,
    };
    report(&state, &input, case_id, body.value)
        .await
        .map_err(|error| error.with_command_id(input.command_id()))
}

/// Reports an incident through the pipeline (also used by the demo).
pub async fn report(
    state: &AppState,
    input: &CommandInput,
    case_id: CaseId,
    request: ReportIncidentRequest,
) -> Result<HttpResponse, ApiError> {
    let (case, _) = commands::load_case(state, &input.principal, case_id).await?;
    let incident_context = case.incident_context()?;
    let incident_id = input.new_incident_id();
    let command = request.into_command(incident_id, incident_context)?;
    let actor = input.principal.actor().clone();
    let principal = input.principal.clone();
    let executed = commands::execute::<SecurityIncident>(
        state,
        input,
        &incident_id.to_string(),
        Target::New,
        |incident| {
            incident.facts().is_none() || commands::incident_is_visible(incident, &principal)
        },
        Issued::new(actor, command),
        &state.incident_services(),
    )
    .await?;
    Ok(commands::incident_response(
        StatusCode::CREATED,
        incident_id,
        &executed,
    ))
}

/// `GET /v1/incidents/{incident_id}`
#[utoipa::path(
    tag = "incidents",
    summary = "Read an incident",
    description = "The incident as it stands: status, severity (as reported, then as assessed), \
whether the region's IT is affected, and when it was reported, assessed and closed. The `ETag` \
is its version. Another tenant's incident answers 404.\n\nTime travel: with `as_of` (an \
RFC 3339 instant) or `as_of_position` (a global position), the incident as it stood then, \
rebuilt from its events up to that point, with `as_of` naming the last event included and no \
`ETag`. A point before it was reported answers 404. Both at once bound the same replay: the \
incident after the last event within both.",
    params(("incident_id" = Uuid, Path, description = "The incident id."), AsOfQuery),
    responses(
        (status = 200, description = "The incident (now, or as it stood at the point asked).", body = IncidentReadView,
            headers(("ETag" = String, description = "The incident's version; only for the current state.")),
            example = json!({
                "incident_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4d", "case_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e",
                "region": "jamtland-harjedalen", "provider_org": "556677-8899", "status": "assessed",
                "severity": "medium", "region_it_affected": false, "reported_at": "2026-05-04T08:35:12Z",
                "assessed_at": "2026-05-04T13:02:40Z", "closed_at": null, "version": 2
            })),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = [])),
)]
#[get("/{incident_id}")]
#[tracing::instrument(name = "get-incident", skip_all, fields(incident_id = %incident_id))]
pub async fn get_incident(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    incident_id: web::Path<Uuid>,
    query: web::Query<AsOfQuery>,
) -> Result<HttpResponse, ApiError> {
    let incident_id = IncidentId::from_uuid(incident_id.into_inner());
    if let Some(point) = query.point()? {
        return super::history::incident_as_of(&state, &auth.principal, incident_id, point).await;
    }
    let (incident, version) = commands::load_incident(&state, &auth.principal, incident_id).await?;
    let incident = IncidentView::of(&incident, version, state.clock.now())
        .ok_or_else(|| ApiError::not_found("incident"))?;
    let view = IncidentReadView {
        incident,
        as_of: None,
    };
    Ok(commands::respond(StatusCode::OK, &view, version, None))
}

/// Runs a command on an existing incident.
pub async fn run_incident_command(
    state: &AppState,
    input: &CommandInput,
    incident_id: IncidentId,
    request: impl IncidentCommandRequest,
) -> Result<HttpResponse, ApiError> {
    let command = request.into_command()?;
    let actor = input.principal.actor().clone();
    let principal = input.principal.clone();
    let executed = commands::execute::<SecurityIncident>(
        state,
        input,
        &incident_id.to_string(),
        Target::Existing,
        |incident| commands::incident_is_visible(incident, &principal),
        Issued::new(actor, command),
        &state.incident_services(),
    )
    .await?;
    Ok(commands::incident_response(
        StatusCode::OK,
        incident_id,
        &executed,
    ))
}

macro_rules! incident_commands {
    ($(
        $name:ident, $path:literal, $requirement:ident, $request:ty,
        $summary:literal, $description:literal, $example:tt;
    )*) => {
        $(
            #[utoipa::path(
                tag = "incidents",
                summary = $summary,
                description = $description,
                params(
                    ("incident_id" = Uuid, Path, description = "The incident id."),
                    ("If-Match" = String, Header, description = "The incident's current `ETag` (e.g. `\"2\"`), or `*`. Required: missing is 428; stale, or only tags no `ETag` gave (weak ones never match), is 412; malformed is 400."),
                    ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body replay the first response; the same key with another body is 422. 1 to 255 characters."),
                ),
                request_body(content = $request, content_type = "application/json", example = json!($example)),
                responses(
                    (status = 200, description = "The command was recorded.", body = IncidentCommandResult,
                        headers(("ETag" = String, description = "The incident's new version."), ("Command-Id" = String, description = "The command's id; `GET /v1/commands/{command_id}` answers this outcome again.")),
                        example = json!({"incident_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4d", "command_id": "0196a3c2-5b7d-7e21-8f3a-2c4d6e8f0a1b", "version": 2, "position": 1302, "events": [{"type": "IncidentAssessed", "version": 2}]})),
                    (status = 400, response = crate::openapi::BadRequest),
                    (status = 401, response = crate::openapi::Unauthorized),
                    (status = 403, response = crate::openapi::Forbidden),
                    (status = 404, response = crate::openapi::NotFound),
                    (status = 409, response = crate::openapi::Conflict),
                    (status = 412, response = crate::openapi::PreconditionFailed),
                    (status = 413, response = crate::openapi::PayloadTooLarge),
                    (status = 415, response = crate::openapi::UnsupportedMediaType),
                    (status = 422, response = crate::openapi::Unprocessable),
                    (status = 428, response = crate::openapi::PreconditionRequired),
                    (status = 503, response = crate::openapi::CommandUnavailable),
                ),
                security(("bearer" = [])),
            )]
            #[post($path)]
            #[tracing::instrument(name = $path, skip_all, fields(incident_id = %incident_id))]
            pub async fn $name(
                auth: Authorized<authz::$requirement>,
                state: web::Data<AppState>,
                context: RequestContext,
                incident_id: web::Path<Uuid>,
                body: JsonBody<$request>,
                headers: CommandHeaders,
            ) -> Result<HttpResponse, ApiError> {
                let incident_id = IncidentId::from_uuid(incident_id.into_inner());
                let input = CommandInput { principal: auth.principal, context, headers, body: body.bytes };
                run_incident_command(&state, &input, incident_id, body.value)
                    .await
                    .map_err(|error| error.with_command_id(input.command_id()))
            }
        )*
    };
}

incident_commands! {
    assess_incident, "/{incident_id}/assess", AssessIncident, AssessIncidentRequest,
    "Assess an incident",
    "Region IT's assessment of a reported incident: the severity it settles on and whether the region's IT is affected. Region IT and integrations.",
    {"severity": "medium", "region_it_affected": false, "assessment": "No traffic from the workstation reached the region's network."};

    record_incident_action, "/{incident_id}/record-action", ReportIncident, RecordIncidentActionRequest,
    "Record an action on an incident",
    "Records an action taken on a reported or assessed incident. Providers, officers, region IT and integrations.",
    {"action": "The workstation was reinstalled and the user's password changed.", "taken_at": "2026-05-04T11:00:00Z"};

    close_incident, "/{incident_id}/close", AssessIncident, CloseIncidentRequest,
    "Close an incident",
    "Closes an assessed incident. Region IT and integrations.",
    {"reason": "Actions completed; no further risk to the region's IT."};

    acknowledge_incident, "/{incident_id}/acknowledge", AssessIncident, AcknowledgeIncidentRequest,
    "Acknowledge an incident",
    "The region acknowledges that a reported incident reached it (Jämtland §3.4: \"Rapportera alla incidenter ... till helpdesk@regionjh.se\"); once. Region IT and integrations.",
    {"note": "Received by the helpdesk; region IT assesses it today."};

    record_breach_notification, "/{incident_id}/record-breach-notification", ReportIncident, RecordBreachNotificationRequest,
    "Record a breach's notification to the authority",
    "For an incident reported as a personal-data breach: records when it was notified to the supervisory authority (IMY) and the reference. The incident's `breach_clock` is due 72 hours after `detected_at` (GDPR art. 33(1)) and shows `overdue` when not notified by then; a notification after it is recorded and stays marked overdue. Refused with 422 `not_a_breach` for another incident. Providers, officers, region IT and integrations.",
    {"notified_at": "2026-05-05T10:00:00Z", "reference": "IMY-2026-4411"};
}
