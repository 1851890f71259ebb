use chrono::NaiveDate;
use serde::Serialize;

use super::gate::Blocker;
use super::phase::Phase;
use super::values::{CommitmentKind, DeclarationStatus, MilestoneKind};
use crate::actor::Role;
use crate::contact::ContactRole;
use crate::ids::{FindingNo, ProgrammeId, RegionId, RequirementId, ServiceRequestNo};
use crate::process::{StepId, StepKind};

/// How a refusal should be understood by a caller: the API maps each class to one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The actor's role may not issue the command.
    Forbidden,
    /// The command does not fit the case's current state (wrong phase, already done,
    /// blocked); it may succeed later.
    Conflict,
    /// The command's content breaks a rule whatever the state.
    Unprocessable,
}

/// Why a connection case refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum CaseError {
    #[error("a {role} may not {command}")]
    NotPermitted { command: &'static str, role: Role },
    #[error("cannot {command} while the case is in phase {phase}")]
    WrongPhase { command: &'static str, phase: Phase },
    #[error("no programme {programme} is known")]
    UnknownProgramme { programme: ProgrammeId },
    #[error("programme {programme} has no catalogue in force on {on}")]
    NoCatalogueInForce {
        programme: ProgrammeId,
        on: NaiveDate,
    },
    #[error("programme {programme} belongs to region {programme_region}, not {actor_region}")]
    ProgrammeOfOtherRegion {
        programme: ProgrammeId,
        programme_region: RegionId,
        actor_region: RegionId,
    },
    #[error("a provider can only apply for its own organisation")]
    OrganisationMismatch,
    #[error("the application is incomplete: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidApplication { problems: Vec<ApplicationProblem> },
    #[error("{field} ({date}) {problem}")]
    InvalidDate {
        field: &'static str,
        date: NaiveDate,
        problem: DateProblem,
    },
    #[error("requirement {requirement} is not in the catalogue the case is held to")]
    RequirementNotInCatalogue { requirement: RequirementId },
    #[error("requirement {requirement} is not an agreement to sign")]
    NotAnAgreement { requirement: RequirementId },
    #[error("agreement {agreement} is already signed")]
    AgreementAlreadySigned { agreement: RequirementId },
    #[error("the self-declaration is {status:?}; it cannot be submitted now")]
    SelfDeclarationNotExpected { status: DeclarationStatus },
    #[error("there is no submitted self-declaration to review (it is {status:?})")]
    NoSelfDeclarationToReview { status: DeclarationStatus },
    #[error(
        "the answers do not match the catalogue: {} missing, {} unknown, {} answered twice, {} without the description a non-compliant or not-applicable answer needs",
        missing.len(), unknown.len(), duplicated.len(), undescribed.len()
    )]
    IncompleteAnswers {
        missing: Vec<RequirementId>,
        unknown: Vec<RequirementId>,
        duplicated: Vec<RequirementId>,
        undescribed: Vec<RequirementId>,
    },
    #[error(
        "must-requirements answered \"does not comply\" without an agreed deviation: {}",
        join(requirements)
    )]
    NonCompliantWithoutDeviation { requirements: Vec<RequirementId> },
    #[error("requirement {requirement} is a should-requirement and needs no deviation")]
    DeviationNotNeeded { requirement: RequirementId },
    #[error("a deviation from {requirement} is already agreed")]
    DeviationAlreadyAgreed { requirement: RequirementId },
    /// Names neither the person nor the HSA-id: an error body is no outlet for personal data.
    #[error("the {kind:?} of this staff member is already recorded")]
    CommitmentAlreadyRecorded { kind: CommitmentKind },
    #[error("the milestone {milestone:?} is already recorded")]
    MilestoneAlreadyRecorded { milestone: MilestoneKind },
    #[error("the training is already completed")]
    TrainingAlreadyCompleted,
    #[error("final verification round {round} is {state}")]
    FinalVerificationNotPending { round: u32, state: &'static str },
    #[error("the final verification is scheduled for {scheduled_for} and has not been held yet")]
    FinalVerificationNotHeld { scheduled_for: NaiveDate },
    #[error(
        "the final verification cannot be approved while demands are open: {}",
        join(findings)
    )]
    OpenDemands { findings: Vec<FindingNo> },
    #[error("no finding {finding} in this case")]
    FindingNotFound { finding: FindingNo },
    #[error("finding {finding} is already resolved")]
    FindingAlreadyResolved { finding: FindingNo },
    #[error("the final contract needs an approved final verification")]
    FinalVerificationNotApproved,
    #[error("the final contract is already signed")]
    FinalContractAlreadySigned,
    #[error("go-live is blocked: {}", join(unmet))]
    GoLiveBlocked { unmet: Vec<Blocker> },
    #[error("no request {request} for a non-standard service in this case")]
    ServiceRequestNotFound { request: ServiceRequestNo },
    #[error("request {request} is already decided")]
    ServiceRequestAlreadyDecided { request: ServiceRequestNo },
    #[error(
        "version {requested} of the catalogue is not newer than version {held}, which the case is held to"
    )]
    CatalogueVersionNotNewer { held: u32, requested: u32 },
    #[error("programme {programme} has no catalogue version {version}")]
    UnknownCatalogueVersion {
        programme: ProgrammeId,
        version: u32,
    },
    #[error("catalogue version {version} takes effect on {effective_from}")]
    CatalogueVersionNotInForce {
        version: u32,
        effective_from: NaiveDate,
    },
    #[error(
        "programme {programme} has no {kind} step: its document names none, so it cannot be recorded ({command})"
    )]
    StepNotInProcess {
        command: &'static str,
        programme: ProgrammeId,
        kind: StepKind,
    },
    #[error("the case's process has no {kind} step {step}")]
    UnknownStep { step: StepId, kind: &'static str },
    #[error("step {step} is not one whose applicability the region records")]
    StepNotConditional { step: StepId },
    #[error("plan {step} is already recorded")]
    PlanAlreadyRecorded { step: StepId },
    #[error("this user is already listed")]
    StaffMemberAlreadyListed,
    #[error(
        "demand {finding} is the region's: only the region resolves it; the provider responds with respond-to-finding"
    )]
    DemandIsTheRegions { finding: FindingNo },
    #[error("finding {finding} has no response awaiting the region")]
    NoFindingResponse { finding: FindingNo },
    #[error("programme {programme} v{version} has no process definition")]
    NoProcessDefinition {
        programme: ProgrammeId,
        version: u32,
    },
    #[error("at least one workstation is needed")]
    NoWorkstations,
}

