//! The seven read models and their queries.
//!
//! Every list query takes the caller's [`Tenancy`] (its region, and for providers its
//! organisation), so the API applies tenancy in one place: here, as SQL filters on the typed
//! `region` and `provider_org` columns every table has. Lists page by key with an opaque
//! [`Cursor`]; rows serialise to JSON and flatten to CSV through [`Tabular`].

pub mod case_overview;
pub mod compliance;
pub mod costs;
pub mod findings;
pub mod incidents;
pub mod pipeline;
pub mod staff;

use std::sync::Arc;

use domain::identity::OrgNumber;
use domain::ids::{CaseId, ProgrammeId, RegionId};
use serde::{Deserialize, Serialize};

use crate::error::ProjectionError;
use crate::event::{DomainEvent, Envelope};
use crate::model::{Cell, Projector, rows_table, state_table};
use crate::name::ProjectionName;
use crate::runtime::Shared;
use crate::sql::{Filter, Reads as _, Record};

/// Every read model, as the runtime drives it.
pub(crate) fn projector(name: ProjectionName) -> &'static dyn Projector {
    use crate::model::Model;
    static CASE_OVERVIEW: Model<case_overview::CaseOverviewModel> = Model::new();
    static PIPELINE: Model<pipeline::PipelineModel> = Model::new();
    static FINDINGS: Model<findings::FindingsModel> = Model::new();
    static INCIDENTS: Model<incidents::IncidentsModel> = Model::new();
    static COMPLIANCE: Model<compliance::ComplianceModel> = Model::new();
    static STAFF: Model<staff::StaffModel> = Model::new();
    static COSTS: Model<costs::CostsModel> = Model::new();
    match name {
        ProjectionName::CaseOverview => &CASE_OVERVIEW,
        ProjectionName::Pipeline => &PIPELINE,
        ProjectionName::Findings => &FINDINGS,
        ProjectionName::Incidents => &INCIDENTS,
        ProjectionName::ComplianceMatrix => &COMPLIANCE,
        ProjectionName::StaffCommitments => &STAFF,
        ProjectionName::Costs => &COSTS,
    }
}

/// Who is asking, as far as tenancy goes: region users see their region, provider users
/// only their own organisation within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenancy {
    pub region: RegionId,
    /// Set for provider users: only rows of this organisation.
    pub provider_org: Option<OrgNumber>,
}

impl Tenancy {
    pub fn region(region: RegionId) -> Self {
        Self {
            region,
            provider_org: None,
        }
    }

    pub fn provider(region: RegionId, org: OrgNumber) -> Self {
        Self {
            region,
            provider_org: Some(org),
        }
    }

    fn filters(&self) -> Vec<Filter> {
        let mut filters = vec![Filter::eq("region", Cell::text(&self.region))];
        if let Some(org) = &self.provider_org {
            filters.push(Filter::eq("provider_org", Cell::text(org)));
        }
        filters
    }
}

/// Where a list page starts: opaque to clients, the hex of the last key served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    fn after(key: &str) -> Self {
        Self(hex::encode(key))
    }

    /// Reads a cursor a client sent back.
    pub fn parse(raw: &str) -> Result<Self, ProjectionError> {
        let bytes = hex::decode(raw).map_err(|_| ProjectionError::InvalidCursor)?;
        String::from_utf8(bytes).map_err(|_| ProjectionError::InvalidCursor)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn key(&self) -> String {
        hex::decode(&self.0)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_default()
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which page of a list to return.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageRequest {
    pub after: Option<Cursor>,
    /// At most [`PageRequest::MAX_LIMIT`]; 0 means [`PageRequest::DEFAULT_LIMIT`].
    pub limit: usize,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: usize = 100;
    pub const MAX_LIMIT: usize = 1000;

    pub fn first(limit: usize) -> Self {
        Self { after: None, limit }
    }

    fn effective_limit(&self) -> usize {
        match self.limit {
            0 => Self::DEFAULT_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        }
    }
}

/// One page of a list, and where the next one starts (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

/// A row that flattens to CSV: fixed headers, one text cell per header.
pub trait Tabular {
    const HEADERS: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
}

/// Renders rows as CSV (RFC 4180: CRLF line ends, fields quoted when they hold a comma,
/// quote or line break), with a header line. Cells are neutralised against formula injection
/// (OWASP's rule, see [`csv_cell`]): the text comes from providers, and a spreadsheet runs a
/// cell starting with `=` as a formula.
pub fn to_csv<T: Tabular>(rows: &[T]) -> String {
    let mut out = String::new();
    for (i, header) in T::HEADERS.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&csv_cell(header));
    }
    out.push_str("\r\n");
    for row in rows {
        for (i, cell) in row.cells().iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&csv_cell(cell));
        }
        out.push_str("\r\n");
    }
    out
}

