//! `costs`: per case, what it will pay per month and per year for the packages and options it
//! applied for (Jämtland §3.1), from the effective-dated prices of the catalogue it is held to
//! (before contract signing, the one in force on the day asked about).
//!
//! The table stores the cost basis only; the estimate is [`domain::costs::estimate`] run at
//! query time for the date passed in, so a price change (2.53 → 2.85 SEK per listed patient
//! from 2025-05-01) shows without a rebuild. Programmes without prices give an empty
//! estimate.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use cqrs_es::Aggregate;
use domain::case::{CaseChange, ConnectionCase, Phase};
use domain::catalogue::{CatalogueRef, CatalogueRegistry};
use domain::costs::{CostBasis, CostEstimate, estimate};
use domain::identity::OrgNumber;
use domain::ids::{CaseId, ProgrammeId, RegionId};
use domain::money::Ore;
use domain::text::ShortText;
use serde::{Deserialize, Serialize};

use super::case_overview::CostBasisFacts;
use super::{Page, PageRequest, ReadModels, Tabular, Tenancy, case_partition, doc, opt};
use crate::error::ProjectionError;
use crate::event::{DomainEvent, Envelope};
use crate::model::{Cell, Column, Context, ReadModel, Row};
use crate::name::ProjectionName;
use crate::sql::Filter;

/// A case's cost basis as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostsDoc {
    pub case_id: CaseId,
    pub region: RegionId,
    pub provider_org: OrgNumber,
    pub programme: ProgrammeId,
    pub unit_name: ShortText,
    pub phase: Phase,
    pub catalogue_held: Option<CatalogueRef>,
    pub basis: CostBasisFacts,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CostsState {
    case: ConnectionCase,
    basis: CostBasisFacts,
}

pub(crate) struct CostsModel;

impl ReadModel for CostsModel {
    const NAME: ProjectionName = ProjectionName::Costs;
    /// 2: the embedded case keys staff commitments by data subject, not HSA-id.
    /// 3: the embedded case follows its programme's process (a new state shape).
    const SCHEMA_VERSION: u32 = 3;
    const COLUMNS: &'static [Column] = &[
        Column::text("region", false),
        Column::text("provider_org", true),
        Column::text("programme", true),
        Column::text("phase", false),
    ];
    const STREAMS: &'static [&'static str] = super::CASES;
    type State = CostsState;

    fn partition(event: &Envelope) -> Option<String> {
        case_partition(event)
    }

    fn apply(state: &mut CostsState, event: &Envelope, _: Context<'_>) -> Result<(), String> {
        let DomainEvent::Case(case_event) = &event.event else {
            return Ok(());
        };
        if let CaseChange::ApplicationSubmitted(e) = &case_event.change {
            state.basis = CostBasisFacts {
                service_packages: e.service_packages.clone(),
                optional_services: e.optional_services.clone(),
                workstations: e.workstations,
                workstation_groups: e.workstation_groups,
                listed_patients: e.listed_patients,
                workstation_changes: BTreeMap::new(),
            };
        }
        if let CaseChange::WorkstationsChanged(e) = &case_event.change {
            state
                .basis
                .workstation_changes
                .insert(e.effective_on, e.workstations);
        }
        state.case.apply(case_event.clone());
        Ok(())
    }

    fn rows(state: &CostsState, _: Context<'_>) -> Result<Vec<Row>, String> {
        let Some(facts) = state.case.facts() else {
            return Ok(Vec::new());
        };
        let stored = CostsDoc {
            case_id: facts.case_id,
            region: facts.region.clone(),
            provider_org: facts.org_number.clone(),
            programme: facts.programme.clone(),
            unit_name: facts.unit_name.clone(),
            phase: state.case.phase(),
            catalogue_held: state.case.held_to().cloned(),
            basis: state.basis.clone(),
        };
        Ok(vec![Row::new(
            facts.case_id.to_string(),
            vec![
                Cell::text(&facts.region),
                Cell::text(&facts.org_number),
                Cell::text(&facts.programme),
                Cell::text(state.case.phase()),
            ],
            &stored,
        )?])
    }
}

