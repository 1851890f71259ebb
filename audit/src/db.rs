//! The audit tables, written once for PostgreSQL and SQLite with runtime-checked queries
//! (as in the store's `engine.rs`): only the lock statement, the way a writing transaction
//! begins and the DDL differ (see [`Dialect`] and `migrations/`).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dbkit::{BigInt as _, Bind, Load, PoolPolicy};
use sqlx::migrate::Migrator;
use sqlx::{
    ColumnIndex, Database, Executor, IntoArguments, Pool, Postgres, QueryBuilder, Row, Sqlite,
    Transaction,
};

use crate::error::AuditError;
use crate::merkle::{NodeId, Span, TreeHash, fold};
use crate::note::{CheckpointSigner, SignedCheckpoint};

/// The audit crate keeps its own migration history, apart from the store's
/// `_sqlx_migrations`: each crate's migrator refuses a history with versions it does not know.
const MIGRATIONS_TABLE: &str = "_audit_migrations";
/// Node rows per multi-row INSERT: 3 parameters each, below SQLite's 32766.
const ROWS_PER_INSERT: usize = 1000;

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

pub(crate) trait Dialect: Database {
    /// Takes the follower row's lock for the transaction and returns its `tree_size`. Every
    /// writer (followers in any process, checkpoint signers) takes it first.
    const LOCK_FOLLOWER: &'static str;

    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;
}

impl Dialect for Postgres {
    const LOCK_FOLLOWER: &'static str =
        "SELECT tree_size FROM audit_follower WHERE id = 1 FOR UPDATE";

    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, sqlx::Error> {
        pool.begin().await
    }
}

impl Dialect for Sqlite {
    // BEGIN IMMEDIATE already holds the database's write lock.
    const LOCK_FOLLOWER: &'static str = "SELECT tree_size FROM audit_follower WHERE id = 1";

    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }
}

/// The audit tables on one backend's pools.
pub(crate) struct Tables<'a, DB: Database>(pub &'a dbkit::Pools<DB>);

/// Runs `$body` with `$tables` bound to the audit [`Tables`] on the backend of `$db` (a
/// `&dbkit::Db`); every `.await` and `?` stays in the body and after it.
macro_rules! dispatch {
    ($db:expr, $tables:ident => $body:expr) => {
        match $db {
            dbkit::Db::Postgres(pools) => {
                let $tables = crate::db::Tables(pools);
                $body
            }
            dbkit::Db::Sqlite(pools) => {
                let $tables = crate::db::Tables(pools);
                $body
            }
        }
    };
}
pub(crate) use dispatch;

/// Pools of its own on the store's database (the URL forms of `EventStore::connect`).
pub(crate) async fn connect(
    url: &str,
    acquire_timeout: Duration,
    max_connections: u32,
) -> Result<dbkit::Db, AuditError> {
    let policy = PoolPolicy {
        sqlite_readers: 2,
        busy_timeout: acquire_timeout,
        ..PoolPolicy::new("the audit tree", max_connections, acquire_timeout)
    };
    Ok(dbkit::connect(url, &policy).await?)
}

/// Creates or updates the audit tables, tracked in the crate's own migration history.
pub(crate) async fn migrate(db: &dbkit::Db) -> Result<(), AuditError> {
    dbkit::migrate(
        db,
        &POSTGRES_MIGRATIONS,
        &SQLITE_MIGRATIONS,
        MIGRATIONS_TABLE,
    )
    .await?;
    Ok(())
}

fn to_i64(value: u64) -> Result<i64, AuditError> {
    value
        .to_bigint()
        .map_err(|e| AuditError::OutOfRange(e.to_string()))
}

fn to_u64(value: i64) -> Result<u64, AuditError> {
    u64::from_bigint(value).map_err(|e| AuditError::Corrupt(e.to_string()))
}

fn hash_from(bytes: &[u8], what: &dyn std::fmt::Display) -> Result<TreeHash, AuditError> {
    TreeHash::from_slice(bytes)
        .ok_or_else(|| AuditError::Corrupt(format!("{what} is not 32 bytes")))
}

/// A contiguous run of node indices at one level, for reading the nodes a range of leaves
/// completed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LevelRange {
    pub level: u8,
    pub first: u64,
    pub last: u64,
}

