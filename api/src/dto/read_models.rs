//! What the read-model endpoints take and show: the query of each list (filters, paging,
//! `min_position`), and the views built from the `projections` crate's rows. CSV exports are
//! the rows' own `Tabular` form (none holds personal data), except the staff list's, which is
//! its per-role view's; these views are the JSON form.

use chrono::{DateTime, NaiveDate, Utc};
use domain::case::{FindingKind, Phase, VerificationContext};
use domain::disclosure::{Outlet, redact};
use domain::incident::Severity;
use domain::personal::PII_KEY;
use domain::{Personal, Role};
use projections::Tabular;
use projections::read_models::case_overview::{CaseOverview, CostBasisFacts, Milestones};
use projections::read_models::compliance::ComplianceRow;
use projections::read_models::costs::CostRow;
use projections::read_models::findings::FindingRow;
use projections::read_models::incidents::{IncidentRow, IncidentSummary};
use projections::read_models::pipeline::PipelineRow;
use projections::read_models::staff::{StaffCommitmentRow, StaffListing};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::code_of;
use super::views::{AgreementView, CatalogueRefView, MilestoneView};
use crate::problem::UnmetCondition;

/// What a list's `cursor` is, as the spec's `pattern`: lowercase hexadecimal of the printable
/// ASCII key of the last row of the previous page (every row key is a UUID, slug, number or
/// requirement id joined by `/`). The server refuses any other cursor ([`is_cursor`]), so a
/// cursor the schema admits is one a list could have handed out, and the page after it is
/// well defined even when no such row exists.
pub const CURSOR_PATTERN: &str = "^([2-6][0-9a-f]|7[0-9a-e])+$";

/// The longest cursor accepted: a row key of up to 256 characters.
pub const MAX_CURSOR_LEN: usize = 512;

/// Whether `raw` is a cursor by [`CURSOR_PATTERN`] and [`MAX_CURSOR_LEN`].
pub fn is_cursor(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_CURSOR_LEN
        && bytes.len().is_multiple_of(2)
        && bytes.chunks(2).all(|pair| match pair {
            [b'2'..=b'6', low] => low.is_ascii_digit() || (b'a'..=b'f').contains(low),
            [b'7', low] => low.is_ascii_digit() || (b'a'..=b'e').contains(low),
            _ => false,
        })
}

/// The items a list page holds unless `limit` says otherwise.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most items one list page holds.
pub const MAX_LIMIT: u32 = 500;

/// A phase of a case: as a filter, and as views show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhaseParam {
    Application,
    Approved,
    Establishment,
    FinalVerification,
    Live,
    Suspended,
    Ended,
    Rejected,
}

impl From<PhaseParam> for Phase {
    fn from(phase: PhaseParam) -> Self {
        match phase {
            PhaseParam::Application => Self::Application,
            PhaseParam::Approved => Self::Approved,
            PhaseParam::Establishment => Self::Establishment,
            PhaseParam::FinalVerification => Self::FinalVerification,
            PhaseParam::Live => Self::Live,
            PhaseParam::Suspended => Self::Suspended,
            PhaseParam::Ended => Self::Ended,
            PhaseParam::Rejected => Self::Rejected,
        }
    }
}

/// A kind of finding: as a filter, and as views show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingKindParam {
    Demand,
    Recommendation,
}

impl From<FindingKindParam> for FindingKind {
    fn from(kind: FindingKindParam) -> Self {
        match kind {
            FindingKindParam::Demand => Self::Demand,
            FindingKindParam::Recommendation => Self::Recommendation,
        }
    }
}

/// A severity: as a filter, and as views show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeverityParam {
    Low,
    Medium,
    High,
    Critical,
}

impl From<SeverityParam> for Severity {
    fn from(severity: SeverityParam) -> Self {
        match severity {
            SeverityParam::Low => Self::Low,
            SeverityParam::Medium => Self::Medium,
            SeverityParam::High => Self::High,
            SeverityParam::Critical => Self::Critical,
        }
    }
}

/// `GET /v1/cases`: filters, paging and read-your-writes.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CaseListQuery {
    /// Only cases of this programme.
    #[param(
        example = "jamtland-halsoval",
        pattern = "^[a-z0-9]+(-[a-z0-9]+)*$",
        max_length = 64
    )]
    pub programme: Option<String>,
    /// Only cases in this phase now.
    #[param(inline, example = "establishment")]
    pub phase: Option<PhaseParam>,
    /// Only cases of this region. Every caller sees only its own region's cases, so another
    /// region gives an empty list.
    #[param(
        example = "jamtland-harjedalen",
        pattern = "^[a-z0-9]+(-[a-z0-9]+)*$",
        max_length = 64
    )]
    pub region: Option<String>,
    /// At most this many cases, 1 to 500; 50 by default.
    #[param(example = 50, minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Where the page starts: the `next_cursor` of the previous page.
    #[param(
        example = "30313936613363322d346631652d376333612d396232642d356538663161326233633465",
        pattern = "^([2-6][0-9a-f]|7[0-9a-e])+$",
        max_length = 512
    )]
    pub cursor: Option<String>,
    /// Read your writes: the global `position` a command answered; the read waits (5 s by
    /// default) until the read model has projected it, else 503 `projection_lagging`.
    #[param(example = 1287)]
    pub min_position: Option<u64>,
}

