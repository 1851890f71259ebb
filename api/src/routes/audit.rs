//! Tamper evidence over HTTP: the checkpoint verifier key at a well-known address (public),
//! signed checkpoints, and inclusion and consistency proofs (`Authorized<ReadAudit>`:
//! auditors, officers, region IT and integrations).
//!
//! Problems: a checkpoint that was never signed, an event the caller may not see or that does
//! not exist, answer 404; a tree size or position outside the tree (the tree follows the log
//! about once a second, so a fresh event may not be in it yet) answers 422 `out_of_range`.

use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, Header};
use actix_web::{HttpRequest, HttpResponse, get, web};
use audit::SignedCheckpoint;
use cqrs_es::Aggregate;
use domain::case::ConnectionCase;
use domain::ids::{CaseId, IncidentId};
use domain::incident::SecurityIncident;
use store::{Position, StreamRef};
use utoipa_actix_web::UtoipaApp;
use uuid::Uuid;

use crate::application::checkpoints::out_of_range;
use crate::authz::{self, Authorized};
use crate::commands;
use crate::dto::audit::{
    CheckpointView, ConsistencyProofView, ConsistencyQuery, InclusionProofView, InclusionQuery,
};
use crate::dto::history::int64_path;
use crate::problem::ApiError;
use crate::state::AppState;

/// The media type of a signed note.
const NOTE: &str = "text/plain; charset=utf-8";

/// The media type of an audit export: JSON Lines (jsonlines.org), UTF-8, `\n` after every
/// line. `application/jsonl` rather than `application/x-ndjson`: the export is specified as
/// JSON Lines (one terminator, `\n`, never `\r\n`), and `x-` names are deprecated (RFC 6648).
pub const JSON_LINES: &str = "application/jsonl";

/// Registers `/v1/audit` (the well-known key is registered at the root by `routes`, the
/// exports in the `/v1/cases` and `/v1/incidents` scopes).
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
        utoipa_actix_web::scope("/v1/audit")
            .service(latest_checkpoint)
            .service(checkpoint_at)
            .service(inclusion_proof)
            .service(consistency_proof),
    )
}

/// `GET /.well-known/anslut-checkpoint-key`
#[utoipa::path(
    tag = "audit",
    summary = "The checkpoint verifier key",
    description = "The public key that verifies this log's checkpoints, in the `vkey` form of \
C2SP signed notes (Go's `golang.org/x/mod/sumdb/note`): `<name>+<key id, 8 hex digits>+<base64 \
of 0x01 and the 32-byte Ed25519 public key>`, where the name is the checkpoints' origin and the \
key id is the first 4 bytes of `SHA-256(name || 0x0A || 0x01 || public key)`. Public: fetch \
it once, keep it, and compare it with copies published elsewhere; `anslut audit \
verify-export --key` takes it.",
    responses(
        (status = 200, description = "The verifier key and a newline.", body = String, content_type = "text/plain; charset=utf-8",
            example = json!("anslut.localhost/development+1cff9bd1+AbF54ilzAva61TmPdpoV2bLq5gi42lfXUWv/a4edbb1J\n")),
    ),
    security(()),
)]
#[get("/.well-known/anslut-checkpoint-key")]
pub async fn checkpoint_key(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(NOTE)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(format!("{}\n", state.audit.verifier_key()))
}

/// Whether the request prefers JSON to the signed note's text.
fn wants_json(req: &HttpRequest) -> bool {
    header::Accept::parse(req).is_ok_and(|accept| {
        accept
            .ranked()
            .into_iter()
            .find(|mime| {
                (mime.type_() == "application" && mime.subtype() == "json")
                    || (mime.type_() == "text" && mime.subtype() == "plain")
            })
            .is_some_and(|mime| mime.subtype() == "json")
    })
}

/// The checkpoint as its signed note, or as JSON when the request prefers it.
fn checkpoint_response(
    req: &HttpRequest,
    state: &AppState,
    checkpoint: &SignedCheckpoint,
) -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::OK);
    response.insert_header((header::VARY, "Accept"));
    if wants_json(req) {
        response.json(CheckpointView::of(state.audit.origin(), checkpoint))
    } else {
        response.content_type(NOTE).body(checkpoint.note.clone())
    }
}

fn no_checkpoint(detail: String) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        crate::problem::ProblemCode::NotFound,
        "Not found",
        detail,
    )
}

/// The latest checkpoint, or 404 while none is signed.
async fn latest(state: &AppState) -> Result<SignedCheckpoint, ApiError> {
    state
        .audit
        .latest_checkpoint()
        .await?
        .ok_or_else(|| no_checkpoint("no checkpoint has been signed yet".into()))
}

