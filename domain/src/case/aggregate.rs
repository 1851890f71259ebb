//! The connection case aggregate: one provider unit joining one region programme.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{Months, NaiveDate};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::commands::{
    AcceptSelfDeclaration, AgreeDeviation, ApproveApplication, ApproveFinalVerification,
    AttestCatalogueVersion, CaseCommand, ChangeWorkstations, CompleteTraining,
    DecideNonStandardService, EndConnection, FailFinalVerification, GoLive, Issued,
    ListStaffMember, RecordFinding, RecordMilestone, RecordPlan, RecordStaffCommitment,
    RecordStepApplicability, RecordTechnicalCheck, RejectApplication, RejectFindingResponse,
    ReportOrganisationalChange, RequestNonStandardService, RequireAttestation, ResolveFinding,
    RespondToFinding, ResumeConnection, ReturnSelfDeclaration, ScheduleFinalVerification,
    SignAgreement, SignContract, SignFinalContract, SubmitSelfDeclaration, SuspendConnection,
    UpdateContact,
};
use super::error::{ApplicationProblem, CaseError, DateProblem};
use super::events::{
    AgreementSigned, ApplicationSubmitted, AttestationRequired, CaseChange, CaseEvent,
    CatalogueVersionAttested, ConnectionEnded, ContactUpdated, ContractSigned, Decision,
    DeviationAgreed, FinalContractSigned, FinalVerificationDecided, FinalVerificationScheduled,
    FindingRecorded, FindingResolved, FindingResponded, FindingResponseRejected, MilestoneRecorded,
    NonStandardServiceDecided, NonStandardServiceRequested, OrganisationalChangeReported,
    PlanRecorded, SelfDeclarationReturned, SelfDeclarationSubmitted, StaffCommitmentRecorded,
    StaffMemberListed, StepApplicabilityRecorded, TechnicalCheckRecorded, TrainingCompleted,
    WentLive, WorkstationsChanged,
};
use super::gate::{Blocker, Flag};
use super::phase::Phase;
use super::values::{
    Answer, Application, CommitmentKind, Compliance, DeclarationStatus, FindingKind, LeadTimeCheck,
    Milestone, MilestoneKind, OrganisationalChange, ServiceDecision, VerificationContext,
    VerificationOutcome, deviation_in_force,
};
use crate::actor::{Actor, Role};
use crate::catalogue::{
    Catalogue, CatalogueDiff, CatalogueRef, CatalogueRegistry, Category, Evidence, Level, PriceUnit,
};
use crate::clock::Clock;
use crate::identity::OrgNumber;
use crate::ids::{
    CaseId, DataSubjectId, FindingNo, ProgrammeId, RegionId, RequirementId, ServicePackageId,
    ServiceRequestNo,
};
use crate::incident::IncidentContext;
use crate::money::workstation_groups;
use crate::process::{
    ConditionKind, DutyKind, ProcessDefinition, ProcessRef, Step, StepId, StepKind,
};
use crate::text::ShortText;

/// What a connection case needs from outside: the time and the catalogues.
#[derive(Clone)]
pub struct CaseServices {
    pub clock: Arc<dyn Clock>,
    pub catalogues: Arc<CatalogueRegistry>,
}

impl CaseServices {
    pub fn new(clock: Arc<dyn Clock>, catalogues: Arc<CatalogueRegistry>) -> Self {
        Self { clock, catalogues }
    }
}

impl std::fmt::Debug for CaseServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseServices").finish_non_exhaustive()
    }
}

/// The facts of a case fixed by its application (and the unit's later name changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseFacts {
    pub case_id: CaseId,
    pub region: RegionId,
    pub programme: ProgrammeId,
    pub org_number: OrgNumber,
    pub unit_name: ShortText,
    pub applied_on: NaiveDate,
    pub requested_go_live: NaiveDate,
    /// The service packages the application chose: conditional steps depend on them.
    /// Required in a snapshot (like `lead_time`), so that a snapshot taken before these
    /// facts were kept does not read and the case is replayed from its events instead.
    #[serde(deserialize_with = "required")]
    pub service_packages: BTreeSet<ServicePackageId>,
    /// The lead-time check made at application, where the programme has a lead time.
    #[serde(deserialize_with = "required")]
    pub lead_time: Option<LeadTimeCheck>,
}

/// A field a snapshot must have: unlike serde's default for `Option`, a missing one is an
/// error, so that a snapshot of an older shape is refused and the case replayed.
fn required<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer)
}

/// The state of the current final verification round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationState {
    pub round: u32,
    pub scheduled_for: NaiveDate,
    pub outcome: VerificationOutcome,
}

/// A finding as the case tracks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingState {
    pub kind: FindingKind,
    pub context: VerificationContext,
    pub requirement: Option<RequirementId>,
    pub resolved: bool,
    /// When the region wants it done, if it said.
    #[serde(default)]
    pub due: Option<NaiveDate>,
    /// The provider has responded with a remediation the region has not yet accepted (by
    /// resolving the finding) or rejected.
    #[serde(default)]
    pub response_pending: bool,
}

/// A connection case (anslutningsärende), rebuilt from its events.
///
/// Architecture invariant: the state holds no personal data (names, personnummer and
/// contact details live only in events, inside [`crate::Personal`]), so snapshots of it
/// need no encryption and survive erasure unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionCase {
    phase: Phase,
    facts: Option<CaseFacts>,
    /// The catalogue version the case is held to, from contract signing on.
    held_to: Option<CatalogueRef>,
    /// The process version pinned at contract signing; absent for contracts recorded before
    /// processes were pinned (the case then follows its held catalogue version's process).
    #[serde(default)]
    process: Option<ProcessRef>,
    contract_signed_on: Option<NaiveDate>,
    agreements: BTreeMap<RequirementId, NaiveDate>,
    declaration: DeclarationStatus,
    answers: BTreeMap<RequirementId, Answer>,
    /// Agreed deviations and the date they lapse after, if any.
    deviations: BTreeMap<RequirementId, Option<NaiveDate>>,
    /// The commitments each staff member signed, by data subject (never by HSA-id: that is
    /// personal data, and snapshots are not sealed). Renamed from `commitments` (by HSA-id),
    /// so a snapshot of the old shape does not read and the case is replayed instead.
    staff_commitments: BTreeMap<DataSubjectId, BTreeSet<CommitmentKind>>,
    /// The listed users, by data subject: the day access starts, and whether the user was
    /// listed after go-live (a new hire).
    #[serde(default)]
    staff_listed: BTreeMap<DataSubjectId, (NaiveDate, bool)>,
    /// The region's word on conditional steps: applies or not.
    #[serde(default)]
    step_applies: BTreeMap<StepId, bool>,
    /// Plans recorded, by step.
    #[serde(default)]
    plans: BTreeMap<StepId, NaiveDate>,
    /// Connecting computers checked, by name: whether the latest check approved it.
    #[serde(default)]
    computers: BTreeMap<ShortText, bool>,
    /// The attestation the region requires: to which version, by when.
    #[serde(default)]
    attestation_required: Option<(u32, NaiveDate)>,
    /// The provider's workstations from each date on (the application's from the day it was
    /// made, then every change).
    #[serde(default)]
    workstations: BTreeMap<NaiveDate, u32>,
    /// The workstations region IT registered (the `workstations_registered` milestone).
    #[serde(default)]
    registered_workstations: Option<u32>,
    milestones: BTreeMap<MilestoneKind, NaiveDate>,
    training_completed_on: Option<NaiveDate>,
    verification: Option<VerificationState>,
    findings: BTreeMap<FindingNo, FindingState>,
    final_contract_signed_on: Option<NaiveDate>,
    went_live_on: Option<NaiveDate>,
    service_requests: BTreeMap<ServiceRequestNo, Option<ServiceDecision>>,
    ended_on: Option<NaiveDate>,
}

impl Aggregate for ConnectionCase {
    const TYPE: &'static str = "connection_case";
    type Command = Issued<CaseCommand>;
    type Event = CaseEvent;
    type Error = CaseError;
    type Services = CaseServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = self.decide(command, services)?;
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: CaseEvent) {
        self.evolve(event.change);
    }
}

// Read access, for the API and for other aggregates' rules.
impl ConnectionCase {
    pub const fn phase(&self) -> Phase {
        self.phase
    }

