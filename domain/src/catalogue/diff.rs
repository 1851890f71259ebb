use serde::Serialize;

use super::model::{Catalogue, Requirement};
use crate::ids::RequirementId;

/// What changed between two versions of a catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogueDiff<'a> {
    pub added: Vec<&'a Requirement>,
    pub removed: Vec<&'a Requirement>,
    pub changed: Vec<RequirementChange<'a>>,
}

/// One requirement present in both versions whose content differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequirementChange<'a> {
    pub id: &'a RequirementId,
    pub fields: Vec<ChangedField>,
    pub old: &'a Requirement,
    pub new: &'a Requirement,
}

impl RequirementChange<'_> {
    /// A change a provider must attest to: anything but a moved section or a reworded note.
    pub fn is_material(&self) -> bool {
        self.fields
            .iter()
            .any(|f| !matches!(f, ChangedField::Section | ChangedField::Note))
    }
}

/// A field of a requirement that differs between two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangedField {
    Section,
    Quote,
    Summary,
    Category,
    Level,
    Evidence,
    Programmes,
    Note,
}

impl<'a> CatalogueDiff<'a> {
    /// Compares two catalogue versions requirement by requirement, matching on id.
    pub fn between(old: &'a Catalogue, new: &'a Catalogue) -> Self {
        let added = new
            .requirements
            .iter()
            .filter(|r| old.requirement(&r.id).is_none())
            .collect();
        let removed = old
            .requirements
            .iter()
            .filter(|r| new.requirement(&r.id).is_none())
            .collect();
        let changed = new
            .requirements
            .iter()
            .filter_map(|n| {
                let o = old.requirement(&n.id)?;
                let fields = changed_fields(o, n);
                (!fields.is_empty()).then_some(RequirementChange {
                    id: &n.id,
                    fields,
                    old: o,
                    new: n,
                })
            })
            .collect();
        Self {
            added,
            removed,
            changed,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// The requirements a case moving from the old to the new version must answer anew:
    /// every added one and every materially changed one.
    pub fn to_attest(&self) -> impl Iterator<Item = &'a Requirement> + '_ {
        self.added.iter().copied().chain(
            self.changed
                .iter()
                .filter(|c| c.is_material())
                .map(|c| c.new),
        )
    }
}

fn changed_fields(o: &Requirement, n: &Requirement) -> Vec<ChangedField> {
    let mut fields = Vec::new();
    let mut check = |differs: bool, field| {
        if differs {
            fields.push(field);
        }
    };
    check(o.section != n.section, ChangedField::Section);
    check(o.quote != n.quote, ChangedField::Quote);
    check(o.summary != n.summary, ChangedField::Summary);
    check(o.category != n.category, ChangedField::Category);
    check(o.level != n.level, ChangedField::Level);
    check(o.evidence != n.evidence, ChangedField::Evidence);
    check(o.programmes != n.programmes, ChangedField::Programmes);
    check(o.note != n.note, ChangedField::Note);
    fields
}
