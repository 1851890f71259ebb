//! [`Auditor`]: the tree follower, the checkpointer, and proofs.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use dbkit::follower::{self, Follower, Lane, Recovery, Signal, Step, Timing};
use store::{EventStore, Position, StoreOptions};

use crate::db::dispatch;
use crate::error::AuditError;
use crate::merkle::{
    self, Frontier, NodeId, ProofError, Span, TreeHash, consistency_spans, fold, inclusion_spans,
    leaf_hash,
};
use crate::note::{CheckpointSigner, SignedCheckpoint, VerifierKey};

/// How the auditor runs. `Default` gives production-sane values.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The least time between two signed checkpoints. A checkpoint is taken when the log has
    /// grown and at least this long has passed since the last one.
    pub checkpoint_interval: Duration,
    /// How often the checkpointer loop adds new events to the tree.
    pub poll_interval: Duration,
    /// The most events the follower adds in one transaction.
    pub batch: u64,
    /// How long to wait for a database connection (and, on SQLite, for its write lock).
    pub acquire_timeout: Duration,
    /// The most connections each of the auditor's two pools (the log it reads, its tree
    /// tables) opens on PostgreSQL.
    pub max_connections: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_interval: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            batch: 10_000,
            acquire_timeout: Duration::from_secs(5),
            max_connections: 4,
        }
    }
}

/// An inclusion proof (RFC 9162 §2.1.3): the audit path of one leaf in the tree of
/// `tree_size` leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// `position - 1`.
    pub leaf_index: u64,
    pub tree_size: u64,
    /// `SHA-256(0x00 || the event's chain hash)`.
    pub leaf_hash: TreeHash,
    /// Nearest the leaf first.
    pub hashes: Vec<TreeHash>,
}

impl InclusionProof {
    /// Checks the proof against a root of `tree_size` leaves (RFC 9162 §2.1.3.2).
    pub fn verify(&self, root: &TreeHash) -> Result<(), ProofError> {
        merkle::verify_inclusion(
            self.leaf_index,
            self.tree_size,
            &self.leaf_hash,
            &self.hashes,
            root,
        )
    }
}

/// A consistency proof (RFC 9162 §2.1.4) between the trees of `from` and `to` leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub hashes: Vec<TreeHash>,
}

impl ConsistencyProof {
    /// Checks the proof against the two roots (RFC 9162 §2.1.4.2).
    pub fn verify(&self, from_root: &TreeHash, to_root: &TreeHash) -> Result<(), ProofError> {
        merkle::verify_consistency(self.from, self.to, from_root, to_root, &self.hashes)
    }
}

pub(crate) struct Inner {
    /// The audit tables' pools (the SQL in `db.rs`, migrations through `dbkit`).
    pub db: dbkit::Db,
    /// The log as stored: no payload codec, no upcasters. The tree and the exports are about
    /// the stored (hashed) form, never about decoded payloads.
    pub log: EventStore,
    pub signer: CheckpointSigner,
    pub config: AuditConfig,
}