/// `GET /v1/cases/{case_id}/overview` and `GET /v1/pipeline`, `GET /v1/incidents/summary`:
/// read-your-writes only.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// Read your writes: the global `position` a command answered; the read waits (5 s by
    /// default) until the read model has projected it, else 503 `projection_lagging`.
    #[param(example = 1287)]
    pub min_position: Option<u64>,
}

/// `GET /v1/pipeline`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PipelineQuery {
    /// Only this programme of the caller's region.
    #[param(
        example = "jamtland-halsoval",
        pattern = "^[a-z0-9]+(-[a-z0-9]+)*$",
        max_length = 64
    )]
    pub programme: Option<String>,
    /// Read your writes: the global `position` a command answered; the read waits (5 s by
    /// default) until the read model has projected it, else 503 `projection_lagging`.
    #[param(example = 1287)]
    pub min_position: Option<u64>,
}

/// `GET /v1/findings`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindingListQuery {
    /// Only this case's findings.
    #[param(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub case_id: Option<Uuid>,
    /// Only demands, or only recommendations.
    #[param(inline, example = "demand")]
    pub kind: Option<FindingKindParam>,
    /// `true`: only open findings; `false`: only resolved ones.
    #[param(example = true)]
    pub open: Option<bool>,
    /// At most this many findings, 1 to 500; 50 by default.
    #[param(example = 50, minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Where the page starts: the `next_cursor` of the previous page.
    #[param(pattern = "^([2-6][0-9a-f]|7[0-9a-e])+$", max_length = 512)]
    pub cursor: Option<String>,
    /// Read your writes (see `GET /v1/cases`).
    #[param(example = 1287)]
    pub min_position: Option<u64>,
}

/// `GET /v1/incidents`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentListQuery {
    /// Only incidents reported against this case.
    #[param(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub case_id: Option<Uuid>,
    /// `true`: only incidents not closed; `false`: only closed ones.
    #[param(example = true)]
    pub open: Option<bool>,
    /// Only incidents of this severity: the assessed one, or the reported one before
    /// assessment.
    #[param(inline, example = "high")]
    pub severity: Option<SeverityParam>,
    /// At most this many incidents, 1 to 500; 50 by default.
    #[param(example = 50, minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Where the page starts: the `next_cursor` of the previous page.
    #[param(pattern = "^([2-6][0-9a-f]|7[0-9a-e])+$", max_length = 512)]
    pub cursor: Option<String>,
    /// Read your writes (see `GET /v1/cases`).
    #[param(example = 1290)]
    pub min_position: Option<u64>,
}

/// `GET /v1/compliance`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ComplianceQuery {
    /// Only this case's row of the matrix (one cell per requirement of the catalogue version
    /// it is held to); all cases when absent.
    #[param(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub case_id: Option<Uuid>,
    /// Only this requirement's cells.
    #[param(example = "JHV-030", pattern = "^[A-Z][A-Z0-9.-]*$", max_length = 32)]
    pub requirement: Option<String>,
    /// `true`: only cells the region has verified; `false`: only the others.
    #[param(example = false)]
    pub verified: Option<bool>,
    /// At most this many cells, 1 to 500; 50 by default.
    #[param(example = 100, minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Where the page starts: the `next_cursor` of the previous page.
    #[param(pattern = "^([2-6][0-9a-f]|7[0-9a-e])+$", max_length = 512)]
    pub cursor: Option<String>,
    /// Read your writes (see `GET /v1/cases`).
    #[param(example = 1287)]
    pub min_position: Option<u64>,
}

/// `GET /v1/staff-commitments`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StaffQuery {
    /// Only this case's staff.
    #[param(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub case_id: Option<Uuid>,
    /// `true`: only users who have not signed both commitments; `false`: only those who
    /// have.
    #[param(example = true)]
    pub missing: Option<bool>,
    /// At most this many users, 1 to 500; 50 by default.
    #[param(example = 50, minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Where the page starts: the `next_cursor` of the previous page.
    #[param(pattern = "^([2-6][0-9a-f]|7[0-9a-e])+$", max_length = 512)]
    pub cursor: Option<String>,
    /// Read your writes (see `GET /v1/cases`).
    #[param(example = 1287)]
    pub min_position: Option<u64>,
}

/// `GET /v1/costs`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CostQuery {
    /// Only this case's estimate.
    #[param(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub case_id: Option<Uuid>,
    /// Only cases of this programme.
    #[param(
        example = "jamtland-halsoval",
        pattern = "^[a-z0-9]+(-[a-z0-9]+)*$",
        max_length = 64
    )]
    pub programme: Option<String>,
    /// The day whose prices apply; today by default.
    #[param(example = "2025-06-01")]
    pub on: Option<NaiveDate>,
    /// At most this many cases, 1 to 500; 50 by default.
    #[param(example = 50, minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Where the page starts: the `next_cursor` of the previous page.
    #[param(pattern = "^([2-6][0-9a-f]|7[0-9a-e])+$", max_length = 512)]
    pub cursor: Option<String>,
    /// Read your writes (see `GET /v1/cases`).
    #[param(example = 1287)]
    pub min_position: Option<u64>,
}

