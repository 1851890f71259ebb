//! Connecting with one pool policy, and the two-backend handle and transaction.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{
    Connection as _, Database, Decode, Encode, Pool, Postgres, Row as _, Sqlite, Transaction, Type,
};

use crate::error::DbError;

/// A value that can be bound as a query parameter of `DB`. Written once here so that every
/// crate's generic SQL names its bounds the same way.
pub trait Bind<DB: Database>: for<'q> Encode<'q, DB> + Type<DB> {}
impl<DB: Database, T: for<'q> Encode<'q, DB> + Type<DB>> Bind<DB> for T {}

/// A value that can be read from a result column of `DB`.
pub trait Load<DB: Database>: for<'r> Decode<'r, DB> + Type<DB> {}
impl<DB: Database, T: for<'r> Decode<'r, DB> + Type<DB>> Load<DB> for T {}

/// Whether `url` names a PostgreSQL database; anything else is an SQLite file.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` (a PostgreSQL URL) with its database name replaced by `name`: another database on
/// the same server, with the same credentials and parameters.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// How much an SQLite commit survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous = FULL`: a commit survives a power loss. For what cannot be recreated
    /// (the log, the outbox, the audit tree, the keys).
    Full,
    /// `synchronous = NORMAL`: a power loss may take the last commits. For what a rebuild
    /// recreates from the log (the read models).
    Normal,
}

/// The one pool policy of every crate's pools.
#[derive(Debug, Clone, Copy)]
pub struct PoolPolicy {
    /// PostgreSQL: the pool's size (at least 1; exactly what is asked, so that the server's
    /// connection budget, `database.pools`, adds up).
    pub max_connections: u32,
    /// SQLite: the readers' pool size (at least 1); the writer has a connection of its own.
    pub sqlite_readers: u32,
    /// How long a caller waits for a connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
    /// SQLite: how long a statement waits for another process's lock.
    pub busy_timeout: Duration,
    pub durability: Durability,
    /// SQLite: overwrite deleted content with zeros (`secure_delete`), for data that must be
    /// gone from the file once deleted (destroyed keys).
    pub secure_delete: bool,
    /// What these pools are for, in the error that refuses in-memory SQLite.
    pub purpose: &'static str,
}

impl PoolPolicy {
    /// `max_connections` on PostgreSQL and as many SQLite readers, durable, waiting
    /// `acquire_timeout` for a connection and at least five seconds for SQLite's lock.
    pub fn new(purpose: &'static str, max_connections: u32, acquire_timeout: Duration) -> Self {
        Self {
            max_connections,
            sqlite_readers: max_connections,
            acquire_timeout,
            busy_timeout: acquire_timeout.max(Duration::from_secs(5)),
            durability: Durability::Full,
            secure_delete: false,
            purpose,
        }
    }
}

/// A crate's pools on one backend: on PostgreSQL one pool twice; on SQLite a single writing
/// connection and a pool of readers.
#[derive(Debug)]
pub struct Pools<DB: Database> {
    pub write: Pool<DB>,
    pub read: Pool<DB>,
}

/// A crate's pools on either backend. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Db {
    Postgres(Arc<Pools<Postgres>>),
    Sqlite(Arc<Pools<Sqlite>>),
}

