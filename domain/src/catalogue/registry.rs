use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use super::model::{Catalogue, Category};
use crate::ids::ProgrammeId;
use crate::process::{ProcessDefinition, ProcessError, ProcessRegistry};

/// The catalogue files compiled into the binary, by file name.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "dalarna-bup-v1.toml",
        include_str!("../../catalogues/dalarna-bup-v1.toml"),
    ),
    (
        "dalarna-bup-v2.toml",
        include_str!("../../catalogues/dalarna-bup-v2.toml"),
    ),
    (
        "dalarna-halsoval-v1.toml",
        include_str!("../../catalogues/dalarna-halsoval-v1.toml"),
    ),
    (
        "jamtland-halsoval-v1.toml",
        include_str!("../../catalogues/jamtland-halsoval-v1.toml"),
    ),
    (
        "varmland-vardcentral-v1.toml",
        include_str!("../../catalogues/varmland-vardcentral-v1.toml"),
    ),
    (
        "varmland-fysioterapi-v1.toml",
        include_str!("../../catalogues/varmland-fysioterapi-v1.toml"),
    ),
];

/// Why a set of catalogue files was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("{file}: not a valid catalogue: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("programme {programme}: {message}")]
    Versions { programme: String, message: String },
    #[error(transparent)]
    Process(#[from] ProcessError),
}

/// Every catalogue version the system knows, validated.
#[derive(Debug, Clone)]
pub struct CatalogueRegistry {
    /// Sorted by programme, then version.
    catalogues: Vec<Catalogue>,
    /// The process of each catalogue version, once attached ([`Self::with_processes`]).
    processes: Option<ProcessRegistry>,
}

impl CatalogueRegistry {
    /// Loads and validates the catalogue files compiled into the binary, with the process
    /// of each version ([`ProcessRegistry::load_embedded`]).
    pub fn load_embedded() -> Result<Self, CatalogueError> {
        let catalogues = Self::from_sources(EMBEDDED.iter().copied())?;
        let processes = ProcessRegistry::load_embedded(&catalogues)?;
        Ok(catalogues.attach(processes))
    }

    /// Attaches the process definitions given as `(file name, TOML text)` pairs, one for
    /// every catalogue version (validated against them).
    pub fn with_processes<'a>(
        self,
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, CatalogueError> {
        let processes = ProcessRegistry::from_sources(sources, &self)?;
        Ok(self.attach(processes))
    }

    fn attach(mut self, processes: ProcessRegistry) -> Self {
        self.processes = Some(processes);
        self
    }

    /// The process that belongs to a catalogue version: same programme, same version.
    /// `None` only for a registry loaded without processes, or a version it does not have.
    pub fn process(&self, programme: &ProgrammeId, version: u32) -> Option<&ProcessDefinition> {
        self.processes.as_ref()?.get(programme, version)
    }

    /// Every process definition attached, by programme then version.
    pub fn processes(&self) -> &[ProcessDefinition] {
        self.processes.as_ref().map_or(&[], ProcessRegistry::all)
    }

    /// The names of the embedded catalogue files.
    pub fn embedded_files() -> impl Iterator<Item = &'static str> {
        EMBEDDED.iter().map(|(name, _)| *name)
    }

    /// Loads and validates catalogues from `(file name, TOML text)` pairs.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, CatalogueError> {
        let mut catalogues = Vec::new();
        for (file, text) in sources {
            let mut catalogue: Catalogue =
                toml::from_str(text).map_err(|e| CatalogueError::Parse {
                    file: file.to_owned(),
                    message: e.to_string(),
                })?;
            catalogue.digest = sha256_hex(text.as_bytes());
            validate(file, &catalogue)?;
            catalogues.push(catalogue);
        }
        catalogues.sort_by(|a, b| (&a.programme, a.version).cmp(&(&b.programme, b.version)));
        validate_versions(&catalogues)?;
        Ok(Self {
            catalogues,
            processes: None,
        })
    }

    /// Every catalogue version, by programme then version.
    pub fn all(&self) -> &[Catalogue] {
        &self.catalogues
    }

    /// The programmes that have at least one catalogue version.
    pub fn programmes(&self) -> impl Iterator<Item = &ProgrammeId> {
        let mut seen = BTreeSet::new();
        self.catalogues
            .iter()
            .map(|c| &c.programme)
            .filter(move |p| seen.insert(*p))
    }

    /// Every version of one programme's catalogue, oldest first.
    pub fn versions<'a>(&'a self, programme: &ProgrammeId) -> impl Iterator<Item = &'a Catalogue> {
        self.catalogues
            .iter()
            .filter(move |c| &c.programme == programme)
    }

    pub fn get(&self, programme: &ProgrammeId, version: u32) -> Option<&Catalogue> {
        self.versions(programme).find(|c| c.version == version)
    }

    /// The version in force for a programme on a date: the newest whose `effective_from`
    /// is on or before it.
    pub fn in_force(&self, programme: &ProgrammeId, on: NaiveDate) -> Option<&Catalogue> {
        self.versions(programme)
            .filter(|c| c.effective_from <= on)
            .last()
    }

    /// The newest version of a programme's catalogue, in force or not yet.
    pub fn latest(&self, programme: &ProgrammeId) -> Option<&Catalogue> {
        self.versions(programme).last()
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

fn validate(file: &str, c: &Catalogue) -> Result<(), CatalogueError> {
    let invalid = |message: String| CatalogueError::Invalid {
        file: file.to_owned(),
        message,
    };
    if c.version == 0 {
        return Err(invalid("version numbers start at 1".into()));
    }
    if c.requirements.is_empty() {
        return Err(invalid("a catalogue needs at least one requirement".into()));
    }
    let mut ids = BTreeSet::new();
    for r in &c.requirements {
        if !ids.insert(&r.id) {
            return Err(invalid(format!("requirement {} appears twice", r.id)));
        }
        for (field, value) in [
            ("section", &r.section),
            ("quote", &r.quote),
            ("summary", &r.summary),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(format!(
                    "requirement {} has an empty {field}",
                    r.id
                )));
            }
        }
        if !r.programmes.contains(&c.programme) {
            return Err(invalid(format!(
                "requirement {} does not list the catalogue's programme {}",
                r.id, c.programme
            )));
        }
        if r.category == Category::Other && r.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(invalid(format!(
                "requirement {} is classified as other and needs a note saying why",
                r.id
            )));
        }
    }
    let mut packages = BTreeSet::new();
    for p in &c.service_packages {
        if !packages.insert(&p.id) {
            return Err(invalid(format!("service package {} appears twice", p.id)));
        }
    }
    for price in &c.prices {
        if price.amount_ore < 0 {
            return Err(invalid(format!("price {} is negative", price.item)));
        }
        if price.unit == super::model::PriceUnit::PerWorkstationGroupPerMonth
            && c.application.workstation_group_size.is_none()
        {
            return Err(invalid(format!(
                "price {} is per group of workstations but the catalogue sets no workstation_group_size",
                price.item
            )));
        }
        if let Some(package) = &price.package
            && !packages.contains(package)
        {
            return Err(invalid(format!(
                "price {} names unknown package {package}",
                price.item
            )));
        }
    }
    if let Some(lead) = &c.lead_time
        && lead.months == 0
    {
        return Err(invalid("a lead time of zero months says nothing".into()));
    }
    Ok(())
}