/// Declares a page of a list: its items and the cursor of the next page.
macro_rules! pages {
    ($($(#[$doc:meta])* $page:ident of $item:ty;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Serialize, ToSchema)]
            pub struct $page {
                pub items: Vec<$item>,
                /// The next page's `cursor` (also in the `Link` header, `rel="next"`); `null`
                /// on the last page.
                #[schema(
                    example = "30313936613363322d346631652d376333612d396232642d356538663161326233633465",
                    pattern = "^([2-6][0-9a-f]|7[0-9a-e])+$",
                    max_length = 512
                )]
                pub next_cursor: Option<String>,
            }
        )*
    };
}

pages! {
    /// A page of cases, in case id order.
    CasePage of CaseSummaryView;
    /// A page of findings, by case and number.
    FindingPage of FindingRowView;
    /// A page of incidents, in incident id order.
    IncidentPage of IncidentRowView;
    /// A page of the compliance matrix, by case and requirement.
    CompliancePage of ComplianceCellView;
    /// A page of staff commitments, by case and HSA-id.
    StaffPage of StaffCommitmentView;
    /// A page of cost estimates, in case id order.
    CostPage of CostView;
}

/// Lead time against the programme's target: days from application to go-live (or, until
/// then, to the end of the case or to today).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LeadTimeView {
    #[schema(example = "2026-02-16")]
    pub applied_on: NaiveDate,
    #[schema(example = "2026-09-01")]
    pub requested_go_live: NaiveDate,
    /// The programme's lead time in months, where its catalogue states one.
    #[schema(example = 3)]
    pub target_months: Option<u32>,
    /// `minimum` (an earlier go-live is refused) or `approximate`.
    #[schema(example = "minimum")]
    pub kind: Option<String>,
    /// The earliest go-live the lead time allows, counted from the application.
    #[schema(example = "2026-05-16")]
    pub target_date: Option<NaiveDate>,
    #[schema(example = 89)]
    pub target_days: Option<i64>,
    #[schema(example = json!(null))]
    pub went_live_on: Option<NaiveDate>,
    /// Days from the application to go-live, to the end of the case, or to today.
    #[schema(example = 96)]
    pub days: i64,
    /// More days have passed than the target allows.
    #[schema(example = true)]
    pub beyond_target: bool,
}

/// A case as lists show it: where it stands and what blocks it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseSummaryView {
    #[schema(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub case_id: Uuid,
    #[schema(example = "jamtland-harjedalen")]
    pub region: String,
    #[schema(example = "556677-8899")]
    pub provider_org: String,
    #[schema(example = "jamtland-halsoval")]
    pub programme: String,
    #[schema(example = "Östersundshälsan Vårdcentral")]
    pub unit_name: String,
    #[schema(value_type = PhaseParam, example = "final_verification")]
    pub phase: String,
    #[schema(example = "2026-02-16")]
    pub applied_on: NaiveDate,
    /// What still blocks go-live, for cases on their way to it; empty otherwise.
    pub blockers: Vec<UnmetCondition>,
    /// The catalogue version the case is held to (from contract signing on).
    pub catalogue_held: Option<CatalogueRefView>,
    /// The version of the programme's catalogue in force today.
    #[schema(example = 1)]
    pub catalogue_in_force: Option<u32>,
    /// A newer catalogue version than the one held is in force and the case must attest to
    /// it.
    #[schema(example = false)]
    pub attestation_due: bool,
    pub lead_time: LeadTimeView,
    /// When the case's last event was decided.
    #[schema(example = "2026-05-12T09:41:07.120331Z")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<&CaseOverview> for CaseSummaryView {
    fn from(case: &CaseOverview) -> Self {
        let lead = &case.lead_time;
        Self {
            case_id: *case.case_id.as_uuid(),
            region: case.region.to_string(),
            provider_org: case.provider_org.to_string(),
            programme: case.programme.to_string(),
            unit_name: case.unit_name.to_string(),
            phase: case.phase.as_str().to_owned(),
            applied_on: lead.applied_on,
            blockers: case.blockers.iter().map(UnmetCondition::from).collect(),
            catalogue_held: case.catalogue_held.as_ref().map(|held| CatalogueRefView {
                programme: held.programme.to_string(),
                version: held.version,
                digest: held.digest.clone(),
            }),
            catalogue_in_force: case.catalogue_in_force,
            attestation_due: case.attestation_due,
            lead_time: LeadTimeView {
                applied_on: lead.applied_on,
                requested_go_live: lead.requested_go_live,
                target_months: lead.target_months,
                kind: lead.kind.as_ref().map(code_of),
                target_date: lead.target_date,
                target_days: lead.target_days,
                went_live_on: lead.went_live_on,
                days: lead.days,
                beyond_target: lead.beyond_target,
            },
            updated_at: case.updated_at,
        }
    }
}

/// When the case entered a phase.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PhaseEntryView {
    #[schema(value_type = PhaseParam, example = "establishment")]
    pub phase: String,
    #[schema(example = "2026-03-02T09:14:03.501220Z")]
    pub entered_at: DateTime<Utc>,
}

/// One final verification round.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerificationRoundView {
    #[schema(example = 1)]
    pub round: u32,
    #[schema(example = "2026-05-12")]
    pub scheduled_for: NaiveDate,
    #[schema(example = json!(null))]
    pub decided_at: Option<DateTime<Utc>>,
    /// `pending`, `approved` or `failed`.
    #[schema(example = "pending")]
    pub outcome: String,
}

/// An attestation to a newer catalogue version.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttestationView {
    #[schema(example = 1)]
    pub from_version: u32,
    #[schema(example = 2)]
    pub to_version: u32,
    #[schema(example = "2027-01-10T10:00:00Z")]
    pub at: DateTime<Utc>,
}

