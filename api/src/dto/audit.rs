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
    #[schema(example = 60)]
    pub tree_size: u64,
    /// The RFC 6962 root of those events, base64.
    #[schema(example = "M+QPHJ9kfkQZa9f1LX2sRb9DjlA+GK5uB1l2EVkykxA=")]
    pub root: String,
    /// The C2SP signed note, byte for byte as signed.
    #[schema(
        example = "anslut.localhost/development\n60\nM+QPHJ9kfkQZa9f1LX2sRb9DjlA+GK5uB1l2EVkykxA=\n\n— anslut.localhost/development HP+b0Xr9gA7mcQaCJQd218j1DhfJlW4lM73gDEYLsQbw4Sx2iSa2oZJwk/5YUXuoZPxZlse212LgGZwaGfDHUyNf+ww=\n"
    )]
    pub note: String,
    /// When it was signed.
    #[schema(example = "2026-11-23T21:44:12.155265Z")]
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
    #[schema(example = 59)]
    pub position: u64,
    #[schema(example = 58)]
    pub leaf_index: u64,
    /// The size of the tree the proof leads to the root of.
    #[schema(example = 60)]
    pub tree_size: u64,
    #[schema(example = "01a20a5d-b815-73b8-a5ab-b8b524ad71bb")]
    pub event_id: Uuid,
    /// `connection_case` or `security_incident`.
    #[schema(example = "connection_case")]
    pub stream_type: String,
    #[schema(example = "f754c4ee-fac5-595d-a0ea-74f84eedec99")]
    pub stream_id: String,
    /// The event's version in its stream.
    #[schema(example = 2)]
    pub version: u64,
    /// The event's chain hash (the leaf's data), hex: `SHA-256(prev_hash || canonical
    /// bytes of the event)`.
    #[schema(example = "8420b5a10a0bb7afa53891756e526d8128652953470dd5a264380cd11d8a6f8f")]
    pub chain_hash: String,
    /// `SHA-256(0x00 || chain hash)`, base64.
    #[schema(example = "JsCwsYPdGorvpYMTWG8+w0ObrFT6L2NW1sMEogacMD0=")]
    pub leaf_hash: String,
    /// The audit path, nearest the leaf first, base64.
    #[schema(example = json!(["vjqZer4XykqD9RF9Uv6E4/l+dILRxgNo0TmAftmwgzw=", "LAEtEhelkx3NXtMcjENPk3mYrwKrcT9YaqfPwHXKE3s=", "K9MgwyR7NpZsm9u/0nJBWCA9Ga0w4+tmXFfEZY1taOo=", "K7KwEqCnGdG2OozaGIEQKr7gPm2lhwMqJSIeZsUccnQ=", "MX+CFMhTz1JTDNDSRp78Xm8BOqAtP2e7oxPB+gIOnwU="]))]
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
    #[schema(example = 57)]
    pub from: u64,
    #[schema(example = 60)]
    pub to: u64,
    /// The proof's hashes, base64, in the order RFC 9162 §2.1.4.2 consumes them.
    #[schema(example = json!(["NRq0+PX2caNm3U2nSu7uBShQdocw4O2mbfWXQ6+Zg6o=", "9AcimuNVvQVeOquILRUmmS9WsNC6JPK1ks0GMkQSZwg=", "rKNHzHS+3n3HDWMv5j3VtqiN+VhPxNFytSVgm4eLmVQ=", "K9MgwyR7NpZsm9u/0nJBWCA9Ga0w4+tmXFfEZY1taOo=", "K7KwEqCnGdG2OozaGIEQKr7gPm2lhwMqJSIeZsUccnQ=", "MX+CFMhTz1JTDNDSRp78Xm8BOqAtP2e7oxPB+gIOnwU="]))]
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
    #[param(example = 59)]
    pub position: u64,
    /// The tree size to prove inclusion in (at least `position`); the latest checkpoint's
    /// by default.
    #[param(example = 60)]
    pub tree_size: Option<u64>,
}

/// Between which tree sizes.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree size (at least 1).
    #[param(example = 57)]
    pub from: u64,
    /// The newer tree size (at least `from`); the latest checkpoint's by default.
    #[param(example = 60)]
    pub to: Option<u64>,
}