fn validate_versions(sorted: &[Catalogue]) -> Result<(), CatalogueError> {
    let mut by_programme: BTreeMap<&ProgrammeId, Vec<&Catalogue>> = BTreeMap::new();
    for c in sorted {
        by_programme.entry(&c.programme).or_default().push(c);
    }
    for (programme, versions) in by_programme {
        let err = |message: String| CatalogueError::Versions {
            programme: programme.to_string(),
            message,
        };
        for (expected, c) in (1u32..).zip(&versions) {
            if c.version != expected {
                return Err(err(format!(
                    "versions must run 1, 2, 3, ... without gaps; found {} where {expected} was expected",
                    c.version
                )));
            }
        }
        for pair in versions.windows(2) {
            if pair[1].effective_from <= pair[0].effective_from {
                return Err(err(format!(
                    "version {} must take effect after version {}",
                    pair[1].version, pair[0].version
                )));
            }
            if pair[1].region != pair[0].region {
                return Err(err("every version must belong to the same region".into()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
programme = "test-programme"
programme_name = "Test"
region = "testregion"
region_name = "Region Test"
version = 1
label = "1"
title = "Test"
effective_from = "2024-01-01"
[source]
file = "x.txt"
[[requirements]]
id = "T-1"
section = "1"
quote = "ska"
summary = "Must."
category = "network"
level = "must"
evidence = "declared"
programmes = ["test-programme"]
"#;

    #[test]
    fn a_minimal_catalogue_loads_with_its_digest() {
        let registry = CatalogueRegistry::from_sources([("t.toml", MINIMAL)]).unwrap();
        let c = &registry.all()[0];
        assert_eq!(c.digest.len(), 64);
        assert_eq!(c.reference().version, 1);
    }

    #[test]
    fn duplicate_requirement_ids_are_refused() {
        let twice = format!(
            "{MINIMAL}{}",
            &MINIMAL[MINIMAL.find("[[requirements]]").unwrap()..]
        );
        let err = CatalogueRegistry::from_sources([("t.toml", twice.as_str())]).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
    }

    #[test]
    fn version_gaps_are_refused() {
        let v3 = MINIMAL
            .replace("version = 1", "version = 3")
            .replace("2024-01-01", "2025-01-01");
        let err = CatalogueRegistry::from_sources([("a.toml", MINIMAL), ("b.toml", v3.as_str())])
            .unwrap_err();
        assert!(matches!(err, CatalogueError::Versions { .. }), "{err}");
    }

    #[test]
    fn the_version_in_force_is_the_newest_already_effective() {
        let v2 = MINIMAL
            .replace("version = 1", "version = 2")
            .replace("2024-01-01", "2025-01-01");
        let registry =
            CatalogueRegistry::from_sources([("a.toml", MINIMAL), ("b.toml", v2.as_str())])
                .unwrap();
        let programme = ProgrammeId::parse("test-programme").unwrap();
        let on = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(registry.in_force(&programme, on("2023-12-31")), None);
        assert_eq!(
            registry
                .in_force(&programme, on("2024-06-01"))
                .unwrap()
                .version,
            1
        );
        assert_eq!(
            registry
                .in_force(&programme, on("2025-01-01"))
                .unwrap()
                .version,
            2
        );
        assert_eq!(registry.latest(&programme).unwrap().version, 2);
    }
}
