//! The dashboard's views: HTML fragments under `/dashboard/views/...`, each read through the
//! same authorisation (`Authorized<authz::Read>`), tenancy (`authz::tenancy`) and read models
//! as its `/v1` resource, rendered from the API's own views (which apply the disclosure policy
//! of the caller's role).

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use domain::case::Phase;
use domain::disclosure::Outlet;
use domain::ids::{CaseId, ProgrammeId};
use maud::{Markup, html};
use projections::read_models::case_overview::{CaseFilter, CaseOverview};
use projections::read_models::compliance::ComplianceFilter;
use projections::read_models::costs::CostFilter;
use projections::read_models::findings::FindingFilter;
use projections::read_models::incidents::IncidentFilter;
use projections::read_models::staff::StaffFilter;
use projections::{PageRequest, Tenancy};
use serde::Deserialize;
use uuid::Uuid;

use super::chart::{self, Bar};
use super::html_response;
use super::i18n::{self, Lang};
use crate::authz::{self, Authorized};
use crate::dto::history::invalid_query;
use crate::dto::read_models::{
    CaseSummaryView, ComplianceCellView, CostView, FindingRowView, IncidentRowView,
    IncidentSummaryRowView, MAX_LIMIT, PipelineRowView, StaffCommitmentView,
};
use crate::dto::views::FlagView;
use crate::problem::ApiError;
use crate::state::AppState;

/// The most rows a view reads (pages of the read models' largest page, followed).
const MAX_ROWS: usize = 5000;
/// The most events a history page shows.
const HISTORY_EVENTS: u32 = 500;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/views/pipeline", web::get().to(pipeline))
        .route("/views/cases", web::get().to(cases))
        .route("/views/cases/{case_id}/history", web::get().to(history))
        .route("/views/findings", web::get().to(findings))
        .route("/views/incidents", web::get().to(incidents))
        .route("/views/compliance", web::get().to(compliance))
        .route("/views/staff", web::get().to(staff))
        .route("/views/costs", web::get().to(costs));
}

/// The query every view takes: the language, and the case list's filters.
#[derive(Debug, Deserialize)]
struct ViewQuery {
    lang: Option<String>,
    phase: Option<String>,
    programme: Option<String>,
}

impl ViewQuery {
    fn lang(&self) -> Result<Lang, ApiError> {
        match self.lang.as_deref() {
            None | Some("") => Ok(Lang::default()),
            Some(raw) => Lang::parse(raw).ok_or_else(|| invalid_query("lang", "sv or en")),
        }
    }

    fn phase(&self) -> Result<Option<Phase>, ApiError> {
        match self.phase.as_deref() {
            None | Some("") => Ok(None),
            Some(raw) => Phase::parse(raw)
                .filter(|phase| *phase != Phase::New)
                .map(Some)
                .ok_or_else(|| invalid_query("phase", "not a phase")),
        }
    }

    fn programme(&self) -> Result<Option<ProgrammeId>, ApiError> {
        match self.programme.as_deref() {
            None | Some("") => Ok(None),
            Some(raw) => ProgrammeId::parse(raw)
                .map(Some)
                .map_err(|e| invalid_query("programme", e.to_string())),
        }
    }
}

fn page(after: Option<projections::Cursor>) -> PageRequest {
    PageRequest {
        after,
        limit: MAX_LIMIT as usize,
    }
}

/// Every case of the caller's tenancy that `filter` admits (at most [`MAX_ROWS`]), and
/// whether there were more.
async fn all_cases(
    state: &AppState,
    tenancy: &Tenancy,
    filter: &CaseFilter,
) -> Result<(Vec<CaseOverview>, bool), ApiError> {
    let mut cases = Vec::new();
    let mut after = None;
    loop {
        let next = state
            .projections
            .read_models()
            .case_overviews(tenancy, filter, &page(after), state.clock.today())
            .await?;
        cases.extend(next.items);
        match next.next {
            Some(cursor) if cases.len() < MAX_ROWS => after = Some(cursor),
            Some(_) => return Ok((cases, true)),
            None => return Ok((cases, false)),
        }
    }
}

/// Unit names by case id, for rows that carry only the case id.
async fn unit_names(
    state: &AppState,
    tenancy: &Tenancy,
) -> Result<BTreeMap<Uuid, String>, ApiError> {
    let (cases, _) = all_cases(state, tenancy, &CaseFilter::default()).await?;
    Ok(cases
        .iter()
        .map(|case| (*case.case_id.as_uuid(), case.unit_name.to_string()))
        .collect())
}

fn unit<'a>(names: &'a BTreeMap<Uuid, String>, case_id: &Uuid) -> &'a str {
    names.get(case_id).map_or("—", String::as_str)
}

