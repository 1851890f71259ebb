//! What happened to a connection case. Events are facts in the past tense, never changed or
//! deleted; each carries its actor and time ([`CaseEvent`]) and what read models need, so
//! that no projection has to consult anything but the log.
//!
//! Every event type has an explicit version ([`CaseChange::version`]). A change to an
//! event's shape gets a new version and an upcaster for the old one, and a golden file per
//! type and version under `domain/tests/golden/` keeps stored history readable.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::values::{
    Answer, CommitmentKind, Ending, FindingKind, LeadTimeCheck, Milestone, NamedContact,
    OrganisationalChange, Remark, ServiceDecision, StaffMember, VerificationContext,
};
use crate::actor::Actor;
use crate::catalogue::CatalogueRef;
use crate::identity::OrgNumber;
use crate::ids::{
    CaseId, FindingNo, ProgrammeId, RegionId, RequirementId, ServicePackageId, ServiceRequestNo,
};
use crate::personal::Personal;
use crate::process::{ProcessRef, StepId};
use crate::text::{LongText, Reason, ShortText};

/// One event of a connection case: who, when, and what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEvent {
    pub actor: Actor,
    /// When the domain decided it, by the injected clock.
    pub at: DateTime<Utc>,
    pub change: CaseChange,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CaseChange {
    ApplicationSubmitted(ApplicationSubmitted),
    ApplicationApproved(Decision),
    ApplicationRejected(Decision),
    ContractSigned(ContractSigned),
    AgreementSigned(AgreementSigned),
    SelfDeclarationSubmitted(SelfDeclarationSubmitted),
    SelfDeclarationAccepted(Decision),
    SelfDeclarationReturned(SelfDeclarationReturned),
    DeviationAgreed(DeviationAgreed),
    StaffCommitmentRecorded(StaffCommitmentRecorded),
    MilestoneRecorded(MilestoneRecorded),
    TrainingCompleted(TrainingCompleted),
    FinalVerificationScheduled(FinalVerificationScheduled),
    FindingRecorded(FindingRecorded),
    FindingResolved(FindingResolved),
    FinalVerificationApproved(FinalVerificationDecided),
    FinalVerificationFailed(FinalVerificationDecided),
    FinalContractSigned(FinalContractSigned),
    WentLive(WentLive),
    OrganisationalChangeReported(OrganisationalChangeReported),
    NonStandardServiceRequested(NonStandardServiceRequested),
    NonStandardServiceDecided(NonStandardServiceDecided),
    CatalogueVersionAttested(CatalogueVersionAttested),
    ConnectionSuspended(Decision),
    ConnectionResumed(Decision),
    ConnectionEnded(ConnectionEnded),
    StaffMemberListed(StaffMemberListed),
    StepApplicabilityRecorded(StepApplicabilityRecorded),
    PlanRecorded(PlanRecorded),
    TechnicalCheckRecorded(TechnicalCheckRecorded),
    FindingResponded(FindingResponded),
    FindingResponseRejected(FindingResponseRejected),
    AttestationRequired(AttestationRequired),
    WorkstationsChanged(WorkstationsChanged),
    ContactUpdated(ContactUpdated),
}

/// Every event type of a case with its current version, in [`CaseChange`]'s order.
pub const CASE_EVENT_TYPES: [(&str, &str); 35] = [
    ("ApplicationSubmitted", "1"),
    ("ApplicationApproved", "1"),
    ("ApplicationRejected", "1"),
    ("ContractSigned", "1"),
    ("AgreementSigned", "1"),
    ("SelfDeclarationSubmitted", "1"),
    ("SelfDeclarationAccepted", "1"),
    ("SelfDeclarationReturned", "1"),
    ("DeviationAgreed", "1"),
    ("StaffCommitmentRecorded", "2"),
    ("MilestoneRecorded", "1"),
    ("TrainingCompleted", "1"),
    ("FinalVerificationScheduled", "1"),
    ("FindingRecorded", "1"),
    ("FindingResolved", "1"),
    ("FinalVerificationApproved", "1"),
    ("FinalVerificationFailed", "1"),
    ("FinalContractSigned", "1"),
    ("WentLive", "1"),
    ("OrganisationalChangeReported", "1"),
    ("NonStandardServiceRequested", "1"),
    ("NonStandardServiceDecided", "1"),
    ("CatalogueVersionAttested", "1"),
    ("ConnectionSuspended", "1"),
    ("ConnectionResumed", "1"),
    ("ConnectionEnded", "1"),
    ("StaffMemberListed", "1"),
    ("StepApplicabilityRecorded", "1"),
    ("PlanRecorded", "1"),
    ("TechnicalCheckRecorded", "1"),
    ("FindingResponded", "1"),
    ("FindingResponseRejected", "1"),
    ("AttestationRequired", "1"),
    ("WorkstationsChanged", "1"),
    ("ContactUpdated", "1"),
];