    pub const fn facts(&self) -> Option<&CaseFacts> {
        self.facts.as_ref()
    }

    pub const fn held_to(&self) -> Option<&CatalogueRef> {
        self.held_to.as_ref()
    }

    pub const fn declaration_status(&self) -> DeclarationStatus {
        self.declaration
    }

    pub const fn verification(&self) -> Option<&VerificationState> {
        self.verification.as_ref()
    }

    pub const fn findings(&self) -> &BTreeMap<FindingNo, FindingState> {
        &self.findings
    }

    pub const fn agreements(&self) -> &BTreeMap<RequirementId, NaiveDate> {
        &self.agreements
    }

    pub const fn milestones(&self) -> &BTreeMap<MilestoneKind, NaiveDate> {
        &self.milestones
    }

    pub const fn went_live_on(&self) -> Option<NaiveDate> {
        self.went_live_on
    }

    pub const fn contract_signed_on(&self) -> Option<NaiveDate> {
        self.contract_signed_on
    }

    pub const fn training_completed_on(&self) -> Option<NaiveDate> {
        self.training_completed_on
    }

    pub const fn final_contract_signed_on(&self) -> Option<NaiveDate> {
        self.final_contract_signed_on
    }

    /// Requests for non-standard services and the decision on each, if made.
    pub const fn service_requests(&self) -> &BTreeMap<ServiceRequestNo, Option<ServiceDecision>> {
        &self.service_requests
    }

    pub const fn ended_on(&self) -> Option<NaiveDate> {
        self.ended_on
    }

    /// The context a security incident report needs, if the case accepts one: from
    /// contract signing on, in every phase, including suspended and ended connections
    /// (incidents discovered late, about the time the connection ran).
    pub fn incident_context(&self) -> Result<IncidentContext, CaseError> {
        const ACCEPTING: &[Phase] = &[
            Phase::Establishment,
            Phase::FinalVerification,
            Phase::Live,
            Phase::Suspended,
            Phase::Ended,
        ];
        self.require("report-incident", ACCEPTING)?;
        let facts = self.facts.as_ref().ok_or(CaseError::WrongPhase {
            command: "report-incident",
            phase: self.phase,
        })?;
        Ok(IncidentContext {
            case_id: facts.case_id,
            region: facts.region.clone(),
            provider_org: facts.org_number.clone(),
            phase: self.phase,
            ended_on: self.ended_on,
        })
    }

    /// The demands not yet resolved, in order.
    pub fn open_demands(&self) -> Vec<FindingNo> {
        self.open_findings(FindingKind::Demand)
    }

    fn open_findings(&self, kind: FindingKind) -> Vec<FindingNo> {
        self.findings
            .iter()
            .filter(|(_, f)| f.kind == kind && !f.resolved)
            .map(|(no, _)| *no)
            .collect()
    }

    /// Every condition that still blocks go-live, judged by the case's process (and the
    /// catalogue the case is held to or, before contract signing, the one given): each gating
    /// step whose condition holds and is not done, and every open demand. Empty when go-live
    /// may happen.
    pub fn blockers(&self, process: &ProcessDefinition) -> Vec<Blocker> {
        let mut unmet = Vec::new();
        for step in process.gating_steps().filter(|s| self.applies(s)) {
            match step.kind {
                StepKind::Contract if self.contract_signed_on.is_none() => {
                    unmet.push(Blocker::ContractNotSigned);
                }
                StepKind::Agreement => {
                    for agreement in &step.requirements {
                        if !self.agreements.contains_key(agreement) {
                            unmet.push(Blocker::AgreementNotSigned {
                                agreement: agreement.clone(),
                            });
                        }
                    }
                }
                StepKind::Plan if !self.plans.contains_key(&step.id) => {
                    unmet.push(Blocker::PlanNotRecorded {
                        step: step.id.clone(),
                    });
                }
                StepKind::SelfDeclaration if self.declaration != DeclarationStatus::Accepted => {
                    unmet.push(Blocker::SelfDeclarationNotAccepted);
                }
                StepKind::Training if self.training_completed_on.is_none() => {
                    unmet.push(Blocker::TrainingNotCompleted);
                }
                StepKind::StaffCommitments => {
                    let users = self.users();
                    if users.is_empty() {
                        unmet.push(Blocker::StaffNotListed);
                    }
                    for (subject, commitment) in self.missing_commitments(step, &users) {
                        unmet.push(Blocker::StaffCommitmentMissing {
                            subject,
                            commitment,
                        });
                    }
                }
                StepKind::TechnicalCheck => {
                    if !self.computers.values().any(|approved| *approved) {
                        unmet.push(Blocker::TechnicalCheckNotApproved);
                    }
                    for (computer, _) in self.computers.iter().filter(|(_, ok)| !**ok) {
                        unmet.push(Blocker::ComputerNotApproved {
                            computer: computer.clone(),
                        });
                    }
                }
                StepKind::FinalVerification
                    if self.verification.map(|v| v.outcome)
                        != Some(VerificationOutcome::Approved) =>
                {
                    unmet.push(Blocker::FinalVerificationNotApproved);
                }
                StepKind::FinalContract if self.final_contract_signed_on.is_none() => {
                    unmet.push(Blocker::FinalContractNotSigned);
                }
                _ => {}
            }
        }
        // A demand is something that "måste vidtas": it blocks in every programme.
        for finding in self.open_demands() {
            unmet.push(Blocker::DemandOpen { finding });
        }
        unmet.sort();
        unmet.dedup();
        unmet
    }

    /// What blocks go-live in the case's current phase: the blockers while the case is on
    /// its way to go-live, nothing once it is live, ended or rejected. The one rule every
    /// outlet (the case, the overview, the dashboard) shows blockers by.
    pub fn open_blockers(&self, registry: &CatalogueRegistry, today: NaiveDate) -> Vec<Blocker> {
        if !matches!(
            self.phase,
            Phase::Application | Phase::Approved | Phase::Establishment | Phase::FinalVerification
        ) {
            return Vec::new();
        }
        self.process(registry, today)
            .map(|process| self.blockers(process))
            .unwrap_or_default()
    }

    /// What the region should see that does not block: the lead time not met by the
    /// requested start (until go-live), and new hires without the commitments the programme
    /// repeats at every new hire (while the case is connected).
    pub fn flags(&self, registry: &CatalogueRegistry, today: NaiveDate) -> Vec<Flag> {
        let mut flags = Vec::new();
        let Some(facts) = &self.facts else {
            return flags;
        };
        if let Some(lead) = facts.lead_time.as_ref().filter(|l| !l.met)
            && self.went_live_on.is_none()
            && !matches!(self.phase, Phase::Ended | Phase::Rejected)
        {
            flags.push(Flag::LeadTimeNotMet {
                kind: lead.kind,
                months: lead.months,
                earliest: lead.earliest,
                requested: lead.requested,
            });
        }
        if matches!(self.phase, Phase::Live | Phase::Suspended)
            && let Some(process) = self.process(registry, today)
        {
            let new_hires: BTreeSet<DataSubjectId> = self
                .staff_listed
                .iter()
                .filter(|(_, (_, new_hire))| *new_hire)
                .map(|(subject, _)| *subject)
                .collect();
            for step in process
                .steps_of(StepKind::StaffCommitments)
                .filter(|s| s.recurrence.is_some())
            {
                for (subject, commitment) in self.missing_commitments(step, &new_hires) {
                    flags.push(Flag::StaffCommitmentMissing {
                        subject,
                        commitment,
                    });
                }
            }
        }
        if matches!(self.phase, Phase::Live | Phase::Suspended) {
            // An on-site verification during operation (Jämtland §3.4: "Regionen förbehåller
            // sig rätten att kontrollera uppfyllelse av säkerhetskrav på plats") that demands
            // action: open until the region resolves it, overdue after its date.
            for (finding, state) in self
                .findings
                .iter()
                .filter(|(_, f)| f.kind == FindingKind::Demand && !f.resolved)
            {
                flags.push(Flag::DemandOpen {
                    finding: *finding,
                    due: state.due,
                    overdue: state.due.is_some_and(|due| today > due),
                });
            }
        }
        if let Some(flag) = self.workstation_allowance(registry, today) {
            flags.push(flag);
        }
        if let Some((version, due)) = self.attestation_required
            && (self.phase.is_connected() || self.phase == Phase::Suspended)
        {
            flags.push(if today > due {
                Flag::AttestationOverdue { version, due }
            } else {
                Flag::AttestationRequired { version, due }
            });
        }
        flags.sort();
        flags
    }

