//! The connection case (anslutningsärende): one provider unit joining one region programme,
//! from application to the end of the connection. See ARCHITECTURE.md for the rules.

mod aggregate;
mod commands;
mod error;
mod events;
mod gate;
mod permission;
mod phase;
pub mod upcast;
mod values;

pub use aggregate::{CaseFacts, CaseServices, ConnectionCase, FindingState, VerificationState};
pub use commands::*;
pub use error::{ApplicationProblem, CaseError, DateProblem, ErrorClass};
pub use events::*;
pub use gate::{Blocker, Flag};
pub use permission::Permission;
pub use phase::Phase;
pub use values::*;
