//! What can be asked of a connection case. Each command is a struct so that the API can take
//! it as one request body; [`CaseCommand`] gathers them for the aggregate, and
//! [`Issued`] adds who issued it.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::permission::Permission;
use super::values::{
    Answer, Application, CommitmentKind, Ending, FindingKind, Milestone, NamedContact,
    OrganisationalChange, Remark, ServiceDecision, StaffMember,
};
use crate::actor::Actor;
use crate::ids::{FindingNo, RequirementId, ServiceRequestNo};
use crate::personal::Personal;
use crate::process::StepId;
use crate::text::{LongText, Reason, ShortText};

/// A command together with the actor who issued it. The actor comes from the caller's
/// verified token, never from the command's body.
#[derive(Debug, Clone, PartialEq)]
pub struct Issued<C> {
    pub actor: Actor,
    pub command: C,
}

impl<C> Issued<C> {
    pub const fn new(actor: Actor, command: C) -> Self {
        Self { actor, command }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApproveApplication {
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectApplication {
    pub reason: Reason,
}

/// Sign the connection contract (anslutningsavtal); starts the establishment phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignContract {
    pub signed_on: NaiveDate,
    /// The region's reference to the signed document (diarienummer, archive id).
    pub document: Option<ShortText>,
}

/// Record that an agreement the programme demands was signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignAgreement {
    /// The requirement of the case's catalogue that demands the agreement.
    pub agreement: RequirementId,
    pub signed_on: NaiveDate,
    /// Who signed with the provider, e.g. "Inera AB" or the region.
    pub counterparty: ShortText,
    pub document: Option<ShortText>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitSelfDeclaration {
    pub answers: Vec<Answer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptSelfDeclaration {
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnSelfDeclaration {
    pub reason: Reason,
    #[serde(default)]
    pub remarks: Vec<Remark>,
}

/// Agree that the provider may deviate from a must-requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreeDeviation {
    pub requirement: RequirementId,
    pub reason: Reason,
    /// The deviation lapses after this date, when it is temporary.
    pub valid_until: Option<NaiveDate>,
}

/// Record a staff member's signed commitment (ansvarsförbindelse, sekretesserinran).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordStaffCommitment {
    pub person: Personal<StaffMember>,
    pub kind: CommitmentKind,
    pub signed_on: NaiveDate,
}

/// List a user of the provider who will have access to the region's IT, with the day the
/// access starts: at establishment every user, later each new hire. Where the programme has
/// every user sign commitments, a listed user without them blocks go-live (and, after it,
/// is flagged where the programme repeats the commitments at every new hire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListStaffMember {
    pub person: Personal<StaffMember>,
    pub access_from: NaiveDate,
}

/// Record whether a conditional step of the programme's process applies to this case: a
/// special agreement for a system the unit connects (Jämtland's Stöd och behandling and
/// Hjälpmedelssystem), or an agreement the document demands "om så krävs". A conditional
/// step nobody has said applies does not block go-live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordStepApplicability {
    pub step: StepId,
    pub applies: bool,
    pub reason: Reason,
}

/// Record a plan the programme's process has the parties draw up (Jämtland's joint IT
/// plan, Värmland Fysioterapi's activity plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordPlan {
    pub step: StepId,
    pub recorded_on: NaiveDate,
    /// The region's reference to the plan (archive id, document name).
    pub document: ShortText,
}

/// Record the region's check of one connecting computer (Värmland Fysioterapi §3: "krävs
/// att anslutande dator godkänns i den kontroll som görs vid anslutning").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordTechnicalCheck {
    /// The computer as the provider and region name it (inventory number, host name).
    pub computer: ShortText,
    pub checked_on: NaiveDate,
    pub approved: bool,
    pub remark: Option<LongText>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordMilestone {
    pub milestone: Milestone,
    pub completed_on: NaiveDate,
}