    /// The process the case follows: the version pinned at contract signing; for a case
    /// signed before processes were pinned, the process of the catalogue version it is held
    /// to; before contract signing, the process of the catalogue version in force.
    pub fn process<'r>(
        &self,
        registry: &'r CatalogueRegistry,
        today: NaiveDate,
    ) -> Option<&'r ProcessDefinition> {
        match (&self.process, &self.held_to) {
            (Some(pinned), _) => registry.process(&pinned.programme, pinned.version),
            (None, Some(held)) => registry.process(&held.programme, held.version),
            (None, None) => {
                let catalogue = registry.in_force(&self.facts.as_ref()?.programme, today)?;
                registry.process(&catalogue.programme, catalogue.version)
            }
        }
    }

    /// Whether a step is part of this case: unconditional, or its condition holds (the
    /// application chose its package; the region recorded that it applies; or, for a
    /// conditional agreement, the agreement is signed).
    pub fn applies(&self, step: &Step) -> bool {
        let Some(condition) = &step.condition else {
            return true;
        };
        match condition.on {
            ConditionKind::ServicePackage => {
                matches!((&condition.package, &self.facts), (Some(package), Some(facts)) if facts.service_packages.contains(package))
            }
            ConditionKind::SystemConnected | ConditionKind::WhereRequired => {
                self.step_applies.get(&step.id).copied().unwrap_or_else(|| {
                    step.requirements
                        .iter()
                        .any(|r| self.agreements.contains_key(r))
                })
            }
        }
    }

    /// The provider's workstations on a day: the latest change in effect then, or the
    /// application's.
    pub fn workstations_on(&self, day: NaiveDate) -> Option<u32> {
        self.workstations
            .range(..=day)
            .next_back()
            .map(|(_, count)| *count)
    }

    /// The workstations region IT registered exceed what the billed groups allow (Jämtland
    /// bills per started group of registered workstations).
    fn workstation_allowance(
        &self,
        registry: &CatalogueRegistry,
        today: NaiveDate,
    ) -> Option<Flag> {
        let size = self
            .catalogue(registry, today)?
            .application
            .workstation_group_size?;
        let registered = self.registered_workstations?;
        let groups = workstation_groups(self.workstations_on(today)?, size);
        let allowance = groups.saturating_mul(size);
        (registered > allowance).then_some(Flag::WorkstationAllowanceExceeded {
            registered,
            groups,
            allowance,
        })
    }

    /// The timeliness words of the programme's duty of this kind, where its document gives
    /// them.
    fn timeliness(&self, kind: DutyKind, now: &Now<'_>) -> Option<String> {
        self.process(now.catalogues, now.today)?
            .duties
            .iter()
            .filter(|duty| duty.kind == kind)
            .find_map(|duty| duty.timeliness.as_ref().map(|t| t.words.clone()))
    }

    /// The users of the provider: everyone listed, and everyone with a recorded commitment
    /// (a commitment is signed by a user).
    fn users(&self) -> BTreeSet<DataSubjectId> {
        self.staff_listed
            .keys()
            .chain(self.staff_commitments.keys())
            .copied()
            .collect()
    }

    /// The commitments a staff-commitments step requires that `users` have not signed.
    fn missing_commitments(
        &self,
        step: &Step,
        users: &BTreeSet<DataSubjectId>,
    ) -> Vec<(DataSubjectId, CommitmentKind)> {
        users
            .iter()
            .flat_map(|subject| {
                let signed = self.staff_commitments.get(subject);
                step.commitments
                    .iter()
                    .filter(move |kind| !signed.is_some_and(|s| s.contains(kind)))
                    .map(move |kind| (*subject, *kind))
            })
            .collect()
    }

    /// The catalogue the case's rules are judged against: the version it is held to, or
    /// before contract signing the one in force today.
    pub fn catalogue<'r>(
        &self,
        registry: &'r CatalogueRegistry,
        today: NaiveDate,
    ) -> Option<&'r Catalogue> {
        match (&self.held_to, &self.facts) {
            (Some(held), _) => registry.get(&held.programme, held.version),
            (None, Some(facts)) => registry.in_force(&facts.programme, today),
            (None, None) => None,
        }
    }
}

/// The outcome of checking a set of answers against the requirements they must cover.
struct AnswerCheck {
    missing: Vec<RequirementId>,
    unknown: Vec<RequirementId>,
    duplicated: Vec<RequirementId>,
    undescribed: Vec<RequirementId>,
}

impl AnswerCheck {
    fn of<'a>(answers: &[Answer], expected: impl IntoIterator<Item = &'a RequirementId>) -> Self {
        let expected: BTreeSet<&RequirementId> = expected.into_iter().collect();
        let mut seen = BTreeSet::new();
        let mut check = Self {
            missing: Vec::new(),
            unknown: Vec::new(),
            duplicated: Vec::new(),
            undescribed: Vec::new(),
        };
        for answer in answers {
            if !expected.contains(&answer.requirement) {
                check.unknown.push(answer.requirement.clone());
            } else if !seen.insert(&answer.requirement) {
                check.duplicated.push(answer.requirement.clone());
            }
            if answer.compliance != Compliance::Complies && answer.description.is_none() {
                check.undescribed.push(answer.requirement.clone());
            }
        }
        check.missing = expected
            .into_iter()
            .filter(|id| !seen.contains(id))
            .cloned()
            .collect();
        check
    }

    fn into_result(self) -> Result<(), CaseError> {
        if self.missing.is_empty()
            && self.unknown.is_empty()
            && self.duplicated.is_empty()
            && self.undescribed.is_empty()
        {
            Ok(())
        } else {
            Err(CaseError::IncompleteAnswers {
                missing: self.missing,
                unknown: self.unknown,
                duplicated: self.duplicated,
                undescribed: self.undescribed,
            })
        }
    }
}

/// The time and catalogues a decision is taken with.
struct Now<'s> {
    today: NaiveDate,
    catalogues: &'s CatalogueRegistry,
}

/// Everything a command's rule is decided with: its name (for errors), who issues it, the
/// day, and the catalogues and processes.
#[derive(Clone, Copy)]
struct Deciding<'d, 's> {
    name: &'static str,
    actor: &'d Actor,
    today: NaiveDate,
    now: &'d Now<'s>,
}

fn not_in_future(field: &'static str, date: NaiveDate, today: NaiveDate) -> Result<(), CaseError> {
    if date > today {
        return Err(CaseError::InvalidDate {
            field,
            date,
            problem: DateProblem::InFuture,
        });
    }
    Ok(())
}

fn not_in_past(field: &'static str, date: NaiveDate, today: NaiveDate) -> Result<(), CaseError> {
    if date < today {
        return Err(CaseError::InvalidDate {
            field,
            date,
            problem: DateProblem::InPast,
        });
    }
    Ok(())
}

fn not_before(
    field: &'static str,
    date: NaiveDate,
    earlier: Option<NaiveDate>,
) -> Result<(), CaseError> {
    if earlier.is_some_and(|earlier| date < earlier) {
        return Err(CaseError::InvalidDate {
            field,
            date,
            problem: DateProblem::BeforePreviousStep,
        });
    }
    Ok(())
}

const ESTABLISHING: &[Phase] = &[Phase::Establishment, Phase::FinalVerification];
const CONNECTED: &[Phase] = &[Phase::Establishment, Phase::FinalVerification, Phase::Live];

impl ConnectionCase {
    /// Decides what a command means for this case: the event to record, or why not.
    /// Pure: the only outside inputs are the clock and catalogues in `services`.
    pub fn decide(
        &self,
        issued: Issued<CaseCommand>,
        services: &CaseServices,
    ) -> Result<CaseEvent, CaseError> {
        let Issued { actor, command } = issued;
        if !command.permission().allows(actor.role) {
            return Err(CaseError::NotPermitted {
                command: command.name(),
                role: actor.role,
            });
        }
        let at = services.clock.now();
        let now = Now {
            today: at.date_naive(),
            catalogues: &services.catalogues,
        };
        let change = self.decide_change(&actor, command, &now)?;
        Ok(CaseEvent { actor, at, change })
    }

