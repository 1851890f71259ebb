//! Process definitions: each programme version's own steps from application to go-live,
//! and its operating-phase duties, as data beside its catalogue.
//!
//! A process version belongs to one catalogue version (same programme, same version number,
//! same source document). It lives as one TOML file per version under `domain/processes/`,
//! reviewed as a diff like the catalogues and compiled into the binary
//! ([`ProcessRegistry::load_embedded`]). Every step, gate, condition, recurrence, lead time
//! and duty quotes its source document; the traceability test finds each quote verbatim.
//! The files are separate from the catalogue files so that publishing a process does not
//! change a catalogue's digest, which recorded events cite. See ARCHITECTURE.md.

mod model;
mod registry;

pub use model::{
    Channel, Condition, ConditionKind, Duty, DutyKind, DutyParty, Gate, GateBasis, LeadTimeRule,
    ProcessDefinition, ProcessRef, ProcessSource, Recurrence, RecurrenceKind, Silence, Step,
    StepId, StepKind, StepOrigin, StepScope, Timeliness, TimelinessKind,
};
pub use registry::{ProcessError, ProcessRegistry};
