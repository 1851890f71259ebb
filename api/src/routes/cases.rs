//! `/v1/cases`: submit an application, read a case, and every other case command as
//! `POST /v1/cases/{case_id}/{command}` (kebab case; the operationId is the snake-case name).
//! The table of commands is the domain's `domain::case::COMMANDS`; a test checks that every
//! route here names the permission that table gives its command.

use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use domain::case::{ConnectionCase, Issued};
use domain::ids::CaseId;
use utoipa_actix_web::UtoipaApp;
use uuid::Uuid;

use crate::application::subjects::assign_subjects;
use crate::authz::{self, Authorized, Requirement};
use crate::commands::{self, CommandInput, Target};
use crate::dto::commands::{
    AcceptSelfDeclarationRequest, AgreeDeviationRequest, ApproveApplicationRequest,
    ApproveFinalVerificationRequest, AttestCatalogueVersionRequest, CaseCommandRequest,
    ChangeWorkstationsRequest, CompleteTrainingRequest, Conversion,
    DecideNonStandardServiceRequest, EndConnectionRequest, FailFinalVerificationRequest,
    GoLiveRequest, ListStaffMemberRequest, RecordFindingRequest, RecordMilestoneRequest,
    RecordPlanRequest, RecordStaffCommitmentRequest, RecordStepApplicabilityRequest,
    RecordTechnicalCheckRequest, RejectApplicationRequest, RejectFindingResponseRequest,
    ReportOrganisationalChangeRequest, RequestNonStandardServiceRequest, RequireAttestationRequest,
    ResolveFindingRequest, RespondToFindingRequest, ResumeConnectionRequest,
    ReturnSelfDeclarationRequest, ScheduleFinalVerificationRequest, SignAgreementRequest,
    SignContractRequest, SignFinalContractRequest, SubmitApplicationRequest,
    SubmitSelfDeclarationRequest, SuspendConnectionRequest, UpdateContactRequest,
};
use crate::dto::history::{AsOfQuery, CaseReadView};
use crate::dto::views::{CaseCommandResult, CaseView};
use crate::extract::{CommandHeaders, JsonBody, RequestContext, parse_json};
use crate::problem::ApiError;
use crate::state::AppState;