/// The tamper-evidence service over one store's database. Cheap to clone.
#[derive(Clone)]
pub struct Auditor {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("log", &self.inner.log)
            .field("signer", &self.inner.signer)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Whether the checkpointer should sign now: the tree has leaves no checkpoint covers, and
/// the last checkpoint (if any) is at least `interval` old.
pub fn checkpoint_due(
    latest: Option<&SignedCheckpoint>,
    covered: u64,
    now: DateTime<Utc>,
    interval: Duration,
) -> bool {
    match latest {
        None => covered > 0,
        Some(latest) => {
            covered > latest.tree_size
                && (now - latest.created_at)
                    .to_std()
                    .is_ok_and(|elapsed| elapsed >= interval)
        }
    }
}

impl Auditor {
    /// Connects to the store's database (the URL forms `EventStore::connect` takes), with
    /// pools of its own. The store's tables must exist (migrate the store first); call
    /// [`Auditor::migrate`] for the audit tables.
    ///
    /// The auditor reads the log through an `EventStore` of its own with the default
    /// options, whatever codec and upcasters the application's store has: the tree commits
    /// to the stored form, and an export must carry the payload as hashed (ciphertext, once
    /// personal data is encrypted), not as decoded.
    pub async fn connect(
        database_url: &str,
        signer: CheckpointSigner,
        config: AuditConfig,
    ) -> Result<Self, AuditError> {
        let log = EventStore::connect(
            database_url,
            StoreOptions {
                max_connections: config.max_connections,
                sqlite_readers: 2,
                acquire_timeout: config.acquire_timeout,
                ..StoreOptions::default()
            },
        )
        .await?;
        let db = crate::db::connect(database_url, config.acquire_timeout, config.max_connections)
            .await?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                log,
                signer,
                config,
            }),
        })
    }

    /// Creates or updates the audit tables (embedded migrations, tracked apart from the
    /// store's; running them again is a no-op).
    pub async fn migrate(&self) -> Result<(), AuditError> {
        crate::db::migrate(&self.inner.db).await
    }

    /// The key that verifies this auditor's checkpoints, for the well-known endpoint.
    pub fn verifier_key(&self) -> &VerifierKey {
        self.inner.signer.verifier_key()
    }

    /// The checkpoints' origin line (and key name).
    pub fn origin(&self) -> &str {
        self.inner.signer.origin()
    }

    pub fn config(&self) -> &AuditConfig {
        &self.inner.config
    }

    /// How many leaves (events `1..=n`) the tree holds.
    pub async fn tree_size(&self) -> Result<u64, AuditError> {
        dispatch!(&self.inner.db, tables => tables.covered().await)
    }

    /// Adds every event in the log to the tree, a batch per transaction. Returns the tree's
    /// size. Safe to run in several processes at once: each batch is appended under the
    /// follower row's lock, and a follower that was overtaken simply reads on.
    #[tracing::instrument(skip(self))]
    pub async fn follow(&self) -> Result<u64, AuditError> {
        while self.follow_batch().await?.is_some() {}
        self.tree_size().await
    }

    /// Adds up to one batch of events; `None` when the tree already holds the whole log.
    async fn follow_batch(&self) -> Result<Option<u64>, AuditError> {
        let db = &self.inner.db;
        let from = self.tree_size().await?;
        let events = self
            .inner
            .log
            .read_all(Position(from), self.inner.config.batch.max(1))
            .await?;
        if events.is_empty() {
            return Ok(None);
        }
        let mut frontier = self.frontier(from).await?;
        let mut created = Vec::with_capacity(events.len() * 2);
        for event in &events {
            let expected = frontier.size() + 1;
            if event.position.0 != expected {
                return Err(AuditError::Corrupt(format!(
                    "the log has no event at position {expected} (the next is at {}); run \
                     verify",
                    event.position
                )));
            }
            frontier.push(leaf_hash(&event.hash.0), |id, hash| {
                created.push((id, hash));
            });
        }
        let to = frontier.size();
        let appended = dispatch!(db, tables => tables.append(from, to, &created).await)?;
        if appended {
            tracing::debug!(from, to, nodes = created.len(), "tree grew");
        }
        Ok(Some(if appended { to - from } else { 0 }))
    }

    /// The tree's right edge at `size` leaves, from the stored nodes.
    async fn frontier(&self, size: u64) -> Result<Frontier, AuditError> {
        let ids = Span::tree(size).nodes();
        let nodes = dispatch!(&self.inner.db, tables => tables.nodes(&ids).await)?;
        let hashes: Vec<TreeHash> = ids.iter().map(|id| nodes[id]).collect();
        Frontier::from_hashes(size, &hashes)
            .ok_or_else(|| AuditError::Corrupt(format!("the frontier of {size} leaves")))
    }

    /// Brings the tree up to the head of the log and signs a checkpoint over it, unless the
    /// latest checkpoint already covers the whole tree (then that one is returned). `None`
    /// only while the log is empty.
    #[tracing::instrument(skip(self))]
    pub async fn checkpoint_now(&self) -> Result<Option<SignedCheckpoint>, AuditError> {
        self.follow().await?;
        self.sign(Utc::now()).await
    }

    async fn sign(&self, now: DateTime<Utc>) -> Result<Option<SignedCheckpoint>, AuditError> {
        let now = now.trunc_subsecs(6);
        let signed =
            dispatch!(&self.inner.db, tables => tables.sign(&self.inner.signer, now).await)?;
        if let Some(checkpoint) = &signed {
            tracing::info!(tree_size = checkpoint.tree_size, root = %checkpoint.root, "checkpoint");
        }
        Ok(signed)
    }

    /// One round of the checkpointer at time `now`: adds new events to the tree, then signs
    /// a checkpoint if one is due ([`checkpoint_due`]). Returns the new checkpoint, if any.
    /// Taking the time as an argument lets tests drive the interval with their own clock.
    pub async fn checkpoint_if_due(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<SignedCheckpoint>, AuditError> {
        let covered = self.follow().await?;
        let latest = self.latest_checkpoint().await?;
        if checkpoint_due(
            latest.as_ref(),
            covered,
            now,
            self.inner.config.checkpoint_interval,
        ) {
            self.sign(now).await
        } else {
            Ok(None)
        }
    }

    /// The checkpointer: every `poll_interval`, adds new events to the tree and signs a
    /// checkpoint when one is due, as a follower of `dbkit::follower` (no leadership: rounds
    /// in several processes are safe, each batch is appended under the follower row's lock).
    /// Errors are logged and retried on the next round; returns when `shutdown` completes,
    /// after the round in progress.
    pub async fn run_checkpointer(&self, shutdown: impl Future<Output = ()>) {
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let interval = self.inner.config.poll_interval;
        let rounds = follower::run(
            Checkpointer(self.clone()),
            self.inner.db.clone(),
            None,
            Timing {
                poll_interval: interval,
                leader_retry: interval,
                error_backoff: interval,
            },
            // Rounds are timed: no wake-ups (the signal is dropped at once, which `pause`
            // takes as none), the interval is the checkpointer's rhythm.
            Signal::default().subscribe(),
            stopping,
        );
        tokio::pin!(rounds, shutdown);
        tokio::select! {
            () = &mut rounds => return,
            () = &mut shutdown => {}
        }
        let _ = stop.send(true);
        rounds.await;
    }

    /// The newest signed checkpoint.
    pub async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, AuditError> {
        dispatch!(&self.inner.db, tables => tables.latest_checkpoint().await)
    }

    /// The checkpoint of exactly `tree_size` leaves, if one was signed.
    pub async fn checkpoint(&self, tree_size: u64) -> Result<Option<SignedCheckpoint>, AuditError> {
        dispatch!(&self.inner.db, tables => tables.checkpoint(tree_size).await)
    }

    async fn covered_at_least(&self, tree_size: u64) -> Result<(), AuditError> {
        let covered = self.tree_size().await?;
        if tree_size > covered {
            return Err(AuditError::OutOfRange(format!(
                "the tree has {covered} leaves, not {tree_size}"
            )));
        }
        Ok(())
    }

    /// The hashes of `spans`, from one read of the nodes they need.
    async fn span_hashes(&self, spans: &[Span]) -> Result<Vec<TreeHash>, AuditError> {
        let plans: Vec<Vec<NodeId>> = spans.iter().map(|span| span.nodes()).collect();
        let mut ids: Vec<NodeId> = plans.iter().flatten().copied().collect();
        ids.sort_unstable();
        ids.dedup();
        let nodes = dispatch!(&self.inner.db, tables => tables.nodes(&ids).await)?;
        Ok(plans
            .iter()
            .map(|plan| fold(&plan.iter().map(|id| nodes[id]).collect::<Vec<_>>()))
            .collect())
    }

    /// The root of the tree of `tree_size` leaves (any size the tree covers, signed or not).
    pub async fn root(&self, tree_size: u64) -> Result<TreeHash, AuditError> {
        self.covered_at_least(tree_size).await?;
        Ok(self.span_hashes(&[Span::tree(tree_size)]).await?[0])
    }

    /// The inclusion proof of the event at `position` in the tree of `tree_size` leaves.
    /// Costs one indexed read of at most about 2·log2(tree_size) nodes.
    #[tracing::instrument(skip(self))]
    pub async fn inclusion_proof(
        &self,
        position: Position,
        tree_size: u64,
    ) -> Result<InclusionProof, AuditError> {
        if position.0 == 0 || position.0 > tree_size {
            return Err(AuditError::OutOfRange(format!(
                "position {position} is not in a tree of {tree_size} leaves"
            )));
        }
        self.covered_at_least(tree_size).await?;
        let index = position.0 - 1;
        let mut spans = inclusion_spans(index, tree_size);
        spans.push(Span::new(index, index + 1));
        let mut hashes = self.span_hashes(&spans).await?;
        let leaf_hash = hashes.pop().expect("the leaf's own span");
        Ok(InclusionProof {
            leaf_index: index,
            tree_size,
            leaf_hash,
            hashes,
        })
    }

    /// The consistency proof from the tree of `from` leaves to the tree of `to` leaves
    /// (`1 <= from <= to`).
    #[tracing::instrument(skip(self))]
    pub async fn consistency_proof(
        &self,
        from: u64,
        to: u64,
    ) -> Result<ConsistencyProof, AuditError> {
        if from == 0 || from > to {
            return Err(AuditError::OutOfRange(format!(
                "no consistency proof from {from} to {to} leaves"
            )));
        }
        self.covered_at_least(to).await?;
        let hashes = self.span_hashes(&consistency_spans(from, to)).await?;
        Ok(ConsistencyProof { from, to, hashes })
    }
}

