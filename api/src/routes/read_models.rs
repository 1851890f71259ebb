//! The read models over HTTP: `GET /v1/cases` and `/v1/cases/{case_id}/overview` (case
//! overview), `/v1/pipeline`, `/v1/findings`, `/v1/incidents` and `/v1/incidents/summary`,
//! `/v1/compliance`, `/v1/staff-commitments` and `/v1/costs`.
//!
//! Every one of them, in the same way:
//! * **Tenancy** from the principal through `authz::tenancy`, applied by the read models as
//!   SQL filters: a region's roles see their region's rows, a provider only its own
//!   organisation's. A row the caller may not see is never read.
//! * **Paging** (lists): `limit` (1 to 500, 50 by default) and `cursor`, the opaque
//!   `next_cursor` of the previous page, also given as `Link: <...>; rel="next"`. Pages are in
//!   key order, so following the cursors visits every row once.
//! * **CSV**: with `Accept: text/csv` the same rows come as `text/csv; charset=utf-8`, a
//!   header line and one line per row (RFC 4180), in the read models' own `Tabular` form.
//! * **Read your writes**: `min_position=N` (a command's `position`) waits, bounded, until
//!   the read models the endpoint reads have projected `N`; else 503 `projection_lagging`
//!   with `Retry-After`.
//! * **Today**: what depends on the day (age, overdue, blockers, prices in force) is computed
//!   for the system clock's today.

use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, Accept, Header, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::NaiveDate;
use domain::disclosure::Outlet;
use domain::ids::{CaseId, ProgrammeId, RegionId, RequirementId};
use projections::read_models::case_overview::{CaseFilter, CaseOverview};
use projections::read_models::compliance::{ComplianceFilter, ComplianceRow};
use projections::read_models::costs::{CostFilter, CostRow};
use projections::read_models::findings::{FindingFilter, FindingRow};
use projections::read_models::incidents::{IncidentFilter, IncidentRow};
use projections::read_models::staff::StaffFilter;
use projections::{
    Cursor, Page, PageRequest, ProjectionError, ProjectionName, ReadModels, Tabular, Tenancy,
    to_csv,
};
use serde::Serialize;
use utoipa_actix_web::UtoipaApp;
use uuid::Uuid;

use crate::application::read_models::wait_for;
use crate::auth::Principal;
use crate::authz::{self, Authorized};
use crate::dto::history::invalid_query;
use crate::dto::read_models::{
    CaseListQuery, CaseOverviewView, CasePage, CaseSummaryView, ComplianceCellView, CompliancePage,
    ComplianceQuery, CostPage, CostQuery, CostView, DEFAULT_LIMIT, FindingListQuery, FindingPage,
    FindingRowView, IncidentListQuery, IncidentPage, IncidentRowView, IncidentSummaryRowView,
    IncidentSummaryView, MAX_LIMIT, PipelineQuery, PipelineRowView, PipelineView, ReadQuery,
    StaffCommitmentView, StaffPage, StaffQuery,
};
use crate::problem::ApiError;
use crate::state::AppState;

/// The media type of CSV answers.
pub const TEXT_CSV: &str = "text/csv; charset=utf-8";

/// Registers the read models' own resources (the case and incident lists live in their
/// scopes: `cases::register`, `incidents::register`).
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
    app.service(get_pipeline)
        .service(list_findings)
        .service(list_compliance)
        .service(list_staff_commitments)
        .service(list_costs)
}

/// Which page: `limit` within its bounds, `cursor` one a list handed out.
fn page_request(limit: Option<u32>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => return Err(invalid_query("limit", format!("must be 1 to {MAX_LIMIT}"))),
    };
    let after = cursor
        .map(|raw| {
            if crate::dto::read_models::is_cursor(raw) {
                Cursor::parse(raw).map_err(ApiError::from)
            } else {
                Err(ProjectionError::InvalidCursor.into())
            }
        })
        .transpose()?;
    Ok(PageRequest {
        after,
        limit: limit as usize,
    })
}

fn programme(raw: Option<&str>) -> Result<Option<ProgrammeId>, ApiError> {
    raw.map(|raw| ProgrammeId::parse(raw).map_err(|e| invalid_query("programme", e.to_string())))
        .transpose()
}

/// Whether the caller asked for CSV: `text/csv` (or `text/*`) ranks before JSON in
/// `Accept`.
fn wants_csv(req: &HttpRequest) -> bool {
    let Ok(accept) = Accept::parse(req) else {
        return false;
    };
    for mime in accept.ranked() {
        match (mime.type_().as_str(), mime.subtype().as_str()) {
            ("text", "csv" | "*") => return true,
            ("application", "json" | "*") | ("*", "*") => return false,
            _ => {}
        }
    }
    false
}

/// `Link: <this request with cursor=next>; rel="next"`.
fn next_link(req: &HttpRequest, cursor: &str) -> Option<HeaderValue> {
    let mut query: Vec<String> = req
        .query_string()
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("cursor"))
        .map(str::to_owned)
        .collect();
    query.push(format!("cursor={cursor}"));
    HeaderValue::from_str(&format!(
        "<{}?{}>; rel=\"next\"",
        req.path(),
        query.join("&")
    ))
    .ok()
}