/// Record the introductory training (introduktionsutbildning) as completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteTraining {
    pub completed_on: NaiveDate,
    pub description: LongText,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleFinalVerification {
    pub scheduled_for: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFinding {
    pub kind: FindingKind,
    /// The requirement the finding concerns, when it concerns one.
    pub requirement: Option<RequirementId>,
    pub description: LongText,
    pub due: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveFinding {
    pub finding: FindingNo,
    pub resolution: LongText,
}

/// The provider's answer to a finding: what it did, with its evidence. A demand stays
/// open until the region accepts the remediation by resolving it, or rejects it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RespondToFinding {
    pub finding: FindingNo,
    pub remediation: LongText,
    #[serde(default)]
    pub evidence: Vec<ShortText>,
}

/// The region rejects the provider's remediation of a finding; the finding stays open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectFindingResponse {
    pub finding: FindingNo,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApproveFinalVerification {
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailFinalVerification {
    pub reason: Reason,
}

/// Sign the final contract, which follows an approved final verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignFinalContract {
    pub signed_on: NaiveDate,
    pub document: Option<ShortText>,
}

/// Decide go-live (driftstart): the operating phase begins today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoLive {
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportOrganisationalChange {
    pub change: OrganisationalChange,
    pub effective_on: NaiveDate,
    pub description: Option<LongText>,
}

/// Ask, in writing, to use a service or product outside the region's delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestNonStandardService {
    pub service: ShortText,
    pub justification: LongText,
    /// When the provider wishes to introduce it (Värmland §2: "i god tid innan önskat
    /// införande").
    #[serde(default)]
    pub desired_on: Option<NaiveDate>,
    /// The solution, as to function and technology (Värmland §2: "Vårdgivaren ska beskriva
    /// lösningen, både vad gäller funktion och teknik").
    #[serde(default)]
    pub function_and_technology: Option<LongText>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecideNonStandardService {
    pub request: ServiceRequestNo,
    pub decision: ServiceDecision,
    pub reason: Reason,
}

/// Attest to a newer version of the programme's catalogue, answering every requirement that
/// was added or materially changed since the version the case is held to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestCatalogueVersion {
    pub version: u32,
    pub answers: Vec<Answer>,
}

/// The region requires the case to attest to a newer catalogue version by a date: the
/// documents reserve the region's right to change the appendix (Dalarna BUP §1: "Regionen
/// förbehåller sig rätten att förändra innehållet i denna bilaga"; Dalarna BUP §2: rules
/// "vid var tid gällande"), and the date is the region's to set (no document states one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequireAttestation {
    pub version: u32,
    pub due: NaiveDate,
    pub reason: Reason,
}

/// The provider's workstations change: the number registered from a date (Jämtland bills
/// per started group of registered workstations, §2.5 and the price list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeWorkstations {
    pub workstations: u32,
    pub effective_on: NaiveDate,
}

