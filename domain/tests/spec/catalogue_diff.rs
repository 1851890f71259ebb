//! What changed between the two versions of Region Dalarna's Vårdval BUP catalogue: version 1
//! (the IT-bilaga adopted on 2022-11-14, seeds/000) and version 2 (its undated revision,
//! seeds/001).
//!
//! The revision drops three demands (telephony subscription costs, and §14's two rules on
//! storing documentation) and adds none. Every demand it keeps is worded as before; its other
//! edits are links, small wording changes and older text that version 1 had left in, which
//! change no demand. So a provider moving from version 1 to version 2 has nothing new to
//! attest to.

use domain::catalogue::{
    Catalogue, CatalogueDiff, CatalogueRegistry, Category, LeadTimeKind, Level, Requirement,
};
use domain::contact::ContactRole;
use domain::ids::ProgrammeId;

fn registry() -> CatalogueRegistry {
    CatalogueRegistry::load_embedded().expect("the embedded catalogues are valid")
}

fn dalarna_bup(registry: &CatalogueRegistry, version: u32) -> &Catalogue {
    let programme = ProgrammeId::parse("dalarna-bup").unwrap();
    registry
        .get(&programme, version)
        .unwrap_or_else(|| panic!("dalarna-bup version {version} is embedded"))
}

fn ids<'a>(requirements: impl IntoIterator<Item = &'a Requirement>) -> Vec<&'a str> {
    requirements.into_iter().map(|r| r.id.as_str()).collect()
}

const DROPPED: [&str; 3] = ["DBUP-055", "DBUP-058", "DBUP-059"];

#[test]
fn the_revision_drops_the_telephony_subscription_costs_and_the_storage_rules() {
    let registry = registry();
    let (v1, v2) = (dalarna_bup(&registry, 1), dalarna_bup(&registry, 2));
    let diff = CatalogueDiff::between(v1, v2);

    assert_eq!(ids(diff.removed.iter().copied()), DROPPED);

    let subscription = diff.removed[0];
    assert_eq!(subscription.category, Category::Telephony);
    assert_eq!(subscription.section, "12 (Kostnader)");
    for storage_rule in &diff.removed[1..] {
        assert_eq!(storage_rule.category, Category::InformationSecurity);
        assert_eq!(storage_rule.section, "14");
    }
    assert!(diff.removed.iter().all(|r| r.level == Level::Must));
}

#[test]
fn the_revision_adds_no_requirement() {
    let registry = registry();
    let diff = CatalogueDiff::between(dalarna_bup(&registry, 1), dalarna_bup(&registry, 2));
    assert_eq!(ids(diff.added.iter().copied()), Vec::<&str>::new());
}

#[test]
fn every_demand_the_revision_keeps_is_worded_as_before() {
    let registry = registry();
    let (v1, v2) = (dalarna_bup(&registry, 1), dalarna_bup(&registry, 2));
    let diff = CatalogueDiff::between(v1, v2);

    let changed: Vec<_> = diff
        .changed
        .iter()
        .map(|c| (c.id.as_str(), &c.fields))
        .collect();
    assert!(changed.is_empty(), "unexpected changes: {changed:?}");

    let kept: Vec<_> = ids(&v1.requirements)
        .into_iter()
        .filter(|id| !DROPPED.contains(id))
        .collect();
    assert_eq!(ids(&v2.requirements), kept);
    assert_eq!(v1.requirements.len(), 66);
    assert_eq!(v2.requirements.len(), 63);
}

#[test]
fn a_provider_moving_to_the_revision_has_nothing_new_to_attest() {
    let registry = registry();
    let diff = CatalogueDiff::between(dalarna_bup(&registry, 1), dalarna_bup(&registry, 2));
    assert!(!diff.is_empty());
    assert_eq!(ids(diff.to_attest()), Vec::<&str>::new());
}

#[test]
fn read_backwards_the_dropped_demands_are_the_ones_to_attest() {
    let registry = registry();
    let diff = CatalogueDiff::between(dalarna_bup(&registry, 2), dalarna_bup(&registry, 1));
    assert_eq!(ids(diff.added.iter().copied()), DROPPED);
    assert!(diff.removed.is_empty());
    assert!(diff.changed.is_empty());
    assert_eq!(ids(diff.to_attest()), DROPPED);
}

#[test]
fn both_versions_require_the_same_agreements() {
    let registry = registry();
    for version in [1, 2] {
        let catalogue = dalarna_bup(&registry, version);
        assert_eq!(
            ids(catalogue.required_agreements()),
            ["DBUP-065", "DBUP-066"],
            "version {version}"
        );
    }
}

#[test]
fn both_versions_expect_about_three_months_and_name_the_head_of_unit() {
    let registry = registry();
    let (v1, v2) = (dalarna_bup(&registry, 1), dalarna_bup(&registry, 2));
    for catalogue in [v1, v2] {
        let lead = catalogue
            .lead_time
            .as_ref()
            .expect("§1.1 states a lead time");
        assert_eq!(
            (lead.months, lead.kind, lead.section.as_str()),
            (3, LeadTimeKind::Approximate, "1.1")
        );
    }
    assert_eq!(v1.application.required_contacts, [ContactRole::HeadOfUnit]);
    assert_eq!(v1.application, v2.application);
    assert!(v1.effective_from < v2.effective_from);
    assert_eq!(
        v1.source.reference.as_deref(),
        Some("Diarienummer RS 2022/891")
    );
    assert_eq!(
        v2.source.reference, None,
        "the revision gives no diarienummer"
    );
    assert_eq!(v2.source.adopted, None, "the revision gives no date");
}

#[test]
fn diffing_a_version_with_itself_is_empty() {
    let registry = registry();
    for version in [1, 2] {
        let catalogue = dalarna_bup(&registry, version);
        let diff = CatalogueDiff::between(catalogue, catalogue);
        assert!(diff.is_empty(), "version {version}: {diff:?}");
        assert_eq!(diff.to_attest().count(), 0);
    }
}