/// The programme's name in the embedded catalogues, else its id.
fn programme_name(state: &AppState, programme: &str) -> String {
    state
        .catalogues
        .all()
        .iter()
        .find(|c| c.programme.as_str() == programme)
        .map_or_else(|| programme.to_owned(), |c| c.programme_name.clone())
}

/// A view: its heading, its body, and a note when rows were left out.
fn view(id: &str, title: &str, lang: Lang, more: bool, body: &Markup) -> HttpResponse {
    html_response(&html! {
        section.view data-view=(id) aria-labelledby="view-title" {
            h1 #view-title tabindex="-1" { (title) }
            @if more {
                p.note { (lang.pick(
                    "Visar de första raderna; filtrera för att se resten.",
                    "Showing the first rows; filter to see the rest."
                )) }
            }
            (body)
        }
    })
}

fn empty(lang: Lang) -> Markup {
    html! { p.empty { (lang.pick("Inget att visa.", "Nothing to show.")) } }
}

fn yes_no(lang: Lang, value: bool) -> &'static str {
    if value {
        lang.pick("Ja", "Yes")
    } else {
        lang.pick("Nej", "No")
    }
}

#[expect(clippy::cast_precision_loss, reason = "counts and days far below 2^52")]
fn float(value: i64) -> f64 {
    value as f64
}

// ---------------------------------------------------------------------------------------
// The pipeline