/// One CSV field: a value starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
/// leading `'` (so a spreadsheet shows it as text instead of running it), unless it is a plain
/// number (`-12`, `-3.5`: a formula cannot hide in one, and numeric columns stay numeric); then
/// the field is quoted when it holds a comma, quote or line break, or begins or ends with
/// white space, quotes doubled.
pub fn csv_cell(value: &str) -> String {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(value);
    let text = if formula {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    let padded = text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace);
    if padded || text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// `-12`, `-3.50`, `+7`: a sign, digits, at most one decimal point between digits.
fn is_plain_number(value: &str) -> bool {
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

pub(crate) fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// The query facade over the live generations. Cheap to clone.
#[derive(Clone)]
pub struct ReadModels {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for ReadModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadModels").finish_non_exhaustive()
    }
}

impl ReadModels {
    /// Rows of a projection's live table; with `with_state`, each record's document is
    /// replaced by its partition's state document (for models whose row key is the partition
    /// key and whose state is the document worth serving, so it is stored once). A rebuild
    /// may drop the tables this reader last resolved: then it resolves the live generation
    /// again and retries once.
    async fn records(
        &self,
        name: ProjectionName,
        filters: &[Filter],
        after: Option<&str>,
        limit: Option<usize>,
        with_state: bool,
    ) -> Result<Vec<Record>, ProjectionError> {
        let columns = projector(name).columns();
        let mut retried = false;
        loop {
            let generation = self.shared.live_generation(name).await?;
            let read = async {
                let mut records = self
                    .shared
                    .db
                    .select(
                        &rows_table(name, generation),
                        columns,
                        filters,
                        after,
                        limit,
                    )
                    .await?;
                if with_state && !records.is_empty() {
                    let keys: Vec<String> = records.iter().map(|r| r.key.clone()).collect();
                    let mut states = self
                        .shared
                        .db
                        .load_states(&state_table(name, generation), &keys)
                        .await?;
                    for record in &mut records {
                        record.doc = states.remove(&record.key).ok_or_else(|| {
                            ProjectionError::Corrupt(format!("{name} {} has no state", record.key))
                        })?;
                    }
                }
                Ok::<_, ProjectionError>(records)
            };
            match read.await {
                Err(error) if error.is_missing_table() && !retried => {
                    self.shared.forget_generation(name);
                    retried = true;
                }
                other => return other,
            }
        }
    }

    /// One page of a list: `tenancy` and `filters` as SQL, `view` turns records into items.
    async fn page<T>(
        &self,
        name: ProjectionName,
        tenancy: &Tenancy,
        filters: Vec<Filter>,
        page: &PageRequest,
        with_state: bool,
        mut view: impl FnMut(Record) -> Result<T, ProjectionError>,
    ) -> Result<Page<T>, ProjectionError> {
        let mut all = tenancy.filters();
        all.extend(filters);
        let limit = page.effective_limit();
        let after = page.after.as_ref().map(Cursor::key);
        let mut records = self
            .records(name, &all, after.as_deref(), Some(limit + 1), with_state)
            .await?;
        let next = if records.len() > limit {
            records.truncate(limit);
            records.last().map(|r| Cursor::after(&r.key))
        } else {
            None
        };
        let items = records
            .into_iter()
            .map(&mut view)
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    /// Every matching record, for aggregate queries.
    async fn all(
        &self,
        name: ProjectionName,
        tenancy: &Tenancy,
        filters: Vec<Filter>,
    ) -> Result<Vec<Record>, ProjectionError> {
        let mut all = tenancy.filters();
        all.extend(filters);
        self.records(name, &all, None, None, false).await
    }
}

/// Parses a stored document.
pub(crate) fn doc<T: serde::de::DeserializeOwned>(
    name: ProjectionName,
    record: &Record,
) -> Result<T, ProjectionError> {
    serde_json::from_str(&record.doc)
        .map_err(|e| ProjectionError::Corrupt(format!("{name} row {}: {e}", record.key)))
}

/// The owner of a case's rows: who may see them, fixed by the application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Owner {
    pub case_id: CaseId,
    pub region: RegionId,
    pub provider_org: OrgNumber,
    pub programme: ProgrammeId,
}

/// The models of cases follow the case streams.
pub(crate) const CASES: &[&str] = &[<domain::case::ConnectionCase as cqrs_es::Aggregate>::TYPE];
/// The incidents model follows the incident streams.
pub(crate) const INCIDENTS: &[&str] =
    &[<domain::incident::SecurityIncident as cqrs_es::Aggregate>::TYPE];

/// Case events partition by case (the stream id is the case id).
pub(crate) fn case_partition(event: &Envelope) -> Option<String> {
    matches!(event.event, DomainEvent::Case(_)).then(|| event.stream_id.clone())
}

/// The owner, or an error for an event that comes before its case's application.
pub(crate) fn owner(owner: Option<&Owner>) -> Result<&Owner, String> {
    owner.ok_or_else(|| "an event of a case that has no application".to_owned())
}

/// The median of sorted values; the mean of the middle two for an even count.
#[expect(
    clippy::cast_precision_loss,
    reason = "durations in seconds, far below 2^52"
)]
pub(crate) fn median(sorted: &[i64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2] as f64),
        _ => Some(f64::midpoint(
            sorted[n / 2 - 1] as f64,
            sorted[n / 2] as f64,
        )),
    }
}

#[cfg(test)]
mod csv_tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_quoted_by_owasps_rule() {
        for (value, expected) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"",
            ),
            ("+1+1", "'+1+1"),
            ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
            ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "\"'\r=1\""),
            ("=1,2", "\"'=1,2\""),
            ("-12", "-12"),
            ("-3.50", "-3.50"),
            ("-", "'-"),
            ("-1.", "'-1."),
            (
                "Östersundshälsan Vårdcentral",
                "Östersundshälsan Vårdcentral",
            ),
            ("a \"quoted\" word", "\"a \"\"quoted\"\" word\""),
            (" padded", "\" padded\""),
            ("", ""),
        ] {
            assert_eq!(csv_cell(value), expected, "{value:?}");
        }
    }

    struct Row(&'static str);

    impl Tabular for Row {
        const HEADERS: &'static [&'static str] = &["unit_name", "n"];
        fn cells(&self) -> Vec<String> {
            vec![self.0.to_owned(), "-1".to_owned()]
        }
    }

    #[test]
    fn every_cell_of_an_export_goes_through_the_rule() {
        assert_eq!(
            to_csv(&[Row("=cmd|'/C calc'!A0")]),
            "unit_name,n\r\n'=cmd|'/C calc'!A0,-1\r\n"
        );
    }
}
