//! The projector runtime: one task per projection that follows the log from its durable
//! checkpoint, leadership across instances, wake-ups, read-your-writes, status.
//!
//! # Exactly once
//! A batch is `read_all(after = checkpoint)`; then, in ONE write transaction: move the
//! checkpoint with a compare-and-set on the registry row (`generation` and `position` must
//! still be what this projector read, which also takes the row lock), load the state
//! documents the batch touches, fold the events in, write the changed states and rows, and
//! commit. A crash anywhere before the commit leaves documents and checkpoint as they were;
//! after it, both have moved. Nothing is applied twice and nothing is skipped, because the
//! next batch starts where the committed checkpoint says.
//!
//! # Leadership
//! On PostgreSQL each projection runs in one instance at a time: its task holds
//! `pg_try_advisory_lock(key)` on a connection of its own for as long as it leads. When that
//! process dies the connection dies with it, the lock is released, and another instance's
//! task, retrying every `leader_retry`, takes over within seconds. Should two instances ever
//! project at once (a leader whose connection died mid-batch), the compare-and-set lets only
//! one of them commit each range. SQLite is one process: always the leader. (Each
//! projection's leadership, held or sought, keeps one connection of its own: seven per
//! instance, outside the pool.)
//!
//! # Wake-ups
//! Projectors wake on this process's commits (`EventStore::subscribe`), on PostgreSQL also on
//! every process's (`LISTEN anslut_events`), and poll every `poll_interval` regardless, so a
//! lost notification costs at most that long.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use cqrs_es::Aggregate as _;
use domain::catalogue::CatalogueRegistry;
use domain::ids::DataSubjectId;
use domain::subject::DataSubject;
use serde::Serialize;
use sqlx::postgres::{PgConnection, PgListener};
use sqlx::{Connection, Row as _};
use store::{EventStore, NOTIFY_CHANNEL, Position};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::ProjectionError;
use crate::event::{self, DomainEvent, Envelope};
use crate::model::{Context, Row, instant, rows_table, state_table};
use crate::name::ProjectionName;
use crate::personal::erase_personal;
use crate::read_models::{ReadModels, projector};
use crate::sql::{Db, PROJECTIONS_CHANNEL, PoolSizes, Tx, on_tx};