impl crate::error::DomainError for CaseError {
    const CODES: &'static [&'static str] = &[
        "not_permitted",
        "wrong_phase",
        "unknown_programme",
        "no_catalogue_in_force",
        "programme_of_other_region",
        "organisation_mismatch",
        "invalid_application",
        "invalid_date",
        "requirement_not_in_catalogue",
        "not_an_agreement",
        "agreement_already_signed",
        "self_declaration_not_expected",
        "no_self_declaration_to_review",
        "incomplete_answers",
        "non_compliant_without_deviation",
        "deviation_not_needed",
        "deviation_already_agreed",
        "commitment_already_recorded",
        "milestone_already_recorded",
        "training_already_completed",
        "final_verification_not_pending",
        "final_verification_not_held",
        "open_demands",
        "finding_not_found",
        "finding_already_resolved",
        "final_verification_not_approved",
        "final_contract_already_signed",
        "go_live_blocked",
        "service_request_not_found",
        "service_request_already_decided",
        "catalogue_version_not_newer",
        "unknown_catalogue_version",
        "catalogue_version_not_in_force",
        "step_not_in_process",
        "unknown_step",
        "step_not_conditional",
        "plan_already_recorded",
        "staff_member_already_listed",
        "demand_is_the_regions",
        "no_finding_response",
        "no_process_definition",
        "no_workstations",
    ];

    fn code(&self) -> &'static str {
        Self::code(self)
    }

    fn class(&self) -> ErrorClass {
        Self::class(self)
    }
}

#[cfg(test)]
mod codes {
    use super::*;

