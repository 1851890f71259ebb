//! What differs between PostgreSQL and SQLite. Everything else in the store is written once,
//! generically over the sqlx database, with runtime-checked queries (`sqlx::query`), so the
//! crate builds without a database or offline query data.

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{Pool, Postgres, Sqlite, Transaction};

/// The PostgreSQL `NOTIFY` channel on which every append announces the new head position (the
/// payload is the position in decimal). Other processes `LISTEN` to wake their followers.
pub const NOTIFY_CHANNEL: &str = "anslut_events";

pub(crate) trait Dialect: sqlx::Database {
    /// The clock read under the lock for `recorded_at`: the database's where it has one
    /// worth trusting, `NULL` for the process clock.
    const CLOCK: &'static str;
    /// Whether a batch's inserts go in one statement (data-modifying CTEs): worth it where
    /// every statement is a network round trip.
    const ONE_STATEMENT_WRITES: bool;
    /// Whether to try the optimistic two-round-trip write first (see
    /// `Engine::write_optimistically`): worth it where round trips dominate.
    const OPTIMISTIC_WRITES: bool;
    /// Appended to a bound JSON text parameter (PostgreSQL stores payloads in `json` columns,
    /// which keep the text exactly as written).
    const JSON_PARAM: &'static str;
    /// The columns of `events` in the order `Engine` decodes them, JSON as text.
    const EVENT_COLUMNS: &'static str;
    /// The snapshot payload column as text.
    const SNAPSHOT_PAYLOAD: &'static str;
    /// The function that sends a notification from the appending transaction (delivered on
    /// commit): `function(channel, payload)`.
    const NOTIFY_FUNCTION: Option<&'static str>;

    /// Starts a transaction that will append, holding the log's lock from its first round
    /// trip until it ends.
    ///
    /// PostgreSQL: `BEGIN` and a no-op `UPDATE` of the single `log_head` row, sent together;
    /// the row lock is held until commit or rollback, and PostgreSQL makes a transaction
    /// visible before it releases its locks, so the next appender cannot take positions until
    /// everything before them is visible. SQLite: `BEGIN IMMEDIATE` takes the database's
    /// write lock at once (a deferred transaction would read first and could then fail to
    /// upgrade its lock).
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;

    /// A read-only transaction that starts once no writer holds the log's lock, and keeps
    /// writers waiting only while it runs: what a settled answer to "was this command
    /// recorded?" needs.
    fn begin_settled_read(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;

    fn migrate(pool: &Pool<Self>) -> impl Future<Output = Result<(), MigrateError>> + Send;
}

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

impl Dialect for Postgres {
    const CLOCK: &'static str = "clock_timestamp()";
    const ONE_STATEMENT_WRITES: bool = true;
    const OPTIMISTIC_WRITES: bool = true;
    const JSON_PARAM: &'static str = "::json";
    const EVENT_COLUMNS: &'static str = "position, stream_type, stream_id, version, event_id, \
        event_type, event_version, payload::text AS payload, metadata::text AS metadata, \
        command_id, correlation_id, causation_id, actor_subject, actor_role, actor_region, \
        actor_provider_org, recorded_at, prev_hash, hash";
    const SNAPSHOT_PAYLOAD: &'static str = "payload::text AS payload";
    const NOTIFY_FUNCTION: Option<&'static str> = Some("pg_notify");

    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, sqlx::Error> {
        pool.begin_with("BEGIN; UPDATE log_head SET position = position WHERE id = 1")
            .await
    }

    async fn begin_settled_read(
        pool: &Pool<Self>,
    ) -> Result<Transaction<'static, Self>, sqlx::Error> {
        // FOR SHARE waits for the writer's row lock (taken by every append) and takes none
        // that other settled readers would wait for.
        pool.begin_with("BEGIN; SELECT 1 FROM log_head WHERE id = 1 FOR SHARE")
            .await
    }

    async fn migrate(pool: &Pool<Self>) -> Result<(), MigrateError> {
        POSTGRES_MIGRATIONS.run(pool).await
    }
}

impl Dialect for Sqlite {
    const CLOCK: &'static str = "NULL";
    const ONE_STATEMENT_WRITES: bool = false;
    const OPTIMISTIC_WRITES: bool = false;
    const JSON_PARAM: &'static str = "";
    const EVENT_COLUMNS: &'static str = "position, stream_type, stream_id, version, event_id, \
        event_type, event_version, payload, metadata, command_id, correlation_id, \
        causation_id, actor_subject, actor_role, actor_region, actor_provider_org, recorded_at, \
        prev_hash, hash";
    const SNAPSHOT_PAYLOAD: &'static str = "payload";
    const NOTIFY_FUNCTION: Option<&'static str> = None;

    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    async fn begin_settled_read(
        pool: &Pool<Self>,
    ) -> Result<Transaction<'static, Self>, sqlx::Error> {
        // One writer at a time: taking the write lock waits for the one in flight.
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    async fn migrate(pool: &Pool<Self>) -> Result<(), MigrateError> {
        SQLITE_MIGRATIONS.run(pool).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Engine::decode_event` and `Engine::decode_recorded` read each column by its place in
    /// `EVENT_COLUMNS`, in this order.
    const EVENT_COLUMN_NAMES: [&str; 19] = [
        "position",
        "stream_type",
        "stream_id",
        "version",
        "event_id",
        "event_type",
        "event_version",
        "payload",
        "metadata",
        "command_id",
        "correlation_id",
        "causation_id",
        "actor_subject",
        "actor_role",
        "actor_region",
        "actor_provider_org",
        "recorded_at",
        "prev_hash",
        "hash",
    ];

    #[test]
    fn both_dialects_select_the_event_columns_in_the_order_the_engine_reads_them() {
        assert_eq!(
            <Sqlite as Dialect>::EVENT_COLUMNS,
            EVENT_COLUMN_NAMES.join(", ")
        );
        let postgres: Vec<String> = EVENT_COLUMN_NAMES
            .iter()
            .map(|&name| match name {
                "payload" | "metadata" => format!("{name}::text AS {name}"),
                _ => name.to_owned(),
            })
            .collect();
        assert_eq!(<Postgres as Dialect>::EVENT_COLUMNS, postgres.join(", "));
    }
}
