//! The projector runtime: one task per projection that follows the log from its durable
//! checkpoint, leadership across instances, wake-ups, read-your-writes, status.
//!
//! # Exactly once
//! A batch is `read_tail(after = checkpoint)` (the log as `read_all` gives it, read once for
//! all of this process's followers); then, in ONE write transaction: move the
//! checkpoint with a compare-and-set on the registry row (`generation` and `position` must
//! still be what this projector read, which also takes the row lock), load the state
//! documents the batch touches, fold the events in, write the changed states and rows, and
//! commit. A crash anywhere before the commit leaves documents and checkpoint as they were;
//! after it, both have moved. Nothing is applied twice and nothing is skipped, because the
//! next batch starts where the committed checkpoint says.
//!
//! The projections led in this process take their batches together, in rounds
//! ([`crate::round`]): one transaction holds every member's batch, each member's part as
//! above; a projection takes its batch alone after a round failed.
//!
//! # Leadership
//! On PostgreSQL each projection runs in one instance at a time: its task holds
//! `pg_try_advisory_lock(key)` on a connection of its own for as long as it leads. When that
//! process dies the connection dies with it, the lock is released, and another instance's
//! task, retrying every `leader_retry`, takes over within seconds. Should two instances ever
//! project at once (a leader whose connection died mid-batch), the compare-and-set lets only
//! one of them commit each range. SQLite is one process: always the leader. (Each
//! projection's leadership, held or sought, keeps one connection of its own: seven per
//! instance, outside the pool. The leader writes its batches on it.)
//!
//! # Durability
//! A batch commits without waiting for the WAL flush ([`dbkit::Db::begin_derived`]): the read
//! models are derived from the log, and a database crash that loses the last batches loses
//! their checkpoint with them, so the projector applies those events again. Erasures
//! ([`Projections::erase_subject`]), swaps and the registry commit durably.
//!
//! # Wake-ups
//! Projectors wake on this process's commits (`EventStore::subscribe`), on PostgreSQL also on
//! every process's (`LISTEN anslut_events`), and poll every `poll_interval` regardless, so a
//! lost notification costs at most that long.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use cqrs_es::Aggregate as _;
use dbkit::BigInt as _;
use dbkit::follower::{self, Follower, Lane, Recovery, Signal, Step as Stepped, Tasks, Timing};
use domain::catalogue::CatalogueRegistry;
use domain::ids::DataSubjectId;
use domain::subject::DataSubject;
use serde::Serialize;
use store::{EventStore, NOTIFY_CHANNEL, Position};
use tokio::sync::watch;

use crate::error::ProjectionError;
use crate::event::{self, DomainEvent, Envelope};
use crate::model::{Context, Row, instant, rows_table, state_table};
use crate::name::ProjectionName;
use crate::personal::erase_personal;
use crate::read_models::{ReadModels, projector};
use crate::round::{self, Outcome, RoundCounts, Rounds};
use crate::sql::{self, Db, PROJECTIONS_CHANNEL, Reads as _, SETUP_LOCK, Sql, Tx, Write};

/// Tuning and inputs of the projections.
#[derive(Clone)]
pub struct ProjectionOptions {
    /// The catalogues the read models judge cases against (blockers, compliance rows, prices):
    /// the same registry the domain decides with.
    pub catalogues: Arc<CatalogueRegistry>,
    /// Events per live batch (one transaction each, for all the projections in a round).
    pub batch_size: u64,
    /// How long a round of the projectors led here may take before its members go alone
    /// (see [`crate::round`]): how long one stuck projection can hold the others back.
    pub round_timeout: Duration,
    /// Events per batch while rebuilding.
    pub rebuild_batch_size: u64,
    /// A projector reads the log at least this often, whatever it was told.
    pub poll_interval: Duration,
    /// How often a non-leader tries to take over a projection.
    pub leader_retry: Duration,
    /// How long to wait after a database error before trying again.
    pub error_backoff: Duration,
    /// The size of the crate's own connection pool.
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// Test hook: stall or fail a projector's transaction before it commits.
    #[cfg(feature = "testing")]
    pub fault: Option<Fault>,
}

impl ProjectionOptions {
    pub fn new(catalogues: Arc<CatalogueRegistry>) -> Self {
        Self {
            catalogues,
            batch_size: 500,
            round_timeout: Duration::from_secs(5),
            rebuild_batch_size: 5000,
            poll_interval: Duration::from_secs(1),
            leader_retry: Duration::from_secs(1),
            error_backoff: Duration::from_secs(1),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            #[cfg(feature = "testing")]
            fault: None,
        }
    }
}