/// How long a pooled PostgreSQL connection may have sat idle and still be handed out without
/// a ping first.
pub const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// Connects to `postgres://…` / `postgresql://…`, or to an SQLite file given as
/// `sqlite://path…` (created when the URL says `mode=rwc`) or as a plain path (always created
/// when missing). In-memory SQLite is refused.
pub async fn connect(url: &str, policy: &PoolPolicy) -> Result<Db, DbError> {
    if is_postgres_url(url) {
        let pool = PgPoolOptions::new()
            .max_connections(policy.max_connections.max(1))
            .acquire_timeout(policy.acquire_timeout)
            // sqlx pings a connection when it is given back and, by default, again when it is
            // handed out: two round trips per use under load, for a connection that answered
            // a moment ago. Handing out pings only one that sat idle for a while (the server
            // may have gone meanwhile); a dead one is closed and another taken.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE_AFTER {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await?;
        return Ok(Db::Postgres(Arc::new(Pools {
            write: pool.clone(),
            read: pool,
        })));
    }
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(DbError::Invalid(format!(
            "in-memory SQLite is not supported: every connection would see its own database, \
             and {} must live beside the store",
            policy.purpose
        )));
    }
    let options = if url.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url)
            .map_err(|e| DbError::Invalid(format!("SQLite URL {url:?}: {e}")))?
    } else {
        SqliteConnectOptions::new()
            .filename(url)
            .create_if_missing(true)
    }
    .journal_mode(SqliteJournalMode::Wal)
    .synchronous(match policy.durability {
        Durability::Full => SqliteSynchronous::Full,
        Durability::Normal => SqliteSynchronous::Normal,
    })
    .busy_timeout(policy.busy_timeout)
    .foreign_keys(true)
    .pragma(
        "secure_delete",
        if policy.secure_delete { "on" } else { "off" },
    );
    // The writer connects first: it creates the file and switches it to WAL.
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(policy.acquire_timeout)
        .connect_with(options.clone())
        .await?;
    let read = SqlitePoolOptions::new()
        .max_connections(policy.sqlite_readers.max(1))
        .acquire_timeout(policy.acquire_timeout)
        .connect_with(options)
        .await?;
    Ok(Db::Sqlite(Arc::new(Pools { write, read })))
}

/// Applies embedded migrations, tracked in `table` (each crate keeps its own history: a
/// migrator refuses a history with versions it does not know).
pub async fn migrate(
    db: &Db,
    postgres: &Migrator,
    sqlite: &Migrator,
    table: &'static str,
) -> Result<(), DbError> {
    let own = |embedded: &Migrator| {
        let mut migrator = Migrator::with_migrations(embedded.iter().cloned().collect());
        migrator.dangerous_set_table_name(table);
        migrator
    };
    match db {
        Db::Postgres(pools) => own(postgres).run(&pools.write).await?,
        Db::Sqlite(pools) => own(sqlite).run(&pools.write).await?,
    }
    Ok(())
}

/// A connection of either backend, borrowed from a [`Tx`] or a [`Reader`]. Each crate writes
/// its SQL once, generic over the database, and a call site picks the backend by matching:
///
/// ```ignore
/// let moved = match tx.conn() {
///     Conn::Postgres(conn) => Sql::<Postgres>::advance(conn, from, to).await,
///     Conn::Sqlite(conn) => Sql::<Sqlite>::advance(conn, from, to).await,
/// }?;
/// ```
///
/// (`with_backend!` writes that match for a body that names the backend's SQL as one type.)
pub enum Conn<'a> {
    Postgres(&'a mut PgConnection),
    Sqlite(&'a mut SqliteConnection),
}

/// Runs `$body` on `$conn` (a [`Conn`]) with `$c` bound to the backend's connection and
/// `$sql` to `$family<Backend>`. It only picks the type: every `.await` and `?` stays in the
/// body and after it, where the reader sees them.
#[macro_export]
macro_rules! with_backend {
    ($conn:expr, $c:ident, $sql:ident = $family:ident => $body:expr) => {
        match $conn {
            $crate::Conn::Postgres($c) => {
                type $sql = $family<$crate::Postgres>;
                $body
            }
            $crate::Conn::Sqlite($c) => {
                type $sql = $family<$crate::Sqlite>;
                $body
            }
        }
    };
}

/// A transaction on either backend: on a pooled connection (`Tx<'static>`, from [`Db`]), or
/// on a connection a follower holds for as long as it leads ([`crate::follower::Lane`]).
#[derive(Debug)]
pub enum Tx<'c> {
    Postgres(Transaction<'c, Postgres>),
    Sqlite(Transaction<'c, Sqlite>),
}

/// What [`Db::begin_derived`] sends: the `BEGIN` and the setting in one round trip.
pub(crate) const BEGIN_DERIVED: &str = "BEGIN; SET LOCAL synchronous_commit = off";

/// A pooled reading connection on either backend.
#[derive(Debug)]
pub enum Reader {
    Postgres(PoolConnection<Postgres>),
    Sqlite(PoolConnection<Sqlite>),
}

impl Reader {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Self::Postgres(conn) => Conn::Postgres(conn),
            Self::Sqlite(conn) => Conn::Sqlite(conn),
        }
    }
}