/// `GET /v1/audit/checkpoint`
#[utoipa::path(
    tag = "audit",
    summary = "The latest signed checkpoint",
    description = "The newest checkpoint of the Merkle tree over the whole event log: a C2SP \
signed note (c2sp.org/signed-note) whose text is a C2SP checkpoint (c2sp.org/tlog-checkpoint) — \
the origin, the tree size (events 1 to n) and the base64 RFC 6962 root — followed by a blank \
line and an Ed25519 signature line. Verify it with the key from \
`/.well-known/anslut-checkpoint-key`. Checkpoints are signed at an interval (60 s by default) \
when the log has grown.\n\nThe note is the default (`text/plain`); `Accept: application/json` \
gives the same checkpoint as JSON with the size and root spelled out. 404 until the first \
checkpoint. Auditors, officers, region IT and integrations.",
    responses(
        (status = 200, description = "The latest checkpoint.", content(
            (String = "text/plain; charset=utf-8", example = json!("anslut.localhost/development\n60\nM+QPHJ9kfkQZa9f1LX2sRb9DjlA+GK5uB1l2EVkykxA=\n\n— anslut.localhost/development HP+b0Xr9gA7mcQaCJQd218j1DhfJlW4lM73gDEYLsQbw4Sx2iSa2oZJwk/5YUXuoZPxZlse212LgGZwaGfDHUyNf+ww=\n")),
            (CheckpointView = "application/json", example = json!({
                "origin": "anslut.localhost/development", "tree_size": 60,
                "root": "M+QPHJ9kfkQZa9f1LX2sRb9DjlA+GK5uB1l2EVkykxA=",
                "note": "anslut.localhost/development\n60\nM+QPHJ9kfkQZa9f1LX2sRb9DjlA+GK5uB1l2EVkykxA=\n\n— anslut.localhost/development HP+b0Xr9gA7mcQaCJQd218j1DhfJlW4lM73gDEYLsQbw4Sx2iSa2oZJwk/5YUXuoZPxZlse212LgGZwaGfDHUyNf+ww=\n",
                "created_at": "2026-11-23T21:44:12.155265Z"
            })),
        )),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = [])),
)]
#[get("/checkpoint")]
#[tracing::instrument(name = "audit-checkpoint", skip_all)]
pub async fn latest_checkpoint(
    _auth: Authorized<authz::ReadAudit>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let checkpoint = latest(&state).await?;
    Ok(checkpoint_response(&req, &state, &checkpoint))
}

/// `GET /v1/audit/checkpoints/{tree_size}`
#[utoipa::path(
    tag = "audit",
    summary = "A signed checkpoint by tree size",
    description = "The checkpoint signed at exactly this tree size, as the signed note or (with \
`Accept: application/json`) as JSON. 404 when no checkpoint of that size was signed: \
checkpoints are taken at an interval, not at every size. Auditors, officers, region IT and \
integrations.",
    params(("tree_size" = u64, Path, description = "The tree size (number of events) of the checkpoint.")),
    responses(
        (status = 200, description = "The checkpoint.", content(
            (String = "text/plain; charset=utf-8", example = json!("anslut.localhost/development\n57\n9tNHie79ixjvZbUBmwdY7q8OS3l1RG+Km4OiNCoLgOU=\n\n— anslut.localhost/development HP+b0StXDpHLvD4hboqCRkeS0HZ28BYf2M4kzRLQCZGganqUX+tKFJ8bcDpLgCqccyNjTYp+308Ir5nJVysuyTf/Ewc=\n")),
            (CheckpointView = "application/json", example = json!({
                "origin": "anslut.localhost/development", "tree_size": 57,
                "root": "9tNHie79ixjvZbUBmwdY7q8OS3l1RG+Km4OiNCoLgOU=",
                "note": "anslut.localhost/development\n57\n9tNHie79ixjvZbUBmwdY7q8OS3l1RG+Km4OiNCoLgOU=\n\n— anslut.localhost/development HP+b0StXDpHLvD4hboqCRkeS0HZ28BYf2M4kzRLQCZGganqUX+tKFJ8bcDpLgCqccyNjTYp+308Ir5nJVysuyTf/Ewc=\n",
                "created_at": "2026-11-23T21:43:50.409799Z"
            })),
        )),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = [])),
)]
#[get("/checkpoints/{tree_size}")]
#[tracing::instrument(name = "audit-checkpoint-at", skip_all, fields(tree_size = %tree_size))]
pub async fn checkpoint_at(
    _auth: Authorized<authz::ReadAudit>,
    state: web::Data<AppState>,
    req: HttpRequest,
    tree_size: web::Path<u64>,
) -> Result<HttpResponse, ApiError> {
    let tree_size = tree_size.into_inner();
    // The spec says int64: a larger value is malformed, not merely a tree not grown yet.
    int64_path("tree_size", tree_size)?;
    let checkpoint = state.audit.checkpoint(tree_size).await?.ok_or_else(|| {
        no_checkpoint(format!("no checkpoint of tree size {tree_size} was signed"))
    })?;
    Ok(checkpoint_response(&req, &state, &checkpoint))
}