/// Tuning and inputs of the projections.
#[derive(Clone)]
pub struct ProjectionOptions {
    /// The catalogues the read models judge cases against (blockers, compliance rows, prices):
    /// the same registry the domain decides with.
    pub catalogues: Arc<CatalogueRegistry>,
    /// Events per live batch (one transaction each).
    pub batch_size: u64,
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
    /// Bumped whenever the log may have grown.
    log_moved: watch::Sender<u64>,
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
        let position = Position(u64::try_from(position).unwrap_or_default());
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
        self.log_moved.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Folds `events` into each target's tables inside `tx`: loads the touched states, runs
    /// the pure functions, writes what changed. Returns how many events were folded.
    pub async fn apply_in(
        &self,
        tx: &mut Tx,
        targets: &[Target],
        events: &[Envelope],
    ) -> Result<u64, ProjectionError> {
        let ctx = self.ctx();
        let mut folded = 0;
        for target in targets {
            let projector = projector(target.name);
            let mut partitions: HashMap<String, Vec<&Envelope>> = HashMap::new();
            let mut order: Vec<String> = Vec::new();
            let mut forgotten: Vec<DataSubjectId> = Vec::new();
            for event in events
                .iter()
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
            let states_table = state_table(target.name, target.generation);
            let rows_table = rows_table(target.name, target.generation);
            if order.is_empty() {
                erase_in(tx, &[&rows_table, &states_table], &forgotten).await?;
                continue;
            }
            let columns = projector.columns();
            let loaded = on_tx!(tx, conn, S => S::load_states(conn, &states_table, &order).await)?;
            let mut states = Vec::new();
            let mut upserts = Vec::new();
            let mut deletes = Vec::new();
            for key in &order {
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
            tx.upsert(&states_table, &[], &states).await?;
            on_tx!(&mut *tx, conn, S => S::delete(conn, &rows_table, &deletes).await)?;
            tx.upsert(&rows_table, columns, &upserts).await?;
            // After the batch's documents are written, so that what an earlier event of the
            // batch wrote of a subject forgotten later in it is erased too.
            erase_in(tx, &[&rows_table, &states_table], &forgotten).await?;
        }
        Ok(folded)
    }
}

/// Rewrites every document of `tables` that holds personal data of one of `subjects` to the
/// erased form. Returns how many documents changed.
async fn erase_in(
    tx: &mut Tx,
    tables: &[&str],
    subjects: &[DataSubjectId],
) -> Result<u64, ProjectionError> {
    let mut count = 0_u64;
    for subject in subjects {
        let needle = subject.to_string();
        for table in tables {
            count += on_tx!(&mut *tx, conn, S => {
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
    /// Fold only events up to here (verify's scratch copy stops at the live checkpoint).
    pub until: Option<Position>,
}

/// Parses the events of a page that any of `names` follows; an unreadable one is poison for
/// the first of them that follows its stream type.
pub(crate) fn parse_all(
    names: &[ProjectionName],
    events: Vec<store::RecordedEvent>,
) -> Result<Vec<Envelope>, ProjectionError> {
    let mut parsed = Vec::with_capacity(events.len());
    for stored in events {
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
        let db = Db::connect(
            database_url,
            PoolSizes {
                max_connections: options.max_connections,
                acquire_timeout: options.acquire_timeout,
            },
        )
        .await?;
        if db.is_postgres() != store.is_postgres() {
            return Err(ProjectionError::Invalid(
                "the read models must live in the store's database".into(),
            ));
        }
        let mut tx = db.begin_write().await?;
        tx.lock_setup().await?;
        on_tx!(&mut tx, conn, S => {
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
            log_moved: watch::channel(0).0,
        });
        for row in registry {
            shared.observe(row.name, row.generation, row.position);
        }
        Ok(Self { shared })
    }

    /// Starts one projector task per projection, and the wake-up tasks. Dropping the handle
    /// (or [`ProjectionsHandle::shutdown`]) stops them and gives up leadership.
    pub fn start(&self) -> ProjectionsHandle {
        let (stop, stopped) = watch::channel(false);
        let shared = self.shared.clone();
        let mut local = shared.store.subscribe();
        let forward = shared.clone();
        let mut wakers = vec![tokio::spawn(async move {
            while local.changed().await.is_ok() {
                forward.wake_all();
            }
        })];
        if shared.db.is_postgres() {
            wakers.push(tokio::spawn(listen(shared.clone())));
        }
        let mut projectors = Vec::new();
        for name in ProjectionName::ALL {
            shared.set_local(name, |local| local.activity = Activity::Following);
            projectors.push(tokio::spawn(run(shared.clone(), name, stopped.clone())));
        }
        ProjectionsHandle {
            projections: self.clone(),
            stop,
            wakers,
            projectors,
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
            let checkpoint = Position(u64::try_from(row.position).unwrap_or_default());
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
                _ if self.shared.db.lock_held_by_anyone(row.name).await? => Leader::Elsewhere,
                _ => Leader::Nobody,
            };
            statuses.push(ProjectionStatus {
                name: row.name,
                schema_version: projector(row.name).schema_version(),
                stored_schema_version: u32::try_from(row.schema_version).unwrap_or_default(),
                generation: u64::try_from(row.generation).unwrap_or_default(),
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

    /// Rewrites every live document holding personal data of `subject` to the erased form.
    /// Returns how many documents changed. Each projection's rewrite holds its registry row
    /// lock, so it cannot interleave with a batch that loaded the old document.
    pub async fn erase_subject(&self, subject: DataSubjectId) -> Result<u64, ProjectionError> {
        let mut changed = 0;
        for name in ProjectionName::ALL {
            let mut tx = self.shared.db.begin_write().await?;
            let row = on_tx!(&mut tx, conn, S => S::registry_row(&mut *conn, name, true).await)?;
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
    stop: watch::Sender<bool>,
    /// The tasks that turn commits and notifications into wake-ups.
    wakers: Vec<JoinHandle<()>>,
    /// One per projection.
    projectors: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for ProjectionsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionsHandle")
            .field("projectors", &self.projectors.len())
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
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.projectors) {
            let _ = task.await;
        }
    }
}

impl Drop for ProjectionsHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in self.wakers.iter().chain(&self.projectors) {
            task.abort();
        }
        for name in ProjectionName::ALL {
            self.projections.shared.set_local(name, |local| {
                local.activity = Activity::NotRunning;
                local.leading = false;
            });
        }
    }
}

/// Wake-ups from other processes (PostgreSQL): appends on the store's channel, checkpoints
/// and swaps on the projections' channel. Reconnects on failure and then wakes everything,
/// since notifications sent meanwhile are lost.
async fn listen(shared: Arc<Shared>) {
    let Db::Postgres(engine) = &shared.db else {
        return;
    };
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&engine.read).await?;
            listener
                .listen_all([NOTIFY_CHANNEL, PROJECTIONS_CHANNEL])
                .await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listener.await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "projections: cannot listen for notifications");
                tokio::time::sleep(shared.options.error_backoff).await;
                continue;
            }
        };
        shared.wake_all();
        loop {
            match listener.try_recv().await {
                Ok(Some(note)) if note.channel() == PROJECTIONS_CHANNEL => {
                    let mut parts = note.payload().split(':');
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
                }
                Ok(Some(_)) => shared.wake_all(),
                Ok(None) => {
                    // The connection was lost and is being re-established.
                    shared.wake_all();
                }
                Err(error) => {
                    tracing::warn!(%error, "projections: notification listener failed");
                    break;
                }
            }
        }
        tokio::time::sleep(shared.options.error_backoff).await;
    }
}

/// A projection's leadership: on PostgreSQL a connection that holds (or tries for) the
/// advisory lock; on SQLite nothing to hold.
enum Lead {
    Postgres(PgConnection),
    Sqlite,
}

impl Lead {
    /// Takes the projection's leadership if it is free.
    async fn try_take(
        shared: &Shared,
        name: ProjectionName,
        candidate: &mut Option<PgConnection>,
    ) -> Result<Option<Self>, ProjectionError> {
        let Db::Postgres(engine) = &shared.db else {
            return Ok(Some(Self::Sqlite));
        };
        let mut conn = match candidate.take() {
            Some(conn) => conn,
            None => PgConnection::connect_with(&engine.write.connect_options()).await?,
        };
        let taken: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(name.lock_key())
            .fetch_one(&mut conn)
            .await?
            .try_get(0)?;
        if taken {
            Ok(Some(Self::Postgres(conn)))
        } else {
            *candidate = Some(conn);
            Ok(None)
        }
    }

