//! Data subjects (registrerade): the people whose personal data events hold, and the
//! decision to forget one (GDPR art. 17).
//!
//! Personal data is sealed per data subject (see [`crate::personal`]); forgetting a subject
//! destroys its key, outside the domain. What the domain decides is that the subject is
//! forgotten, by whom, when and why: [`SubjectForgotten`], in the subject's own stream
//! (`data_subject/<uuid>`), so the erasure is itself on the record and read models erase
//! the subject's data when they reach it, in a rebuild too. A subject is forgotten once;
//! asking again is refused with [`SubjectError::AlreadyForgotten`], which carries the
//! original decision so that a caller can repair a forget that recorded its event but did
//! not get to destroy the key.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, Role};
use crate::case::{ErrorClass, Issued};
use crate::clock::Clock;
use crate::ids::DataSubjectId;
use crate::text::Reason;

/// The roles that may forget a data subject: the region's case officers, who answer
/// requests for erasure, and region IT. Never providers, auditors, dashboards or
/// integrations (an erasure is a decision a person takes and answers for).
pub const FORGET_ROLES: [Role; 2] = [Role::Officer, Role::RegionIt];

/// Forget a data subject: destroy its personal data everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forget {
    pub subject: DataSubjectId,
    /// Why (a reference to the request, the legal ground). Kept in clear on the record:
    /// it must not repeat the person's data.
    pub reason: Reason,
}

/// Every command a data subject accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectCommand {
    Forget(Forget),
}

impl SubjectCommand {
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Forget(_) => "forget-data-subject",
        }
    }
}

/// One event of a data subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectEvent {
    pub actor: Actor,
    pub at: DateTime<Utc>,
    pub change: SubjectChange,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum SubjectChange {
    SubjectForgotten(SubjectForgotten),
}

/// Every data subject event type with its current version.
pub const SUBJECT_EVENT_TYPES: [(&str, &str); 1] = [("SubjectForgotten", "1")];

impl SubjectChange {
    pub const fn name(&self) -> &'static str {
        match self {
            Self::SubjectForgotten(_) => SUBJECT_EVENT_TYPES[0].0,
        }
    }

    pub const fn version(&self) -> &'static str {
        match self {
            Self::SubjectForgotten(_) => SUBJECT_EVENT_TYPES[0].1,
        }
    }

    pub const fn reason(&self) -> &Reason {
        match self {
            Self::SubjectForgotten(e) => &e.reason,
        }
    }
}

impl DomainEvent for SubjectEvent {
    fn event_type(&self) -> String {
        self.change.name().to_owned()
    }

    fn event_version(&self) -> String {
        self.change.version().to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectForgotten {
    pub subject: DataSubjectId,
    pub reason: Reason,
}

/// The decision that forgot a subject, as a refusal to forget it again reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forgotten {
    pub at: DateTime<Utc>,
    pub by: Actor,
}

/// Why a data subject refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum SubjectError {
    #[error("a {role} may not {command}")]
    NotPermitted { command: &'static str, role: Role },
    #[error("the data subject was already forgotten")]
    AlreadyForgotten { forgotten: Box<Forgotten> },
    #[error("the command names another data subject than its stream")]
    WrongSubject,
}

impl SubjectError {
    pub const fn code(&self) -> &'static str {
        match self {
            Self::NotPermitted { .. } => "not_permitted",
            Self::AlreadyForgotten { .. } => "already_forgotten",
            Self::WrongSubject => "wrong_subject",
        }
    }

    pub const fn class(&self) -> ErrorClass {
        match self {
            Self::NotPermitted { .. } => ErrorClass::Forbidden,
            Self::AlreadyForgotten { .. } => ErrorClass::Conflict,
            Self::WrongSubject => ErrorClass::Unprocessable,
        }
    }
}

impl crate::error::DomainError for SubjectError {
    const CODES: &'static [&'static str] = &["not_permitted", "already_forgotten", "wrong_subject"];

    fn code(&self) -> &'static str {
        Self::code(self)
    }

    fn class(&self) -> ErrorClass {
        Self::class(self)
    }
}

#[cfg(test)]
mod codes {
    use super::*;

    #[test]
    fn codes_lists_exactly_the_codes_of_the_variants() {
        let by = Actor::new(
            crate::actor::Subject::parse("officer-1").unwrap(),
            Role::Officer,
            crate::ids::RegionId::parse("dalarna").unwrap(),
            None,
        )
        .unwrap();
        let all = [
            SubjectError::NotPermitted {
                command: "c",
                role: Role::Officer,
            },
            SubjectError::AlreadyForgotten {
                forgotten: Box::new(Forgotten {
                    at: DateTime::<Utc>::UNIX_EPOCH,
                    by,
                }),
            },
            SubjectError::WrongSubject,
        ];
        // Fails to compile when a variant is added: give it an instance above.
        for error in &all {
            match error {
                SubjectError::NotPermitted { .. }
                | SubjectError::AlreadyForgotten { .. }
                | SubjectError::WrongSubject => {}
            }
        }
        crate::error::assert_codes_match(&all);
    }
}

/// What a data subject needs from outside: the time.
#[derive(Clone)]
pub struct SubjectServices {
    pub clock: Arc<dyn Clock>,
}

impl fmt::Debug for SubjectServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubjectServices").finish_non_exhaustive()
    }
}

/// A data subject, rebuilt from its events. Holds no personal data: only whether, when and
/// by whom it was forgotten.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSubject {
    subject: Option<DataSubjectId>,
    forgotten: Option<Forgotten>,
}

impl DataSubject {
    pub const fn forgotten(&self) -> Option<&Forgotten> {
        self.forgotten.as_ref()
    }

    /// Decides what a command means for this subject: the event to record, or why not.
    pub fn decide(
        &self,
        issued: Issued<SubjectCommand>,
        services: &SubjectServices,
    ) -> Result<SubjectEvent, SubjectError> {
        let Issued { actor, command } = issued;
        let name = command.name();
        if !FORGET_ROLES.contains(&actor.role) {
            return Err(SubjectError::NotPermitted {
                command: name,
                role: actor.role,
            });
        }
        let SubjectCommand::Forget(forget) = command;
        if self.subject.is_some_and(|s| s != forget.subject) {
            return Err(SubjectError::WrongSubject);
        }
        if let Some(forgotten) = &self.forgotten {
            return Err(SubjectError::AlreadyForgotten {
                forgotten: Box::new(forgotten.clone()),
            });
        }
        Ok(SubjectEvent {
            actor,
            at: services.clock.now(),
            change: SubjectChange::SubjectForgotten(SubjectForgotten {
                subject: forget.subject,
                reason: forget.reason,
            }),
        })
    }
}

impl Aggregate for DataSubject {
    const TYPE: &'static str = "data_subject";
    type Command = Issued<SubjectCommand>;
    type Event = SubjectEvent;
    type Error = SubjectError;
    type Services = SubjectServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = self.decide(command, services)?;
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: SubjectEvent) {
        match event.change {
            SubjectChange::SubjectForgotten(e) => {
                self.subject = Some(e.subject);
                self.forgotten = Some(Forgotten {
                    at: event.at,
                    by: event.actor,
                });
            }
        }
    }
}
