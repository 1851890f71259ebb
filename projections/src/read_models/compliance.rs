//! `compliance_matrix`: one row per case and requirement of the catalogue version the case is
//! held to — the provider's answer, the version it was answered under, whether the region
//! verified it, and any agreed deviation.
//!
//! Rows follow attestation: attesting to a newer version replaces the answers to added and
//! changed requirements and drops the rows of removed ones, as the aggregate does.
//!
//! **Verified** means: the requirement is one the catalogue says is shown by verification
//! (`evidence = verified`), the final verification was approved *after* the answer now on
//! record was given, and no finding on the requirement is open. A requirement shown by
//! declaration, document or training is never "verified" here; an answer replaced by an
//! attestation after the approval is not verified until a verification approves it again
//! (today only the final verification does).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use domain::case::{Answer, CaseChange, Compliance, DeclarationStatus, deviation_in_force};
use domain::catalogue::{CatalogueRef, CatalogueRegistry, Category, Evidence, Level};
use domain::identity::OrgNumber;
use domain::ids::{CaseId, ProgrammeId, RegionId, RequirementId};
use domain::text::Reason;
use serde::{Deserialize, Serialize};

use super::{
    Owner, Page, PageRequest, ReadModels, Tabular, Tenancy, case_partition, doc, opt, owner,
};
use crate::error::ProjectionError;
use crate::event::{DomainEvent, Envelope};
use crate::model::{Cell, Column, Context, ReadModel, Row};
use crate::name::ProjectionName;
use crate::sql::{Filter, Record};

/// An agreed deviation from a must-requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deviation {
    pub reason: Reason,
    /// It lapses after this date, when temporary.
    pub valid_until: Option<NaiveDate>,
    pub agreed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Answered {
    answer: Answer,
    catalogue_version: u32,
    answered_at: DateTime<Utc>,
    position: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FindingOn {
    requirement: Option<RequirementId>,
    open: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ComplianceState {
    owner: Option<Owner>,
    held: Option<CatalogueRef>,
    declaration: DeclarationStatus,
    answers: BTreeMap<RequirementId, Answered>,
    deviations: BTreeMap<RequirementId, Deviation>,
    findings: BTreeMap<u32, FindingOn>,
    /// The position and time of the final verification's approval.
    approved: Option<(u64, DateTime<Utc>)>,
}

/// One cell of the matrix as stored: what the case said and what the region did. The
/// requirement's own text is not copied into every row; queries take it from the catalogue
/// (`programme`, `catalogue_version` and `requirement` are typed columns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredCell {
    answer: Option<Answer>,
    answered_under: Option<u32>,
    answered_at: Option<DateTime<Utc>>,
    declaration: DeclarationStatus,
    open_findings: Vec<u32>,
    deviation: Option<Deviation>,
}

/// One cell of the matrix: a case's standing on one requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComplianceCell {
    pub case_id: CaseId,
    pub region: RegionId,
    pub provider_org: OrgNumber,
    pub programme: ProgrammeId,
    pub requirement: RequirementId,
    pub section: String,
    pub summary: String,
    pub category: Category,
    pub level: Level,
    pub evidence: Evidence,
    /// The catalogue version the case is held to.
    pub catalogue_version: u32,
    pub answer: Option<Answer>,
    /// The catalogue version the answer was given under.
    pub answered_under: Option<u32>,
    pub answered_at: Option<DateTime<Utc>>,
    pub declaration: DeclarationStatus,
    pub verified: bool,
    /// Findings on this requirement not yet resolved.
    pub open_findings: Vec<u32>,
    pub deviation: Option<Deviation>,
}

pub(crate) struct ComplianceModel;

const fn compliance_str(compliance: Compliance) -> &'static str {
    match compliance {
        Compliance::Complies => "complies",
        Compliance::DoesNotComply => "does_not_comply",
        Compliance::NotApplicable => "not_applicable",
    }
}

