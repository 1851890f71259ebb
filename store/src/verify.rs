//! Checking the log against its hash chains: [`EventStore::verify`].
//!
//! The append-only triggers stop the application (and anyone who does not own the tables)
//! from changing the log. Whoever can disable them can change rows, and `verify` is how that
//! is found afterwards: it walks every event in position order, a page at a time, and
//! recomputes each stream's chain from the stored rows.
//!
//! What it catches: a changed row (any hashed column: the hash no longer matches), a removed
//! event in the middle (a position gap, or a broken link in its stream), removed events at
//! the end of the log (the head row says more), and a `streams` head that disagrees with the
//! events. What it cannot catch alone: someone who rewrites a whole suffix of the log and
//! recomputes every hash after it; that takes an anchor kept outside the database (published
//! checkpoints of the head hash).

use std::collections::HashMap;
use std::fmt;

use crate::canonical::{self, EventFields, EventHash};
use crate::engine::StoredEvent;
use crate::error::StoreError;
use crate::model::{Position, StreamRef};
use crate::store::{Backend, EventStore, PAGE, dispatch};

/// Which event a problem is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    pub position: Position,
    pub stream: StreamRef,
    pub version: u64,
}

impl fmt::Display for EventRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the event at position {} ({} version {})",
            self.position, self.stream, self.version
        )
    }
}

/// The first thing found wrong with the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Positions are not dense: `missing` is absent and `found` is the next event there is.
    /// An event was removed.
    MissingPosition { missing: Position, found: EventRef },
    /// The stream's versions do not continue: `expected` should have come next.
    VersionGap { event: EventRef, expected: u64 },
    /// The event's `prev_hash` is not the hash of the stream's previous event: an event
    /// before it in the stream was removed or its hash changed.
    BrokenLink { event: EventRef },
    /// The stored hash does not match the event's contents: the row was changed.
    HashMismatch { event: EventRef },
    /// The row cannot be read as an event at all.
    Unreadable { event: EventRef, reason: String },
    /// The log's head says `head`, but the last event is at `last_event`: events at the end
    /// were removed (or the head row was changed).
    HeadMismatch {
        head: Position,
        last_event: Position,
    },
    /// The `streams` table disagrees with the events of a stream (`recorded` is the table's
    /// version, `found` what the events say; `None` where one side has no such stream).
    StreamHeadMismatch {
        stream: StreamRef,
        recorded: Option<u64>,
        found: Option<u64>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingPosition { missing, found } => {
                write!(f, "position {missing} is missing; next is {found}")
            }
            Self::VersionGap { event, expected } => {
                write!(f, "{event} should have version {expected}")
            }
            Self::BrokenLink { event } => {
                write!(f, "{event} does not chain to its stream's previous event")
            }
            Self::HashMismatch { event } => write!(f, "{event} was changed: its hash differs"),
            Self::Unreadable { event, reason } => write!(f, "{event} is unreadable: {reason}"),
            Self::HeadMismatch { head, last_event } => write!(
                f,
                "the log head is {head} but the last event is at position {last_event}"
            ),
            Self::StreamHeadMismatch {
                stream,
                recorded,
                found,
            } => write!(
                f,
                "stream {stream}: the streams table says version {recorded:?}, the events say \
                 {found:?}"
            ),
        }
    }
}

/// The result of [`EventStore::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub events_checked: u64,
    pub streams_checked: u64,
    /// The head position the log's head row claims.
    pub head: Position,
    /// The first problem, in position order; `None` when the log is intact.
    pub problem: Option<Problem>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// The hash an event should have, recomputed from its stored row.
pub(crate) fn recompute_hash(stored: &StoredEvent) -> Result<EventHash, String> {
    let prev = EventHash::from_slice(&stored.prev_hash).ok_or("prev_hash is not 32 bytes")?;
    let metadata = stored.metadata().map_err(|e| e.to_string())?;
    let canonical_metadata =
        canonical::to_canonical_string(&metadata.hashed_json()).map_err(|e| e.to_string())?;
    let payload: serde_json::Value =
        serde_json::from_str(&stored.payload).map_err(|e| format!("payload: {e}"))?;
    let canonical_payload = canonical::to_canonical_string(&payload).map_err(|e| e.to_string())?;
    let bytes = canonical::event_bytes(&EventFields {
        position: stored.position,
        stream_type: &stored.stream.stream_type,
        stream_id: &stored.stream.stream_id,
        version: stored.version,
        event_id: stored.event_id,
        event_type: &stored.event_type,
        event_version: &stored.event_version,
        canonical_metadata: &canonical_metadata,
        canonical_payload: &canonical_payload,
        recorded_at: &stored.recorded_at,
    });
    Ok(EventHash::chain(&prev, &bytes))
}

