//! Anslut's HTTP API and the `anslut` command.
//!
//! The API is where tenancy, authentication and bad input meet the domain. A request passes,
//! in this order: telemetry and metrics (`telemetry`, `metrics`), the edge's bounds and headers
//! (`edge`: the request head's size, `nosniff` and `no-store` on every answer), rate limits and
//! authentication (`limits`), authentication and the role
//! check in the handler's signature (`authz::Authorized<P>`, backed by `auth`), the strict
//! body and path extractors (`extract`), the command pipeline (`commands`: `If-Match`,
//! `Idempotency-Key`, load, tenancy, decide, commit), and every refusal leaves as an RFC 9457
//! problem built in one place (`problem`).
//!
//! **Architecture invariant:** this crate owns HTTP, tokens and configuration; the domain owns
//! every rule. No handler decides anything the domain could decide, and no domain type derives
//! `ToSchema`: requests and views live in `dto`.

#![forbid(unsafe_code)]

// The interface: what the `anslut` binary, the integration tests and the benchmarks use.
pub mod application;
pub mod auth;
pub mod authz;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod dto;
pub mod openapi;
pub mod startup;
pub mod state;
pub mod telemetry;

// The HTTP edge's own parts.
mod commands;
mod edge;
mod extract;
mod limits;
mod long_poll;
mod metrics;
mod problem;
mod routes;
mod tenancy;

pub use commands::{FINGERPRINT_KEY, OPERATION_KEY};
pub use extract::parse_json;
pub use problem::cause_chain;
pub use routes::privacy::LOOKUPS_PER_DAY;
pub use tenancy::TENANT_REGION;
