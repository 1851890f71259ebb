//! `case_overview`: one row per case — phase and phase history, the date of every milestone,
//! what still blocks go-live, the catalogue version held to and whether attestation to a
//! newer one is due, lead time against the programme's target, and the cost basis.
//!
//! The state embeds the domain's own [`ConnectionCase`], replayed event by event, so the
//! blockers shown are [`ConnectionCase::blockers`] itself and can never disagree with the
//! aggregate. Blockers, attestation and lead time depend on the day (the catalogue in force
//! before contract signing, a newer version coming into force, days elapsed): they are
//! computed when queried, for the `today` the caller passes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use domain::case::{
    Blocker, CaseChange, ConnectionCase, Ending, Flag, LeadTimeCheck, MilestoneKind, Phase,
    VerificationOutcome,
};
use domain::catalogue::{CatalogueRef, CatalogueRegistry, LeadTimeKind};
use domain::identity::OrgNumber;
use domain::ids::{CaseId, ProgrammeId, RegionId, RequirementId, ServicePackageId};
use domain::text::ShortText;
use serde::{Deserialize, Serialize};

use super::{Page, PageRequest, ReadModels, Tabular, Tenancy, case_partition, doc, opt};
use crate::error::ProjectionError;
use crate::event::{DomainEvent, Envelope};
use crate::model::{Cell, Column, Context, ReadModel, Row, day};
use crate::name::ProjectionName;
use crate::sql::Filter;

/// When the case entered a phase (the time the domain decided the event that moved it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseEntry {
    pub phase: Phase,
    pub entered_at: DateTime<Utc>,
}

/// One final verification round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationRound {
    pub round: u32,
    pub scheduled_for: NaiveDate,
    pub decided_at: Option<DateTime<Utc>>,
    pub outcome: VerificationOutcome,
}

/// An attestation to a newer catalogue version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    pub from_version: u32,
    pub to_version: u32,
    pub at: DateTime<Utc>,
}

/// The date of every milestone of a case. Dates the event states (signed on, completed on)
/// are dates; decisions without one are the instants they were recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestones {
    pub applied_on: Option<NaiveDate>,
    pub approved_at: Option<DateTime<Utc>>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub contract_signed_on: Option<NaiveDate>,
    pub agreements: BTreeMap<RequirementId, NaiveDate>,
    pub declaration_submitted_at: Vec<DateTime<Utc>>,
    pub declaration_returned_at: Vec<DateTime<Utc>>,
    pub declaration_accepted_at: Option<DateTime<Utc>>,
    pub technical: BTreeMap<MilestoneKind, NaiveDate>,
    pub training_completed_on: Option<NaiveDate>,
    pub verification_rounds: Vec<VerificationRound>,
    pub final_contract_signed_on: Option<NaiveDate>,
    pub went_live_on: Option<NaiveDate>,
    pub suspended_at: Vec<DateTime<Utc>>,
    pub resumed_at: Vec<DateTime<Utc>>,
    pub ended_on: Option<NaiveDate>,
    pub ending: Option<Ending>,
    pub attestations: Vec<Attestation>,
}

/// What the case's costs are estimated from (see the `costs` read model).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostBasisFacts {
    pub service_packages: BTreeSet<ServicePackageId>,
    pub optional_services: BTreeSet<String>,
    /// The workstations of the application.
    pub workstations: u32,
    pub workstation_groups: Option<u32>,
    pub listed_patients: Option<u32>,
    /// Later changes: the workstations from each date on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub workstation_changes: BTreeMap<NaiveDate, u32>,
}

impl CostBasisFacts {
    /// The workstations in effect on a day: the latest change by then, or the application's.
    pub fn workstations_on(&self, day: NaiveDate) -> u32 {
        self.workstation_changes
            .range(..=day)
            .next_back()
            .map_or(self.workstations, |(_, count)| *count)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct OverviewState {
    case: ConnectionCase,
    history: Vec<PhaseEntry>,
    milestones: Milestones,
    lead_time: Option<LeadTimeCheck>,
    cost_basis: CostBasisFacts,
    /// The catalogue version in force when the case applied.
    catalogue_at_application: Option<CatalogueRef>,
    events: u64,
    last_event_at: Option<DateTime<Utc>>,
}

pub(crate) struct CaseOverviewModel;

impl ReadModel for CaseOverviewModel {
    const NAME: ProjectionName = ProjectionName::CaseOverview;
    /// 2: the embedded case keys staff commitments by data subject, not HSA-id.
    /// 3: the embedded case follows its programme's process (pinned process, listed staff,
    /// plans, checks, step applicability, the facts' service packages and lead time).
    const SCHEMA_VERSION: u32 = 3;
    const COLUMNS: &'static [Column] = &[
        Column::text("region", false),
        Column::text("provider_org", true),
        Column::text("programme", true),
        Column::text("phase", true),
        Column::text("applied_on", false),
    ];
    const STREAMS: &'static [&'static str] = super::CASES;
    type State = OverviewState;