impl Db {
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// A transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so it never fails to upgrade a read lock halfway.
    pub async fn begin_write(&self) -> Result<Tx<'static>, DbError> {
        Ok(match self {
            Self::Postgres(pools) => Tx::Postgres(pools.write.begin().await?),
            Self::Sqlite(pools) => Tx::Sqlite(pools.write.begin_with("BEGIN IMMEDIATE").await?),
        })
    }

    /// A write transaction of derived data, which the log could produce again (a read model
    /// and its checkpoint): on PostgreSQL its commit does not wait for the WAL to reach the
    /// disk (`SET LOCAL synchronous_commit = off`, sent with the `BEGIN`, so no extra round
    /// trip). A crash of the database may then lose the last such commits, whole and in
    /// order, never part of one: the checkpoint goes back with its documents, and the
    /// follower projects those events again. A later durable commit flushes it too. Never
    /// for what cannot be derived again (the log, keys, an erasure's rewrite). SQLite: as
    /// [`Db::begin_write`].
    pub async fn begin_derived(&self) -> Result<Tx<'static>, DbError> {
        Ok(match self {
            Self::Postgres(pools) => Tx::Postgres(pools.write.begin_with(BEGIN_DERIVED).await?),
            Self::Sqlite(_) => self.begin_write().await?,
        })
    }

    /// A read-only transaction that sees one snapshot throughout (PostgreSQL: repeatable
    /// read; SQLite in WAL mode: a deferred transaction reads one snapshot from its first
    /// read on).
    pub async fn begin_snapshot(&self) -> Result<Tx<'static>, DbError> {
        Ok(match self {
            Self::Postgres(pools) => Tx::Postgres(
                pools
                    .read
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            ),
            Self::Sqlite(pools) => Tx::Sqlite(pools.read.begin().await?),
        })
    }

    /// A connection of the read pool.
    pub async fn reader(&self) -> Result<Reader, DbError> {
        Ok(match self {
            Self::Postgres(pools) => Reader::Postgres(pools.read.acquire().await?),
            Self::Sqlite(pools) => Reader::Sqlite(pools.read.acquire().await?),
        })
    }

    /// Whether some session holds the session-level advisory lock `key` (PostgreSQL; SQLite
    /// has one process, so nobody else can).
    pub async fn advisory_lock_held(&self, key: i64) -> Result<bool, DbError> {
        let Self::Postgres(pools) = self else {
            return Ok(false);
        };
        // pg_locks shows a bigint advisory key split into two 32-bit halves.
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1)",
        )
        .bind((key >> 32) & 0xffff_ffff)
        .bind(key & 0xffff_ffff)
        .fetch_one(&pools.read)
        .await?;
        Ok(row.try_get(0)?)
    }
}