/// Rows as CSV or as the JSON body `json` makes of them, with `Link` to the next page.
fn respond<R: Tabular, J: Serialize>(
    req: &HttpRequest,
    rows: &[R],
    next: Option<&Cursor>,
    json: impl FnOnce(&[R], Option<String>) -> J,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.insert_header((header::VARY, HeaderValue::from_static("Accept")));
    if let Some(link) = next.and_then(|cursor| next_link(req, cursor.as_str())) {
        response.insert_header((header::LINK, link));
    }
    if wants_csv(req) {
        response.content_type(TEXT_CSV).body(to_csv(rows))
    } else {
        response.json(json(rows, next.map(|c| c.as_str().to_owned())))
    }
}

/// A page of rows, answered as `respond` does.
fn respond_page<R: Tabular, J: Serialize>(
    req: &HttpRequest,
    page: &Page<R>,
    json: impl FnOnce(&[R], Option<String>) -> J,
) -> HttpResponse {
    respond(req, &page.items, page.next.as_ref(), json)
}

/// The paging and read-your-writes parameters of every list's query.
trait ListQuery {
    fn limit(&self) -> Option<u32>;
    fn cursor(&self) -> Option<&str>;
    fn min_position(&self) -> Option<u64>;
}

macro_rules! list_queries {
    ($($query:ty),* $(,)?) => {
        $(impl ListQuery for $query {
            fn limit(&self) -> Option<u32> {
                self.limit
            }
            fn cursor(&self) -> Option<&str> {
                self.cursor.as_deref()
            }
            fn min_position(&self) -> Option<u64> {
                self.min_position
            }
        })*
    };
}

list_queries!(
    CaseListQuery,
    FindingListQuery,
    IncidentListQuery,
    ComplianceQuery,
    StaffQuery,
    CostQuery,
);

/// Who reads a list, and in which outlet: what a row shows may depend on both
/// (`domain::disclosure`).
struct Reader<'a> {
    principal: &'a Principal,
    tenancy: Tenancy,
    outlet: Outlet,
    today: NaiveDate,
}

/// One list over a read model: a row of the table below. Everything else (paging, the 400
/// for a bad filter before any wait, read-your-writes, tenancy, CSV or JSON, `Link`) is
/// [`list`]'s, the same for every list.
trait Listing {
    type Query: ListQuery;
    /// The query's own filter, parsed.
    type Filter;
    /// A row as answered (its `Tabular` form is the CSV).
    type Row: Tabular;
    /// The JSON body of a page.
    type Body: Serialize;
    /// The read model the list reads, which `min_position` waits for.
    const MODEL: ProjectionName;
    /// The filter, or the 400 that names the bad parameter.
    fn filter(query: &Self::Query) -> Result<Self::Filter, ApiError>;
    /// The page of rows the filter selects among those the reader may see.
    async fn rows(
        models: &ReadModels,
        reader: &Reader<'_>,
        query: &Self::Query,
        filter: Self::Filter,
        page: &PageRequest,
    ) -> Result<Page<Self::Row>, ApiError>;
    fn body(rows: &[Self::Row], next_cursor: Option<String>) -> Self::Body;
}

/// Answers a list request the way every list answers.
async fn list<L: Listing>(
    auth: &Authorized<authz::Read>,
    state: &AppState,
    req: &HttpRequest,
    query: &L::Query,
) -> Result<HttpResponse, ApiError> {
    let page = page_request(query.limit(), query.cursor())?;
    let filter = L::filter(query)?;
    wait_for(state, &[L::MODEL], query.min_position()).await?;
    let reader = Reader {
        principal: &auth.principal,
        tenancy: authz::tenancy(&auth.principal),
        outlet: if wants_csv(req) {
            Outlet::ReadModelCsv
        } else {
            Outlet::ReadModelJson
        },
        today: state.clock.today(),
    };
    let rows = L::rows(
        &state.projections.read_models(),
        &reader,
        query,
        filter,
        &page,
    )
    .await?;
    Ok(respond_page(req, &rows, L::body))
}

struct Cases;
struct Findings;
struct Incidents;
struct Compliance;
struct StaffCommitments;
struct Costs;

impl Listing for Cases {
    type Query = CaseListQuery;
    /// The read model's filter, and the region asked for.
    type Filter = (CaseFilter, Option<RegionId>);
    type Row = CaseOverview;
    type Body = CasePage;
    const MODEL: ProjectionName = ProjectionName::CaseOverview;

    fn filter(query: &CaseListQuery) -> Result<Self::Filter, ApiError> {
        let filter = CaseFilter {
            programme: programme(query.programme.as_deref())?,
            phase: query.phase.map(Into::into),
            provider_org: None,
        };
        let region = query
            .region
            .as_deref()
            .map(|raw| RegionId::parse(raw).map_err(|e| invalid_query("region", e.to_string())))
            .transpose()?;
        Ok((filter, region))
    }