/// `POST /v1/cases`
#[utoipa::path(
    tag = "cases",
    summary = "Submit an application",
    description = "Submits an application to connect one provider unit to one region programme \
(ansökan om vårdenhet) and creates the case. The programme's catalogue in force today decides \
what the application must name (contacts, mandatory service packages, a call-measurement \
system, listed patients) and the lead time. Providers apply for their own organisation; \
officers and integrations register applications in their region.\n\nWith an \
`Idempotency-Key`, the case id is derived from the key, so a retry names the same case and \
gets the original response.",
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, description = "Makes retries safe: the same key and body replay the first response; the same key with another body is 422. 1 to 255 characters."),
    ),
    request_body(content = SubmitApplicationRequest, content_type = "application/json", example = json!({
        "programme": "jamtland-halsoval",
        "unit_name": "Östersundshälsan Vårdcentral",
        "org_number": "556677-8899",
        "service_packages": ["vardutbud-bas", "stodapplikationer"],
        "workstations": 12,
        "listed_patients": 4200,
        "contacts": [
            {"role": "it_contact", "name": "Karin Lindqvist", "email": "karin.lindqvist@ostersundshalsan.se", "phone": "+46 63 14 20 00"},
            {"role": "system_administrator", "name": "Jonas Ek", "email": "jonas.ek@ostersundshalsan.se"}
        ],
        "requested_go_live": "2026-09-01",
        "call_measurement_system": "Telia Touchpoint"
    })),
    responses(
        (status = 201, description = "The case was created.", body = CaseCommandResult,
            headers(("ETag" = String, description = "The case's version, `\"1\"`."), ("Location" = String, description = "`/v1/cases/{case_id}`"), ("Command-Id" = String, description = "The command's id; `GET /v1/commands/{command_id}` answers this outcome again.")),
            example = json!({"case_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e", "command_id": "0196a3c2-5b7d-7e21-8f3a-2c4d6e8f0a1b", "version": 1, "position": 1281, "events": [{"type": "ApplicationSubmitted", "version": 1}]})),
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
#[post("")]
#[tracing::instrument(name = "submit-application", skip_all)]
pub async fn submit_application(
    auth: Authorized<authz::Apply>,
    state: web::Data<AppState>,
    context: RequestContext,
    body: JsonBody<SubmitApplicationRequest>,
    headers: CommandHeaders,
) -> Result<HttpResponse, ApiError> {
    let input = CommandInput {
        principal: auth.principal,
        context,
        headers,
        body: body.bytes,
    };
    submit(&state, &input, body.value)
        .await
        .map_err(|error| error.with_command_id(input.command_id()))
}

/// Submits an application through the pipeline (also used by the demo).
pub async fn submit(
    state: &AppState,
    input: &CommandInput,
    request: SubmitApplicationRequest,
) -> Result<HttpResponse, ApiError> {
    let case_id = input.new_case_id();
    let conversion = Conversion {
        today: state.clock.today(),
        subjects: &state.subjects,
    };
    let command = request.into_command(case_id, &conversion)?;
    let command = assign_subjects(
        &state.subject_keys,
        &state.subjects,
        input.principal.region(),
        command,
    )
    .await?;
    let actor = input.principal.actor().clone();
    let principal = input.principal.clone();
    let executed = commands::execute::<ConnectionCase>(
        state,
        input,
        &case_id.to_string(),
        Target::New,
        |case| commands::new_case_slot(case, &principal),
        Issued::new(actor, command),
        &state.case_services(),
    )
    .await?;
    Ok(commands::case_response(
        StatusCode::CREATED,
        case_id,
        &executed,
    ))
}

/// `GET /v1/cases/{case_id}`
#[utoipa::path(
    tag = "cases",
    summary = "Read a case",
    description = "The case as it stands now, rebuilt from its events (strongly consistent): its \
phase, the catalogue version it is held to, agreements, self-declaration, milestones, \
verification and findings, and `blockers`, every condition that still blocks go-live. The \
`ETag` is the case's version; send it as `If-Match` with the next command. Another region's \
case, or another provider's, answers 404 like a case that does not exist.\n\nTime travel: with \
`as_of` (an RFC 3339 instant) or `as_of_position` (a global position), the answer is the case \
as it stood then, rebuilt from its events recorded up to that point (no snapshot), with \
`as_of` naming the position and time of the last event included and the blockers judged on \
that day; no `ETag` (commands act on the current state only). A point before the case \
existed answers 404. Both at once bound the same replay: the case after the last event \
within both, the earlier of the two points.",
    params(("case_id" = Uuid, Path, description = "The case id."), AsOfQuery),
    responses(
        (status = 200, description = "The case (now, or as it stood at the point asked).", body = CaseReadView,
            headers(("ETag" = String, description = "The case's version, e.g. `\"14\"`; only for the current state.")),
            example = json!({
                "case_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e", "region": "jamtland-harjedalen",
                "programme": "jamtland-halsoval", "org_number": "556677-8899",
                "unit_name": "Östersundshälsan Vårdcentral", "phase": "final_verification",
                "applied_on": "2026-02-16", "requested_go_live": "2026-09-01",
                "catalogue": {"programme": "jamtland-halsoval", "version": 1, "digest": "5b1c0e0f6a2d4e8b9c7f1a3d5e7b9c1f2a4d6e8b0c2f4a6d8e0b2c4f6a8d0e2b"},
                "contract_signed_on": "2026-03-02",
                "agreements": [{"agreement": "JHV-008", "signed_on": "2026-03-05"}, {"agreement": "JHV-014", "signed_on": "2026-03-05"}, {"agreement": "JHV-026", "signed_on": "2026-03-05"}],
                "declaration": "accepted",
                "milestones": [{"milestone": "network_connected", "completed_on": "2026-04-01"}],
                "training_completed_on": "2026-04-15",
                "verification": {"round": 1, "scheduled_for": "2026-05-12", "outcome": "pending"},
                "findings": [{"finding": 1, "kind": "demand", "round": 1, "requirement": "JHV-030", "resolved": false}],
                "final_contract_signed_on": null, "went_live_on": null, "ended_on": null,
                "service_requests": [],
                "blockers": [
                    {"condition": "final_verification_not_approved", "message": "the final verification is not approved"},
                    {"condition": "demand_open", "finding": 1, "message": "demand 1 is open"},
                    {"condition": "final_contract_not_signed", "message": "the final contract is not signed"}
                ],
                "version": 14
            })),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = [])),
)]
#[get("/{case_id}")]
#[tracing::instrument(name = "get-case", skip_all, fields(case_id = %case_id))]
pub async fn get_case(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    case_id: web::Path<Uuid>,
    query: web::Query<AsOfQuery>,
) -> Result<HttpResponse, ApiError> {
    let case_id = CaseId::from_uuid(case_id.into_inner());
    if let Some(point) = query.point()? {
        return super::history::case_as_of(&state, &auth.principal, case_id, point).await;
    }
    let (case, version) = commands::load_case(&state, &auth.principal, case_id).await?;
    let case = CaseView::of(&case, version, &state.catalogues, state.clock.today())
        .ok_or_else(|| ApiError::not_found("case"))?;
    let view = CaseReadView { case, as_of: None };
    Ok(commands::respond(StatusCode::OK, &view, version, None))
}

