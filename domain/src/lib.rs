//! Anslut's domain: everything the system decides, and nothing it does.
//!
//! Architecture invariant: this crate does no I/O and knows nothing of HTTP, SQL or tokens.
//! Time comes from an injected [`Clock`]; catalogues are compiled in. The dependency test in
//! `tests/purity.rs` fails if a forbidden crate enters its dependency tree.

#![forbid(unsafe_code)]

pub mod actor;
pub mod case;
pub mod catalogue;
pub mod clock;
pub mod contact;
pub mod costs;
pub mod disclosure;
pub mod error;
pub mod identity;
pub mod ids;
pub mod incident;
pub mod money;
pub mod personal;
pub mod process;
pub mod subject;
pub mod text;

pub use actor::{Actor, Party, Role};
pub use clock::{Clock, FixedClock};
pub use error::{DomainError, ErrorClass};
pub use personal::Personal;
