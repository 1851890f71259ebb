//! Anslut's system tests: `anslut` processes on a real PostgreSQL database, through the
//! harness in `tests/src/lib.rs`. One test binary; a module per scenario.

mod backup_restore;
mod bad_input;
mod commit_cut;
mod dashboard;
mod database_crash;
mod database_restart;
mod database_roles;
mod failover;
mod first_minute;
mod independent_verifier;
mod kill_loop;
mod pg_client;
mod schemathesis;
mod storm;
mod support;
