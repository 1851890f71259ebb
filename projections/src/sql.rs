//! The SQL, written once for PostgreSQL and SQLite (as the store does in its `engine.rs`):
//! generic functions over the sqlx database with runtime-checked queries, plus the few
//! statements that differ ([`Dialect`], and PostgreSQL's bulk upsert in [`Tx::upsert`]). Read-model tables hold only TEXT and BIGINT columns
//! so that both databases store and compare them the same way.
//!
//! Table names are never taken from input: they are built from [`ProjectionName`]s and
//! generation numbers, which is why formatting them into SQL is safe.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::marker::PhantomData;
use std::time::Duration;

use dbkit::{Bind, Durability, Load, PoolPolicy};
pub(crate) use dbkit::{Db, Tx};
use sqlx::{
    ColumnIndex, Database, Executor, IntoArguments, Postgres, QueryBuilder, Row as _, Sqlite,
};

use crate::error::ProjectionError;
use crate::model::{Cell, Column, ColumnType, Row, rows_table, state_table};
use crate::name::ProjectionName;

/// The PostgreSQL channel on which a projector announces a committed checkpoint or a swapped
/// generation, as `name:generation:position`. Other instances keep their `wait_for` and their
/// readers' table names current from it.
pub const PROJECTIONS_CHANNEL: &str = "anslut_projections";

/// Parameters per statement stay under SQLite's limit (32766) and PostgreSQL's (65535).
const MAX_PARAMS: usize = 30_000;

pub(crate) trait Dialect: Database {
    /// Lists the tables of the current schema, as `name`.
    const LIST_TABLES: &'static str;
    /// Appended to a registry SELECT inside a write transaction to lock the row (SQLite's
    /// write transaction already holds the database lock).
    const FOR_UPDATE: &'static str;
    /// Whether the database announces commits on [`PROJECTIONS_CHANNEL`] (PostgreSQL's
    /// `pg_notify`, delivered at commit; SQLite is one process, which needs no announcement).
    const NOTIFIES: bool;
    /// A query answering whether a column's values can be compressed with lz4 (PostgreSQL 14
    /// or later, built with it), or `None` where a column takes no compression method.
    const LZ4: Option<&'static str>;
}

impl Dialect for Postgres {
    const LIST_TABLES: &'static str =
        "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = current_schema()";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const NOTIFIES: bool = true;
    // Before PostgreSQL 14 the setting does not exist: no row, so false.
    const LZ4: Option<&'static str> = Some(
        "SELECT COALESCE(bool_or('lz4' = ANY(enumvals)), false) FROM pg_settings \
         WHERE name = 'default_toast_compression'",
    );
}

impl Dialect for Sqlite {
    const LIST_TABLES: &'static str = "SELECT name FROM sqlite_master WHERE type = 'table'";
    const FOR_UPDATE: &'static str = "";
    const NOTIFIES: bool = false;
    const LZ4: Option<&'static str> = None;
}

/// A projection's row in the registry table `projection_state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistryRow {
    pub name: ProjectionName,
    pub schema_version: i64,
    /// The live generation: readers read `<name>_g<generation>`.
    pub generation: i64,
    /// The checkpoint: every event up to here is in the live generation.
    pub position: i64,
    pub updated_at: String,
    /// Why the projector stopped, until it applies a batch again.
    pub last_error: Option<String>,
}

/// A row as read back: key, typed cells, document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub key: String,
    pub cells: Vec<Cell>,
    pub doc: String,
}

/// A condition on a read-model table.
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    /// A typed column equals a value (`Cell::Null`: `IS NULL`).
    Eq(&'static str, Cell),
    /// The key starts with this text: a range scan of the primary key. Rows of one case
    /// have keys `<case id>/...`, so a case's rows need no index of their own.
    KeyPrefix(String),
}

impl Filter {
    pub fn eq(column: &'static str, value: Cell) -> Self {
        Self::Eq(column, value)
    }
}

/// The least text greater than every text starting with `prefix` (its last character
/// incremented), or `None` when there is no such bound.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(u32::from(last) + 1) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