/// How the connection ended.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EndingView {
    /// `contract_ended`, `provider_replaced` or `withdrawn`.
    #[schema(example = "provider_replaced")]
    pub kind: String,
    /// The successor's organisationsnummer, for `provider_replaced` when known.
    #[schema(example = "559123-4561")]
    pub successor: Option<String>,
}

/// The date of every milestone of a case: dates the events state (signed on, completed on)
/// are dates; decisions without one are the instants they were recorded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MilestonesView {
    #[schema(example = "2026-02-16")]
    pub applied_on: Option<NaiveDate>,
    #[schema(example = "2026-02-18T13:40:55.884002Z")]
    pub approved_at: Option<DateTime<Utc>>,
    #[schema(example = json!(null))]
    pub rejected_at: Option<DateTime<Utc>>,
    #[schema(example = "2026-03-02")]
    pub contract_signed_on: Option<NaiveDate>,
    pub agreements: Vec<AgreementView>,
    /// Every submission of the self-declaration.
    #[schema(example = json!(["2026-03-20T08:00:00Z"]))]
    pub declaration_submitted_at: Vec<DateTime<Utc>>,
    /// Every return of it for completion.
    #[schema(example = json!([]))]
    pub declaration_returned_at: Vec<DateTime<Utc>>,
    #[schema(example = "2026-03-27T14:05:00Z")]
    pub declaration_accepted_at: Option<DateTime<Utc>>,
    /// Technical milestones.
    pub technical: Vec<MilestoneView>,
    #[schema(example = "2026-04-15")]
    pub training_completed_on: Option<NaiveDate>,
    pub verification_rounds: Vec<VerificationRoundView>,
    #[schema(example = json!(null))]
    pub final_contract_signed_on: Option<NaiveDate>,
    #[schema(example = json!(null))]
    pub went_live_on: Option<NaiveDate>,
    #[schema(example = json!([]))]
    pub suspended_at: Vec<DateTime<Utc>>,
    #[schema(example = json!([]))]
    pub resumed_at: Vec<DateTime<Utc>>,
    #[schema(example = json!(null))]
    pub ended_on: Option<NaiveDate>,
    pub ending: Option<EndingView>,
    pub attestations: Vec<AttestationView>,
}

impl From<&Milestones> for MilestonesView {
    fn from(m: &Milestones) -> Self {
        let ending = m.ending.as_ref().map(|ending| {
            let value = serde_json::to_value(ending).unwrap_or_default();
            EndingView {
                kind: value["kind"].as_str().unwrap_or_default().to_owned(),
                successor: value["successor"].as_str().map(str::to_owned),
            }
        });
        Self {
            applied_on: m.applied_on,
            approved_at: m.approved_at,
            rejected_at: m.rejected_at,
            contract_signed_on: m.contract_signed_on,
            agreements: m
                .agreements
                .iter()
                .map(|(agreement, signed_on)| AgreementView {
                    agreement: agreement.to_string(),
                    signed_on: *signed_on,
                })
                .collect(),
            declaration_submitted_at: m.declaration_submitted_at.clone(),
            declaration_returned_at: m.declaration_returned_at.clone(),
            declaration_accepted_at: m.declaration_accepted_at,
            technical: m
                .technical
                .iter()
                .map(|(kind, completed_on)| MilestoneView {
                    milestone: code_of(kind),
                    completed_on: *completed_on,
                })
                .collect(),
            training_completed_on: m.training_completed_on,
            verification_rounds: m
                .verification_rounds
                .iter()
                .map(|r| VerificationRoundView {
                    round: r.round,
                    scheduled_for: r.scheduled_for,
                    decided_at: r.decided_at,
                    outcome: code_of(&r.outcome),
                })
                .collect(),
            final_contract_signed_on: m.final_contract_signed_on,
            went_live_on: m.went_live_on,
            suspended_at: m.suspended_at.clone(),
            resumed_at: m.resumed_at.clone(),
            ended_on: m.ended_on,
            ending,
            attestations: m
                .attestations
                .iter()
                .map(|a| AttestationView {
                    from_version: a.from_version,
                    to_version: a.to_version,
                    at: a.at,
                })
                .collect(),
        }
    }
}

/// What a case's costs are estimated from: what it applied for.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CostBasisView {
    #[schema(example = json!(["stodapplikationer", "vardutbud-bas"]))]
    pub service_packages: Vec<String>,
    #[schema(example = json!([]))]
    pub optional_services: Vec<String>,
    #[schema(example = 12)]
    pub workstations: u32,
    /// Groups of registered workstations (up to 10 workstations each), where the programme
    /// counts them.
    #[schema(example = 2)]
    pub workstation_groups: Option<u32>,
    #[schema(example = 4200)]
    pub listed_patients: Option<u32>,
}

impl From<&CostBasisFacts> for CostBasisView {
    fn from(basis: &CostBasisFacts) -> Self {
        Self {
            service_packages: basis
                .service_packages
                .iter()
                .map(ToString::to_string)
                .collect(),
            optional_services: basis.optional_services.iter().cloned().collect(),
            workstations: basis.workstations,
            workstation_groups: basis.workstation_groups,
            listed_patients: basis.listed_patients,
        }
    }
}

