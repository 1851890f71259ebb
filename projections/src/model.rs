//! What a read model is, to the runtime: pure functions over per-partition state.
//!
//! Each read model keeps one *state document* per partition (a case, or an incident) and
//! derives its *rows* from that state alone. The runtime loads the states a batch touches,
//! folds the batch's events into them with [`ReadModel::apply`], and writes the states that
//! changed and the difference between the rows derived before and after, all in the
//! transaction that moves the checkpoint. Because rows are a function of state, and state a
//! fold of the log, a rebuild from position zero must produce the same tables: that is what
//! `verify` checks. Nothing here reads a clock; time-dependent facts (age, attestation due,
//! prices in force) are computed when queried, with the date passed in.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use domain::catalogue::CatalogueRegistry;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ProjectionError;
use crate::event::Envelope;
use crate::name::ProjectionName;

/// The SQL type of a typed column. Dates and timestamps are text in a fixed format
/// ([`day`], [`instant`]) so that they sort and compare the same way on both databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnType {
    Text,
    Int,
}

/// A typed column of a read model's table, besides `key` and `doc`: what queries filter on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    /// Gets an index `(column, key)`, for equality filters walked in key order.
    pub indexed: bool,
}

impl Column {
    pub const fn text(name: &'static str, indexed: bool) -> Self {
        Self {
            name,
            ty: ColumnType::Text,
            indexed,
        }
    }

    pub const fn int(name: &'static str, indexed: bool) -> Self {
        Self {
            name,
            ty: ColumnType::Int,
            indexed,
        }
    }
}

/// One value of a typed column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Cell {
    Null,
    Text(String),
    Int(i64),
}

impl Cell {
    // By value so that call sites read `Cell::text(phase)` whether they own the value or not.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "takes anything displayable, as a value reads best at the call sites"
    )]
    pub fn text(value: impl ToString) -> Self {
        Self::Text(value.to_string())
    }

    pub fn opt_text<T: ToString>(value: Option<T>) -> Self {
        value.map_or(Self::Null, |v| Self::Text(v.to_string()))
    }

    pub fn flag(value: bool) -> Self {
        Self::Int(i64::from(value))
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }
}

/// A date as stored in typed columns: `2025-03-03`.
pub(crate) fn day(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// An instant as stored in typed columns: RFC 3339 in UTC with microseconds, which sorts as
/// text.
pub(crate) fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A row of a read model's table: its key, its typed columns in [`ReadModel::COLUMNS`]
/// order, and its JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub key: String,
    pub cells: Vec<Cell>,
    pub doc: String,
}

impl Row {
    pub fn new(key: String, cells: Vec<Cell>, doc: &impl Serialize) -> Result<Self, String> {
        let doc = serde_json::to_string(doc).map_err(|e| format!("serialising a row: {e}"))?;
        Ok(Self { key, cells, doc })
    }
}

/// What the pure functions may consult besides state and event: the compiled-in catalogues,
/// which never change for a published version.
#[derive(Clone, Copy)]
pub(crate) struct Context<'a> {
    pub catalogues: &'a CatalogueRegistry,
}