impl std::fmt::Debug for ProjectionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionOptions")
            .field("batch_size", &self.batch_size)
            .field("round_timeout", &self.round_timeout)
            .field("rebuild_batch_size", &self.rebuild_batch_size)
            .field("poll_interval", &self.poll_interval)
            .field("leader_retry", &self.leader_retry)
            .finish_non_exhaustive()
    }
}

/// A fault to inject into a live batch of one projection (feature `testing`): once a batch
/// covers `at`, after its documents are written and before its commit.
#[cfg(feature = "testing")]
#[derive(Debug, Clone)]
pub struct Fault {
    pub projection: ProjectionName,
    pub at: Position,
    pub action: FaultAction,
}

#[cfg(feature = "testing")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Never commit: the transaction stays open until the task is aborted.
    Stall,
    /// Fail as if an event could not be applied.
    Fail,
}

/// What this process is doing with a projection.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Activity {
    /// No runtime in this process (e.g. the CLI).
    NotRunning,
    /// Another instance leads; this one follows its checkpoint.
    Following,
    Projecting,
    Rebuilding {
        progress: Option<Progress>,
    },
    /// Stopped on an event it cannot apply; see `last_error`.
    Stopped,
}

/// Who runs a projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Leader {
    /// This process.
    Here,
    /// Another process holds the leadership lock (PostgreSQL).
    Elsewhere,
    /// Nobody leads, as far as can be seen.
    Nobody,
}

/// A projection's state for `anslut projections status`, `/readyz` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectionStatus {
    pub name: ProjectionName,
    /// The schema version this binary projects.
    pub schema_version: u32,
    /// The schema version of the live tables.
    pub stored_schema_version: u32,
    pub generation: u64,
    pub checkpoint: Position,
    pub head: Position,
    pub lag_events: u64,
    /// The age of the oldest event not yet projected; 0 when caught up.
    pub lag_seconds: f64,
    pub activity: Activity,
    pub leader: Leader,
    pub last_error: Option<String>,
    /// When the checkpoint last moved.
    pub updated_at: String,
}

/// How a rebuild is coming along, for a progress bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    pub projections: Vec<ProjectionName>,
    pub position: Position,
    /// The head of the log when last looked at.
    pub target: Position,
    pub events: u64,
    pub elapsed: Duration,
    pub events_per_second: f64,
    /// At the current speed; `None` before there is a speed.
    pub remaining: Option<Duration>,
}

#[derive(Debug, Clone)]
pub(crate) struct LocalState {
    pub activity: Activity,
    pub leading: bool,
    pub last_error: Option<String>,
}

/// Everything the tasks, readers and admin operations share.
pub(crate) struct Shared {
    pub db: Db,
    pub store: EventStore,
    pub options: ProjectionOptions,
    pub catalogues: Arc<CatalogueRegistry>,
    generations: RwLock<HashMap<ProjectionName, i64>>,
    checkpoints: HashMap<ProjectionName, watch::Sender<Position>>,
    local: Mutex<HashMap<ProjectionName, LocalState>>,
    /// One rebuild of a projection at a time in this process.
    pub rebuilds: HashMap<ProjectionName, tokio::sync::Mutex<()>>,
    /// The log may have grown.
    log_moved: Signal,
    /// The round of the projectors led here being gathered.
    pub rounds: Rounds,
}

pub(crate) fn now() -> String {
    instant(Utc::now())
}

