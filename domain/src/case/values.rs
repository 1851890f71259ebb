//! The values commands and events of a connection case carry.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::catalogue::LeadTimeKind;
use crate::contact::{ContactDetails, ContactRole};
use crate::identity::{HsaId, OrgNumber, Personnummer};
use crate::ids::{CaseId, ProgrammeId, RequirementId, ServicePackageId};
use crate::personal::Personal;
use crate::text::{LongText, ShortText};

/// An application to connect one provider unit to one region programme (ansökan om
/// vårdenhet, beställning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// The id the new case gets; chosen by the caller so that retries are idempotent.
    pub case_id: CaseId,
    pub programme: ProgrammeId,
    /// The unit's name (mottagning, vårdcentral).
    pub unit_name: ShortText,
    /// The provider's organisationsnummer.
    pub org_number: OrgNumber,
    /// The IT service packages the unit will connect to (tjänstepaket).
    pub service_packages: BTreeSet<ServicePackageId>,
    /// Optional priced items the unit will use, by the catalogue's price item name.
    #[serde(default)]
    pub optional_services: BTreeSet<String>,
    /// Workstations the unit will connect.
    pub workstations: u32,
    /// Listed patients the unit expects, where the programme prices per listed patient.
    pub listed_patients: Option<u32>,
    pub contacts: Vec<NamedContact>,
    /// When the provider wants to go live (önskat driftstartdatum).
    pub requested_go_live: NaiveDate,
    /// Jämtland: the system the unit uses to measure telephone calls.
    pub call_measurement_system: Option<ShortText>,
}

/// A person named for a role in a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedContact {
    pub role: ContactRole,
    pub person: Personal<ContactDetails>,
}

/// How the requested go-live date compares with the programme's lead time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadTimeCheck {
    pub months: u32,
    pub kind: LeadTimeKind,
    /// The earliest go-live date the lead time allows, counted from the application.
    pub earliest: NaiveDate,
    pub requested: NaiveDate,
    /// False means the request is earlier than the lead time: a flag on the case
    /// ([`super::Flag::LeadTimeNotMet`]), never a refusal (the documents state a duration the
    /// work takes, not a condition of the application).
    pub met: bool,
}

/// Whether an agreed deviation is in force on `today`: agreed for good, or until a date not
/// yet passed (the deviation lapses *after* its `valid_until`). The one rule the aggregate
/// (accepting a declaration, attesting) and the compliance matrix judge deviations by.
pub fn deviation_in_force(valid_until: Option<NaiveDate>, today: NaiveDate) -> bool {
    valid_until.is_none_or(|until| until >= today)
}

/// A provider's answer to one requirement in its self-declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub requirement: RequirementId,
    pub compliance: Compliance,
    /// How the provider meets it, or why not; required unless it complies.
    pub description: Option<LongText>,
    /// References to evidence (document names, links in the provider's records).
    #[serde(default)]
    pub evidence: Vec<ShortText>,
}

/// Whether a provider meets a requirement, in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compliance {
    Complies,
    DoesNotComply,
    NotApplicable,
}

/// Where a self-declaration stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclarationStatus {
    #[default]
    NotSubmitted,
    /// Submitted, awaiting the region's review.
    Submitted,
    /// Returned for completion.
    Returned,
    Accepted,
}

/// A remark the region makes on one requirement when it returns a self-declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remark {
    pub requirement: RequirementId,
    pub remark: LongText,
}

/// What each user signs at establishment and at every new hire (Dalarna BUP §16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitmentKind {
    /// IT responsibility commitment (ansvarsförbindelse).
    ResponsibilityCommitment,
    /// Confidentiality reminder (sekretesserinran).
    ConfidentialityReminder,
}

impl CommitmentKind {
    pub const ALL: [Self; 2] = [
        Self::ResponsibilityCommitment,
        Self::ConfidentialityReminder,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ResponsibilityCommitment => "responsibility_commitment",
            Self::ConfidentialityReminder => "confidentiality_reminder",
        }
    }
}

