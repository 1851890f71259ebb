use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::contact::ContactRole;
use crate::ids::{ProgrammeId, RegionId, RequirementId, ServicePackageId};

/// One version of one programme's requirement catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalogue {
    pub programme: ProgrammeId,
    /// The programme's name as the region writes it, e.g. "Hälsoval".
    pub programme_name: String,
    pub region: RegionId,
    /// The region's name, e.g. "Region Jämtland Härjedalen".
    pub region_name: String,
    /// 1 for the first version of a programme's catalogue, then 2, 3, ...
    pub version: u32,
    /// How the region names this version, e.g. "2022-11-14" or "revision 1.7".
    pub label: String,
    pub title: String,
    /// The date from which cases signing a contract are held to this version.
    pub effective_from: NaiveDate,
    pub source: SourceDocument,
    pub lead_time: Option<LeadTime>,
    #[serde(default)]
    pub application: ApplicationRules,
    #[serde(default)]
    pub service_packages: Vec<ServicePackage>,
    #[serde(default)]
    pub prices: Vec<Price>,
    pub requirements: Vec<Requirement>,
    /// SHA-256 of the catalogue file, lowercase hex; set by the loader, never in the file.
    #[serde(default, skip_deserializing)]
    pub digest: String,
}

impl Catalogue {
    /// The reference events record when a case is held to this version.
    pub fn reference(&self) -> CatalogueRef {
        CatalogueRef {
            programme: self.programme.clone(),
            version: self.version,
            digest: self.digest.clone(),
        }
    }

    pub fn requirement(&self, id: &RequirementId) -> Option<&Requirement> {
        self.requirements.iter().find(|r| &r.id == id)
    }

    /// The agreements a case must have signed before go-live: the `must` requirements of
    /// category `agreements` shown by a signed document. (Commitments each user signs, such
    /// as the ansvarsförbindelse, are recorded per person as staff commitments instead.)
    pub fn required_agreements(&self) -> impl Iterator<Item = &Requirement> {
        self.requirements.iter().filter(|r| {
            r.category == Category::Agreements
                && r.evidence == Evidence::SignedDocument
                && r.level == Level::Must
        })
    }

    pub fn service_package(&self, id: &ServicePackageId) -> Option<&ServicePackage> {
        self.service_packages.iter().find(|p| &p.id == id)
    }
}

/// Which catalogue version a case is held to, with the digest of the text that applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CatalogueRef {
    pub programme: ProgrammeId,
    pub version: u32,
    pub digest: String,
}

impl fmt::Display for CatalogueRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} v{}", self.programme, self.version)
    }
}

/// The document a catalogue version was taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceDocument {
    /// The file name under the seeds directory, e.g. `003_f25002e326188b9a.txt`.
    pub file: String,
    /// The region's reference, e.g. "Diarienummer RS 2022/891", when the document gives one.
    pub reference: Option<String>,
    /// When the document was adopted, when it says so.
    pub adopted: Option<NaiveDate>,
}

/// The lead time a programme expects from application to go-live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadTime {
    pub months: u32,
    pub kind: LeadTimeKind,
    /// The section that states it, e.g. "1.1".
    pub section: String,
}

/// Whether a lead time is a minimum the work needs ("minst") or a benchmark ("ca"); either way
/// a request earlier than it is flagged, never refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadTimeKind {
    /// "minst 3 månader": the least time the work takes, counted from the application.
    Minimum,
    /// "ca 3 månader": a benchmark ("Riktmärke").
    Approximate,
}

/// What a programme asks of an application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationRules {
    /// Contact roles every application must name.
    #[serde(default)]
    pub required_contacts: Vec<ContactRole>,
    /// Jämtland: the system the unit uses to measure telephone calls must be named.
    #[serde(default)]
    pub requires_call_measurement_system: bool,
    /// Workstations per group of registered workstations (Jämtland §2.8: 10); absent where
    /// the programme does not bill per group.
    pub workstation_group_size: Option<u32>,
}

/// A service package a programme offers (tjänstepaket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePackage {
    pub id: ServicePackageId,
    pub name: String,
    /// A mandatory package must be part of every application.
    pub mandatory: bool,
}

/// One effective-dated price, in öre excluding VAT. Money is never a float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    /// A stable name for the priced item, e.g. `helpdesk`.
    pub item: String,
    pub description: String,
    pub amount_ore: i64,
    pub unit: PriceUnit,
    pub effective_from: NaiveDate,
    /// The package the item belongs to; the price applies when the case takes the package.
    pub package: Option<ServicePackageId>,
    /// An optional item applies only when the application selects it.
    #[serde(default)]
    pub optional: bool,
    /// The document gives the amount as approximate ("ca").
    #[serde(default)]
    pub approximate: bool,
    pub section: String,
}

/// What a price is counted per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceUnit {
    PerWorkstationGroupPerMonth,
    PerListedPatientPerYear,
    PerUnitPerYear,
    PerUnitPerMonth,
}

/// One demand of a catalogue on the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    pub id: RequirementId,
    /// The section of the source document, e.g. "3.4".
    pub section: String,
    /// A short verbatim Swedish quote of the demand, found in the source document
    /// (whitespace-normalised).
    pub quote: String,
    /// The demand in English, in a sentence.
    pub summary: String,
    pub category: Category,
    pub level: Level,
    pub evidence: Evidence,
    /// The programmes the requirement applies to (Värmland's document serves two).
    pub programmes: Vec<ProgrammeId>,
    /// A remark on interpretation or classification, when one was needed.
    pub note: Option<String>,
}

/// What a requirement is about (DOMAIN.md's categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Network,
    WorkstationsAndEquipment,
    /// Identity and accounts: SITHS, HSA, eTjänstekort.
    IdentityAndAccounts,
    InformationSecurity,
    CyberHygiene,
    Agreements,
    Training,
    /// E-services and 1177.
    EServices,
    Telephony,
    IncidentAndChangeReporting,
    /// Fits none of the above; the requirement's note says why.
    Other,
}

/// How binding a requirement is: "ska"/"skall"/"måste" is must, "bör" is should.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Must,
    Should,
}

/// How a provider shows that it meets a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// Declared by the provider in its self-declaration.
    Declared,
    /// Verified by the region at final verification (slutverifiering).
    Verified,
    /// A signed document: an agreement or commitment recorded on the case.
    SignedDocument,
    /// Completed training.
    Training,
}