    async fn rows(
        models: &ReadModels,
        reader: &Reader<'_>,
        _: &CaseListQuery,
        (filter, region): Self::Filter,
        page: &PageRequest,
    ) -> Result<Page<CaseOverview>, ApiError> {
        // Every caller sees only its own region's cases: another region's list is empty.
        if region.is_some_and(|region| &region != reader.principal.region()) {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        Ok(models
            .case_overviews(&reader.tenancy, &filter, page, reader.today)
            .await?)
    }

    fn body(rows: &[CaseOverview], next_cursor: Option<String>) -> CasePage {
        CasePage {
            items: rows.iter().map(CaseSummaryView::from).collect(),
            next_cursor,
        }
    }
}

impl Listing for Findings {
    type Query = FindingListQuery;
    type Filter = FindingFilter;
    type Row = FindingRow;
    type Body = FindingPage;
    const MODEL: ProjectionName = ProjectionName::Findings;

    fn filter(query: &FindingListQuery) -> Result<FindingFilter, ApiError> {
        Ok(FindingFilter {
            case_id: query.case_id.map(CaseId::from_uuid),
            kind: query.kind.map(Into::into),
            open: query.open,
        })
    }

    async fn rows(
        models: &ReadModels,
        reader: &Reader<'_>,
        _: &FindingListQuery,
        filter: FindingFilter,
        page: &PageRequest,
    ) -> Result<Page<FindingRow>, ApiError> {
        Ok(models
            .findings(&reader.tenancy, &filter, page, reader.today)
            .await?)
    }

    fn body(rows: &[FindingRow], next_cursor: Option<String>) -> FindingPage {
        FindingPage {
            items: rows.iter().map(FindingRowView::from).collect(),
            next_cursor,
        }
    }
}

impl Listing for Incidents {
    type Query = IncidentListQuery;
    type Filter = IncidentFilter;
    type Row = IncidentRow;
    type Body = IncidentPage;
    const MODEL: ProjectionName = ProjectionName::Incidents;

    fn filter(query: &IncidentListQuery) -> Result<IncidentFilter, ApiError> {
        Ok(IncidentFilter {
            case_id: query.case_id.map(CaseId::from_uuid),
            severity: query.severity.map(Into::into),
            open: query.open,
        })
    }

    async fn rows(
        models: &ReadModels,
        reader: &Reader<'_>,
        _: &IncidentListQuery,
        filter: IncidentFilter,
        page: &PageRequest,
    ) -> Result<Page<IncidentRow>, ApiError> {
        Ok(models.incidents(&reader.tenancy, &filter, page).await?)
    }

    fn body(rows: &[IncidentRow], next_cursor: Option<String>) -> IncidentPage {
        IncidentPage {
            items: rows.iter().map(IncidentRowView::from).collect(),
            next_cursor,
        }
    }
}

impl Listing for Compliance {
    type Query = ComplianceQuery;
    type Filter = ComplianceFilter;
    type Row = ComplianceRow;
    type Body = CompliancePage;
    const MODEL: ProjectionName = ProjectionName::ComplianceMatrix;

    fn filter(query: &ComplianceQuery) -> Result<ComplianceFilter, ApiError> {
        let requirement = query
            .requirement
            .as_deref()
            .map(|raw| {
                RequirementId::parse(raw).map_err(|e| invalid_query("requirement", e.to_string()))
            })
            .transpose()?;
        Ok(ComplianceFilter {
            case_id: query.case_id.map(CaseId::from_uuid),
            requirement,
            verified: query.verified,
        })
    }

    async fn rows(
        models: &ReadModels,
        reader: &Reader<'_>,
        _: &ComplianceQuery,
        filter: ComplianceFilter,
        page: &PageRequest,
    ) -> Result<Page<ComplianceRow>, ApiError> {
        Ok(models
            .compliance_matrix(&reader.tenancy, &filter, page, reader.today)
            .await?)
    }

    fn body(rows: &[ComplianceRow], next_cursor: Option<String>) -> CompliancePage {
        CompliancePage {
            items: rows.iter().map(ComplianceCellView::from).collect(),
            next_cursor,
        }
    }
}

impl Listing for StaffCommitments {
    type Query = StaffQuery;
    type Filter = StaffFilter;
    /// JSON and CSV are each their outlet's per-role view (`domain::disclosure`).
    type Row = StaffCommitmentView;
    type Body = StaffPage;
    const MODEL: ProjectionName = ProjectionName::StaffCommitments;

    fn filter(query: &StaffQuery) -> Result<StaffFilter, ApiError> {
        Ok(StaffFilter {
            case_id: query.case_id.map(CaseId::from_uuid),
            complete: query.missing.map(|missing| !missing),
        })
    }

    async fn rows(
        models: &ReadModels,
        reader: &Reader<'_>,
        _: &StaffQuery,
        filter: StaffFilter,
        page: &PageRequest,
    ) -> Result<Page<StaffCommitmentView>, ApiError> {
        let staff = models
            .staff_commitments(&reader.tenancy, &filter, page)
            .await?;
        let role = reader.principal.role();
        Ok(Page {
            items: staff
                .items
                .iter()
                .map(|row| StaffCommitmentView::of(row, role, reader.outlet))
                .collect(),
            next: staff.next,
        })
    }

    fn body(rows: &[StaffCommitmentView], next_cursor: Option<String>) -> StaffPage {
        StaffPage {
            items: rows.to_vec(),
            next_cursor,
        }
    }
}

impl Listing for Costs {
    type Query = CostQuery;
    type Filter = CostFilter;
    type Row = CostRow;
    type Body = CostPage;
    const MODEL: ProjectionName = ProjectionName::Costs;

