//! Views of the requirement catalogues: the programmes' IT appendices, public to every
//! authenticated caller.

use chrono::NaiveDate;
use domain::catalogue::{Catalogue, CatalogueDiff, CatalogueRegistry, Requirement};
use domain::process::ProcessDefinition;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::code_of;

/// One version of a programme's catalogue, in brief.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogueVersionView {
    #[schema(example = 1)]
    pub version: u32,
    #[schema(example = "Bilaga 2 - IT och telefoni")]
    pub label: String,
    #[schema(example = "2024-01-01")]
    pub effective_from: NaiveDate,
    /// SHA-256 of the catalogue file, hex: what events that cite the version record.
    #[schema(example = "5b1c0e0f6a2d4e8b9c7f1a3d5e7b9c1f2a4d6e8b0c2f4a6d8e0b2c4f6a8d0e2b")]
    pub digest: String,
    #[schema(example = 63)]
    pub requirements: usize,
}

/// A programme and its catalogue versions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProgrammeView {
    #[schema(example = "jamtland-halsoval")]
    pub programme: String,
    #[schema(example = "Hälsoval")]
    pub programme_name: String,
    #[schema(example = "jamtland-harjedalen")]
    pub region: String,
    #[schema(example = "Region Jämtland Härjedalen")]
    pub region_name: String,
    /// The version in force today, if any.
    #[schema(example = 1)]
    pub in_force: Option<u32>,
    pub versions: Vec<CatalogueVersionView>,
}

/// Every programme with a catalogue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogueListView {
    pub programmes: Vec<ProgrammeView>,
}

impl CatalogueListView {
    pub fn of(registry: &CatalogueRegistry, today: NaiveDate) -> Self {
        let programmes = registry
            .programmes()
            .filter_map(|programme| {
                let latest = registry.latest(programme)?;
                Some(ProgrammeView {
                    programme: programme.to_string(),
                    programme_name: latest.programme_name.clone(),
                    region: latest.region.to_string(),
                    region_name: latest.region_name.clone(),
                    in_force: registry.in_force(programme, today).map(|c| c.version),
                    versions: registry
                        .versions(programme)
                        .map(|c| CatalogueVersionView {
                            version: c.version,
                            label: c.label.clone(),
                            effective_from: c.effective_from,
                            digest: c.digest.clone(),
                            requirements: c.requirements.len(),
                        })
                        .collect(),
                })
            })
            .collect();
        Self { programmes }
    }
}

/// One requirement of a catalogue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequirementView {
    #[schema(example = "JHV-014")]
    pub id: String,
    /// The section of the source document.
    #[schema(example = "2.4")]
    pub section: String,
    /// A short verbatim Swedish quote of the demand.
    #[schema(example = "ska ansluta sig till Sjunet")]
    pub quote: String,
    /// The demand in English.
    #[schema(example = "Sign the Sjunet agreement with Inera.")]
    pub summary: String,
    /// `network`, `workstations_and_equipment`, `identity_and_accounts`,
    /// `information_security`, `cyber_hygiene`, `agreements`, `training`, `e_services`,
    /// `telephony`, `incident_and_change_reporting` or `other`.
    #[schema(example = "agreements")]
    pub category: String,
    /// `must` or `should`.
    #[schema(example = "must")]
    pub level: String,
    /// `declared`, `verified`, `signed_document` or `training`.
    #[schema(example = "signed_document")]
    pub evidence: String,
    pub note: Option<String>,
}

impl From<&Requirement> for RequirementView {
    fn from(r: &Requirement) -> Self {
        Self {
            id: r.id.to_string(),
            section: r.section.clone(),
            quote: r.quote.clone(),
            summary: r.summary.clone(),
            category: code_of(&r.category),
            level: code_of(&r.level),
            evidence: code_of(&r.evidence),
            note: r.note.clone(),
        }
    }
}

/// A service package a programme offers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServicePackageView {
    #[schema(example = "vardutbud-bas")]
    pub id: String,
    #[schema(example = "Vårdutbud bas")]
    pub name: String,
    #[schema(example = true)]
    pub mandatory: bool,
}

/// An effective-dated price, in öre excluding VAT.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceView {
    #[schema(example = "helpdesk")]
    pub item: String,
    #[schema(example = "Helpdesk, 1 200 kr/mån/registrerad grupp av klientarbetsplatser")]
    pub description: String,
    #[schema(example = 120_000)]
    pub amount_ore: i64,
    /// `per_workstation_group_per_month`, `per_listed_patient_per_year`,
    /// `per_unit_per_year` or `per_unit_per_month`.
    #[schema(example = "per_workstation_group_per_month")]
    pub unit: String,
    #[schema(example = "2024-01-01")]
    pub effective_from: NaiveDate,
    #[schema(example = false)]
    pub optional: bool,
}

/// One version of a programme's catalogue, in full.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogueView {
    #[schema(example = "jamtland-halsoval")]
    pub programme: String,
    #[schema(example = "Hälsoval")]
    pub programme_name: String,
    #[schema(example = "jamtland-harjedalen")]
    pub region: String,
    #[schema(example = "Region Jämtland Härjedalen")]
    pub region_name: String,
    #[schema(example = 1)]
    pub version: u32,
    #[schema(example = "Bilaga 2 - IT och telefoni")]
    pub label: String,
    #[schema(example = "Bilaga 2 - IT och telefoni")]
    pub title: String,
    #[schema(example = "2024-01-01")]
    pub effective_from: NaiveDate,
    #[schema(example = "5b1c0e0f6a2d4e8b9c7f1a3d5e7b9c1f2a4d6e8b0c2f4a6d8e0b2c4f6a8d0e2b")]
    pub digest: String,
    /// Lead time from application to go-live, in months, where the programme states one.
    #[schema(example = 3)]
    pub lead_time_months: Option<u32>,
    /// Contact roles every application must name.
    #[schema(example = json!(["it_contact", "system_administrator"]))]
    pub required_contacts: Vec<String>,
    /// Whether applications must name a telephone-call measurement system.
    #[schema(example = true)]
    pub requires_call_measurement_system: bool,
    pub service_packages: Vec<ServicePackageView>,
    pub prices: Vec<PriceView>,
    pub requirements: Vec<RequirementView>,
}