/// One read model: a name, a schema version, its table's typed columns, and pure functions.
///
/// Bump `SCHEMA_VERSION` whenever `apply` or `rows` would give a different result for the
/// same log (new columns, new facts, fixed logic): the runtime then rebuilds the model into a
/// new generation at start, and the old tables serve until the swap.
pub(crate) trait ReadModel: Send + Sync + 'static {
    const NAME: ProjectionName;
    const SCHEMA_VERSION: u32;
    const COLUMNS: &'static [Column];
    /// The stream types (aggregate types) whose events this model folds. Only these are
    /// deserialised for it, so an unreadable event stops only the models that need it.
    const STREAMS: &'static [&'static str];
    type State: Serialize + DeserializeOwned + Default;

    /// The partition an event belongs to (its state document's key), or `None` when this
    /// model ignores the event.
    fn partition(event: &Envelope) -> Option<String>;

    /// Folds one event into the state. An `Err` stops the projector: the log holds something
    /// this model cannot account for.
    fn apply(state: &mut Self::State, event: &Envelope, ctx: Context<'_>) -> Result<(), String>;

    /// The rows a state stands for.
    fn rows(state: &Self::State, ctx: Context<'_>) -> Result<Vec<Row>, String>;
}

/// What one batch did to one partition.
#[derive(Debug, Default)]
pub(crate) struct PartitionChange {
    /// The new state document, when it changed.
    pub state: Option<String>,
    pub upserts: Vec<Row>,
    pub deletes: Vec<String>,
}

/// A read model as the runtime drives it, without its state type.
pub(crate) trait Projector: Send + Sync {
    fn schema_version(&self) -> u32;
    fn columns(&self) -> &'static [Column];
    fn streams(&self) -> &'static [&'static str];
    fn partition(&self, event: &Envelope) -> Option<String>;
    /// Folds `events` (one partition's, in log order) into the stored state document and
    /// says what to write.
    fn project(
        &self,
        stored: Option<&str>,
        events: &[&Envelope],
        ctx: Context<'_>,
    ) -> Result<PartitionChange, ProjectionError>;
}

pub(crate) struct Model<M>(PhantomData<M>);

impl<M> Model<M> {
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<M: ReadModel> Projector for Model<M> {
    fn schema_version(&self) -> u32 {
        M::SCHEMA_VERSION
    }

    fn columns(&self) -> &'static [Column] {
        M::COLUMNS
    }

    fn streams(&self) -> &'static [&'static str] {
        M::STREAMS
    }

    fn partition(&self, event: &Envelope) -> Option<String> {
        M::partition(event)
    }

    fn project(
        &self,
        stored: Option<&str>,
        events: &[&Envelope],
        ctx: Context<'_>,
    ) -> Result<PartitionChange, ProjectionError> {
        let Some(last) = events.last() else {
            return Ok(PartitionChange::default());
        };
        let poison = |position, message| ProjectionError::Poison {
            projection: M::NAME,
            position,
            message,
        };
        let parse = |doc: &str| {
            serde_json::from_str::<M::State>(doc)
                .map_err(|e| ProjectionError::Corrupt(format!("{} state document: {e}", M::NAME)))
        };
        let mut state = stored.map_or_else(|| Ok(M::State::default()), parse)?;
        for event in events {
            M::apply(&mut state, event, ctx).map_err(|m| poison(event.position, m))?;
        }
        let doc = serde_json::to_string(&state)
            .map_err(|e| poison(last.position, format!("serialising the state: {e}")))?;
        if stored == Some(doc.as_str()) {
            // Rows are a function of the state alone: the same state derives the same rows,
            // so an event that changes nothing here (most events, for most read models)
            // costs no derivation, and no write.
            return Ok(PartitionChange::default());
        }
        let before = match stored {
            Some(stored) => M::rows(&parse(stored)?, ctx).map_err(|m| poison(last.position, m))?,
            None => Vec::new(),
        };
        let after = M::rows(&state, ctx).map_err(|m| poison(last.position, m))?;

        let mut old: BTreeMap<String, Row> =
            before.into_iter().map(|r| (r.key.clone(), r)).collect();
        let mut change = PartitionChange {
            state: Some(doc),
            ..PartitionChange::default()
        };
        for row in after {
            if old.remove(&row.key).as_ref() != Some(&row) {
                change.upserts.push(row);
            }
        }
        change.deletes = old.into_keys().collect();
        Ok(change)
    }
}

/// The name of a projection's rows table in a generation.
pub(crate) fn rows_table(name: ProjectionName, generation: i64) -> String {
    format!("{name}_g{generation}")
}

/// The name of a projection's state table in a generation.
pub(crate) fn state_table(name: ProjectionName, generation: i64) -> String {
    format!("{name}_state_g{generation}")
}
