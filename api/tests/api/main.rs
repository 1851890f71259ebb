//! The API's integration tests: one binary, each test on its own fresh PostgreSQL database
//! (or SQLite for the smoke run), through real HTTP.

mod errors;
mod helpers;
mod idempotency;
mod jwt;
mod lifecycle;
mod matrix;
mod ops;
mod spec;