impl EventStore {
    /// Walks the whole log in position order and reports the first problem (see
    /// [`Problem`]). Reads a page at a time and keeps one entry per stream in memory. Checks
    /// the stored form: the codec and upcasters are not applied.
    ///
    /// Runs concurrently with appends: it checks the log up to the head it finds at the end
    /// of its walk (a head that grew meanwhile is read again).
    pub async fn verify(&self) -> Result<VerifyReport, StoreError> {
        let mut streams: HashMap<StreamRef, (u64, EventHash)> = HashMap::new();
        let mut next = Position(1);
        let mut report = VerifyReport {
            events_checked: 0,
            streams_checked: 0,
            head: Position::START,
            problem: None,
        };
        loop {
            let page = dispatch!(self, engine => engine.read_all_stored(next.0 - 1, PAGE).await)?;
            if page.is_empty() {
                // Appends may have moved the head since the last page: look again until the
                // head and the walk agree or the head row is ahead of the events.
                let head = self.head().await?;
                if head.0 > next.0 - 1 {
                    let again =
                        dispatch!(self, engine => engine.read_all_stored(next.0 - 1, 1).await)?;
                    if !again.is_empty() {
                        continue;
                    }
                }
                report.head = head;
                if head != Position(next.0 - 1) {
                    report.problem = Some(Problem::HeadMismatch {
                        head,
                        last_event: Position(next.0 - 1),
                    });
                    return Ok(report);
                }
                break;
            }
            for stored in page {
                if let Some(problem) = check_event(&stored, next, &mut streams) {
                    report.problem = Some(problem);
                    return Ok(report);
                }
                report.events_checked += 1;
                next = Position(stored.position + 1);
            }
        }
        report.problem = self.check_stream_heads(&mut streams, &mut report).await?;
        Ok(report)
    }

    async fn check_stream_heads(
        &self,
        walked: &mut HashMap<StreamRef, (u64, EventHash)>,
        report: &mut VerifyReport,
    ) -> Result<Option<Problem>, StoreError> {
        let mut after: Option<StreamRef> = None;
        loop {
            let page = dispatch!(self, engine => engine.stream_heads(after.as_ref(), PAGE).await)?;
            let full = page.len() as u64 == PAGE;
            for (stream, version, hash) in page {
                report.streams_checked += 1;
                match walked.remove(&stream) {
                    Some((found, found_hash)) if found == version && found_hash == hash => {}
                    Some((found, _)) => {
                        return Ok(Some(Problem::StreamHeadMismatch {
                            stream,
                            recorded: Some(version),
                            found: Some(found),
                        }));
                    }
                    None => {
                        return Ok(Some(Problem::StreamHeadMismatch {
                            stream,
                            recorded: Some(version),
                            found: None,
                        }));
                    }
                }
                after = Some(stream);
            }
            if !full {
                break;
            }
        }
        let mut missing: Vec<_> = walked.drain().collect();
        missing.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(missing
            .into_iter()
            .next()
            .map(|(stream, (found, _))| Problem::StreamHeadMismatch {
                stream,
                recorded: None,
                found: Some(found),
            }))
    }
}

fn check_event(
    stored: &StoredEvent,
    expected_position: Position,
    streams: &mut HashMap<StreamRef, (u64, EventHash)>,
) -> Option<Problem> {
    let event = EventRef {
        position: Position(stored.position),
        stream: stored.stream.clone(),
        version: stored.version,
    };
    if stored.position != expected_position.0 {
        return Some(Problem::MissingPosition {
            missing: expected_position,
            found: event,
        });
    }
    let (last_version, last_hash) = streams
        .get(&stored.stream)
        .copied()
        .unwrap_or((0, EventHash::ZERO));
    if stored.version != last_version + 1 {
        return Some(Problem::VersionGap {
            event,
            expected: last_version + 1,
        });
    }
    if EventHash::from_slice(&stored.prev_hash) != Some(last_hash) {
        return Some(Problem::BrokenLink { event });
    }
    let Some(stored_hash) = EventHash::from_slice(&stored.hash) else {
        return Some(Problem::Unreadable {
            event,
            reason: "hash is not 32 bytes".into(),
        });
    };
    match recompute_hash(stored) {
        Err(reason) => return Some(Problem::Unreadable { event, reason }),
        Ok(hash) if hash != stored_hash => return Some(Problem::HashMismatch { event }),
        Ok(_) => {}
    }
    streams.insert(stored.stream.clone(), (stored.version, stored_hash));
    None
}
