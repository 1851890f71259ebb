//! Advisory locks: their keys, who holds one, and leadership of a follower across instances.

use std::time::{Duration, Instant};

use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Row as _};

use crate::connect::Db;
use crate::error::DbError;

/// The advisory-lock key of a name: FNV-1a of its bytes, so that every instance derives the
/// same key from the same name (`anslut.webhooks.outbox`, `anslut.projection.staff`, ...).
pub const fn key(name: &str) -> i64 {
    let bytes = name.as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Leadership of one follower among instances. On PostgreSQL a session-level advisory lock
/// held on a connection of its own, outside the pools, for as long as this instance leads:
/// when the process dies the connection dies with it, the lock is released, and another
/// instance's [`Leadership::try_take`] succeeds. SQLite is one process: always the leader.
pub struct Leadership {
    key: i64,
    state: State,
}

enum State {
    /// Not leading; the connection that asked is kept for the next try.
    Seeking(Option<PgConnection>),
    Leading(Lead),
}

enum Lead {
    /// The connection holding the session lock, and when it last answered.
    Postgres(PgConnection, Instant),
    Sqlite,
}

/// How long a lead is taken as held after its connection last answered, before
/// [`Leadership::still_held`] asks again. The followers' writes do not rely on it (each
/// advances its checkpoint only from where it read it, so a second leader loses the race);
/// the ping only finds a lost lead early, and once per step would cost a round trip per
/// follower per commit under load.
const PING_EVERY: Duration = Duration::from_secs(1);

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("key", &self.key)
            .field("leading", &self.is_leading())
            .finish_non_exhaustive()
    }
}

impl Leadership {
    pub fn new(key: i64) -> Self {
        Self {
            key,
            state: State::Seeking(None),
        }
    }

    pub fn is_leading(&self) -> bool {
        matches!(self.state, State::Leading(_))
    }

    /// Takes the lead if it is free; true when this instance leads (now or already).
    pub async fn try_take(&mut self, db: &Db) -> Result<bool, DbError> {
        let State::Seeking(candidate) = &mut self.state else {
            return Ok(true);
        };
        let Db::Postgres(pools) = db else {
            self.state = State::Leading(Lead::Sqlite);
            return Ok(true);
        };
        let mut conn = match candidate.take() {
            Some(conn) => conn,
            None => PgConnection::connect_with(&pools.write.connect_options()).await?,
        };
        let taken: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(self.key)
            .fetch_one(&mut conn)
            .await?
            .try_get(0)?;
        self.state = if taken {
            State::Leading(Lead::Postgres(conn, Instant::now()))
        } else {
            State::Seeking(Some(conn))
        };
        Ok(taken)
    }

    /// Whether the lead is still this instance's: its connection answered within
    /// [`PING_EVERY`], or answers now. When it does not, the lead is given up (the lock went
    /// with the connection) and false returned.
    pub async fn still_held(&mut self) -> bool {
        let held = match &mut self.state {
            State::Seeking(_) => return false,
            State::Leading(Lead::Sqlite) => true,
            State::Leading(Lead::Postgres(_, answered)) if answered.elapsed() < PING_EVERY => true,
            State::Leading(Lead::Postgres(conn, answered)) => {
                let alive = conn.ping().await.is_ok();
                *answered = Instant::now();
                alive
            }
        };
        if !held {
            self.state = State::Seeking(None);
        }
        held
    }

    /// The connection that holds the lead (PostgreSQL), on which the leader may write: a
    /// transaction there costs no trip to a pool (sqlx pings a pooled connection when it is
    /// handed out and again when it is given back).
    pub fn connection(&mut self) -> Option<&mut PgConnection> {
        match &mut self.state {
            State::Leading(Lead::Postgres(conn, _)) => Some(conn),
            _ => None,
        }
    }

    /// A step failed: the next [`Leadership::still_held`] asks the connection, however
    /// recently it answered (the failure may have been its death).
    pub fn doubt(&mut self) {
        if let State::Leading(Lead::Postgres(_, answered)) = &mut self.state {
            *answered = Instant::now().checked_sub(PING_EVERY).unwrap_or(*answered);
        }
    }

    /// Forgets the connection that asked last (after an error, it may be broken).
    pub fn reset(&mut self) {
        if let State::Seeking(candidate) = &mut self.state {
            *candidate = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        // The key other instances (and older versions) derive for the outbox projector.
        assert_eq!(key("anslut.webhooks.outbox"), key("anslut.webhooks.outbox"));
        assert_ne!(key("anslut.projection.a"), key("anslut.projection.b"));
    }
}
