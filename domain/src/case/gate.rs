use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::values::CommitmentKind;
use crate::catalogue::LeadTimeKind;
use crate::ids::{DataSubjectId, FindingNo, RequirementId};
use crate::process::StepId;
use crate::text::ShortText;

/// One unmet condition of go-live. Which conditions a case has comes from its programme's
/// process (`domain/processes/`): every gating step whose condition holds, plus the
/// region's open demands, which always block ("måste vidtas"). The variants are declared in
/// the order a case usually meets them, and [`crate::case::ConnectionCase::blockers`]
/// answers them in that order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "condition", rename_all = "snake_case")]
pub enum Blocker {
    ContractNotSigned,
    SelfDeclarationNotAccepted,
    AgreementNotSigned {
        agreement: RequirementId,
    },
    /// A plan the process records (Jämtland's joint IT plan, Värmland Fysioterapi's
    /// activity plan) is not recorded.
    PlanNotRecorded {
        step: StepId,
    },
    TrainingNotCompleted,
    /// The programme has each user sign commitments, and no user is listed yet.
    StaffNotListed,
    /// A listed user has not signed a commitment the programme requires of every user.
    StaffCommitmentMissing {
        subject: DataSubjectId,
        commitment: CommitmentKind,
    },
    /// The programme checks each connecting computer (Värmland Fysioterapi) and none has
    /// passed the check yet.
    TechnicalCheckNotApproved,
    /// A computer failed its latest check.
    ComputerNotApproved {
        computer: ShortText,
    },
    FinalVerificationNotApproved,
    DemandOpen {
        finding: FindingNo,
    },
    FinalContractNotSigned,
}

impl Blocker {
    /// Every code a blocker can have, in declaration order.
    pub const CODES: [&'static str; 12] = [
        "contract_not_signed",
        "self_declaration_not_accepted",
        "agreement_not_signed",
        "plan_not_recorded",
        "training_not_completed",
        "staff_not_listed",
        "staff_commitment_missing",
        "technical_check_not_approved",
        "computer_not_approved",
        "final_verification_not_approved",
        "demand_open",
        "final_contract_not_signed",
    ];

    /// A stable code for the condition.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::ContractNotSigned => "contract_not_signed",
            Self::SelfDeclarationNotAccepted => "self_declaration_not_accepted",
            Self::AgreementNotSigned { .. } => "agreement_not_signed",
            Self::PlanNotRecorded { .. } => "plan_not_recorded",
            Self::TrainingNotCompleted => "training_not_completed",
            Self::StaffNotListed => "staff_not_listed",
            Self::StaffCommitmentMissing { .. } => "staff_commitment_missing",
            Self::TechnicalCheckNotApproved => "technical_check_not_approved",
            Self::ComputerNotApproved { .. } => "computer_not_approved",
            Self::FinalVerificationNotApproved => "final_verification_not_approved",
            Self::DemandOpen { .. } => "demand_open",
            Self::FinalContractNotSigned => "final_contract_not_signed",
        }
    }
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ContractNotSigned => f.write_str("the connection contract is not signed"),
            Self::SelfDeclarationNotAccepted => f.write_str("the self-declaration is not accepted"),
            Self::AgreementNotSigned { agreement } => {
                write!(f, "the agreement {agreement} is not signed")
            }
            Self::PlanNotRecorded { step } => write!(f, "the plan {step} is not recorded"),
            Self::TrainingNotCompleted => f.write_str("the introductory training is not completed"),
            Self::StaffNotListed => f.write_str("no user of the provider is listed"),
            Self::StaffCommitmentMissing {
                subject,
                commitment,
            } => write!(
                f,
                "user {subject} has not signed the {}",
                commitment.as_str()
            ),
            Self::TechnicalCheckNotApproved => {
                f.write_str("no connecting computer has passed the region's check")
            }
            Self::ComputerNotApproved { computer } => {
                write!(f, "computer {computer} failed the region's check")
            }
            Self::FinalVerificationNotApproved => {
                f.write_str("the final verification is not approved")
            }
            Self::DemandOpen { finding } => write!(f, "demand {finding} is open"),
            Self::FinalContractNotSigned => f.write_str("the final contract is not signed"),
        }
    }
}

