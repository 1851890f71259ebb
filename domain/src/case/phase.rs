use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a connection case stands. Commands are accepted only in the phases the rules allow;
/// a command out of order is refused with an error naming the current phase.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No application has been submitted: the case does not exist yet.
    #[default]
    New,
    /// Application submitted (ansökan), awaiting the region's decision.
    Application,
    /// Application approved, awaiting the connection contract (kontraktstecknande).
    Approved,
    /// Contract signed: the establishment phase (etableringsfasen).
    Establishment,
    /// Final verification (slutverifiering) scheduled; until go-live.
    FinalVerification,
    /// In operation (driftsfasen).
    Live,
    /// Access suspended; can be resumed or ended, and incidents reported.
    Suspended,
    /// The connection has ended; only late incidents can still be reported.
    Ended,
    /// The application was rejected.
    Rejected,
}

impl Phase {
    pub const ALL: [Self; 9] = [
        Self::New,
        Self::Application,
        Self::Approved,
        Self::Establishment,
        Self::FinalVerification,
        Self::Live,
        Self::Suspended,
        Self::Ended,
        Self::Rejected,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Application => "application",
            Self::Approved => "approved",
            Self::Establishment => "establishment",
            Self::FinalVerification => "final_verification",
            Self::Live => "live",
            Self::Suspended => "suspended",
            Self::Ended => "ended",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    /// Establishment work (agreements, self-declaration, milestones, ...) happens here.
    pub const fn is_establishing(self) -> bool {
        matches!(self, Self::Establishment | Self::FinalVerification)
    }

    /// The contract is signed and the connection has not ended or been suspended.
    pub const fn is_connected(self) -> bool {
        matches!(
            self,
            Self::Establishment | Self::FinalVerification | Self::Live
        )
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
