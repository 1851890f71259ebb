use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{FindingNo, RequirementId};

/// One unmet condition of go-live (DOMAIN.md: no go-live without a signed contract, an
/// accepted self-declaration, every agreement the programme demands, completed training,
/// an approved final verification with no open demand, and the final contract signed).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "condition", rename_all = "snake_case")]
pub enum Blocker {
    ContractNotSigned,
    SelfDeclarationNotAccepted,
    AgreementNotSigned { agreement: RequirementId },
    TrainingNotCompleted,
    FinalVerificationNotApproved,
    DemandOpen { finding: FindingNo },
    FinalContractNotSigned,
}

impl Blocker {
    /// A stable code for the condition.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::ContractNotSigned => "contract_not_signed",
            Self::SelfDeclarationNotAccepted => "self_declaration_not_accepted",
            Self::AgreementNotSigned { .. } => "agreement_not_signed",
            Self::TrainingNotCompleted => "training_not_completed",
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
            Self::TrainingNotCompleted => f.write_str("the introductory training is not completed"),
            Self::FinalVerificationNotApproved => {
                f.write_str("the final verification is not approved")
            }
            Self::DemandOpen { finding } => write!(f, "demand {finding} is open"),
            Self::FinalContractNotSigned => f.write_str("the final contract is not signed"),
        }
    }
}
