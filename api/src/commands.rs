//! The command pipeline. For a command on a case or incident, after the handler's signature
//! has authenticated and authorised the caller and the body has parsed:
//!
//! 1. `If-Match` is required on commands to an existing resource: missing → 428
//!    (`If-Match: *` means "whatever the current version").
//! 2. Idempotency pre-check: with an `Idempotency-Key`, the command id is
//!    UUIDv5(scope + key), scope = (region, subject, method, route template). If the store
//!    already holds that command, the same request (same HMAC-SHA256 fingerprint of method,
//!    path and body under a server key, read back from the first event's metadata) is
//!    answered with the original response, and another request with that key gets 422
//!    `idempotency_key_reused`.
//! 3. The aggregate is loaded (snapshots on); absent or another tenant's → 404.
//! 4. `If-Match` against the stream version → 412 with the current `ETag`.
//! 5. The domain decides (`Aggregate::handle`), with the system clock and the catalogues.
//! 6. The events are committed with metadata (command id, correlation id = request id,
//!    actor, the fingerprint, and the resource's tenancy: `tenant_region` and `tenant_org`,
//!    see `tenancy`); a write in between → 412.
//! 7. The store's outcome gives the new version and global position.
//!
//! A command the domain refuses writes nothing, so retrying it with the same key simply runs
//! it again. Without a key every request gets a fresh command id.

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, AggregateError, DomainEvent as _, EventStore as _};
use domain::case::{CaseCommand, ConnectionCase, Issued};
use domain::ids::{CaseId, IncidentId};
use domain::incident::SecurityIncident;
use serde::Serialize;
use store::{AppendOutcome, EventMetadata, RecordedEvent};
use uuid::Uuid;

use crate::auth::Principal;
use crate::authz::visible;
use crate::dto::views::{CaseCommandResult, IncidentCommandResult, RecordedEventView};
use crate::extract::{CommandHeaders, IfMatch, RequestContext};
use crate::problem::{ApiError, COMMAND_ID_HEADER, etag_value};
use crate::state::AppState;
use crate::tenancy::{self, Tenanted};

/// The metadata key under which a request's fingerprint is stored with its events.
pub const FINGERPRINT_KEY: &str = "request_fingerprint";
/// The metadata key naming the API operation that recorded the events.
pub const OPERATION_KEY: &str = "operation";

/// Namespaces for ids derived from an Idempotency-Key.
const COMMAND_NAMESPACE: Uuid = Uuid::from_u128(0x2f6d_5c1e_8a4b_4e07_9b3c_d1e2_f3a4_b5c6);
const CASE_NAMESPACE: Uuid = Uuid::from_u128(0x7a1b_2c3d_4e5f_4a6b_8c7d_9e0f_a1b2_c3d4);
const INCIDENT_NAMESPACE: Uuid = Uuid::from_u128(0x0c9e_8d7f_6a5b_4c3d_9e2f_1a0b_c9d8_e7f6);

/// Everything about a request the pipeline needs besides its command.
#[derive(Debug, Clone)]
pub struct CommandInput {
    pub principal: Principal,
    pub context: RequestContext,
    pub headers: CommandHeaders,
    /// The body as received, for the fingerprint.
    pub body: Bytes,
}

impl CommandInput {
    /// The idempotency scope of the request's key: the whole caller (token issuer, subject,
    /// role, region, organisation) and the operation (method, route template). Two callers
    /// who differ in any of these never share a command id, whatever keys they choose.
    fn scope(&self) -> Option<String> {
        self.headers.idempotency_key.as_ref().map(|key| {
            let actor = self.principal.actor();
            let org = actor
                .provider_org
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            format!(
                "{}\n{}\n{}\n{}\n{org}\n{}\n{}\n{key}",
                self.principal.issuer(),
                actor.subject,
                actor.role.as_str(),
                actor.region,
                self.context.method,
                self.context.route
            )
        })
    }

    /// The command's id: derived from the scope with an `Idempotency-Key`, otherwise fresh
    /// (so call it once per request).
    fn command_id(&self) -> Uuid {
        self.scope().map_or_else(Uuid::now_v7, |scope| {
            Uuid::new_v5(&COMMAND_NAMESPACE, scope.as_bytes())
        })
    }

    /// The id of the case a `POST /v1/cases` creates: derived from the key, so that a retry
    /// names the same case.
    pub fn new_case_id(&self) -> CaseId {
        CaseId::from_uuid(self.scope().map_or_else(Uuid::now_v7, |scope| {
            Uuid::new_v5(&CASE_NAMESPACE, scope.as_bytes())
        }))
    }

    /// The id of the incident a report creates, derived like [`CommandInput::new_case_id`].
    pub fn new_incident_id(&self) -> IncidentId {
        IncidentId::from_uuid(self.scope().map_or_else(Uuid::now_v7, |scope| {
            Uuid::new_v5(&INCIDENT_NAMESPACE, scope.as_bytes())
        }))
    }

    fn keyed(&self) -> bool {
        self.headers.idempotency_key.is_some()
    }
}