    fn require(&self, command: &'static str, phases: &[Phase]) -> Result<(), CaseError> {
        if phases.contains(&self.phase) {
            Ok(())
        } else {
            Err(CaseError::WrongPhase {
                command,
                phase: self.phase,
            })
        }
    }

    /// The catalogue the case is held to. Every phase that needs it comes after contract
    /// signing, which sets it; the registry holds every version ever published.
    fn held_catalogue<'r>(&self, now: &Now<'r>) -> Result<&'r Catalogue, CaseError> {
        let held = self.held_to.as_ref().ok_or(CaseError::WrongPhase {
            command: "use the catalogue",
            phase: self.phase,
        })?;
        now.catalogues
            .get(&held.programme, held.version)
            .ok_or_else(|| CaseError::UnknownCatalogueVersion {
                programme: held.programme.clone(),
                version: held.version,
            })
    }

    fn applied_on(&self) -> Option<NaiveDate> {
        self.facts.as_ref().map(|f| f.applied_on)
    }

    /// No deviation from `requirement` is in force on `today`.
    fn lapsed(&self, requirement: &RequirementId, today: NaiveDate) -> bool {
        self.deviations
            .get(requirement)
            .is_none_or(|valid_until| !deviation_in_force(*valid_until, today))
    }

    /// The must-requirements answered "does not comply" or "not applicable" without a
    /// deviation in force: a must that does not apply to the unit is for the region to agree,
    /// not for the provider to declare.
    fn non_compliant_without_deviation<'a>(
        &self,
        answers: impl IntoIterator<Item = &'a Answer>,
        catalogue: &Catalogue,
        today: NaiveDate,
    ) -> Vec<RequirementId> {
        answers
            .into_iter()
            .filter(|a| {
                matches!(
                    a.compliance,
                    Compliance::DoesNotComply | Compliance::NotApplicable
                )
            })
            .filter(|a| {
                catalogue
                    .requirement(&a.requirement)
                    .is_some_and(|r| r.level == Level::Must)
            })
            .filter(|a| self.lapsed(&a.requirement, today))
            .map(|a| a.requirement.clone())
            .collect()
    }

    /// Decides one command: the command's own rule, one method per command below.
    fn decide_change(
        &self,
        actor: &Actor,
        command: CaseCommand,
        now: &Now<'_>,
    ) -> Result<CaseChange, CaseError> {
        let at = Deciding {
            name: command.name(),
            actor,
            today: now.today,
            now,
        };
        match command {
            CaseCommand::SubmitApplication(c) => self.submit_application(c, at),
            CaseCommand::ApproveApplication(c) => self.approve_application(c, at),
            CaseCommand::RejectApplication(c) => self.reject_application(c, at),
            CaseCommand::SignContract(c) => self.sign_contract(c, at),
            CaseCommand::SignAgreement(c) => self.sign_agreement(c, at),
            CaseCommand::SubmitSelfDeclaration(c) => self.submit_self_declaration(c, at),
            CaseCommand::AcceptSelfDeclaration(c) => self.accept_self_declaration(c, at),
            CaseCommand::ReturnSelfDeclaration(c) => self.return_self_declaration(c, at),
            CaseCommand::AgreeDeviation(c) => self.agree_deviation(c, at),
            CaseCommand::RecordStaffCommitment(c) => self.record_staff_commitment(c, at),
            CaseCommand::RecordMilestone(c) => self.record_milestone(c, at),
            CaseCommand::CompleteTraining(c) => self.complete_training(c, at),
            CaseCommand::ScheduleFinalVerification(c) => self.schedule_final_verification(c, at),
            CaseCommand::RecordFinding(c) => self.record_finding(c, at),
            CaseCommand::ResolveFinding(c) => self.resolve_finding(c, at),
            CaseCommand::ApproveFinalVerification(c) => self.approve_final_verification(c, at),
            CaseCommand::FailFinalVerification(c) => self.fail_final_verification(c, at),
            CaseCommand::SignFinalContract(c) => self.sign_final_contract(c, at),
            CaseCommand::GoLive(c) => self.go_live(c, at),
            CaseCommand::ReportOrganisationalChange(c) => self.report_organisational_change(c, at),
            CaseCommand::RequestNonStandardService(c) => self.request_non_standard_service(c, at),
            CaseCommand::DecideNonStandardService(c) => self.decide_non_standard_service(c, at),
            CaseCommand::AttestCatalogueVersion(c) => self.attest_catalogue_version(c, at),
            CaseCommand::SuspendConnection(c) => self.suspend_connection(c, at),
            CaseCommand::ResumeConnection(c) => self.resume_connection(c, at),
            CaseCommand::ListStaffMember(c) => self.list_staff_member(c, at),
            CaseCommand::RecordStepApplicability(c) => self.record_step_applicability(c, at),
            CaseCommand::RecordPlan(c) => self.record_plan(c, at),
            CaseCommand::RecordTechnicalCheck(c) => self.record_technical_check(c, at),
            CaseCommand::RespondToFinding(c) => self.respond_to_finding(c, at),
            CaseCommand::RejectFindingResponse(c) => self.reject_finding_response(c, at),
            CaseCommand::RequireAttestation(c) => self.require_attestation(c, at),
            CaseCommand::ChangeWorkstations(c) => self.change_workstations(c, at),
            CaseCommand::UpdateContact(c) => self.update_contact(c, at),
            CaseCommand::EndConnection(c) => self.end_connection(c, at),
        }
    }

    /// `submit-application`.
    fn submit_application(
        &self,
        application: Application,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, actor, now, ..
        } = at;
        self.require(name, &[Phase::New])?;
        submit_application(actor, application, now).map(CaseChange::ApplicationSubmitted)
    }

    /// `approve-application`.
    fn approve_application(
        &self,
        c: ApproveApplication,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, .. } = at;
        self.require(name, &[Phase::Application])?;
        Ok(CaseChange::ApplicationApproved(Decision {
            reason: c.reason,
        }))
    }

    /// `reject-application`.
    fn reject_application(
        &self,
        c: RejectApplication,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, .. } = at;
        self.require(name, &[Phase::Application])?;
        Ok(CaseChange::ApplicationRejected(Decision {
            reason: c.reason,
        }))
    }

    /// `sign-contract`.
    fn sign_contract(
        &self,
        c: SignContract,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, today, now, ..
        } = at;
        self.require(name, &[Phase::Approved])?;
        not_in_future("signed_on", c.signed_on, today)?;
        not_before("signed_on", c.signed_on, self.applied_on())?;
        let facts = self.facts.as_ref().ok_or(CaseError::WrongPhase {
            command: name,
            phase: self.phase,
        })?;
        let catalogue = now
            .catalogues
            .in_force(&facts.programme, c.signed_on)
            .ok_or_else(|| CaseError::NoCatalogueInForce {
                programme: facts.programme.clone(),
                on: c.signed_on,
            })?;
        let process = now
            .catalogues
            .process(&catalogue.programme, catalogue.version)
            .ok_or_else(|| CaseError::NoProcessDefinition {
                programme: catalogue.programme.clone(),
                version: catalogue.version,
            })?;
        Ok(CaseChange::ContractSigned(ContractSigned {
            signed_on: c.signed_on,
            document: c.document,
            catalogue: catalogue.reference(),
            process: Some(process.reference()),
        }))
    }

    /// `sign-agreement`.
    fn sign_agreement(
        &self,
        c: SignAgreement,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, today, now, ..
        } = at;
        self.require(name, CONNECTED)?;
        not_in_future("signed_on", c.signed_on, today)?;
        let catalogue = self.held_catalogue(now)?;
        let requirement = catalogue.requirement(&c.agreement).ok_or_else(|| {
            CaseError::RequirementNotInCatalogue {
                requirement: c.agreement.clone(),
            }
        })?;
        if requirement.category != Category::Agreements
            || requirement.evidence != Evidence::SignedDocument
        {
            return Err(CaseError::NotAnAgreement {
                requirement: c.agreement,
            });
        }
        if self.agreements.contains_key(&c.agreement) {
            return Err(CaseError::AgreementAlreadySigned {
                agreement: c.agreement,
            });
        }
        Ok(CaseChange::AgreementSigned(AgreementSigned {
            agreement: c.agreement,
            signed_on: c.signed_on,
            counterparty: c.counterparty,
            document: c.document,
        }))
    }

    /// `submit-self-declaration`.
    fn submit_self_declaration(
        &self,
        c: SubmitSelfDeclaration,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, now, .. } = at;
        self.require(name, ESTABLISHING)?;
        if !matches!(
            self.declaration,
            DeclarationStatus::NotSubmitted | DeclarationStatus::Returned
        ) {
            return Err(CaseError::SelfDeclarationNotExpected {
                status: self.declaration,
            });
        }
        let catalogue = self.held_catalogue(now)?;
        AnswerCheck::of(&c.answers, catalogue.requirements.iter().map(|r| &r.id)).into_result()?;
        Ok(CaseChange::SelfDeclarationSubmitted(
            SelfDeclarationSubmitted {
                catalogue: catalogue.reference(),
                answers: c.answers,
            },
        ))
    }

    /// `accept-self-declaration`.
    fn accept_self_declaration(
        &self,
        c: AcceptSelfDeclaration,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, today, now, ..
        } = at;
        self.require(name, ESTABLISHING)?;
        self.require_submitted_declaration()?;
        let catalogue = self.held_catalogue(now)?;
        let refused = self.non_compliant_without_deviation(self.answers.values(), catalogue, today);
        if !refused.is_empty() {
            return Err(CaseError::NonCompliantWithoutDeviation {
                requirements: refused,
            });
        }
        Ok(CaseChange::SelfDeclarationAccepted(Decision {
            reason: c.reason,
        }))
    }

    /// `return-self-declaration`.
    fn return_self_declaration(
        &self,
        c: ReturnSelfDeclaration,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, now, .. } = at;
        self.require(name, ESTABLISHING)?;
        self.require_submitted_declaration()?;
        let catalogue = self.held_catalogue(now)?;
        if let Some(remark) = c
            .remarks
            .iter()
            .find(|r| catalogue.requirement(&r.requirement).is_none())
        {
            return Err(CaseError::RequirementNotInCatalogue {
                requirement: remark.requirement.clone(),
            });
        }
        Ok(CaseChange::SelfDeclarationReturned(
            SelfDeclarationReturned {
                reason: c.reason,
                remarks: c.remarks,
            },
        ))
    }

    /// `agree-deviation`.
    fn agree_deviation(
        &self,
        c: AgreeDeviation,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, today, now, ..
        } = at;
        self.require(name, CONNECTED)?;
        if let Some(until) = c.valid_until {
            not_in_past("valid_until", until, today)?;
        }
        let catalogue = self.held_catalogue(now)?;
        let requirement = catalogue.requirement(&c.requirement).ok_or_else(|| {
            CaseError::RequirementNotInCatalogue {
                requirement: c.requirement.clone(),
            }
        })?;
        if requirement.level != Level::Must {
            return Err(CaseError::DeviationNotNeeded {
                requirement: c.requirement,
            });
        }
        if !self.lapsed(&c.requirement, today) {
            return Err(CaseError::DeviationAlreadyAgreed {
                requirement: c.requirement,
            });
        }
        Ok(CaseChange::DeviationAgreed(DeviationAgreed {
            requirement: c.requirement,
            reason: c.reason,
            valid_until: c.valid_until,
        }))
    }

    /// `record-staff-commitment`.
    fn record_staff_commitment(
        &self,
        c: RecordStaffCommitment,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, today, .. } = at;
        self.require(name, CONNECTED)?;
        not_in_future("signed_on", c.signed_on, today)?;
        if self
            .staff_commitments
            .get(&c.person.subject())
            .is_some_and(|kinds| kinds.contains(&c.kind))
        {
            return Err(CaseError::CommitmentAlreadyRecorded { kind: c.kind });
        }
        Ok(CaseChange::StaffCommitmentRecorded(
            StaffCommitmentRecorded {
                person: c.person,
                kind: c.kind,
                signed_on: c.signed_on,
            },
        ))
    }

    /// `record-milestone`.
    fn record_milestone(
        &self,
        c: RecordMilestone,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, today, .. } = at;
        self.require(name, CONNECTED)?;
        not_in_future("completed_on", c.completed_on, today)?;
        let kind = c.milestone.kind();
        if self.milestones.contains_key(&kind) {
            return Err(CaseError::MilestoneAlreadyRecorded { milestone: kind });
        }
        Ok(CaseChange::MilestoneRecorded(MilestoneRecorded {
            milestone: c.milestone,
            completed_on: c.completed_on,
        }))
    }

    /// `complete-training`.
    fn complete_training(
        &self,
        c: CompleteTraining,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, today, now, ..
        } = at;
        self.require(name, ESTABLISHING)?;
        self.require_step(name, StepKind::Training, now)?;
        not_in_future("completed_on", c.completed_on, today)?;
        if self.training_completed_on.is_some() {
            return Err(CaseError::TrainingAlreadyCompleted);
        }
        Ok(CaseChange::TrainingCompleted(TrainingCompleted {
            completed_on: c.completed_on,
            description: c.description,
        }))
    }

    /// `schedule-final-verification`.
    fn schedule_final_verification(
        &self,
        c: ScheduleFinalVerification,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, today, now, ..
        } = at;
        self.require(name, ESTABLISHING)?;
        self.require_step(name, StepKind::FinalVerification, now)?;
        not_in_past("scheduled_for", c.scheduled_for, today)?;
        let round = match self.verification {
            None => 1,
            // Moving the date of the round not yet held.
            Some(v) if v.outcome == VerificationOutcome::Pending => v.round,
            // A failed round is followed by a new one.
            Some(v) if v.outcome == VerificationOutcome::Failed => v.round + 1,
            Some(v) => {
                return Err(CaseError::FinalVerificationNotPending {
                    round: v.round,
                    state: "approved",
                });
            }
        };
        Ok(CaseChange::FinalVerificationScheduled(
            FinalVerificationScheduled {
                round,
                scheduled_for: c.scheduled_for,
            },
        ))
    }

    /// `record-finding`.
    fn record_finding(
        &self,
        c: RecordFinding,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, today, now, ..
        } = at;
        let context = match self.phase {
            Phase::FinalVerification => VerificationContext::FinalVerification {
                round: self.pending_verification()?.round,
            },
            Phase::Live => VerificationContext::OnSite,
            phase => {
                return Err(CaseError::WrongPhase {
                    command: name,
                    phase,
                });
            }
        };
        if let Some(due) = c.due {
            not_in_past("due", due, today)?;
        }
        if let Some(requirement) = &c.requirement
            && self.held_catalogue(now)?.requirement(requirement).is_none()
        {
            return Err(CaseError::RequirementNotInCatalogue {
                requirement: requirement.clone(),
            });
        }
        let finding = self
            .findings
            .keys()
            .next_back()
            .map_or(FindingNo::new(1), |last| last.next());
        Ok(CaseChange::FindingRecorded(FindingRecorded {
            finding,
            context,
            kind: c.kind,
            requirement: c.requirement,
            description: c.description,
            due: c.due,
        }))
    }

    /// `resolve-finding`.
    fn resolve_finding(
        &self,
        c: ResolveFinding,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, actor, .. } = at;
        self.require(name, CONNECTED)?;
        let finding = self
            .findings
            .get(&c.finding)
            .ok_or(CaseError::FindingNotFound { finding: c.finding })?;
        if finding.resolved {
            return Err(CaseError::FindingAlreadyResolved { finding: c.finding });
        }
        if finding.kind == FindingKind::Demand && actor.role == Role::Provider {
            return Err(CaseError::DemandIsTheRegions { finding: c.finding });
        }
        Ok(CaseChange::FindingResolved(FindingResolved {
            finding: c.finding,
            resolution: c.resolution,
        }))
    }

    /// `approve-final-verification`.
    fn approve_final_verification(
        &self,
        c: ApproveFinalVerification,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, today, .. } = at;
        self.require(name, &[Phase::FinalVerification])?;
        let verification = self.pending_verification()?;
        if today < verification.scheduled_for {
            return Err(CaseError::FinalVerificationNotHeld {
                scheduled_for: verification.scheduled_for,
            });
        }
        let open_demands = self.open_demands();
        if !open_demands.is_empty() {
            return Err(CaseError::OpenDemands {
                findings: open_demands,
            });
        }
        Ok(CaseChange::FinalVerificationApproved(
            FinalVerificationDecided {
                round: verification.round,
                reason: c.reason,
                open_findings: self.open_findings(FindingKind::Recommendation),
            },
        ))
    }

    /// `fail-final-verification`.
    fn fail_final_verification(
        &self,
        c: FailFinalVerification,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, today, .. } = at;
        self.require(name, &[Phase::FinalVerification])?;
        let verification = self.pending_verification()?;
        if today < verification.scheduled_for {
            return Err(CaseError::FinalVerificationNotHeld {
                scheduled_for: verification.scheduled_for,
            });
        }
        Ok(CaseChange::FinalVerificationFailed(
            FinalVerificationDecided {
                round: verification.round,
                reason: c.reason,
                open_findings: self.open_demands(),
            },
        ))
    }

    /// `sign-final-contract`.
    fn sign_final_contract(
        &self,
        c: SignFinalContract,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, today, now, ..
        } = at;
        self.require(name, &[Phase::FinalVerification])?;
        self.require_step(name, StepKind::FinalContract, now)?;
        if self.verification.map(|v| v.outcome) != Some(VerificationOutcome::Approved) {
            return Err(CaseError::FinalVerificationNotApproved);
        }
        if self.final_contract_signed_on.is_some() {
            return Err(CaseError::FinalContractAlreadySigned);
        }
        not_in_future("signed_on", c.signed_on, today)?;
        not_before("signed_on", c.signed_on, self.contract_signed_on)?;
        Ok(CaseChange::FinalContractSigned(FinalContractSigned {
            signed_on: c.signed_on,
            document: c.document,
        }))
    }

    /// `go-live`.
    fn go_live(&self, c: GoLive, at: Deciding<'_, '_>) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, today, now, ..
        } = at;
        self.require(name, ESTABLISHING)?;
        let catalogue = self.held_catalogue(now)?;
        let unmet = self.blockers(self.case_process(now)?);
        if !unmet.is_empty() {
            return Err(CaseError::GoLiveBlocked { unmet });
        }
        Ok(CaseChange::WentLive(WentLive {
            went_live_on: today,
            reason: c.reason,
            catalogue: catalogue.reference(),
        }))
    }

    /// `report-organisational-change`.
    fn report_organisational_change(
        &self,
        c: ReportOrganisationalChange,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, today, now, ..
        } = at;
        self.require(name, CONNECTED)?;
        let duty = match c.change {
            OrganisationalChange::PremisesChanged { .. } => DutyKind::PremisesChange,
            _ => DutyKind::OrganisationalChange,
        };
        Ok(CaseChange::OrganisationalChangeReported(
            OrganisationalChangeReported {
                reported_late: c.effective_on < today,
                change: c.change,
                effective_on: c.effective_on,
                description: c.description,
                timeliness: self.timeliness(duty, now),
            },
        ))
    }

    /// `request-non-standard-service`.
    fn request_non_standard_service(
        &self,
        c: RequestNonStandardService,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, today, now, ..
        } = at;
        self.require(name, CONNECTED)?;
        let request = self
            .service_requests
            .keys()
            .next_back()
            .map_or(ServiceRequestNo::new(1), |last| last.next());
        if let Some(desired) = c.desired_on {
            not_in_past("desired_on", desired, today)?;
        }
        Ok(CaseChange::NonStandardServiceRequested(
            NonStandardServiceRequested {
                request,
                service: c.service,
                justification: c.justification,
                desired_on: c.desired_on,
                function_and_technology: c.function_and_technology,
                timeliness: self.timeliness(DutyKind::NonStandardRequest, now),
            },
        ))
    }

    /// `decide-non-standard-service`.
    fn decide_non_standard_service(
        &self,
        c: DecideNonStandardService,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, .. } = at;
        self.require(name, CONNECTED)?;
        match self.service_requests.get(&c.request) {
            None => Err(CaseError::ServiceRequestNotFound { request: c.request }),
            Some(Some(_)) => Err(CaseError::ServiceRequestAlreadyDecided { request: c.request }),
            Some(None) => Ok(CaseChange::NonStandardServiceDecided(
                NonStandardServiceDecided {
                    request: c.request,
                    decision: c.decision,
                    reason: c.reason,
                },
            )),
        }
    }

    /// `attest-catalogue-version`.
    fn attest_catalogue_version(
        &self,
        c: AttestCatalogueVersion,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, today, now, ..
        } = at;
        self.require(name, CONNECTED)?;
        let held = self.held_catalogue(now)?;
        if c.version <= held.version {
            return Err(CaseError::CatalogueVersionNotNewer {
                held: held.version,
                requested: c.version,
            });
        }
        let target = now
            .catalogues
            .get(&held.programme, c.version)
            .ok_or_else(|| CaseError::UnknownCatalogueVersion {
                programme: held.programme.clone(),
                version: c.version,
            })?;
        if target.effective_from > today {
            return Err(CaseError::CatalogueVersionNotInForce {
                version: c.version,
                effective_from: target.effective_from,
            });
        }
        let diff = CatalogueDiff::between(held, target);
        AnswerCheck::of(&c.answers, diff.to_attest().map(|r| &r.id)).into_result()?;
        let refused = self.non_compliant_without_deviation(&c.answers, target, today);
        if !refused.is_empty() {
            return Err(CaseError::NonCompliantWithoutDeviation {
                requirements: refused,
            });
        }
        Ok(CaseChange::CatalogueVersionAttested(
            CatalogueVersionAttested {
                from: held.reference(),
                to: target.reference(),
                answers: c.answers,
                added: diff.added.iter().map(|r| r.id.clone()).collect(),
                changed: diff.changed.iter().map(|ch| ch.id.clone()).collect(),
                removed: diff.removed.iter().map(|r| r.id.clone()).collect(),
            },
        ))
    }

    /// `suspend-connection`.
    fn suspend_connection(
        &self,
        c: SuspendConnection,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, .. } = at;
        self.require(name, &[Phase::Live])?;
        Ok(CaseChange::ConnectionSuspended(Decision {
            reason: c.reason,
        }))
    }

    /// `resume-connection`.
    fn resume_connection(
        &self,
        c: ResumeConnection,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, .. } = at;
        self.require(name, &[Phase::Suspended])?;
        Ok(CaseChange::ConnectionResumed(Decision { reason: c.reason }))
    }

    /// `list-staff-member`.
    fn list_staff_member(
        &self,
        c: ListStaffMember,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, now, .. } = at;
        self.require(name, CONNECTED)?;
        self.require_step(name, StepKind::StaffCommitments, now)?;
        if self.staff_listed.contains_key(&c.person.subject()) {
            return Err(CaseError::StaffMemberAlreadyListed);
        }
        Ok(CaseChange::StaffMemberListed(StaffMemberListed {
            person: c.person,
            access_from: c.access_from,
            new_hire: self.went_live_on.is_some(),
        }))
    }

    /// `record-step-applicability`.
    fn record_step_applicability(
        &self,
        c: RecordStepApplicability,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, now, .. } = at;
        self.require(name, CONNECTED)?;
        let process = self.case_process(now)?;
        let step = process
            .step(&c.step)
            .ok_or_else(|| CaseError::UnknownStep {
                step: c.step.clone(),
                kind: "conditional",
            })?;
        if !step.condition.as_ref().is_some_and(|condition| {
            matches!(
                condition.on,
                ConditionKind::SystemConnected | ConditionKind::WhereRequired
            )
        }) {
            return Err(CaseError::StepNotConditional { step: c.step });
        }
        Ok(CaseChange::StepApplicabilityRecorded(
            StepApplicabilityRecorded {
                step: c.step,
                applies: c.applies,
                reason: c.reason,
            },
        ))
    }

    /// `record-plan`.
    fn record_plan(&self, c: RecordPlan, at: Deciding<'_, '_>) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, today, now, ..
        } = at;
        self.require(name, CONNECTED)?;
        not_in_future("recorded_on", c.recorded_on, today)?;
        let process = self.require_step(name, StepKind::Plan, now)?;
        if process
            .step(&c.step)
            .is_none_or(|step| step.kind != StepKind::Plan)
        {
            return Err(CaseError::UnknownStep {
                step: c.step,
                kind: "plan",
            });
        }
        if self.plans.contains_key(&c.step) {
            return Err(CaseError::PlanAlreadyRecorded { step: c.step });
        }
        Ok(CaseChange::PlanRecorded(PlanRecorded {
            step: c.step,
            recorded_on: c.recorded_on,
            document: c.document,
        }))
    }

    /// `record-technical-check`.
    fn record_technical_check(
        &self,
        c: RecordTechnicalCheck,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, today, now, ..
        } = at;
        self.require(name, CONNECTED)?;
        not_in_future("checked_on", c.checked_on, today)?;
        self.require_step(name, StepKind::TechnicalCheck, now)?;
        Ok(CaseChange::TechnicalCheckRecorded(TechnicalCheckRecorded {
            computer: c.computer,
            checked_on: c.checked_on,
            approved: c.approved,
            remark: c.remark,
        }))
    }

    /// `respond-to-finding`.
    fn respond_to_finding(
        &self,
        c: RespondToFinding,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, .. } = at;
        self.require(name, CONNECTED)?;
        let finding = self
            .findings
            .get(&c.finding)
            .ok_or(CaseError::FindingNotFound { finding: c.finding })?;
        if finding.resolved {
            return Err(CaseError::FindingAlreadyResolved { finding: c.finding });
        }
        Ok(CaseChange::FindingResponded(FindingResponded {
            finding: c.finding,
            remediation: c.remediation,
            evidence: c.evidence,
        }))
    }

    /// `reject-finding-response`.
    fn reject_finding_response(
        &self,
        c: RejectFindingResponse,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, .. } = at;
        self.require(name, CONNECTED)?;
        let finding = self
            .findings
            .get(&c.finding)
            .ok_or(CaseError::FindingNotFound { finding: c.finding })?;
        if finding.resolved {
            return Err(CaseError::FindingAlreadyResolved { finding: c.finding });
        }
        if !finding.response_pending {
            return Err(CaseError::NoFindingResponse { finding: c.finding });
        }
        Ok(CaseChange::FindingResponseRejected(
            FindingResponseRejected {
                finding: c.finding,
                reason: c.reason,
            },
        ))
    }

    /// `require-attestation`.
    fn require_attestation(
        &self,
        c: RequireAttestation,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding {
            name, today, now, ..
        } = at;
        self.require(name, CONNECTED)?;
        not_in_past("due", c.due, today)?;
        let held = self.held_catalogue(now)?;
        if c.version <= held.version {
            return Err(CaseError::CatalogueVersionNotNewer {
                held: held.version,
                requested: c.version,
            });
        }
        let target = now
            .catalogues
            .get(&held.programme, c.version)
            .ok_or_else(|| CaseError::UnknownCatalogueVersion {
                programme: held.programme.clone(),
                version: c.version,
            })?;
        if target.effective_from > c.due {
            return Err(CaseError::CatalogueVersionNotInForce {
                version: c.version,
                effective_from: target.effective_from,
            });
        }
        Ok(CaseChange::AttestationRequired(AttestationRequired {
            version: c.version,
            due: c.due,
            reason: c.reason,
        }))
    }

    /// `change-workstations`.
    fn change_workstations(
        &self,
        c: ChangeWorkstations,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, now, .. } = at;
        self.require(name, CONNECTED)?;
        if c.workstations == 0 {
            return Err(CaseError::NoWorkstations);
        }
        let catalogue = self.held_catalogue(now)?;
        Ok(CaseChange::WorkstationsChanged(WorkstationsChanged {
            workstations: c.workstations,
            groups: catalogue
                .application
                .workstation_group_size
                .map(|size| workstation_groups(c.workstations, size)),
            effective_on: c.effective_on,
        }))
    }

    /// `update-contact`.
    fn update_contact(
        &self,
        c: UpdateContact,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, .. } = at;
        self.require(name, CONNECTED)?;
        Ok(CaseChange::ContactUpdated(ContactUpdated {
            contact: c.contact,
        }))
    }

    /// `end-connection`.
    fn end_connection(
        &self,
        c: EndConnection,
        at: Deciding<'_, '_>,
    ) -> Result<CaseChange, CaseError> {
        let Deciding { name, today, .. } = at;
        self.require(
            name,
            &[
                Phase::Approved,
                Phase::Establishment,
                Phase::FinalVerification,
                Phase::Live,
                Phase::Suspended,
            ],
        )?;
        not_in_future("ended_on", c.ended_on, today)?;
        not_before("ended_on", c.ended_on, self.applied_on())?;
        Ok(CaseChange::ConnectionEnded(ConnectionEnded {
            ending: c.ending,
            ended_on: c.ended_on,
            reason: c.reason,
        }))
    }

    /// The process the case follows, for a decision.
    fn case_process<'r>(&self, now: &Now<'r>) -> Result<&'r ProcessDefinition, CaseError> {
        if let Some(process) = self.process(now.catalogues, now.today) {
            return Ok(process);
        }
        let (programme, version) = match (&self.process, &self.held_to, &self.facts) {
            (Some(pinned), _, _) => (pinned.programme.clone(), pinned.version),
            (None, Some(held), _) => (held.programme.clone(), held.version),
            (None, None, Some(facts)) => {
                return Err(CaseError::NoCatalogueInForce {
                    programme: facts.programme.clone(),
                    on: now.today,
                });
            }
            (None, None, None) => {
                return Err(CaseError::WrongPhase {
                    command: "follow the programme's process",
                    phase: self.phase,
                });
            }
        };
        Err(CaseError::NoProcessDefinition { programme, version })
    }

    /// The case's process, if it has a step of `kind`; otherwise the command records
    /// something the programme's document does not name, and is refused.
    fn require_step<'r>(
        &self,
        command: &'static str,
        kind: StepKind,
        now: &Now<'r>,
    ) -> Result<&'r ProcessDefinition, CaseError> {
        let process = self.case_process(now)?;
        if process.has(kind) {
            Ok(process)
        } else {
            Err(CaseError::StepNotInProcess {
                command,
                programme: process.programme.clone(),
                kind,
            })
        }
    }

    fn require_submitted_declaration(&self) -> Result<(), CaseError> {
        if self.declaration == DeclarationStatus::Submitted {
            Ok(())
        } else {
            Err(CaseError::NoSelfDeclarationToReview {
                status: self.declaration,
            })
        }
    }

    fn pending_verification(&self) -> Result<VerificationState, CaseError> {
        match self.verification {
            Some(v) if v.outcome == VerificationOutcome::Pending => Ok(v),
            Some(v) => Err(CaseError::FinalVerificationNotPending {
                round: v.round,
                state: if v.outcome == VerificationOutcome::Approved {
                    "approved"
                } else {
                    "failed"
                },
            }),
            None => Err(CaseError::WrongPhase {
                command: "hold the final verification",
                phase: self.phase,
            }),
        }
    }

    /// Applies one recorded change. Never fails: every rule was checked when it was decided.
    fn evolve(&mut self, change: CaseChange) {
        match change {
            CaseChange::ApplicationSubmitted(e) => {
                self.phase = Phase::Application;
                self.facts = Some(CaseFacts {
                    case_id: e.case_id,
                    region: e.region,
                    programme: e.programme,
                    org_number: e.org_number,
                    unit_name: e.unit_name,
                    applied_on: e.applied_on,
                    requested_go_live: e.requested_go_live,
                    service_packages: e.service_packages,
                    lead_time: e.lead_time,
                });
                self.workstations.insert(e.applied_on, e.workstations);
            }
            CaseChange::ApplicationApproved(_) => self.phase = Phase::Approved,
            CaseChange::ApplicationRejected(_) => self.phase = Phase::Rejected,
            CaseChange::ContractSigned(e) => {
                self.phase = Phase::Establishment;
                self.contract_signed_on = Some(e.signed_on);
                self.held_to = Some(e.catalogue);
                self.process = e.process;
            }
            CaseChange::AgreementSigned(e) => {
                self.agreements.insert(e.agreement, e.signed_on);
            }
            CaseChange::SelfDeclarationSubmitted(e) => {
                self.declaration = DeclarationStatus::Submitted;
                self.answers = e
                    .answers
                    .into_iter()
                    .map(|a| (a.requirement.clone(), a))
                    .collect();
            }
            CaseChange::SelfDeclarationAccepted(_) => {
                self.declaration = DeclarationStatus::Accepted;
            }
            CaseChange::SelfDeclarationReturned(_) => {
                self.declaration = DeclarationStatus::Returned;
            }
            CaseChange::DeviationAgreed(e) => {
                self.deviations.insert(e.requirement, e.valid_until);
            }
            CaseChange::StaffCommitmentRecorded(e) => {
                self.staff_commitments
                    .entry(e.person.subject())
                    .or_default()
                    .insert(e.kind);
            }
            CaseChange::MilestoneRecorded(e) => {
                if let Milestone::WorkstationsRegistered { count } = &e.milestone {
                    self.registered_workstations = Some(*count);
                }
                self.milestones.insert(e.milestone.kind(), e.completed_on);
            }
            CaseChange::TrainingCompleted(e) => {
                self.training_completed_on = Some(e.completed_on);
            }
            CaseChange::FinalVerificationScheduled(e) => {
                self.phase = Phase::FinalVerification;
                self.verification = Some(VerificationState {
                    round: e.round,
                    scheduled_for: e.scheduled_for,
                    outcome: VerificationOutcome::Pending,
                });
            }
            CaseChange::FindingRecorded(e) => {
                self.findings.insert(
                    e.finding,
                    FindingState {
                        kind: e.kind,
                        context: e.context,
                        requirement: e.requirement,
                        resolved: false,
                        due: e.due,
                        response_pending: false,
                    },
                );
            }
            CaseChange::FindingResolved(e) => {
                if let Some(finding) = self.findings.get_mut(&e.finding) {
                    finding.resolved = true;
                    finding.response_pending = false;
                }
            }
            CaseChange::FinalVerificationApproved(_) => {
                if let Some(v) = &mut self.verification {
                    v.outcome = VerificationOutcome::Approved;
                }
            }
            CaseChange::FinalVerificationFailed(_) => {
                if let Some(v) = &mut self.verification {
                    v.outcome = VerificationOutcome::Failed;
                }
            }
            CaseChange::FinalContractSigned(e) => {
                self.final_contract_signed_on = Some(e.signed_on);
            }
            CaseChange::WentLive(e) => {
                self.phase = Phase::Live;
                self.went_live_on = Some(e.went_live_on);
            }
            CaseChange::OrganisationalChangeReported(e) => {
                if let (OrganisationalChange::NameChanged { new_name }, Some(facts)) =
                    (e.change, &mut self.facts)
                {
                    facts.unit_name = new_name;
                }
            }
            CaseChange::NonStandardServiceRequested(e) => {
                self.service_requests.insert(e.request, None);
            }
            CaseChange::NonStandardServiceDecided(e) => {
                self.service_requests.insert(e.request, Some(e.decision));
            }
            CaseChange::CatalogueVersionAttested(e) => {
                for removed in &e.removed {
                    self.answers.remove(removed);
                }
                for answer in e.answers {
                    self.answers.insert(answer.requirement.clone(), answer);
                }
                if self
                    .attestation_required
                    .is_some_and(|(version, _)| version <= e.to.version)
                {
                    self.attestation_required = None;
                }
                self.held_to = Some(e.to);
            }
            CaseChange::ConnectionSuspended(_) => self.phase = Phase::Suspended,
            CaseChange::ConnectionResumed(_) => self.phase = Phase::Live,
            CaseChange::ConnectionEnded(e) => {
                self.phase = Phase::Ended;
                self.ended_on = Some(e.ended_on);
            }
            CaseChange::StaffMemberListed(e) => {
                self.staff_listed
                    .insert(e.person.subject(), (e.access_from, e.new_hire));
            }
            CaseChange::WorkstationsChanged(e) => {
                self.workstations.insert(e.effective_on, e.workstations);
            }
            CaseChange::ContactUpdated(_) => {}
            CaseChange::AttestationRequired(e) => {
                self.attestation_required = Some((e.version, e.due));
            }
            CaseChange::StepApplicabilityRecorded(e) => {
                self.step_applies.insert(e.step, e.applies);
            }
            CaseChange::PlanRecorded(e) => {
                self.plans.insert(e.step, e.recorded_on);
            }
            CaseChange::TechnicalCheckRecorded(e) => {
                self.computers.insert(e.computer, e.approved);
            }
            CaseChange::FindingResponded(e) => {
                if let Some(finding) = self.findings.get_mut(&e.finding) {
                    finding.response_pending = true;
                }
            }
            CaseChange::FindingResponseRejected(e) => {
                if let Some(finding) = self.findings.get_mut(&e.finding) {
                    finding.response_pending = false;
                }
            }
        }
    }
}

