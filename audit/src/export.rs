//! Case exports an outsider can check with no database: [`Auditor::export_stream`] and
//! [`verify_export`].
//!
//! An export is JSON Lines (UTF-8, one JSON object per line, `\n` after each):
//!
//! 1. A header:
//!    `{"format": "anslut-audit-export/1", "origin": …, "stream_type": …, "stream_id": …,
//!    "events": <number of event lines>, "checkpoint": <the signed checkpoint note>,
//!    "verifier_key": <the vkey of the signing key>}`.
//!    The verifier key is informational: a verifier must use a key it obtained elsewhere
//!    (the well-known endpoint, a published document), or the file proves nothing.
//! 2. One line per event of the stream, in version order:
//!    `{"position", "stream_type", "stream_id", "version", "event_id", "event_type",
//!    "event_version", "payload", "metadata": {"command_id", "correlation_id",
//!    "causation_id", "actor": null | {"subject", "role", "region", "provider_org"},
//!    "extra"}, "recorded_at", "prev_hash", "hash", "inclusion_proof"}`, with the payload
//!    exactly as stored (and hashed), `recorded_at` in the canonical form (RFC 3339, UTC, six
//!    fraction digits, `Z`), `prev_hash` and `hash` in lowercase hex, and `inclusion_proof`
//!    the audit path (base64 hashes, nearest the leaf first) of leaf `position - 1` in the
//!    tree of the checkpoint's size.
//!
//! Checking it ([`verify_export`]): open the checkpoint note with the trusted key; then for
//! every event line recompute the chain hash from the fields (the store's canonical bytes,
//! `store::canonical`), check it equals `hash`, that `prev_hash` is the previous line's `hash`
//! (32 zero bytes for version 1) and versions count up from 1, and that the inclusion proof
//! of `SHA-256(0x00 || hash)` at index `position - 1` leads to the signed root.
//!
//! What an export proves: every event in it is in the log exactly as shown, at its position,
//! and the stream's events up to the last one shown are all there. It cannot prove that no
//! event of the stream came after the last line (the tree is ordered by position, not by
//! stream); compare with a later export, or ask the log for an inclusion proof of the next
//! version.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, Write};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use store::canonical::{self, EventFields, EventHash};
use store::{ActorRecord, EventMetadata, EventRef, Position, RecordedEvent, StreamRef};
use uuid::Uuid;

use crate::auditor::Auditor;
use crate::error::AuditError;
use crate::merkle::{TreeHash, leaf_hash, verify_inclusion};
use crate::note::{SignedCheckpoint, VerifierKey};

/// The `format` of the header line.
pub const EXPORT_FORMAT: &str = "anslut-audit-export/1";

