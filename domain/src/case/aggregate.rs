//! The connection case aggregate: one provider unit joining one region programme.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{Months, NaiveDate};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::commands::{CaseCommand, Issued};
use super::error::{ApplicationProblem, CaseError, DateProblem};
use super::events::{
    AgreementSigned, ApplicationSubmitted, CaseChange, CaseEvent, CatalogueVersionAttested,
    ConnectionEnded, ContractSigned, Decision, DeviationAgreed, FinalContractSigned,
    FinalVerificationDecided, FinalVerificationScheduled, FindingRecorded, FindingResolved,
    MilestoneRecorded, NonStandardServiceDecided, NonStandardServiceRequested,
    OrganisationalChangeReported, SelfDeclarationReturned, SelfDeclarationSubmitted,
    StaffCommitmentRecorded, TrainingCompleted, WentLive,
};
use super::gate::Blocker;
use super::phase::Phase;
use super::values::{
    Answer, Application, CommitmentKind, Compliance, DeclarationStatus, FindingKind, LeadTimeCheck,
    MilestoneKind, OrganisationalChange, ServiceDecision, VerificationContext, VerificationOutcome,
};
use crate::actor::{Actor, Role};
use crate::catalogue::{
    Catalogue, CatalogueDiff, CatalogueRef, CatalogueRegistry, Category, Evidence, LeadTimeKind,
    Level, PriceUnit,
};
use crate::clock::Clock;
use crate::identity::OrgNumber;
use crate::ids::{
    CaseId, DataSubjectId, FindingNo, ProgrammeId, RegionId, RequirementId, ServiceRequestNo,
};
use crate::incident::IncidentContext;
use crate::money::workstation_groups;
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

    /// Every condition that still blocks go-live, judged against the catalogue the case is
    /// held to (or, before contract signing, the one given). Empty when go-live may happen.
    pub fn blockers(&self, catalogue: &Catalogue) -> Vec<Blocker> {
        let mut unmet = Vec::new();
        if self.contract_signed_on.is_none() {
            unmet.push(Blocker::ContractNotSigned);
        }
        if self.declaration != DeclarationStatus::Accepted {
            unmet.push(Blocker::SelfDeclarationNotAccepted);
        }
        for agreement in catalogue.required_agreements() {
            if !self.agreements.contains_key(&agreement.id) {
                unmet.push(Blocker::AgreementNotSigned {
                    agreement: agreement.id.clone(),
                });
            }
        }
        if self.training_completed_on.is_none() {
            unmet.push(Blocker::TrainingNotCompleted);
        }
        if self.verification.map(|v| v.outcome) != Some(VerificationOutcome::Approved) {
            unmet.push(Blocker::FinalVerificationNotApproved);
        }
        for finding in self.open_demands() {
            unmet.push(Blocker::DemandOpen { finding });
        }
        if self.final_contract_signed_on.is_none() {
            unmet.push(Blocker::FinalContractNotSigned);
        }
        unmet
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

    fn lapsed(&self, requirement: &RequirementId, today: NaiveDate) -> bool {
        match self.deviations.get(requirement) {
            None => true,
            Some(valid_until) => valid_until.is_some_and(|until| until < today),
        }
    }

    /// The must-requirements answered "does not comply" without a deviation in force.
    fn non_compliant_without_deviation<'a>(
        &self,
        answers: impl IntoIterator<Item = &'a Answer>,
        catalogue: &Catalogue,
        today: NaiveDate,
    ) -> Vec<RequirementId> {
        answers
            .into_iter()
            .filter(|a| a.compliance == Compliance::DoesNotComply)
            .filter(|a| {
                catalogue
                    .requirement(&a.requirement)
                    .is_some_and(|r| r.level == Level::Must)
            })
            .filter(|a| self.lapsed(&a.requirement, today))
            .map(|a| a.requirement.clone())
            .collect()
    }

    fn decide_change(
        &self,
        actor: &Actor,
        command: CaseCommand,
        now: &Now<'_>,
    ) -> Result<CaseChange, CaseError> {
        let name = command.name();
        let today = now.today;
        match command {
            CaseCommand::SubmitApplication(application) => {
                self.require(name, &[Phase::New])?;
                submit_application(actor, application, now).map(CaseChange::ApplicationSubmitted)
            }
            CaseCommand::ApproveApplication(c) => {
                self.require(name, &[Phase::Application])?;
                Ok(CaseChange::ApplicationApproved(Decision {
                    reason: c.reason,
                }))
            }
            CaseCommand::RejectApplication(c) => {
                self.require(name, &[Phase::Application])?;
                Ok(CaseChange::ApplicationRejected(Decision {
                    reason: c.reason,
                }))
            }
            CaseCommand::SignContract(c) => {
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
                Ok(CaseChange::ContractSigned(ContractSigned {
                    signed_on: c.signed_on,
                    document: c.document,
                    catalogue: catalogue.reference(),
                }))
            }
            CaseCommand::SignAgreement(c) => {
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
            CaseCommand::SubmitSelfDeclaration(c) => {
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
                AnswerCheck::of(&c.answers, catalogue.requirements.iter().map(|r| &r.id))
                    .into_result()?;
                Ok(CaseChange::SelfDeclarationSubmitted(
                    SelfDeclarationSubmitted {
                        catalogue: catalogue.reference(),
                        answers: c.answers,
                    },
                ))
            }
            CaseCommand::AcceptSelfDeclaration(c) => {
                self.require(name, ESTABLISHING)?;
                self.require_submitted_declaration()?;
                let catalogue = self.held_catalogue(now)?;
                let refused =
                    self.non_compliant_without_deviation(self.answers.values(), catalogue, today);
                if !refused.is_empty() {
                    return Err(CaseError::NonCompliantWithoutDeviation {
                        requirements: refused,
                    });
                }
                Ok(CaseChange::SelfDeclarationAccepted(Decision {
                    reason: c.reason,
                }))
            }
            CaseCommand::ReturnSelfDeclaration(c) => {
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
            CaseCommand::AgreeDeviation(c) => {
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
            CaseCommand::RecordStaffCommitment(c) => {
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
            CaseCommand::RecordMilestone(c) => {
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
            CaseCommand::CompleteTraining(c) => {
                self.require(name, ESTABLISHING)?;
                not_in_future("completed_on", c.completed_on, today)?;
                if self.training_completed_on.is_some() {
                    return Err(CaseError::TrainingAlreadyCompleted);
                }
                Ok(CaseChange::TrainingCompleted(TrainingCompleted {
                    completed_on: c.completed_on,
                    description: c.description,
                }))
            }
            CaseCommand::ScheduleFinalVerification(c) => {
                self.require(name, ESTABLISHING)?;
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
            CaseCommand::RecordFinding(c) => {
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
            CaseCommand::ResolveFinding(c) => {
                self.require(name, CONNECTED)?;
                let finding = self
                    .findings
                    .get(&c.finding)
                    .ok_or(CaseError::FindingNotFound { finding: c.finding })?;
                if finding.resolved {
                    return Err(CaseError::FindingAlreadyResolved { finding: c.finding });
                }
                Ok(CaseChange::FindingResolved(FindingResolved {
                    finding: c.finding,
                    resolution: c.resolution,
                }))
            }
            CaseCommand::ApproveFinalVerification(c) => {
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
            CaseCommand::FailFinalVerification(c) => {
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
            CaseCommand::SignFinalContract(c) => {
                self.require(name, &[Phase::FinalVerification])?;
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
            CaseCommand::GoLive(c) => {
                self.require(name, ESTABLISHING)?;
                let catalogue = self.held_catalogue(now)?;
                let unmet = self.blockers(catalogue);
                if !unmet.is_empty() {
                    return Err(CaseError::GoLiveBlocked { unmet });
                }
                Ok(CaseChange::WentLive(WentLive {
                    went_live_on: today,
                    reason: c.reason,
                    catalogue: catalogue.reference(),
                }))
            }
            CaseCommand::ReportOrganisationalChange(c) => {
                self.require(name, CONNECTED)?;
                Ok(CaseChange::OrganisationalChangeReported(
                    OrganisationalChangeReported {
                        reported_late: c.effective_on < today,
                        change: c.change,
                        effective_on: c.effective_on,
                        description: c.description,
                    },
                ))
            }
            CaseCommand::RequestNonStandardService(c) => {
                self.require(name, CONNECTED)?;
                let request = self
                    .service_requests
                    .keys()
                    .next_back()
                    .map_or(ServiceRequestNo::new(1), |last| last.next());
                Ok(CaseChange::NonStandardServiceRequested(
                    NonStandardServiceRequested {
                        request,
                        service: c.service,
                        justification: c.justification,
                    },
                ))
            }
            CaseCommand::DecideNonStandardService(c) => {
                self.require(name, CONNECTED)?;
                match self.service_requests.get(&c.request) {
                    None => Err(CaseError::ServiceRequestNotFound { request: c.request }),
                    Some(Some(_)) => {
                        Err(CaseError::ServiceRequestAlreadyDecided { request: c.request })
                    }
                    Some(None) => Ok(CaseChange::NonStandardServiceDecided(
                        NonStandardServiceDecided {
                            request: c.request,
                            decision: c.decision,
                            reason: c.reason,
                        },
                    )),
                }
            }
            CaseCommand::AttestCatalogueVersion(c) => {
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
            CaseCommand::SuspendConnection(c) => {
                self.require(name, &[Phase::Live])?;
                Ok(CaseChange::ConnectionSuspended(Decision {
                    reason: c.reason,
                }))
            }
            CaseCommand::ResumeConnection(c) => {
                self.require(name, &[Phase::Suspended])?;
                Ok(CaseChange::ConnectionResumed(Decision { reason: c.reason }))
            }
            CaseCommand::EndConnection(c) => {
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
                });
            }
            CaseChange::ApplicationApproved(_) => self.phase = Phase::Approved,
            CaseChange::ApplicationRejected(_) => self.phase = Phase::Rejected,
            CaseChange::ContractSigned(e) => {
                self.phase = Phase::Establishment;
                self.contract_signed_on = Some(e.signed_on);
                self.held_to = Some(e.catalogue);
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
                    },
                );
            }
            CaseChange::FindingResolved(e) => {
                if let Some(finding) = self.findings.get_mut(&e.finding) {
                    finding.resolved = true;
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
                self.held_to = Some(e.to);
            }
            CaseChange::ConnectionSuspended(_) => self.phase = Phase::Suspended,
            CaseChange::ConnectionResumed(_) => self.phase = Phase::Live,
            CaseChange::ConnectionEnded(e) => {
                self.phase = Phase::Ended;
                self.ended_on = Some(e.ended_on);
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
    if let Some(check) = &lead_time
        && !check.met
        && check.kind == LeadTimeKind::Minimum
    {
        return Err(CaseError::LeadTimeTooShort {
            requested: check.requested,
            earliest: check.earliest,
            months: check.months,
        });
    }

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
