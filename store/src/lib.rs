//! Anslut's event store: the system of record.
//!
//! Auditors must be able to trust that the log holds every acknowledged event exactly once,
//! in one order, unaltered; read models must be able to follow that order without ever
//! skipping an event. cqrs-es's own PostgreSQL store has no global order, no event ids or
//! timestamps, and updates read models in-process after commit. This crate closes those gaps,
//! on PostgreSQL (production) and on an SQLite file (the default), with the same schema shape
//! and the same tests.
//!
//! # What it promises
//!
//! * **One global order, gap-free.** Every event gets a dense [`Position`] (1, 2, 3, ...).
//!   Appends are serialised on one lock (PostgreSQL: a row lock on `log_head`; SQLite:
//!   `BEGIN IMMEDIATE`), so commit order is position order and a reader that has seen
//!   position 42 can never later find 41: [`EventStore::read_all`] is a plain range scan.
//!   `docs/adr/001-global-order.md` explains the choice and what it costs; a single writer
//!   task per store writes concurrent appends together in one transaction (group commit) to
//!   win the throughput back.
//! * **Optimistic concurrency.** Each append names the stream version it expects
//!   ([`ExpectedVersion`]); a stale append fails with [`StoreError::Conflict`] and writes
//!   nothing. A command's events are written all or none.
//! * **Idempotency.** Every append carries a command id ([`EventMetadata::command_id`]);
//!   appending the same command id to the same stream again returns the original
//!   [`AppendOutcome`] (`replayed = true`) and writes nothing.
//! * **Metadata on every event:** event id (UUIDv7), recorded-at time (database clock on
//!   PostgreSQL, never decreasing along positions), actor, correlation, causation and command
//!   ids, event type and version.
//! * **Append-only, verifiably.** Triggers refuse updates and deletes of events and command
//!   records; a per-stream SHA-256 hash chain ([`canonical`]) lets [`EventStore::verify`]
//!   find any row changed or removed behind the store's back.
//! * **Upcasting and snapshots** through cqrs-es's `EventUpcaster`s and a snapshotting
//!   [`AggregateStore`].
//!
//! # Tables
//!
//! `events` (the log), `streams` (each stream's version and last hash), `commands` (the
//! idempotency record), `log_head` (one row: the last position, and the lock), `snapshots`.
//! See `migrations/postgres/0001_event_log.sql` (and `0002`: snapshots stored uncompressed).
//! Migrations are embedded; [`EventStore::migrate`] applies them.
//!
//! # Entry points
//!
//! [`EventStore::connect`] then [`EventStore::migrate`]; [`EventStore::append`] and the
//! readers; [`EventStore::aggregate_store`] for cqrs-es's `CqrsFramework`; and
//! [`EventStore::subscribe`] / [`EventStore::listen`] for followers.
//!
//! **Architecture invariant:** the store knows nothing of the domain. It stores JSON payloads
//! with string types and versions; the `domain` crate is not a dependency.

#![forbid(unsafe_code)]

mod cache;
pub mod canonical;
mod cqrs;
mod dialect;
mod engine;
mod error;
mod model;
mod options;
mod store;
mod tail;
#[cfg(feature = "testing")]
pub mod testing;
mod verify;

pub use canonical::EventHash;
pub use cqrs::AggregateStore;
pub use dialect::NOTIFY_CHANNEL;
pub use error::StoreError;
pub use model::{
    ActorRecord, AppendOutcome, AppendRequest, EventMetadata, ExpectedVersion, NewEvent, Position,
    RecordedEvent, SnapshotUpdate, StoredSnapshot, StreamRef, metadata_keys,
};
pub use options::{CodecContext, CodecError, IdentityCodec, PayloadCodec, StoreOptions};
pub use store::{EventStore, FilteredRead, Wakeups};
pub use verify::{EventRef, Problem, VerifyReport};