/// A member of the provider's staff: personal data, all of it (the HSA-id identifies a
/// person as surely as the name does, so it is sealed with them since
/// `StaffCommitmentRecorded` v2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffMember {
    pub name: ShortText,
    pub personnummer: Personnummer,
    pub hsa_id: HsaId,
}

/// A technical milestone of the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Milestone {
    /// Connected to the region's network (RDnet, LDnet, Sjunet).
    NetworkConnected { network: ShortText },
    /// Workstations registered with the region.
    WorkstationsRegistered { count: u32 },
    /// The unit's HSA entry created, named by the region's naming rules.
    HsaUnitCreated { hsa_id: HsaId },
    /// The unit's 1177 contact card published.
    ContactCardPublished,
    /// User accounts created.
    AccountsCreated { count: u32 },
}

impl Milestone {
    pub const fn kind(&self) -> MilestoneKind {
        match self {
            Self::NetworkConnected { .. } => MilestoneKind::NetworkConnected,
            Self::WorkstationsRegistered { .. } => MilestoneKind::WorkstationsRegistered,
            Self::HsaUnitCreated { .. } => MilestoneKind::HsaUnitCreated,
            Self::ContactCardPublished => MilestoneKind::ContactCardPublished,
            Self::AccountsCreated { .. } => MilestoneKind::AccountsCreated,
        }
    }
}

/// The kinds of technical milestone; each is recorded once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MilestoneKind {
    NetworkConnected,
    WorkstationsRegistered,
    HsaUnitCreated,
    ContactCardPublished,
    AccountsCreated,
}

impl MilestoneKind {
    pub const ALL: [Self; 5] = [
        Self::NetworkConnected,
        Self::WorkstationsRegistered,
        Self::HsaUnitCreated,
        Self::ContactCardPublished,
        Self::AccountsCreated,
    ];
}

/// A finding of a verification: a recommendation should be done, a demand must be done
/// (Jämtland §3.10: rekommendationer och krav).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Should be done; never blocks.
    Recommendation,
    /// Must be done; an open demand blocks approval of the final verification and go-live.
    Demand,
}

/// Which verification a finding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VerificationContext {
    /// The final verification before go-live, by round (a failed one is held again).
    FinalVerification { round: u32 },
    /// An on-site security verification during operation (Jämtland §3.4).
    OnSite,
}

/// Where the final verification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationOutcome {
    Pending,
    Approved,
    Failed,
}

/// An organisational change the provider reports (Dalarna BUP §8.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OrganisationalChange {
    NewUnit {
        name: ShortText,
    },
    UnitRemoved {
        name: ShortText,
    },
    NameChanged {
        new_name: ShortText,
    },
    Moved {
        new_address: ShortText,
    },
    NewHeadOfUnit {
        person: Personal<ContactDetails>,
    },
    /// A change to the premises short of a move (Värmland Vårdcentral §1.1: "Vid
    /// förändring av lokaler ska Region IT:s kontaktperson omgående informeras").
    PremisesChanged {
        description: LongText,
    },
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ending {
    /// The contract ran out or was terminated.
    ContractEnded,
    /// The provider was replaced; the successor, when known, takes over the patients
    /// (Jämtland §1.1).
    ProviderReplaced { successor: Option<OrgNumber> },
    /// The provider withdrew before going live.
    Withdrawn,
}

/// The region's decision on a request for a non-standard service (Värmland §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceDecision {
    Approved,
    Rejected,
}

#[cfg(test)]
mod deviations {
    use super::*;

    #[test]
    fn a_deviation_is_in_force_through_its_last_day_and_for_good_without_one() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 6, d).unwrap();
        assert!(deviation_in_force(Some(day(30)), day(30)));
        assert!(!deviation_in_force(Some(day(29)), day(30)));
        assert!(deviation_in_force(None, day(30)));
    }
}