impl CaseChange {
    const fn index(&self) -> usize {
        match self {
            Self::ApplicationSubmitted(_) => 0,
            Self::ApplicationApproved(_) => 1,
            Self::ApplicationRejected(_) => 2,
            Self::ContractSigned(_) => 3,
            Self::AgreementSigned(_) => 4,
            Self::SelfDeclarationSubmitted(_) => 5,
            Self::SelfDeclarationAccepted(_) => 6,
            Self::SelfDeclarationReturned(_) => 7,
            Self::DeviationAgreed(_) => 8,
            Self::StaffCommitmentRecorded(_) => 9,
            Self::MilestoneRecorded(_) => 10,
            Self::TrainingCompleted(_) => 11,
            Self::FinalVerificationScheduled(_) => 12,
            Self::FindingRecorded(_) => 13,
            Self::FindingResolved(_) => 14,
            Self::FinalVerificationApproved(_) => 15,
            Self::FinalVerificationFailed(_) => 16,
            Self::FinalContractSigned(_) => 17,
            Self::WentLive(_) => 18,
            Self::OrganisationalChangeReported(_) => 19,
            Self::NonStandardServiceRequested(_) => 20,
            Self::NonStandardServiceDecided(_) => 21,
            Self::CatalogueVersionAttested(_) => 22,
            Self::ConnectionSuspended(_) => 23,
            Self::ConnectionResumed(_) => 24,
            Self::ConnectionEnded(_) => 25,
            Self::StaffMemberListed(_) => 26,
            Self::StepApplicabilityRecorded(_) => 27,
            Self::PlanRecorded(_) => 28,
            Self::TechnicalCheckRecorded(_) => 29,
            Self::FindingResponded(_) => 30,
            Self::FindingResponseRejected(_) => 31,
            Self::AttestationRequired(_) => 32,
            Self::WorkstationsChanged(_) => 33,
            Self::ContactUpdated(_) => 34,
        }
    }

    /// The event type's name, e.g. `ContractSigned`.
    pub const fn name(&self) -> &'static str {
        CASE_EVENT_TYPES[self.index()].0
    }

    /// The event type's current version.
    pub const fn version(&self) -> &'static str {
        CASE_EVENT_TYPES[self.index()].1
    }

    /// The reason recorded with a decision; `None` for events that are not decisions.
    pub const fn reason(&self) -> Option<&Reason> {
        match self {
            Self::ApplicationApproved(d)
            | Self::ApplicationRejected(d)
            | Self::SelfDeclarationAccepted(d)
            | Self::ConnectionSuspended(d)
            | Self::ConnectionResumed(d) => Some(&d.reason),
            Self::SelfDeclarationReturned(e) => Some(&e.reason),
            Self::DeviationAgreed(e) => Some(&e.reason),
            Self::FinalVerificationApproved(e) | Self::FinalVerificationFailed(e) => {
                Some(&e.reason)
            }
            Self::WentLive(e) => Some(&e.reason),
            Self::NonStandardServiceDecided(e) => Some(&e.reason),
            Self::ConnectionEnded(e) => Some(&e.reason),
            Self::StepApplicabilityRecorded(e) => Some(&e.reason),
            Self::FindingResponseRejected(e) => Some(&e.reason),
            Self::AttestationRequired(e) => Some(&e.reason),
            _ => None,
        }
    }
}

impl DomainEvent for CaseEvent {
    fn event_type(&self) -> String {
        self.change.name().to_owned()
    }

    fn event_version(&self) -> String {
        self.change.version().to_owned()
    }
}