/// One case from the case-overview read model: its summary, when it entered each phase,
/// the date of every milestone and what its costs are estimated from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseOverviewView {
    #[serde(flatten)]
    pub summary: CaseSummaryView,
    pub phase_history: Vec<PhaseEntryView>,
    pub milestones: MilestonesView,
    pub cost_basis: CostBasisView,
}

impl From<&CaseOverview> for CaseOverviewView {
    fn from(case: &CaseOverview) -> Self {
        Self {
            summary: CaseSummaryView::from(case),
            phase_history: case
                .phase_history
                .iter()
                .map(|entry| PhaseEntryView {
                    phase: entry.phase.as_str().to_owned(),
                    entered_at: entry.entered_at,
                })
                .collect(),
            milestones: MilestonesView::from(&case.milestones),
            cost_basis: CostBasisView::from(&case.cost_basis),
        }
    }
}

/// Cases in one phase of one programme of the caller's region.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PipelineRowView {
    #[schema(example = "jamtland-harjedalen")]
    pub region: String,
    #[schema(example = "jamtland-halsoval")]
    pub programme: String,
    #[schema(value_type = PhaseParam, example = "establishment")]
    pub phase: String,
    /// Cases in this phase now.
    #[schema(example = 4)]
    pub cases: u64,
    /// Stays in this phase that have ended: what the median is over.
    #[schema(example = 11)]
    pub completed_stays: u64,
    /// The median of the completed stays, in days (two decimals); `null` without any.
    #[schema(example = 23.5)]
    pub median_days: Option<f64>,
}

impl From<&PipelineRow> for PipelineRowView {
    fn from(row: &PipelineRow) -> Self {
        Self {
            region: row.region.to_string(),
            programme: row.programme.to_string(),
            phase: row.phase.as_str().to_owned(),
            cases: row.cases,
            completed_stays: row.completed_stays,
            median_days: row.median_days,
        }
    }
}

/// The pipeline: per programme of the caller's region, every phase a case can be in after
/// applying, in lifecycle order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PipelineView {
    pub items: Vec<PipelineRowView>,
}

/// A finding of a verification, with its age on the day asked about.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FindingRowView {
    #[schema(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub case_id: Uuid,
    #[schema(example = "556677-8899")]
    pub provider_org: String,
    #[schema(example = "jamtland-halsoval")]
    pub programme: String,
    /// The finding's number within its case.
    #[schema(example = 1)]
    pub number: u32,
    /// `demand` (must be done; blocks while open) or `recommendation`.
    #[schema(value_type = FindingKindParam, example = "demand")]
    pub kind: String,
    /// `final_verification` or `on_site`.
    #[schema(example = "final_verification")]
    pub context: String,
    /// The final verification round, for `final_verification`.
    #[schema(example = 1)]
    pub round: Option<u32>,
    #[schema(example = "JHV-030")]
    pub requirement: Option<String>,
    #[schema(example = "The network cabinet in the corridor is not locked.")]
    pub description: String,
    #[schema(example = "2026-06-01")]
    pub due: Option<NaiveDate>,
    #[schema(example = "2026-05-12T10:02:00Z")]
    pub recorded_at: DateTime<Utc>,
    #[schema(example = json!(null))]
    pub resolved_at: Option<DateTime<Utc>>,
    #[schema(example = json!(null))]
    pub resolution: Option<String>,
    #[schema(example = true)]
    pub open: bool,
    /// Days from recording to resolution, or to today while open.
    #[schema(example = 9)]
    pub age_days: i64,
    /// Open past its due date.
    #[schema(example = false)]
    pub overdue: bool,
}

impl From<&FindingRow> for FindingRowView {
    fn from(row: &FindingRow) -> Self {
        let f = &row.finding;
        let (context, round) = match f.context {
            VerificationContext::FinalVerification { round } => {
                ("final_verification".to_owned(), Some(round))
            }
            VerificationContext::OnSite => ("on_site".to_owned(), None),
        };
        Self {
            case_id: *f.case_id.as_uuid(),
            provider_org: f.provider_org.to_string(),
            programme: f.programme.to_string(),
            number: f.number,
            kind: code_of(&f.kind),
            context,
            round,
            requirement: f.requirement.as_ref().map(ToString::to_string),
            description: f.description.to_string(),
            due: f.due,
            recorded_at: f.recorded_at,
            resolved_at: f.resolved_at,
            resolution: f.resolution.as_ref().map(ToString::to_string),
            open: row.open,
            age_days: row.age_days,
            overdue: row.overdue,
        }
    }
}