impl Tx<'_> {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Self::Postgres(tx) => Conn::Postgres(tx),
            Self::Sqlite(tx) => Conn::Sqlite(tx),
        }
    }

    pub async fn commit(self) -> Result<(), DbError> {
        match self {
            Self::Postgres(tx) => tx.commit().await?,
            Self::Sqlite(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), DbError> {
        match self {
            Self::Postgres(tx) => tx.rollback().await?,
            Self::Sqlite(tx) => tx.rollback().await?,
        }
        Ok(())
    }

    /// Sends `payload` on the PostgreSQL channel `channel` when the transaction commits. On
    /// SQLite (one process) there is nobody else to tell: a no-op.
    pub async fn notify(&mut self, channel: &str, payload: &str) -> Result<(), DbError> {
        if let Self::Postgres(tx) = self {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel.to_owned())
                .bind(payload.to_owned())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Takes the transaction-scoped advisory lock `key` (PostgreSQL), serialising work across
    /// processes until commit. SQLite's write transaction already excludes every other
    /// writer.
    pub async fn advisory_lock(&mut self, key: i64) -> Result<(), DbError> {
        if let Self::Postgres(tx) = self {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t3"),
            "postgres://h:5432/t3"
        );
    }

    /// A pool of one connection on the server scripts/test starts (or the one every test of
    /// the workspace uses), and its URL.
    async fn one_connection() -> (String, Db) {
        let url = std::env::var("ANSLUT_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let policy = PoolPolicy::new("the test", 1, Duration::from_secs(5));
        let db = connect(&url, &policy).await.unwrap_or_else(|error| {
            panic!("PostgreSQL is not reachable at {url} ({error}); run scripts/test")
        });
        (url, db)
    }

    /// Handing out a pooled connection pings only one idle for [`PING_IDLE_AFTER`] or more;
    /// one that died meanwhile (here: its backend terminated) is then replaced, not handed
    /// out to fail the caller's query.
    #[tokio::test]
    async fn a_pooled_connection_that_died_while_idle_is_replaced_not_handed_out() {
        let (url, db) = one_connection().await;
        let Db::Postgres(pools) = &db else {
            unreachable!("a PostgreSQL URL")
        };
        let backend = || async {
            sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()")
                .fetch_one(&pools.read)
                .await
        };
        let first = backend().await.unwrap();
        let mut other = PgConnection::connect(&url).await.unwrap();
        let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(first)
            .fetch_one(&mut other)
            .await
            .unwrap();
        assert!(terminated);
        tokio::time::sleep(PING_IDLE_AFTER + Duration::from_millis(200)).await;
        let second = backend()
            .await
            .expect("the dead connection is replaced before it is handed out");
        assert_ne!(first, second);
    }

    /// `synchronous_commit` as the transaction sees it.
    async fn synchronous_commit(tx: &mut Tx<'_>) -> String {
        let Tx::Postgres(tx) = tx else {
            unreachable!("a PostgreSQL transaction")
        };
        sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut **tx)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn only_a_derived_write_commits_without_waiting_for_the_flush() {
        // One connection: the derived transaction's setting must not outlive it on the
        // connection the next transaction gets.
        let (_, db) = one_connection().await;
        let mut tx = db.begin_write().await.unwrap();
        assert_eq!(synchronous_commit(&mut tx).await, "on");
        tx.commit().await.unwrap();
        let mut tx = db.begin_derived().await.unwrap();
        assert_eq!(synchronous_commit(&mut tx).await, "off");
        tx.commit().await.unwrap();
        let mut tx = db.begin_write().await.unwrap();
        assert_eq!(
            synchronous_commit(&mut tx).await,
            "on",
            "the setting ends with its transaction"
        );
        tx.rollback().await.unwrap();
    }

    #[tokio::test]
    async fn in_memory_sqlite_is_refused_and_a_plain_path_is_created() {
        let policy = PoolPolicy::new("the test", 2, Duration::from_secs(5));
        for url in ["sqlite::memory:", "sqlite://x.db?mode=memory"] {
            assert!(
                matches!(connect(url, &policy).await, Err(DbError::Invalid(_))),
                "{url}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite");
        let db = connect(path.to_str().unwrap(), &policy).await.unwrap();
        assert!(!db.is_postgres());
        assert!(path.exists());
        assert!(
            !db.advisory_lock_held(1).await.unwrap(),
            "nobody else on SQLite"
        );
    }
}
