//! [`Auditor::verify`]: the per-stream chains, the stored tree and the signed checkpoints,
//! checked against each other.
//!
//! The store's own `verify` recomputes every event's chain hash from its row, so it finds a
//! row changed behind the store's back (the hash no longer matches) and a removed event (a
//! gap). It cannot find a rewrite that recomputes the hashes of a stream's tail, nor a log
//! cut short with its head row rewritten to match: the database alone has nothing left to
//! disagree. Signed checkpoints are what is left: they fix the root of the whole log at a
//! size, and nobody without the key can sign another. So this walk recomputes the tree from
//! the events' hashes, in position order, and compares
//!
//! * every leaf with the stored leaf hash — a mismatch names the event whose hash changed;
//! * every stored node with its recomputation, and the number of stored nodes;
//! * every checkpoint's signature, and its root with the root recomputed at its size;
//! * the log's length with the largest checkpoint and with the tree: a checkpoint larger
//!   than the log means events were removed from the end.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use store::{EventRef, Position, Problem, VerifyReport};

use crate::auditor::Auditor;
use crate::db::{LevelRange, dispatch};
use crate::error::AuditError;
use crate::merkle::{Frontier, NodeId, TreeHash, leaf_hash};
use crate::note::SignedCheckpoint;

/// Events read per page of the walk.
const PAGE: u64 = 2000;

/// Something found wrong. Each check reports at most its first finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditProblem {
    /// The store's check of the per-stream chains found this (a changed row, a removed event,
    /// a head that disagrees with the events).
    Chain(Problem),
    /// A checkpoint row whose note does not verify with the auditor's key, or says something
    /// else than the row. It is ignored for the other checks.
    BadCheckpoint { tree_size: u64, reason: String },
    /// The event's chain hash is not the one the tree recorded for it: the event was
    /// rewritten (with a recomputed hash) after the tree took it in.
    LeafMismatch { event: EventRef },
    /// A stored node is not the hash of the leaves below it.
    NodeMismatch { node: NodeId },
    /// A node the tree must have is not stored.
    NodeMissing { node: NodeId },
    /// The tree holds another number of nodes than its size implies.
    NodeCount { stored: u64, expected: u64 },
    /// The root recomputed from the events at a checkpoint's size is not the signed root.
    RootMismatch {
        tree_size: u64,
        signed: TreeHash,
        recomputed: TreeHash,
    },
    /// A signed checkpoint covers more events than the log has: events were removed from
    /// the end (`first_missing` is the first position gone).
    LogShorterThanCheckpoint {
        tree_size: u64,
        log_size: u64,
        first_missing: Position,
    },
    /// The tree holds more leaves than the log has events (no checkpoint covers them yet).
    LogShorterThanTree { tree_size: u64, log_size: u64 },
}

impl AuditProblem {
    /// The event the problem names, when it names one.
    pub fn event(&self) -> Option<&EventRef> {
        match self {
            Self::LeafMismatch { event }
            | Self::Chain(
                Problem::HashMismatch { event }
                | Problem::BrokenLink { event }
                | Problem::VersionGap { event, .. }
                | Problem::Unreadable { event, .. }
                | Problem::MissingPosition { found: event, .. },
            ) => Some(event),
            _ => None,
        }
    }
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Chain(problem) => write!(f, "chain: {problem}"),
            Self::BadCheckpoint { tree_size, reason } => {
                write!(f, "checkpoint {tree_size} is not genuine: {reason}")
            }
            Self::LeafMismatch { event } => write!(
                f,
                "{event} does not have the hash the tree recorded for it: it was rewritten"
            ),
            Self::NodeMismatch { node } => write!(f, "the stored {node} is wrong"),
            Self::NodeMissing { node } => write!(f, "the {node} is missing"),
            Self::NodeCount { stored, expected } => {
                write!(
                    f,
                    "the tree stores {stored} nodes, its size implies {expected}"
                )
            }
            Self::RootMismatch {
                tree_size,
                signed,
                recomputed,
            } => write!(
                f,
                "checkpoint {tree_size} signed root {signed}, the events give {recomputed}"
            ),
            Self::LogShorterThanCheckpoint {
                tree_size,
                log_size,
                first_missing,
            } => write!(
                f,
                "checkpoint {tree_size} covers more events than the log has ({log_size}): \
                 events from position {first_missing} on were removed"
            ),
            Self::LogShorterThanTree {
                tree_size,
                log_size,
            } => write!(
                f,
                "the tree holds {tree_size} leaves but the log has {log_size} events"
            ),
        }
    }
}

/// The result of [`Auditor::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The store's report on the per-stream chains.
    pub chain: VerifyReport,
    /// How many leaves the tree holds.
    pub tree_size: u64,
    pub leaves_checked: u64,
    pub nodes_checked: u64,
    /// Checkpoints whose signature and root were checked.
    pub checkpoints_checked: u64,
    /// The size of the largest genuine checkpoint.
    pub latest_checkpoint: Option<u64>,
    /// Empty when everything agrees.
    pub problems: Vec<AuditProblem>,
}

