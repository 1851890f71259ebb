//! Cost estimates from a catalogue's effective-dated prices (Jämtland §3.1): what a case
//! will pay per month and per year for the packages and options it applies for. Money is
//! integer öre throughout; the only rounding is of yearly amounts spread over twelve months,
//! half up to the öre.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;

use crate::catalogue::{Catalogue, Price, PriceUnit};
use crate::ids::ServicePackageId;
use crate::money::{Ore, workstation_groups};

/// What a cost estimate is computed from: the application's choices.
#[derive(Debug, Clone, Copy)]
pub struct CostBasis<'a> {
    pub service_packages: &'a BTreeSet<ServicePackageId>,
    pub optional_services: &'a BTreeSet<String>,
    pub workstations: u32,
    pub listed_patients: Option<u32>,
}

/// One priced item of an estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostLine {
    pub item: String,
    pub description: String,
    pub unit: PriceUnit,
    /// Groups, listed patients or units, as the price is counted.
    pub quantity: u64,
    pub unit_price: Ore,
    /// The date the price used took effect.
    pub price_from: NaiveDate,
    pub monthly: Ore,
    pub yearly: Ore,
    pub approximate: bool,
}

/// A monthly and yearly estimate, excluding VAT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostEstimate {
    pub on: NaiveDate,
    pub lines: Vec<CostLine>,
    pub monthly: Ore,
    pub yearly: Ore,
    /// Some line's price is given as approximate ("ca").
    pub approximate: bool,
}

/// Spreads a yearly amount over twelve months, rounding half up to the öre.
const fn per_month(yearly: i64) -> i64 {
    (yearly * 2 + 12) / 24
}

/// Estimates the costs of a case on a date, with the prices in force that day.
pub fn estimate(catalogue: &Catalogue, basis: CostBasis<'_>, on: NaiveDate) -> CostEstimate {
    // The newest row of each item that has taken effect.
    let mut in_force: BTreeMap<&str, &Price> = BTreeMap::new();
    for price in catalogue.prices.iter().filter(|p| p.effective_from <= on) {
        let newer = in_force
            .get(price.item.as_str())
            .is_none_or(|seen| seen.effective_from < price.effective_from);
        if newer {
            in_force.insert(&price.item, price);
        }
    }
    let lines: Vec<CostLine> = in_force
        .into_values()
        .filter(|p| {
            p.package
                .as_ref()
                .is_none_or(|package| basis.service_packages.contains(package))
        })
        .filter(|p| !p.optional || basis.optional_services.contains(&p.item))
        .map(|p| {
            let (quantity, monthly, yearly) = match p.unit {
                PriceUnit::PerWorkstationGroupPerMonth => {
                    let size = catalogue.application.workstation_group_size.unwrap_or(1);
                    let groups = i64::from(workstation_groups(basis.workstations, size));
                    let monthly = groups * p.amount_ore;
                    (groups, monthly, monthly * 12)
                }
                PriceUnit::PerListedPatientPerYear => {
                    let patients = i64::from(basis.listed_patients.unwrap_or(0));
                    let yearly = patients * p.amount_ore;
                    (patients, per_month(yearly), yearly)
                }
                PriceUnit::PerUnitPerYear => (1, per_month(p.amount_ore), p.amount_ore),
                PriceUnit::PerUnitPerMonth => (1, p.amount_ore, p.amount_ore * 12),
            };
            CostLine {
                item: p.item.clone(),
                description: p.description.clone(),
                unit: p.unit,
                quantity: quantity.unsigned_abs(),
                unit_price: Ore(p.amount_ore),
                price_from: p.effective_from,
                monthly: Ore(monthly),
                yearly: Ore(yearly),
                approximate: p.approximate,
            }
        })
        .collect();
    CostEstimate {
        on,
        monthly: lines.iter().map(|l| l.monthly).sum(),
        yearly: lines.iter().map(|l| l.yearly).sum(),
        approximate: lines.iter().any(|l| l.approximate),
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_yearly_amount_is_spread_over_months_rounding_half_up() {
        assert_eq!(per_month(1200), 100);
        assert_eq!(per_month(6), 1); // 0.5 öre rounds up
        assert_eq!(per_month(5), 0);
        assert_eq!(per_month(2_024_000), 168_667);
    }
}
