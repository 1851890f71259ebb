//! What differs between PostgreSQL and SQLite. Everything else in the store is written once,
//! generically over the sqlx database, with runtime-checked queries (`sqlx::query`), so the
//! crate builds without a database or offline query data.

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{Pool, Postgres, Sqlite, Transaction};

/// The PostgreSQL `NOTIFY` channel on which every append announces the new head position (the
/// payload is the position in decimal). Other processes `LISTEN` to wake their followers.
pub const NOTIFY_CHANNEL: &str = "anslut_events";

pub(crate) trait Dialect: sqlx::Database {
    /// Takes the log's write lock for the current transaction and returns
    /// `(position, last_recorded_at, now)`: the head, the newest `recorded_at`, and the
    /// database clock (NULL where the process clock is used instead).
    const LOCK_HEAD: &'static str;
    /// Appended to a bound JSON text parameter (PostgreSQL stores payloads in `json` columns,
    /// which keep the text exactly as written).
    const JSON_PARAM: &'static str;
    /// The columns of `events` in the order `Engine` decodes them, JSON as text.
    const EVENT_COLUMNS: &'static str;
    /// The snapshot payload column as text.
    const SNAPSHOT_PAYLOAD: &'static str;
    /// Sends the notification in the appending transaction, delivered on commit.
    const NOTIFY: Option<&'static str>;

    /// Starts a transaction that will append. On SQLite this takes the database's write lock
    /// at once (`BEGIN IMMEDIATE`), which is the whole serialisation; a deferred transaction
    /// would read first and could then fail to upgrade its lock.
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;

    fn migrate(pool: &Pool<Self>) -> impl Future<Output = Result<(), MigrateError>> + Send;
}

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

impl Dialect for Postgres {
    // A row lock on the single head row, held until commit or rollback. PostgreSQL makes a
    // transaction visible before it releases its locks, so the next appender cannot take
    // positions until everything before them is visible.
    const LOCK_HEAD: &'static str = "UPDATE log_head SET position = position WHERE id = 1 \
        RETURNING position, last_recorded_at, clock_timestamp() AS now";
    const JSON_PARAM: &'static str = "::json";
    const EVENT_COLUMNS: &'static str = "position, stream_type, stream_id, version, event_id, \
        event_type, event_version, payload::text AS payload, metadata::text AS metadata, \
        command_id, correlation_id, causation_id, actor_subject, actor_role, actor_region, \
        actor_provider_org, recorded_at, prev_hash, hash";
    const SNAPSHOT_PAYLOAD: &'static str = "payload::text AS payload";
    const NOTIFY: Option<&'static str> = Some("SELECT pg_notify($1, $2)");

    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, sqlx::Error> {
        pool.begin().await
    }

    async fn migrate(pool: &Pool<Self>) -> Result<(), MigrateError> {
        POSTGRES_MIGRATIONS.run(pool).await
    }
}

impl Dialect for Sqlite {
    const LOCK_HEAD: &'static str =
        "SELECT position, last_recorded_at, NULL AS now FROM log_head WHERE id = 1";
    const JSON_PARAM: &'static str = "";
    const EVENT_COLUMNS: &'static str = "position, stream_type, stream_id, version, event_id, \
        event_type, event_version, payload, metadata, command_id, correlation_id, \
        causation_id, actor_subject, actor_role, actor_region, actor_provider_org, recorded_at, \
        prev_hash, hash";
    const SNAPSHOT_PAYLOAD: &'static str = "payload";
    const NOTIFY: Option<&'static str> = None;

    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    async fn migrate(pool: &Pool<Self>) -> Result<(), MigrateError> {
        SQLITE_MIGRATIONS.run(pool).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT_COLUMNS_TEMPLATE: &str = "position, stream_type, stream_id, version, event_id, \
        event_type, event_version, payload{json}, metadata{json}, command_id, correlation_id, \
        causation_id, actor_subject, actor_role, actor_region, actor_provider_org, recorded_at, \
        prev_hash, hash";

    #[test]
    fn both_dialects_select_the_same_event_columns() {
        assert_eq!(
            <Sqlite as Dialect>::EVENT_COLUMNS,
            EVENT_COLUMNS_TEMPLATE.replace("{json}", "")
        );
        assert_eq!(
            <Postgres as Dialect>::EVENT_COLUMNS,
            EVENT_COLUMNS_TEMPLATE
                .replace("payload{json}", "payload::text AS payload")
                .replace("metadata{json}", "metadata::text AS metadata")
        );
    }
}