impl Shared {
    pub fn ctx(&self) -> Context<'_> {
        Context {
            catalogues: &self.catalogues,
        }
    }

    /// The live generation of a projection, cached until a swap is seen.
    pub async fn live_generation(&self, name: ProjectionName) -> Result<i64, ProjectionError> {
        if let Some(generation) = self
            .generations
            .read()
            .expect("generation cache poisoned")
            .get(&name)
        {
            return Ok(*generation);
        }
        let row = self.db.registry_row(name).await?;
        self.observe(name, row.generation, row.position);
        Ok(row.generation)
    }

    pub fn forget_generation(&self, name: ProjectionName) {
        self.generations
            .write()
            .expect("generation cache poisoned")
            .remove(&name);
    }

    /// Learns that `name` is live in `generation` at least up to `position`.
    pub fn observe(&self, name: ProjectionName, generation: i64, position: i64) {
        self.generations
            .write()
            .expect("generation cache poisoned")
            .insert(name, generation);
        // A negative position cannot come from the registry (its CHECK and the projectors'
        // compare-and-set keep it at 0 or more); should one come, it moves nothing.
        let Ok(position) = Position::from_bigint(position) else {
            return;
        };
        self.checkpoints[&name].send_if_modified(|known| {
            let newer = *known < position;
            if newer {
                *known = position;
            }
            newer
        });
    }

    pub fn set_local(&self, name: ProjectionName, change: impl FnOnce(&mut LocalState)) {
        self.set_local_unless(name, None, change);
    }

    /// Changes this process's state of a projection, unless `stop` says its runtime was
    /// stopped (checked under the lock, so a stopped runtime's last words never overwrite
    /// what stopping it wrote).
    pub fn set_local_unless(
        &self,
        name: ProjectionName,
        stop: Option<&watch::Receiver<bool>>,
        change: impl FnOnce(&mut LocalState),
    ) {
        let mut local = self.local.lock().expect("local state poisoned");
        if stop.is_some_and(|stop| *stop.borrow()) {
            return;
        }
        let entry = local.entry(name).or_insert_with(|| LocalState {
            activity: Activity::NotRunning,
            leading: false,
            last_error: None,
        });
        change(entry);
    }

    fn local(&self, name: ProjectionName) -> Option<LocalState> {
        self.local
            .lock()
            .expect("local state poisoned")
            .get(&name)
            .cloned()
    }

    pub fn wake_all(&self) {
        self.log_moved.wake();
    }

    /// Folds `events` into each target's tables inside `tx`: loads the touched states, runs
    /// the pure functions, writes what changed. Returns how many events were folded.
    pub async fn apply_in(
        &self,
        tx: &mut Tx<'_>,
        targets: &[Target],
        events: &[Envelope],
    ) -> Result<u64, ProjectionError> {
        let ctx = self.ctx();
        let mut folded = 0;
        // What each target folds: its partitions (in the order first seen) and the data
        // subjects forgotten in the batch.
        let mut plans = Vec::with_capacity(targets.len());
        for target in targets {
            let projector = projector(target.name);
            let mut partitions: HashMap<String, Vec<&Envelope>> = HashMap::new();
            let mut order: Vec<String> = Vec::new();
            let mut forgotten: Vec<DataSubjectId> = Vec::new();
            for event in events
                .iter()
                .filter(|e| target.after.is_none_or(|after| e.position > after))
                .filter(|e| target.until.is_none_or(|until| e.position <= until))
            {
                if let DomainEvent::SubjectForgotten(subject) = &event.event {
                    forgotten.push(*subject);
                    continue;
                }
                if let Some(key) = projector.partition(event) {
                    folded += 1;
                    partitions
                        .entry(key)
                        .or_insert_with_key(|key| {
                            order.push(key.clone());
                            Vec::new()
                        })
                        .push(event);
                }
            }
            plans.push((target, partitions, order, forgotten));
        }
        let loads: Vec<(String, &[String])> = plans
            .iter()
            .map(|(target, _, order, _)| {
                (
                    state_table(target.name, target.generation),
                    order.as_slice(),
                )
            })
            .collect();
        let loaded = sql::load_all(tx, &loads).await?;
        let mut writes = Vec::with_capacity(2 * plans.len());
        for ((target, partitions, order, _), loaded) in plans.iter().zip(&loaded) {
            let projector = projector(target.name);
            let mut states = Vec::new();
            let mut upserts = Vec::new();
            let mut deletes = Vec::new();
            for key in order {
                let change = projector.project(
                    loaded.get(key).map(String::as_str),
                    &partitions[key],
                    ctx,
                )?;
                if let Some(doc) = change.state {
                    states.push(Row {
                        key: key.clone(),
                        cells: Vec::new(),
                        doc,
                    });
                }
                upserts.extend(change.upserts);
                deletes.extend(change.deletes);
            }
            let rows_table = rows_table(target.name, target.generation);
            dbkit::with_backend!(tx.conn(), conn, S = Sql => S::delete(conn, &rows_table, &deletes).await)?;
            writes.push(Write {
                table: state_table(target.name, target.generation),
                columns: &[],
                rows: states,
            });
            writes.push(Write {
                table: rows_table,
                columns: projector.columns(),
                rows: upserts,
            });
        }
        sql::write_all(tx, &writes).await?;
        // After the batch's documents are written, so that what an earlier event of the batch
        // wrote of a subject forgotten later in it is erased too.
        for (target, _, _, forgotten) in &plans {
            let tables = [
                rows_table(target.name, target.generation),
                state_table(target.name, target.generation),
            ];
            erase_in(tx, &[&tables[0], &tables[1]], forgotten).await?;
        }
        Ok(folded)
    }
}

