//! The runtime of a follower: a task that follows the log (or an outbox) from a checkpoint
//! of its own, one batch at a time. What every follower needs and only this module writes:
//!
//! * **Wake-ups.** A [`Signal`] is bumped whenever there may be work: by this process's
//!   commits ([`forward`]) and, on PostgreSQL, by every process's notifications ([`listen`],
//!   which reconnects and then wakes everything, since notifications sent meanwhile are lost).
//!   A follower also looks every `poll_interval` regardless, so a lost wake-up costs at most
//!   that long.
//! * **Leadership** ([`Leadership`]): at most one instance runs a follower with a key;
//!   others retry every `leader_retry` and take over within that when the leader's process
//!   dies.
//! * **Pause and stop**: a follower waits for a wake-up, its interval or the stop signal,
//!   whichever comes first, and stops between steps ([`Tasks::shutdown`]) or at once (drop).
//!
//! A follower keeps only its own step ([`Follower`]); [`run`] is the loop around it.

use std::time::Duration;

use sqlx::postgres::{PgConnection, PgListener};
use sqlx::{Connection as _, Postgres};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::connect::BEGIN_DERIVED;
use crate::lock::Leadership;
use crate::{Db, DbError, Pools, Tx};

/// "There may be work": a counter every waiter sees change.
#[derive(Debug, Clone)]
pub struct Signal(watch::Sender<u64>);

impl Default for Signal {
    fn default() -> Self {
        Self(watch::channel(0).0)
    }
}

impl Signal {
    pub fn wake(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// Waits for a wake-up, `timeout`, or the stop signal; true when stopping.
///
/// A wake-up channel whose [`Signal`] is gone wakes nobody: the pause then lasts `timeout`
/// (a closed channel's `changed()` is ready at once and for ever, and taking that for a
/// wake-up would make the follower step in a loop without pause).
pub async fn pause(
    wake: &mut watch::Receiver<u64>,
    stop: &mut watch::Receiver<bool>,
    timeout: Duration,
) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        Ok(()) = wake.changed() => false,
        () = tokio::time::sleep(timeout) => false,
        _ = stop.changed() => true,
    }
}

/// Calls `on_change` whenever `changes` changes (this process's commits, say), until its
/// sender is gone.
pub async fn forward<T>(mut changes: watch::Receiver<T>, on_change: impl Fn()) {
    while changes.changed().await.is_ok() {
        on_change();
    }
}

/// Listens on PostgreSQL `channels` with a connection of `pools`' read pool for as long as it
/// runs: `on_note(channel, payload)` for each notification, `on_gap()` whenever notifications
/// may have been missed (on connecting, and when the connection was lost). Reconnects after
/// `backoff` when listening fails. `who` names the listener in logs.
pub async fn listen(
    pools: &Pools<Postgres>,
    channels: &[&str],
    backoff: Duration,
    who: &str,
    mut on_note: impl FnMut(&str, &str),
    mut on_gap: impl FnMut(),
) {
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pools.read).await?;
            listener.listen_all(channels.iter().copied()).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listener.await {
            Ok(mut listener) => {
                on_gap();
                loop {
                    match listener.try_recv().await {
                        Ok(Some(note)) => on_note(note.channel(), note.payload()),
                        // The connection was lost and is being re-established.
                        Ok(None) => on_gap(),
                        Err(error) => {
                            tracing::warn!(%error, "{who}: notification listener failed");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "{who}: cannot listen for notifications"),
        }
        tokio::time::sleep(backoff).await;
    }
}

/// How often a follower looks, retries and backs off.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// A follower reads at least this often, whatever it was told.
    pub poll_interval: Duration,
    /// How often a non-leader tries to take over.
    pub leader_retry: Duration,
    /// How long to wait after an error before trying again.
    pub error_backoff: Duration,
}

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// It did work and there may be more (it read a full batch): step again at once.
    Worked,
    /// It did work and read all there was (less than a full batch): pause until woken or
    /// `poll_interval`, as after [`Step::Idle`]. A wake-up that came during the step ends the
    /// pause at once, so nothing committed meanwhile waits; what it saves is the step that
    /// would only have found nothing, a read per follower per wake-up.
    CaughtUp,
    /// Nothing to do: pause until woken or `poll_interval`.
    Idle,
}