/// Something the region should see about a case that does not block go-live: the
/// documents' benchmarks and the duties of the operating phase. Answered with the command
/// that raised it and shown with the case and in the overview.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "flag", rename_all = "snake_case")]
pub enum Flag {
    /// The requested start is earlier than the programme's lead time, counted from the
    /// application, allows: "minst 3 månader" (a minimum the work needs) or "ca 3 månader"
    /// (a benchmark).
    LeadTimeNotMet {
        kind: LeadTimeKind,
        months: u32,
        earliest: NaiveDate,
        requested: NaiveDate,
    },
    /// A user listed after go-live (a new hire) has not signed a commitment the programme
    /// requires at every new hire (Dalarna BUP §16, "vid nyanställning"). The user may not
    /// be given access until it is signed.
    StaffCommitmentMissing {
        subject: DataSubjectId,
        commitment: CommitmentKind,
    },
    /// The region requires attestation to a newer catalogue version by `due`.
    AttestationRequired { version: u32, due: NaiveDate },
    /// The date the region set for attestation has passed.
    AttestationOverdue { version: u32, due: NaiveDate },
    /// A demand of an on-site verification during operation is open (the region resolves
    /// it), overdue once its date has passed.
    DemandOpen {
        finding: FindingNo,
        due: Option<NaiveDate>,
        overdue: bool,
    },
    /// Region IT registered more workstations than the groups billed allow.
    WorkstationAllowanceExceeded {
        registered: u32,
        groups: u32,
        allowance: u32,
    },
}

impl Flag {
    /// Every code a flag can have.
    pub const CODES: [&'static str; 6] = [
        "lead_time_not_met",
        "staff_commitment_missing",
        "attestation_required",
        "attestation_overdue",
        "demand_open",
        "workstation_allowance_exceeded",
    ];

    pub const fn code(&self) -> &'static str {
        match self {
            Self::LeadTimeNotMet { .. } => "lead_time_not_met",
            Self::StaffCommitmentMissing { .. } => "staff_commitment_missing",
            Self::AttestationRequired { .. } => "attestation_required",
            Self::AttestationOverdue { .. } => "attestation_overdue",
            Self::DemandOpen { .. } => "demand_open",
            Self::WorkstationAllowanceExceeded { .. } => "workstation_allowance_exceeded",
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LeadTimeNotMet {
                kind,
                months,
                earliest,
                requested,
            } => {
                let words = match kind {
                    LeadTimeKind::Minimum => "at least",
                    LeadTimeKind::Approximate => "about",
                };
                write!(
                    f,
                    "the requested start {requested} is earlier than the programme's lead time of {words} {months} months allows ({earliest})"
                )
            }
            Self::StaffCommitmentMissing {
                subject,
                commitment,
            } => write!(
                f,
                "new user {subject} has not signed the {}",
                commitment.as_str()
            ),
            Self::AttestationRequired { version, due } => write!(
                f,
                "the region requires attestation to catalogue version {version} by {due}"
            ),
            Self::AttestationOverdue { version, due } => write!(
                f,
                "attestation to catalogue version {version} was due on {due}"
            ),
            Self::DemandOpen {
                finding,
                due,
                overdue,
            } => match (due, overdue) {
                (Some(due), true) => write!(f, "demand {finding} was due on {due}"),
                (Some(due), false) => write!(f, "demand {finding} is open, due {due}"),
                (None, _) => write!(f, "demand {finding} is open"),
            },
            Self::WorkstationAllowanceExceeded {
                registered,
                groups,
                allowance,
            } => write!(
                f,
                "{registered} workstations are registered but the {groups} groups billed allow {allowance}"
            ),
        }
    }
}