/// Rewrites every document of `tables` that holds personal data of one of `subjects` to the
/// erased form. Returns how many documents changed.
async fn erase_in(
    tx: &mut Tx<'_>,
    tables: &[&str],
    subjects: &[DataSubjectId],
) -> Result<u64, ProjectionError> {
    let mut count = 0_u64;
    for subject in subjects {
        let needle = subject.to_string();
        for table in tables {
            count += dbkit::with_backend!(tx.conn(), conn, S = Sql => {
                let mut count = 0_u64;
                for (key, doc) in S::containing(&mut *conn, table, &needle).await? {
                    let mut value: serde_json::Value = serde_json::from_str(&doc)
                        .map_err(|e| ProjectionError::Corrupt(format!("{table} {key}: {e}")))?;
                    if erase_personal(&mut value, *subject) {
                        S::set_doc(&mut *conn, table, &key, &value.to_string()).await?;
                        count += 1;
                    }
                }
                Ok::<u64, ProjectionError>(count)
            })?;
        }
    }
    Ok(count)
}

/// One projection's part in a batch: which generation's tables, and up to where.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub name: ProjectionName,
    pub generation: i64,
    /// Fold only events after here (a projector in a round: its own checkpoint).
    pub after: Option<Position>,
    /// Fold only events up to here (verify's scratch copy stops at the live checkpoint).
    pub until: Option<Position>,
}

/// Parses the events of a page that any of `names` follows; an unreadable one is poison for
/// the first of them that follows its stream type.
pub(crate) fn parse_all<E: Borrow<store::RecordedEvent>>(
    names: &[ProjectionName],
    events: &[E],
) -> Result<Vec<Envelope>, ProjectionError> {
    let mut parsed = Vec::with_capacity(events.len());
    for stored in events {
        let stored = stored.borrow();
        // A forgotten data subject concerns every projection.
        let forgetting = stored.stream.stream_type == DataSubject::TYPE;
        let Some(follower) = names.iter().find(|n| {
            forgetting
                || projector(**n)
                    .streams()
                    .contains(&stored.stream.stream_type.as_str())
        }) else {
            continue;
        };
        match event::parse(stored) {
            Ok(Some(envelope)) => parsed.push(envelope),
            Ok(None) => {}
            Err(bad) => {
                return Err(ProjectionError::Poison {
                    projection: *follower,
                    position: bad.position,
                    message: bad.message,
                });
            }
        }
    }
    Ok(parsed)
}