/// A security incident, as reported and as assessed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentRowView {
    #[schema(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4d")]
    pub incident_id: Uuid,
    #[schema(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub case_id: Uuid,
    #[schema(example = "556677-8899")]
    pub provider_org: String,
    /// The case's phase when reported (`ended`: a late report).
    #[schema(example = "live")]
    pub case_phase: String,
    #[schema(example = "Phishing e-mail opened on a reception workstation")]
    pub summary: String,
    /// `reported`, `assessed` or `closed`.
    #[schema(value_type = super::incidents::IncidentStatusDto, example = "assessed")]
    pub status: String,
    #[schema(example = true)]
    pub open: bool,
    /// The assessed severity once there is one, else the reported one.
    #[schema(value_type = SeverityParam, example = "high")]
    pub severity: String,
    #[schema(value_type = SeverityParam, example = "medium")]
    pub reported_severity: String,
    #[schema(value_type = Option<SeverityParam>, example = "high")]
    pub assessed_severity: Option<String>,
    #[schema(example = true)]
    pub region_it_may_be_affected: bool,
    #[schema(example = false)]
    pub region_it_affected: Option<bool>,
    #[schema(example = "2026-05-04T08:30:00Z")]
    pub detected_at: DateTime<Utc>,
    #[schema(example = "2026-05-04T08:10:00Z")]
    pub occurred_at: Option<DateTime<Utc>>,
    #[schema(example = "2026-05-04T09:02:41Z")]
    pub reported_at: DateTime<Utc>,
    #[schema(example = "2026-05-04T13:15:00Z")]
    pub assessed_at: Option<DateTime<Utc>>,
    #[schema(example = json!(null))]
    pub closed_at: Option<DateTime<Utc>>,
    /// Seconds from report to assessment.
    #[schema(example = 15139)]
    pub seconds_to_assessment: Option<i64>,
    /// Actions recorded on it.
    #[schema(example = 1)]
    pub actions: u32,
    /// Reported as a personal-data breach (GDPR art. 33).
    #[schema(example = false)]
    pub personal_data_breach: bool,
    /// When the region acknowledged the report.
    #[schema(example = "2026-05-04T09:10:00Z")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// For a breach: when it was notified to the supervisory authority.
    #[schema(example = json!(null))]
    pub breach_notified_at: Option<DateTime<Utc>>,
}

impl From<&IncidentRow> for IncidentRowView {
    fn from(row: &IncidentRow) -> Self {
        Self {
            incident_id: *row.incident_id.as_uuid(),
            case_id: *row.case_id.as_uuid(),
            provider_org: row.provider_org.to_string(),
            case_phase: row.case_phase.as_str().to_owned(),
            summary: row.summary.to_string(),
            status: code_of(&row.status),
            open: row.is_open(),
            severity: row.severity().as_str().to_owned(),
            reported_severity: row.reported_severity.as_str().to_owned(),
            assessed_severity: row.assessed_severity.map(|s| s.as_str().to_owned()),
            region_it_may_be_affected: row.region_it_may_be_affected,
            region_it_affected: row.region_it_affected,
            detected_at: row.detected_at,
            occurred_at: row.occurred_at,
            reported_at: row.reported_at,
            assessed_at: row.assessed_at,
            closed_at: row.closed_at,
            seconds_to_assessment: row.seconds_to_assessment,
            actions: row.actions,
            personal_data_breach: row.personal_data_breach,
            acknowledged_at: row.acknowledged_at,
            breach_notified_at: row.breach_notified_at,
        }
    }
}

/// Incidents of one severity in the caller's tenancy.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentSummaryRowView {
    #[schema(value_type = SeverityParam, example = "high")]
    pub severity: String,
    #[schema(example = 1)]
    pub open: u64,
    #[schema(example = 3)]
    pub closed: u64,
    /// Assessed incidents: what the median is over.
    #[schema(example = 4)]
    pub assessed: u64,
    /// The median time from report to assessment, in hours (two decimals).
    #[schema(example = 3.75)]
    pub median_hours_to_assessment: Option<f64>,
}

impl From<&IncidentSummary> for IncidentSummaryRowView {
    fn from(row: &IncidentSummary) -> Self {
        Self {
            severity: row.severity.as_str().to_owned(),
            open: row.open,
            closed: row.closed,
            assessed: row.assessed,
            median_hours_to_assessment: row.median_hours_to_assessment,
        }
    }
}

/// Counts by severity, lowest first, and the median time to assessment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentSummaryView {
    pub items: Vec<IncidentSummaryRowView>,
}

/// An agreed deviation from a must-requirement.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviationView {
    #[schema(
        example = "The unit moves to new premises in June; the old server room is accepted until then."
    )]
    pub reason: String,
    /// It lapses after this date, when temporary.
    #[schema(example = "2026-06-30")]
    pub valid_until: Option<NaiveDate>,
    #[schema(example = "2026-03-25T10:00:00Z")]
    pub agreed_at: DateTime<Utc>,
    /// Whether it is in force today.
    #[schema(example = true)]
    pub in_force: bool,
}

/// One cell of the compliance matrix: a case's standing on one requirement of the catalogue
/// version it is held to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComplianceCellView {
    #[schema(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub case_id: Uuid,
    #[schema(example = "556677-8899")]
    pub provider_org: String,
    #[schema(example = "jamtland-halsoval")]
    pub programme: String,
    #[schema(example = "JHV-030")]
    pub requirement: String,
    #[schema(example = "3.4")]
    pub section: String,
    /// The requirement in short, in the catalogue's words.
    #[schema(example = "Utrustning för nätverksanslutning ska vara inlåst.")]
    pub summary: String,
    #[schema(example = "network")]
    pub category: String,
    /// `must` or `should`.
    #[schema(example = "must")]
    pub level: String,
    /// How it is shown: `declared`, `verified`, `signed_document` or `training`.
    #[schema(example = "verified")]
    pub evidence: String,
    /// The catalogue version the case is held to.
    #[schema(example = 1)]
    pub catalogue_version: u32,
    /// The provider's answer: `complies`, `does_not_comply` or `not_applicable`; `null`
    /// before the self-declaration.
    #[schema(example = "complies")]
    pub compliance: Option<String>,
    /// How the provider meets it, or why not.
    #[schema(example = json!(null))]
    pub description: Option<String>,
    /// The provider's references to evidence.
    #[schema(example = json!(["Floor plan 2026-03"]))]
    pub evidence_refs: Vec<String>,
    /// The catalogue version the answer was given under.
    #[schema(example = 1)]
    pub answered_under: Option<u32>,
    #[schema(example = "2026-03-20T08:00:00Z")]
    pub answered_at: Option<DateTime<Utc>>,
    /// The self-declaration's status: `not_submitted`, `submitted`, `returned` or
    /// `accepted`.
    #[schema(example = "accepted")]
    pub declaration: String,
    /// Shown by verification, approved by a final verification after the answer, and no
    /// finding on it open.
    #[schema(example = false)]
    pub verified: bool,
    /// Findings on this requirement not yet resolved.
    #[schema(example = json!([1]))]
    pub open_findings: Vec<u32>,
    pub deviation: Option<DeviationView>,
}

