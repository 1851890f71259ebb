//! Turning stored events into domain events.
//!
//! The store knows nothing of the domain; this is where its JSON payloads become
//! [`CaseEvent`]s and [`IncidentEvent`]s again, chosen by the stream type the domain's
//! aggregates write (`Aggregate::TYPE`). Upcasting has already happened in the store (its
//! `StoreOptions::upcasters` run on every `read_all`), so payloads are current versions. An
//! event of a known stream type that does not deserialise is an error that stops the
//! projector; a data subject's `SubjectForgotten` is for every read model (it erases the
//! subject's personal data); events of other stream types are not for these read models and
//! only move the checkpoint.

use cqrs_es::Aggregate;
use domain::case::{CaseEvent, ConnectionCase};
use domain::ids::DataSubjectId;
use domain::incident::{IncidentEvent, SecurityIncident};
use domain::subject::{DataSubject, SubjectChange, SubjectEvent};
use serde::Deserialize as _;
use store::{Position, RecordedEvent};

/// A domain event with where it sits in the log.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    pub position: Position,
    /// The aggregate id: a case id or an incident id.
    pub stream_id: String,
    pub event: DomainEvent,
}

#[derive(Debug, Clone)]
pub(crate) enum DomainEvent {
    Case(CaseEvent),
    Incident(IncidentEvent),
    /// A data subject was forgotten: every projection erases its personal data in the
    /// same batch transaction (no projection folds it into a partition).
    SubjectForgotten(DataSubjectId),
}

/// Why a stored event could not be read, with its position.
#[derive(Debug, Clone)]
pub(crate) struct Unreadable {
    pub position: Position,
    pub message: String,
}

/// Reads one stored event: `Ok(None)` for stream types these read models do not follow.
pub(crate) fn parse(event: &RecordedEvent) -> Result<Option<Envelope>, Unreadable> {
    let position = event.position;
    let unreadable = |message: String| Unreadable { position, message };
    let parsed = match event.stream.stream_type.as_str() {
        ConnectionCase::TYPE => {
            let case = CaseEvent::deserialize(&event.payload).map_err(|e| {
                unreadable(format!(
                    "{} {} v{} does not deserialise: {e}",
                    event.stream, event.event_type, event.event_version
                ))
            })?;
            if case.change.name() != event.event_type {
                return Err(unreadable(format!(
                    "stored as {} but the payload is {}",
                    event.event_type,
                    case.change.name()
                )));
            }
            DomainEvent::Case(case)
        }
        SecurityIncident::TYPE => {
            let incident = IncidentEvent::deserialize(&event.payload).map_err(|e| {
                unreadable(format!(
                    "{} {} v{} does not deserialise: {e}",
                    event.stream, event.event_type, event.event_version
                ))
            })?;
            if incident.change.name() != event.event_type {
                return Err(unreadable(format!(
                    "stored as {} but the payload is {}",
                    event.event_type,
                    incident.change.name()
                )));
            }
            DomainEvent::Incident(incident)
        }
        DataSubject::TYPE => {
            let subject = SubjectEvent::deserialize(&event.payload).map_err(|e| {
                unreadable(format!(
                    "{} {} v{} does not deserialise: {e}",
                    event.stream, event.event_type, event.event_version
                ))
            })?;
            let SubjectChange::SubjectForgotten(forgotten) = subject.change;
            DomainEvent::SubjectForgotten(forgotten.subject)
        }
        _ => return Ok(None),
    };
    Ok(Some(Envelope {
        position,
        stream_id: event.stream.stream_id.clone(),
        event: parsed,
    }))
}