    fn partition(event: &Envelope) -> Option<String> {
        case_partition(event)
    }

    fn apply(state: &mut OverviewState, event: &Envelope, _: Context<'_>) -> Result<(), String> {
        let DomainEvent::Case(case_event) = &event.event else {
            return Ok(());
        };
        let at = case_event.at;
        let is_application = matches!(case_event.change, CaseChange::ApplicationSubmitted(_));
        if state.case.facts().is_none() != is_application {
            return Err(format!(
                "{} does not fit a case in phase {}",
                case_event.change.name(),
                state.case.phase()
            ));
        }
        let m = &mut state.milestones;
        match &case_event.change {
            CaseChange::ApplicationSubmitted(e) => {
                m.applied_on = Some(e.applied_on);
                state.lead_time.clone_from(&e.lead_time);
                state.catalogue_at_application = Some(e.catalogue_in_force.clone());
                state.cost_basis = CostBasisFacts {
                    service_packages: e.service_packages.clone(),
                    optional_services: e.optional_services.clone(),
                    workstations: e.workstations,
                    workstation_groups: e.workstation_groups,
                    listed_patients: e.listed_patients,
                    workstation_changes: BTreeMap::new(),
                };
            }
            CaseChange::ApplicationApproved(_) => m.approved_at = Some(at),
            CaseChange::ApplicationRejected(_) => m.rejected_at = Some(at),
            CaseChange::ContractSigned(e) => m.contract_signed_on = Some(e.signed_on),
            CaseChange::AgreementSigned(e) => {
                m.agreements.insert(e.agreement.clone(), e.signed_on);
            }
            CaseChange::SelfDeclarationSubmitted(_) => m.declaration_submitted_at.push(at),
            CaseChange::SelfDeclarationReturned(_) => m.declaration_returned_at.push(at),
            CaseChange::SelfDeclarationAccepted(_) => m.declaration_accepted_at = Some(at),
            CaseChange::MilestoneRecorded(e) => {
                m.technical.insert(e.milestone.kind(), e.completed_on);
            }
            CaseChange::TrainingCompleted(e) => m.training_completed_on = Some(e.completed_on),
            CaseChange::FinalVerificationScheduled(e) => match m.verification_rounds.last_mut() {
                Some(last) if last.round == e.round => last.scheduled_for = e.scheduled_for,
                _ => m.verification_rounds.push(VerificationRound {
                    round: e.round,
                    scheduled_for: e.scheduled_for,
                    decided_at: None,
                    outcome: VerificationOutcome::Pending,
                }),
            },
            CaseChange::FinalVerificationApproved(e) | CaseChange::FinalVerificationFailed(e) => {
                let outcome =
                    if matches!(case_event.change, CaseChange::FinalVerificationApproved(_)) {
                        VerificationOutcome::Approved
                    } else {
                        VerificationOutcome::Failed
                    };
                let round = m
                    .verification_rounds
                    .iter_mut()
                    .find(|r| r.round == e.round)
                    .ok_or_else(|| format!("round {} was decided but never scheduled", e.round))?;
                round.decided_at = Some(at);
                round.outcome = outcome;
            }
            CaseChange::FinalContractSigned(e) => m.final_contract_signed_on = Some(e.signed_on),
            CaseChange::WentLive(e) => m.went_live_on = Some(e.went_live_on),
            CaseChange::ConnectionSuspended(_) => m.suspended_at.push(at),
            CaseChange::ConnectionResumed(_) => m.resumed_at.push(at),
            CaseChange::ConnectionEnded(e) => {
                m.ended_on = Some(e.ended_on);
                m.ending = Some(e.ending.clone());
            }
            CaseChange::CatalogueVersionAttested(e) => m.attestations.push(Attestation {
                from_version: e.from.version,
                to_version: e.to.version,
                at,
            }),
            CaseChange::DeviationAgreed(_)
            | CaseChange::StaffCommitmentRecorded(_)
            | CaseChange::FindingRecorded(_)
            | CaseChange::FindingResolved(_)
            | CaseChange::OrganisationalChangeReported(_)
            | CaseChange::NonStandardServiceRequested(_)
            | CaseChange::NonStandardServiceDecided(_)
            | CaseChange::StaffMemberListed(_)
            | CaseChange::StepApplicabilityRecorded(_)
            | CaseChange::PlanRecorded(_)
            | CaseChange::TechnicalCheckRecorded(_)
            | CaseChange::FindingResponded(_)
            | CaseChange::FindingResponseRejected(_)
            | CaseChange::AttestationRequired(_)
            | CaseChange::ContactUpdated(_) => {}
            CaseChange::WorkstationsChanged(e) => {
                state
                    .cost_basis
                    .workstation_changes
                    .insert(e.effective_on, e.workstations);
            }
        }
        let before = state.case.phase();
        state.case.apply(case_event.clone());
        if state.case.phase() != before {
            state.history.push(PhaseEntry {
                phase: state.case.phase(),
                entered_at: at,
            });
        }
        state.events += 1;
        state.last_event_at = Some(at);
        Ok(())
    }

