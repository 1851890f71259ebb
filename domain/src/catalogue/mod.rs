//! Requirement catalogues: each programme's IT appendix, turned into versioned data.
//!
//! A catalogue version is a legal text adopted by a region (often by its council, with a
//! diarienummer). It lives in the repository as one TOML file per version under
//! `domain/catalogues/`, is reviewed as a diff like code, and is compiled into the binary
//! ([`CatalogueRegistry::embedded`]). Each version carries the SHA-256 digest of its file,
//! which the events that hold a case to a version record, so the exact text that applied
//! can be proven later. See ARCHITECTURE.md for why catalogues are data, not an aggregate.

mod diff;
mod model;
mod registry;

pub use diff::{CatalogueDiff, ChangedField, RequirementChange};
pub use model::{
    ApplicationRules, Catalogue, CatalogueRef, Category, Evidence, LeadTime, LeadTimeKind, Level,
    Price, PriceUnit, Requirement, ServicePackage, SourceDocument,
};
pub(crate) use registry::sha256_hex;
pub use registry::{CatalogueError, CatalogueRegistry};
