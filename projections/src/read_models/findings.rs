//! `findings`: every demand and recommendation of a verification, open or resolved, by case.
//! Age and overdue are computed for the day asked about.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use domain::case::{CaseChange, FindingKind, VerificationContext};
use domain::identity::OrgNumber;
use domain::ids::{CaseId, ProgrammeId, RegionId, RequirementId};
use domain::text::LongText;
use serde::{Deserialize, Serialize};

use super::{
    Owner, Page, PageRequest, ReadModels, Tabular, Tenancy, case_partition, doc, opt, owner,
};
use crate::error::ProjectionError;
use crate::event::{DomainEvent, Envelope};
use crate::model::{Cell, Column, Context, ReadModel, Row, instant};
use crate::name::ProjectionName;
use crate::sql::Filter;

/// A finding as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingDoc {
    pub case_id: CaseId,
    pub region: RegionId,
    pub provider_org: OrgNumber,
    pub programme: ProgrammeId,
    pub number: u32,
    pub kind: FindingKind,
    pub context: VerificationContext,
    pub requirement: Option<RequirementId>,
    pub description: LongText,
    pub due: Option<NaiveDate>,
    pub recorded_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<LongText>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct FindingsState {
    owner: Option<Owner>,
    findings: BTreeMap<u32, FindingDoc>,
}

pub(crate) struct FindingsModel;

const fn kind_str(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::Demand => "demand",
        FindingKind::Recommendation => "recommendation",
    }
}

impl ReadModel for FindingsModel {
    const NAME: ProjectionName = ProjectionName::Findings;
    const SCHEMA_VERSION: u32 = 1;
    const COLUMNS: &'static [Column] = &[
        Column::text("region", false),
        Column::text("provider_org", true),
        Column::text("case_id", false),
        Column::text("kind", false),
        Column::int("open", false),
        Column::text("recorded_at", false),
    ];
    const STREAMS: &'static [&'static str] = super::CASES;
    type State = FindingsState;

    fn partition(event: &Envelope) -> Option<String> {
        case_partition(event)
    }

    fn apply(state: &mut FindingsState, event: &Envelope, _: Context<'_>) -> Result<(), String> {
        let DomainEvent::Case(case_event) = &event.event else {
            return Ok(());
        };
        match &case_event.change {
            CaseChange::ApplicationSubmitted(e) => {
                state.owner = Some(Owner {
                    case_id: e.case_id,
                    region: e.region.clone(),
                    provider_org: e.org_number.clone(),
                    programme: e.programme.clone(),
                });
            }
            CaseChange::FindingRecorded(e) => {
                let owner = owner(state.owner.as_ref())?.clone();
                state.findings.insert(
                    e.finding.get(),
                    FindingDoc {
                        case_id: owner.case_id,
                        region: owner.region,
                        provider_org: owner.provider_org,
                        programme: owner.programme,
                        number: e.finding.get(),
                        kind: e.kind,
                        context: e.context,
                        requirement: e.requirement.clone(),
                        description: e.description.clone(),
                        due: e.due,
                        recorded_at: case_event.at,
                        resolved_at: None,
                        resolution: None,
                    },
                );
            }
            CaseChange::FindingResolved(e) => {
                let finding = state.findings.get_mut(&e.finding.get()).ok_or_else(|| {
                    format!("finding {} was resolved but never recorded", e.finding)
                })?;
                finding.resolved_at = Some(case_event.at);
                finding.resolution = Some(e.resolution.clone());
            }
            _ => {}
        }
        Ok(())
    }

    fn rows(state: &FindingsState, _: Context<'_>) -> Result<Vec<Row>, String> {
        state
            .findings
            .values()
            .map(|f| {
                Row::new(
                    format!("{}/{:06}", f.case_id, f.number),
                    vec![
                        Cell::text(&f.region),
                        Cell::text(&f.provider_org),
                        Cell::text(f.case_id),
                        Cell::text(kind_str(f.kind)),
                        Cell::flag(f.resolved_at.is_none()),
                        Cell::text(instant(f.recorded_at)),
                    ],
                    f,
                )
            })
            .collect()
    }
}

/// A finding with its age on the day asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingRow {
    #[serde(flatten)]
    pub finding: FindingDoc,
    pub open: bool,
    /// Days from recording to resolution, or to the day asked about while open.
    pub age_days: i64,
    /// Open past its due date.
    pub overdue: bool,
}

impl Tabular for FindingRow {
    const HEADERS: &'static [&'static str] = &[
        "case_id",
        "number",
        "kind",
        "context",
        "requirement",
        "description",
        "due",
        "recorded_at",
        "resolved_at",
        "open",
        "age_days",
        "overdue",
    ];

    fn cells(&self) -> Vec<String> {
        let f = &self.finding;
        vec![
            f.case_id.to_string(),
            f.number.to_string(),
            kind_str(f.kind).to_owned(),
            match f.context {
                VerificationContext::FinalVerification { round } => {
                    format!("final_verification:{round}")
                }
                VerificationContext::OnSite => "on_site".to_owned(),
            },
            opt(f.requirement.as_ref()),
            f.description.to_string(),
            opt(f.due),
            f.recorded_at.to_rfc3339(),
            opt(f.resolved_at.map(|t| t.to_rfc3339())),
            self.open.to_string(),
            self.age_days.to_string(),
            self.overdue.to_string(),
        ]
    }
}

/// Narrows a list of findings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingFilter {
    pub case_id: Option<CaseId>,
    pub kind: Option<FindingKind>,
    /// `Some(true)`: open ones only; `Some(false)`: resolved ones only.
    pub open: Option<bool>,
}

impl ReadModels {
    /// Findings by case and number, with age and overdue for `today`.
    pub async fn findings(
        &self,
        tenancy: &Tenancy,
        filter: &FindingFilter,
        page: &PageRequest,
        today: NaiveDate,
    ) -> Result<Page<FindingRow>, ProjectionError> {
        let mut filters = Vec::new();
        if let Some(case) = filter.case_id {
            filters.push(Filter::KeyPrefix(format!("{case}/")));
        }
        if let Some(kind) = filter.kind {
            filters.push(Filter::eq("kind", Cell::text(kind_str(kind))));
        }
        if let Some(open) = filter.open {
            filters.push(Filter::eq("open", Cell::flag(open)));
        }
        self.page(
            ProjectionName::Findings,
            tenancy,
            filters,
            page,
            false,
            |record| {
                let finding: FindingDoc = doc(ProjectionName::Findings, &record)?;
                let end = finding.resolved_at.map_or(today, |at| at.date_naive());
                Ok(FindingRow {
                    open: finding.resolved_at.is_none(),
                    age_days: (end - finding.recorded_at.date_naive()).num_days(),
                    overdue: finding.resolved_at.is_none()
                        && finding.due.is_some_and(|due| due < today),
                    finding,
                })
            },
        )
        .await
    }
}