/// A named contact replaced for a role (Värmland §3: "Vårdgivaren ska hålla Region IT
/// uppdaterad på kontaktinformation för vårdgivarens HSA- ombud").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateContact {
    pub contact: NamedContact,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspendConnection {
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeConnection {
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndConnection {
    pub ending: Ending,
    pub ended_on: NaiveDate,
    pub reason: Reason,
}

/// Every command a connection case accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", content = "body", rename_all = "kebab-case")]
pub enum CaseCommand {
    SubmitApplication(Application),
    ApproveApplication(ApproveApplication),
    RejectApplication(RejectApplication),
    SignContract(SignContract),
    SignAgreement(SignAgreement),
    SubmitSelfDeclaration(SubmitSelfDeclaration),
    AcceptSelfDeclaration(AcceptSelfDeclaration),
    ReturnSelfDeclaration(ReturnSelfDeclaration),
    AgreeDeviation(AgreeDeviation),
    RecordStaffCommitment(RecordStaffCommitment),
    RecordMilestone(RecordMilestone),
    CompleteTraining(CompleteTraining),
    ScheduleFinalVerification(ScheduleFinalVerification),
    RecordFinding(RecordFinding),
    ResolveFinding(ResolveFinding),
    ApproveFinalVerification(ApproveFinalVerification),
    FailFinalVerification(FailFinalVerification),
    SignFinalContract(SignFinalContract),
    GoLive(GoLive),
    ReportOrganisationalChange(ReportOrganisationalChange),
    RequestNonStandardService(RequestNonStandardService),
    DecideNonStandardService(DecideNonStandardService),
    AttestCatalogueVersion(AttestCatalogueVersion),
    SuspendConnection(SuspendConnection),
    ResumeConnection(ResumeConnection),
    EndConnection(EndConnection),
    ListStaffMember(ListStaffMember),
    RecordStepApplicability(RecordStepApplicability),
    RecordPlan(RecordPlan),
    RecordTechnicalCheck(RecordTechnicalCheck),
    RespondToFinding(RespondToFinding),
    RejectFindingResponse(RejectFindingResponse),
    RequireAttestation(RequireAttestation),
    ChangeWorkstations(ChangeWorkstations),
    UpdateContact(UpdateContact),
}

/// Every command's name in kebab case, the API's path segment
/// (`POST /v1/cases/{id}/sign-contract`) and the name errors use, with the permission it
/// needs, grouped by who acts (DOMAIN.md's table of actors). In [`CaseCommand`]'s order.
pub const COMMANDS: [(&str, Permission); 35] = [
    ("submit-application", Permission::Apply),
    ("approve-application", Permission::Decide),
    ("reject-application", Permission::Decide),
    ("sign-contract", Permission::Decide),
    ("sign-agreement", Permission::Decide),
    ("submit-self-declaration", Permission::Declare),
    ("accept-self-declaration", Permission::Decide),
    ("return-self-declaration", Permission::Decide),
    ("agree-deviation", Permission::Decide),
    ("record-staff-commitment", Permission::Record),
    ("record-milestone", Permission::Verify),
    ("complete-training", Permission::Verify),
    ("schedule-final-verification", Permission::Verify),
    ("record-finding", Permission::Verify),
    ("resolve-finding", Permission::Record),
    ("approve-final-verification", Permission::Verify),
    ("fail-final-verification", Permission::Verify),
    ("sign-final-contract", Permission::Decide),
    ("go-live", Permission::Decide),
    ("report-organisational-change", Permission::Declare),
    ("request-non-standard-service", Permission::Declare),
    ("decide-non-standard-service", Permission::Verify),
    ("attest-catalogue-version", Permission::Declare),
    ("suspend-connection", Permission::Decide),
    ("resume-connection", Permission::Decide),
    ("end-connection", Permission::Decide),
    ("list-staff-member", Permission::Record),
    ("record-step-applicability", Permission::Decide),
    ("record-plan", Permission::Verify),
    ("record-technical-check", Permission::Verify),
    ("respond-to-finding", Permission::Declare),
    ("reject-finding-response", Permission::Verify),
    ("require-attestation", Permission::Decide),
    ("change-workstations", Permission::Declare),
    ("update-contact", Permission::Declare),
];

impl CaseCommand {
    /// The command's name in kebab case.
    pub const fn name(&self) -> &'static str {
        COMMANDS[self.index()].0
    }

    /// Who may issue the command.
    pub const fn permission(&self) -> Permission {
        COMMANDS[self.index()].1
    }

    const fn index(&self) -> usize {
        match self {
            Self::SubmitApplication(_) => 0,
            Self::ApproveApplication(_) => 1,
            Self::RejectApplication(_) => 2,
            Self::SignContract(_) => 3,
            Self::SignAgreement(_) => 4,
            Self::SubmitSelfDeclaration(_) => 5,
            Self::AcceptSelfDeclaration(_) => 6,
            Self::ReturnSelfDeclaration(_) => 7,
            Self::AgreeDeviation(_) => 8,
            Self::RecordStaffCommitment(_) => 9,
            Self::RecordMilestone(_) => 10,
            Self::CompleteTraining(_) => 11,
            Self::ScheduleFinalVerification(_) => 12,
            Self::RecordFinding(_) => 13,
            Self::ResolveFinding(_) => 14,
            Self::ApproveFinalVerification(_) => 15,
            Self::FailFinalVerification(_) => 16,
            Self::SignFinalContract(_) => 17,
            Self::GoLive(_) => 18,
            Self::ReportOrganisationalChange(_) => 19,
            Self::RequestNonStandardService(_) => 20,
            Self::DecideNonStandardService(_) => 21,
            Self::AttestCatalogueVersion(_) => 22,
            Self::SuspendConnection(_) => 23,
            Self::ResumeConnection(_) => 24,
            Self::EndConnection(_) => 25,
            Self::ListStaffMember(_) => 26,
            Self::RecordStepApplicability(_) => 27,
            Self::RecordPlan(_) => 28,
            Self::RecordTechnicalCheck(_) => 29,
            Self::RespondToFinding(_) => 30,
            Self::RejectFindingResponse(_) => 31,
            Self::RequireAttestation(_) => 32,
            Self::ChangeWorkstations(_) => 33,
            Self::UpdateContact(_) => 34,
        }
    }
}

/// The permission a command needs, by its kebab-case name; `None` for an unknown name.
pub fn permission_by_name(name: &str) -> Option<Permission> {
    COMMANDS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, permission)| *permission)
}