impl From<&Catalogue> for CatalogueView {
    fn from(c: &Catalogue) -> Self {
        Self {
            programme: c.programme.to_string(),
            programme_name: c.programme_name.clone(),
            region: c.region.to_string(),
            region_name: c.region_name.clone(),
            version: c.version,
            label: c.label.clone(),
            title: c.title.clone(),
            effective_from: c.effective_from,
            digest: c.digest.clone(),
            lead_time_months: c.lead_time.as_ref().map(|l| l.months),
            required_contacts: c
                .application
                .required_contacts
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            requires_call_measurement_system: c.application.requires_call_measurement_system,
            service_packages: c
                .service_packages
                .iter()
                .map(|p| ServicePackageView {
                    id: p.id.to_string(),
                    name: p.name.clone(),
                    mandatory: p.mandatory,
                })
                .collect(),
            prices: c
                .prices
                .iter()
                .map(|p| PriceView {
                    item: p.item.clone(),
                    description: p.description.clone(),
                    amount_ore: p.amount_ore,
                    unit: code_of(&p.unit),
                    effective_from: p.effective_from,
                    optional: p.optional,
                })
                .collect(),
            requirements: c.requirements.iter().map(RequirementView::from).collect(),
        }
    }
}

/// A requirement present in both versions whose content differs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequirementChangeView {
    #[schema(example = "DBUP-014")]
    pub id: String,
    /// The fields that differ: `section`, `quote`, `summary`, `category`, `level`,
    /// `evidence`, `programmes`, `note`.
    #[schema(example = json!(["quote", "summary"]))]
    pub fields: Vec<String>,
    /// Whether a case moving to the new version must answer it anew.
    #[schema(example = true)]
    pub material: bool,
    pub old: RequirementView,
    pub new: RequirementView,
}

/// What changed between two versions of a programme's catalogue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogueDiffView {
    #[schema(example = "dalarna-bup")]
    pub programme: String,
    #[schema(example = 1)]
    pub from: u32,
    #[schema(example = 2)]
    pub to: u32,
    pub added: Vec<RequirementView>,
    pub removed: Vec<RequirementView>,
    pub changed: Vec<RequirementChangeView>,
}

impl CatalogueDiffView {
    pub fn of(old: &Catalogue, new: &Catalogue) -> Self {
        let diff = CatalogueDiff::between(old, new);
        Self {
            programme: new.programme.to_string(),
            from: old.version,
            to: new.version,
            added: diff
                .added
                .iter()
                .map(|r| RequirementView::from(*r))
                .collect(),
            removed: diff
                .removed
                .iter()
                .map(|r| RequirementView::from(*r))
                .collect(),
            changed: diff
                .changed
                .iter()
                .map(|c| RequirementChangeView {
                    id: c.id.to_string(),
                    fields: c.fields.iter().map(code_of).collect(),
                    material: c.is_material(),
                    old: c.old.into(),
                    new: c.new.into(),
                })
                .collect(),
        }
    }
}

/// The two versions to compare.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The older version.
    #[param(example = 1)]
    pub from: u32,
    /// The newer version.
    #[param(example = 2)]
    pub to: u32,
}

/// A catalogue version's process, as `domain/processes/<programme>-v<N>.toml` defines it
/// (the shape of each part is documented in `docs/processes.md`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProcessView {
    #[schema(example = "varmland-fysioterapi")]
    pub programme: String,
    #[schema(example = 1)]
    pub version: u32,
    /// SHA-256 of the process file; a case signed under it records it.
    pub digest: String,
    /// The source document, under `seeds/`.
    #[schema(value_type = Object)]
    pub source: serde_json::Value,
    /// The steps, in order, each with its section and verbatim quote, gate, condition and
    /// recurrence.
    #[schema(value_type = Vec<Object>)]
    pub steps: serde_json::Value,
    /// The kinds of step the document does not name, each with a note.
    #[schema(value_type = Vec<Object>)]
    pub silent: serde_json::Value,
    /// The lead time as worded, where the document gives one.
    #[schema(value_type = Option<Object>)]
    pub lead_time: serde_json::Value,
    /// The operating phase's duties.
    #[schema(value_type = Vec<Object>)]
    pub duties: serde_json::Value,
    /// Readings of the document that were not obvious.
    pub notes: Vec<String>,
}

impl From<&ProcessDefinition> for ProcessView {
    fn from(process: &ProcessDefinition) -> Self {
        let part = |value: Result<serde_json::Value, serde_json::Error>| {
            value.unwrap_or(serde_json::Value::Null)
        };
        Self {
            programme: process.programme.to_string(),
            version: process.version,
            digest: process.digest.clone(),
            source: part(serde_json::to_value(&process.source)),
            steps: part(serde_json::to_value(&process.steps)),
            silent: part(serde_json::to_value(&process.silent)),
            lead_time: part(serde_json::to_value(&process.lead_time)),
            duties: part(serde_json::to_value(&process.duties)),
            notes: process.notes.clone(),
        }
    }
}