/// Events read from the stream per page.
const PAGE: u64 = 1000;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    origin: String,
    stream_type: String,
    stream_id: String,
    events: u64,
    checkpoint: String,
    verifier_key: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActorLine {
    subject: String,
    role: String,
    region: String,
    provider_org: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetadataLine {
    command_id: Uuid,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    actor: Option<ActorLine>,
    extra: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventLine {
    position: u64,
    stream_type: String,
    stream_id: String,
    version: u64,
    event_id: Uuid,
    event_type: String,
    event_version: String,
    payload: Value,
    metadata: MetadataLine,
    recorded_at: String,
    prev_hash: String,
    hash: String,
    inclusion_proof: Vec<String>,
}

impl EventLine {
    fn new(event: &RecordedEvent, proof: &[TreeHash]) -> Self {
        let metadata = &event.metadata;
        Self {
            position: event.position.0,
            stream_type: event.stream.stream_type.clone(),
            stream_id: event.stream.stream_id.clone(),
            version: event.version,
            event_id: event.event_id,
            event_type: event.event_type.clone(),
            event_version: event.event_version.clone(),
            payload: event.payload.clone(),
            metadata: MetadataLine {
                command_id: metadata.command_id,
                correlation_id: metadata.correlation_id,
                causation_id: metadata.causation_id,
                actor: metadata.actor.as_ref().map(|actor| ActorLine {
                    subject: actor.subject.clone(),
                    role: actor.role.clone(),
                    region: actor.region.clone(),
                    provider_org: actor.provider_org.clone(),
                }),
                extra: metadata.extra.clone(),
            },
            recorded_at: canonical::format_recorded_at(&event.recorded_at),
            prev_hash: event.prev_hash.to_hex(),
            hash: event.hash.to_hex(),
            inclusion_proof: proof.iter().map(TreeHash::to_base64).collect(),
        }
    }

    fn event_ref(&self) -> EventRef {
        EventRef {
            position: Position(self.position),
            stream: StreamRef::new(self.stream_type.clone(), self.stream_id.clone()),
            version: self.version,
        }
    }

    fn metadata(&self) -> EventMetadata {
        let m = &self.metadata;
        EventMetadata {
            command_id: m.command_id,
            correlation_id: m.correlation_id,
            causation_id: m.causation_id,
            actor: m.actor.as_ref().map(|a| ActorRecord {
                subject: a.subject.clone(),
                role: a.role.clone(),
                region: a.region.clone(),
                provider_org: a.provider_org.clone(),
            }),
            extra: m.extra.clone(),
        }
    }

    /// The chain hash the line's fields give, from `prev`: `SHA-256(prev ||
    /// canonical_bytes(event))` with the store's canonical encoding.
    fn chain_hash(&self, prev: &EventHash) -> Result<EventHash, String> {
        let canonical_metadata = canonical::to_canonical_string(&hashed_metadata(&self.metadata()))
            .map_err(|e| e.to_string())?;
        let canonical_payload =
            canonical::to_canonical_string(&self.payload).map_err(|e| e.to_string())?;
        let recorded_at: DateTime<Utc> = DateTime::parse_from_rfc3339(&self.recorded_at)
            .map_err(|e| format!("recorded_at: {e}"))?
            .with_timezone(&Utc);
        let bytes = canonical::event_bytes(&EventFields {
            position: self.position,
            stream_type: &self.stream_type,
            stream_id: &self.stream_id,
            version: self.version,
            event_id: self.event_id,
            event_type: &self.event_type,
            event_version: &self.event_version,
            canonical_metadata: &canonical_metadata,
            canonical_payload: &canonical_payload,
            recorded_at: &recorded_at,
        });
        Ok(EventHash::chain(prev, &bytes))
    }
}

/// The metadata object inside an event's canonical bytes, as `store::canonical` documents
/// it. (The store builds the same object in `EventMetadata::hashed_json`, which is not
/// public; every export test checks that the two agree on real events.)
fn hashed_metadata(metadata: &EventMetadata) -> Value {
    json!({
        "actor": metadata.actor.as_ref().map(|a| json!({
            "provider_org": a.provider_org,
            "region": a.region,
            "role": a.role,
            "subject": a.subject,
        })),
        "causation_id": metadata.causation_id.map(|id| id.hyphenated().to_string()),
        "command_id": metadata.command_id.hyphenated().to_string(),
        "correlation_id": metadata.correlation_id.hyphenated().to_string(),
        "extra": metadata.extra,
    })
}

fn parse_hash(hex_text: &str) -> Option<EventHash> {
    hex::decode(hex_text)
        .ok()
        .and_then(|bytes| EventHash::from_slice(&bytes))
}

/// What [`Auditor::export_stream`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub stream: StreamRef,
    pub events: u64,
    /// The checkpoint the proofs lead to.
    pub checkpoint: SignedCheckpoint,
}

impl Auditor {
    /// Writes the stream's history as JSON Lines with an inclusion proof per event (see the
    /// module docs). Uses the latest checkpoint when it covers the stream's last event, and
    /// otherwise brings the tree up to date and signs a fresh one first, so every event can
    /// be proven. Events appended to the stream meanwhile are left out.
    #[tracing::instrument(skip(self, out), fields(stream = %stream))]
    pub async fn export_stream(
        &self,
        stream: &StreamRef,
        mut out: impl Write + Send,
    ) -> Result<ExportSummary, AuditError> {
        let mut events = Vec::new();
        loop {
            let after = events.last().map_or(0, |e: &RecordedEvent| e.version);
            let page = self.inner.log.read_stream(stream, after, PAGE).await?;
            let full = page.len() as u64 == PAGE;
            events.extend(page);
            if !full {
                break;
            }
        }
        let last = events
            .last()
            .ok_or_else(|| AuditError::NoSuchStream(stream.clone()))?
            .position;
        let checkpoint = match self.latest_checkpoint().await? {
            Some(latest) if latest.tree_size >= last.0 => latest,
            _ => self
                .checkpoint_now()
                .await?
                .filter(|c| c.tree_size >= last.0)
                .ok_or_else(|| {
                    AuditError::OutOfRange(format!("no checkpoint covers position {last}"))
                })?,
        };
        let header = Header {
            format: EXPORT_FORMAT.to_owned(),
            origin: self.origin().to_owned(),
            stream_type: stream.stream_type.clone(),
            stream_id: stream.stream_id.clone(),
            events: events.len() as u64,
            checkpoint: checkpoint.note.clone(),
            verifier_key: self.verifier_key().to_string(),
        };
        write_line(&mut out, &header)?;
        for event in &events {
            let proof = self
                .inclusion_proof(event.position, checkpoint.tree_size)
                .await?;
            write_line(&mut out, &EventLine::new(event, &proof.hashes))?;
        }
        out.flush()?;
        Ok(ExportSummary {
            stream: stream.clone(),
            events: events.len() as u64,
            checkpoint,
        })
    }
}

fn write_line(out: &mut impl Write, value: &impl Serialize) -> Result<(), AuditError> {
    serde_json::to_writer(&mut *out, value)
        .map_err(|e| AuditError::Io(std::sync::Arc::new(std::io::Error::other(e))))?;
    out.write_all(b"\n")?;
    Ok(())
}

/// What is wrong with an export; `line` counts from 1 (the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportProblem {
    /// The line is not what the format says.
    Malformed { line: u64, reason: String },
    /// The checkpoint does not verify with the given key (a wrong key, or an altered note).
    BadCheckpoint { reason: String },
    /// The event belongs to another stream than the header names.
    WrongStream { line: u64, event: EventRef },
    /// Versions do not count up from 1.
    VersionGap {
        line: u64,
        event: EventRef,
        expected: u64,
    },
    /// `prev_hash` is not the previous event's hash.
    BrokenLink { line: u64, event: EventRef },
    /// The fields do not hash to `hash`: the line was altered.
    HashMismatch { line: u64, event: EventRef },
    /// The event's position is past the checkpoint.
    BeyondCheckpoint {
        line: u64,
        event: EventRef,
        tree_size: u64,
    },
    /// The inclusion proof does not lead to the signed root.
    NotIncluded {
        line: u64,
        event: EventRef,
        reason: String,
    },
    /// The header announces another number of events than the file has.
    CountMismatch { announced: u64, found: u64 },
}