    fn rows(state: &OverviewState, _: Context<'_>) -> Result<Vec<Row>, String> {
        let Some(facts) = state.case.facts() else {
            return Ok(Vec::new());
        };
        Ok(vec![Row::new(
            facts.case_id.to_string(),
            vec![
                Cell::text(&facts.region),
                Cell::text(&facts.org_number),
                Cell::text(&facts.programme),
                Cell::text(state.case.phase()),
                Cell::text(day(facts.applied_on)),
            ],
            // The state is the document, stored once in the state table; queries read it
            // from there.
            &serde_json::json!({}),
        )?])
    }
}

/// Lead time against the programme's target: days from application to go-live (or, until
/// then, to the end of the case or to `today`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeadTime {
    pub applied_on: NaiveDate,
    pub requested_go_live: NaiveDate,
    /// The programme's lead time, where it states one.
    pub target_months: Option<u32>,
    pub kind: Option<LeadTimeKind>,
    /// The earliest go-live the lead time allows, counted from the application.
    pub target_date: Option<NaiveDate>,
    pub target_days: Option<i64>,
    pub went_live_on: Option<NaiveDate>,
    pub days: i64,
    /// A benchmark lead time ("ca"): more days have passed than it.
    pub beyond_target: bool,
    /// A minimum lead time ("minst"): the go-live (or, until then, the requested start) is
    /// earlier than the minimum allows.
    pub short_of_minimum: bool,
}

/// A case as dashboards see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseOverview {
    pub case_id: CaseId,
    pub region: RegionId,
    pub provider_org: OrgNumber,
    pub programme: ProgrammeId,
    pub unit_name: ShortText,
    pub phase: Phase,
    pub phase_history: Vec<PhaseEntry>,
    pub milestones: Milestones,
    /// What still blocks go-live, for cases on their way to it; empty otherwise.
    pub blockers: Vec<Blocker>,
    /// What the region should see that does not block (lead time, new hires).
    pub flags: Vec<Flag>,
    pub catalogue_held: Option<CatalogueRef>,
    /// The version of the programme's catalogue in force on the day asked about.
    pub catalogue_in_force: Option<u32>,
    /// A newer catalogue version than the one held is in force and the case can attest.
    pub attestation_due: bool,
    pub lead_time: LeadTime,
    pub cost_basis: CostBasisFacts,
    /// The time of the case's last event.
    pub updated_at: Option<DateTime<Utc>>,
}

impl OverviewState {
    fn view(self, catalogues: &CatalogueRegistry, today: NaiveDate) -> Option<CaseOverview> {
        let facts = self.case.facts()?.clone();
        let phase = self.case.phase();
        let blockers = self.case.open_blockers(catalogues, today);
        let flags = self.case.flags(catalogues, today);
        let held = self.case.held_to().cloned();
        let in_force = catalogues
            .in_force(&facts.programme, today)
            .map(|c| c.version);
        let attestation_due = phase.is_connected()
            && matches!((&held, in_force), (Some(held), Some(v)) if v > held.version);
        let m = &self.milestones;
        let end = m
            .went_live_on
            .or(m.ended_on)
            .or(m.rejected_at.map(|at| at.date_naive()))
            .unwrap_or(today);
        let days = (end - facts.applied_on).num_days();
        let target_days = self
            .lead_time
            .as_ref()
            .map(|l| (l.earliest - facts.applied_on).num_days());
        let lead_time = LeadTime {
            applied_on: facts.applied_on,
            requested_go_live: facts.requested_go_live,
            target_months: self.lead_time.as_ref().map(|l| l.months),
            kind: self.lead_time.as_ref().map(|l| l.kind),
            target_date: self.lead_time.as_ref().map(|l| l.earliest),
            target_days,
            went_live_on: m.went_live_on,
            days,
            // "ca 3 månader" is a benchmark a case can run beyond; "minst 3 månader" is the
            // least time the work takes, which a case can only fall short of.
            beyond_target: self.lead_time.as_ref().is_some_and(|l| {
                l.kind == LeadTimeKind::Approximate
                    && target_days.is_some_and(|target| days > target)
            }),
            short_of_minimum: self.lead_time.as_ref().is_some_and(|l| {
                l.kind == LeadTimeKind::Minimum
                    && m.went_live_on.unwrap_or(facts.requested_go_live) < l.earliest
            }),
        };
        Some(CaseOverview {
            case_id: facts.case_id,
            region: facts.region,
            provider_org: facts.org_number,
            programme: facts.programme,
            unit_name: facts.unit_name,
            phase,
            phase_history: self.history,
            blockers,
            flags,
            catalogue_held: held,
            catalogue_in_force: in_force,
            attestation_due,
            lead_time,
            cost_basis: self.cost_basis,
            updated_at: self.last_event_at,
            milestones: self.milestones,
        })
    }
}