    fn filter(query: &CostQuery) -> Result<CostFilter, ApiError> {
        Ok(CostFilter {
            case_id: query.case_id.map(CaseId::from_uuid),
            programme: programme(query.programme.as_deref())?,
            phase: None,
        })
    }

    async fn rows(
        models: &ReadModels,
        reader: &Reader<'_>,
        query: &CostQuery,
        filter: CostFilter,
        page: &PageRequest,
    ) -> Result<Page<CostRow>, ApiError> {
        let on = query.on.unwrap_or(reader.today);
        Ok(models.costs(&reader.tenancy, &filter, page, on).await?)
    }

    fn body(rows: &[CostRow], next_cursor: Option<String>) -> CostPage {
        CostPage {
            items: rows.iter().map(CostView::from).collect(),
            next_cursor,
        }
    }
}

/// `GET /v1/cases`
#[utoipa::path(
    tag = "cases",
    summary = "List cases",
    description = "The caller's cases from the case-overview read model, in case id order: \
phase, what still blocks go-live, the catalogue version held to and whether attestation to a \
newer one is due, and lead time against the programme's target (computed for today). Filter by \
`programme`, `phase` and `region` (another region than the caller's gives an empty list). \
Providers see only their organisation's cases.\n\nPaging: `limit` (1 to 500, 50 by default) \
and `cursor`, the `next_cursor` of the previous page (also in `Link`, `rel=\"next\"`). CSV: \
`Accept: text/csv` answers the same page as `text/csv; charset=utf-8` with a header line. \
Read your writes: `min_position` (a command's `position`) waits, at most 5 s by default, until \
the read model has projected it, else 503 `projection_lagging` with `Retry-After`. The list is \
eventually consistent; `GET /v1/cases/{case_id}` is the strongly consistent view of one case.",
    params(CaseListQuery),
    responses(
        (status = 200, description = "A page of cases.",
            headers(("Link" = String, description = "`</v1/cases?...&cursor=...>; rel=\"next\"` when there is a next page."), ("Vary" = String, description = "`Accept`.")),
            content(
                (CasePage = "application/json", example = json!({
                    "items": [{
                        "case_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e", "region": "jamtland-harjedalen",
                        "provider_org": "556677-8899", "programme": "jamtland-halsoval",
                        "unit_name": "Östersundshälsan Vårdcentral", "phase": "final_verification",
                        "applied_on": "2026-02-16",
                        "blockers": [{"condition": "demand_open", "finding": 1, "message": "demand 1 is open"}],
                        "catalogue_held": {"programme": "jamtland-halsoval", "version": 1, "digest": "5b1c0e0f6a2d4e8b9c7f1a3d5e7b9c1f2a4d6e8b0c2f4a6d8e0b2c4f6a8d0e2b"},
                        "catalogue_in_force": 1, "attestation_due": false,
                        "lead_time": {"applied_on": "2026-02-16", "requested_go_live": "2026-09-01", "target_months": null, "kind": null, "target_date": null, "target_days": null, "went_live_on": null, "days": 96, "beyond_target": false},
                        "updated_at": "2026-05-12T10:02:00.120331Z"
                    }],
                    "next_cursor": "30313936613363322d346631652d376333612d396232642d356538663161326233633465"
                })),
                (String = "text/csv", example = json!("case_id,region,provider_org,programme,unit_name,phase,applied_on,approved_at,contract_signed_on,declaration_accepted_at,training_completed_on,final_verification_approved_at,final_contract_signed_on,went_live_on,ended_on,blockers,catalogue_held,catalogue_in_force,attestation_due,lead_time_days,lead_time_target_days,beyond_target\r\n0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e,jamtland-harjedalen,556677-8899,jamtland-halsoval,Östersundshälsan Vårdcentral,final_verification,2026-02-16,2026-02-18T13:40:55.884002+00:00,2026-03-02,2026-03-27T14:05:00+00:00,2026-04-15,,,,,final_verification_not_approved demand_open:1 final_contract_not_signed,1,1,false,96,,false\r\n")),
            )),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 422, response = crate::openapi::BeyondTheLog),
        (status = 503, response = crate::openapi::ProjectionLagging),
    ),
    security(("bearer" = [])),
)]
#[get("")]
#[tracing::instrument(name = "list-cases", skip_all)]
pub async fn list_cases(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<CaseListQuery>,
) -> Result<HttpResponse, ApiError> {
    list::<Cases>(&auth, &state, &req, &query).await
}

