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

pub mod application;
pub mod audit_cli;
pub mod auth;
pub mod authz;
pub mod checkpoints;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod dto;
pub mod edge;
pub mod extract;
pub mod limits;
pub mod long_poll;
pub mod metrics;
pub mod openapi;
pub mod privacy;
pub mod privacy_cli;
pub mod problem;
pub mod projections_cli;
pub mod read_models;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tenancy;
pub mod webhook_setup;