/// A case's estimate on a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostRow {
    pub case_id: CaseId,
    pub provider_org: OrgNumber,
    pub programme: ProgrammeId,
    pub unit_name: ShortText,
    pub phase: Phase,
    /// The catalogue version whose prices were used, if any.
    pub catalogue_version: Option<u32>,
    pub basis: CostBasisFacts,
    pub estimate: CostEstimate,
}

fn kronor(ore: Ore) -> String {
    let sign = if ore.get() < 0 { "-" } else { "" };
    let abs = ore.get().unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

impl Tabular for CostRow {
    const HEADERS: &'static [&'static str] = &[
        "case_id",
        "provider_org",
        "programme",
        "unit_name",
        "phase",
        "catalogue_version",
        "on",
        "workstations",
        "listed_patients",
        "monthly_sek",
        "yearly_sek",
        "approximate",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.case_id.to_string(),
            self.provider_org.to_string(),
            self.programme.to_string(),
            self.unit_name.to_string(),
            self.phase.to_string(),
            opt(self.catalogue_version),
            self.estimate.on.to_string(),
            self.basis.workstations.to_string(),
            opt(self.basis.listed_patients),
            kronor(self.estimate.monthly),
            kronor(self.estimate.yearly),
            self.estimate.approximate.to_string(),
        ]
    }
}

/// Narrows a list of cost estimates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CostFilter {
    pub case_id: Option<CaseId>,
    pub programme: Option<ProgrammeId>,
    pub phase: Option<Phase>,
}

impl CostsDoc {
    fn estimate(self, catalogues: &CatalogueRegistry, on: NaiveDate) -> CostRow {
        let catalogue = match &self.catalogue_held {
            Some(held) => catalogues.get(&held.programme, held.version),
            None => catalogues.in_force(&self.programme, on),
        };
        let basis = CostBasis {
            service_packages: &self.basis.service_packages,
            optional_services: &self.basis.optional_services,
            // The groups billed on the day asked about: from the workstations in effect then.
            workstations: self.basis.workstations_on(on),
            listed_patients: self.basis.listed_patients,
        };
        let estimate = catalogue.map_or_else(
            || CostEstimate {
                on,
                lines: Vec::new(),
                monthly: Ore(0),
                yearly: Ore(0),
                approximate: false,
            },
            |catalogue| estimate(catalogue, basis, on),
        );
        CostRow {
            case_id: self.case_id,
            provider_org: self.provider_org,
            programme: self.programme,
            unit_name: self.unit_name,
            phase: self.phase,
            catalogue_version: catalogue.map(|c| c.version),
            basis: self.basis,
            estimate,
        }
    }
}

impl ReadModels {
    /// Cost estimates in case order, with the prices in force `on`.
    pub async fn costs(
        &self,
        tenancy: &Tenancy,
        filter: &CostFilter,
        page: &PageRequest,
        on: NaiveDate,
    ) -> Result<Page<CostRow>, ProjectionError> {
        let mut filters = Vec::new();
        if let Some(case) = filter.case_id {
            filters.push(Filter::eq("key", Cell::text(case)));
        }
        if let Some(programme) = &filter.programme {
            filters.push(Filter::eq("programme", Cell::text(programme)));
        }
        if let Some(phase) = filter.phase {
            filters.push(Filter::eq("phase", Cell::text(phase)));
        }
        let catalogues = self.shared.catalogues.clone();
        self.page(
            ProjectionName::Costs,
            tenancy,
            filters,
            page,
            false,
            |record| {
                let stored: CostsDoc = doc(ProjectionName::Costs, &record)?;
                Ok(stored.estimate(&catalogues, on))
            },
        )
        .await
    }
}