/// `GET /v1/cases/{case_id}/overview`
#[utoipa::path(
    tag = "cases",
    summary = "Read a case's overview",
    description = "One case from the case-overview read model: its summary (as in `GET \
/v1/cases`), when it entered each phase, the date of every milestone (application, approval, \
contract, each agreement, self-declaration submissions, returns and acceptance, technical \
milestones, training, each final verification round, final contract, go-live, suspensions, \
ending, attestations) and what its costs are estimated from. Eventually consistent: pass the \
`position` a command answered as `min_position` to read that command's effect (waits at most \
5 s by default, else 503 `projection_lagging`). `Accept: text/csv` gives the case as one CSV \
row. Another region's case, or another provider's, answers 404 like a missing one.",
    params(("case_id" = Uuid, Path, description = "The case id."), ReadQuery),
    responses(
        (status = 200, description = "The case's overview.",
            headers(("Vary" = String, description = "`Accept`.")),
            content(
                (CaseOverviewView = "application/json", example = json!({
                    "case_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e", "region": "jamtland-harjedalen",
                    "provider_org": "556677-8899", "programme": "jamtland-halsoval",
                    "unit_name": "Östersundshälsan Vårdcentral", "phase": "establishment",
                    "applied_on": "2026-02-16",
                    "blockers": [{"condition": "self_declaration_not_accepted", "message": "the self-declaration is not accepted"}],
                    "catalogue_held": {"programme": "jamtland-halsoval", "version": 1, "digest": "5b1c0e0f6a2d4e8b9c7f1a3d5e7b9c1f2a4d6e8b0c2f4a6d8e0b2c4f6a8d0e2b"},
                    "catalogue_in_force": 1, "attestation_due": false,
                    "lead_time": {"applied_on": "2026-02-16", "requested_go_live": "2026-09-01", "target_months": null, "kind": null, "target_date": null, "target_days": null, "went_live_on": null, "days": 20, "beyond_target": false},
                    "updated_at": "2026-03-02T09:14:03.501220Z",
                    "phase_history": [
                        {"phase": "application", "entered_at": "2026-02-16T08:02:11.101204Z"},
                        {"phase": "approved", "entered_at": "2026-02-18T13:40:55.884002Z"},
                        {"phase": "establishment", "entered_at": "2026-03-02T09:14:03.501220Z"}
                    ],
                    "milestones": {
                        "applied_on": "2026-02-16", "approved_at": "2026-02-18T13:40:55.884002Z", "rejected_at": null,
                        "contract_signed_on": "2026-03-02", "agreements": [], "declaration_submitted_at": [],
                        "declaration_returned_at": [], "declaration_accepted_at": null, "technical": [],
                        "training_completed_on": null, "verification_rounds": [], "final_contract_signed_on": null,
                        "went_live_on": null, "suspended_at": [], "resumed_at": [], "ended_on": null, "ending": null,
                        "attestations": []
                    },
                    "cost_basis": {"service_packages": ["stodapplikationer", "vardutbud-bas"], "optional_services": [], "workstations": 12, "workstation_groups": 2, "listed_patients": 4200}
                })),
                (String = "text/csv", example = json!("case_id,region,provider_org,programme,unit_name,phase,applied_on,approved_at,contract_signed_on,declaration_accepted_at,training_completed_on,final_verification_approved_at,final_contract_signed_on,went_live_on,ended_on,blockers,catalogue_held,catalogue_in_force,attestation_due,lead_time_days,lead_time_target_days,beyond_target\r\n0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e,jamtland-harjedalen,556677-8899,jamtland-halsoval,Östersundshälsan Vårdcentral,establishment,2026-02-16,2026-02-18T13:40:55.884002+00:00,2026-03-02,,,,,,,self_declaration_not_accepted,1,1,false,20,,false\r\n")),
            )),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::NotFound),
        (status = 422, response = crate::openapi::BeyondTheLog),
        (status = 503, response = crate::openapi::ProjectionLagging),
    ),
    security(("bearer" = [])),
)]
#[get("/{case_id}/overview")]
#[tracing::instrument(name = "get-case-overview", skip_all, fields(case_id = %case_id))]
pub async fn get_case_overview(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
    case_id: web::Path<Uuid>,
    query: web::Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    let case_id = CaseId::from_uuid(case_id.into_inner());
    wait_for(&state, &[ProjectionName::CaseOverview], query.min_position).await?;
    let case = state
        .projections
        .read_models()
        .case_overview(
            &authz::tenancy(&auth.principal),
            case_id,
            state.clock.today(),
        )
        .await?
        .ok_or_else(|| ApiError::not_found("case"))?;
    Ok(respond(
        &req,
        std::slice::from_ref(&case),
        None,
        |rows, _| rows.first().map(CaseOverviewView::from),
    ))
}

/// `GET /v1/pipeline`
#[utoipa::path(
    tag = "dashboards",
    summary = "Read the pipeline",
    description = "Per programme of the caller's region (one with `programme`), every phase a \
case can be in after applying, in lifecycle order: how many cases are in it now, how many \
stays in it have ended, and the median of those stays in days. A case's current stay counts \
where it is but not in the median, since its length is not known yet. Not paged (at most nine \
rows per programme). Providers see only their organisation's cases. `Accept: text/csv` and \
`min_position` as for the lists.",
    params(PipelineQuery),
    responses(
        (status = 200, description = "The pipeline.",
            headers(("Vary" = String, description = "`Accept`.")),
            content(
                (PipelineView = "application/json", example = json!({"items": [
                    {"region": "jamtland-harjedalen", "programme": "jamtland-halsoval", "phase": "application", "cases": 2, "completed_stays": 9, "median_days": 3.5},
                    {"region": "jamtland-harjedalen", "programme": "jamtland-halsoval", "phase": "establishment", "cases": 4, "completed_stays": 5, "median_days": 61.25}
                ]})),
                (String = "text/csv", example = json!("region,programme,phase,cases,completed_stays,median_days\r\njamtland-harjedalen,jamtland-halsoval,application,2,9,3.50\r\njamtland-harjedalen,jamtland-halsoval,establishment,4,5,61.25\r\n")),
            )),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 422, response = crate::openapi::BeyondTheLog),
        (status = 503, response = crate::openapi::ProjectionLagging),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/pipeline")]