/// Anslut's read models over one database. Cheap to clone.
///
/// [`Projections::open`] prepares the tables and answers queries, status, rebuild and
/// verify (what the CLI needs); [`Projections::start`] also runs the projectors (what
/// `anslut serve` needs).
#[derive(Clone)]
pub struct Projections {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Projections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projections")
            .field("postgres", &self.shared.db.is_postgres())
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl Projections {
    /// Connects to the store's database (the same URL the store was given), creates the
    /// registry and every projection's first generation if missing.
    pub async fn open(
        database_url: &str,
        store: EventStore,
        options: ProjectionOptions,
    ) -> Result<Self, ProjectionError> {
        let db = sql::connect(
            database_url,
            options.max_connections,
            options.acquire_timeout,
        )
        .await?;
        if db.is_postgres() != store.is_postgres() {
            return Err(ProjectionError::Invalid(
                "the read models must live in the store's database".into(),
            ));
        }
        let mut tx = db.begin_write().await?;
        tx.advisory_lock(SETUP_LOCK).await?;
        dbkit::with_backend!(tx.conn(), conn, S = Sql => {
            S::create_registry(&mut *conn).await?;
            for name in ProjectionName::ALL {
                let projector = projector(name);
                if S::register(&mut *conn, name, projector.schema_version(), &now()).await? {
                    S::create_tables(&mut *conn, name, projector.columns(), 1).await?;
                }
            }
            Ok::<(), ProjectionError>(())
        })?;
        tx.commit().await?;
        let registry = db.registry().await?;
        let checkpoints = ProjectionName::ALL
            .into_iter()
            .map(|name| (name, watch::channel(Position::START).0))
            .collect();
        let shared = Arc::new(Shared {
            db,
            store,
            catalogues: options.catalogues.clone(),
            options,
            generations: RwLock::new(HashMap::new()),
            checkpoints,
            local: Mutex::new(HashMap::new()),
            rebuilds: ProjectionName::ALL
                .into_iter()
                .map(|name| (name, tokio::sync::Mutex::new(())))
                .collect(),
            log_moved: Signal::default(),
            rounds: Rounds::default(),
        });
        for row in registry {
            shared.observe(row.name, row.generation, row.position);
        }
        Ok(Self { shared })
    }

    /// Starts one projector task per projection, and the wake-up tasks. Dropping the handle
    /// (or [`ProjectionsHandle::shutdown`]) stops them and gives up leadership.
    pub fn start(&self) -> ProjectionsHandle {
        let shared = self.shared.clone();
        let mut tasks = Tasks::default();
        let forward = shared.clone();
        tasks.spawn_waker(follower::forward(shared.store.subscribe(), move || {
            forward.wake_all();
        }));
        if let Db::Postgres(pools) = &shared.db {
            tasks.spawn_waker(listen(shared.clone(), pools.clone()));
        }
        let options = &shared.options;
        let timing = Timing {
            poll_interval: options.poll_interval,
            leader_retry: options.leader_retry,
            error_backoff: options.error_backoff,
        };
        for name in ProjectionName::ALL {
            shared.set_local(name, |local| local.activity = Activity::Following);
            tasks.spawn_follower(follower::run(
                Projector {
                    shared: shared.clone(),
                    name,
                    cursor: None,
                    alone: false,
                    stop: tasks.stopping(),
                },
                shared.db.clone(),
                Some(name.lock_key()),
                timing,
                shared.log_moved.subscribe(),
                tasks.stopping(),
            ));
        }
        ProjectionsHandle {
            projections: self.clone(),
            tasks: Some(tasks),
        }
    }

    /// The query facade.
    pub fn read_models(&self) -> ReadModels {
        ReadModels {
            shared: self.shared.clone(),
        }
    }

    /// Waits, at most `timeout`, until every projection in `names` has projected `position`
    /// (the global position a command returned). Woken by the projectors (or, from another
    /// instance, by their notifications), not by polling.
    pub async fn wait_for(
        &self,
        names: &[ProjectionName],
        position: Position,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        for name in names {
            let mut checkpoint = self.shared.checkpoints[name].subscribe();
            let reached =
                tokio::time::timeout_at(deadline, checkpoint.wait_for(|p| *p >= position))
                    .await
                    .is_ok_and(|r| r.is_ok());
            if reached {
                continue;
            }
            // A last look at the registry, in case a notification went missing.
            let row = self.shared.db.registry_row(*name).await?;
            self.shared.observe(*name, row.generation, row.position);
            let checkpoint = *self.shared.checkpoints[name].borrow();
            if checkpoint < position {
                return Err(ProjectionError::Lagging {
                    projection: *name,
                    checkpoint,
                    wanted: position,
                    retry_after: self
                        .shared
                        .options
                        .poll_interval
                        .max(Duration::from_secs(1)),
                });
            }
        }
        Ok(())
    }

    /// Checkpoint, lag, generation, leadership and errors of every projection.
    pub async fn status(&self) -> Result<Vec<ProjectionStatus>, ProjectionError> {
        // Local states first: a projector that stopped is then seen with its final checkpoint.
        let locals: HashMap<ProjectionName, LocalState> = ProjectionName::ALL
            .into_iter()
            .filter_map(|name| self.shared.local(name).map(|l| (name, l)))
            .collect();
        let head = self.shared.store.head().await?;
        let registry = self.shared.db.registry().await?;
        let mut statuses = Vec::with_capacity(registry.len());
        for row in registry {
            let checkpoint = Position::from_bigint(row.position)?;
            self.shared.observe(row.name, row.generation, row.position);
            let lag_events = head.get().saturating_sub(checkpoint.get());
            let lag_seconds = if lag_events == 0 {
                0.0
            } else {
                self.shared
                    .store
                    .read_all(checkpoint, 1)
                    .await?
                    .first()
                    .map_or(0.0, |oldest| {
                        (Utc::now() - oldest.recorded_at)
                            .to_std()
                            .unwrap_or_default()
                            .as_secs_f64()
                    })
            };
            let local = locals.get(&row.name).cloned();
            let leader = match &local {
                Some(local) if local.leading => Leader::Here,
                _ if self
                    .shared
                    .db
                    .advisory_lock_held(row.name.lock_key())
                    .await? =>
                {
                    Leader::Elsewhere
                }
                _ => Leader::Nobody,
            };
            statuses.push(ProjectionStatus {
                name: row.name,
                schema_version: projector(row.name).schema_version(),
                stored_schema_version: u32::from_bigint(row.schema_version)?,
                generation: u64::from_bigint(row.generation)?,
                checkpoint,
                head,
                lag_events,
                lag_seconds,
                activity: local
                    .as_ref()
                    .map_or(Activity::NotRunning, |l| l.activity.clone()),
                leader,
                last_error: local.and_then(|l| l.last_error).or(row.last_error),
                updated_at: row.updated_at,
            });
        }
        Ok(statuses)
    }

    /// What the rounds of the projectors led in this process did since it started.
    pub fn rounds(&self) -> RoundCounts {
        self.shared.rounds.counts()
    }

    /// Rewrites every live document holding personal data of `subject` to the erased form.
    /// Returns how many documents changed. Each projection's rewrite holds its registry row
    /// lock, so it cannot interleave with a batch that loaded the old document.
    pub async fn erase_subject(&self, subject: DataSubjectId) -> Result<u64, ProjectionError> {
        let mut changed = 0;
        for name in ProjectionName::ALL {
            let mut tx = self.shared.db.begin_write().await?;
            let row = dbkit::with_backend!(tx.conn(), conn, S = Sql => S::registry_row(&mut *conn, name, true).await)?;
            let tables = [
                rows_table(name, row.generation),
                state_table(name, row.generation),
            ];
            changed += erase_in(&mut tx, &[&tables[0], &tables[1]], &[subject]).await?;
            tx.commit().await?;
        }
        Ok(changed)
    }
}

/// The running projectors. Dropping it stops them.
pub struct ProjectionsHandle {
    projections: Projections,
    /// The projectors (one per projection) and the tasks that turn commits and notifications
    /// into wake-ups.
    tasks: Option<Tasks>,
}

impl std::fmt::Debug for ProjectionsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionsHandle")
            .field(
                "projectors",
                &self.tasks.as_ref().map_or(0, Tasks::followers),
            )
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for ProjectionsHandle {
    type Target = Projections;
    fn deref(&self) -> &Projections {
        &self.projections
    }
}

impl ProjectionsHandle {
    /// Stops the projectors between batches and waits for them to finish.
    pub async fn shutdown(mut self) {
        if let Some(tasks) = self.tasks.take() {
            tasks.shutdown().await;
        }
    }
}

impl Drop for ProjectionsHandle {
    fn drop(&mut self) {
        // Dropping the tasks aborts whatever still runs.
        self.tasks = None;
        for name in ProjectionName::ALL {
            self.projections.shared.rounds.leave(name);
            self.projections.shared.set_local(name, |local| {
                local.activity = Activity::NotRunning;
                local.leading = false;
            });
        }
    }
}

/// Wake-ups from other processes (PostgreSQL): appends on the store's channel, checkpoints
/// and swaps on the projections' channel; after a gap, everything.
async fn listen(shared: Arc<Shared>, pools: Arc<dbkit::Pools<sqlx::Postgres>>) {
    follower::listen(
        &pools,
        &[NOTIFY_CHANNEL, PROJECTIONS_CHANNEL],
        shared.options.error_backoff,
        "projections",
        |channel, payload| {
            if channel != PROJECTIONS_CHANNEL {
                shared.store.notified(payload);
                shared.wake_all();
                return;
            }
            let mut parts = payload.split(':');
            if let (Some(name), Some(generation), Some(position)) =
                (parts.next(), parts.next(), parts.next())
                && let (Some(name), Ok(generation), Ok(position)) = (
                    ProjectionName::parse(name),
                    generation.parse(),
                    position.parse(),
                )
            {
                shared.observe(name, generation, position);
            }
        },
        || shared.wake_all(),
    )
    .await;
}

/// Where a leading projector is.
struct Cursor {
    generation: i64,
    position: i64,
}

enum Step {
    /// A batch was applied; `caught_up` when it was all there was (less than a full batch).
    Applied {
        caught_up: bool,
    },
    Idle,
}

/// One projection's own part of the follower runtime: its cursor and its step.
struct Projector {
    shared: Arc<Shared>,
    name: ProjectionName,
    cursor: Option<Cursor>,
    /// Takes its batches alone rather than in rounds: after a round failed, until a batch of
    /// its own succeeds.
    alone: bool,
    /// The runtime's stop signal: once set, this projector's last words are not recorded.
    stop: watch::Receiver<bool>,
}

impl Projector {
    fn set_local(&self, change: impl FnOnce(&mut LocalState)) {
        self.shared
            .set_local_unless(self.name, Some(&self.stop), change);
    }
}

impl Follower for Projector {
    type Error = ProjectionError;