/// `GET /v1/audit/proofs/inclusion?position=&tree_size=`
#[utoipa::path(
    tag = "audit",
    summary = "Prove an event is in the log",
    description = "An RFC 9162 §2.1.3 inclusion proof (audit path) of the event at `position` \
in the tree of `tree_size` events (the latest checkpoint's size by default). To check it: the \
leaf hash is `SHA-256(0x00 || chain hash)`; fold the path from leaf index `position - 1` with \
`SHA-256(0x01 || left || right)` as RFC 9162 §2.1.3.2 says; the result must equal the root of \
a checkpoint of `tree_size` whose signature verifies with the well-known key. The chain hash \
commits to the event's stored contents and metadata (ARCHITECTURE.md, \"Tamper evidence\", \
specifies the bytes); the case's or incident's `audit-export` holds every field needed to \
recompute it.\n\n\
Only for an event of a case or incident the caller may see: otherwise, and for a position \
without an event, 404. A position past `tree_size`, or a `tree_size` the tree does not cover \
yet, is 422 `out_of_range`. Auditors, officers, region IT and integrations.",
    params(InclusionQuery),
    responses(
        (status = 200, description = "The proof.", body = InclusionProofView, example = json!({
            "position": 59, "leaf_index": 58, "tree_size": 60,
            "event_id": "01a20a5d-b815-73b8-a5ab-b8b524ad71bb", "stream_type": "connection_case",
            "stream_id": "f754c4ee-fac5-595d-a0ea-74f84eedec99", "version": 2,
            "chain_hash": "8420b5a10a0bb7afa53891756e526d8128652953470dd5a264380cd11d8a6f8f",
            "leaf_hash": "JsCwsYPdGorvpYMTWG8+w0ObrFT6L2NW1sMEogacMD0=",
            "hashes": ["vjqZer4XykqD9RF9Uv6E4/l+dILRxgNo0TmAftmwgzw=", "LAEtEhelkx3NXtMcjENPk3mYrwKrcT9YaqfPwHXKE3s=", "K9MgwyR7NpZsm9u/0nJBWCA9Ga0w4+tmXFfEZY1taOo=", "K7KwEqCnGdG2OozaGIEQKr7gPm2lhwMqJSIeZsUccnQ=", "MX+CFMhTz1JTDNDSRp78Xm8BOqAtP2e7oxPB+gIOnwU="]
        })),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 422, response = crate::openapi::OutOfRange),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = [])),
)]
#[get("/proofs/inclusion")]
#[tracing::instrument(name = "audit-inclusion-proof", skip_all, fields(position = query.position))]
pub async fn inclusion_proof(
    auth: Authorized<authz::ReadAudit>,
    state: web::Data<AppState>,
    query: web::Query<InclusionQuery>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::not_found("event");
    let position = query.position;
    let event = match position.checked_sub(1) {
        Some(before) => state.store.read_all(Position(before), 1).await?.pop(),
        None => None,
    }
    .filter(|event| event.position == Position(position))
    .ok_or_else(not_found)?;
    // The stream's tenancy, from the resource itself: an event is provable only to those
    // who may read its case or incident.
    let id = &event.stream.stream_id;
    match event.stream.stream_type.as_str() {
        "connection_case" => {
            let case_id = CaseId::parse(id).map_err(|_| not_found())?;
            commands::load_case(&state, &auth.principal, case_id).await?;
        }
        "security_incident" => {
            let incident_id = IncidentId::parse(id).map_err(|_| not_found())?;
            commands::load_incident(&state, &auth.principal, incident_id).await?;
        }
        _ => return Err(not_found()),
    }
    let tree_size = match query.tree_size {
        Some(tree_size) => tree_size,
        None => latest(&state).await?.tree_size,
    };
    if position > tree_size {
        return Err(out_of_range(format!(
            "position {position} is not in a tree of {tree_size} events"
        )));
    }
    let proof = state
        .audit
        .inclusion_proof(Position(position), tree_size)
        .await?;
    Ok(HttpResponse::Ok().json(InclusionProofView::of(&event, &proof)))
}