impl fmt::Display for ExportProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { line, reason } => write!(f, "line {line}: {reason}"),
            Self::BadCheckpoint { reason } => write!(f, "the checkpoint: {reason}"),
            Self::WrongStream { line, event } => {
                write!(f, "line {line}: {event} belongs to another stream")
            }
            Self::VersionGap {
                line,
                event,
                expected,
            } => write!(f, "line {line}: {event} should have version {expected}"),
            Self::BrokenLink { line, event } => write!(
                f,
                "line {line}: {event} does not chain to the previous event"
            ),
            Self::HashMismatch { line, event } => {
                write!(f, "line {line}: {event} was altered: its hash differs")
            }
            Self::BeyondCheckpoint {
                line,
                event,
                tree_size,
            } => write!(
                f,
                "line {line}: {event} is past the checkpoint's {tree_size} events"
            ),
            Self::NotIncluded {
                line,
                event,
                reason,
            } => write!(f, "line {line}: {event} is not proven in the log: {reason}"),
            Self::CountMismatch { announced, found } => write!(
                f,
                "the header announces {announced} events, the file has {found}"
            ),
        }
    }
}

/// The result of [`verify_export`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    pub origin: Option<String>,
    pub stream: Option<StreamRef>,
    /// The size and root of the signed checkpoint, once it verified.
    pub tree_size: Option<u64>,
    pub root: Option<TreeHash>,
    pub events_checked: u64,
    /// The first problem; `None` when the export checks out.
    pub problem: Option<ExportProblem>,
}

impl ExportReport {
    pub fn is_valid(&self) -> bool {
        self.problem.is_none()
    }
}