/// Checks an application against its programme's catalogue and the lead-time rule.
fn submit_application(
    actor: &Actor,
    app: Application,
    now: &Now<'_>,
) -> Result<ApplicationSubmitted, CaseError> {
    let today = now.today;
    if now.catalogues.versions(&app.programme).next().is_none() {
        return Err(CaseError::UnknownProgramme {
            programme: app.programme,
        });
    }
    let catalogue = now
        .catalogues
        .in_force(&app.programme, today)
        .ok_or_else(|| CaseError::NoCatalogueInForce {
            programme: app.programme.clone(),
            on: today,
        })?;
    if catalogue.region != actor.region {
        return Err(CaseError::ProgrammeOfOtherRegion {
            programme: app.programme,
            programme_region: catalogue.region.clone(),
            actor_region: actor.region.clone(),
        });
    }
    if actor.role == Role::Provider && actor.provider_org.as_ref() != Some(&app.org_number) {
        return Err(CaseError::OrganisationMismatch);
    }

    let problems = application_problems(&app, catalogue, today);
    if !problems.is_empty() {
        return Err(CaseError::InvalidApplication { problems });
    }

    let lead_time = catalogue.lead_time.as_ref().map(|lead| {
        let earliest = today
            .checked_add_months(Months::new(lead.months))
            .unwrap_or(NaiveDate::MAX);
        LeadTimeCheck {
            months: lead.months,
            kind: lead.kind,
            earliest,
            requested: app.requested_go_live,
            met: app.requested_go_live >= earliest,
        }
    });

    Ok(ApplicationSubmitted {
        case_id: app.case_id,
        region: catalogue.region.clone(),
        programme: app.programme,
        catalogue_in_force: catalogue.reference(),
        applied_on: today,
        unit_name: app.unit_name,
        org_number: app.org_number,
        workstation_groups: catalogue
            .application
            .workstation_group_size
            .map(|size| workstation_groups(app.workstations, size)),
        service_packages: app.service_packages,
        optional_services: app.optional_services,
        workstations: app.workstations,
        listed_patients: app.listed_patients,
        contacts: app.contacts,
        requested_go_live: app.requested_go_live,
        call_measurement_system: app.call_measurement_system,
        lead_time,
    })
}

