//! Rounds: the projectors this process leads apply new events together, in one transaction.
//!
//! A commit wakes every projector at once, and each would otherwise open a transaction of its
//! own for the same few events (BEGIN, move its checkpoint, load its states, write, COMMIT):
//! seven transactions per command. In a round the first projector ready to step (the
//! carrier) lets the others woken with it join (a few yields of its task), reads the new
//! events once, and in ONE transaction on its own lane moves every member's checkpoint (one
//! statement, a compare-and-set per member, [`sql::advance_all`]), folds each member's events
//! into its tables and commits. Each member's part is exactly the batch it would have taken
//! alone (the events after its own checkpoint, up to the same end), so exactly-once holds
//! member by member as it does for a projector alone.
//!
//! A round that fails in any way — an event a member cannot apply, a checkpoint another
//! instance moved, a database error, or no commit within `round_timeout` — commits nothing,
//! and each member takes its next batch alone ([`crate::runtime`]'s own step), where poison,
//! lost races and backoff are handled per projection. A member rejoins rounds once a batch of
//! its own succeeded. So a projection that cannot go on holds the others back for at most one
//! `round_timeout`, and stops alone.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use dbkit::BigInt as _;
use dbkit::follower::Lane;
use store::Position;
use tokio::sync::{Notify, oneshot};

use crate::error::ProjectionError;
use crate::name::ProjectionName;
use crate::runtime::{Shared, Target, now, parse_all};
use crate::sql::{self, Advance};

/// How long a carrier waits, at most, for the projectors that take part in rounds to join
/// its round; it carries as soon as all of them did. (Those it misses are usually finishing
/// the previous round, and carry the next one.)
const GATHER_WAIT: Duration = Duration::from_millis(1);

/// The round being gathered, if any, who takes part in rounds, and what rounds did so far.
#[derive(Default)]
pub(crate) struct Rounds {
    open: Mutex<Option<Vec<Member>>>,
    /// Someone joined the open round.
    joined: Notify,
    /// The projectors that took part in a round and have not left rounds since (by going
    /// alone, losing the lead or stopping): the members a carrier waits for.
    taking_part: Mutex<BTreeSet<ProjectionName>>,
    carried: AtomicU64,
    members: AtomicU64,
    failed: AtomicU64,
}

/// What this process's rounds did since it started ([`crate::Projections::rounds`]): the
/// average of members per round says how much the rounds save (seven is every projection
/// in every round), failures how often the members had to go alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RoundCounts {
    /// Rounds carried (each one transaction, or none when no member had anything to do).
    pub rounds: u64,
    /// Members summed over those rounds.
    pub members: u64,
    /// Rounds that committed nothing, after which their members went alone.
    pub failed: u64,
}

impl Rounds {
    pub(crate) fn counts(&self) -> RoundCounts {
        RoundCounts {
            rounds: self.carried.load(Ordering::Relaxed),
            members: self.members.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// Whether every projector taking part in rounds joined the open one.
    fn complete(&self) -> bool {
        let joined = self
            .open
            .lock()
            .expect("rounds poisoned")
            .as_ref()
            .map_or(0, Vec::len);
        joined >= self.taking_part.lock().expect("rounds poisoned").len()
    }

    /// `name` no longer takes part in rounds (it goes alone, lost the lead, or stopped):
    /// carriers stop waiting for it.
    pub(crate) fn leave(&self, name: ProjectionName) {
        self.taking_part
            .lock()
            .expect("rounds poisoned")
            .remove(&name);
    }

    fn close(&self) -> Vec<Member> {
        self.open
            .lock()
            .expect("rounds poisoned")
            .take()
            .unwrap_or_default()
    }
}

/// A projector in a round: where it stands, and where its outcome goes (none for the
/// carrier, which keeps its own).
struct Member {
    name: ProjectionName,
    generation: i64,
    position: i64,
    reply: Option<oneshot::Sender<Outcome>>,
}

/// What a round did for one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Its checkpoint moved to `position` (committed); `caught_up` when the round read all
    /// there was.
    Applied { position: i64, caught_up: bool },
    /// Nothing after its checkpoint in what the round read; `caught_up` as above.
    Nothing { caught_up: bool },
    /// The round committed nothing: take the next batch alone.
    Failed,
}

/// Closes the round if its carrier is dropped while gathering, so that nobody waits on a
/// round nobody carries (their replies are dropped: [`Outcome::Failed`]).
struct Gathering<'a>(Option<&'a Rounds>);

impl Gathering<'_> {
    fn close(mut self) -> Vec<Member> {
        self.0.take().map_or_else(Vec::new, Rounds::close)
    }
}

impl Drop for Gathering<'_> {
    fn drop(&mut self) {
        if let Some(rounds) = self.0.take() {
            drop(rounds.close());
        }
    }
}