    /// One error of every variant; the match below fails to compile when a variant is added,
    /// so that it gets an instance here and its code a place in `CODES`.
    fn every_variant() -> Vec<CaseError> {
        let programme = ProgrammeId::parse("test-programme").unwrap();
        let region = RegionId::parse("dalarna").unwrap();
        let requirement = RequirementId::parse("DBUP-014").unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let finding = FindingNo::new(1);
        let request = ServiceRequestNo::new(1);
        let step = StepId::parse("gemensam-it-plan").unwrap();
        let all = vec![
            CaseError::NotPermitted {
                command: "c",
                role: Role::Officer,
            },
            CaseError::WrongPhase {
                command: "c",
                phase: Phase::New,
            },
            CaseError::UnknownProgramme {
                programme: programme.clone(),
            },
            CaseError::NoCatalogueInForce {
                programme: programme.clone(),
                on: date,
            },
            CaseError::ProgrammeOfOtherRegion {
                programme: programme.clone(),
                programme_region: region.clone(),
                actor_region: region,
            },
            CaseError::OrganisationMismatch,
            CaseError::InvalidApplication { problems: vec![] },
            CaseError::InvalidDate {
                field: "f",
                date,
                problem: DateProblem::InFuture,
            },
            CaseError::RequirementNotInCatalogue {
                requirement: requirement.clone(),
            },
            CaseError::NotAnAgreement {
                requirement: requirement.clone(),
            },
            CaseError::AgreementAlreadySigned {
                agreement: requirement.clone(),
            },
            CaseError::SelfDeclarationNotExpected {
                status: DeclarationStatus::NotSubmitted,
            },
            CaseError::NoSelfDeclarationToReview {
                status: DeclarationStatus::NotSubmitted,
            },
            CaseError::IncompleteAnswers {
                missing: vec![],
                unknown: vec![],
                duplicated: vec![],
                undescribed: vec![],
            },
            CaseError::NonCompliantWithoutDeviation {
                requirements: vec![],
            },
            CaseError::DeviationNotNeeded {
                requirement: requirement.clone(),
            },
            CaseError::DeviationAlreadyAgreed { requirement },
            CaseError::CommitmentAlreadyRecorded {
                kind: CommitmentKind::ResponsibilityCommitment,
            },
            CaseError::MilestoneAlreadyRecorded {
                milestone: MilestoneKind::NetworkConnected,
            },
            CaseError::TrainingAlreadyCompleted,
            CaseError::FinalVerificationNotPending {
                round: 1,
                state: "s",
            },
            CaseError::FinalVerificationNotHeld {
                scheduled_for: date,
            },
            CaseError::OpenDemands { findings: vec![] },
            CaseError::FindingNotFound { finding },
            CaseError::FindingAlreadyResolved { finding },
            CaseError::FinalVerificationNotApproved,
            CaseError::FinalContractAlreadySigned,
            CaseError::GoLiveBlocked { unmet: vec![] },
            CaseError::ServiceRequestNotFound { request },
            CaseError::ServiceRequestAlreadyDecided { request },
            CaseError::CatalogueVersionNotNewer {
                held: 1,
                requested: 1,
            },
            CaseError::UnknownCatalogueVersion {
                programme: programme.clone(),
                version: 1,
            },
            CaseError::CatalogueVersionNotInForce {
                version: 1,
                effective_from: date,
            },
            CaseError::StepNotInProcess {
                command: "c",
                programme: programme.clone(),
                kind: StepKind::Training,
            },
            CaseError::UnknownStep {
                step: step.clone(),
                kind: "plan",
            },
            CaseError::StepNotConditional { step: step.clone() },
            CaseError::PlanAlreadyRecorded { step },
            CaseError::StaffMemberAlreadyListed,
            CaseError::DemandIsTheRegions { finding },
            CaseError::NoFindingResponse { finding },
            CaseError::NoProcessDefinition {
                programme,
                version: 1,
            },
            CaseError::NoWorkstations,
        ];
        for error in &all {
            match error {
                CaseError::NotPermitted { .. }
                | CaseError::WrongPhase { .. }
                | CaseError::UnknownProgramme { .. }
                | CaseError::NoCatalogueInForce { .. }
                | CaseError::ProgrammeOfOtherRegion { .. }
                | CaseError::OrganisationMismatch
                | CaseError::InvalidApplication { .. }
                | CaseError::InvalidDate { .. }
                | CaseError::RequirementNotInCatalogue { .. }
                | CaseError::NotAnAgreement { .. }
                | CaseError::AgreementAlreadySigned { .. }
                | CaseError::SelfDeclarationNotExpected { .. }
                | CaseError::NoSelfDeclarationToReview { .. }
                | CaseError::IncompleteAnswers { .. }
                | CaseError::NonCompliantWithoutDeviation { .. }
                | CaseError::DeviationNotNeeded { .. }
                | CaseError::DeviationAlreadyAgreed { .. }
                | CaseError::CommitmentAlreadyRecorded { .. }
                | CaseError::MilestoneAlreadyRecorded { .. }
                | CaseError::TrainingAlreadyCompleted
                | CaseError::FinalVerificationNotPending { .. }
                | CaseError::FinalVerificationNotHeld { .. }
                | CaseError::OpenDemands { .. }
                | CaseError::FindingNotFound { .. }
                | CaseError::FindingAlreadyResolved { .. }
                | CaseError::FinalVerificationNotApproved
                | CaseError::FinalContractAlreadySigned
                | CaseError::GoLiveBlocked { .. }
                | CaseError::ServiceRequestNotFound { .. }
                | CaseError::ServiceRequestAlreadyDecided { .. }
                | CaseError::CatalogueVersionNotNewer { .. }
                | CaseError::UnknownCatalogueVersion { .. }
                | CaseError::CatalogueVersionNotInForce { .. }
                | CaseError::StepNotInProcess { .. }
                | CaseError::UnknownStep { .. }
                | CaseError::StepNotConditional { .. }
                | CaseError::PlanAlreadyRecorded { .. }
                | CaseError::StaffMemberAlreadyListed
                | CaseError::DemandIsTheRegions { .. }
                | CaseError::NoFindingResponse { .. }
                | CaseError::NoProcessDefinition { .. }
                | CaseError::NoWorkstations => {}
            }
        }
        all
    }

