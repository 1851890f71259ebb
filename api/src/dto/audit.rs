//! What the API shows of the tamper evidence: signed checkpoints and Merkle proofs. Tree
//! hashes (roots, leaf hashes, proof hashes) are base64 of 32 bytes, as in checkpoint notes;
//! an event's chain hash is lowercase hex, as in the store and in exports.

use audit::{ConsistencyProof, InclusionProof, SignedCheckpoint, TreeHash};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::RecordedEvent;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A signed checkpoint: the size and root of the tree over the log, and the signed note
/// that commits to them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckpointView {
    /// The log's origin line, also the signing key's name.
    #[schema(example = "anslut.localhost/development")]
    pub origin: String,
    /// How many events (positions 1 to `tree_size`) the tree covers.
    #[schema(example = 1290)]
    pub tree_size: u64,
    /// The RFC 6962 root of those events, base64.
    #[schema(example = "6Hgw9Xl3ZkyWb0m3qv7nO8ftVRs2yGd5Hq2XUu8YxlA=")]
    pub root: String,
    /// The C2SP signed note, byte for byte as signed.
    #[schema(
        example = "anslut.localhost/development\n1290\n6Hgw9Xl3ZkyWb0m3qv7nO8ftVRs2yGd5Hq2XUu8YxlA=\n\n— anslut.localhost/development mX3Jd0m6oE1gI1d8z6wGHr1mK0c2hC3yB5eC8l0VQ6Vb3c7T0Z1l4qM3x9yQ8rQkP2lH1dU6kR8fG2kWJ1e8gE0y8AQ=\n"
    )]
    pub note: String,
    /// When it was signed.
    #[schema(example = "2026-05-04T13:03:00.000000Z")]
    pub created_at: DateTime<Utc>,
}

impl CheckpointView {
    pub fn of(origin: &str, checkpoint: &SignedCheckpoint) -> Self {
        Self {
            origin: origin.to_owned(),
            tree_size: checkpoint.tree_size,
            root: checkpoint.root.to_base64(),
            note: checkpoint.note.clone(),
            created_at: checkpoint.created_at,
        }
    }
}

fn base64_all(hashes: &[TreeHash]) -> Vec<String> {
    hashes.iter().map(TreeHash::to_base64).collect()
}

/// An RFC 9162 §2.1.3 inclusion proof of one event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InclusionProofView {
    /// The event's global position; its leaf index is `position - 1`.
    #[schema(example = 1287)]
    pub position: u64,
    #[schema(example = 1286)]
    pub leaf_index: u64,
    /// The size of the tree the proof leads to the root of.
    #[schema(example = 1290)]
    pub tree_size: u64,
    #[schema(example = "0196a3c5-1b7e-7d40-8a9c-3f1e2d4c5b6a")]
    pub event_id: Uuid,
    /// `connection_case` or `security_incident`.
    #[schema(example = "connection_case")]
    pub stream_type: String,
    #[schema(example = "0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e")]
    pub stream_id: String,
    /// The event's version in its stream.
    #[schema(example = 4)]
    pub version: u64,
    /// The event's chain hash (the leaf's data), hex: `SHA-256(prev_hash || canonical
    /// bytes of the event)`.
    #[schema(example = "3f0c2a1d9e8b7c6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa9988")]
    pub chain_hash: String,
    /// `SHA-256(0x00 || chain hash)`, base64.
    #[schema(example = "Yq1n3kX0b2k8m5D7zQeJ9fVtR4uL6sW1aH3cE8pN2oM=")]
    pub leaf_hash: String,
    /// The audit path, nearest the leaf first, base64.
    #[schema(example = json!(["0Zc5m4QpS2tW8x1yB3vN6kL9jH7gF5dA0sE2rT4uI6o=", "kJ8h7G6f5E4d3C2b1A0z9Y8x7W6v5U4t3S2r1Q0p9O8="]))]
    pub hashes: Vec<String>,
}

impl InclusionProofView {
    pub fn of(event: &RecordedEvent, proof: &InclusionProof) -> Self {
        Self {
            position: event.position.get(),
            leaf_index: proof.leaf_index,
            tree_size: proof.tree_size,
            event_id: event.event_id,
            stream_type: event.stream.stream_type.clone(),
            stream_id: event.stream.stream_id.clone(),
            version: event.version,
            chain_hash: event.hash.to_hex(),
            leaf_hash: proof.leaf_hash.to_base64(),
            hashes: base64_all(&proof.hashes),
        }
    }
}

/// An RFC 9162 §2.1.4 consistency proof: the tree of `to` events extends the tree of `from`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsistencyProofView {
    #[schema(example = 1200)]
    pub from: u64,
    #[schema(example = 1290)]
    pub to: u64,
    /// The proof's hashes, base64, in the order RFC 9162 §2.1.4.2 consumes them.
    #[schema(example = json!(["0Zc5m4QpS2tW8x1yB3vN6kL9jH7gF5dA0sE2rT4uI6o=", "kJ8h7G6f5E4d3C2b1A0z9Y8x7W6v5U4t3S2r1Q0p9O8="]))]
    pub hashes: Vec<String>,
}

impl From<&ConsistencyProof> for ConsistencyProofView {
    fn from(proof: &ConsistencyProof) -> Self {
        Self {
            from: proof.from,
            to: proof.to,
            hashes: base64_all(&proof.hashes),
        }
    }
}

/// Which event, in which tree.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// The event's global position.
    #[param(example = 1287)]
    pub position: u64,
    /// The tree size to prove inclusion in (at least `position`); the latest checkpoint's
    /// by default.
    #[param(example = 1290)]
    pub tree_size: Option<u64>,
}

/// Between which tree sizes.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree size (at least 1).
    #[param(example = 1200)]
    pub from: u64,
    /// The newer tree size (at least `from`); the latest checkpoint's by default.
    #[param(example = 1290)]
    pub to: Option<u64>,
}