/// `GET /v1/audit/proofs/consistency?from=&to=`
#[utoipa::path(
    tag = "audit",
    summary = "Prove a later tree extends an earlier one",
    description = "An RFC 9162 §2.1.4 consistency proof that the tree of `to` events (the \
latest checkpoint's size by default) extends the tree of `from` events: nothing in the first \
`from` events was changed, removed or reordered. Check it against the roots of two signed \
checkpoints with the algorithm of RFC 9162 §2.1.4.2. `from` must be at least 1 and at most \
`to`, and the tree must cover `to`; otherwise 422 `out_of_range`. Auditors, officers, region \
IT and integrations.",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof.", body = ConsistencyProofView, example = json!({
            "from": 57, "to": 60,
            "hashes": ["NRq0+PX2caNm3U2nSu7uBShQdocw4O2mbfWXQ6+Zg6o=", "9AcimuNVvQVeOquILRUmmS9WsNC6JPK1ks0GMkQSZwg=", "rKNHzHS+3n3HDWMv5j3VtqiN+VhPxNFytSVgm4eLmVQ=", "K9MgwyR7NpZsm9u/0nJBWCA9Ga0w4+tmXFfEZY1taOo=", "K7KwEqCnGdG2OozaGIEQKr7gPm2lhwMqJSIeZsUccnQ=", "MX+CFMhTz1JTDNDSRp78Xm8BOqAtP2e7oxPB+gIOnwU="]
        })),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 422, response = crate::openapi::OutOfRange),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = [])),
)]
#[get("/proofs/consistency")]
#[tracing::instrument(name = "audit-consistency-proof", skip_all, fields(from = query.from))]
pub async fn consistency_proof(
    _auth: Authorized<authz::ReadAudit>,
    state: web::Data<AppState>,
    query: web::Query<ConsistencyQuery>,
) -> Result<HttpResponse, ApiError> {
    let to = match query.to {
        Some(to) => to,
        None => latest(&state).await?.tree_size,
    };
    let proof = state.audit.consistency_proof(query.from, to).await?;
    Ok(HttpResponse::Ok().json(ConsistencyProofView::from(&proof)))
}

/// An example export (one event; proofs shortened).
const EXPORT_EXAMPLE: &str = concat!(
    r#"{"format":"anslut-audit-export/1","origin":"anslut.localhost/development","stream_type":"connection_case","stream_id":"0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e","events":1,"checkpoint":"anslut.localhost/development\n60\nM+QPHJ9kfkQZa9f1LX2sRb9DjlA+GK5uB1l2EVkykxA=\n\n— anslut.localhost/development HP+b0Xr9gA7mcQaCJQd218j1DhfJlW4lM73gDEYLsQbw4Sx2iSa2oZJwk/5YUXuoZPxZlse212LgGZwaGfDHUyNf+ww=\n","verifier_key":"anslut.localhost/development+1cff9bd1+AbF54ilzAva61TmPdpoV2bLq5gi42lfXUWv/a4edbb1J"}"#,
    "\n",
    r#"{"position":59,"stream_type":"connection_case","stream_id":"0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e","version":1,"event_id":"0196a3c2-4f1f-7a10-8c2d-1e2f3a4b5c6d","event_type":"ApplicationSubmitted","event_version":"1","payload":{"at":"2026-02-16T08:02:11.101204Z","change":{"ApplicationSubmitted":{"contacts":[{"email":{"pii":{"sealed":"1:q2V0aGlzIGlzIGFuIGV4YW1wbGU=","subject":"0196a3c2-4f1f-7a10-8c2d-000000000001"}},"role":"it_contact"}],"unit_name":"Östersundshälsan Vårdcentral"}}},"metadata":{"command_id":"1f3c1c0e-8a0e-5b7d-9f6e-2d1c0b9a8f7e","correlation_id":"0196a3c2-4f1e-7c3a-9b2d-000000000001","causation_id":null,"actor":{"subject":"SE5566778899-k.lindqvist","role":"provider","region":"jamtland-harjedalen","provider_org":"556677-8899"},"extra":{}},"recorded_at":"2026-02-16T08:02:11.120331Z","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"8420b5a10a0bb7afa53891756e526d8128652953470dd5a264380cd11d8a6f8f","inclusion_proof":["vjqZer4XykqD9RF9Uv6E4/l+dILRxgNo0TmAftmwgzw=","LAEtEhelkx3NXtMcjENPk3mYrwKrcT9YaqfPwHXKE3s="]}"#,
    "\n",
);

