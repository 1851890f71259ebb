//! Security incidents (säkerhetsincidenter): reported by a provider against a connection
//! case, assessed by region IT, acted on, closed (Jämtland §3.4: every incident that may
//! affect the region's IT security is reported). Its own lifecycle, so its own stream.
//!
//! The rule of *when* an incident may be reported belongs to the case ("after ending, only
//! incidents"; "a suspended case ... or have incidents reported"): the only way to obtain the
//! [`IncidentContext`] a report needs is [`crate::case::ConnectionCase::incident_context`],
//! which refuses before a connection exists.

mod aggregate;

pub use aggregate::*;