impl Report {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// The first event named by a problem.
    pub fn first_bad_event(&self) -> Option<&EventRef> {
        self.problems.iter().find_map(AuditProblem::event)
    }
}

/// The checkpoints to compare, smallest first: the database's (read a page at a time, each
/// checked against the key) and any supplied by the caller.
struct Checkpoints<'a> {
    auditor: &'a Auditor,
    page: VecDeque<SignedCheckpoint>,
    after: u64,
    exhausted: bool,
    extra: VecDeque<(u64, TreeHash)>,
    checked: u64,
    largest: Option<u64>,
    bad: Option<AuditProblem>,
}

impl<'a> Checkpoints<'a> {
    fn new(auditor: &'a Auditor, mut extra: Vec<(u64, TreeHash)>) -> Self {
        extra.sort_unstable();
        Self {
            auditor,
            page: VecDeque::new(),
            after: 0,
            exhausted: false,
            extra: extra.into(),
            checked: 0,
            largest: None,
            bad: None,
        }
    }

    /// The smallest genuine checkpoint not yet taken, without taking it.
    async fn peek(&mut self) -> Result<Option<(u64, TreeHash)>, AuditError> {
        while self.page.is_empty() && !self.exhausted {
            let page = dispatch!(&self.auditor.inner.db,
                tables => tables.checkpoints_after(self.after, 1000).await)?;
            self.exhausted = page.len() < 1000;
            for checkpoint in page {
                self.after = checkpoint.tree_size;
                match self.genuine(&checkpoint) {
                    Ok(()) => self.page.push_back(checkpoint),
                    Err(reason) => {
                        self.bad.get_or_insert(AuditProblem::BadCheckpoint {
                            tree_size: checkpoint.tree_size,
                            reason,
                        });
                    }
                }
            }
        }
        let stored = self.page.front().map(|c| (c.tree_size, c.root));
        let extra = self.extra.front().copied();
        Ok(match (stored, extra) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    fn take(&mut self) {
        let stored = self.page.front().map(|c| (c.tree_size, c.root));
        let extra = self.extra.front().copied();
        let size = match (stored, extra) {
            (Some(a), Some(b)) if b < a => {
                self.extra.pop_front();
                b.0
            }
            (Some(a), _) => {
                self.page.pop_front();
                a.0
            }
            (None, Some(b)) => {
                self.extra.pop_front();
                b.0
            }
            (None, None) => return,
        };
        self.checked += 1;
        self.largest = self.largest.max(Some(size));
    }

    fn genuine(&self, checkpoint: &SignedCheckpoint) -> Result<(), String> {
        let opened = self
            .auditor
            .verifier_key()
            .open_checkpoint(&checkpoint.note)
            .map_err(|e| e.to_string())?;
        if opened.tree_size != checkpoint.tree_size || opened.root != checkpoint.root {
            return Err(format!(
                "the note signs size {} and root {}, the row says {} and {}",
                opened.tree_size, opened.root, checkpoint.tree_size, checkpoint.root
            ));
        }
        Ok(())
    }
}

impl Auditor {
    /// Checks the per-stream chains (the store's `verify`), then walks the whole log in
    /// position order recomputing the tree, and compares it with the stored nodes and every
    /// signed checkpoint (see the module docs). Reads the log twice and the nodes once; keeps
    /// O(streams) memory (the store's check) and a page of events.
    #[tracing::instrument(skip(self))]
    pub async fn verify(&self) -> Result<Report, AuditError> {
        self.verify_with(&[]).await
    }

    /// As [`Auditor::verify`], also checking the given signed checkpoint notes — e.g. ones
    /// published earlier and kept elsewhere, which survive even if someone with database
    /// access removed checkpoint rows. A note that does not verify with the auditor's key is
    /// reported as a bad checkpoint.
    pub async fn verify_with(&self, trusted_notes: &[String]) -> Result<Report, AuditError> {
        let chain = self.inner.log.verify().await?;
        let tree_size = self.tree_size().await?;
        let mut problems: Vec<AuditProblem> = chain
            .problem
            .clone()
            .into_iter()
            .map(AuditProblem::Chain)
            .collect();

        let mut extra = Vec::new();
        for note in trusted_notes {
            match self.verifier_key().open_checkpoint(note) {
                Ok(checkpoint) => extra.push((checkpoint.tree_size, checkpoint.root)),
                Err(error) => problems.push(AuditProblem::BadCheckpoint {
                    tree_size: 0,
                    reason: format!("a supplied note: {error}"),
                }),
            }
        }
        let mut checkpoints = Checkpoints::new(self, extra);
        let largest_signed = {
            let latest = self.latest_checkpoint().await?;
            let extra_max = checkpoints.extra.back().map(|c| c.0);
            latest.map(|c| c.tree_size).max(extra_max).unwrap_or(0)
        };
        let target = tree_size.max(largest_signed);

        let mut walk = Walk {
            auditor: self,
            tree_size,
            frontier: Frontier::new(),
            leaves_checked: 0,
            nodes_checked: 0,
        };
        let walked = walk.run(target, &mut checkpoints).await?;
        problems.extend(checkpoints.bad.take());
        match walked {
            Err(problem) => problems.push(problem),
            Ok(log_size) => {
                // Every genuine checkpoint up to the walked size was taken by the walk.
                if let Some((size, _)) = checkpoints.peek().await? {
                    problems.push(AuditProblem::LogShorterThanCheckpoint {
                        tree_size: size,
                        log_size,
                        first_missing: Position(log_size + 1),
                    });
                } else if tree_size > log_size {
                    problems.push(AuditProblem::LogShorterThanTree {
                        tree_size,
                        log_size,
                    });
                } else {
                    let stored = dispatch!(&self.inner.db, tables => tables.node_count().await)?;
                    let expected = 2 * tree_size - u64::from(tree_size.count_ones());
                    if stored != expected {
                        problems.push(AuditProblem::NodeCount { stored, expected });
                    }
                }
            }
        }
        problems.extend(checkpoints.bad.take());
        Ok(Report {
            chain,
            tree_size,
            leaves_checked: walk.leaves_checked,
            nodes_checked: walk.nodes_checked,
            checkpoints_checked: checkpoints.checked,
            latest_checkpoint: checkpoints.largest,
            problems,
        })
    }
}

struct Walk<'a> {
    auditor: &'a Auditor,
    tree_size: u64,
    frontier: Frontier,
    leaves_checked: u64,
    nodes_checked: u64,
}

impl Walk<'_> {
    /// Walks the log up to `target` events. `Ok(Ok(n))`: `n` events walked (fewer than
    /// `target` when the log ends early) without a problem; `Ok(Err(problem))`: the first
    /// problem found.
    async fn run(
        &mut self,
        target: u64,
        checkpoints: &mut Checkpoints<'_>,
    ) -> Result<Result<u64, AuditProblem>, AuditError> {
        while self.frontier.size() < target {
            let start = self.frontier.size();
            let page = self
                .auditor
                .inner
                .log
                .read_all(Position(start), PAGE.min(target - start))
                .await?;
            if page.is_empty() {
                break;
            }
            let mut events = Vec::with_capacity(page.len());
            let mut created: Vec<(NodeId, TreeHash)> = Vec::with_capacity(page.len() * 2);
            let mut roots = Vec::new();
            for event in page {
                if event.position.0 != self.frontier.size() + 1 {
                    // A gap: the store's check names it; the tree cannot go on.
                    return Ok(Ok(self.frontier.size()));
                }
                let covered = self.tree_size;
                self.frontier.push(leaf_hash(&event.hash.0), |id, hash| {
                    if id.end() <= covered {
                        created.push((id, hash));
                    }
                });
                events.push(EventRef {
                    position: event.position,
                    stream: event.stream,
                    version: event.version,
                });
                while let Some((size, signed)) = checkpoints.peek().await? {
                    if size > self.frontier.size() {
                        break;
                    }
                    checkpoints.take();
                    if size == self.frontier.size() {
                        roots.push((size, signed, self.frontier.root()));
                    }
                }
            }
            if let Some(problem) = self.compare_nodes(start, &events, &created).await? {
                return Ok(Err(problem));
            }
            self.leaves_checked += events.len() as u64;
            self.nodes_checked += created.len() as u64;
            if let Some((tree_size, signed, recomputed)) =
                roots.into_iter().find(|(_, signed, root)| signed != root)
            {
                return Ok(Err(AuditProblem::RootMismatch {
                    tree_size,
                    signed,
                    recomputed,
                }));
            }
        }
        Ok(Ok(self.frontier.size()))
    }