impl ReadModel for ComplianceModel {
    const NAME: ProjectionName = ProjectionName::ComplianceMatrix;
    const SCHEMA_VERSION: u32 = 1;
    const COLUMNS: &'static [Column] = &[
        Column::text("region", false),
        Column::text("provider_org", true),
        Column::text("case_id", false),
        Column::text("programme", false),
        Column::int("catalogue_version", false),
        Column::text("requirement", false),
        Column::text("compliance", false),
        Column::int("verified", false),
    ];
    const STREAMS: &'static [&'static str] = super::CASES;
    type State = ComplianceState;

    fn partition(event: &Envelope) -> Option<String> {
        case_partition(event)
    }

    fn apply(state: &mut ComplianceState, event: &Envelope, _: Context<'_>) -> Result<(), String> {
        let DomainEvent::Case(case_event) = &event.event else {
            return Ok(());
        };
        let at = case_event.at;
        let position = event.position.get();
        match &case_event.change {
            CaseChange::ApplicationSubmitted(e) => {
                state.owner = Some(Owner {
                    case_id: e.case_id,
                    region: e.region.clone(),
                    provider_org: e.org_number.clone(),
                    programme: e.programme.clone(),
                });
            }
            CaseChange::ContractSigned(e) => {
                owner(state.owner.as_ref())?;
                state.held = Some(e.catalogue.clone());
            }
            CaseChange::SelfDeclarationSubmitted(e) => {
                state.declaration = DeclarationStatus::Submitted;
                state.answers = e
                    .answers
                    .iter()
                    .map(|a| {
                        let answered = Answered {
                            answer: a.clone(),
                            catalogue_version: e.catalogue.version,
                            answered_at: at,
                            position,
                        };
                        (a.requirement.clone(), answered)
                    })
                    .collect();
            }
            CaseChange::SelfDeclarationAccepted(_) => {
                state.declaration = DeclarationStatus::Accepted;
            }
            CaseChange::SelfDeclarationReturned(_) => {
                state.declaration = DeclarationStatus::Returned;
            }
            CaseChange::DeviationAgreed(e) => {
                state.deviations.insert(
                    e.requirement.clone(),
                    Deviation {
                        reason: e.reason.clone(),
                        valid_until: e.valid_until,
                        agreed_at: at,
                    },
                );
            }
            CaseChange::FindingRecorded(e) => {
                state.findings.insert(
                    e.finding.get(),
                    FindingOn {
                        requirement: e.requirement.clone(),
                        open: true,
                    },
                );
            }
            CaseChange::FindingResolved(e) => {
                state
                    .findings
                    .get_mut(&e.finding.get())
                    .ok_or_else(|| {
                        format!("finding {} was resolved but never recorded", e.finding)
                    })?
                    .open = false;
            }
            CaseChange::FinalVerificationApproved(_) => state.approved = Some((position, at)),
            CaseChange::CatalogueVersionAttested(e) => {
                for removed in &e.removed {
                    state.answers.remove(removed);
                }
                for answer in &e.answers {
                    state.answers.insert(
                        answer.requirement.clone(),
                        Answered {
                            answer: answer.clone(),
                            catalogue_version: e.to.version,
                            answered_at: at,
                            position,
                        },
                    );
                }
                state.held = Some(e.to.clone());
            }
            _ => {}
        }
        Ok(())
    }

    fn rows(state: &ComplianceState, ctx: Context<'_>) -> Result<Vec<Row>, String> {
        let (Some(owner), Some(held)) = (&state.owner, &state.held) else {
            return Ok(Vec::new());
        };
        let catalogue = ctx
            .catalogues
            .get(&held.programme, held.version)
            .ok_or_else(|| format!("catalogue {held} is not compiled into this binary"))?;
        catalogue
            .requirements
            .iter()
            .map(|requirement| {
                let answered = state.answers.get(&requirement.id);
                let open_findings: Vec<u32> = state
                    .findings
                    .iter()
                    .filter(|(_, f)| f.open && f.requirement.as_ref() == Some(&requirement.id))
                    .map(|(no, _)| *no)
                    .collect();
                let verified = requirement.evidence == Evidence::Verified
                    && answered.is_some_and(|a| {
                        state
                            .approved
                            .is_some_and(|(approved, _)| a.position < approved)
                    })
                    && open_findings.is_empty();
                let cell = StoredCell {
                    answer: answered.map(|a| a.answer.clone()),
                    answered_under: answered.map(|a| a.catalogue_version),
                    answered_at: answered.map(|a| a.answered_at),
                    declaration: state.declaration,
                    open_findings,
                    deviation: state.deviations.get(&requirement.id).cloned(),
                };
                Row::new(
                    format!("{}/{}", owner.case_id, requirement.id),
                    vec![
                        Cell::text(&owner.region),
                        Cell::text(&owner.provider_org),
                        Cell::text(owner.case_id),
                        Cell::text(&owner.programme),
                        Cell::Int(i64::from(held.version)),
                        Cell::text(&requirement.id),
                        Cell::opt_text(answered.map(|a| compliance_str(a.answer.compliance))),
                        Cell::flag(verified),
                    ],
                    &cell,
                )
            })
            .collect()
    }
}

/// One cell of the matrix, with whether its deviation is in force on the day asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComplianceRow {
    #[serde(flatten)]
    pub cell: ComplianceCell,
    pub deviation_in_force: bool,
}