#[tracing::instrument(name = "get-pipeline", skip_all)]
pub async fn get_pipeline(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<PipelineQuery>,
) -> Result<HttpResponse, ApiError> {
    let programme = programme(query.programme.as_deref())?;
    wait_for(&state, &[ProjectionName::Pipeline], query.min_position).await?;
    let rows = state
        .projections
        .read_models()
        .pipeline(&authz::tenancy(&auth.principal), programme.as_ref())
        .await?;
    Ok(respond(&req, &rows, None, |rows, _| PipelineView {
        items: rows.iter().map(PipelineRowView::from).collect(),
    }))
}

/// `GET /v1/findings`
#[utoipa::path(
    tag = "dashboards",
    summary = "List findings",
    description = "Every demand and recommendation of the verifications of the caller's cases, \
open or resolved, by case and number, with its age in days and whether it is overdue today. \
Filter by `case_id`, `kind` and `open`. Providers see only their organisation's. Paging with \
`limit` and `cursor` (`next_cursor`, `Link`), `Accept: text/csv`, and `min_position` (read \
your writes, else 503 `projection_lagging`) as for `GET /v1/cases`.",
    params(FindingListQuery),
    responses(
        (status = 200, description = "A page of findings.",
            headers(("Link" = String, description = "The next page, `rel=\"next\"`."), ("Vary" = String, description = "`Accept`.")),
            content(
                (FindingPage = "application/json", example = json!({"items": [{
                    "case_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e", "provider_org": "556677-8899", "programme": "jamtland-halsoval",
                    "number": 1, "kind": "demand", "context": "final_verification", "round": 1, "requirement": "JHV-030",
                    "description": "The network cabinet in the corridor is not locked.", "due": "2026-06-01",
                    "recorded_at": "2026-05-12T10:02:00Z", "resolved_at": null, "resolution": null,
                    "open": true, "age_days": 9, "overdue": false
                }], "next_cursor": null})),
                (String = "text/csv", example = json!("case_id,number,kind,context,requirement,description,due,recorded_at,resolved_at,open,age_days,overdue\r\n0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e,1,demand,final_verification:1,JHV-030,The network cabinet in the corridor is not locked.,2026-06-01,2026-05-12T10:02:00+00:00,,true,9,false\r\n")),
            )),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 422, response = crate::openapi::BeyondTheLog),
        (status = 503, response = crate::openapi::ProjectionLagging),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/findings")]
#[tracing::instrument(name = "list-findings", skip_all)]
pub async fn list_findings(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<FindingListQuery>,
) -> Result<HttpResponse, ApiError> {
    list::<Findings>(&auth, &state, &req, &query).await
}

/// `GET /v1/incidents`
#[utoipa::path(
    tag = "incidents",
    summary = "List incidents",
    description = "The security incidents of the caller's cases from the incidents read model, \
in incident id order: severity as reported and as assessed, status, and the time from report to \
assessment. Filter by `case_id`, `open` and `severity` (the assessed one, or the reported one \
before assessment). Providers see only their organisation's. Paging with `limit` and `cursor` \
(`next_cursor`, `Link`), `Accept: text/csv`, and `min_position` (read your writes, else 503 \
`projection_lagging`) as for `GET /v1/cases`.",
    params(IncidentListQuery),
    responses(
        (status = 200, description = "A page of incidents.",
            headers(("Link" = String, description = "The next page, `rel=\"next\"`."), ("Vary" = String, description = "`Accept`.")),
            content(
                (IncidentPage = "application/json", example = json!({"items": [{
                    "incident_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4d", "case_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e",
                    "provider_org": "556677-8899", "case_phase": "live",
                    "summary": "Phishing e-mail opened on a reception workstation", "status": "assessed", "open": true,
                    "severity": "high", "reported_severity": "medium", "assessed_severity": "high",
                    "region_it_may_be_affected": true, "region_it_affected": false,
                    "detected_at": "2026-05-04T08:30:00Z", "occurred_at": "2026-05-04T08:10:00Z",
                    "reported_at": "2026-05-04T09:02:41Z", "assessed_at": "2026-05-04T13:15:00Z", "closed_at": null,
                    "seconds_to_assessment": 15139, "actions": 1
                }], "next_cursor": null})),
                (String = "text/csv", example = json!("incident_id,case_id,provider_org,case_phase,summary,status,reported_severity,assessed_severity,region_it_affected,detected_at,reported_at,assessed_at,closed_at,seconds_to_assessment,actions\r\n0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4d,0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e,556677-8899,live,Phishing e-mail opened on a reception workstation,assessed,medium,high,false,2026-05-04T08:30:00+00:00,2026-05-04T09:02:41+00:00,2026-05-04T13:15:00+00:00,,15139,1\r\n")),
            )),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 422, response = crate::openapi::BeyondTheLog),
        (status = 503, response = crate::openapi::ProjectionLagging),
    ),
    security(("bearer" = [])),
)]
#[get("")]
#[tracing::instrument(name = "list-incidents", skip_all)]
pub async fn list_incidents(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<IncidentListQuery>,
) -> Result<HttpResponse, ApiError> {
    list::<Incidents>(&auth, &state, &req, &query).await
}

