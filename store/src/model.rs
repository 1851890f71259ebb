//! The values the store takes and gives: streams, positions, metadata, requests and records.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::canonical::EventHash;
use crate::error::StoreError;

/// A place in the global order of the log: 1 for the first event ever appended, then dense
/// (2, 3, ...). `Position(0)` means "before the first event": the head of an empty log and the
/// starting point of a follower that has seen nothing.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Position(pub u64);

impl Position {
    pub const START: Self = Self(0);

    pub const fn get(self) -> u64 {
        self.0
    }

    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Positions are BIGINT in every table that holds one (the log, checkpoints, the outbox):
/// a negative one read back is corruption, never position 0.
impl dbkit::BigInt for Position {
    const WHAT: &'static str = "a log position";

    fn to_bigint(self) -> Result<i64, dbkit::OutOfRange> {
        i64::try_from(self.0).map_err(|_| dbkit::OutOfRange {
            what: Self::WHAT,
            value: self.0.to_string(),
        })
    }

    fn from_bigint(value: i64) -> Result<Self, dbkit::OutOfRange> {
        u64::try_from(value)
            .map(Self)
            .map_err(|_| dbkit::OutOfRange {
                what: Self::WHAT,
                value: value.to_string(),
            })
    }
}

/// One stream: the events of one aggregate instance. `stream_type` is the aggregate type
/// (cqrs-es's `Aggregate::TYPE`), `stream_id` the aggregate id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StreamRef {
    pub stream_type: String,
    pub stream_id: String,
}

impl StreamRef {
    pub fn new(stream_type: impl Into<String>, stream_id: impl Into<String>) -> Self {
        Self {
            stream_type: stream_type.into(),
            stream_id: stream_id.into(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        for (what, value) in [
            ("stream type", &self.stream_type),
            ("stream id", &self.stream_id),
        ] {
            if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
                return Err(StoreError::Invalid(format!(
                    "a {what} is 1 to 256 bytes without control characters, not {value:?}"
                )));
            }
        }
        Ok(())
    }
}

impl fmt::Display for StreamRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.stream_type, self.stream_id)
    }
}

/// What the appender believes the stream's version to be. Versions count a stream's events:
/// 0 is a stream without events, the first event has version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// The stream's current version must be exactly this (`Exact(0)` = no events yet).
    Exact(u64),
    /// The stream must have no events yet.
    NoStream,
    /// No check: append after whatever is there. For streams with a single writer only.
    Any,
}

impl ExpectedVersion {
    pub(crate) fn admits(self, current: u64) -> bool {
        match self {
            Self::Exact(v) => v == current,
            Self::NoStream => current == 0,
            Self::Any => true,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(v) => write!(f, "version {v}"),
            Self::NoStream => f.write_str("no stream"),
            Self::Any => f.write_str("any version"),
        }
    }
}

/// Who acted, as recorded with every event. Plain strings: the store does not know the
/// domain's types (the domain's `Actor` maps onto this one to one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActorRecord {
    pub subject: String,
    pub role: String,
    pub region: String,
    /// The organisation a provider acts for; `None` for region roles.
    pub provider_org: Option<String>,
}

/// The keys under which [`EventMetadata`] travels through cqrs-es's
/// `HashMap<String, String>` metadata (`CqrsFramework::execute_with_metadata`).
pub mod metadata_keys {
    pub const COMMAND_ID: &str = "command_id";
    pub const CORRELATION_ID: &str = "correlation_id";
    pub const CAUSATION_ID: &str = "causation_id";
    pub const ACTOR_SUBJECT: &str = "actor_subject";
    pub const ACTOR_ROLE: &str = "actor_role";
    pub const ACTOR_REGION: &str = "actor_region";
    pub const ACTOR_PROVIDER_ORG: &str = "actor_provider_org";

    pub(crate) const ALL: [&str; 7] = [
        COMMAND_ID,
        CORRELATION_ID,
        CAUSATION_ID,
        ACTOR_SUBJECT,
        ACTOR_ROLE,
        ACTOR_REGION,
        ACTOR_PROVIDER_ORG,
    ];
}

