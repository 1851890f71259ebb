//! `/v1/catalogues`: the programmes' requirement catalogues, their versions and the diff
//! between two versions. Public appendices: every authenticated role may read them.

use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{HttpResponse, get, web};
use domain::ids::ProgrammeId;
use utoipa_actix_web::UtoipaApp;

use crate::authz::{self, Authorized};
use crate::dto::catalogues::{
    CatalogueDiffView, CatalogueListView, CatalogueView, DiffQuery, ProcessView,
};
use crate::problem::{ApiError, FieldError, ProblemCode};
use crate::state::AppState;

/// Registers the `/v1/catalogues` scope.
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
        utoipa_actix_web::scope("/v1/catalogues")
            .service(list_catalogues)
            .service(get_catalogue)
            .service(get_process)
            .service(diff_catalogue),
    )
}

fn programme(raw: &str) -> Result<ProgrammeId, ApiError> {
    ProgrammeId::parse(raw).map_err(|error| {
        ApiError::invalid(
            ProblemCode::InvalidPath,
            format!("programme: {error}"),
            &[FieldError {
                path: "programme".into(),
                message: error.to_string(),
            }],
        )
    })
}

/// `GET /v1/catalogues`
#[utoipa::path(
    tag = "catalogues",
    summary = "List programmes and catalogue versions",
    description = "Every programme with a requirement catalogue, its region, the version in \
force today and every version with its effective date and digest (the SHA-256 that events \
holding a case to the version record).",
    responses(
        (status = 200, description = "The programmes.", body = CatalogueListView, example = json!({
            "programmes": [{
                "programme": "dalarna-bup", "programme_name": "Vårdval BUP", "region": "dalarna",
                "region_name": "Region Dalarna", "in_force": 2,
                "versions": [
                    {"version": 1, "label": "2022-11-14", "effective_from": "2022-11-14", "digest": "9e3f5a1c7b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f", "requirements": 66},
                    {"version": 2, "label": "revision", "effective_from": "2024-01-01", "digest": "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b", "requirements": 63}
                ]
            }]
        })),
        (status = 401, response = crate::openapi::Unauthorized),
    ),
    security(("bearer" = [])),
)]
#[get("")]
#[tracing::instrument(name = "list-catalogues", skip_all)]
pub async fn list_catalogues(
    _auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
) -> HttpResponse {
    HttpResponse::Ok().json(CatalogueListView::of(
        &state.catalogues,
        state.clock.today(),
    ))
}

/// `GET /v1/catalogues/{programme}/versions/{version}`
#[utoipa::path(
    tag = "catalogues",
    summary = "Read a catalogue version",
    description = "One version of a programme's catalogue in full: application rules, service \
packages, prices (öre, excluding VAT) and every requirement with its Swedish quote, English \
summary, category, level (must/should) and how it is shown.",
    params(
        ("programme" = String, Path, description = "The programme, e.g. `jamtland-halsoval`."),
        ("version" = u32, Path, description = "The version, from 1."),
    ),
    responses(
        (status = 200, description = "The catalogue version.", body = CatalogueView, example = json!({
            "programme": "jamtland-halsoval", "programme_name": "Hälsoval", "region": "jamtland-harjedalen",
            "region_name": "Region Jämtland Härjedalen", "version": 1, "label": "Bilaga 2 - IT och telefoni",
            "title": "Bilaga 2 - IT och telefoni", "effective_from": "2024-01-01",
            "digest": "5b1c0e0f6a2d4e8b9c7f1a3d5e7b9c1f2a4d6e8b0c2f4a6d8e0b2c4f6a8d0e2b",
            "lead_time_months": null, "required_contacts": ["it_contact", "system_administrator"],
            "requires_call_measurement_system": true,
            "service_packages": [{"id": "vardutbud-bas", "name": "Vårdutbud bas", "mandatory": true}],
            "prices": [{"item": "helpdesk", "description": "Helpdesk, 1 200 kr/mån/registrerad grupp av klientarbetsplatser", "amount_ore": 120_000, "unit": "per_workstation_group_per_month", "effective_from": "2024-01-01", "optional": false}],
            "requirements": [{"id": "JHV-014", "section": "2.4", "quote": "ska ansluta sig till Sjunet", "summary": "Sign the Sjunet agreement with Inera.", "category": "agreements", "level": "must", "evidence": "signed_document", "note": null}]
        })),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::NotFound),
    ),
    security(("bearer" = [])),
)]
#[get("/{programme}/versions/{version}")]
#[tracing::instrument(name = "get-catalogue", skip_all)]
pub async fn get_catalogue(
    _auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let (raw, version) = path.into_inner();
    let programme = programme(&raw)?;
    let catalogue = state
        .catalogues
        .get(&programme, version)
        .ok_or_else(|| ApiError::not_found("catalogue version"))?;
    Ok(HttpResponse::Ok().json(CatalogueView::from(catalogue)))
}