impl Tabular for CaseOverview {
    const HEADERS: &'static [&'static str] = &[
        "case_id",
        "region",
        "provider_org",
        "programme",
        "unit_name",
        "phase",
        "applied_on",
        "approved_at",
        "contract_signed_on",
        "declaration_accepted_at",
        "training_completed_on",
        "final_verification_approved_at",
        "final_contract_signed_on",
        "went_live_on",
        "ended_on",
        "blockers",
        "catalogue_held",
        "catalogue_in_force",
        "attestation_due",
        "lead_time_days",
        "lead_time_target_days",
        "beyond_target",
    ];

    fn cells(&self) -> Vec<String> {
        let m = &self.milestones;
        let approved_verification = m
            .verification_rounds
            .iter()
            .find(|r| r.outcome == VerificationOutcome::Approved)
            .and_then(|r| r.decided_at);
        vec![
            self.case_id.to_string(),
            self.region.to_string(),
            self.provider_org.to_string(),
            self.programme.to_string(),
            self.unit_name.to_string(),
            self.phase.to_string(),
            opt(m.applied_on),
            opt(m.approved_at.map(|t| t.to_rfc3339())),
            opt(m.contract_signed_on),
            opt(m.declaration_accepted_at.map(|t| t.to_rfc3339())),
            opt(m.training_completed_on),
            opt(approved_verification.map(|t| t.to_rfc3339())),
            opt(m.final_contract_signed_on),
            opt(m.went_live_on),
            opt(m.ended_on),
            self.blockers
                .iter()
                .map(|b| match b {
                    Blocker::AgreementNotSigned { agreement } => {
                        format!("{}:{agreement}", b.code())
                    }
                    Blocker::DemandOpen { finding } => format!("{}:{finding}", b.code()),
                    other => other.code().to_owned(),
                })
                .collect::<Vec<_>>()
                .join(" "),
            opt(self.catalogue_held.as_ref().map(|c| c.version)),
            opt(self.catalogue_in_force),
            self.attestation_due.to_string(),
            self.lead_time.days.to_string(),
            opt(self.lead_time.target_days),
            self.lead_time.beyond_target.to_string(),
        ]
    }
}

/// Narrows a list of cases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    pub programme: Option<ProgrammeId>,
    pub phase: Option<Phase>,
    pub provider_org: Option<OrgNumber>,
}

impl ReadModels {
    /// One case, if it exists within the caller's tenancy.
    pub async fn case_overview(
        &self,
        tenancy: &Tenancy,
        case_id: CaseId,
        today: NaiveDate,
    ) -> Result<Option<CaseOverview>, ProjectionError> {
        let mut filters = tenancy.filters();
        filters.push(Filter::eq("key", Cell::text(case_id)));
        let records = self
            .records(ProjectionName::CaseOverview, &filters, None, Some(1), true)
            .await?;
        let Some(record) = records.into_iter().next() else {
            return Ok(None);
        };
        let state: OverviewState = doc(ProjectionName::CaseOverview, &record)?;
        Ok(state.view(&self.shared.catalogues, today))
    }

    /// Cases in key order, with what is time-dependent computed for `today`.
    pub async fn case_overviews(
        &self,
        tenancy: &Tenancy,
        filter: &CaseFilter,
        page: &PageRequest,
        today: NaiveDate,
    ) -> Result<Page<CaseOverview>, ProjectionError> {
        let mut filters = Vec::new();
        if let Some(programme) = &filter.programme {
            filters.push(Filter::eq("programme", Cell::text(programme)));
        }
        if let Some(phase) = filter.phase {
            filters.push(Filter::eq("phase", Cell::text(phase)));
        }
        if let Some(org) = &filter.provider_org {
            filters.push(Filter::eq("provider_org", Cell::text(org)));
        }
        let catalogues = self.shared.catalogues.clone();
        self.page(
            ProjectionName::CaseOverview,
            tenancy,
            filters,
            page,
            true,
            |record| {
                let state: OverviewState = doc(ProjectionName::CaseOverview, &record)?;
                state.view(&catalogues, today).ok_or_else(|| {
                    ProjectionError::Corrupt(format!(
                        "case_overview row {} has no facts",
                        record.key
                    ))
                })
            },
        )
        .await
    }
}