fn application_problems(
    app: &Application,
    catalogue: &Catalogue,
    today: NaiveDate,
) -> Vec<ApplicationProblem> {
    let mut problems = Vec::new();
    let named: BTreeSet<_> = app.contacts.iter().map(|c| c.role).collect();
    for role in &catalogue.application.required_contacts {
        if !named.contains(role) {
            problems.push(ApplicationProblem::MissingContact { role: *role });
        }
    }
    for package in &app.service_packages {
        if catalogue.service_package(package).is_none() {
            problems.push(ApplicationProblem::UnknownServicePackage {
                package: package.to_string(),
            });
        }
    }
    for package in catalogue.service_packages.iter().filter(|p| p.mandatory) {
        if !app.service_packages.contains(&package.id) {
            problems.push(ApplicationProblem::MandatoryPackageMissing {
                package: package.id.to_string(),
            });
        }
    }
    for service in &app.optional_services {
        if !catalogue
            .prices
            .iter()
            .any(|p| p.optional && &p.item == service)
        {
            problems.push(ApplicationProblem::UnknownOptionalService {
                service: service.clone(),
            });
        }
    }
    if app.workstations == 0 {
        problems.push(ApplicationProblem::NoWorkstations);
    }
    if catalogue.application.requires_call_measurement_system
        && app.call_measurement_system.is_none()
    {
        problems.push(ApplicationProblem::CallMeasurementSystemMissing);
    }
    let priced_per_patient = catalogue
        .prices
        .iter()
        .any(|p| p.unit == PriceUnit::PerListedPatientPerYear && !p.optional);
    if priced_per_patient && app.listed_patients.is_none() {
        problems.push(ApplicationProblem::ListedPatientsMissing);
    }
    if app.requested_go_live <= today {
        problems.push(ApplicationProblem::RequestedGoLiveNotInFuture);
    }
    problems
}