impl From<&ComplianceRow> for ComplianceCellView {
    fn from(row: &ComplianceRow) -> Self {
        let c = &row.cell;
        let answer = c.answer.as_ref();
        Self {
            case_id: *c.case_id.as_uuid(),
            provider_org: c.provider_org.to_string(),
            programme: c.programme.to_string(),
            requirement: c.requirement.to_string(),
            section: c.section.clone(),
            summary: c.summary.clone(),
            category: code_of(&c.category),
            level: code_of(&c.level),
            evidence: code_of(&c.evidence),
            catalogue_version: c.catalogue_version,
            compliance: answer.map(|a| code_of(&a.compliance)),
            description: answer.and_then(|a| a.description.as_ref().map(ToString::to_string)),
            evidence_refs: answer
                .map(|a| a.evidence.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            answered_under: c.answered_under,
            answered_at: c.answered_at,
            declaration: code_of(&c.declaration),
            verified: c.verified,
            open_findings: c.open_findings.clone(),
            deviation: c.deviation.as_ref().map(|d| DeviationView {
                reason: d.reason.to_string(),
                valid_until: d.valid_until,
                agreed_at: d.agreed_at,
                in_force: row.deviation_in_force,
            }),
        }
    }
}

/// A staff member, as personal data, as the caller's role may see it
/// (`domain::disclosure`): the data subject's id always; the name and HSA-id to those who
/// work with the case (never to dashboards); the personnummer never (read models do not even
/// store it).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffPersonView {
    /// The data subject the person's personal data is recorded under.
    #[schema(example = "6f1c9a52-2b8e-5d3a-9c41-0e7b5a3d2f18")]
    pub subject: Uuid,
    /// The name; `null` when erased or not shown to the caller's role.
    #[schema(example = "Per Olsson")]
    pub name: Option<String>,
    /// The HSA-id; `null` when erased or not shown to the caller's role.
    #[schema(example = "SE5566778899-K7Q2")]
    pub hsa_id: Option<String>,
    /// The personal data was erased (the subject was forgotten).
    #[schema(example = false)]
    pub erased: bool,
    /// What the caller's role is not shown (`name`, `hsa_id`).
    #[schema(example = json!([]))]
    pub withheld: Vec<String>,
}