/// What is recorded with every event besides its payload. All events of one append share it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// The command that produced the events: the idempotency key of the append.
    pub command_id: Uuid,
    /// The business transaction the command belongs to (a command that starts one uses its
    /// own id).
    pub correlation_id: Uuid,
    /// The event or command that caused this command, when there is one.
    pub causation_id: Option<Uuid>,
    /// Who acted; `None` for the system itself (e.g. a scheduled job without a user).
    pub actor: Option<ActorRecord>,
    /// Any other metadata entries, kept and hashed but not interpreted.
    pub extra: BTreeMap<String, String>,
}

impl EventMetadata {
    /// Metadata for a command that starts its own correlation.
    pub fn new(command_id: Uuid, actor: Option<ActorRecord>) -> Self {
        Self {
            command_id,
            correlation_id: command_id,
            causation_id: None,
            actor,
            extra: BTreeMap::new(),
        }
    }

    /// The cqrs-es form, for `CqrsFramework::execute_with_metadata`.
    pub fn to_map(&self) -> HashMap<String, String> {
        use metadata_keys as k;
        let mut map: HashMap<String, String> = self
            .extra
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        map.insert(k::COMMAND_ID.into(), self.command_id.to_string());
        map.insert(k::CORRELATION_ID.into(), self.correlation_id.to_string());
        if let Some(causation) = self.causation_id {
            map.insert(k::CAUSATION_ID.into(), causation.to_string());
        }
        if let Some(actor) = &self.actor {
            map.insert(k::ACTOR_SUBJECT.into(), actor.subject.clone());
            map.insert(k::ACTOR_ROLE.into(), actor.role.clone());
            map.insert(k::ACTOR_REGION.into(), actor.region.clone());
            if let Some(org) = &actor.provider_org {
                map.insert(k::ACTOR_PROVIDER_ORG.into(), org.clone());
            }
        }
        map
    }

    /// Reads the cqrs-es form. A missing command id is generated (a fresh UUIDv7), so that a
    /// plain `CqrsFramework::execute` still appends, though without idempotency across
    /// retries; a missing correlation id defaults to the command id. Malformed ids, and an
    /// actor with some but not all of subject, role and region, are errors.
    pub fn from_map(map: &HashMap<String, String>) -> Result<Self, StoreError> {
        use metadata_keys as k;
        let uuid = |key: &str| -> Result<Option<Uuid>, StoreError> {
            map.get(key)
                .map(|raw| {
                    Uuid::parse_str(raw).map_err(|e| {
                        StoreError::Invalid(format!("metadata {key} {raw:?} is not a UUID: {e}"))
                    })
                })
                .transpose()
        };
        let command_id = uuid(k::COMMAND_ID)?.unwrap_or_else(Uuid::now_v7);
        let correlation_id = uuid(k::CORRELATION_ID)?.unwrap_or(command_id);
        let causation_id = uuid(k::CAUSATION_ID)?;
        let actor = match (
            map.get(k::ACTOR_SUBJECT),
            map.get(k::ACTOR_ROLE),
            map.get(k::ACTOR_REGION),
        ) {
            (Some(subject), Some(role), Some(region)) => Some(ActorRecord {
                subject: subject.clone(),
                role: role.clone(),
                region: region.clone(),
                provider_org: map.get(k::ACTOR_PROVIDER_ORG).cloned(),
            }),
            (None, None, None) if !map.contains_key(k::ACTOR_PROVIDER_ORG) => None,
            _ => {
                return Err(StoreError::Invalid(
                    "metadata names an actor without all of subject, role and region".into(),
                ));
            }
        };
        let extra = map
            .iter()
            .filter(|(key, _)| !k::ALL.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        Ok(Self {
            command_id,
            correlation_id,
            causation_id,
            actor,
            extra,
        })
    }

    /// The metadata object of the canonical event bytes (see [`crate::canonical`]).
    pub(crate) fn hashed_json(&self) -> Value {
        json!({
            "actor": self.actor.as_ref().map(|a| json!({
                "provider_org": a.provider_org,
                "region": a.region,
                "role": a.role,
                "subject": a.subject,
            })),
            "causation_id": self.causation_id.map(|id| id.hyphenated().to_string()),
            "command_id": self.command_id.hyphenated().to_string(),
            "correlation_id": self.correlation_id.hyphenated().to_string(),
            "extra": self.extra,
        })
    }
}

/// An event to append: its type, the version of its shape, and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_type: String,
    /// The version of the payload's shape, as cqrs-es's `DomainEvent::event_version` gives it.
    pub event_version: String,
    /// JSON whose numbers are all 64-bit integers (see [`crate::canonical`]).
    pub payload: Value,
}