/// `GET /v1/incidents/summary`
#[utoipa::path(
    tag = "incidents",
    summary = "Summarise incidents by severity",
    description = "For every severity, lowest first: how many of the caller's incidents are open \
and closed, how many were assessed, and the median time from report to assessment in hours. \
Not paged (four rows). Providers see only their organisation's. `Accept: text/csv` and \
`min_position` as for the lists.",
    params(ReadQuery),
    responses(
        (status = 200, description = "Counts by severity.",
            headers(("Vary" = String, description = "`Accept`.")),
            content(
                (IncidentSummaryView = "application/json", example = json!({"items": [
                    {"severity": "low", "open": 0, "closed": 2, "assessed": 2, "median_hours_to_assessment": 20.5},
                    {"severity": "medium", "open": 1, "closed": 0, "assessed": 0, "median_hours_to_assessment": null},
                    {"severity": "high", "open": 1, "closed": 3, "assessed": 4, "median_hours_to_assessment": 3.75},
                    {"severity": "critical", "open": 0, "closed": 0, "assessed": 0, "median_hours_to_assessment": null}
                ]})),
                (String = "text/csv", example = json!("severity,open,closed,assessed,median_hours_to_assessment\r\nlow,0,2,2,20.50\r\nmedium,1,0,0,\r\nhigh,1,3,4,3.75\r\ncritical,0,0,0,\r\n")),
            )),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 422, response = crate::openapi::BeyondTheLog),
        (status = 503, response = crate::openapi::ProjectionLagging),
    ),
    security(("bearer" = [])),
)]
#[get("/summary")]
#[tracing::instrument(name = "get-incident-summary", skip_all)]
pub async fn get_incident_summary(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    wait_for(&state, &[ProjectionName::Incidents], query.min_position).await?;
    let rows = state
        .projections
        .read_models()
        .incident_summary(&authz::tenancy(&auth.principal))
        .await?;
    Ok(respond(&req, &rows, None, |rows, _| IncidentSummaryView {
        items: rows.iter().map(IncidentSummaryRowView::from).collect(),
    }))
}

/// `GET /v1/compliance`
#[utoipa::path(
    tag = "dashboards",
    summary = "Read the compliance matrix",
    description = "One cell per case and requirement of the catalogue version the case is held \
to (from contract signing on), by case and requirement: the requirement (section, summary, \
category, must or should, how it is shown), the provider's answer and the version it was given \
under, the self-declaration's status, whether the region has verified it (shown by \
verification, approved by a final verification after the answer, no finding on it open), open \
findings on it, and any agreed deviation with whether it is in force today. Filter by \
`case_id` (one case's row of the matrix), `requirement` and `verified`. Providers see only their \
organisation's. Paging with `limit` and `cursor` (`next_cursor`, `Link`), `Accept: text/csv`, \
and `min_position` (read your writes, else 503 `projection_lagging`) as for `GET /v1/cases`.",
    params(ComplianceQuery),
    responses(
        (status = 200, description = "A page of the matrix.",
            headers(("Link" = String, description = "The next page, `rel=\"next\"`."), ("Vary" = String, description = "`Accept`.")),
            content(
                (CompliancePage = "application/json", example = json!({"items": [{
                    "case_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e", "provider_org": "556677-8899", "programme": "jamtland-halsoval",
                    "requirement": "JHV-030", "section": "3.4", "summary": "Utrustning för nätverksanslutning ska vara inlåst.",
                    "category": "network", "level": "must", "evidence": "verified", "catalogue_version": 1,
                    "compliance": "complies", "description": null, "evidence_refs": ["Floor plan 2026-03"],
                    "answered_under": 1, "answered_at": "2026-03-20T08:00:00Z", "declaration": "accepted",
                    "verified": false, "open_findings": [1], "deviation": null
                }], "next_cursor": "30313936613363322d346631652d376333612d396232642d3565386631613262336334652f4a48562d303330"})),
                (String = "text/csv", example = json!("case_id,requirement,section,level,evidence,catalogue_version,compliance,description,evidence_refs,answered_under,verified,open_findings,deviation_valid_until,deviation_in_force\r\n0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e,JHV-030,3.4,must,verified,1,complies,,Floor plan 2026-03,1,false,1,,false\r\n")),
            )),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 422, response = crate::openapi::BeyondTheLog),
        (status = 503, response = crate::openapi::ProjectionLagging),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/compliance")]
#[tracing::instrument(name = "list-compliance", skip_all)]
pub async fn list_compliance(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ComplianceQuery>,
) -> Result<HttpResponse, ApiError> {
    list::<Compliance>(&auth, &state, &req, &query).await
}