/// Whether the command creates its stream or acts on an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Creates the stream; `If-Match` is not used.
    New,
    /// Acts on an existing resource; `If-Match` is required.
    Existing,
}

/// What a command recorded (or, for a replay, had recorded).
#[derive(Debug, Clone)]
pub struct Executed {
    pub command_id: Uuid,
    pub outcome: AppendOutcome,
    pub events: Vec<RecordedEventView>,
}

/// Runs one command through the pipeline. Every answer, success or refusal, names the
/// command id (`Command-Id`; `command_id` in the body).
///
/// `authorize` sees the loaded aggregate and must refuse (404) when it does not exist (for
/// [`Target::Existing`]) or is not visible to the caller; `command` builds the domain
/// command from it.
#[tracing::instrument(skip_all, fields(stream_type = A::TYPE, stream_id = %stream_id, command_id))]
pub async fn execute<A>(
    state: &AppState,
    input: &CommandInput,
    stream_id: &str,
    target: Target,
    authorize: impl FnOnce(&A) -> Result<(), ApiError>,
    command: impl FnOnce(&A) -> Result<A::Command, ApiError>,
    services: &A::Services,
) -> Result<Executed, ApiError>
where
    A: Aggregate + Tenanted,
    A::Error: Into<ApiError>,
{
    let command_id = input.command_id();
    tracing::Span::current().record("command_id", tracing::field::display(command_id));
    let attempt = Attempt {
        state,
        input,
        command_id,
        fingerprint: input
            .context
            .fingerprint(&state.subjects.fingerprint_key(), &input.body),
    };
    attempt
        .run::<A>(stream_id, target, authorize, command, services)
        .await
        .map_err(|error| error.with_command_id(command_id))
}

/// One request's way through the pipeline.
struct Attempt<'a> {
    state: &'a AppState,
    input: &'a CommandInput,
    command_id: Uuid,
    fingerprint: String,
}

impl Attempt<'_> {
    async fn run<A>(
        &self,
        stream_id: &str,
        target: Target,
        authorize: impl FnOnce(&A) -> Result<(), ApiError>,
        command: impl FnOnce(&A) -> Result<A::Command, ApiError>,
        services: &A::Services,
    ) -> Result<Executed, ApiError>
    where
        A: Aggregate + Tenanted,
        A::Error: Into<ApiError>,
    {
        let if_match = match (target, &self.input.headers.if_match) {
            (Target::Existing, None) => return Err(ApiError::precondition_required()),
            (Target::Existing, Some(if_match)) => Some(if_match.clone()),
            (Target::New, _) => None,
        };
        if self.input.keyed()
            && let Some(replayed) = self.replay().await?
        {
            tracing::info!(
                "replaying the response of an earlier request with this Idempotency-Key"
            );
            return Ok(replayed);
        }
        let decided = self
            .decide_and_commit::<A>(stream_id, if_match, authorize, command, services)
            .await;
        let error = match decided {
            Ok(executed) => return Ok(executed),
            Err(error) => error,
        };
        // Whatever refused this attempt (a stale If-Match, a conflict, a domain refusal of a
        // second application), a concurrent request with the same key may have recorded the
        // command meanwhile: then this request is its retry and gets its answer. After an
        // unknown outcome, the same lookup may tell what happened.
        let unknown = error.code() == "outcome_unknown";
        if !(self.input.keyed() || unknown) {
            return Err(error);
        }
        match self.replay().await {
            Ok(Some(replayed)) => {
                tracing::info!("the command was recorded: answering with its outcome");
                Ok(replayed)
            }
            Ok(None) => Err(error),
            // The lookup failed too: an unknown outcome stays unknown; any other refusal
            // becomes "unavailable, retry with the same key", which is safe, where the
            // refusal might have hidden a concurrent retry's success.
            Err(lookup) if unknown => {
                tracing::warn!(error = %lookup, "could not look the command up after an unknown outcome");
                Err(error)
            }
            Err(lookup) => Err(lookup),
        }
    }

    /// Load, authorise, check `If-Match`, decide and commit.
    async fn decide_and_commit<A>(
        &self,
        stream_id: &str,
        if_match: Option<IfMatch>,
        authorize: impl FnOnce(&A) -> Result<(), ApiError>,
        command: impl FnOnce(&A) -> Result<A::Command, ApiError>,
        services: &A::Services,
    ) -> Result<Executed, ApiError>
    where
        A: Aggregate + Tenanted,
        A::Error: Into<ApiError>,
    {
        let state = self.state;
        let aggregates = state.store.aggregate_store::<A>();
        let mut context = aggregates
            .load_aggregate(stream_id)
            .await
            .map_err(ApiError::from)?;
        authorize(&context.aggregate)?;
        let current = u64::try_from(context.current_sequence).unwrap_or(u64::MAX);
        if let Some(if_match) = if_match
            && !if_match.admits(current)
        {
            state.metrics.conflict();
            return Err(ApiError::precondition_failed(current));
        }
        let command = command(&context.aggregate)?;
        let sink = EventSink::default();
        context
            .aggregate
            .handle(command, services, &sink)
            .await
            .map_err(Into::into)?;
        let events = sink.collect().await;
        let views: Vec<RecordedEventView> = events
            .iter()
            .zip(current + 1..)
            .map(|(event, version)| RecordedEventView {
                event_type: event.event_type(),
                version,
            })
            .collect();
        let metadata = self.metadata(&context.aggregate);
        let committed = aggregates
            .commit_with_outcome(events, &context, &metadata.to_map())
            .await
            .map_err(|error| {
                if matches!(error, AggregateError::AggregateConflict) {
                    state.metrics.conflict();
                }
                ApiError::from(error)
            })?;
        let Some(outcome) = committed else {
            return Err(ApiError::internal(
                "the domain decided a command without events",
            ));
        };
        if outcome.replayed {
            // A concurrent request with the same command id committed first: its outcome is
            // this request's only if it was the same request (the replay compares them).
            return self.replay().await?.ok_or_else(|| {
                ApiError::internal("the store replayed a command it does not hold")
            });
        }
        state.metrics.appended(A::TYPE, outcome.len());
        Ok(Executed {
            command_id: self.command_id,
            outcome,
            events: views,
        })
    }

    /// The metadata every event of the command carries: command id, correlation id = request
    /// id, actor, fingerprint, operation, and the resource's tenancy.
    fn metadata(&self, aggregate: &impl Tenanted) -> EventMetadata {
        let mut extra = BTreeMap::from([
            (FINGERPRINT_KEY.to_owned(), self.fingerprint.clone()),
            (
                OPERATION_KEY.to_owned(),
                format!("{} {}", self.input.context.method, self.input.context.route),
            ),
        ]);
        // The sink applied the events, so a new resource already knows its tenancy.
        extra.extend(tenancy::entries(aggregate));
        EventMetadata {
            command_id: self.command_id,
            correlation_id: self.input.context.request_id,
            causation_id: None,
            actor: Some(self.input.principal.record()),
            extra,
        }
    }

    /// The original outcome of this command if it was recorded and this is a retry of the
    /// same request by the same caller; 422 if the key was used for another request.
    async fn replay(&self) -> Result<Option<Executed>, ApiError> {
        let Some(outcome) = self.state.store.command_outcome(self.command_id).await? else {
            return Ok(None);
        };
        let events = recorded(self.state, &outcome).await?;
        let first = events.first().map(|event| &event.metadata);
        // The tenancy check comes before anything of the original is answered.
        if !first.is_some_and(|metadata| tenancy::visible(&self.input.principal, metadata)) {
            return Err(ApiError::idempotency_key_reused());
        }
        let original = first.and_then(|metadata| metadata.extra.get(FINGERPRINT_KEY));
        if original.map(String::as_str) != Some(self.fingerprint.as_str()) {
            return Err(ApiError::idempotency_key_reused());
        }
        Ok(Some(Executed {
            command_id: self.command_id,
            outcome,
            events: views(&events),
        }))
    }
}