/// `GET /dashboard/views/pipeline`: per region and programme, cases by phase and the median
/// days per phase (`/v1/pipeline`), and each case's lead time against the programme's target
/// (`/v1/cases`).
async fn pipeline(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    query: web::Query<ViewQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = query.lang()?;
    let tenancy = authz::tenancy(&auth.principal);
    let rows: Vec<PipelineRowView> = state
        .projections
        .read_models()
        .pipeline(&tenancy, query.programme()?.as_ref())
        .await?
        .iter()
        .map(PipelineRowView::from)
        .collect();
    let (cases, more) = all_cases(&state, &tenancy, &CaseFilter::default()).await?;
    let cases: Vec<CaseSummaryView> = cases.iter().map(CaseSummaryView::from).collect();
    let mut groups: BTreeMap<(&str, &str), Vec<&PipelineRowView>> = BTreeMap::new();
    for row in &rows {
        groups
            .entry((row.region.as_str(), row.programme.as_str()))
            .or_default()
            .push(row);
    }
    let t = |sv: &'static str, en: &'static str| lang.pick(sv, en);
    let body = html! {
        @if groups.is_empty() { (empty(lang)) }
        @for (n, ((region, programme), rows)) in groups.iter().enumerate() {
            @let leads: Vec<&CaseSummaryView> = cases.iter().filter(|c| c.programme == *programme).collect();
            article.programme aria-labelledby={ "programme-" (n) } {
                h2 id={ "programme-" (n) } { (programme_name(&state, programme)) " " span.muted { "(" (region) ")" } }
                div.charts {
                    figure {
                        figcaption { (t("Ärenden per fas", "Cases by phase")) }
                        (chart::bars(&format!("phases-{n}"), t("Ärenden per fas", "Cases by phase"), &rows.iter().map(|row| Bar {
                            label: i18n::phase(lang, &row.phase).to_owned(),
                            value: float(i64::try_from(row.cases).unwrap_or(i64::MAX)),
                            text: row.cases.to_string(),
                            class: "bar",
                            marker: None,
                        }).collect::<Vec<_>>()))
                    }
                    figure {
                        figcaption { (t("Mediantid per fas (dagar, avslutade vistelser)", "Median days per phase (completed stays)")) }
                        (chart::bars(&format!("median-{n}"), t("Mediantid per fas", "Median days per phase"), &rows.iter().map(|row| Bar {
                            label: i18n::phase(lang, &row.phase).to_owned(),
                            value: row.median_days.unwrap_or(0.0),
                            text: row.median_days.map_or_else(|| "—".to_owned(), |d| format!("{d:.1}")),
                            class: "bar alt",
                            marker: None,
                        }).collect::<Vec<_>>()))
                    }
                }
                table {
                    caption { (t("Flödet i siffror", "The pipeline in numbers")) }
                    thead { tr {
                        th scope="col" { (t("Fas", "Phase")) }
                        th scope="col" { (t("Ärenden nu", "Cases now")) }
                        th scope="col" { (t("Avslutade vistelser", "Completed stays")) }
                        th scope="col" { (t("Mediantid (dagar)", "Median (days)")) }
                    } }
                    tbody {
                        @for row in rows {
                            tr {
                                th scope="row" { (i18n::phase(lang, &row.phase)) }
                                td.num { (row.cases) }
                                td.num { (row.completed_stays) }
                                td.num { (row.median_days.map_or_else(|| "—".to_owned(), |d| format!("{d:.1}"))) }
                            }
                        }
                    }
                }
                h3 { (t("Ledtid mot programmets mål", "Lead time against the programme's target")) }
                @if leads.is_empty() { (empty(lang)) } @else {
                    (chart::bars(&format!("lead-{n}"), t("Ledtid per ärende (dagar); strecket är målet", "Lead time per case (days); the line is the target"), &leads.iter().map(|case| Bar {
                        label: case.unit_name.clone(),
                        value: float(case.lead_time.days),
                        text: match case.lead_time.target_days {
                            Some(target) => format!("{} / {target} d", case.lead_time.days),
                            None => format!("{} d", case.lead_time.days),
                        },
                        class: if case.lead_time.beyond_target { "bar bad" } else { "bar ok" },
                        marker: case.lead_time.target_days.map(float),
                    }).collect::<Vec<_>>()))
                    table {
                        caption { (t("Ledtid per ärende", "Lead time per case")) }
                        thead { tr {
                            th scope="col" { (t("Enhet", "Unit")) }
                            th scope="col" { (t("Fas", "Phase")) }
                            th scope="col" { (t("Dagar", "Days")) }
                            th scope="col" { (t("Mål (dagar)", "Target (days)")) }
                            th scope="col" { (t("Över målet", "Beyond target")) }
                        } }
                        tbody {
                            @for case in &leads {
                                tr {
                                    th scope="row" { (case.unit_name) }
                                    td { (i18n::phase(lang, &case.phase)) }
                                    td.num { (case.lead_time.days) }
                                    td.num { (case.lead_time.target_days.map_or_else(|| "—".to_owned(), |d| d.to_string())) }
                                    td { (yes_no(lang, case.lead_time.beyond_target)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(view(
        "pipeline",
        t(
            "Flödet per region och program",
            "The pipeline per region and programme",
        ),
        lang,
        more,
        &body,
    ))
}

// ---------------------------------------------------------------------------------------
// The cases

/// `GET /dashboard/views/cases?phase=&programme=`: the cases with their blockers, flags and
/// next step (`/v1/cases`), filterable; each links to its history.
async fn cases(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    query: web::Query<ViewQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = query.lang()?;
    let phase = query.phase()?;
    let programme = query.programme()?;
    let tenancy = authz::tenancy(&auth.principal);
    let filter = CaseFilter {
        programme: programme.clone(),
        phase,
        provider_org: None,
    };
    let (cases, more) = all_cases(&state, &tenancy, &filter).await?;
    let region = auth.principal.region();
    let programmes: Vec<(String, String)> = {
        let mut all: Vec<(String, String)> = state
            .catalogues
            .all()
            .iter()
            .filter(|c| &c.region == region)
            .map(|c| (c.programme.to_string(), c.programme_name.clone()))
            .collect();
        all.dedup_by(|a, b| a.0 == b.0);
        all
    };
    let t = |sv: &'static str, en: &'static str| lang.pick(sv, en);
    let body = html! {
        form.filters data-view="cases" aria-label=(t("Filtrera ärenden", "Filter cases")) {
            div.field {
                label for="f-phase" { (t("Fas", "Phase")) }
                select #f-phase name="phase" {
                    option value="" { (t("Alla", "All")) }
                    @for p in Phase::ALL.iter().filter(|p| **p != Phase::New) {
                        option value=(p.as_str()) selected[phase == Some(*p)] { (i18n::phase(lang, p.as_str())) }
                    }
                }
            }
            div.field {
                label for="f-programme" { (t("Program", "Programme")) }
                select #f-programme name="programme" {
                    option value="" { (t("Alla", "All")) }
                    @for (id, name) in &programmes {
                        option value=(id) selected[programme.as_ref().is_some_and(|p| p.as_str() == id)] { (name) }
                    }
                }
            }
            button type="submit" { (t("Filtrera", "Filter")) }
        }
        @if cases.is_empty() { (empty(lang)) } @else {
            table.cases {
                caption { (t("Ärenden: ", "Cases: ")) (cases.len()) }
                thead { tr {
                    th scope="col" { (t("Enhet", "Unit")) }
                    th scope="col" { (t("Organisation", "Organisation")) }
                    th scope="col" { (t("Program", "Programme")) }
                    th scope="col" { (t("Fas", "Phase")) }
                    th scope="col" { (t("Hinder", "Blockers")) }
                    th scope="col" { (t("Flaggor", "Flags")) }
                    th scope="col" { (t("Nästa steg", "Next step")) }
                    th scope="col" { (t("Ledtid (dagar)", "Lead time (days)")) }
                } }
                tbody {
                    @for case in &cases {
                        @let summary = CaseSummaryView::from(case);
                        @let flags: Vec<FlagView> = case.flags.iter().map(FlagView::from).collect();
                        tr data-case=(summary.case_id) {
                            th scope="row" {
                                a href={ "#/cases/" (summary.case_id) "/history" } { (summary.unit_name) }
                            }
                            td { (summary.provider_org) }
                            td { (programme_name(&state, &summary.programme)) }
                            td { (i18n::phase(lang, &summary.phase)) }
                            td { @if summary.blockers.is_empty() { "—" } @else {
                                ul.compact { @for b in &summary.blockers { li { (b.message) } } }
                            } }
                            td { @if flags.is_empty() { "—" } @else {
                                ul.compact { @for f in &flags { li.flag { (f.message) } } }
                            } }
                            td { (i18n::next_step(lang, &summary.phase, summary.blockers.first().map(|b| b.message.as_str()))) }
                            td.num {
                                (summary.lead_time.days)
                                @if let Some(target) = summary.lead_time.target_days { " / " (target) }
                                @if summary.lead_time.beyond_target { " " span.badge.bad { (t("över målet", "beyond target")) } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(view("cases", t("Ärenden", "Cases"), lang, more, &body))
}

/// `GET /dashboard/views/cases/{case_id}/history`: the case's events as
/// `/v1/cases/{case_id}/history` shows them, with each one's actor and reason.
async fn history(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    case_id: web::Path<Uuid>,
    query: web::Query<ViewQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = query.lang()?;
    let case_id = CaseId::from_uuid(case_id.into_inner());
    let (events, more) =
        crate::routes::history::case_events(&state, &auth.principal, case_id, HISTORY_EVENTS)
            .await?;
    let unit = state
        .projections
        .read_models()
        .case_overview(
            &authz::tenancy(&auth.principal),
            case_id,
            state.clock.today(),
        )
        .await?
        .map(|case| case.unit_name.to_string());
    let t = |sv: &'static str, en: &'static str| lang.pick(sv, en);
    let body = html! {
        p { a href="#/cases" { "← " (t("Alla ärenden", "All cases")) } }
        table.history data-case=(case_id) {
            caption { (t("Händelser, äldst först", "Events, oldest first")) }
            thead { tr {
                th scope="col" { "#" }
                th scope="col" { (t("Tid (UTC)", "When (UTC)")) }
                th scope="col" { (t("Händelse", "Event")) }
                th scope="col" { (t("Aktör", "Actor")) }
                th scope="col" { (t("Skäl", "Reason")) }
                th scope="col" { (t("Innehåll", "Content")) }
            } }
            tbody {
                @for event in &events {
                    tr {
                        td.num { (event.version) }
                        td { time datetime=(event.at.to_rfc3339()) { (event.at.format("%Y-%m-%d %H:%M")) } }
                        th scope="row" { (event.event_type) }
                        td { @if let Some(actor) = &event.actor {
                            (actor.subject) br; span.muted { (actor.role) @if let Some(org) = &actor.provider_org { ", " (org) } }
                        } @else { "—" } }
                        td { (event.reason.as_deref().unwrap_or("—")) }
                        td { details {
                            summary { (t("Visa", "Show")) }
                            pre { (serde_json::to_string_pretty(&event.data).unwrap_or_default()) }
                        } }
                    }
                }
            }
        }
    };
    let title = format!(
        "{}: {}",
        t("Historik", "History"),
        unit.as_deref().unwrap_or("—")
    );
    Ok(view("history", &title, lang, more, &body))
}

// ---------------------------------------------------------------------------------------
// Findings

/// `GET /dashboard/views/findings`: open demands and recommendations by age (`/v1/findings`
/// with `open=true`), oldest first.
async fn findings(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    query: web::Query<ViewQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = query.lang()?;
    let tenancy = authz::tenancy(&auth.principal);
    let page = state
        .projections
        .read_models()
        .findings(
            &tenancy,
            &FindingFilter {
                case_id: None,
                kind: None,
                open: Some(true),
            },
            &page(None),
            state.clock.today(),
        )
        .await?;
    let names = unit_names(&state, &tenancy).await?;
    let mut rows: Vec<FindingRowView> = page.items.iter().map(FindingRowView::from).collect();
    rows.sort_by(|a, b| b.age_days.cmp(&a.age_days).then(a.number.cmp(&b.number)));
    let t = |sv: &'static str, en: &'static str| lang.pick(sv, en);
    let body = html! {
        @if rows.is_empty() { (empty(lang)) } @else {
            (chart::bars("finding-age", t("Öppna brister efter ålder (dagar)", "Open findings by age (days)"), &rows.iter().map(|row| Bar {
                label: format!("{} #{}", unit(&names, &row.case_id), row.number),
                value: float(row.age_days),
                text: format!("{} d", row.age_days),
                class: if row.overdue { "bar bad" } else if row.kind == "demand" { "bar warn" } else { "bar" },
                marker: None,
            }).collect::<Vec<_>>()))
            table {
                caption { (t("Öppna brister: ", "Open findings: ")) (rows.len()) }
                thead { tr {
                    th scope="col" { (t("Enhet", "Unit")) }
                    th scope="col" { "#" }
                    th scope="col" { (t("Typ", "Kind")) }
                    th scope="col" { (t("Krav", "Requirement")) }
                    th scope="col" { (t("Beskrivning", "Description")) }
                    th scope="col" { (t("Förfaller", "Due")) }
                    th scope="col" { (t("Ålder (dagar)", "Age (days)")) }
                    th scope="col" { (t("Försenad", "Overdue")) }
                } }
                tbody {
                    @for row in &rows {
                        tr {
                            th scope="row" { a href={ "#/cases/" (row.case_id) "/history" } { (unit(&names, &row.case_id)) } }
                            td.num { (row.number) }
                            td { (i18n::finding_kind(lang, &row.kind)) }
                            td { (row.requirement.as_deref().unwrap_or("—")) }
                            td { (row.description) }
                            td { (row.due.map_or_else(|| "—".to_owned(), |d| d.to_string())) }
                            td.num { (row.age_days) }
                            td { @if row.overdue { span.badge.bad { (yes_no(lang, true)) } } @else { (yes_no(lang, false)) } }
                        }
                    }
                }
            }
        }
    };
    Ok(view(
        "findings",
        t(
            "Öppna brister och krav efter ålder",
            "Open findings and demands by age",
        ),
        lang,
        page.next.is_some(),
        &body,
    ))
}

// ---------------------------------------------------------------------------------------
// Incidents

fn duration(lang: Lang, seconds: Option<i64>) -> String {
    match seconds {
        None => lang.pick("ej bedömd", "not assessed").to_owned(),
        Some(s) => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// `GET /dashboard/views/incidents`: incidents by severity (`/v1/incidents/summary`) and each
/// incident, open first, with its time to assessment (`/v1/incidents`).
async fn incidents(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    query: web::Query<ViewQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = query.lang()?;
    let tenancy = authz::tenancy(&auth.principal);
    let read_models = state.projections.read_models();
    let summary: Vec<IncidentSummaryRowView> = read_models
        .incident_summary(&tenancy)
        .await?
        .iter()
        .map(IncidentSummaryRowView::from)
        .collect();
    let page = read_models
        .incidents(&tenancy, &IncidentFilter::default(), &page(None))
        .await?;
    let names = unit_names(&state, &tenancy).await?;
    let mut rows: Vec<IncidentRowView> = page.items.iter().map(IncidentRowView::from).collect();
    rows.sort_by(|a, b| b.open.cmp(&a.open).then(b.reported_at.cmp(&a.reported_at)));
    let now = state.clock.now();
    // A personal-data breach's notification clock (GDPR art. 33(1)), as the incident's own
    // view computes it: due 72 hours after detection.
    let breach_due = |row: &IncidentRowView| {
        row.personal_data_breach.then(|| {
            row.detected_at + chrono::Duration::hours(domain::incident::BREACH_NOTIFICATION_HOURS)
        })
    };
    let t = |sv: &'static str, en: &'static str| lang.pick(sv, en);
    let body = html! {
        div.charts {
            figure {
                figcaption { (t("Öppna incidenter per allvarlighetsgrad", "Open incidents by severity")) }
                (chart::bars("incidents-open", t("Öppna incidenter per allvarlighetsgrad", "Open incidents by severity"), &summary.iter().map(|row| Bar {
                    label: i18n::severity(lang, &row.severity).to_owned(),
                    value: float(i64::try_from(row.open).unwrap_or(i64::MAX)),
                    text: row.open.to_string(),
                    class: if row.severity == "high" || row.severity == "critical" { "bar bad" } else { "bar warn" },
                    marker: None,
                }).collect::<Vec<_>>()))
            }
        }
        table {
            caption { (t("Per allvarlighetsgrad", "By severity")) }
            thead { tr {
                th scope="col" { (t("Allvarlighetsgrad", "Severity")) }
                th scope="col" { (t("Öppna", "Open")) }
                th scope="col" { (t("Stängda", "Closed")) }
                th scope="col" { (t("Bedömda", "Assessed")) }
                th scope="col" { (t("Mediantid till bedömning (timmar)", "Median hours to assessment")) }
            } }
            tbody {
                @for row in &summary {
                    tr {
                        th scope="row" { (i18n::severity(lang, &row.severity)) }
                        td.num { (row.open) }
                        td.num { (row.closed) }
                        td.num { (row.assessed) }
                        td.num { (row.median_hours_to_assessment.map_or_else(|| "—".to_owned(), |h| format!("{h:.1}"))) }
                    }
                }
            }
        }
        @if rows.is_empty() { (empty(lang)) } @else {
            table {
                caption { (t("Incidenter: ", "Incidents: ")) (rows.len()) }
                thead { tr {
                    th scope="col" { (t("Sammanfattning", "Summary")) }
                    th scope="col" { (t("Enhet", "Unit")) }
                    th scope="col" { (t("Allvarlighetsgrad", "Severity")) }
                    th scope="col" { (t("Status", "Status")) }
                    th scope="col" { (t("Rapporterad (UTC)", "Reported (UTC)")) }
                    th scope="col" { (t("Tid till bedömning", "Time to assessment")) }
                    th scope="col" { (t("Personuppgiftsincident: anmälan inom 72 h (UTC)", "Personal-data breach: notice within 72 h (UTC)")) }
                } }
                tbody {
                    @for row in &rows {
                        tr {
                            th scope="row" { (row.summary) }
                            td { a href={ "#/cases/" (row.case_id) "/history" } { (unit(&names, &row.case_id)) } }
                            td {
                                (i18n::severity(lang, &row.severity))
                                @if row.assessed_severity.is_some() && row.assessed_severity.as_deref() != Some(row.reported_severity.as_str()) {
                                    " " span.muted { "(" (t("rapporterad", "reported")) " " (i18n::severity(lang, &row.reported_severity)) ")" }
                                }
                            }
                            td { (row.status) @if row.open { " " span.badge.warn { (t("öppen", "open")) } } }
                            td { time datetime=(row.reported_at.to_rfc3339()) { (row.reported_at.format("%Y-%m-%d %H:%M")) } }
                            td { (duration(lang, row.seconds_to_assessment)) }
                            td {
                                @match (breach_due(row), row.breach_notified_at) {
                                    (None, _) => { "—" }
                                    (Some(due), Some(notified)) => {
                                        (t("anmäld ", "notified ")) time datetime=(notified.to_rfc3339()) { (notified.format("%Y-%m-%d %H:%M")) }
                                        @if notified > due { " " span.badge.bad { (t("för sent", "late")) } }
                                    }
                                    (Some(due), None) => {
                                        (t("senast ", "due ")) time datetime=(due.to_rfc3339()) { (due.format("%Y-%m-%d %H:%M")) }
                                        @if now > due { " " span.badge.bad { (t("försenad", "overdue")) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(view(
        "incidents",
        t("Säkerhetsincidenter", "Security incidents"),
        lang,
        page.next.is_some(),
        &body,
    ))
}

// ---------------------------------------------------------------------------------------
// The compliance matrix

/// A cell's state: its class, symbol and words.
fn cell_state(lang: Lang, cell: &ComplianceCellView) -> (&'static str, &'static str, &'static str) {
    if !cell.open_findings.is_empty() {
        ("c-finding", "!", lang.pick("öppen brist", "open finding"))
    } else if cell.verified {
        ("c-verified", "✓", lang.pick("verifierad", "verified"))
    } else if cell.deviation.as_ref().is_some_and(|d| d.in_force) {
        ("c-deviation", "~", lang.pick("avvikelse", "deviation"))
    } else {
        match cell.compliance.as_deref() {
            Some("complies") => (
                "c-answered",
                "○",
                lang.pick("uppfylls enligt egendeklaration", "complies, as declared"),
            ),
            Some("not_applicable") => ("c-na", "–", lang.pick("ej tillämplig", "not applicable")),
            Some(_) => ("c-gap", "✗", lang.pick("uppfylls inte", "does not comply")),
            None => ("c-none", "·", lang.pick("ej besvarad", "not answered")),
        }
    }
}

/// One programme's matrix: its requirements in order, and per case its cells by requirement.
type Matrix<'a> = (
    Vec<&'a str>,
    BTreeMap<Uuid, BTreeMap<&'a str, &'a ComplianceCellView>>,
);

/// `GET /dashboard/views/compliance`: the compliance matrix (`/v1/compliance`) as a heat map
/// per programme: a row per case, a column per requirement.
async fn compliance(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    query: web::Query<ViewQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = query.lang()?;
    let tenancy = authz::tenancy(&auth.principal);
    let mut cells: Vec<ComplianceCellView> = Vec::new();
    let mut after = None;
    let more = loop {
        let next = state
            .projections
            .read_models()
            .compliance_matrix(
                &tenancy,
                &ComplianceFilter::default(),
                &page(after),
                state.clock.today(),
            )
            .await?;
        cells.extend(next.items.iter().map(ComplianceCellView::from));
        match next.next {
            Some(cursor) if cells.len() < MAX_ROWS => after = Some(cursor),
            Some(_) => break true,
            None => break false,
        }
    };
    let names = unit_names(&state, &tenancy).await?;
    // programme → (requirements in order, case → requirement → cell)
    let mut programmes: BTreeMap<&str, Matrix<'_>> = BTreeMap::new();
    for cell in &cells {
        let (requirements, rows) = programmes.entry(cell.programme.as_str()).or_default();
        if !requirements.contains(&cell.requirement.as_str()) {
            requirements.push(cell.requirement.as_str());
        }
        rows.entry(cell.case_id)
            .or_default()
            .insert(cell.requirement.as_str(), cell);
    }
    let t = |sv: &'static str, en: &'static str| lang.pick(sv, en);
    let legend = [
        ("c-verified", "✓", t("verifierad", "verified")),
        (
            "c-answered",
            "○",
            t("uppfylls enligt egendeklaration", "complies, as declared"),
        ),
        ("c-deviation", "~", t("avvikelse", "deviation")),
        ("c-na", "–", t("ej tillämplig", "not applicable")),
        ("c-gap", "✗", t("uppfylls inte", "does not comply")),
        ("c-finding", "!", t("öppen brist", "open finding")),
        ("c-none", "·", t("ej besvarad", "not answered")),
    ];
    let body = html! {
        ul.legend aria-label=(t("Förklaring", "Legend")) {
            @for (class, symbol, words) in legend {
                li { span class={ "swatch " (class) } aria-hidden="true" { (symbol) } " " (words) }
            }
        }
        @if programmes.is_empty() { (empty(lang)) }
        @for (programme, (requirements, rows)) in &programmes {
            h2 { (programme_name(&state, programme)) }
            div.scroll tabindex="0" role="region" aria-label=(programme_name(&state, programme)) {
                table.heatmap {
                    caption { (t("Krav per ärende", "Requirements per case")) }
                    thead { tr {
                        th scope="col" { (t("Enhet", "Unit")) }
                        @for requirement in requirements { th scope="col" { span.req { (requirement) } } }
                    } }
                    tbody {
                        @for (case_id, row) in rows {
                            tr {
                                th scope="row" { (unit(&names, case_id)) }
                                @for requirement in requirements {
                                    @if let Some(cell) = row.get(requirement) {
                                        @let (class, symbol, words) = cell_state(lang, cell);
                                        td class=(class) title={ (requirement) ": " (cell.summary) " — " (words) } {
                                            span aria-hidden="true" { (symbol) }
                                            span.sr { (requirement) ": " (words) }
                                        }
                                    } @else {
                                        td {}
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(view(
        "compliance",
        t("Efterlevnadsmatris", "Compliance matrix"),
        lang,
        more,
        &body,
    ))
}

// ---------------------------------------------------------------------------------------
// Staff commitments

/// `GET /dashboard/views/staff`: the users whose commitments are missing
/// (`/v1/staff-commitments?missing=true`), names and HSA-ids as the caller's role may see them.
async fn staff(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    query: web::Query<ViewQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = query.lang()?;
    let tenancy = authz::tenancy(&auth.principal);
    let page = state
        .projections
        .read_models()
        .staff_commitments(
            &tenancy,
            &StaffFilter {
                case_id: None,
                complete: Some(false),
            },
            &page(None),
        )
        .await?;
    let names = unit_names(&state, &tenancy).await?;
    let role = auth.principal.role();
    let rows: Vec<StaffCommitmentView> = page
        .items
        .iter()
        .map(|row| StaffCommitmentView::of(row, role, Outlet::ReadModelJson))
        .collect();
    let t = |sv: &'static str, en: &'static str| lang.pick(sv, en);
    let hidden = t("dold för din roll", "withheld from your role");
    let body = html! {
        @if rows.is_empty() { (empty(lang)) } @else {
            table {
                caption { (t("Användare med saknade förbindelser: ", "Users with missing commitments: ")) (rows.len()) }
                thead { tr {
                    th scope="col" { (t("Enhet", "Unit")) }
                    th scope="col" { (t("Namn", "Name")) }
                    th scope="col" { (t("HSA-id", "HSA-id")) }
                    th scope="col" { (t("Pseudonym", "Pseudonym")) }
                    th scope="col" { (t("Undertecknat", "Signed")) }
                    th scope="col" { (t("Saknas", "Missing")) }
                } }
                tbody {
                    @for row in &rows {
                        tr {
                            th scope="row" { a href={ "#/cases/" (row.case_id) "/history" } { (unit(&names, &row.case_id)) } }
                            td { @match &row.person.name { Some(name) => (name), None => span.muted { (hidden) } } }
                            td { @match &row.person.hsa_id { Some(hsa) => (hsa), None => span.muted { (hidden) } } }
                            td { code { (row.person.subject) } }
                            td { @if row.signed.is_empty() { "—" } @else {
                                ul.compact { @for s in &row.signed { li { (i18n::commitment(lang, &s.kind)) " " span.muted { (s.signed_on) } } } }
                            } }
                            td { ul.compact { @for m in &row.missing { li { span.badge.bad { (i18n::commitment(lang, m)) } } } } }
                        }
                    }
                }
            }
        }
    };
    Ok(view(
        "staff",
        t("Saknade personalförbindelser", "Staff commitments missing"),
        lang,
        page.next.is_some(),
        &body,
    ))
}

// ---------------------------------------------------------------------------------------
// Costs

/// Öre as kronor, e.g. `12 345,67 kr` or `SEK 12,345.67`.
fn kronor(lang: Lang, ore: i64) -> String {
    let sign = if ore < 0 { "-" } else { "" };
    let ore = ore.unsigned_abs();
    let whole = (ore / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push_str(lang.pick("\u{a0}", ","));
        }
        grouped.push(digit);
    }
    match lang {
        Lang::Sv => format!("{sign}{grouped},{:02}\u{a0}kr", ore % 100),
        Lang::En => format!("{sign}SEK\u{a0}{grouped}.{:02}", ore % 100),
    }
}

/// `GET /dashboard/views/costs`: each case's estimated costs (`/v1/costs`), for the
/// programmes with prices (Jämtland's Hälsoval).
async fn costs(
    auth: Authorized<authz::Read>,
    state: web::Data<AppState>,
    query: web::Query<ViewQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = query.lang()?;
    let tenancy = authz::tenancy(&auth.principal);
    let page = state
        .projections
        .read_models()
        .costs(
            &tenancy,
            &CostFilter {
                case_id: None,
                programme: query.programme()?,
                phase: None,
            },
            &page(None),
            state.clock.today(),
        )
        .await?;
    let rows: Vec<CostView> = page
        .items
        .iter()
        .map(CostView::from)
        .filter(|row| !row.lines.is_empty())
        .collect();
    let t = |sv: &'static str, en: &'static str| lang.pick(sv, en);
    let total: i64 = rows.iter().map(|row| row.yearly_ore).sum();
    let body = html! {
        p { (t(
            "Uppskattade kostnader per ärende enligt programmets priser i dag (exklusive moms). Endast program med prislista visas (Jämtland Härjedalen).",
            "Estimated costs per case from the programme's prices in force today (excluding VAT). Only programmes with a price list are shown (Jämtland Härjedalen)."
        )) }
        @if rows.is_empty() { (empty(lang)) } @else {
            (chart::bars("costs-yearly", t("Kostnad per år och ärende (kr)", "Yearly cost per case (SEK)"), &rows.iter().map(|row| Bar {
                label: row.unit_name.clone(),
                value: float(row.yearly_ore) / 100.0,
                text: kronor(lang, row.yearly_ore),
                class: "bar",
                marker: None,
            }).collect::<Vec<_>>()))
            p.total { (t("Summa per år: ", "Total per year: ")) strong { (kronor(lang, total)) } }
            @for row in &rows {
                table.costs {
                    caption {
                        (row.unit_name) " — " (programme_name(&state, &row.programme)) ", " (i18n::phase(lang, &row.phase))
                        @if row.approximate { " " span.badge.warn { (t("ungefärlig", "approximate")) } }
                    }
                    thead { tr {
                        th scope="col" { (t("Post", "Item")) }
                        th scope="col" { (t("Antal", "Quantity")) }
                        th scope="col" { (t("Pris från", "Price from")) }
                        th scope="col" { (t("Per månad", "Per month")) }
                        th scope="col" { (t("Per år", "Per year")) }
                    } }
                    tbody {
                        @for line in &row.lines {
                            tr {
                                th scope="row" { (line.description) }
                                td.num { (line.quantity) }
                                td { (line.price_from) }
                                td.num { (kronor(lang, line.monthly_ore)) }
                                td.num { (kronor(lang, line.yearly_ore)) }
                            }
                        }
                    }
                    tfoot { tr {
                        th scope="row" colspan="3" { (t("Summa", "Total")) }
                        td.num { (kronor(lang, row.monthly_ore)) }
                        td.num { (kronor(lang, row.yearly_ore)) }
                    } }
                }
            }
        }
    };
    Ok(view(
        "costs",
        t("Kostnader", "Costs"),
        lang,
        page.next.is_some(),
        &body,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kronor_are_grouped_in_either_language() {
        assert_eq!(
            kronor(Lang::Sv, 123_456_789),
            "1\u{a0}234\u{a0}567,89\u{a0}kr"
        );
        assert_eq!(kronor(Lang::En, 123_456_789), "SEK\u{a0}1,234,567.89");
        assert_eq!(kronor(Lang::Sv, 5), "0,05\u{a0}kr");
        assert_eq!(kronor(Lang::En, -100_000), "-SEK\u{a0}1,000.00");
    }
}