/// `GET /v1/staff-commitments`
#[utoipa::path(
    tag = "dashboards",
    summary = "List staff commitments",
    description = "Per case and user, the commitments signed and what is missing: every \
user signs the IT responsibility commitment (ansvarsförbindelse) and the confidentiality \
reminder (sekretesserinran). Filter by `case_id` and `missing`. Providers see only their \
organisation's staff.\n\nPersonal data: each user is identified by the data subject id their \
personal data is recorded under (the list is ordered by it). Name and HSA-id are shown as the \
disclosure policy allows the caller's role in JSON (officers, region IT, the provider, \
auditors and integrations; never dashboards); `withheld` names what is not shown. The CSV, \
made to leave the system, carries no personal data (its `name` and `hsa_id` columns stay \
empty). The personnummer is never shown, and the read model does not store it. Paging with \
`limit` and `cursor` (`next_cursor`, `Link`), `Accept: text/csv`, and `min_position` (read \
your writes, else 503 `projection_lagging`) as for `GET /v1/cases`.",
    params(StaffQuery),
    responses(
        (status = 200, description = "A page of staff commitments.",
            headers(("Link" = String, description = "The next page, `rel=\"next\"`."), ("Vary" = String, description = "`Accept`.")),
            content(
                (StaffPage = "application/json", example = json!({"items": [{
                    "case_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e", "provider_org": "556677-8899",
                    "person": {"subject": "6f1c9a52-2b8e-5d3a-9c41-0e7b5a3d2f18", "name": "Per Olsson", "hsa_id": "SE5566778899-K7Q2", "erased": false, "withheld": []},
                    "signed": [{"kind": "responsibility_commitment", "signed_on": "2026-03-10"}],
                    "missing": ["confidentiality_reminder"], "complete": false
                }], "next_cursor": null})),
                (String = "text/csv", example = json!("case_id,person_subject,name,hsa_id,responsibility_commitment_signed_on,confidentiality_reminder_signed_on,missing\r\n0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e,6f1c9a52-2b8e-5d3a-9c41-0e7b5a3d2f18,,,2026-03-10,,confidentiality_reminder\r\n")),
            )),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 422, response = crate::openapi::BeyondTheLog),
        (status = 503, response = crate::openapi::ProjectionLagging),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/staff-commitments")]
#[tracing::instrument(name = "list-staff-commitments", skip_all)]
pub async fn list_staff_commitments(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<StaffQuery>,
) -> Result<HttpResponse, ApiError> {
    list::<StaffCommitments>(&auth, &state, &req, &query).await
}

/// `GET /v1/costs`
#[utoipa::path(
    tag = "dashboards",
    summary = "List cost estimates",
    description = "Per case, what it will pay per month and per year (excluding VAT, in öre) for \
the service packages, options, workstation groups and listed patients it applied for, from the \
effective-dated prices of the catalogue it is held to (before contract signing, the one in \
force), with the prices in force `on` a day (today by default): so Jämtland's 2.53 SEK per \
listed patient becomes 2.85 from 2025-05-01 without any change to the case. Programmes \
without prices give an empty estimate. Filter by `case_id` and `programme`. Providers see only \
their organisation's. Paging with `limit` and `cursor` (`next_cursor`, `Link`), `Accept: \
text/csv` (amounts in kronor), and `min_position` (read your writes, else 503 \
`projection_lagging`) as for `GET /v1/cases`.",
    params(CostQuery),
    responses(
        (status = 200, description = "A page of cost estimates.",
            headers(("Link" = String, description = "The next page, `rel=\"next\"`."), ("Vary" = String, description = "`Accept`.")),
            content(
                (CostPage = "application/json", example = json!({"items": [{
                    "case_id": "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e", "provider_org": "556677-8899", "programme": "jamtland-halsoval",
                    "unit_name": "Östersundshälsan Vårdcentral", "phase": "establishment", "catalogue_version": 1, "on": "2026-05-21",
                    "basis": {"service_packages": ["stodapplikationer", "vardutbud-bas"], "optional_services": [], "workstations": 12, "workstation_groups": 2, "listed_patients": 4200},
                    "lines": [
                        {"item": "helpdesk", "description": "Helpdesk, 1 200 kr/mån/registrerad grupp av klientarbetsplatser", "unit": "per_workstation_group_per_month", "quantity": 2, "unit_price_ore": 120_000, "price_from": "2024-01-01", "monthly_ore": 240_000, "yearly_ore": 2_880_000, "approximate": false},
                        {"item": "primarvardskvalitet", "description": "Primärvårdskvalitet (primary care quality), from 2025-05-01 ('From 250501') 2,85 kr/listad/år", "unit": "per_listed_patient_per_year", "quantity": 4200, "unit_price_ore": 285, "price_from": "2025-05-01", "monthly_ore": 99_750, "yearly_ore": 1_197_000, "approximate": false}
                    ],
                    "monthly_ore": 339_750, "yearly_ore": 4_077_000, "approximate": false
                }], "next_cursor": null})),
                (String = "text/csv", example = json!("case_id,provider_org,programme,unit_name,phase,catalogue_version,on,workstations,listed_patients,monthly_sek,yearly_sek,approximate\r\n0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e,556677-8899,jamtland-halsoval,Östersundshälsan Vårdcentral,establishment,1,2026-05-21,12,4200,3397.50,40770.00,false\r\n")),
            )),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 422, response = crate::openapi::BeyondTheLog),
        (status = 503, response = crate::openapi::ProjectionLagging),
    ),
    security(("bearer" = [])),
)]
#[get("/v1/costs")]
#[tracing::instrument(name = "list-costs", skip_all)]
pub async fn list_costs(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<CostQuery>,
) -> Result<HttpResponse, ApiError> {
    list::<Costs>(&auth, &state, &req, &query).await
}
