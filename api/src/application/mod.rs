//! The application layer: what the HTTP edge and the command line both do, without HTTP.
//! Each flow takes the subsystems it needs and returns its own outcome and error; the routes
//! (`routes/`) and the `anslut` command (the `anslut` crate, `cli/`) turn those into answers.
//!
//! * opening the subsystems beside the store: [`checkpoints`] (the audit's signing key and
//!   auditor), [`read_models`] (the projections), [`webhooks`] (the outbox and its secret
//!   key), [`subjects`] (the data subjects of personal data in commands);
//! * flows: [`commands`] (the command pipeline: `If-Match`, `Idempotency-Key`, load, decide,
//!   commit), [`forget`] (erasure of a data subject);
//! * [`clock`]: the wall clock the domain is given.

pub mod checkpoints;
pub mod clock;
pub mod commands;
pub mod forget;
pub mod read_models;
pub mod subjects;
pub mod webhooks;