impl Tabular for ComplianceRow {
    const HEADERS: &'static [&'static str] = &[
        "case_id",
        "requirement",
        "section",
        "level",
        "evidence",
        "catalogue_version",
        "compliance",
        "description",
        "evidence_refs",
        "answered_under",
        "verified",
        "open_findings",
        "deviation_valid_until",
        "deviation_in_force",
    ];

    fn cells(&self) -> Vec<String> {
        let c = &self.cell;
        let answer = c.answer.as_ref();
        vec![
            c.case_id.to_string(),
            c.requirement.to_string(),
            c.section.clone(),
            match c.level {
                Level::Must => "must".to_owned(),
                Level::Should => "should".to_owned(),
            },
            serde_json::to_value(c.evidence)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            c.catalogue_version.to_string(),
            opt(answer.map(|a| compliance_str(a.compliance))),
            opt(answer.and_then(|a| a.description.as_ref())),
            answer
                .map(|a| {
                    a.evidence
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default(),
            opt(c.answered_under),
            c.verified.to_string(),
            c.open_findings
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            opt(c.deviation.as_ref().and_then(|d| d.valid_until)),
            self.deviation_in_force.to_string(),
        ]
    }
}

/// Narrows the matrix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComplianceFilter {
    pub case_id: Option<CaseId>,
    pub requirement: Option<RequirementId>,
    pub verified: Option<bool>,
}

impl ReadModels {
    /// The matrix in (case, requirement) order; deviations judged for `today`.
    pub async fn compliance_matrix(
        &self,
        tenancy: &Tenancy,
        filter: &ComplianceFilter,
        page: &PageRequest,
        today: NaiveDate,
    ) -> Result<Page<ComplianceRow>, ProjectionError> {
        let mut filters = Vec::new();
        if let Some(case) = filter.case_id {
            filters.push(Filter::KeyPrefix(format!("{case}/")));
        }
        if let Some(requirement) = &filter.requirement {
            filters.push(Filter::eq("requirement", Cell::text(requirement)));
        }
        if let Some(verified) = filter.verified {
            filters.push(Filter::eq("verified", Cell::flag(verified)));
        }
        let catalogues = self.shared.catalogues.clone();
        self.page(
            ProjectionName::ComplianceMatrix,
            tenancy,
            filters,
            page,
            false,
            |record| {
                let stored: StoredCell = doc(ProjectionName::ComplianceMatrix, &record)?;
                let cell = cell(&catalogues, &record, stored)?;
                Ok(ComplianceRow {
                    deviation_in_force: cell
                        .deviation
                        .as_ref()
                        .is_some_and(|d| deviation_in_force(d.valid_until, today)),
                    cell,
                })
            },
        )
        .await
    }
}

/// A stored cell with its row's typed columns and the requirement's text from the catalogue.
fn cell(
    catalogues: &CatalogueRegistry,
    record: &Record,
    stored: StoredCell,
) -> Result<ComplianceCell, ProjectionError> {
    let corrupt = |what: &str| {
        ProjectionError::Corrupt(format!("compliance_matrix row {}: {what}", record.key))
    };
    let text = |i: usize| {
        record.cells[i]
            .as_text()
            .ok_or_else(|| corrupt("a missing column"))
    };
    let case_id = CaseId::parse(text(2)?).map_err(|_| corrupt("case id"))?;
    let programme = ProgrammeId::parse(text(3)?).map_err(|_| corrupt("programme"))?;
    let version = record.cells[4]
        .as_int()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| corrupt("catalogue version"))?;
    let id = RequirementId::parse(text(5)?).map_err(|_| corrupt("requirement"))?;
    let requirement = catalogues
        .get(&programme, version)
        .and_then(|c| c.requirement(&id))
        .ok_or_else(|| corrupt("the requirement is not in this binary's catalogues"))?;
    Ok(ComplianceCell {
        case_id,
        region: RegionId::parse(text(0)?).map_err(|_| corrupt("region"))?,
        provider_org: OrgNumber::parse(text(1)?).map_err(|_| corrupt("provider org"))?,
        programme,
        section: requirement.section.clone(),
        summary: requirement.summary.clone(),
        category: requirement.category,
        level: requirement.level,
        evidence: requirement.evidence,
        catalogue_version: version,
        verified: record.cells[7].as_int() == Some(1),
        requirement: id,
        answer: stored.answer,
        answered_under: stored.answered_under,
        answered_at: stored.answered_at,
        declaration: stored.declaration,
        open_findings: stored.open_findings,
        deviation: stored.deviation,
    })
}
