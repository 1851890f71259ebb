//! Jämtland's cost estimate from the real catalogue: 1,200 SEK a month per group of up to
//! ten registered workstations, primary care quality at 2.53 SEK per listed patient a year,
//! 2.85 from 2025-05-01, and the optional pregnancy record at about 15,400 SEK a year.

use std::collections::BTreeSet;

use domain::catalogue::CatalogueRegistry;
use domain::costs::{CostBasis, estimate};
use domain::ids::{ProgrammeId, ServicePackageId};
use domain::money::Ore;

use crate::fixtures::date;

fn jamtland() -> domain::catalogue::Catalogue {
    let registry = CatalogueRegistry::load_embedded().unwrap();
    registry
        .latest(&ProgrammeId::parse("jamtland-halsoval").unwrap())
        .unwrap()
        .clone()
}

fn packages() -> BTreeSet<ServicePackageId> {
    ["vardutbud-bas", "stodapplikationer"]
        .into_iter()
        .map(|p| ServicePackageId::parse(p).unwrap())
        .collect()
}

#[test]
fn twelve_workstations_make_two_groups_and_cost_2400_kronor_a_month_in_helpdesk() {
    let catalogue = jamtland();
    let packages = packages();
    let none = BTreeSet::new();
    let basis = CostBasis {
        service_packages: &packages,
        optional_services: &none,
        workstations: 12,
        listed_patients: Some(0),
    };
    let estimate = estimate(&catalogue, basis, date("2025-06-01"));
    let helpdesk = estimate
        .lines
        .iter()
        .find(|l| l.item == "helpdesk")
        .unwrap();
    assert_eq!(helpdesk.quantity, 2);
    assert_eq!(helpdesk.monthly, Ore::from_kronor(2_400));
    assert_eq!(helpdesk.yearly, Ore::from_kronor(28_800));
}

#[test]
fn the_per_patient_price_follows_its_effective_date() {
    let catalogue = jamtland();
    let packages = packages();
    let none = BTreeSet::new();
    let basis = CostBasis {
        service_packages: &packages,
        optional_services: &none,
        workstations: 10,
        listed_patients: Some(8_000),
    };
    let quality = |on| {
        estimate(&catalogue, basis, date(on))
            .lines
            .into_iter()
            .find(|l| l.item == "primarvardskvalitet")
            .unwrap()
    };
    let before = quality("2025-04-30");
    assert_eq!(before.unit_price, Ore(253));
    assert_eq!(before.yearly, Ore::from_kronor(20_240));
    let after = quality("2025-05-01");
    assert_eq!(after.unit_price, Ore(285));
    assert_eq!(after.yearly, Ore::from_kronor(22_800));
    assert_eq!(after.monthly, Ore(190_000));
    let total = estimate(&catalogue, basis, date("2025-05-01"));
    assert_eq!(total.monthly, Ore::from_kronor(1_200 + 1_900));
    assert_eq!(total.yearly, Ore::from_kronor(14_400 + 22_800));
    assert!(!total.approximate);
}

#[test]
fn an_optional_item_costs_only_when_chosen_and_marks_the_estimate_approximate() {
    let catalogue = jamtland();
    let packages = packages();
    let chosen = BTreeSet::from(["graviditets-och-forlossningsjournal".to_owned()]);
    let none = BTreeSet::new();
    let with = estimate(
        &catalogue,
        CostBasis {
            service_packages: &packages,
            optional_services: &chosen,
            workstations: 5,
            listed_patients: Some(0),
        },
        date("2025-06-01"),
    );
    let without = estimate(
        &catalogue,
        CostBasis {
            service_packages: &packages,
            optional_services: &none,
            workstations: 5,
            listed_patients: Some(0),
        },
        date("2025-06-01"),
    );
    assert_eq!(
        with.yearly.get() - without.yearly.get(),
        Ore::from_kronor(15_400).get()
    );
    assert!(with.approximate && !without.approximate);
}