/// Declares the command routes: one handler per command, the table of their permissions,
/// the scope's registration and the demo's dispatcher.
macro_rules! case_commands {
    ($(
        $name:ident, $kebab:literal, $path:literal, $requirement:ident, $request:ty,
        $summary:literal, $description:literal, $example:tt;
    )*) => {
        $(
            #[utoipa::path(
                tag = "cases",
                summary = $summary,
                description = $description,
                params(
                    ("case_id" = Uuid, Path, description = "The case id."),
                    ("If-Match" = String, Header, description = "The case's current `ETag` (e.g. `\"7\"`), or `*`. Required: missing is 428; stale, or only tags no `ETag` gave (weak ones never match), is 412; malformed is 400."),
                    ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, description = "Makes retries safe: the same key and body replay the first response; the same key with another body is 422. 1 to 255 characters."),
                ),
                request_body(content = $request, content_type = "application/json", example = json!($example)),
                responses(
                    (status = 200, description = "The command was recorded.", body = CaseCommandResult,
                        headers(("ETag" = String, description = "The case's new version."), ("Command-Id" = String, description = "The command's id; `GET /v1/commands/{command_id}` answers this outcome again.")),
                        example = json!({"case_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e", "command_id": "0196a3c2-5b7d-7e21-8f3a-2c4d6e8f0a1b", "version": 4, "position": 1287, "events": [{"type": "ContractSigned", "version": 4}]})),
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
            #[tracing::instrument(name = $kebab, skip_all, fields(case_id = %case_id))]
            pub async fn $name(
                auth: Authorized<authz::$requirement>,
                state: web::Data<AppState>,
                context: RequestContext,
                case_id: web::Path<Uuid>,
                body: JsonBody<$request>,
                headers: CommandHeaders,
            ) -> Result<HttpResponse, ApiError> {
                let case_id = CaseId::from_uuid(case_id.into_inner());
                let input = CommandInput { principal: auth.principal, context, headers, body: body.bytes };
                // Every answer names the command, also a refusal before the pipeline.
                async {
                    let conversion = Conversion { today: state.clock.today(), subjects: &state.subjects };
                    let command = body.value.into_command(&conversion)?;
                    let command = assign_subjects(&state.subject_keys, &state.subjects, input.principal.region(), command).await?;
                    commands::run_case_command(&state, &input, case_id, command).await
                }
                .await
                .map_err(|error| error.with_command_id(input.command_id()))
            }
        )*

        /// Every case command route after `submit-application`: its kebab-case name and the
        /// permission its handler's `Authorized<...>` demands (held to the domain's commands
        /// and to the handlers by this module's tests).
        #[cfg(test)]
        const CASE_COMMAND_ROUTES: &[(&str, Option<domain::case::Permission>)] = &[
            $(($kebab, <authz::$requirement as Requirement>::PERMISSION),)*
        ];

        /// Registers the `/v1/cases` scope.
        pub fn register<T>(app: UtoipaApp<T>) -> UtoipaApp<T>
        where
            T: ServiceFactory<ServiceRequest, Config = (), Response = ServiceResponse, Error = actix_web::Error, InitError = ()>,
        {
            app.service(
                utoipa_actix_web::scope("/v1/cases")
                    .service(submit_application)
                    .service(super::read_models::list_cases)
                    .service(get_case)
                    .service(super::read_models::get_case_overview)
                    .service(super::history::case_history)
                    .service(super::audit::case_export)
                    .service(super::incidents::report_incident)
                    $(.service($name))*
            )
        }

        /// Runs a case command given by name and JSON body, through the same parsing and
        /// pipeline as its route (the demo loads its cases this way).
        pub async fn dispatch(
            state: &AppState,
            input: &CommandInput,
            case_id: CaseId,
            name: &str,
        ) -> Result<HttpResponse, ApiError> {
            let conversion = Conversion { today: state.clock.today(), subjects: &state.subjects };
            let command = match name {
                $($kebab => {
                    let required = <authz::$requirement as Requirement>::PERMISSION;
                    if let Some(permission) = required && !permission.allows(input.principal.role()) {
                        return Err(ApiError::forbidden(format!("the role {} lacks the permission {}", input.principal.role(), permission.as_str())));
                    }
                    parse_json::<$request>(&input.body)?.into_command(&conversion)?
                })*
                _ => return Err(ApiError::no_route()),
            };
            let command = assign_subjects(&state.subject_keys, &state.subjects, input.principal.region(), command).await?;
            commands::run_case_command(state, input, case_id, command).await
        }
    };
}