/// The export of one stream as JSON Lines, with a file name for saving it.
async fn export(
    state: &AppState,
    stream: &StreamRef,
    name: &str,
) -> Result<HttpResponse, ApiError> {
    let mut body = Vec::new();
    state.audit.export_stream(stream, &mut body).await?;
    Ok(HttpResponse::Ok()
        .content_type(JSON_LINES)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{name}-{}.audit.jsonl\"",
                stream.stream_id
            ),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// `GET /v1/cases/{case_id}/audit-export`
#[utoipa::path(
    tag = "audit",
    summary = "Export a case's history with proofs",
    description = "The case's events exactly as stored, with their chain hashes and an RFC 9162 \
inclusion proof each, and the signed checkpoint the proofs lead to: the same JSON Lines as \
`anslut audit export`, for an auditor who has HTTP access only. Line 1 is a header (`format` \
`anslut-audit-export/1`, `origin`, `stream_type`, `stream_id`, `events`, the `checkpoint` note \
and, for information only, the `verifier_key`); every further line is one event in version \
order: `position`, `stream_type`, `stream_id`, `version`, `event_id`, `event_type`, \
`event_version`, the `payload` as stored (personal data sealed: `{\"pii\": {\"subject\", \
\"sealed\"}}`, so erasure changes nothing here), the `metadata` that is hashed (`command_id`, \
`correlation_id`, `causation_id`, `actor`, `extra`), `recorded_at`, hex `prev_hash` and `hash`, \
and the base64 `inclusion_proof`.\n\nTo check it without Anslut: verify the checkpoint with the \
key from `/.well-known/anslut-checkpoint-key` (fetched and kept, not the header's copy), \
recompute each event's canonical bytes and chain hash, and fold each proof up to the signed \
root; ARCHITECTURE.md, \"Tamper evidence\", specifies every byte and `docs/verify/verify.py` \
does it in Python. Signs a fresh checkpoint when the latest does not cover the case's last \
event. Another region's or another provider's case, and a case that does not exist, answer \
404. Auditors, officers, region IT and integrations.",
    params(("case_id" = Uuid, Path, description = "The case id.")),
    responses(
        (status = 200, description = "The export: JSON Lines, a header and one line per event.",
            body = String, content_type = "application/jsonl",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"case-<id>.audit.jsonl\"`.")),
            example = json!(EXPORT_EXAMPLE)),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 422, response = crate::openapi::OutOfRange),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = [])),
)]
#[get("/{case_id}/audit-export")]
#[tracing::instrument(name = "case-audit-export", skip_all, fields(case_id = %case_id))]
pub async fn case_export(
    auth: Authorized<authz::ReadAudit>,
    state: web::Data<AppState>,
    case_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let case_id = CaseId::from_uuid(case_id.into_inner());
    commands::load_case(&state, &auth.principal, case_id).await?;
    let stream = StreamRef::new(ConnectionCase::TYPE, case_id.to_string());
    export(&state, &stream, "case").await
}

/// `GET /v1/incidents/{incident_id}/audit-export`
#[utoipa::path(
    tag = "audit",
    summary = "Export an incident's history with proofs",
    description = "The incident's events exactly as stored, with their chain hashes, an \
inclusion proof each and the signed checkpoint: the same JSON Lines as a case's export \
(`GET /v1/cases/{case_id}/audit-export` describes the lines; ARCHITECTURE.md, \"Tamper \
evidence\", the hashed bytes). Another tenant's incident, and one that does not exist, answer \
404. Auditors, officers, region IT and integrations.",
    params(("incident_id" = Uuid, Path, description = "The incident id.")),
    responses(
        (status = 200, description = "The export: JSON Lines, a header and one line per event.",
            body = String, content_type = "application/jsonl",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"incident-<id>.audit.jsonl\"`.")),
            example = json!(EXPORT_EXAMPLE)),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 422, response = crate::openapi::OutOfRange),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = [])),
)]
#[get("/{incident_id}/audit-export")]
#[tracing::instrument(name = "incident-audit-export", skip_all, fields(incident_id = %incident_id))]
pub async fn incident_export(
    auth: Authorized<authz::ReadAudit>,
    state: web::Data<AppState>,
    incident_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let incident_id = IncidentId::from_uuid(incident_id.into_inner());
    commands::load_incident(&state, &auth.principal, incident_id).await?;
    let stream = StreamRef::new(SecurityIncident::TYPE, incident_id.to_string());
    export(&state, &stream, "incident").await
}