/// One step of projection `name`, standing at `generation`/`position`, in a round: joins the
/// round being gathered, or gathers and carries one on `lane`.
pub(crate) async fn step(
    shared: &Shared,
    name: ProjectionName,
    generation: i64,
    position: i64,
    lane: &mut Lane<'_>,
) -> Outcome {
    shared
        .rounds
        .taking_part
        .lock()
        .expect("rounds poisoned")
        .insert(name);
    let waiting = {
        let mut open = shared.rounds.open.lock().expect("rounds poisoned");
        let (reply, waiting) = match open.as_ref() {
            Some(_) => {
                let (reply, waiting) = oneshot::channel();
                (Some(reply), Some(waiting))
            }
            None => (None, None),
        };
        open.get_or_insert_with(Vec::new).push(Member {
            name,
            generation,
            position,
            reply,
        });
        waiting
    };
    shared.rounds.joined.notify_waiters();
    if let Some(waiting) = waiting {
        return waiting.await.unwrap_or(Outcome::Failed);
    }
    let gathering = Gathering(Some(&shared.rounds));
    let deadline = tokio::time::Instant::now() + GATHER_WAIT;
    loop {
        // Created before the check, so that a join after it is not missed.
        let joined = shared.rounds.joined.notified();
        if shared.rounds.complete() || tokio::time::timeout_at(deadline, joined).await.is_err() {
            break;
        }
    }
    let members = gathering.close();
    let rounds = &shared.rounds;
    rounds.carried.fetch_add(1, Ordering::Relaxed);
    rounds.members.fetch_add(
        u64::try_from(members.len()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    let outcomes = match tokio::time::timeout(
        shared.options.round_timeout,
        carry(shared, &members, lane),
    )
    .await
    {
        Ok(Ok(outcomes)) => outcomes,
        Ok(Err(error)) => {
            tracing::info!(%error, members = members.len(), "projection round failed: each member goes alone");
            vec![Outcome::Failed; members.len()]
        }
        Err(_) => {
            tracing::warn!(
                timeout = ?shared.options.round_timeout,
                members = members.len(),
                "projection round did not finish in time: each member goes alone"
            );
            vec![Outcome::Failed; members.len()]
        }
    };
    if outcomes.first() == Some(&Outcome::Failed) {
        rounds.failed.fetch_add(1, Ordering::Relaxed);
    }
    let mut mine = Outcome::Failed;
    for (member, outcome) in members.into_iter().zip(outcomes) {
        match member.reply {
            Some(reply) => {
                let _ = reply.send(outcome);
            }
            None => mine = outcome,
        }
    }
    mine
}

/// Reads once from the least advanced member, and applies each member's part in one
/// transaction. Returns the members' outcomes in their order.
async fn carry(
    shared: &Shared,
    members: &[Member],
    lane: &mut Lane<'_>,
) -> Result<Vec<Outcome>, ProjectionError> {
    let Some(from) = members.iter().map(|m| m.position).min() else {
        return Ok(Vec::new());
    };
    let batch = shared.options.batch_size.max(1);
    let events = shared
        .store
        .read_tail(Position::from_bigint(from)?, batch)
        .await?;
    let caught_up = u64::try_from(events.len()).is_ok_and(|read| read < batch);
    let to = match events.last() {
        Some(last) => last.position.to_bigint()?,
        None => from,
    };
    let working: Vec<&Member> = members.iter().filter(|m| m.position < to).collect();
    let outcome = |member: &Member| {
        if member.position < to {
            Outcome::Applied {
                position: to,
                caught_up,
            }
        } else {
            Outcome::Nothing { caught_up }
        }
    };
    if working.is_empty() {
        return Ok(members.iter().map(outcome).collect());
    }
    let names: Vec<ProjectionName> = working.iter().map(|m| m.name).collect();
    let envelopes = parse_all(&names, &events)?;
    let moves: Vec<Advance> = working
        .iter()
        .map(|m| Advance {
            name: m.name,
            generation: m.generation,
            from: m.position,
        })
        .collect();
    let mut targets = Vec::with_capacity(working.len());
    for member in &working {
        targets.push(Target {
            name: member.name,
            generation: member.generation,
            after: Some(Position::from_bigint(member.position)?),
            until: None,
        });
    }
    let mut tx = lane.begin_derived().await?;
    let moved = sql::advance_all(&mut tx, &moves, to, &now()).await?;
    if let Some(lost) = names.iter().find(|name| !moved.contains(name)) {
        tx.rollback().await?;
        return Err(ProjectionError::LostRace(*lost));
    }
    shared.apply_in(&mut tx, &targets, &envelopes).await?;
    #[cfg(feature = "testing")]
    for member in &working {
        crate::runtime::inject_fault(
            shared,
            member.name,
            Position::from_bigint(member.position)?,
            Position::from_bigint(to)?,
        )
        .await?;
    }
    // The advance announced the checkpoints (PostgreSQL), delivered with this commit.
    tx.commit().await?;
    for member in &working {
        shared.observe(member.name, member.generation, to);
    }
    Ok(members.iter().map(outcome).collect())
}
