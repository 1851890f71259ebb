//! `pipeline`: per region and programme, how many cases are in each phase and the median days
//! spent in each phase.
//!
//! Its own table, one row per *stay* of a case in a phase (entered, left, seconds spent),
//! rather than a query over `case_overview`: the median needs every stay's duration, and a
//! row per stay lets the query read two small columns instead of every case's document.
//! Medians are over *completed* stays only; a case's current stay counts in `cases` (where
//! it is now) but not in the median, since its length is not known yet (counting it would
//! make a phase look faster the more cases are stuck in it). Terminal phases (live, ended,
//! rejected) have no completed stays until a case leaves them (live → suspended).

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::case::{ConnectionCase, Phase};
use domain::ids::{ProgrammeId, RegionId};
use serde::{Deserialize, Serialize};

use super::{ReadModels, Tabular, Tenancy, case_partition, doc, median, opt};
use crate::error::ProjectionError;
use crate::event::{DomainEvent, Envelope};
use crate::model::{Cell, Column, Context, ReadModel, Row};
use crate::name::ProjectionName;
use crate::sql::Filter;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stay {
    phase: Phase,
    entered_at: DateTime<Utc>,
    left_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct PipelineState {
    case: ConnectionCase,
    stays: Vec<Stay>,
}

pub(crate) struct PipelineModel;

impl ReadModel for PipelineModel {
    const NAME: ProjectionName = ProjectionName::Pipeline;
    /// 2: the embedded case keys staff commitments by data subject, not HSA-id.
    /// 3: the embedded case follows its programme's process (a new state shape).
    const SCHEMA_VERSION: u32 = 3;
    const COLUMNS: &'static [Column] = &[
        Column::text("region", false),
        Column::text("provider_org", true),
        Column::text("programme", false),
        Column::text("phase", false),
        Column::int("seconds", false),
    ];
    const STREAMS: &'static [&'static str] = super::CASES;
    type State = PipelineState;

    fn partition(event: &Envelope) -> Option<String> {
        case_partition(event)
    }

    fn apply(state: &mut PipelineState, event: &Envelope, _: Context<'_>) -> Result<(), String> {
        let DomainEvent::Case(case_event) = &event.event else {
            return Ok(());
        };
        let before = state.case.phase();
        state.case.apply(case_event.clone());
        let after = state.case.phase();
        if after != before {
            if let Some(current) = state.stays.last_mut() {
                current.left_at = Some(case_event.at);
            }
            state.stays.push(Stay {
                phase: after,
                entered_at: case_event.at,
                left_at: None,
            });
        }
        Ok(())
    }

    fn rows(state: &PipelineState, _: Context<'_>) -> Result<Vec<Row>, String> {
        let Some(facts) = state.case.facts() else {
            return Ok(Vec::new());
        };
        state
            .stays
            .iter()
            .enumerate()
            .map(|(i, stay)| {
                let seconds = stay
                    .left_at
                    .map(|left| (left - stay.entered_at).num_seconds());
                Row::new(
                    format!("{}/{i:04}", facts.case_id),
                    vec![
                        Cell::text(&facts.region),
                        Cell::text(&facts.org_number),
                        Cell::text(&facts.programme),
                        Cell::text(stay.phase),
                        seconds.map_or(Cell::Null, Cell::Int),
                    ],
                    stay,
                )
            })
            .collect()
    }
}

/// Cases in one phase of one programme.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineRow {
    pub region: RegionId,
    pub programme: ProgrammeId,
    pub phase: Phase,
    /// Cases in this phase now.
    pub cases: u64,
    /// Stays in this phase that have ended, which the median is over.
    pub completed_stays: u64,
    /// The median of the completed stays, in days (two decimals); `None` without any.
    pub median_days: Option<f64>,
}

impl Tabular for PipelineRow {
    const HEADERS: &'static [&'static str] = &[
        "region",
        "programme",
        "phase",
        "cases",
        "completed_stays",
        "median_days",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.region.to_string(),
            self.programme.to_string(),
            self.phase.to_string(),
            self.cases.to_string(),
            self.completed_stays.to_string(),
            opt(self.median_days.map(|d| format!("{d:.2}"))),
        ]
    }
}

/// The median of sorted seconds, in days with two decimals.
fn median_days(sorted_seconds: &[i64]) -> Option<f64> {
    median(sorted_seconds).map(|seconds| (seconds / 86_400.0 * 100.0).round() / 100.0)
}

impl ReadModels {
    /// Per programme of the caller's region (one programme when given), every phase a case
    /// can be in after applying, in lifecycle order.
    pub async fn pipeline(
        &self,
        tenancy: &Tenancy,
        programme: Option<&ProgrammeId>,
    ) -> Result<Vec<PipelineRow>, ProjectionError> {
        let mut filters = Vec::new();
        if let Some(programme) = programme {
            filters.push(Filter::eq("programme", Cell::text(programme)));
        }
        let records = self.all(ProjectionName::Pipeline, tenancy, filters).await?;
        // programme → phase → (current cases, completed seconds)
        let mut groups: std::collections::BTreeMap<String, Vec<(u64, Vec<i64>)>> =
            std::collections::BTreeMap::new();
        for record in &records {
            let programme = record.cells[2].as_text().unwrap_or_default().to_owned();
            let stay: Stay = doc(ProjectionName::Pipeline, record)?;
            let phases = groups
                .entry(programme)
                .or_insert_with(|| vec![(0, Vec::new()); Phase::ALL.len()]);
            let slot = &mut phases[Phase::ALL
                .iter()
                .position(|p| *p == stay.phase)
                .unwrap_or_default()];
            match record.cells[4].as_int() {
                Some(seconds) => slot.1.push(seconds),
                None => slot.0 += 1,
            }
        }
        let mut rows = Vec::new();
        for (programme, phases) in groups {
            let programme = ProgrammeId::parse(&programme)
                .map_err(|e| ProjectionError::Corrupt(format!("pipeline programme: {e}")))?;
            for (phase, (cases, mut seconds)) in Phase::ALL.into_iter().zip(phases) {
                if phase == Phase::New {
                    continue;
                }
                seconds.sort_unstable();
                rows.push(PipelineRow {
                    region: tenancy.region.clone(),
                    programme: programme.clone(),
                    phase,
                    cases,
                    completed_stays: seconds.len() as u64,
                    median_days: median_days(&seconds),
                });
            }
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::median_days;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median_days(&[]), None);
        assert_eq!(median_days(&[86_400]), Some(1.0));
        assert_eq!(median_days(&[86_400, 3 * 86_400]), Some(2.0));
        assert_eq!(median_days(&[0, 86_400, 10 * 86_400]), Some(1.0));
    }
}
