//! The API's integration tests: one binary, each test on its own fresh PostgreSQL database
//! (or SQLite for the smoke run), through real HTTP.

mod budget;
mod dashboard;
mod disclosure;
mod edge;
mod errors;
mod feed;
mod fixtures;
mod helpers;
mod history;
mod idempotency;
mod jwt;
mod lifecycle;
mod matrix;
mod ops;
mod privacy;
mod proofs;
mod read_models;
mod readiness;
mod spec;
mod webhooks;