    /// Whether the lock is still ours: its connection still answers.
    async fn still_held(&mut self) -> bool {
        match self {
            Self::Postgres(conn) => conn.ping().await.is_ok(),
            Self::Sqlite => true,
        }
    }
}

/// Where a leading projector is.
struct Cursor {
    generation: i64,
    position: i64,
}

enum Step {
    Applied,
    Idle,
}

/// Waits for a wake-up, `timeout`, or the stop signal; true when stopping.
async fn pause(
    wake: &mut watch::Receiver<u64>,
    stop: &mut watch::Receiver<bool>,
    timeout: Duration,
) -> bool {
    tokio::select! {
        _ = wake.changed() => false,
        () = tokio::time::sleep(timeout) => false,
        _ = stop.changed() => true,
    }
}

/// One projection's task: lead or follow, then project batch after batch.
async fn run(shared: Arc<Shared>, name: ProjectionName, mut stop: watch::Receiver<bool>) {
    let mut wake = shared.log_moved.subscribe();
    let mut lead: Option<Lead> = None;
    let mut candidate: Option<PgConnection> = None;
    let mut cursor: Option<Cursor> = None;
    let options = shared.options.clone();
    loop {
        if *stop.borrow() {
            break;
        }
        if lead.is_none() {
            match Lead::try_take(&shared, name, &mut candidate).await {
                Ok(Some(taken)) => {
                    tracing::info!(projection = %name, "leading");
                    lead = Some(taken);
                    cursor = None;
                    shared.set_local_unless(name, Some(&stop), |l| {
                        l.leading = true;
                        l.activity = Activity::Projecting;
                    });
                }
                Ok(None) => {
                    if let Ok(row) = shared.db.registry_row(name).await {
                        shared.observe(name, row.generation, row.position);
                    }
                    if pause(&mut wake, &mut stop, options.leader_retry).await {
                        break;
                    }
                    continue;
                }
                Err(error) => {
                    candidate = None;
                    shared.set_local_unless(name, Some(&stop), |l| {
                        l.last_error = Some(error.to_string());
                    });
                    if pause(&mut wake, &mut stop, options.error_backoff).await {
                        break;
                    }
                    continue;
                }
            }
        }
        if let Some(held) = &mut lead
            && !held.still_held().await
        {
            tracing::warn!(projection = %name, "lost the leadership connection");
            lead = None;
            shared.set_local_unless(name, Some(&stop), |l| {
                l.leading = false;
                l.activity = Activity::Following;
            });
            continue;
        }
        let result = match &mut cursor {
            None => prepare(&shared, name).await.map(|ready| {
                cursor = Some(ready);
                Step::Applied
            }),
            Some(at) => step(&shared, name, at).await,
        };
        match result {
            Ok(Step::Applied) => {
                shared.set_local_unless(name, Some(&stop), |l| {
                    l.last_error = None;
                    l.activity = Activity::Projecting;
                });
            }
            Ok(Step::Idle) => {
                if pause(&mut wake, &mut stop, options.poll_interval).await {
                    break;
                }
            }
            Err(ProjectionError::LostRace(_)) => cursor = None,
            Err(error @ ProjectionError::Poison { .. }) => {
                tracing::error!(projection = %name, %error, "projector stopped");
                shared.set_local_unless(name, Some(&stop), |l| {
                    l.last_error = Some(error.to_string());
                    l.activity = Activity::Stopped;
                    l.leading = false;
                });
                if let Ok(mut tx) = shared.db.begin_write().await {
                    let recorded = on_tx!(&mut tx, conn, S => S::set_error(conn, name, Some(error.to_string())).await);
                    if recorded.is_ok() {
                        let _ = tx.commit().await;
                    }
                }
                break;
            }
            Err(error) => {
                tracing::warn!(projection = %name, %error, "projector batch failed; retrying");
                cursor = None;
                shared.set_local_unless(name, Some(&stop), |l| {
                    l.last_error = Some(error.to_string());
                });
                if pause(&mut wake, &mut stop, options.error_backoff).await {
                    break;
                }
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
) -> Result<Step, ProjectionError> {
    let from = Position(u64::try_from(at.position).unwrap_or_default());
    let mut events = shared
        .store
        .read_all(from, shared.options.batch_size.max(1))
        .await?;
    let mut poison = None;
    loop {
        match commit_batch(shared, name, at, from, events.clone()).await {
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
    #[cfg_attr(
        not(feature = "testing"),
        expect(
            unused_variables,
            reason = "only the test build's fault injection reads it"
        )
    )]
    from: Position,
    events: Vec<store::RecordedEvent>,
) -> Result<Step, ProjectionError> {
    let Some(last) = events.last().map(|e| e.position) else {
        return Ok(Step::Idle);
    };
    let envelopes = parse_all(&[name], events)?;
    let to = i64::try_from(last.get()).unwrap_or(i64::MAX);
    let mut tx = shared.db.begin_write().await?;
    let advanced = on_tx!(&mut tx, conn, S => S::advance(conn, name, at.generation, at.position, to, &now()).await)?;
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
                until: None,
            }],
            &envelopes,
        )
        .await?;
    #[cfg(feature = "testing")]
    if let Some(fault) = &shared.options.fault
        && fault.projection == name
        && from < fault.at
        && fault.at <= last
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
    tx.notify(format!("{name}:{}:{to}", at.generation)).await?;
    tx.commit().await?;
    at.position = to;
    shared.observe(name, at.generation, to);
    Ok(Step::Applied)
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