/// A decision whose only content is its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationSubmitted {
    pub case_id: CaseId,
    pub region: RegionId,
    pub programme: ProgrammeId,
    /// The catalogue version in force when the application was made.
    pub catalogue_in_force: CatalogueRef,
    pub applied_on: NaiveDate,
    pub unit_name: ShortText,
    pub org_number: OrgNumber,
    pub service_packages: BTreeSet<ServicePackageId>,
    pub optional_services: BTreeSet<String>,
    pub workstations: u32,
    /// Groups of registered workstations, where the programme bills per group.
    pub workstation_groups: Option<u32>,
    pub listed_patients: Option<u32>,
    pub contacts: Vec<NamedContact>,
    pub requested_go_live: NaiveDate,
    pub call_measurement_system: Option<ShortText>,
    /// The lead-time check against the requested go-live date, where the programme has one.
    pub lead_time: Option<LeadTimeCheck>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractSigned {
    pub signed_on: NaiveDate,
    pub document: Option<ShortText>,
    /// The catalogue version the case is held to from now on: the one in force on the day
    /// of signing.
    pub catalogue: CatalogueRef,
    /// The process version the case follows from now on: the one of the same catalogue
    /// version. Absent in contracts recorded before processes were pinned; such a case
    /// follows the process of the catalogue version it is held to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementSigned {
    pub agreement: RequirementId,
    pub signed_on: NaiveDate,
    pub counterparty: ShortText,
    pub document: Option<ShortText>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfDeclarationSubmitted {
    /// The catalogue version the answers answer.
    pub catalogue: CatalogueRef,
    pub answers: Vec<Answer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfDeclarationReturned {
    pub reason: Reason,
    pub remarks: Vec<Remark>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviationAgreed {
    pub requirement: RequirementId,
    pub reason: Reason,
    pub valid_until: Option<NaiveDate>,
}

/// Version 2: the HSA-id is inside the sealed person (version 1 had it in clear beside it;
/// [`crate::case::upcast`] reads version 1 as version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffCommitmentRecorded {
    pub person: Personal<StaffMember>,
    pub kind: CommitmentKind,
    pub signed_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestoneRecorded {
    pub milestone: Milestone,
    pub completed_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingCompleted {
    pub completed_on: NaiveDate,
    pub description: LongText,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalVerificationScheduled {
    /// 1 for the first final verification, 2 after a failed one, ...
    pub round: u32,
    pub scheduled_for: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRecorded {
    pub finding: FindingNo,
    pub context: VerificationContext,
    pub kind: FindingKind,
    pub requirement: Option<RequirementId>,
    pub description: LongText,
    pub due: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingResolved {
    pub finding: FindingNo,
    pub resolution: LongText,
}

/// The outcome of a final verification round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalVerificationDecided {
    pub round: u32,
    pub reason: Reason,
    /// Findings still open at the decision: recommendations when approved (they never
    /// block), demands when failed.
    pub open_findings: Vec<FindingNo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalContractSigned {
    pub signed_on: NaiveDate,
    pub document: Option<ShortText>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WentLive {
    pub went_live_on: NaiveDate,
    pub reason: Reason,
    /// The catalogue version the case went live under.
    pub catalogue: CatalogueRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganisationalChangeReported {
    pub change: OrganisationalChange,
    pub effective_on: NaiveDate,
    pub description: Option<LongText>,
    /// Reported after it took effect, not "in good time" (Dalarna BUP §8.2).
    pub reported_late: bool,
    /// The programme's timeliness words for this kind of change, as its document writes
    /// them ("i god tid", "omgående"); absent where the document gives none, and in reports
    /// recorded before they were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeliness: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonStandardServiceRequested {
    pub request: ServiceRequestNo,
    pub service: ShortText,
    pub justification: LongText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_and_technology: Option<LongText>,
    /// The programme's timeliness words ("i god tid innan önskat införande"), where its
    /// document gives them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeliness: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonStandardServiceDecided {
    pub request: ServiceRequestNo,
    pub decision: ServiceDecision,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueVersionAttested {
    pub from: CatalogueRef,
    pub to: CatalogueRef,
    /// Answers to every added or materially changed requirement.
    pub answers: Vec<Answer>,
    pub added: Vec<RequirementId>,
    pub changed: Vec<RequirementId>,
    pub removed: Vec<RequirementId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionEnded {
    pub ending: Ending,
    pub ended_on: NaiveDate,
    pub reason: Reason,
}

/// A user of the provider listed with the day the user's access starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffMemberListed {
    pub person: Personal<StaffMember>,
    pub access_from: NaiveDate,
    /// Listed after go-live: a new hire ("vid nyanställning").
    pub new_hire: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepApplicabilityRecorded {
    pub step: StepId,
    pub applies: bool,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRecorded {
    pub step: StepId,
    pub recorded_on: NaiveDate,
    pub document: ShortText,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TechnicalCheckRecorded {
    pub computer: ShortText,
    pub checked_on: NaiveDate,
    pub approved: bool,
    pub remark: Option<LongText>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingResponded {
    pub finding: FindingNo,
    pub remediation: LongText,
    pub evidence: Vec<ShortText>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingResponseRejected {
    pub finding: FindingNo,
    pub reason: Reason,
}

/// The region requires attestation to a catalogue version by a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationRequired {
    pub version: u32,
    pub due: NaiveDate,
    pub reason: Reason,
}

/// The provider's registered workstations from a date, with the billed groups where the
/// programme bills per group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkstationsChanged {
    pub workstations: u32,
    pub groups: Option<u32>,
    pub effective_on: NaiveDate,
}

/// A named contact replaced for its role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactUpdated {
    pub contact: NamedContact,
}
