//! The names of the read models: stable, because they name tables, registry rows, advisory
//! locks, metrics labels and CLI arguments.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectionName {
    CaseOverview,
    Pipeline,
    Findings,
    Incidents,
    ComplianceMatrix,
    StaffCommitments,
    Costs,
}

impl ProjectionName {
    pub const ALL: [Self; 7] = [
        Self::CaseOverview,
        Self::Pipeline,
        Self::Findings,
        Self::Incidents,
        Self::ComplianceMatrix,
        Self::StaffCommitments,
        Self::Costs,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CaseOverview => "case_overview",
            Self::Pipeline => "pipeline",
            Self::Findings => "findings",
            Self::Incidents => "incidents",
            Self::ComplianceMatrix => "compliance_matrix",
            Self::StaffCommitments => "staff_commitments",
            Self::Costs => "costs",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == raw)
    }

    /// The PostgreSQL advisory-lock key of this projection's leadership: FNV-1a of a
    /// namespaced name, so it is stable across releases and unlikely to meet anyone else's.
    pub(crate) fn lock_key(self) -> i64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in "anslut.projection.".bytes().chain(self.as_str().bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        i64::from_ne_bytes(hash.to_ne_bytes())
    }
}

impl fmt::Display for ProjectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_lock_keys_differ() {
        let mut keys = std::collections::BTreeSet::new();
        for name in ProjectionName::ALL {
            assert_eq!(ProjectionName::parse(name.as_str()), Some(name));
            assert!(keys.insert(name.lock_key()));
        }
    }
}
