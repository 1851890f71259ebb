use serde::Serialize;

use crate::actor::Role;

/// Who may issue a command: the domain's own table of who does what (DOMAIN.md, "Who uses
/// it"). The API's typed extractors are built from the same table, so the two cannot
/// disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Submit an application: the provider, or a region officer registering it.
    Apply,
    /// A region decision: approve, reject, sign, accept, return, deviate, go live, suspend,
    /// resume, end. Officers, and case systems on the region's behalf.
    Decide,
    /// Region technical work: milestones, training, scheduling and holding verifications,
    /// recording findings, deciding on non-standard services. Region IT, officers, case
    /// systems.
    Verify,
    /// The provider's own statements: self-declaration, attestation, organisational
    /// changes, requests for non-standard services.
    Declare,
    /// Either side records a fact: staff commitments, finding resolutions.
    Record,
    /// Report a security incident: the provider, or the region that discovered it.
    ReportIncident,
    /// Assess, and close, a security incident: region IT and case systems.
    AssessIncident,
}

impl Permission {
    pub const ALL: [Self; 7] = [
        Self::Apply,
        Self::Decide,
        Self::Verify,
        Self::Declare,
        Self::Record,
        Self::ReportIncident,
        Self::AssessIncident,
    ];

    /// The roles granted this permission.
    pub const fn roles(self) -> &'static [Role] {
        match self {
            Self::Apply => &[Role::Provider, Role::Officer, Role::Integration],
            Self::Decide => &[Role::Officer, Role::Integration],
            Self::Verify => &[Role::Officer, Role::RegionIt, Role::Integration],
            Self::Declare => &[Role::Provider],
            Self::Record | Self::ReportIncident => &[
                Role::Provider,
                Role::Officer,
                Role::RegionIt,
                Role::Integration,
            ],
            Self::AssessIncident => &[Role::RegionIt, Role::Integration],
        }
    }

    pub fn allows(self, role: Role) -> bool {
        self.roles().contains(&role)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "apply",
            Self::Decide => "decide",
            Self::Verify => "verify",
            Self::Declare => "declare",
            Self::Record => "record",
            Self::ReportIncident => "report_incident",
            Self::AssessIncident => "assess_incident",
        }
    }
}
