//! Anslut's read models: checkpointed projections of the event log.
//!
//! Dashboards and case systems read projections, not streams, and a projection that silently
//! misses an event shows a provider as compliant when it is not. cqrs-es updates its queries
//! in-process after commit, so a crash between the two loses the update for good and nothing
//! can catch up or rebuild. Here every projection instead follows the store's gap-free global
//! order ([`store::EventStore::read_all`]) from a durable checkpoint, and writes its documents
//! and its new checkpoint in one transaction: a crash at any point neither loses nor
//! double-applies an event (see [`runtime`](crate::Projections) for how).
//!
//! # Shape
//! * Tables live in the store's database (PostgreSQL or SQLite), created by this crate at run
//!   time, with the same SQL shape on both (TEXT and BIGINT columns). The registry
//!   `projection_state` records per projection its schema version, live generation and
//!   checkpoint; each generation `N` of a projection is two tables, `<name>_g<N>` (its rows)
//!   and `<name>_state_g<N>` (its per-partition state documents).
//! * Each read model is pure: per partition (a case, an incident) a state document, events
//!   folded in by a pure function, and rows derived from the state alone. Rows carry a few
//!   typed columns for filtering, tenancy and order, and a JSON document for the rest.
//!   Determinism is what makes rebuilds and [`Projections::verify`] meaningful.
//! * A rebuild writes a new generation of tables from position zero while the old one serves,
//!   then swaps the registry row in one transaction ([`Projections::rebuild`]); a changed
//!   schema version triggers one at start.
//!
//! # Entry points
//! [`Projections::open`] (tables, queries, status, rebuild, verify: what the CLI needs),
//! [`Projections::start`] → [`ProjectionsHandle`] (the projector tasks: what `anslut serve`
//! needs), [`Projections::read_models`] → [`ReadModels`] (the queries the API serves),
//! [`Projections::wait_for`] (read-your-writes), [`Projections::status`] (`/readyz`,
//! `/metrics`, `anslut projections status`).
//!
//! **Architecture invariant:** projections read the log and write only their own tables.
//! They never append events, never decide anything (the domain's aggregate is replayed, not
//! re-implemented, where a rule matters: blockers), and never read a clock inside the pure
//! functions: what depends on the day is computed at query time from a date passed in.

#![forbid(unsafe_code)]

mod error;
mod event;
mod model;
mod name;
mod personal;
pub mod read_models;
mod rebuild;
mod round;
mod runtime;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::ProjectionError;
pub use name::ProjectionName;
pub use personal::erase_personal;
pub use read_models::{Cursor, Page, PageRequest, ReadModels, Tabular, Tenancy, csv_cell, to_csv};
pub use rebuild::{Difference, RebuildReport, TableKind, VerifyOutcome, VerifyReport};
pub use round::RoundCounts;
pub use runtime::{
    Activity, Leader, Progress, ProjectionOptions, ProjectionStatus, Projections, ProjectionsHandle,
};
#[cfg(feature = "testing")]
pub use runtime::{Fault, FaultAction};
pub use sql::PROJECTIONS_CHANNEL;
