//! Tamper evidence an outsider can check.
//!
//! The store's per-stream hash chains find a row changed behind its back, but not a log whose
//! owner rewrote a stream's tail and recomputed its hashes, or cut the log short and rewrote
//! the head to match: inside one database there is nothing left to disagree. This crate adds
//! what can disagree from outside: a Merkle tree over the whole log in global order, whose
//! root at a size is *signed* (a checkpoint) and can be published, and proofs that let anyone
//! holding a checkpoint check that an event is in the log (inclusion) and that a later
//! checkpoint extends an earlier one (consistency) — without trusting Anslut's database.
//!
//! Everything follows published standards, so a third party can write its own verifier from
//! this page, RFC 9162 §2.1 and the two C2SP documents named below.
//!
//! # The tree
//!
//! * **Leaves.** Leaf `i` (from 0) is the event at global position `i + 1`. Its data is the
//!   event's 32-byte chain hash as the store computed it (`hash` in the event row and in
//!   exports): `SHA-256(prev_hash || canonical_bytes(event))`, see `store::canonical`. The
//!   chain hash commits to the stored payload (ciphertext, once personal data is encrypted,
//!   so erasing a key leaves every proof valid), the metadata, the position and the stream's
//!   previous hash.
//! * **Hashing** (RFC 6962 §2.1): leaf hash `SHA-256(0x00 || chain hash)`; node hash
//!   `SHA-256(0x01 || left || right)`; the tree of `n > 1` leaves splits after the largest
//!   power of two smaller than `n`; the empty tree's root is `SHA-256("")`.
//! * **Proofs** are RFC 9162 §2.1.3 inclusion proofs (audit paths, nearest the leaf first)
//!   and §2.1.4 consistency proofs, verified by the algorithms of §2.1.3.2 and §2.1.4.2 —
//!   any standard RFC 6962 verifier accepts them.
//!
//! # Checkpoints
//!
//! A checkpoint is a C2SP signed note (c2sp.org/signed-note) whose text is a C2SP checkpoint
//! (c2sp.org/tlog-checkpoint):
//!
//! ```text
//! <origin>\n<tree size in decimal>\n<base64 of the root>\n\n— <origin> <base64(key id || Ed25519 signature of the text)>\n
//! ```
//!
//! The origin (e.g. `anslut.example/dalarna-prod`) is configured per deployment and is also
//! the key name. The key id is `SHA-256(key name || 0x0A || 0x01 || 32-byte public
//! key)[0..4]`. The public key is published in the `vkey` form `<name>+<8 hex digits of the
//! key id>+<base64(0x01 || public key)>`. To check a checkpoint: split at the last blank line,
//! find the signature line with the expected name and key id, verify the Ed25519 signature
//! over the text (up to and including the newline before the blank line), parse the three
//! lines. See [`note`].
//!
//! # Storage
//!
//! In the store's database (PostgreSQL or SQLite, the same SQL on both; migrations in
//! `migrations/`, tracked in `_audit_migrations`): `audit_nodes (level, idx, hash)`, the hash
//! of every complete aligned subtree — leaves `idx·2^level .. (idx+1)·2^level` — including
//! the leaves (level 0); `audit_follower`, how many leaves are in; `audit_checkpoints
//! (tree_size, root_hash, note, created_at)`. Nodes and checkpoints are append-only
//! (triggers). The root of any size `m` and every proof element is a fold of at most 64
//! stored nodes, so a proof costs one indexed read of `O(log n)` rows ([`merkle::Span`]).
//!
//! # Entry points
//!
//! [`Auditor::connect`] and [`Auditor::migrate`]; [`Auditor::run_checkpointer`] (the follower
//! and the interval) or [`Auditor::checkpoint_now`]; [`Auditor::latest_checkpoint`],
//! [`Auditor::inclusion_proof`], [`Auditor::consistency_proof`] for the HTTP endpoints;
//! [`Auditor::verify`]; [`Auditor::export_stream`] and the database-free [`verify_export`].
//!
//! **Architecture invariant:** the audit crate reads the log only through the store's public
//! API, in its stored form (no codec, no upcasters), and never writes to the store's tables.
//! It knows nothing of the domain or of HTTP.

#![forbid(unsafe_code)]

mod auditor;
mod db;
mod error;
mod export;
pub mod merkle;
pub mod note;
mod verify;

pub use auditor::{AuditConfig, Auditor, ConsistencyProof, InclusionProof, checkpoint_due};
pub use error::AuditError;
pub use export::{EXPORT_FORMAT, ExportProblem, ExportReport, ExportSummary, verify_export};
pub use merkle::{NodeId, ProofError, TreeHash};
pub use note::{Checkpoint, CheckpointSigner, NoteError, SignedCheckpoint, VerifierKey};
pub use verify::{AuditProblem, Report};
