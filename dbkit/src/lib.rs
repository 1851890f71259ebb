//! What every database-touching crate of Anslut shares, written once: the store, the read
//! models, the webhook outbox, the audit tree and the privacy keys all live in the store's
//! database, PostgreSQL in production or an SQLite file by default, and each needs the same
//! few things around its own SQL.
//!
//! * [`connect`]: one pool policy ([`PoolPolicy`]) for both backends: on PostgreSQL one pool;
//!   on SQLite a single writing connection (SQLite has one writer at a time, and queueing in
//!   the pool is fairer than spinning on the busy handler) plus a pool of readers, in WAL mode,
//!   with the durability the caller asks for. In-memory SQLite is refused: every pooled
//!   connection would see a database of its own.
//! * [`Db`] and [`Tx`]: the two-backend handle and transaction. A crate writes its SQL once,
//!   generic over the sqlx database (bounded by [`Bind`] and [`Load`]), and picks the backend
//!   with a `match` on [`Db`], [`Tx`] or [`Conn`] — see [`Conn`] for the shape.
//! * [`migrate`]: embedded migrations, each crate's history in a table of its own.
//! * [`DbError`] and [`classify`]: one classification of database errors into unavailable
//!   (retry later: 503), corrupt (stored data unreadable) and other, which every crate's error
//!   type takes over so that an outage reads the same everywhere.
//! * [`BigInt`]: the checked codec between unsigned counts (positions, versions, sizes) and
//!   the databases' signed BIGINT, which refuses an out-of-range value loudly instead of
//!   turning it into 0.
//! * [`lock`]: advisory-lock keys, the "does anyone hold it" probe and [`lock::Leadership`].
//! * [`follower`]: the runtime of a task that follows the log: wake-ups from this process and
//!   (PostgreSQL) every other one, polling as a floor, leadership, pause and stop.
//!
//! **Architecture invariant:** this crate knows no table of any other crate and nothing of
//! the domain; it depends on sqlx and Tokio only.

#![forbid(unsafe_code)]

mod connect;
mod error;
pub mod follower;
mod int;
pub mod lock;

pub use connect::{
    Bind, Conn, Db, Durability, Load, PoolPolicy, Pools, Reader, Tx, connect, is_postgres_url,
    migrate, with_database,
};
pub use error::{Class, DbError, classify};
pub use int::{BigInt, OutOfRange};

/// The backends, for `with_backend!`.
pub use sqlx::{Postgres, Sqlite};
