//! Rebuilding a projection from position zero, and verifying the live tables against a
//! rebuild.
//!
//! # Rebuild and swap
//! A rebuild allocates a new generation, creates `<name>_g<N>` and `<name>_state_g<N>`, and
//! folds the whole log into them in large batches while the live generation keeps serving
//! and following. When it has caught up, one transaction takes the projection's registry row
//! lock, folds in whatever the live projector committed meanwhile, and points the registry
//! at the new generation (with the new schema version). The live projector's next
//! compare-and-set then fails, and it continues from the new generation's checkpoint; readers
//! see the swap through their cache invalidation (locally at once, elsewhere through the
//! `anslut_projections` notification, or on the "no such table" retry). Then the old tables
//! are dropped. Several projections rebuild together in one pass over the log (`--all`).
//!
//! Tables of a generation that is neither live nor being built by this process (left by a
//! crashed rebuild or verify) are dropped when the next rebuild of that projection starts;
//! run one rebuild of a projection at a time across processes.
//!
//! # Verify
//! Opens a read-only snapshot of the live tables and their checkpoints, rebuilds every
//! projection into scratch tables up to exactly that checkpoint, compares the two row by
//! row (rows and state documents), and drops the scratch tables.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use store::Position;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use dbkit::BigInt as _;

use crate::error::ProjectionError;
use crate::event::Envelope;
use crate::model::{Cell, Column, rows_table, state_table};
use crate::name::ProjectionName;
use crate::read_models::projector;
use crate::runtime::{Progress, Projections, Target, now, parse_all, progress_of};
use crate::sql::{PROJECTIONS_CHANNEL, Reads as _, Record, Sql, Tx};

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RebuildReport {
    /// Each projection's new live generation and checkpoint.
    pub projections: Vec<(ProjectionName, u64, Position)>,
    pub events: u64,
    pub elapsed: Duration,
    pub events_per_second: f64,
}

/// Which table of a projection differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    Rows,
    State,
}

/// One difference between a live table and its rebuild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    OnlyLive {
        table: TableKind,
        key: String,
    },
    OnlyRebuilt {
        table: TableKind,
        key: String,
    },
    Differs {
        table: TableKind,
        key: String,
        live: String,
        rebuilt: String,
    },
}

/// How one projection compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyOutcome {
    pub name: ProjectionName,
    /// The checkpoint compared at.
    pub position: Position,
    pub rows_compared: u64,
    /// The first differences found (at most [`VerifyOutcome::SHOWN`] per table).
    pub differences: Vec<Difference>,
    /// How many differences there are in all.
    pub difference_count: u64,
}

impl VerifyOutcome {
    pub const SHOWN: usize = 20;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub projections: Vec<VerifyOutcome>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.projections.iter().all(|p| p.difference_count == 0)
    }
}

/// Rows per page when comparing tables.
const COMPARE_PAGE: usize = 2000;

/// Batches a rebuild reads ahead of the slowest projection it folds.
const QUEUED_BATCHES: usize = 2;

fn pos(position: i64) -> Result<Position, ProjectionError> {
    Ok(Position::from_bigint(position)?)
}

fn to_i64(position: Position) -> Result<i64, ProjectionError> {
    Ok(position.to_bigint()?)
}

/// Parses `<name>_g<N>` and `<name>_state_g<N>` table names.
fn generation_of(name: ProjectionName, table: &str) -> Option<i64> {
    let rest = table.strip_prefix(name.as_str())?;
    let number = rest
        .strip_prefix("_state_g")
        .or_else(|| rest.strip_prefix("_g"))?;
    number.parse().ok()
}