/// What to do after a step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Step again at once (e.g. another instance moved the checkpoint: re-read it).
    Retry,
    /// Step again after `error_backoff`.
    Backoff,
    /// Stop for good (an event the follower cannot apply).
    Stop,
}

/// A follower's own part: its step and what it records. Each method gets the follower by
/// `&mut`, so it keeps its cursor in itself.
pub trait Follower: Send + 'static {
    type Error: std::fmt::Display + Send;

    /// Names the follower in logs.
    fn name(&self) -> String;

    /// This instance took (`true`) or lost (`false`) the lead: forget any cursor.
    fn led(&mut self, leading: bool);

    /// While another instance leads: look at its progress (optional).
    fn follow(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Taking the lead failed (the database is down, say).
    fn lead_failed(&mut self, error: crate::DbError);

    /// One step while leading; `lane` is where a leader writes.
    fn step(&mut self, lane: Lane<'_>) -> impl Future<Output = Result<Step, Self::Error>> + Send;

    /// The step failed: record it and say how to go on.
    fn failed(&mut self, error: Self::Error) -> impl Future<Output = Recovery> + Send;
}

/// Where a leading follower writes its step's transaction: on PostgreSQL the connection that
/// holds its lead, else (no leadership key, SQLite) a pooled one.
pub struct Lane<'a> {
    db: &'a Db,
    lead: Option<&'a mut PgConnection>,
}

impl Lane<'_> {
    /// [`Db::begin_derived`] on the lane's connection.
    pub async fn begin_derived(&mut self) -> Result<Tx<'_>, DbError> {
        match self.lead.as_deref_mut() {
            Some(conn) => Ok(Tx::Postgres(conn.begin_with(BEGIN_DERIVED).await?)),
            None => self.db.begin_derived().await,
        }
    }

    /// [`Db::begin_write`] on the lane's connection.
    pub async fn begin_write(&mut self) -> Result<Tx<'_>, DbError> {
        match self.lead.as_deref_mut() {
            Some(conn) => Ok(Tx::Postgres(conn.begin().await?)),
            None => self.db.begin_write().await,
        }
    }
}

/// Runs `follower` until `stop` is set: leads (when `key` is given, one instance at a time),
/// steps, pauses when idle and backs off after errors, stopping only between steps.
pub async fn run<F: Follower>(
    mut follower: F,
    db: Db,
    key: Option<i64>,
    timing: Timing,
    mut wake: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let mut lead = key.map(Leadership::new);
    loop {
        if *stop.borrow() {
            break;
        }
        if let Some(lead) = &mut lead {
            if !lead.is_leading() {
                match lead.try_take(&db).await {
                    Ok(true) => {
                        tracing::info!("{}: leading", follower.name());
                        follower.led(true);
                    }
                    Ok(false) => {
                        follower.follow().await;
                        if pause(&mut wake, &mut stop, timing.leader_retry).await {
                            break;
                        }
                        continue;
                    }
                    Err(error) => {
                        lead.reset();
                        follower.lead_failed(error);
                        if pause(&mut wake, &mut stop, timing.error_backoff).await {
                            break;
                        }
                        continue;
                    }
                }
            }
            if !lead.still_held().await {
                tracing::warn!("{}: lost the leadership connection", follower.name());
                follower.led(false);
                continue;
            }
        }
        let lane = Lane {
            db: &db,
            lead: lead.as_mut().and_then(Leadership::connection),
        };
        match follower.step(lane).await {
            Ok(Step::Worked) => {}
            Ok(Step::Idle | Step::CaughtUp) => {
                if pause(&mut wake, &mut stop, timing.poll_interval).await {
                    break;
                }
            }
            Err(error) => {
                if let Some(lead) = &mut lead {
                    lead.doubt();
                }
                match follower.failed(error).await {
                    Recovery::Retry => {}
                    Recovery::Backoff => {
                        if pause(&mut wake, &mut stop, timing.error_backoff).await {
                            break;
                        }
                    }
                    Recovery::Stop => break,
                }
            }
        }
    }
}