/// The checkpointer's own part of the follower runtime: one round per step.
struct Checkpointer(Auditor);

impl Follower for Checkpointer {
    type Error = AuditError;

    fn name(&self) -> String {
        "audit checkpointer".into()
    }

    fn led(&mut self, _: bool) {}

    fn lead_failed(&mut self, _: dbkit::DbError) {}

    async fn step(&mut self, _: Lane<'_>) -> Result<Step, AuditError> {
        self.0.checkpoint_if_due(Utc::now()).await?;
        Ok(Step::Idle)
    }

    async fn failed(&mut self, error: AuditError) -> Recovery {
        tracing::warn!(code = error.code(), %error, "audit checkpointer round failed");
        Recovery::Backoff
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn checkpoint(tree_size: u64, created_at: DateTime<Utc>) -> SignedCheckpoint {
        SignedCheckpoint {
            tree_size,
            root: merkle::empty_root(),
            note: String::new(),
            created_at,
        }
    }

    #[test]
    fn a_checkpoint_is_due_when_the_log_grew_and_the_interval_passed() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap();
        let minute = Duration::from_secs(60);
        let later = |secs| t0 + chrono::Duration::seconds(secs);
        assert!(!checkpoint_due(None, 0, t0, minute), "nothing to sign");
        assert!(checkpoint_due(None, 1, t0, minute), "the first one at once");
        let latest = checkpoint(10, t0);
        assert!(
            !checkpoint_due(Some(&latest), 10, later(3600), minute),
            "no growth"
        );
        assert!(
            !checkpoint_due(Some(&latest), 11, later(59), minute),
            "too soon"
        );
        assert!(checkpoint_due(Some(&latest), 11, later(60), minute));
        assert!(
            !checkpoint_due(Some(&latest), 11, later(-5), minute),
            "clock went back"
        );
    }
}