impl Projections {
    /// Rebuilds `names` from position zero into fresh tables while the live ones serve, then
    /// swaps each in; `progress` is called after every batch.
    pub async fn rebuild(
        &self,
        names: &[ProjectionName],
        progress: impl Fn(&Progress) + Send + Sync,
    ) -> Result<RebuildReport, ProjectionError> {
        let mut names = names.to_vec();
        names.sort_unstable();
        names.dedup();
        let mut guards = Vec::new();
        for name in &names {
            guards.push(self.shared.rebuilds[name].lock().await);
        }
        let started = Instant::now();
        let mut targets = Vec::new();
        for name in &names {
            targets.push(Target {
                name: *name,
                generation: self.new_generation(*name, true).await?,
                after: None,
                until: None,
            });
        }
        let built = self
            .build(&targets, Position::START, None, Some(&progress))
            .await?;
        let mut projections = Vec::new();
        for target in &targets {
            let at = self.swap(*target, built).await?;
            projections.push((target.name, u64::from_bigint(target.generation)?, at));
        }
        drop(guards);
        let elapsed = started.elapsed();
        #[expect(
            clippy::cast_precision_loss,
            reason = "a count or a duration as f64 for a rate or a percentage: far below 2^52, where f64 is exact"
        )]
        let events_per_second = built.get() as f64 / elapsed.as_secs_f64().max(1e-9);
        Ok(RebuildReport {
            projections,
            events: built.get(),
            elapsed,
            events_per_second,
        })
    }

    /// Allocates a generation and creates its tables; with `clean`, first drops tables of
    /// generations that are not live (leftovers of crashed rebuilds or verifies).
    async fn new_generation(
        &self,
        name: ProjectionName,
        clean: bool,
    ) -> Result<i64, ProjectionError> {
        let projector = projector(name);
        let mut tx = self.shared.db.begin_write().await?;
        let generation = dbkit::with_backend!(tx.conn(), conn, S = Sql => {
            let live = S::registry_row(&mut *conn, name, true).await?.generation;
            if clean {
                let mut stale: Vec<i64> = S::list_tables(&mut *conn)
                    .await?
                    .iter()
                    .filter_map(|table| generation_of(name, table))
                    .filter(|g| *g != live)
                    .collect();
                stale.sort_unstable();
                stale.dedup();
                for old in stale {
                    S::drop_tables(&mut *conn, name, old).await?;
                }
            }
            let generation = S::allocate_generation(&mut *conn, name).await?;
            S::create_tables(&mut *conn, name, projector.columns(), generation).await?;
            Ok::<i64, ProjectionError>(generation)
        })?;
        tx.commit().await?;
        Ok(generation)
    }

    /// Folds the log after `from` into the targets' tables, batch by batch, up to `stop_at`
    /// (or until the log has no more). Returns the last position folded.
    async fn build(
        &self,
        targets: &[Target],
        from: Position,
        stop_at: Option<Position>,
        progress: Option<&(dyn Fn(&Progress) + Send + Sync)>,
    ) -> Result<Position, ProjectionError> {
        let shared = &self.shared;
        let names: Vec<ProjectionName> = targets.iter().map(|t| t.name).collect();
        let started = Instant::now();
        let mut target_head = match stop_at {
            Some(stop) => stop,
            None => shared.store.head().await?,
        };
        let batch = shared.options.rebuild_batch_size.max(1);
        // How many events to read after `at`: a batch, or what is left before `stop_at`.
        let limit_after = |at: Position| match stop_at {
            Some(stop) => batch.min(stop.get().saturating_sub(at.get())),
            None => batch,
        };
        let read_after = |at: Position| async move {
            match limit_after(at) {
                0 => Ok(Vec::new()),
                limit => shared.store.read_all(at, limit).await,
            }
        };
        // Each lane folds the batches into its targets' tables in transactions of its own, at
        // its own pace, with up to `QUEUED_BATCHES` read ahead for it. On PostgreSQL each
        // projection is a lane: nothing ties the projections of a rebuild together until
        // their swaps, so one folds while the database writes another's rows, on every core
        // there is, and none waits for the slowest at the end of every batch. SQLite has one
        // writer: one lane for all.
        let lanes: Vec<Vec<Target>> = if shared.db.is_postgres() {
            targets.iter().map(|target| vec![*target]).collect()
        } else {
            vec![targets.to_vec()]
        };
        let folded: Arc<Vec<AtomicU64>> =
            Arc::new(lanes.iter().map(|_| AtomicU64::new(from.get())).collect());
        let mut running = JoinSet::new();
        let mut queues = Vec::with_capacity(lanes.len());
        for (lane, targets) in lanes.into_iter().enumerate() {
            let (queue, mut batches) =
                mpsc::channel::<(Arc<Vec<Envelope>>, Position)>(QUEUED_BATCHES);
            queues.push(queue);
            let (shared, folded) = (shared.clone(), folded.clone());
            running.spawn(async move {
                while let Some((envelopes, last)) = batches.recv().await {
                    let mut tx = shared.db.begin_write().await?;
                    shared.apply_in(&mut tx, &targets, &envelopes).await?;
                    tx.commit().await?;
                    folded[lane].store(last.get(), Ordering::Relaxed);
                }
                Ok::<(), ProjectionError>(())
            });
        }
        let folded_by_all = || {
            Position(
                folded
                    .iter()
                    .map(|f| f.load(Ordering::Relaxed))
                    .min()
                    .unwrap_or(from.get()),
            )
        };
        let (mut at, mut reported) = (from, from);
        let mut events = read_after(at).await?;
        while let Some(last) = events.last().map(|e| e.position) {
            let envelopes = Arc::new(parse_all(&names, &events)?);
            drop(events);
            let queue = async {
                for queue in &queues {
                    if queue.send((envelopes.clone(), last)).await.is_err() {
                        return false;
                    }
                }
                true
            };
            // The next batch is read while this one waits for room in the lanes.
            let (queued, next) = tokio::join!(queue, read_after(last));
            if !queued {
                // A lane stopped: its error is collected below.
                break;
            }
            events = next?;
            at = last;
            // Progress is what every lane has folded, whenever that moved.
            if let Some(progress) = progress {
                let done = folded_by_all();
                if done > reported {
                    if done > target_head {
                        target_head = shared.store.head().await?;
                    }
                    progress(&progress_of(&names, started, from, done, target_head));
                    reported = done;
                }
            }
        }
        drop(queues);
        while let Some(done) = running.join_next().await {
            done.map_err(|e| ProjectionError::Invalid(format!("a rebuild task failed: {e}")))??;
        }
        if let Some(progress) = progress
            && at > reported
        {
            progress(&progress_of(&names, started, from, at, target_head));
        }
        Ok(at)
    }

    /// Makes `target` live: catches up with the live checkpoint, then swaps under the
    /// registry row lock and drops the old generation.
    async fn swap(&self, target: Target, built: Position) -> Result<Position, ProjectionError> {
        let shared = &self.shared;
        let name = target.name;
        let batch = shared.options.rebuild_batch_size.max(1);
        let mut at = built;
        // Catch up without the lock while far behind, so the locked part stays short.
        loop {
            let live = pos(shared.db.registry_row(name).await?.position)?;
            if live.get() <= at.get() + batch {
                break;
            }
            at = self.build(&[target], at, Some(live), None).await?;
        }
        let mut tx = shared.db.begin_write().await?;
        let live = dbkit::with_backend!(tx.conn(), conn, S = Sql => S::registry_row(conn, name, true).await)?;
        while at < pos(live.position)? {
            let limit = batch.min(pos(live.position)?.get() - at.get());
            let events = shared.store.read_all(at, limit).await?;
            let Some(last) = events.last().map(|e| e.position) else {
                break;
            };
            let envelopes = parse_all(&[name], &events)?;
            shared.apply_in(&mut tx, &[target], &envelopes).await?;
            at = last;
        }
        let position = at.max(pos(live.position)?);
        let version = projector(name).schema_version();
        dbkit::with_backend!(tx.conn(), conn, S = Sql => S::swap(conn, name, target.generation, to_i64(position)?, version, &now()).await)?;
        tx.notify(
            PROJECTIONS_CHANNEL,
            &format!("{name}:{}:{}", target.generation, position),
        )
        .await?;
        tx.commit().await?;
        shared.observe(name, target.generation, to_i64(position)?);
        tracing::info!(projection = %name, generation = target.generation, %position, "swapped in a rebuilt generation");
        if live.generation != target.generation {
            let mut tx = shared.db.begin_write().await?;
            dbkit::with_backend!(tx.conn(), conn, S = Sql => S::drop_tables(conn, name, live.generation).await)?;
            tx.commit().await?;
        }
        Ok(position)
    }

    /// Rebuilds every projection into scratch tables up to its live checkpoint and compares
    /// them with the live tables, row by row.
    pub async fn verify(&self) -> Result<VerifyReport, ProjectionError> {
        let shared = &self.shared;
        let mut snapshot = shared.db.begin_snapshot().await?;
        let registry = dbkit::with_backend!(snapshot.conn(), conn, S = Sql => {
            let registry = S::registry(&mut *conn).await?;
            // Reading each live table now pins it in the snapshot (PostgreSQL: and holds off a
            // swap's DROP until the comparison is done).
            for row in &registry {
                let columns = projector(row.name).columns();
                S::select(&mut *conn, &rows_table(row.name, row.generation), columns, &[], None, Some(0)).await?;
                S::select(&mut *conn, &state_table(row.name, row.generation), &[], &[], None, Some(0)).await?;
            }
            Ok::<_, ProjectionError>(registry)
        })?;
        let mut targets = Vec::new();
        for row in &registry {
            targets.push(Target {
                name: row.name,
                generation: self.new_generation(row.name, false).await?,
                after: None,
                until: Some(pos(row.position)?),
            });
        }
        let mut stop = Position::START;
        for row in &registry {
            stop = stop.max(pos(row.position)?);
        }
        let result = async {
            self.build(&targets, Position::START, Some(stop), None)
                .await?;
            let mut outcomes = Vec::new();
            for (row, target) in registry.iter().zip(&targets) {
                let columns = projector(row.name).columns();
                let mut outcome = VerifyOutcome {
                    name: row.name,
                    position: pos(row.position)?,
                    rows_compared: 0,
                    differences: Vec::new(),
                    difference_count: 0,
                };
                for (kind, live, scratch, columns) in [
                    (
                        TableKind::Rows,
                        rows_table(row.name, row.generation),
                        rows_table(row.name, target.generation),
                        columns,
                    ),
                    (
                        TableKind::State,
                        state_table(row.name, row.generation),
                        state_table(row.name, target.generation),
                        &[][..],
                    ),
                ] {
                    self.compare(&mut snapshot, kind, &live, &scratch, columns, &mut outcome)
                        .await?;
                }
                outcomes.push(outcome);
            }
            Ok::<_, ProjectionError>(VerifyReport {
                projections: outcomes,
            })
        }
        .await;
        snapshot.rollback().await?;
        for target in &targets {
            let mut tx = shared.db.begin_write().await?;
            dbkit::with_backend!(tx.conn(), conn, S = Sql => S::drop_tables(conn, target.name, target.generation).await)?;
            tx.commit().await?;
        }
        result
    }

    /// Merges two key-ordered tables page by page: `live` read in the snapshot, `scratch`
    /// from the pool.
    async fn compare(
        &self,
        snapshot: &mut Tx<'_>,
        kind: TableKind,
        live: &str,
        scratch: &str,
        columns: &[Column],
        outcome: &mut VerifyOutcome,
    ) -> Result<(), ProjectionError> {
        let mut left: VecDeque<Record> = VecDeque::new();
        let mut right: VecDeque<Record> = VecDeque::new();
        let (mut left_after, mut right_after) = (None::<String>, None::<String>);
        let (mut left_done, mut right_done) = (false, false);
        let mut shown = 0;
        let mut note = |outcome: &mut VerifyOutcome, difference: Difference| {
            outcome.difference_count += 1;
            if shown < VerifyOutcome::SHOWN {
                shown += 1;
                outcome.differences.push(difference);
            }
        };
        loop {
            if left.is_empty() && !left_done {
                let page = dbkit::with_backend!(snapshot.conn(), conn, S = Sql => S::select(conn, live, columns, &[], left_after.as_deref(), Some(COMPARE_PAGE)).await)?;
                left_done = page.len() < COMPARE_PAGE;
                left_after = page.last().map(|r| r.key.clone());
                left.extend(page);
            }
            if right.is_empty() && !right_done {
                let page = self
                    .shared
                    .db
                    .select(
                        scratch,
                        columns,
                        &[],
                        right_after.as_deref(),
                        Some(COMPARE_PAGE),
                    )
                    .await?;
                right_done = page.len() < COMPARE_PAGE;
                right_after = page.last().map(|r| r.key.clone());
                right.extend(page);
            }
            let take_left = match (left.front(), right.front()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(l), Some(r)) if l.key == r.key => {
                    let (l, r) = (left.pop_front(), right.pop_front());
                    if let (Some(l), Some(r)) = (l, r) {
                        outcome.rows_compared += 1;
                        if l != r {
                            note(
                                outcome,
                                Difference::Differs {
                                    table: kind,
                                    key: l.key.clone(),
                                    live: describe(&l),
                                    rebuilt: describe(&r),
                                },
                            );
                        }
                    }
                    continue;
                }
                (Some(l), Some(r)) => l.key < r.key,
            };
            if take_left {
                if let Some(l) = left.pop_front() {
                    note(
                        outcome,
                        Difference::OnlyLive {
                            table: kind,
                            key: l.key,
                        },
                    );
                }
            } else if let Some(r) = right.pop_front() {
                note(
                    outcome,
                    Difference::OnlyRebuilt {
                        table: kind,
                        key: r.key,
                    },
                );
            }
        }
        Ok(())
    }
}

/// A record as text, for a difference report.
fn describe(record: &Record) -> String {
    let cells: Vec<String> = record
        .cells
        .iter()
        .map(|c| match c {
            Cell::Null => "null".to_owned(),
            Cell::Text(t) => format!("{t:?}"),
            Cell::Int(i) => i.to_string(),
        })
        .collect();
    format!("[{}] {}", cells.join(", "), record.doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_numbers_are_read_from_table_names() {
        let name = ProjectionName::Costs;
        assert_eq!(generation_of(name, "costs_g3"), Some(3));
        assert_eq!(generation_of(name, "costs_state_g12"), Some(12));
        assert_eq!(generation_of(name, "costs_gx"), None);
        assert_eq!(generation_of(name, "case_overview_g1"), None);
        assert_eq!(
            generation_of(ProjectionName::CaseOverview, "case_overview_state_g1"),
            Some(1)
        );
    }
}