    fn name(&self) -> String {
        format!("projection {}", self.name)
    }

    fn led(&mut self, leading: bool) {
        self.cursor = None;
        self.shared.rounds.leave(self.name);
        self.set_local(|l| {
            l.leading = leading;
            l.activity = if leading {
                Activity::Projecting
            } else {
                Activity::Following
            };
        });
    }

    async fn follow(&mut self) {
        if let Ok(row) = self.shared.db.registry_row(self.name).await {
            self.shared.observe(self.name, row.generation, row.position);
        }
    }

    fn lead_failed(&mut self, error: dbkit::DbError) {
        let message = ProjectionError::from(error).to_string();
        self.set_local(|l| l.last_error = Some(message));
    }

    async fn step(&mut self, mut lane: Lane<'_>) -> Result<Stepped, ProjectionError> {
        let stepped = match &mut self.cursor {
            None => {
                self.cursor = Some(prepare(&self.shared, self.name).await?);
                Step::Applied { caught_up: false }
            }
            Some(at) if !self.alone => {
                match round::step(
                    &self.shared,
                    self.name,
                    at.generation,
                    at.position,
                    &mut lane,
                )
                .await
                {
                    Outcome::Applied {
                        position,
                        caught_up,
                    } => {
                        at.position = position;
                        Step::Applied { caught_up }
                    }
                    Outcome::Nothing { caught_up: true } => Step::Idle,
                    Outcome::Nothing { caught_up: false } => Step::Applied { caught_up: false },
                    Outcome::Failed => {
                        self.alone = true;
                        self.shared.rounds.leave(self.name);
                        let stepped = step(&self.shared, self.name, at, &mut lane).await?;
                        self.alone = false;
                        stepped
                    }
                }
            }
            Some(at) => {
                let stepped = step(&self.shared, self.name, at, &mut lane).await?;
                self.alone = false;
                stepped
            }
        };
        Ok(match stepped {
            Step::Applied { caught_up } => {
                self.set_local(|l| {
                    l.last_error = None;
                    l.activity = Activity::Projecting;
                });
                if caught_up {
                    Stepped::CaughtUp
                } else {
                    Stepped::Worked
                }
            }
            Step::Idle => Stepped::Idle,
        })
    }