    #[test]
    fn codes_lists_exactly_the_codes_of_the_variants() {
        crate::error::assert_codes_match(&every_variant());
    }
}

/// What is wrong with a date in a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateProblem {
    InFuture,
    InPast,
    BeforePreviousStep,
}

impl std::fmt::Display for DateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::InFuture => "is in the future",
            Self::InPast => "is in the past",
            Self::BeforePreviousStep => "is before the case's previous step",
        })
    }
}

/// One problem with an application; all are reported together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ApplicationProblem {
    MissingContact { role: ContactRole },
    UnknownServicePackage { package: String },
    MandatoryPackageMissing { package: String },
    UnknownOptionalService { service: String },
    NoWorkstations,
    CallMeasurementSystemMissing,
    ListedPatientsMissing,
    RequestedGoLiveNotInFuture,
}

impl std::fmt::Display for ApplicationProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingContact { role } => write!(f, "no {} named", role.as_str()),
            Self::UnknownServicePackage { package } => {
                write!(f, "the programme has no service package {package}")
            }
            Self::MandatoryPackageMissing { package } => {
                write!(f, "the mandatory service package {package} is missing")
            }
            Self::UnknownOptionalService { service } => {
                write!(f, "the programme has no optional service {service}")
            }
            Self::NoWorkstations => f.write_str("at least one workstation is needed"),
            Self::CallMeasurementSystemMissing => {
                f.write_str("the system for telephone-call measurement must be named")
            }
            Self::ListedPatientsMissing => f.write_str(
                "the expected number of listed patients is needed for the programme's per-patient prices",
            ),
            Self::RequestedGoLiveNotInFuture => {
                f.write_str("the requested go-live date must be in the future")
            }
        }
    }
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl CaseError {
    /// A stable, machine-readable code for the error.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::NotPermitted { .. } => "not_permitted",
            Self::WrongPhase { .. } => "wrong_phase",
            Self::UnknownProgramme { .. } => "unknown_programme",
            Self::NoCatalogueInForce { .. } => "no_catalogue_in_force",
            Self::ProgrammeOfOtherRegion { .. } => "programme_of_other_region",
            Self::OrganisationMismatch => "organisation_mismatch",
            Self::InvalidApplication { .. } => "invalid_application",
            Self::InvalidDate { .. } => "invalid_date",
            Self::RequirementNotInCatalogue { .. } => "requirement_not_in_catalogue",
            Self::NotAnAgreement { .. } => "not_an_agreement",
            Self::AgreementAlreadySigned { .. } => "agreement_already_signed",
            Self::SelfDeclarationNotExpected { .. } => "self_declaration_not_expected",
            Self::NoSelfDeclarationToReview { .. } => "no_self_declaration_to_review",
            Self::IncompleteAnswers { .. } => "incomplete_answers",
            Self::NonCompliantWithoutDeviation { .. } => "non_compliant_without_deviation",
            Self::DeviationNotNeeded { .. } => "deviation_not_needed",
            Self::DeviationAlreadyAgreed { .. } => "deviation_already_agreed",
            Self::CommitmentAlreadyRecorded { .. } => "commitment_already_recorded",
            Self::MilestoneAlreadyRecorded { .. } => "milestone_already_recorded",
            Self::TrainingAlreadyCompleted => "training_already_completed",
            Self::FinalVerificationNotPending { .. } => "final_verification_not_pending",
            Self::FinalVerificationNotHeld { .. } => "final_verification_not_held",
            Self::OpenDemands { .. } => "open_demands",
            Self::FindingNotFound { .. } => "finding_not_found",
            Self::FindingAlreadyResolved { .. } => "finding_already_resolved",
            Self::FinalVerificationNotApproved => "final_verification_not_approved",
            Self::FinalContractAlreadySigned => "final_contract_already_signed",
            Self::GoLiveBlocked { .. } => "go_live_blocked",
            Self::ServiceRequestNotFound { .. } => "service_request_not_found",
            Self::ServiceRequestAlreadyDecided { .. } => "service_request_already_decided",
            Self::CatalogueVersionNotNewer { .. } => "catalogue_version_not_newer",
            Self::UnknownCatalogueVersion { .. } => "unknown_catalogue_version",
            Self::CatalogueVersionNotInForce { .. } => "catalogue_version_not_in_force",
            Self::StepNotInProcess { .. } => "step_not_in_process",
            Self::UnknownStep { .. } => "unknown_step",
            Self::StepNotConditional { .. } => "step_not_conditional",
            Self::PlanAlreadyRecorded { .. } => "plan_already_recorded",
            Self::StaffMemberAlreadyListed => "staff_member_already_listed",
            Self::DemandIsTheRegions { .. } => "demand_is_the_regions",
            Self::NoFindingResponse { .. } => "no_finding_response",
            Self::NoProcessDefinition { .. } => "no_process_definition",
            Self::NoWorkstations => "no_workstations",
        }
    }

    pub const fn class(&self) -> ErrorClass {
        match self {
            Self::NotPermitted { .. } | Self::DemandIsTheRegions { .. } => ErrorClass::Forbidden,
            Self::WrongPhase { .. }
            | Self::PlanAlreadyRecorded { .. }
            | Self::StaffMemberAlreadyListed
            | Self::NoFindingResponse { .. }
            | Self::AgreementAlreadySigned { .. }
            | Self::SelfDeclarationNotExpected { .. }
            | Self::NoSelfDeclarationToReview { .. }
            | Self::NonCompliantWithoutDeviation { .. }
            | Self::DeviationAlreadyAgreed { .. }
            | Self::CommitmentAlreadyRecorded { .. }
            | Self::MilestoneAlreadyRecorded { .. }
            | Self::TrainingAlreadyCompleted
            | Self::FinalVerificationNotPending { .. }
            | Self::FinalVerificationNotHeld { .. }
            | Self::OpenDemands { .. }
            | Self::FindingAlreadyResolved { .. }
            | Self::FinalVerificationNotApproved
            | Self::FinalContractAlreadySigned
            | Self::GoLiveBlocked { .. }
            | Self::ServiceRequestAlreadyDecided { .. }
            | Self::CatalogueVersionNotNewer { .. }
            | Self::CatalogueVersionNotInForce { .. }
            | Self::NoCatalogueInForce { .. } => ErrorClass::Conflict,
            Self::UnknownProgramme { .. }
            | Self::ProgrammeOfOtherRegion { .. }
            | Self::OrganisationMismatch
            | Self::InvalidApplication { .. }
            | Self::InvalidDate { .. }
            | Self::RequirementNotInCatalogue { .. }
            | Self::NotAnAgreement { .. }
            | Self::IncompleteAnswers { .. }
            | Self::DeviationNotNeeded { .. }
            | Self::FindingNotFound { .. }
            | Self::ServiceRequestNotFound { .. }
            | Self::UnknownCatalogueVersion { .. }
            | Self::StepNotInProcess { .. }
            | Self::UnknownStep { .. }
            | Self::StepNotConditional { .. }
            | Self::NoProcessDefinition { .. }
            | Self::NoWorkstations => ErrorClass::Unprocessable,
        }
    }
}
