//! The domain's specification: given events, when a command, then events or an error.
//! One test binary for the crate; each module covers one part of the rules.

mod case_application;
mod case_establishment;
mod case_operation;
mod case_property;
mod case_verification;
mod catalogue_diff;
mod catalogues;
mod costs;
mod fixtures;
mod golden;
mod incident;
mod process_rules;
mod processes;
mod purity;
mod real_catalogues;
mod seeds;
mod subject;