    /// Compares the nodes a page of leaves completed with the stored ones, in the order they
    /// were completed (leaf order), and returns the first difference.
    async fn compare_nodes(
        &self,
        first_leaf: u64,
        events: &[EventRef],
        created: &[(NodeId, TreeHash)],
    ) -> Result<Option<AuditProblem>, AuditError> {
        let mut ranges: HashMap<u8, LevelRange> = HashMap::new();
        for (id, _) in created {
            ranges
                .entry(id.level)
                .and_modify(|range| {
                    range.first = range.first.min(id.index);
                    range.last = range.last.max(id.index);
                })
                .or_insert(LevelRange {
                    level: id.level,
                    first: id.index,
                    last: id.index,
                });
        }
        let ranges: Vec<LevelRange> = ranges.into_values().collect();
        let stored: HashMap<NodeId, TreeHash> =
            dispatch!(&self.auditor.inner.db, tables => tables.nodes_in(&ranges).await)?
                .into_iter()
                .collect();
        for (id, hash) in created {
            match stored.get(id) {
                None => return Ok(Some(AuditProblem::NodeMissing { node: *id })),
                Some(found) if found == hash => {}
                Some(_) if id.level == 0 => {
                    let offset = usize::try_from(id.index - first_leaf)
                        .expect("a page's leaves fit in memory");
                    return Ok(Some(AuditProblem::LeafMismatch {
                        event: events[offset].clone(),
                    }));
                }
                Some(_) => return Ok(Some(AuditProblem::NodeMismatch { node: *id })),
            }
        }
        Ok(None)
    }
}