impl StaffPersonView {
    /// The person as `role` may see it in `outlet`: the stored personal object, through the
    /// one redaction every outlet uses.
    fn of(person: &Personal<StaffListing>, role: Role, outlet: Outlet) -> Self {
        let mut shown = serde_json::to_value(person).unwrap_or(Value::Null);
        redact(&mut shown, role, outlet);
        let pii = &shown[PII_KEY];
        let field = |name: &str| pii["value"][name].as_str().map(str::to_owned);
        Self {
            subject: *person.subject().as_uuid(),
            name: field("name"),
            hsa_id: field("hsa_id"),
            erased: person.is_erased(),
            withheld: pii["withheld"]
                .as_array()
                .map(|names| {
                    names
                        .iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// A commitment a staff member signed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignedCommitmentView {
    /// `responsibility_commitment` (ansvarsförbindelse) or `confidentiality_reminder`
    /// (sekretesserinran).
    #[schema(example = "responsibility_commitment")]
    pub kind: String,
    #[schema(example = "2026-03-10")]
    pub signed_on: NaiveDate,
}

/// One user's commitments in one case.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffCommitmentView {
    #[schema(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub case_id: Uuid,
    #[schema(example = "556677-8899")]
    pub provider_org: String,
    pub person: StaffPersonView,
    pub signed: Vec<SignedCommitmentView>,
    /// What the user has not signed yet.
    #[schema(example = json!(["confidentiality_reminder"]))]
    pub missing: Vec<String>,
    #[schema(example = false)]
    pub complete: bool,
    /// The day the user's access starts, for a listed user.
    #[schema(example = "2026-04-01")]
    pub access_from: Option<NaiveDate>,
    /// Listed after go-live: a new hire.
    #[schema(example = false)]
    pub new_hire: bool,
}

impl StaffCommitmentView {
    /// The view for a caller of `role` in `outlet` (JSON or CSV).
    pub fn of(row: &StaffCommitmentRow, role: Role, outlet: Outlet) -> Self {
        Self {
            case_id: *row.case_id.as_uuid(),
            provider_org: row.provider_org.to_string(),
            person: StaffPersonView::of(&row.person, role, outlet),
            signed: row
                .signed
                .iter()
                .map(|(kind, signed_on)| SignedCommitmentView {
                    kind: code_of(kind),
                    signed_on: *signed_on,
                })
                .collect(),
            missing: row.missing.iter().map(code_of).collect(),
            complete: row.is_complete(),
            access_from: row.access_from,
            new_hire: row.new_hire,
        }
    }
}

/// The staff CSV: built from the per-role view, so it shows exactly what the JSON shows.
impl Tabular for StaffCommitmentView {
    const HEADERS: &'static [&'static str] = &[
        "case_id",
        "person_subject",
        "name",
        "hsa_id",
        "responsibility_commitment_signed_on",
        "confidentiality_reminder_signed_on",
        "missing",
    ];

    fn cells(&self) -> Vec<String> {
        let signed = |kind: &str| {
            self.signed
                .iter()
                .find(|s| s.kind == kind)
                .map(|s| s.signed_on.to_string())
                .unwrap_or_default()
        };
        vec![
            self.case_id.to_string(),
            self.person.subject.to_string(),
            self.person.name.clone().unwrap_or_default(),
            self.person.hsa_id.clone().unwrap_or_default(),
            signed("responsibility_commitment"),
            signed("confidentiality_reminder"),
            self.missing.join(" "),
        ]
    }
}

/// One line of a cost estimate.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CostLineView {
    #[schema(example = "helpdesk")]
    pub item: String,
    #[schema(example = "Helpdesk, 1 200 kr/mån/registrerad grupp av klientarbetsplatser")]
    pub description: String,
    /// How the price is counted, e.g. `per_workstation_group_per_month`.
    #[schema(example = "per_workstation_group_per_month")]
    pub unit: String,
    /// Groups, listed patients or units, as the price is counted.
    #[schema(example = 2)]
    pub quantity: u64,
    /// In öre (1/100 SEK), excluding VAT.
    #[schema(example = 120_000)]
    pub unit_price_ore: i64,
    /// The date the price used took effect.
    #[schema(example = "2024-01-01")]
    pub price_from: NaiveDate,
    #[schema(example = 240_000)]
    pub monthly_ore: i64,
    #[schema(example = 2_880_000)]
    pub yearly_ore: i64,
    /// The catalogue gives this price as approximate ("ca").
    #[schema(example = false)]
    pub approximate: bool,
}

/// A case's estimated costs on a date, from the prices of the catalogue it is held to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CostView {
    #[schema(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub case_id: Uuid,
    #[schema(example = "556677-8899")]
    pub provider_org: String,
    #[schema(example = "jamtland-halsoval")]
    pub programme: String,
    #[schema(example = "Östersundshälsan Vårdcentral")]
    pub unit_name: String,
    #[schema(value_type = PhaseParam, example = "establishment")]
    pub phase: String,
    /// The catalogue version whose prices were used; `null` when the programme has none.
    #[schema(example = 1)]
    pub catalogue_version: Option<u32>,
    /// The day whose prices apply.
    #[schema(example = "2026-05-21")]
    pub on: NaiveDate,
    pub basis: CostBasisView,
    pub lines: Vec<CostLineView>,
    /// In öre (1/100 SEK), excluding VAT.
    #[schema(example = 1_126_000)]
    pub monthly_ore: i64,
    #[schema(example = 13_512_000)]
    pub yearly_ore: i64,
    /// Some line's price is approximate.
    #[schema(example = true)]
    pub approximate: bool,
}

impl From<&CostRow> for CostView {
    fn from(row: &CostRow) -> Self {
        let estimate = &row.estimate;
        Self {
            case_id: *row.case_id.as_uuid(),
            provider_org: row.provider_org.to_string(),
            programme: row.programme.to_string(),
            unit_name: row.unit_name.to_string(),
            phase: row.phase.as_str().to_owned(),
            catalogue_version: row.catalogue_version,
            on: estimate.on,
            basis: CostBasisView::from(&row.basis),
            lines: estimate
                .lines
                .iter()
                .map(|line| CostLineView {
                    item: line.item.clone(),
                    description: line.description.clone(),
                    unit: code_of(&line.unit),
                    quantity: line.quantity,
                    unit_price_ore: line.unit_price.get(),
                    price_from: line.price_from,
                    monthly_ore: line.monthly.get(),
                    yearly_ore: line.yearly.get(),
                    approximate: line.approximate,
                })
                .collect(),
            monthly_ore: estimate.monthly.get(),
            yearly_ore: estimate.yearly.get(),
            approximate: estimate.approximate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_admits_exactly_the_cursors_accepted() {
        let pattern = regex::Regex::new(CURSOR_PATTERN).unwrap();
        let issued = hex::encode("0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e/JHV-030");
        let values = [
            issued.clone(),
            "20".to_owned(),
            "7e".to_owned(),
            "7f".to_owned(),
            "1f".to_owned(),
            "00".to_owned(),
            "80".to_owned(),
            "c3a5".to_owned(),
            "4A".to_owned(),
            "4".to_owned(),
            String::new(),
            "zz".to_owned(),
            "41".repeat(256),
            "41".repeat(257),
        ];
        for value in &values {
            assert_eq!(
                pattern.is_match(value) && value.len() <= MAX_CURSOR_LEN,
                is_cursor(value),
                "cursor {value:?}"
            );
        }
        assert!(is_cursor(&issued));
    }
}