pub(crate) struct Sql<DB>(PhantomData<DB>);

fn to_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl<DB> Sql<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    i64: Bind<DB> + Load<DB>,
    String: Bind<DB> + Load<DB>,
    Option<String>: Bind<DB> + Load<DB>,
    Option<i64>: Bind<DB> + Load<DB>,
    bool: Load<DB>,
{
    pub async fn create_registry(conn: &mut DB::Connection) -> Result<(), ProjectionError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS projection_state (\
                name TEXT PRIMARY KEY, \
                schema_version BIGINT NOT NULL, \
                generation BIGINT NOT NULL, \
                position BIGINT NOT NULL, \
                next_generation BIGINT NOT NULL, \
                updated_at TEXT NOT NULL, \
                last_error TEXT)",
        )
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Registers a projection at generation 1, position 0, unless it is registered. True
    /// when this call registered it.
    pub async fn register(
        conn: &mut DB::Connection,
        name: ProjectionName,
        schema_version: u32,
        now: &str,
    ) -> Result<bool, ProjectionError> {
        let done = sqlx::query(
            "INSERT INTO projection_state \
             (name, schema_version, generation, position, next_generation, updated_at) \
             VALUES ($1, $2, 1, 0, 2, $3) ON CONFLICT (name) DO NOTHING RETURNING name",
        )
        .bind(name.as_str().to_owned())
        .bind(i64::from(schema_version))
        .bind(now.to_owned())
        .fetch_optional(conn)
        .await?;
        Ok(done.is_some())
    }

    fn decode_registry(row: &DB::Row) -> Result<RegistryRow, ProjectionError> {
        let name: String = row.try_get("name")?;
        Ok(RegistryRow {
            name: ProjectionName::parse(&name).ok_or_else(|| {
                ProjectionError::Corrupt(format!("unknown projection {name:?} in the registry"))
            })?,
            schema_version: row.try_get("schema_version")?,
            generation: row.try_get("generation")?,
            position: row.try_get("position")?,
            updated_at: row.try_get("updated_at")?,
            last_error: row.try_get("last_error")?,
        })
    }

    const REGISTRY_COLUMNS: &'static str =
        "name, schema_version, generation, position, updated_at, last_error";

    pub async fn registry(conn: &mut DB::Connection) -> Result<Vec<RegistryRow>, ProjectionError> {
        let sql = format!(
            "SELECT {} FROM projection_state ORDER BY name",
            Self::REGISTRY_COLUMNS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(conn)
            .await?;
        rows.iter()
            // Rows of projections this version does not know are someone else's business.
            .filter(|row| {
                row.try_get::<String, _>("name")
                    .is_ok_and(|n| ProjectionName::parse(&n).is_some())
            })
            .map(Self::decode_registry)
            .collect()
    }

    /// One projection's registry row; `lock` takes its row lock (in a write transaction).
    pub async fn registry_row(
        conn: &mut DB::Connection,
        name: ProjectionName,
        lock: bool,
    ) -> Result<RegistryRow, ProjectionError> {
        let sql = format!(
            "SELECT {} FROM projection_state WHERE name = $1{}",
            Self::REGISTRY_COLUMNS,
            if lock { DB::FOR_UPDATE } else { "" }
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name.as_str().to_owned())
            .fetch_optional(conn)
            .await?
            .ok_or_else(|| ProjectionError::Corrupt(format!("{name} is not registered")))?;
        Self::decode_registry(&row)
    }

    /// Moves the checkpoint from `from` to `to` if the registry still says `generation` at
    /// `from`; takes the row lock. False when someone else moved it first. On PostgreSQL the
    /// same statement announces the new checkpoint on [`PROJECTIONS_CHANNEL`] as
    /// `name:generation:to` (delivered only if the transaction commits).
    pub async fn advance(
        conn: &mut DB::Connection,
        name: ProjectionName,
        generation: i64,
        from: i64,
        to: i64,
        now: &str,
    ) -> Result<bool, ProjectionError> {
        let announce = if DB::NOTIFIES {
            ", pg_notify($6, $7)"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE projection_state SET position = $1, updated_at = $2, last_error = NULL \
             WHERE name = $3 AND generation = $4 AND position = $5 RETURNING name{announce}"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to)
            .bind(now.to_owned())
            .bind(name.as_str().to_owned())
            .bind(generation)
            .bind(from);
        if DB::NOTIFIES {
            query = query
                .bind(PROJECTIONS_CHANNEL.to_owned())
                .bind(format!("{name}:{generation}:{to}"));
        }
        let done = query.fetch_optional(conn).await?;
        Ok(done.is_some())
    }

    /// Makes `generation` live at `position` with `schema_version`.
    pub async fn swap(
        conn: &mut DB::Connection,
        name: ProjectionName,
        generation: i64,
        position: i64,
        schema_version: u32,
        now: &str,
    ) -> Result<(), ProjectionError> {
        sqlx::query(
            "UPDATE projection_state SET generation = $1, position = $2, schema_version = $3, \
             updated_at = $4, last_error = NULL WHERE name = $5",
        )
        .bind(generation)
        .bind(position)
        .bind(i64::from(schema_version))
        .bind(now.to_owned())
        .bind(name.as_str().to_owned())
        .execute(conn)
        .await?;
        Ok(())
    }

    /// A generation number never used before for this projection.
    pub async fn allocate_generation(
        conn: &mut DB::Connection,
        name: ProjectionName,
    ) -> Result<i64, ProjectionError> {
        let row = sqlx::query(
            "UPDATE projection_state SET next_generation = next_generation + 1 \
             WHERE name = $1 RETURNING next_generation - 1",
        )
        .bind(name.as_str().to_owned())
        .fetch_one(conn)
        .await?;
        Ok(row.try_get(0)?)
    }

    pub async fn set_error(
        conn: &mut DB::Connection,
        name: ProjectionName,
        error: Option<String>,
    ) -> Result<(), ProjectionError> {
        sqlx::query("UPDATE projection_state SET last_error = $1 WHERE name = $2")
            .bind(error)
            .bind(name.as_str().to_owned())
            .execute(conn)
            .await?;
        Ok(())
    }

    pub async fn create_tables(
        conn: &mut DB::Connection,
        name: ProjectionName,
        columns: &[Column],
        generation: i64,
    ) -> Result<(), ProjectionError> {
        // Documents over about 2 kB are compressed as they are stored (TOAST). The state
        // documents of the models that embed the case run to 10 kB, and PostgreSQL's default
        // method (pglz) was the largest single cost of the database's side of a rebuild;
        // lz4 compresses and decompresses several times faster.
        let mut doc = "doc TEXT NOT NULL";
        if let Some(query) = DB::LZ4 {
            let lz4: bool = sqlx::query_scalar(query).fetch_one(&mut *conn).await?;
            if lz4 {
                doc = "doc TEXT COMPRESSION lz4 NOT NULL";
            }
        }
        let rows = rows_table(name, generation);
        let mut ddl = format!("CREATE TABLE IF NOT EXISTS {rows} (key TEXT PRIMARY KEY");
        for column in columns {
            let ty = match column.ty {
                ColumnType::Text => "TEXT",
                ColumnType::Int => "BIGINT",
            };
            let _ = write!(ddl, ", {} {ty}", column.name);
        }
        let _ = write!(ddl, ", {doc})");
        sqlx::query(sqlx::AssertSqlSafe(ddl))
            .execute(&mut *conn)
            .await?;
        for column in columns.iter().filter(|c| c.indexed) {
            let index = format!(
                "CREATE INDEX IF NOT EXISTS {rows}_{col} ON {rows} ({col}, key)",
                col = column.name
            );
            sqlx::query(sqlx::AssertSqlSafe(index))
                .execute(&mut *conn)
                .await?;
        }
        let state = format!(
            "CREATE TABLE IF NOT EXISTS {} (key TEXT PRIMARY KEY, {doc})",
            state_table(name, generation)
        );
        sqlx::query(sqlx::AssertSqlSafe(state))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    pub async fn drop_tables(
        conn: &mut DB::Connection,
        name: ProjectionName,
        generation: i64,
    ) -> Result<(), ProjectionError> {
        for table in [rows_table(name, generation), state_table(name, generation)] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {table}")))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    pub async fn list_tables(conn: &mut DB::Connection) -> Result<Vec<String>, ProjectionError> {
        let rows = sqlx::query(DB::LIST_TABLES).fetch_all(conn).await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<String, _>(0)?))
            .collect()
    }

    /// The state documents of `keys` that exist.
    pub async fn load_states(
        conn: &mut DB::Connection,
        table: &str,
        keys: &[String],
    ) -> Result<HashMap<String, String>, ProjectionError> {
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_PARAMS) {
            let mut query =
                QueryBuilder::<DB>::new(format!("SELECT key, doc FROM {table} WHERE key IN ("));
            let mut list = query.separated(", ");
            for key in chunk {
                list.push_bind(key.clone());
            }
            query.push(")");
            for row in query.build().fetch_all(&mut *conn).await? {
                found.insert(row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?);
            }
        }
        Ok(found)
    }

    /// Inserts or replaces rows (`columns` in the rows' cell order; none for state tables).
    pub async fn upsert(
        conn: &mut DB::Connection,
        table: &str,
        columns: &[Column],
        rows: &[Row],
    ) -> Result<(), ProjectionError> {
        let mut names = String::from("key");
        let mut updates = String::from("doc = excluded.doc");
        for column in columns {
            let _ = write!(names, ", {}", column.name);
            let _ = write!(updates, ", {0} = excluded.{0}", column.name);
        }
        let per_row = columns.len() + 2;
        for chunk in rows.chunks(MAX_PARAMS / per_row) {
            let mut query = QueryBuilder::<DB>::new(format!("INSERT INTO {table} ({names}, doc) "));
            let mut mismatch = None;
            query.push_values(chunk, |mut values, row| {
                if row.cells.len() != columns.len() {
                    mismatch = Some(row.key.clone());
                }
                values.push_bind(row.key.clone());
                for (column, cell) in columns.iter().zip(&row.cells) {
                    match (column.ty, cell) {
                        (_, Cell::Text(text)) => values.push_bind(Some(text.clone())),
                        (_, Cell::Int(int)) => values.push_bind(Some(*int)),
                        (ColumnType::Text, Cell::Null) => values.push_bind(None::<String>),
                        (ColumnType::Int, Cell::Null) => values.push_bind(None::<i64>),
                    };
                }
                values.push_bind(row.doc.clone());
            });
            if let Some(key) = mismatch {
                return Err(ProjectionError::Invalid(format!(
                    "row {key} of {table} does not have {} cells",
                    columns.len()
                )));
            }
            query.push(format!(" ON CONFLICT (key) DO UPDATE SET {updates}"));
            query.build().execute(&mut *conn).await?;
        }
        Ok(())
    }

    pub async fn delete(
        conn: &mut DB::Connection,
        table: &str,
        keys: &[String],
    ) -> Result<(), ProjectionError> {
        for chunk in keys.chunks(MAX_PARAMS) {
            let mut query = QueryBuilder::<DB>::new(format!("DELETE FROM {table} WHERE key IN ("));
            let mut list = query.separated(", ");
            for key in chunk {
                list.push_bind(key.clone());
            }
            query.push(")");
            query.build().execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Rows of `table` matching `filters`, after `after` in key order, at most `limit`.
    pub async fn select(
        conn: &mut DB::Connection,
        table: &str,
        columns: &[Column],
        filters: &[Filter],
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Record>, ProjectionError> {
        let mut query = QueryBuilder::<DB>::new("SELECT key");
        for column in columns {
            query.push(", ").push(column.name);
        }
        query.push(format!(" , doc FROM {table} WHERE 1 = 1"));
        for filter in filters {
            match filter {
                Filter::Eq(column, Cell::Null) => {
                    query.push(" AND ").push(*column).push(" IS NULL");
                }
                Filter::Eq(column, Cell::Text(text)) => {
                    query
                        .push(" AND ")
                        .push(*column)
                        .push(" = ")
                        .push_bind(text.clone());
                }
                Filter::Eq(column, Cell::Int(int)) => {
                    query
                        .push(" AND ")
                        .push(*column)
                        .push(" = ")
                        .push_bind(*int);
                }
                Filter::KeyPrefix(prefix) => {
                    query.push(" AND key >= ").push_bind(prefix.clone());
                    if let Some(end) = prefix_end(prefix) {
                        query.push(" AND key < ").push_bind(end);
                    }
                }
            }
        }
        if let Some(after) = after {
            query.push(" AND key > ").push_bind(after.to_owned());
        }
        query.push(" ORDER BY key");
        if let Some(limit) = limit {
            query.push(" LIMIT ").push_bind(to_i64(limit));
        }
        let rows = query.build().fetch_all(&mut *conn).await?;
        rows.iter()
            .map(|row| {
                let mut cells = Vec::with_capacity(columns.len());
                for (i, column) in columns.iter().enumerate() {
                    cells.push(match column.ty {
                        ColumnType::Text => row
                            .try_get::<Option<String>, _>(i + 1)?
                            .map_or(Cell::Null, Cell::Text),
                        ColumnType::Int => row
                            .try_get::<Option<i64>, _>(i + 1)?
                            .map_or(Cell::Null, Cell::Int),
                    });
                }
                Ok(Record {
                    key: row.try_get(0)?,
                    cells,
                    doc: row.try_get(columns.len() + 1)?,
                })
            })
            .collect()
    }

    /// `(key, doc)` of the rows whose document contains `needle`.
    pub async fn containing(
        conn: &mut DB::Connection,
        table: &str,
        needle: &str,
    ) -> Result<Vec<(String, String)>, ProjectionError> {
        let sql = format!("SELECT key, doc FROM {table} WHERE doc LIKE $1 ORDER BY key");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(format!("%{needle}%"))
            .fetch_all(conn)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    pub async fn set_doc(
        conn: &mut DB::Connection,
        table: &str,
        key: &str,
        doc: &str,
    ) -> Result<(), ProjectionError> {
        let sql = format!("UPDATE {table} SET doc = $1 WHERE key = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(doc.to_owned())
            .bind(key.to_owned())
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// The read models' pools on the store's database: a power loss may take the last commits
/// of an SQLite file, which takes their checkpoint with them (the read models can always be
/// rebuilt from the log).
pub(crate) async fn connect(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<Db, ProjectionError> {
    let policy = PoolPolicy {
        durability: Durability::Normal,
        ..PoolPolicy::new("the read models", max_connections.max(2), acquire_timeout)
    };
    Ok(dbkit::connect(url, &policy).await?)
}

/// The transaction-scoped advisory lock that serialises setup across processes ("anslut").
pub(crate) const SETUP_LOCK: i64 = 0x616e_736c_7574;

/// The registry and the read-model tables, read through a connection of the read pool.
pub(crate) trait Reads {
    async fn registry(&self) -> Result<Vec<RegistryRow>, ProjectionError>;
    async fn registry_row(&self, name: ProjectionName) -> Result<RegistryRow, ProjectionError>;
    async fn select(
        &self,
        table: &str,
        columns: &[Column],
        filters: &[Filter],
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Record>, ProjectionError>;
    async fn load_states(
        &self,
        table: &str,
        keys: &[String],
    ) -> Result<HashMap<String, String>, ProjectionError>;
}

impl Reads for Db {
    async fn registry(&self) -> Result<Vec<RegistryRow>, ProjectionError> {
        dbkit::with_backend!(self.reader().await?.conn(), conn, S = Sql => S::registry(conn).await)
    }

    async fn registry_row(&self, name: ProjectionName) -> Result<RegistryRow, ProjectionError> {
        dbkit::with_backend!(self.reader().await?.conn(), conn, S = Sql => S::registry_row(conn, name, false).await)
    }

    async fn select(
        &self,
        table: &str,
        columns: &[Column],
        filters: &[Filter],
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Record>, ProjectionError> {
        dbkit::with_backend!(self.reader().await?.conn(), conn, S = Sql => S::select(conn, table, columns, filters, after, limit).await)
    }

    async fn load_states(
        &self,
        table: &str,
        keys: &[String],
    ) -> Result<HashMap<String, String>, ProjectionError> {
        dbkit::with_backend!(self.reader().await?.conn(), conn, S = Sql => S::load_states(conn, table, keys).await)
    }
}

/// Rows to insert or replace in one table ([`write_all`]).
pub(crate) struct Write<'a> {
    pub table: String,
    /// The rows' typed columns, in their cells' order (none for state tables).
    pub columns: &'a [Column],
    pub rows: Vec<Row>,
}

/// Inserts or replaces the rows of every write, in one statement on PostgreSQL: each
/// table's rows go in as one array parameter per column (`INSERT … SELECT * FROM
/// UNNEST(…)`), which PostgreSQL parses and plans once per statement instead of once per
/// row's worth of parameters, and the tables' inserts are the data-modifying `WITH` parts of
/// one statement (every write is in it, those without rows too, so that a round of the same
/// projections always sends the same statement, prepared once per connection). SQLite takes
/// multi-row `VALUES`, table by table.
pub(crate) async fn write_all(
    tx: &mut Tx<'_>,
    writes: &[Write<'_>],
) -> Result<(), ProjectionError> {
    for write in writes {
        if let Some(row) = write
            .rows
            .iter()
            .find(|r| r.cells.len() != write.columns.len())
        {
            return Err(ProjectionError::Invalid(format!(
                "row {} of {} does not have {} cells",
                row.key,
                write.table,
                write.columns.len()
            )));
        }
    }
    if writes.iter().all(|w| w.rows.is_empty()) {
        return Ok(());
    }
    let tx = match tx {
        Tx::Sqlite(tx) => {
            for write in writes.iter().filter(|w| !w.rows.is_empty()) {
                Sql::<Sqlite>::upsert(&mut **tx, &write.table, write.columns, &write.rows).await?;
            }
            return Ok(());
        }
        Tx::Postgres(tx) => tx,
    };
    let mut sql = String::from("WITH ");
    let mut param = 0;
    for (i, write) in writes.iter().enumerate() {
        let mut names = String::from("key");
        param += 1;
        let mut types = format!("${param}::text[]");
        let mut updates = String::from("doc = excluded.doc");
        for column in write.columns {
            let _ = write!(names, ", {}", column.name);
            let ty = match column.ty {
                ColumnType::Text => "text",
                ColumnType::Int => "bigint",
            };
            param += 1;
            let _ = write!(types, ", ${param}::{ty}[]");
            let _ = write!(updates, ", {0} = excluded.{0}", column.name);
        }
        param += 1;
        let _ = write!(
            sql,
            "{}w{i} AS (INSERT INTO {} ({names}, doc) SELECT * FROM UNNEST({types}, ${param}::text[]) \
             ON CONFLICT (key) DO UPDATE SET {updates})",
            if i == 0 { "" } else { ", " },
            write.table,
        );
    }
    sql.push_str(" SELECT 1");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for write in writes {
        let rows = &write.rows;
        query = query.bind(rows.iter().map(|r| r.key.as_str()).collect::<Vec<&str>>());
        for (i, column) in write.columns.iter().enumerate() {
            query = match column.ty {
                ColumnType::Text => query.bind(
                    rows.iter()
                        .map(|r| r.cells[i].as_text())
                        .collect::<Vec<Option<&str>>>(),
                ),
                ColumnType::Int => query.bind(
                    rows.iter()
                        .map(|r| r.cells[i].as_int())
                        .collect::<Vec<Option<i64>>>(),
                ),
            };
        }
        query = query.bind(rows.iter().map(|r| r.doc.as_str()).collect::<Vec<&str>>());
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// The state documents of `keys` that exist, for each `(table, keys)`, in one statement on
/// PostgreSQL (`UNION ALL`; every table is in it, those without keys too, for the same
/// reason as in [`write_all`]); table by table on SQLite.
pub(crate) async fn load_all(
    tx: &mut Tx<'_>,
    loads: &[(String, &[String])],
) -> Result<Vec<HashMap<String, String>>, ProjectionError> {
    let mut found = vec![HashMap::new(); loads.len()];
    if loads.iter().all(|(_, keys)| keys.is_empty()) {
        return Ok(found);
    }
    let tx = match tx {
        Tx::Sqlite(tx) => {
            for ((table, keys), found) in loads.iter().zip(&mut found) {
                if !keys.is_empty() {
                    *found = Sql::<Sqlite>::load_states(&mut **tx, table, keys).await?;
                }
            }
            return Ok(found);
        }
        Tx::Postgres(tx) => tx,
    };
    let mut sql = String::new();
    for (i, (table, _)) in loads.iter().enumerate() {
        let _ = write!(
            sql,
            "{}SELECT {i}::int4 AS i, key, doc FROM {table} WHERE key = ANY(${}::text[])",
            if i == 0 { "" } else { " UNION ALL " },
            i + 1
        );
    }
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (_, keys) in loads {
        query = query.bind(*keys);
    }
    for row in query.fetch_all(&mut **tx).await? {
        let i: i32 = row.try_get(0)?;
        let slot = usize::try_from(i)
            .ok()
            .and_then(|i| found.get_mut(i))
            .ok_or_else(|| ProjectionError::Corrupt(format!("no load numbered {i}")))?;
        slot.insert(row.try_get::<String, _>(1)?, row.try_get::<String, _>(2)?);
    }
    Ok(found)
}

/// One projection's part of [`advance_all`]: its generation and the checkpoint it read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Advance {
    pub name: ProjectionName,
    pub generation: i64,
    pub from: i64,
}

/// Moves the checkpoints of several projections to `to`, each only if the registry still says
/// its `generation` at its `from` (as [`Sql::advance`] does for one), in one statement on
/// PostgreSQL. Returns the projections it moved; the caller rolls back unless all moved.
pub(crate) async fn advance_all(
    tx: &mut Tx<'_>,
    moves: &[Advance],
    to: i64,
    now: &str,
) -> Result<Vec<ProjectionName>, ProjectionError> {
    let tx = match tx {
        Tx::Sqlite(tx) => {
            let mut moved = Vec::with_capacity(moves.len());
            for m in moves {
                if Sql::<Sqlite>::advance(&mut **tx, m.name, m.generation, m.from, to, now).await? {
                    moved.push(m.name);
                }
            }
            return Ok(moved);
        }
        Tx::Postgres(tx) => tx,
    };
    let rows = sqlx::query(
        "UPDATE projection_state AS p SET position = $1, updated_at = $2, last_error = NULL \
         FROM UNNEST($3::text[], $4::bigint[], $5::bigint[]) AS m(name, generation, position) \
         WHERE p.name = m.name AND p.generation = m.generation AND p.position = m.position \
         RETURNING p.name, \
           pg_notify($6, p.name || ':' || p.generation::text || ':' || ($1::bigint)::text)",
    )
    .bind(to)
    .bind(now.to_owned())
    .bind(
        moves
            .iter()
            .map(|m| m.name.as_str().to_owned())
            .collect::<Vec<String>>(),
    )
    .bind(moves.iter().map(|m| m.generation).collect::<Vec<i64>>())
    .bind(moves.iter().map(|m| m.from).collect::<Vec<i64>>())
    .bind(PROJECTIONS_CHANNEL)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get(0)?;
            ProjectionName::parse(&name)
                .ok_or_else(|| ProjectionError::Corrupt(format!("unknown projection {name}")))
        })
        .collect()
}