/// A set of background tasks that stop together: followers, which stop between steps on
/// [`Tasks::shutdown`], and wakers, which are aborted. Dropping it aborts everything at once.
#[derive(Debug)]
pub struct Tasks {
    stop: watch::Sender<bool>,
    wakers: Vec<JoinHandle<()>>,
    followers: Vec<JoinHandle<()>>,
}

impl Default for Tasks {
    fn default() -> Self {
        Self {
            stop: watch::channel(false).0,
            wakers: Vec::new(),
            followers: Vec::new(),
        }
    }
}

impl Tasks {
    /// The stop signal the followers watch.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Spawns a task that only turns events into wake-ups.
    pub fn spawn_waker(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.wakers.push(tokio::spawn(task));
    }

    /// Spawns a task that stops by itself once [`Tasks::stopping`] says so.
    pub fn spawn_follower(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.followers.push(tokio::spawn(task));
    }

    /// How many followers run.
    pub fn followers(&self) -> usize {
        self.followers.len()
    }

    /// Sets the stop signal and waits for every follower to finish its step.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.followers) {
            let _ = task.await;
        }
    }

    /// Stops everything at once, as a crash would, and returns when no task runs any more:
    /// each is dropped where it stood, without finishing its step, and with it whatever it
    /// owns (a dispatcher's in-flight attempts are aborted as its set of them is dropped).
    /// Dropping a `Tasks` aborts the same tasks but returns at once, while a task that was
    /// just woken may still be running its step on another thread.
    pub async fn abort(mut self) {
        let _ = self.stop.send(true);
        let tasks: Vec<JoinHandle<()>> = self
            .wakers
            .drain(..)
            .chain(self.followers.drain(..))
            .collect();
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in self.wakers.iter().chain(&self.followers) {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Does `work` steps of work, then is idle; fails once at step `fail_at`.
    struct Counter {
        steps: Arc<AtomicU32>,
        work: u32,
        fail_at: Option<u32>,
        failures: Arc<AtomicU32>,
    }

    impl Follower for Counter {
        type Error = String;
        fn name(&self) -> String {
            "counter".into()
        }
        fn led(&mut self, _: bool) {}
        fn lead_failed(&mut self, _: crate::DbError) {}
        async fn step(&mut self, _: Lane<'_>) -> Result<Step, String> {
            let n = self.steps.fetch_add(1, Ordering::SeqCst) + 1;
            if self.fail_at == Some(n) {
                return Err("injected".into());
            }
            Ok(if n <= self.work {
                Step::Worked
            } else {
                Step::Idle
            })
        }
        async fn failed(&mut self, _: String) -> Recovery {
            self.failures.fetch_add(1, Ordering::SeqCst);
            Recovery::Backoff
        }
    }

    fn timing() -> Timing {
        Timing {
            poll_interval: Duration::from_secs(3600),
            leader_retry: Duration::from_secs(3600),
            error_backoff: Duration::from_millis(1),
        }
    }

    async fn sqlite() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let db = crate::connect(
            path.to_str().unwrap(),
            &crate::PoolPolicy::new("the test", 2, Duration::from_secs(5)),
        )
        .await
        .unwrap();
        (dir, db)
    }

    /// Sets its flag when dropped: tells when a task's future is gone.
    struct DropFlag(Arc<std::sync::atomic::AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Spawns a follower and a waker that each hold a [`DropFlag`] and never finish.
    fn never_finishing(tasks: &mut Tasks) -> [Arc<std::sync::atomic::AtomicBool>; 2] {
        let flags = [(); 2].map(|()| Arc::new(std::sync::atomic::AtomicBool::new(false)));
        let held = flags.clone().map(DropFlag);
        let [follower, waker] = held;
        tasks.spawn_follower(async move {
            let _held = follower;
            std::future::pending::<()>().await;
        });
        tasks.spawn_waker(async move {
            let _held = waker;
            std::future::pending::<()>().await;
        });
        flags
    }

    /// `abort` returns only once every task is gone (what a test of a crash needs before it
    /// looks); dropping the set returns before the runtime has dropped them.
    #[tokio::test(flavor = "current_thread")]
    async fn abort_returns_once_every_task_is_gone_and_dropping_does_not_wait() {
        let mut tasks = Tasks::default();
        let flags = never_finishing(&mut tasks);
        tokio::task::yield_now().await;
        tasks.abort().await;
        assert!(
            flags.iter().all(|f| f.load(Ordering::SeqCst)),
            "gone on return"
        );

        let mut dropped = Tasks::default();
        let flags = never_finishing(&mut dropped);
        tokio::task::yield_now().await;
        drop(dropped);
        assert!(
            !flags.iter().any(|f| f.load(Ordering::SeqCst)),
            "still there: the runtime has not run since"
        );
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(flags.iter().all(|f| f.load(Ordering::SeqCst)), "gone later");
    }

    /// A follower whose wake-ups come from nowhere (its `Signal` dropped, as a timed one's)
    /// steps once per `poll_interval`, not in a loop.
    #[tokio::test]
    async fn a_follower_without_wake_ups_steps_once_per_poll_interval() {
        let (_dir, db) = sqlite().await;
        let steps = Arc::new(AtomicU32::new(0));
        let mut tasks = Tasks::default();
        tasks.spawn_follower(run(
            Counter {
                steps: steps.clone(),
                work: 0,
                fail_at: None,
                failures: Arc::new(AtomicU32::new(0)),
            },
            db,
            None,
            Timing {
                poll_interval: Duration::from_millis(100),
                ..timing()
            },
            Signal::default().subscribe(),
            tasks.stopping(),
        ));
        tokio::time::sleep(Duration::from_millis(450)).await;
        let stepped = steps.load(Ordering::SeqCst);
        assert!(
            (3..=6).contains(&stepped),
            "{stepped} steps in 450 ms at one per 100 ms"
        );
        tokio::time::timeout(Duration::from_secs(5), tasks.shutdown())
            .await
            .expect("it stops");
    }

    #[tokio::test]
    async fn a_follower_works_until_idle_then_waits_for_a_wake_up_and_stops_between_steps() {
        let (_dir, db) = sqlite().await;
        let steps = Arc::new(AtomicU32::new(0));
        let failures = Arc::new(AtomicU32::new(0));
        let signal = Signal::default();
        let mut tasks = Tasks::default();
        tasks.spawn_follower(run(
            Counter {
                steps: steps.clone(),
                work: 3,
                fail_at: Some(2),
                failures: failures.clone(),
            },
            db,
            Some(crate::lock::key("test")),
            timing(),
            signal.subscribe(),
            tasks.stopping(),
        ));
        let until = |n: u32| {
            let steps = steps.clone();
            async move {
                while steps.load(Ordering::SeqCst) < n {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        };
        // Steps 1 and 3 work, 2 fails and is retried after the backoff, 4 is idle.
        tokio::time::timeout(Duration::from_secs(5), until(4))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(steps.load(Ordering::SeqCst), 4, "idle until woken");
        assert_eq!(failures.load(Ordering::SeqCst), 1);
        signal.wake();
        tokio::time::timeout(Duration::from_secs(5), until(5))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), tasks.shutdown())
            .await
            .expect("an idle follower stops at once");
    }
}