/// The events an append recorded, read back from the store.
pub(crate) async fn recorded(
    state: &AppState,
    outcome: &AppendOutcome,
) -> Result<Vec<RecordedEvent>, ApiError> {
    if outcome.is_empty() {
        return Ok(Vec::new());
    }
    Ok(state
        .store
        .read_stream(&outcome.stream, outcome.first_version - 1, outcome.len())
        .await?)
}

pub(crate) fn views(events: &[RecordedEvent]) -> Vec<RecordedEventView> {
    events
        .iter()
        .map(|event| RecordedEventView {
            event_type: event.event_type.clone(),
            version: event.version,
        })
        .collect()
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
    match case.facts() {
        Some(facts) if visible(principal, &facts.region, &facts.org_number) => Ok(()),
        _ => Err(ApiError::not_found("case")),
    }
}

/// 404 unless the incident exists and is in the caller's tenancy.
pub fn visible_incident(
    incident: &SecurityIncident,
    principal: &Principal,
) -> Result<(), ApiError> {
    match incident.facts() {
        Some(facts) if visible(principal, &facts.region, &facts.provider_org) => Ok(()),
        _ => Err(ApiError::not_found("incident")),
    }
}

/// For a new case: 404 if the id is taken by a case the caller cannot see (the domain
/// refuses a second application to a visible one).
pub fn new_case_slot(case: &ConnectionCase, principal: &Principal) -> Result<(), ApiError> {
    match case.facts() {
        None => Ok(()),
        Some(_) => visible_case(case, principal),
    }
}

/// Runs a case command (any but `submit-application`) for the caller.
pub async fn run_case_command(
    state: &AppState,
    input: &CommandInput,
    case_id: CaseId,
    command: CaseCommand,
) -> Result<HttpResponse, ApiError> {
    let actor = input.principal.actor().clone();
    let principal = input.principal.clone();
    let executed = execute::<ConnectionCase>(
        state,
        input,
        &case_id.to_string(),
        Target::Existing,
        |case| visible_case(case, &principal),
        |_| Ok(Issued::new(actor, command)),
        &state.case_services(),
    )
    .await?;
    Ok(case_response(StatusCode::OK, case_id, &executed))
}