/// `GET /v1/catalogues/{programme}/versions/{version}/process`
#[utoipa::path(
    tag = "catalogues",
    summary = "Read a catalogue version's process",
    description = "The programme's own process for this catalogue version, from the same \
document: its steps in order (application, contract, agreements, plans, self-declaration, \
training, staff commitments, technical checks, final verification, final contract, go-live: \
only those the document names), which gate go-live and on what words, which are conditional \
and on what, the lead time as worded, and the operating-phase duties with their timeliness \
words and channels. Every step cites its section and quotes the document. A case follows the \
process of the version it was signed under; `docs/processes.md` has the table.",
    params(
        ("programme" = String, Path, description = "The programme, e.g. `varmland-fysioterapi`."),
        ("version" = u32, Path, description = "The version, from 1."),
    ),
    responses(
        (status = 200, description = "The process.", body = ProcessView, example = json!({
            "programme": "varmland-fysioterapi", "version": 1,
            "digest": "3c1e0f6a2d4e8b9c7f1a3d5e7b9c1f2a4d6e8b0c2f4a6d8e0b2c4f6a8d0e2b5b",
            "source": {"file": "005_8a1f0c2d9e7b6a54.txt"},
            "steps": [{"id": "aktivitetsplan", "kind": "plan", "name": "Aktivitetsplan", "summary": "Region IT and the provider draw up an activity plan for the preparations before start.", "section": "1.2", "quote": "kommer personal från Region IT upprätta en aktivitetsplan tillsammans med vårdgivaren gällande förberedelser inför start", "origin": "document", "note": null, "requirements": ["VRM-029"], "document": "aktivitetsplan", "scope": "case", "commitments": [], "after": [], "gate": {"basis": "stated", "section": "1.2", "quote": "inför start", "note": null}, "condition": null, "recurrence": null}],
            "silent": [{"step": "final_verification", "note": "The document names no final verification."}],
            "lead_time": null, "duties": [], "notes": []
        })),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::NotFound),
    ),
    security(("bearer" = [])),
)]
#[get("/{programme}/versions/{version}/process")]
#[tracing::instrument(name = "get-process", skip_all)]
pub async fn get_process(
    _auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let (raw, version) = path.into_inner();
    let programme = programme(&raw)?;
    let process = state
        .catalogues
        .process(&programme, version)
        .ok_or_else(|| ApiError::not_found("process version"))?;
    Ok(HttpResponse::Ok().json(ProcessView::from(process)))
}

/// `GET /v1/catalogues/{programme}/diff?from=&to=`
#[utoipa::path(
    tag = "catalogues",
    summary = "Compare two catalogue versions",
    description = "What changed between two versions of a programme's catalogue, requirement by \
requirement: added, removed, and changed with the fields that differ and whether the change is \
material (a case moving to the newer version must answer it anew).",
    params(
        ("programme" = String, Path, description = "The programme, e.g. `dalarna-bup`."),
        DiffQuery,
    ),
    responses(
        (status = 200, description = "The difference.", body = CatalogueDiffView, example = json!({
            "programme": "dalarna-bup", "from": 1, "to": 2,
            "added": [], "removed": [{"id": "DBUP-040", "section": "7.2", "quote": "ska", "summary": "A removed demand.", "category": "other", "level": "must", "evidence": "declared", "note": "Example."}],
            "changed": [{"id": "DBUP-014", "fields": ["quote"], "material": true,
                "old": {"id": "DBUP-014", "section": "4.1", "quote": "ska ...", "summary": "Before.", "category": "network", "level": "must", "evidence": "declared", "note": null},
                "new": {"id": "DBUP-014", "section": "4.1", "quote": "skall ...", "summary": "After.", "category": "network", "level": "must", "evidence": "declared", "note": null}}]
        })),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::NotFound),
    ),
    security(("bearer" = [])),
)]
#[get("/{programme}/diff")]
#[tracing::instrument(name = "diff-catalogue", skip_all)]
pub async fn diff_catalogue(
    _auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<DiffQuery>,
) -> Result<HttpResponse, ApiError> {
    let programme = programme(&path)?;
    let old = state.catalogues.get(&programme, query.from);
    let new = state.catalogues.get(&programme, query.to);
    match (old, new) {
        (Some(old), Some(new)) => Ok(HttpResponse::Ok().json(CatalogueDiffView::of(old, new))),
        _ => Err(ApiError::not_found("catalogue version")),
    }
}