impl<DB> Tables<'_, DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    i64: Bind<DB> + Load<DB>,
    String: Bind<DB> + Load<DB>,
    DateTime<Utc>: Bind<DB> + Load<DB>,
    Vec<u8>: Bind<DB> + Load<DB>,
{
    /// How many leaves the follower has added.
    pub async fn covered(&self) -> Result<u64, AuditError> {
        let mut conn = self.0.read.acquire().await?;
        let size: i64 = sqlx::query("SELECT tree_size FROM audit_follower WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        to_u64(size)
    }

    /// Appends the nodes that leaves `from..to` completed and moves the follower to `to`, if
    /// the follower is still at `from` (another follower may have been faster: then nothing
    /// is written and `false` returned).
    pub async fn append(
        &self,
        from: u64,
        to: u64,
        nodes: &[(NodeId, TreeHash)],
    ) -> Result<bool, AuditError> {
        let mut tx = DB::begin_write(&self.0.write).await?;
        let covered: i64 = sqlx::query(DB::LOCK_FOLLOWER)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if to_u64(covered)? != from {
            return Ok(false);
        }
        for chunk in nodes.chunks(ROWS_PER_INSERT) {
            let rows = chunk
                .iter()
                .map(|(id, hash)| Ok((i64::from(id.level), to_i64(id.index)?, hash.0.to_vec())))
                .collect::<Result<Vec<_>, AuditError>>()?;
            let mut query = QueryBuilder::<DB>::new("INSERT INTO audit_nodes (level, idx, hash) ");
            query.push_values(rows, |mut row, (level, index, hash)| {
                row.push_bind(level).push_bind(index).push_bind(hash);
            });
            query.build().execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE audit_follower SET tree_size = $1 WHERE id = 1")
            .bind(to_i64(to)?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The stored hashes of `ids` that exist.
    async fn fetch_nodes(
        conn: &mut DB::Connection,
        ids: &[NodeId],
    ) -> Result<HashMap<NodeId, TreeHash>, AuditError> {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_INSERT) {
            let keys = chunk
                .iter()
                .map(|id| Ok((i64::from(id.level), to_i64(id.index)?)))
                .collect::<Result<Vec<_>, AuditError>>()?;
            let mut query = QueryBuilder::<DB>::new(
                "SELECT level, idx, hash FROM audit_nodes WHERE (level, idx) IN (",
            );
            query.push_values(keys, |mut row, (level, index)| {
                row.push_bind(level).push_bind(index);
            });
            query.push(")");
            for row in query.build().fetch_all(&mut *conn).await? {
                let (id, hash) = Self::decode_node(&row)?;
                found.insert(id, hash);
            }
        }
        Ok(found)
    }

    fn decode_node(row: &DB::Row) -> Result<(NodeId, TreeHash), AuditError> {
        let level: i64 = row.try_get(0)?;
        let id = NodeId {
            level: u8::try_from(level)
                .map_err(|_| AuditError::Corrupt(format!("node level {level}")))?,
            index: to_u64(row.try_get(1)?)?,
        };
        let hash = hash_from(&row.try_get::<Vec<u8>, _>(2)?, &id)?;
        Ok((id, hash))
    }

    /// The stored hashes of `ids`; every one must exist.
    pub async fn nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, TreeHash>, AuditError> {
        let mut conn = self.0.read.acquire().await?;
        let found = Self::fetch_nodes(&mut conn, ids).await?;
        if let Some(missing) = ids.iter().find(|id| !found.contains_key(id)) {
            return Err(AuditError::Corrupt(format!("{missing} is not stored")));
        }
        Ok(found)
    }

    /// Every stored node within the given runs.
    pub async fn nodes_in(
        &self,
        ranges: &[LevelRange],
    ) -> Result<Vec<(NodeId, TreeHash)>, AuditError> {
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<DB>::new("SELECT level, idx, hash FROM audit_nodes WHERE ");
        for (i, range) in ranges.iter().enumerate() {
            if i > 0 {
                query.push(" OR ");
            }
            query
                .push("(level = ")
                .push_bind(i64::from(range.level))
                .push(" AND idx BETWEEN ")
                .push_bind(to_i64(range.first)?)
                .push(" AND ")
                .push_bind(to_i64(range.last)?)
                .push(")");
        }
        let mut conn = self.0.read.acquire().await?;
        query
            .build()
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(Self::decode_node)
            .collect()
    }

    pub async fn node_count(&self) -> Result<u64, AuditError> {
        let mut conn = self.0.read.acquire().await?;
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM audit_nodes")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        to_u64(count)
    }

    fn decode_checkpoint(row: &DB::Row) -> Result<SignedCheckpoint, AuditError> {
        let tree_size = to_u64(row.try_get(0)?)?;
        Ok(SignedCheckpoint {
            tree_size,
            root: hash_from(
                &row.try_get::<Vec<u8>, _>(1)?,
                &format_args!("the root of checkpoint {tree_size}"),
            )?,
            note: row.try_get(2)?,
            created_at: row.try_get(3)?,
        })
    }

    const CHECKPOINT_COLUMNS: &'static str = "tree_size, root_hash, note, created_at";

    async fn latest_on(conn: &mut DB::Connection) -> Result<Option<SignedCheckpoint>, AuditError> {
        let sql = format!(
            "SELECT {} FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1",
            Self::CHECKPOINT_COLUMNS
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_optional(&mut *conn)
            .await?
            .as_ref()
            .map(Self::decode_checkpoint)
            .transpose()
    }

    pub async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, AuditError> {
        let mut conn = self.0.read.acquire().await?;
        Self::latest_on(&mut conn).await
    }

    pub async fn checkpoint(&self, tree_size: u64) -> Result<Option<SignedCheckpoint>, AuditError> {
        let sql = format!(
            "SELECT {} FROM audit_checkpoints WHERE tree_size = $1",
            Self::CHECKPOINT_COLUMNS
        );
        let mut conn = self.0.read.acquire().await?;
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_i64(tree_size)?)
            .fetch_optional(&mut *conn)
            .await?
            .as_ref()
            .map(Self::decode_checkpoint)
            .transpose()
    }

    /// Up to `limit` checkpoints with sizes above `after`, smallest first.
    pub async fn checkpoints_after(
        &self,
        after: u64,
        limit: u64,
    ) -> Result<Vec<SignedCheckpoint>, AuditError> {
        let sql = format!(
            "SELECT {} FROM audit_checkpoints WHERE tree_size > $1 ORDER BY tree_size LIMIT $2",
            Self::CHECKPOINT_COLUMNS
        );
        let mut conn = self.0.read.acquire().await?;
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_i64(after)?)
            .bind(to_i64(limit)?)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(Self::decode_checkpoint)
            .collect()
    }

    /// Signs a checkpoint over every leaf the follower has added, under the follower's lock,
    /// unless the latest checkpoint already has that size (then returns it). Before signing,
    /// recomputes the latest checkpoint's root from the stored nodes and refuses to sign if
    /// it differs: the new checkpoint would not be consistent with it.
    pub async fn sign(
        &self,
        signer: &CheckpointSigner,
        now: DateTime<Utc>,
    ) -> Result<Option<SignedCheckpoint>, AuditError> {
        let mut tx = DB::begin_write(&self.0.write).await?;
        let covered: i64 = sqlx::query(DB::LOCK_FOLLOWER)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let covered = to_u64(covered)?;
        let latest = Self::latest_on(&mut tx).await?;
        let latest_size = latest.as_ref().map_or(0, |c| c.tree_size);
        if covered == latest_size {
            return Ok(latest);
        }
        if covered < latest_size {
            return Err(AuditError::Inconsistent(format!(
                "checkpoint {latest_size} is larger than the tree ({covered} leaves)"
            )));
        }
        let new_ids = Span::tree(covered).nodes();
        let old_ids = Span::tree(latest_size).nodes();
        let all: Vec<NodeId> = new_ids.iter().chain(&old_ids).copied().collect();
        let nodes = Self::fetch_nodes(&mut tx, &all).await?;
        let root_of = |ids: &[NodeId]| -> Result<TreeHash, AuditError> {
            let hashes = ids
                .iter()
                .map(|id| {
                    nodes
                        .get(id)
                        .copied()
                        .ok_or_else(|| AuditError::Corrupt(format!("{id} is not stored")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(fold(&hashes))
        };
        if let Some(latest) = &latest {
            let recomputed = root_of(&old_ids)?;
            if recomputed != latest.root {
                return Err(AuditError::Inconsistent(format!(
                    "the stored tree's root at size {latest_size} is {recomputed}, but \
                     checkpoint {latest_size} signed {}",
                    latest.root
                )));
            }
        }
        let root = root_of(&new_ids)?;
        let checkpoint = SignedCheckpoint {
            tree_size: covered,
            root,
            note: signer.sign_checkpoint(covered, &root),
            created_at: now,
        };
        sqlx::query(
            "INSERT INTO audit_checkpoints (tree_size, root_hash, note, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(to_i64(checkpoint.tree_size)?)
        .bind(checkpoint.root.0.to_vec())
        .bind(checkpoint.note.clone())
        .bind(checkpoint.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(checkpoint))
    }
}
