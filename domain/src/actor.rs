//! Who did something: every event records its actor.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::identity::OrgNumber;
use crate::ids::RegionId;

/// What an authenticated user or system is allowed to be, as its token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A region case officer (Vårdvalsenheten, Hälsovalskansliet).
    Officer,
    /// Region IT (MiT-enheten): technical milestones, on-site verification, incidents.
    RegionIt,
    /// A provider's user (Leverantören, Vårdgivaren).
    Provider,
    /// An auditor: reads everything in its region, changes nothing.
    Auditor,
    /// A dashboard: reads projections, changes nothing.
    Dashboard,
    /// A region's case-management system, sending commands on the region's behalf.
    Integration,
}

impl Role {
    pub const ALL: [Self; 6] = [
        Self::Officer,
        Self::RegionIt,
        Self::Provider,
        Self::Auditor,
        Self::Dashboard,
        Self::Integration,
    ];

    /// The side of the process the role acts for.
    pub const fn party(self) -> Party {
        match self {
            Self::Officer | Self::RegionIt | Self::Integration => Party::Region,
            Self::Provider => Party::Provider,
            Self::Auditor | Self::Dashboard => Party::Reader,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Officer => "officer",
            Self::RegionIt => "region_it",
            Self::Provider => "provider",
            Self::Auditor => "auditor",
            Self::Dashboard => "dashboard",
            Self::Integration => "integration",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The side a role acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Region,
    Provider,
    /// Reads only; never sends a command.
    Reader,
}

/// The authenticated subject behind an action: a token's `sub`, 1 to 256 printable
/// characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Subject(String);

impl Subject {
    pub fn parse(raw: &str) -> Result<Self, ActorError> {
        if raw.is_empty() || raw.chars().count() > 256 || raw.chars().any(char::is_control) {
            return Err(ActorError::Subject);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Subject({})", self.0)
    }
}

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Why an actor could not be formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActorError {
    #[error("a subject is 1 to 256 printable characters")]
    Subject,
    #[error("a provider acts for an organisation and must name its organisationsnummer")]
    ProviderWithoutOrganisation,
}

/// Who did something: subject, role, region, and the provider organisation for providers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    pub subject: Subject,
    pub role: Role,
    pub region: RegionId,
    /// The organisation a provider acts for; `None` for region roles.
    pub provider_org: Option<OrgNumber>,
}

impl Actor {
    pub fn new(
        subject: Subject,
        role: Role,
        region: RegionId,
        provider_org: Option<OrgNumber>,
    ) -> Result<Self, ActorError> {
        if role == Role::Provider && provider_org.is_none() {
            return Err(ActorError::ProviderWithoutOrganisation);
        }
        Ok(Self {
            subject,
            role,
            region,
            provider_org,
        })
    }

    pub const fn party(&self) -> Party {
        self.role.party()
    }
}
