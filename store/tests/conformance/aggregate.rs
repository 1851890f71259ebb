//! A small but realistic aggregate for the cqrs-es tests: a go-live checklist. Its `apply`
//! is deliberately not idempotent (it appends to a list and counts), as real aggregates'
//! often are, so a snapshot that applied an event twice would show.

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventUpcaster, SemanticVersionEventUpcaster};
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Checklist {
    pub title: Option<String>,
    pub ticked: Vec<String>,
    pub notes: Vec<String>,
    pub closed: bool,
    pub events_applied: u64,
}

#[derive(Debug, Clone)]
pub enum ChecklistCommand {
    Open {
        title: String,
    },
    Tick {
        item: String,
        note: String,
    },
    /// Ticks two items in one command: two events.
    TickPair {
        first: String,
        second: String,
    },
    Close,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecklistEvent {
    Opened {
        title: String,
    },
    /// Version 2: version 1 called the item `label` and had no `note`.
    ItemTicked {
        item: String,
        note: String,
    },
    Closed,
}

impl DomainEvent for ChecklistEvent {
    fn event_type(&self) -> String {
        match self {
            Self::Opened { .. } => "Opened",
            Self::ItemTicked { .. } => "ItemTicked",
            Self::Closed => "Closed",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            Self::ItemTicked { .. } => "2",
            Self::Opened { .. } | Self::Closed => "1",
        }
        .to_owned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChecklistError {
    #[error("the checklist is already open")]
    AlreadyOpen,
    #[error("the checklist is not open")]
    NotOpen,
    #[error("{0} is already ticked")]
    AlreadyTicked(String),
}

impl Aggregate for Checklist {
    const TYPE: &'static str = "Checklist";
    type Command = ChecklistCommand;
    type Event = ChecklistEvent;
    type Error = ChecklistError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            ChecklistCommand::Open { title } => {
                if self.title.is_some() {
                    return Err(ChecklistError::AlreadyOpen);
                }
                sink.write(ChecklistEvent::Opened { title }, self).await;
            }
            ChecklistCommand::Tick { item, note } => {
                self.require_open()?;
                if self.ticked.contains(&item) {
                    return Err(ChecklistError::AlreadyTicked(item));
                }
                sink.write(ChecklistEvent::ItemTicked { item, note }, self)
                    .await;
            }
            ChecklistCommand::TickPair { first, second } => {
                self.require_open()?;
                for item in [first, second] {
                    if self.ticked.contains(&item) {
                        return Err(ChecklistError::AlreadyTicked(item));
                    }
                    let note = String::new();
                    sink.write(ChecklistEvent::ItemTicked { item, note }, self)
                        .await;
                }
            }
            ChecklistCommand::Close => {
                self.require_open()?;
                sink.write(ChecklistEvent::Closed, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.events_applied += 1;
        match event {
            ChecklistEvent::Opened { title } => self.title = Some(title),
            ChecklistEvent::ItemTicked { item, note } => {
                self.ticked.push(item);
                if !note.is_empty() {
                    self.notes.push(note);
                }
            }
            ChecklistEvent::Closed => self.closed = true,
        }
    }
}

impl Checklist {
    fn require_open(&self) -> Result<(), ChecklistError> {
        if self.title.is_none() || self.closed {
            return Err(ChecklistError::NotOpen);
        }
        Ok(())
    }
}

/// The stored form of an `ItemTicked` event at version 1.
pub fn item_ticked_v1(label: &str) -> Value {
    json!({"ItemTicked": {"label": label}})
}

/// Upcasts `ItemTicked` 1 → 2: `label` becomes `item`, `note` is empty.
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(SemanticVersionEventUpcaster::new(
        "ItemTicked",
        "2",
        Box::new(|payload| {
            let label = payload["ItemTicked"]["label"].clone();
            json!({"ItemTicked": {"item": label, "note": ""}})
        }),
    ))]
}