    async fn failed(&mut self, error: ProjectionError) -> Recovery {
        let name = self.name;
        self.shared.rounds.leave(name);
        match error {
            ProjectionError::LostRace(_) => {
                self.cursor = None;
                Recovery::Retry
            }
            error @ ProjectionError::Poison { .. } => {
                tracing::error!(projection = %name, %error, "projector stopped");
                self.set_local(|l| {
                    l.last_error = Some(error.to_string());
                    l.activity = Activity::Stopped;
                    l.leading = false;
                });
                if let Ok(mut tx) = self.shared.db.begin_write().await {
                    let recorded = dbkit::with_backend!(tx.conn(), conn, S = Sql => S::set_error(conn, name, Some(error.to_string())).await);
                    if recorded.is_ok() {
                        let _ = tx.commit().await;
                    }
                }
                Recovery::Stop
            }
            error => {
                tracing::warn!(projection = %name, %error, "projector batch failed; retrying");
                self.cursor = None;
                self.set_local(|l| l.last_error = Some(error.to_string()));
                Recovery::Backoff
            }
        }
    }
}

/// Reads where the projection stands; rebuilds first when its tables were made by another
/// schema version.
async fn prepare(shared: &Arc<Shared>, name: ProjectionName) -> Result<Cursor, ProjectionError> {
    let mut row = shared.db.registry_row(name).await?;
    let version = projector(name).schema_version();
    if row.schema_version != i64::from(version) {
        tracing::info!(projection = %name, stored = row.schema_version, version, "schema version changed: rebuilding");
        shared.set_local(name, |l| {
            l.activity = Activity::Rebuilding { progress: None }
        });
        let projections = Projections {
            shared: shared.clone(),
        };
        projections
            .rebuild(&[name], |progress| {
                shared.set_local(name, |l| {
                    l.activity = Activity::Rebuilding {
                        progress: Some(progress.clone()),
                    };
                });
            })
            .await?;
        row = shared.db.registry_row(name).await?;
    }
    shared.observe(name, row.generation, row.position);
    Ok(Cursor {
        generation: row.generation,
        position: row.position,
    })
}

/// One live batch, exactly once. A batch holding an event the projection cannot apply is
/// rolled back whole; the events before that one are then applied and committed on their
/// own, so a stopped projection's checkpoint is the last event it could apply, wherever the
/// batches fell.
async fn step(
    shared: &Shared,
    name: ProjectionName,
    at: &mut Cursor,
    lane: &mut Lane<'_>,
) -> Result<Step, ProjectionError> {
    let from = Position::from_bigint(at.position)?;
    let batch = shared.options.batch_size.max(1);
    let mut events = shared.store.read_tail(from, batch).await?;
    let caught_up = u64::try_from(events.len()).is_ok_and(|read| read < batch);
    let mut poison = None;
    loop {
        match commit_batch(shared, name, at, lane, from, &events).await {
            Ok(Step::Applied { .. }) if poison.is_none() => {
                return Ok(Step::Applied { caught_up });
            }
            Ok(step) => return poison.map_or(Ok(step), Err),
            Err(error @ ProjectionError::Poison { position, .. })
                if events
                    .first()
                    .is_some_and(|first| first.position < position) =>
            {
                events.retain(|event| event.position < position);
                poison = Some(error);
            }
            Err(error) => return Err(error),
        }
    }
}

/// Applies `events` (read after `from`) and moves the checkpoint past them in one transaction.
async fn commit_batch(
    shared: &Shared,
    name: ProjectionName,
    at: &mut Cursor,
    lane: &mut Lane<'_>,
    #[cfg_attr(
        not(feature = "testing"),
        expect(
            unused_variables,
            reason = "only the test build's fault injection reads it"
        )
    )]
    from: Position,
    events: &[Arc<store::RecordedEvent>],
) -> Result<Step, ProjectionError> {
    let Some(last) = events.last().map(|e| e.position) else {
        return Ok(Step::Idle);
    };
    let envelopes = parse_all(&[name], events)?;
    let to = last.to_bigint()?;
    let mut tx = lane.begin_derived().await?;
    let advanced = dbkit::with_backend!(tx.conn(), conn, S = Sql => S::advance(conn, name, at.generation, at.position, to, &now()).await)?;
    if !advanced {
        tx.rollback().await?;
        return Err(ProjectionError::LostRace(name));
    }
    shared
        .apply_in(
            &mut tx,
            &[Target {
                name,
                generation: at.generation,
                after: None,
                until: None,
            }],
            &envelopes,
        )
        .await?;
    #[cfg(feature = "testing")]
    inject_fault(shared, name, from, last).await?;
    // The advance announced the checkpoint (PostgreSQL), delivered with this commit.
    tx.commit().await?;
    at.position = to;
    shared.observe(name, at.generation, to);
    Ok(Step::Applied { caught_up: false })
}