/// Checks an export with nothing but the file and the log's verifier key: the checkpoint's
/// signature, every event's chain hash and link, and every inclusion proof. Stops at the
/// first problem. Fails only when the reader fails.
pub fn verify_export(reader: impl BufRead, key: &VerifierKey) -> std::io::Result<ExportReport> {
    let mut report = ExportReport {
        origin: None,
        stream: None,
        tree_size: None,
        root: None,
        events_checked: 0,
        problem: None,
    };
    let mut lines = reader.lines();
    let Some(first) = lines.next().transpose()? else {
        report.problem = Some(ExportProblem::Malformed {
            line: 1,
            reason: "the file is empty".into(),
        });
        return Ok(report);
    };
    let header: Header = match serde_json::from_str(&first) {
        Ok(header) => header,
        Err(e) => {
            report.problem = Some(ExportProblem::Malformed {
                line: 1,
                reason: format!("not an export header: {e}"),
            });
            return Ok(report);
        }
    };
    if header.format != EXPORT_FORMAT {
        report.problem = Some(ExportProblem::Malformed {
            line: 1,
            reason: format!("unknown format {:?}", header.format),
        });
        return Ok(report);
    }
    let stream = StreamRef::new(header.stream_type, header.stream_id);
    report.stream = Some(stream.clone());
    report.origin = Some(header.origin.clone());
    let checkpoint = match key.open_checkpoint(&header.checkpoint) {
        Ok(checkpoint) if checkpoint.origin == header.origin => checkpoint,
        Ok(checkpoint) => {
            report.problem = Some(ExportProblem::BadCheckpoint {
                reason: format!(
                    "the header says origin {:?}, the checkpoint {:?}",
                    header.origin, checkpoint.origin
                ),
            });
            return Ok(report);
        }
        Err(e) => {
            report.problem = Some(ExportProblem::BadCheckpoint {
                reason: e.to_string(),
            });
            return Ok(report);
        }
    };
    report.tree_size = Some(checkpoint.tree_size);
    report.root = Some(checkpoint.root);

    let mut previous = (0u64, EventHash::ZERO);
    let mut number = 1u64;
    for text in lines {
        let text = text?;
        number += 1;
        let line: EventLine = match serde_json::from_str(&text) {
            Ok(line) => line,
            Err(e) => {
                report.problem = Some(ExportProblem::Malformed {
                    line: number,
                    reason: format!("not an event line: {e}"),
                });
                return Ok(report);
            }
        };
        let signed = (checkpoint.tree_size, checkpoint.root);
        if let Some(problem) = check_line(&line, number, &stream, previous, signed) {
            report.problem = Some(problem);
            return Ok(report);
        }
        previous = (
            line.version,
            parse_hash(&line.hash).expect("checked by check_line"),
        );
        report.events_checked += 1;
    }
    if report.events_checked != header.events {
        report.problem = Some(ExportProblem::CountMismatch {
            announced: header.events,
            found: report.events_checked,
        });
    }
    Ok(report)
}

/// Checks one event line after the event of `previous = (version, hash)`.
fn check_line(
    line: &EventLine,
    number: u64,
    stream: &StreamRef,
    (previous_version, previous_hash): (u64, EventHash),
    (tree_size, root): (u64, TreeHash),
) -> Option<ExportProblem> {
    let event = line.event_ref();
    if event.stream != *stream {
        return Some(ExportProblem::WrongStream {
            line: number,
            event,
        });
    }
    if line.version != previous_version + 1 {
        return Some(ExportProblem::VersionGap {
            line: number,
            event,
            expected: previous_version + 1,
        });
    }
    let malformed = |reason: String| ExportProblem::Malformed {
        line: number,
        reason,
    };
    let (Some(prev_hash), Some(hash)) = (parse_hash(&line.prev_hash), parse_hash(&line.hash))
    else {
        return Some(malformed("prev_hash and hash must be 64 hex digits".into()));
    };
    if prev_hash != previous_hash {
        return Some(ExportProblem::BrokenLink {
            line: number,
            event,
        });
    }
    match line.chain_hash(&prev_hash) {
        Err(reason) => return Some(malformed(reason)),
        Ok(recomputed) if recomputed != hash => {
            return Some(ExportProblem::HashMismatch {
                line: number,
                event,
            });
        }
        Ok(_) => {}
    }
    if line.position == 0 || line.position > tree_size {
        return Some(ExportProblem::BeyondCheckpoint {
            line: number,
            event,
            tree_size,
        });
    }
    let proof: Option<Vec<TreeHash>> = line
        .inclusion_proof
        .iter()
        .map(|text| TreeHash::from_base64(text))
        .collect();
    let Some(proof) = proof else {
        return Some(malformed(
            "inclusion_proof must be base64 hashes of 32 bytes".into(),
        ));
    };
    verify_inclusion(
        line.position - 1,
        tree_size,
        &leaf_hash(&hash.0),
        &proof,
        &root,
    )
    .err()
    .map(|e| ExportProblem::NotIncluded {
        line: number,
        event,
        reason: e.to_string(),
    })
}