case_commands! {
    approve_application, "approve-application", "/{case_id}/approve-application", Decide, ApproveApplicationRequest,
    "Approve the application",
    "Approves an application in phase `application`; the case awaits the connection contract. Officers and integrations.",
    {"reason": "The application is complete and the unit meets the programme's conditions."};

    reject_application, "reject-application", "/{case_id}/reject-application", Decide, RejectApplicationRequest,
    "Reject the application",
    "Rejects an application in phase `application`; the case ends as `rejected`. Officers and integrations.",
    {"reason": "The provider does not hold the required care permit."};

    sign_contract, "sign-contract", "/{case_id}/sign-contract", Decide, SignContractRequest,
    "Sign the connection contract",
    "Records the connection contract (anslutningsavtal) as signed. The case enters establishment and is held, from now on, to the catalogue version in force on the signing day. Officers and integrations.",
    {"signed_on": "2026-03-02", "document": "RS 2026/114"};

    sign_agreement, "sign-agreement", "/{case_id}/sign-agreement", Decide, SignAgreementRequest,
    "Record an agreement as signed",
    "Records that an agreement the programme's catalogue demands (a `must` requirement of category `agreements` shown by a signed document, e.g. Jämtland's JHV-008, JHV-014, JHV-026) was signed. Officers and integrations.",
    {"agreement": "JHV-014", "signed_on": "2026-03-05", "counterparty": "Inera AB", "document": "Inera 2026-0311"};

    submit_self_declaration, "submit-self-declaration", "/{case_id}/submit-self-declaration", Declare, SubmitSelfDeclarationRequest,
    "Submit the self-declaration",
    "Submits the provider's self-declaration (självdeklaration): exactly one answer per requirement of the catalogue the case is held to, with a description for every answer other than `complies`. Providers only.",
    {"answers": [{"requirement": "JHV-001", "compliance": "complies"}, {"requirement": "JHV-002", "compliance": "complies", "evidence": ["Avtal med IT-konsult 2026-01"]}, {"requirement": "JHV-041", "compliance": "not_applicable", "description": "The unit has no telephony of its own."}]};

    accept_self_declaration, "accept-self-declaration", "/{case_id}/accept-self-declaration", Decide, AcceptSelfDeclarationRequest,
    "Accept the self-declaration",
    "Accepts a submitted self-declaration. A `does not comply` answer to a must-requirement needs an agreed deviation first. Officers and integrations.",
    {"reason": "Every requirement is answered and the evidence is in order."};

    return_self_declaration, "return-self-declaration", "/{case_id}/return-self-declaration", Decide, ReturnSelfDeclarationRequest,
    "Return the self-declaration",
    "Returns a submitted self-declaration to the provider for completion, with remarks per requirement. Officers and integrations.",
    {"reason": "Two answers lack a description.", "remarks": [{"requirement": "JHV-021", "remark": "Describe how backups of the local file server are tested."}]};

    agree_deviation, "agree-deviation", "/{case_id}/agree-deviation", Decide, AgreeDeviationRequest,
    "Agree a deviation",
    "Agrees that the provider may deviate from a must-requirement, for good or until a date. Officers and integrations.",
    {"requirement": "JHV-030", "reason": "The unit moves to new premises in June; the old server room is accepted until then.", "valid_until": "2026-06-30"};

    record_staff_commitment, "record-staff-commitment", "/{case_id}/record-staff-commitment", Record, RecordStaffCommitmentRequest,
    "Record a staff commitment",
    "Records that a staff member signed the IT responsibility commitment or the confidentiality reminder. The name and personnummer are personal data, stored under a stable data subject id and never logged; the personnummer is never shown, the name only by `GET /v1/staff-commitments` to the roles that work with the case. Providers, officers, region IT and integrations.",
    {"hsa_id": "SE5566778899-K7Q2", "name": "Per Olsson", "personnummer": "19811218-9876", "kind": "responsibility_commitment", "signed_on": "2026-03-10"};

    record_milestone, "record-milestone", "/{case_id}/record-milestone", Verify, RecordMilestoneRequest,
    "Record a technical milestone",
    "Records a technical milestone (network connected, workstations registered, HSA unit created, 1177 contact card published, accounts created); each once. Officers, region IT and integrations.",
    {"milestone": {"kind": "network_connected", "network": "Sjunet"}, "completed_on": "2026-04-01"};

    complete_training, "complete-training", "/{case_id}/complete-training", Verify, CompleteTrainingRequest,
    "Record the training as completed",
    "Records the training the programme's document names as completed (Jämtland §3.7 introduktionsutbildning, which gates go-live; Dalarna Hälsoval §2.1 and Värmland §6.4 name training that does not). Refused with 422 `step_not_in_process` where the document names none (Dalarna BUP). Officers, region IT and integrations.",
    {"completed_on": "2026-04-15", "description": "Introductory training in Cosmic and the region's IT security rules, 9 staff."};

    schedule_final_verification, "schedule-final-verification", "/{case_id}/schedule-final-verification", Verify, ScheduleFinalVerificationRequest,
    "Schedule the final verification",
    "Schedules the final verification (slutverifiering); the case enters phase `final_verification`. After a failed round, schedules the next. Only Jämtland's document has one (§3.10); elsewhere refused with 422 `step_not_in_process`. Officers, region IT and integrations.",
    {"scheduled_for": "2026-05-12"};

    record_finding, "record-finding", "/{case_id}/record-finding", Verify, RecordFindingRequest,
    "Record a finding",
    "Records a recommendation (should be done; never blocks) or a demand (must be done; blocks approval and go-live while open) of the final verification, or of an on-site verification during operation. Officers, region IT and integrations.",
    {"kind": "demand", "requirement": "JHV-030", "description": "The network cabinet in the corridor is not locked.", "due": "2026-06-01"};

    resolve_finding, "resolve-finding", "/{case_id}/resolve-finding", Record, ResolveFindingRequest,
    "Resolve a finding",
    "Records how a finding was resolved. A demand (\"måste vidtas\") is the region's: only the region resolves it, which accepts the provider's remediation (a provider gets 403 `demand_is_the_regions` and responds with `respond-to-finding` instead); a recommendation either side can resolve. Providers (recommendations only), officers, region IT and integrations.",
    {"finding": 1, "resolution": "A lock was fitted to the cabinet on 2026-05-20; photo in the case file."};

    approve_final_verification, "approve-final-verification", "/{case_id}/approve-final-verification", Verify, ApproveFinalVerificationRequest,
    "Approve the final verification",
    "Approves the current final verification round; refused while a demand is open or before the day it was scheduled for. Officers, region IT and integrations.",
    {"reason": "The premises and the IT environment meet the contract; recommendations noted."};

    fail_final_verification, "fail-final-verification", "/{case_id}/fail-final-verification", Verify, FailFinalVerificationRequest,
    "Fail the final verification",
    "Fails the current final verification round; a new round is scheduled after the demands are dealt with. Officers, region IT and integrations.",
    {"reason": "The server room is not locked; see demand 1."};

    sign_final_contract, "sign-final-contract", "/{case_id}/sign-final-contract", Decide, SignFinalContractRequest,
    "Sign the final contract",
    "Records the final contract (slutligt avtal, Jämtland §3.10), which follows an approved final verification, as signed. Refused with 422 `step_not_in_process` in a programme without one. Officers and integrations.",
    {"signed_on": "2026-05-20", "document": "RS 2026/287"};

    go_live, "go-live", "/{case_id}/go-live", Decide, GoLiveRequest,
    "Decide go-live",
    "Decides go-live (driftstart): the operating phase begins today. Refused with 409 `go_live_blocked`, listing every unmet condition in `unmet`, while a step the programme's own process gates go-live with is not done (each programme's steps are in `GET /v1/catalogues/{programme}/versions/{version}/process`: e.g. Jämtland's contract, agreements, joint IT plan, self-declaration, training, final verification and final contract; Värmland Fysioterapi's activity plan and computer check; Dalarna's staff commitments) or a demand is open. Officers and integrations.",
    {"reason": "Every condition of go-live is met."};

    report_organisational_change, "report-organisational-change", "/{case_id}/report-organisational-change", Declare, ReportOrganisationalChangeRequest,
    "Report an organisational change",
    "Reports a new or removed unit, a name change, a move, a change of premises or a new head of unit, in good time before it takes effect (a late report is recorded as late). The event keeps the programme's timeliness words for the kind of change (\"i god tid\", Dalarna; \"omgående\" for premises, Värmland Vårdcentral §1.1). Providers only.",
    {"change": {"kind": "name_changed", "new_name": "Östersundshälsan Vårdcentral Centrum"}, "effective_on": "2026-09-01", "description": "The unit takes its new name when the new premises open."};

    request_non_standard_service, "request-non-standard-service", "/{case_id}/request-non-standard-service", Declare, RequestNonStandardServiceRequest,
    "Request a non-standard service",
    "Asks, in writing, to use a service or product outside the region's delivery, with the date it is wished for and the solution's function and technology (Värmland §2: \"i god tid innan önskat införande. Vårdgivaren ska beskriva lösningen, både vad gäller funktion och teknik\"). The event keeps the programme's timeliness words. Providers only.",
    {"service": "Digital waiting-room screen from Kiosk AB", "justification": "Patients are called by number; the region's Väntrums-TV has no call function.", "desired_on": "2026-11-01", "function_and_technology": "A 43-inch screen on its own 4G router, no connection to the unit's network."};

    decide_non_standard_service, "decide-non-standard-service", "/{case_id}/decide-non-standard-service", Verify, DecideNonStandardServiceRequest,
    "Decide on a non-standard service",
    "Approves or rejects a request for a non-standard service, with reasons. Officers, region IT and integrations.",
    {"request": 1, "decision": "approved", "reason": "The screen runs on its own network, separated from the region's."};

    attest_catalogue_version, "attest-catalogue-version", "/{case_id}/attest-catalogue-version", Declare, AttestCatalogueVersionRequest,
    "Attest to a newer catalogue version",
    "Moves the case to a newer version of its programme's catalogue that is in force, answering every added or materially changed requirement. Providers only.",
    {"version": 2, "answers": [{"requirement": "DBUP-067", "compliance": "complies"}]};

    suspend_connection, "suspend-connection", "/{case_id}/suspend-connection", Decide, SuspendConnectionRequest,
    "Suspend the connection",
    "Suspends a live connection; a suspended case can be resumed or ended, and takes incident reports. Officers and integrations.",
    {"reason": "Suspected misuse of a SITHS card; access suspended pending investigation."};

    resume_connection, "resume-connection", "/{case_id}/resume-connection", Decide, ResumeConnectionRequest,
    "Resume the connection",
    "Resumes a suspended connection. Officers and integrations.",
    {"reason": "The investigation is closed and the card replaced."};

    end_connection, "end-connection", "/{case_id}/end-connection", Decide, EndConnectionRequest,
    "End the connection",
    "Ends the connection: the contract ended, the provider was replaced, or it withdrew before going live. An ended case takes only late incident reports. Officers and integrations.",
    {"ending": {"kind": "contract_ended"}, "ended_on": "2026-12-31", "reason": "The Hälsoval contract ended at the provider's request."};

    list_staff_member, "list-staff-member", "/{case_id}/list-staff-member", Record, ListStaffMemberRequest,
    "List a user of the provider",
    "Lists a user of the provider with the day the user's access starts: every user at establishment, later each new hire. Where the programme has every user sign commitments (Dalarna BUP §16, Dalarna Hälsoval §12), a listed user without them blocks go-live (`staff_commitment_missing`), and where the programme repeats them at every new hire (Dalarna BUP), a user listed after go-live without them is flagged. Refused with 422 `step_not_in_process` in a programme whose document names no such commitments. The name, personnummer and HSA-id are personal data, shown as the staff commitments are. Providers, officers, region IT and integrations.",
    {"hsa_id": "SE5566778899-K7Q3", "name": "Lena Berg", "personnummer": "19900314-2388", "access_from": "2026-04-01"};

    record_step_applicability, "record-step-applicability", "/{case_id}/record-step-applicability", Decide, RecordStepApplicabilityRequest,
    "Record whether a conditional step applies",
    "Records whether a conditional step of the programme's process applies to this case: a special agreement for a system the unit connects (Jämtland §3.1 Stöd och behandling, §3.2 Hjälpmedelssystem) or an agreement the document demands where required (Dalarna BUP §17, Dalarna Hälsoval §5.3, Värmland §3). A conditional step blocks go-live only once it applies (or its agreement is signed). Officers and integrations.",
    {"step": "avtal-hjalpmedelssystem", "applies": true, "reason": "The unit prescribes aids and connects to Hjälpmedelssystem."};

    record_plan, "record-plan", "/{case_id}/record-plan", Verify, RecordPlanRequest,
    "Record a plan",
    "Records a plan the programme's process names (Jämtland §3.9 gemensam plan for the IT support, `gemensam-it-plan`; Värmland Fysioterapi §1.2 aktivitetsplan, `aktivitetsplan`). Each once. Officers, region IT and integrations.",
    {"step": "gemensam-it-plan", "recorded_on": "2026-03-12", "document": "RS 2026/131"};

    record_technical_check, "record-technical-check", "/{case_id}/record-technical-check", Verify, RecordTechnicalCheckRequest,
    "Record the check of a connecting computer",
    "Records the region's check of one connecting computer (Värmland Fysioterapi §3: \"krävs att anslutande dator godkänns i den kontroll som görs vid anslutning\"). Go-live needs at least one approved computer and none whose latest check failed. Refused with 422 `step_not_in_process` elsewhere. Officers, region IT and integrations.",
    {"computer": "FYS-KLT-01", "checked_on": "2026-04-02", "approved": true, "remark": "Disk encryption on, antivirus current."};

    respond_to_finding, "respond-to-finding", "/{case_id}/respond-to-finding", Declare, RespondToFindingRequest,
    "Respond to a finding",
    "The provider's remediation of a finding, with its evidence. A demand stays open until the region resolves it (accepting the remediation) or rejects the response. Providers only.",
    {"finding": 1, "remediation": "A lock was fitted to the cabinet on 2026-05-20.", "evidence": ["Photo 2026-05-20, case file"]};

    reject_finding_response, "reject-finding-response", "/{case_id}/reject-finding-response", Verify, RejectFindingResponseRequest,
    "Reject the response to a finding",
    "Rejects the provider's remediation of a finding; the finding stays open and the provider can respond again. Officers, region IT and integrations.",
    {"finding": 1, "reason": "The photo shows a different cabinet."};

    require_attestation, "require-attestation", "/{case_id}/require-attestation", Decide, RequireAttestationRequest,
    "Require attestation to a newer catalogue version",
    "Requires the case to attest to a newer version of its programme's catalogue by a date the region sets (no document states one; the documents reserve the region's right to change the appendix). The case then carries the flag `attestation_required`, and `attestation_overdue` once the date has passed, until the provider attests with `attest-catalogue-version`. Setting it again moves the date. Officers and integrations.",
    {"version": 2, "due": "2026-09-30", "reason": "Version 2 of the appendix applies to every connected unit."};

    change_workstations, "change-workstations", "/{case_id}/change-workstations", Declare, ChangeWorkstationsRequest,
    "Change the registered workstations",
    "Registers the unit's workstations from a date (added or removed). Where the programme bills per started group of registered workstations (Jämtland), the groups follow, the cost estimates (`GET /v1/costs?on=`) bill the groups in force on the day asked about, and a case whose workstations registered by region IT (the `workstations_registered` milestone) exceed what its groups allow carries the flag `workstation_allowance_exceeded`. Providers only.",
    {"workstations": 14, "effective_on": "2026-10-01"};

    update_contact, "update-contact", "/{case_id}/update-contact", Declare, UpdateContactRequest,
    "Update a named contact",
    "Replaces the contact named for a role (Värmland §3: the provider keeps Region IT informed of its HSA-ombud's contact details). The name, e-mail and phone are personal data, under a new data subject id, shown as the application's contacts are. Providers only.",
    {"contact": {"role": "hsa_siths_contact", "name": "Maria Sjöberg", "email": "maria.sjoberg@vckronoparken.se", "phone": "+46 54 61 00 00"}};
}

#[cfg(test)]
mod tests {
    use domain::case::{COMMANDS, permission_by_name};

    use super::*;

    #[test]
    fn every_command_route_demands_the_permission_the_domain_gives_its_command() {
        for (name, permission) in CASE_COMMAND_ROUTES {
            assert_eq!(
                *permission,
                permission_by_name(name),
                "{name}: the route's Authorized<...> differs from domain::case::COMMANDS"
            );
        }
    }

    #[test]
    fn every_domain_command_after_the_application_has_a_route() {
        let routed: Vec<&str> = CASE_COMMAND_ROUTES.iter().map(|(name, _)| *name).collect();
        let expected: Vec<&str> = COMMANDS
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| *name != "submit-application")
            .collect();
        assert_eq!(routed, expected);
        assert_eq!(
            <authz::Apply as Requirement>::PERMISSION,
            permission_by_name("submit-application")
        );
    }
}