/// The test hook (feature `testing`): a batch of `name` over `(from, to]` covering the
/// configured fault stalls or fails, after its documents are written and before its commit.
#[cfg(feature = "testing")]
pub(crate) async fn inject_fault(
    shared: &Shared,
    name: ProjectionName,
    from: Position,
    to: Position,
) -> Result<(), ProjectionError> {
    if let Some(fault) = &shared.options.fault
        && fault.projection == name
        && from < fault.at
        && fault.at <= to
    {
        match fault.action {
            FaultAction::Stall => std::future::pending::<()>().await,
            FaultAction::Fail => {
                return Err(ProjectionError::Poison {
                    projection: name,
                    position: fault.at,
                    message: "injected fault".into(),
                });
            }
        }
    }
    Ok(())
}

pub(crate) fn progress_of(
    names: &[ProjectionName],
    started: Instant,
    first: Position,
    position: Position,
    target: Position,
) -> Progress {
    let elapsed = started.elapsed();
    let events = position.get().saturating_sub(first.get());
    #[expect(
        clippy::cast_precision_loss,
        reason = "a count or a duration as f64 for a rate or a percentage: far below 2^52, where f64 is exact"
    )]
    let events_per_second = if elapsed.as_secs_f64() > 0.0 {
        events as f64 / elapsed.as_secs_f64()
    } else {
        0.0
    };
    #[expect(
        clippy::cast_precision_loss,
        reason = "a count or a duration as f64 for a rate or a percentage: far below 2^52, where f64 is exact"
    )]
    let remaining = (events_per_second > 0.0).then(|| {
        Duration::from_secs_f64(
            target.get().saturating_sub(position.get()) as f64 / events_per_second,
        )
    });
    Progress {
        projections: names.to_vec(),
        position,
        target: target.max(position),
        events,
        elapsed,
        events_per_second,
        remaining,
    }
}