/// The aggregate state to store with an append, covering the stream up to the append's last
/// event. A cache for loading, not part of the audited log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotUpdate {
    /// Counts the snapshots taken of the stream (cqrs-es's `current_snapshot`).
    pub snapshot_number: u64,
    pub payload: Value,
}

/// One append: a command's events for one stream, all or none.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub stream: StreamRef,
    pub expected: ExpectedVersion,
    /// `metadata.command_id` is the idempotency key.
    pub metadata: EventMetadata,
    pub events: Vec<NewEvent>,
    pub snapshot: Option<SnapshotUpdate>,
}

/// What an append did. For an append of no events, the ranges are empty
/// (`first_version == last_version + 1`, likewise for positions) and nothing was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    pub stream: StreamRef,
    pub command_id: Uuid,
    pub first_version: u64,
    pub last_version: u64,
    pub first_position: Position,
    pub last_position: Position,
    pub recorded_at: DateTime<Utc>,
    /// True when the command id had been appended before and this is the original outcome.
    pub replayed: bool,
}

impl AppendOutcome {
    /// How many events the append wrote.
    pub fn len(&self) -> u64 {
        (self.last_version + 1).saturating_sub(self.first_version)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A stored event as read back, in its stored shape unless an upcaster changed it (see
/// [`crate::EventStore::read_all`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub position: Position,
    pub stream: StreamRef,
    pub version: u64,
    pub event_id: Uuid,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: EventMetadata,
    pub recorded_at: DateTime<Utc>,
    pub prev_hash: EventHash,
    pub hash: EventHash,
}

/// The latest snapshot of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSnapshot {
    pub stream: StreamRef,
    /// The stream version the snapshot covers: load the events after it.
    pub version: u64,
    pub snapshot_number: u64,
    pub payload: Value,
    pub recorded_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> EventMetadata {
        EventMetadata {
            command_id: Uuid::now_v7(),
            correlation_id: Uuid::now_v7(),
            causation_id: Some(Uuid::now_v7()),
            actor: Some(ActorRecord {
                subject: "SE2321000032-abc".into(),
                role: "provider".into(),
                region: "dalarna".into(),
                provider_org: Some("5560360793".into()),
            }),
            extra: BTreeMap::from([("request_id".into(), "r-1".into())]),
        }
    }

    #[test]
    fn metadata_survives_the_cqrs_map() {
        let metadata = full();
        assert_eq!(
            EventMetadata::from_map(&metadata.to_map()).unwrap(),
            metadata
        );
        let bare = EventMetadata::new(Uuid::now_v7(), None);
        assert_eq!(EventMetadata::from_map(&bare.to_map()).unwrap(), bare);
    }

    #[test]
    fn a_map_without_ids_gets_a_fresh_command_id_that_is_also_the_correlation() {
        let metadata = EventMetadata::from_map(&HashMap::new()).unwrap();
        assert_eq!(metadata.command_id.get_version_num(), 7);
        assert_eq!(metadata.correlation_id, metadata.command_id);
        assert_eq!(metadata.actor, None);
    }

    #[test]
    fn malformed_ids_and_partial_actors_are_refused() {
        let mut map = HashMap::from([(metadata_keys::COMMAND_ID.to_owned(), "nope".to_owned())]);
        assert!(matches!(
            EventMetadata::from_map(&map),
            Err(StoreError::Invalid(_))
        ));
        map.clear();
        map.insert(metadata_keys::ACTOR_SUBJECT.into(), "someone".into());
        assert!(matches!(
            EventMetadata::from_map(&map),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn expected_versions_admit_what_they_say() {
        assert!(ExpectedVersion::NoStream.admits(0));
        assert!(!ExpectedVersion::NoStream.admits(1));
        assert!(ExpectedVersion::Exact(0).admits(0));
        assert!(ExpectedVersion::Exact(3).admits(3));
        assert!(!ExpectedVersion::Exact(3).admits(4));
        assert!(ExpectedVersion::Any.admits(17));
    }
}
