//! The SQL, written once for PostgreSQL and SQLite (as the store's `engine.rs` and the
//! projections' `sql.rs` are): generic functions over the sqlx database with runtime-checked
//! queries, plus the two clauses that differ ([`Dialect`]). The tables have the same DDL on
//! both databases (`migrations/`: TEXT, BIGINT and BOOLEAN columns; times are BIGINT
//! microseconds since the Unix epoch, so both compare them the same way).
//!
//! Migrations are tracked in `_webhooks_migrations`, apart from the store's and the audit
//! crate's histories: each migrator refuses a history with versions it does not know. They
//! are migrations rather than projections-style `CREATE TABLE IF NOT EXISTS` because the
//! outbox and the subscriptions are state, not something a rebuild can recreate.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dbkit::{BigInt, Bind, Load, PoolPolicy};
pub(crate) use dbkit::{Db, Tx};
use sqlx::migrate::Migrator;
use sqlx::{
    ColumnIndex, Database, Executor, IntoArguments, Postgres, QueryBuilder, Row as _, Sqlite,
};
use store::{Position, StreamRef};
use uuid::Uuid;

use crate::error::WebhookError;
use crate::model::{
    Attempt, AttemptOutcome, Delivery, DeliveryId, DeliveryStatus, Intervention, InterventionKind,
    Subscription, SubscriptionId,
};

const MIGRATIONS_TABLE: &str = "_webhooks_migrations";
static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// The PostgreSQL channel on which the outbox announces new or rescheduled rows, so that
/// idle workers in every instance claim them at once rather than at their next poll.
pub const WEBHOOKS_CHANNEL: &str = "anslut_webhooks";

/// Rows per multi-row INSERT: 10 parameters each, below SQLite's 32766.
const ROWS_PER_INSERT: usize = 1000;

pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// A stored time: refused loudly when out of chrono's range, never read as the epoch.
pub(crate) fn at_micros(micros: i64) -> Result<DateTime<Utc>, WebhookError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| WebhookError::Corrupt(format!("time {micros} µs is out of range")))
}

fn to_u32(value: i64) -> Result<u32, WebhookError> {
    Ok(u32::from_bigint(value)?)
}

fn position(value: i64) -> Result<Position, WebhookError> {
    Ok(Position::from_bigint(value)?)
}

fn status_code(value: Option<i64>) -> Result<Option<u16>, WebhookError> {
    Ok(value.map(u16::from_bigint).transpose()?)
}

pub(crate) trait Dialect: Database {
    /// Appended to the claim's SELECT: lock the chosen rows, skipping rows another
    /// instance's claim holds (PostgreSQL). SQLite's write transaction already excludes
    /// every other writer.
    const CLAIM_LOCK: &'static str;
    /// Appended to a SELECT of one row inside a write transaction to lock it.
    const FOR_UPDATE: &'static str;
}

impl Dialect for Postgres {
    const CLAIM_LOCK: &'static str = " FOR UPDATE OF d SKIP LOCKED";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
}

impl Dialect for Sqlite {
    const CLAIM_LOCK: &'static str = "";
    const FOR_UPDATE: &'static str = "";
}

/// A new outbox row.
#[derive(Debug, Clone)]
pub(crate) struct NewDelivery {
    pub id: DeliveryId,
    pub subscription_id: SubscriptionId,
    pub position: Position,
    pub event_id: Uuid,
    pub event_type: String,
    pub stream: StreamRef,
}

/// What the projector needs of an active subscription.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub id: SubscriptionId,
    pub region: String,
    pub event_types: String,
    pub starts_after: i64,
}

/// A row a worker claimed, with what it needs to deliver it.
#[derive(Debug, Clone)]
pub(crate) struct Claimed {
    pub id: DeliveryId,
    pub subscription_id: SubscriptionId,
    pub position: Position,
    pub event_id: Uuid,
    pub attempts: u32,
    pub url: String,
    pub secret_key_id: String,
    pub secret_sealed: String,
    /// The secret before the last rotation, while it still signs: key id, sealed, expiry.
    pub previous_secret: Option<(String, String, i64)>,
}

/// A row whose lease expired, returned to pending (or parked) by the sweep.
#[derive(Debug, Clone)]
pub(crate) struct Abandoned {
    pub id: DeliveryId,
    pub attempts: u32,
    pub owner: String,
    pub claimed_at: i64,
}

/// How an attempt changes its row.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

/// One row of the attempt log, to write.
#[derive(Debug, Clone)]
pub(crate) struct NewAttempt {
    pub delivery_id: DeliveryId,
    pub attempt: u32,
    pub started_at: i64,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub outcome: AttemptOutcome,
    pub worker: String,
}

pub(crate) struct Sql<DB>(std::marker::PhantomData<DB>);

const SUBSCRIPTION_COLUMNS: &str = "id, region, url, event_types, description, active, \
    start_after, created_at, created_by, deactivated_at, deactivated_by, deactivation_reason";

const DELIVERY_COLUMNS: &str = "d.id, d.subscription_id, d.position, d.event_id, d.event_type, \
    d.stream_type, d.stream_id, d.status, d.attempts, d.next_attempt_at, d.last_status, \
    d.last_error, d.created_at, d.updated_at, d.delivered_at";

impl<DB> Sql<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    i64: Bind<DB> + Load<DB>,
    bool: Bind<DB> + Load<DB>,
    String: Bind<DB> + Load<DB>,
    Option<String>: Bind<DB> + Load<DB>,
    Option<i64>: Bind<DB> + Load<DB>,
{
    fn decode_subscription(row: &DB::Row) -> Result<Subscription, WebhookError> {
        let id: String = row.try_get("id")?;
        let event_types: String = row.try_get("event_types")?;
        Ok(Subscription {
            id: SubscriptionId::from_stored(&id)?,
            region: row.try_get("region")?,
            url: row.try_get("url")?,
            event_types: crate::filter::EventTypeFilter::from_stored(&event_types)?
                .patterns()
                .to_vec(),
            description: row.try_get("description")?,
            active: row.try_get("active")?,
            starts_after: position(row.try_get("start_after")?)?,
            created_at: at_micros(row.try_get("created_at")?)?,
            created_by: row.try_get("created_by")?,
            deactivated_at: row
                .try_get::<Option<i64>, _>("deactivated_at")?
                .map(at_micros)
                .transpose()?,
            deactivated_by: row.try_get("deactivated_by")?,
            deactivation_reason: row.try_get("deactivation_reason")?,
        })
    }

    fn decode_delivery(row: &DB::Row) -> Result<Delivery, WebhookError> {
        let id: String = row.try_get("id")?;
        let subscription: String = row.try_get("subscription_id")?;
        let event_id: String = row.try_get("event_id")?;
        let status: String = row.try_get("status")?;
        let status = DeliveryStatus::parse(&status)
            .ok_or_else(|| WebhookError::Corrupt(format!("delivery status {status:?}")))?;
        Ok(Delivery {
            id: DeliveryId::from_stored(&id)?,
            subscription_id: SubscriptionId::from_stored(&subscription)?,
            position: position(row.try_get("position")?)?,
            event_id: Uuid::parse_str(&event_id)
                .map_err(|_| WebhookError::Corrupt(format!("event id {event_id:?}")))?,
            event_type: row.try_get("event_type")?,
            stream: StreamRef::new(
                row.try_get::<String, _>("stream_type")?,
                row.try_get::<String, _>("stream_id")?,
            ),
            status,
            attempts: to_u32(row.try_get("attempts")?)?,
            next_attempt_at: (status == DeliveryStatus::Pending)
                .then(|| at_micros(row.try_get("next_attempt_at")?))
                .transpose()?,
            last_status: status_code(row.try_get("last_status")?)?,
            last_error: row.try_get("last_error")?,
            created_at: at_micros(row.try_get("created_at")?)?,
            updated_at: at_micros(row.try_get("updated_at")?)?,
            delivered_at: row
                .try_get::<Option<i64>, _>("delivered_at")?
                .map(at_micros)
                .transpose()?,
        })
    }

    // --- The projector's checkpoint ---------------------------------------------------

    /// The checkpoint and the projector's last error; `lock` takes the row's lock (in a write
    /// transaction), which is what orders a registration against the projector's batches.
    pub async fn checkpoint(
        conn: &mut DB::Connection,
        lock: bool,
    ) -> Result<(i64, Option<String>), WebhookError> {
        let sql = format!(
            "SELECT position, last_error FROM webhook_projector WHERE id = 1{}",
            if lock { DB::FOR_UPDATE } else { "" }
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(conn)
            .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Moves the checkpoint from `from` to `to` if it is still at `from` (taking the row's
    /// lock). False when another projector moved it first.
    pub async fn advance(
        conn: &mut DB::Connection,
        from: i64,
        to: i64,
        now: i64,
    ) -> Result<bool, WebhookError> {
        let done = sqlx::query(
            "UPDATE webhook_projector SET position = $1, updated_at = $2, last_error = NULL \
             WHERE id = 1 AND position = $3 RETURNING id",
        )
        .bind(to)
        .bind(now)
        .bind(from)
        .fetch_optional(conn)
        .await?;
        Ok(done.is_some())
    }

    pub async fn set_projector_error(
        conn: &mut DB::Connection,
        error: &str,
        now: i64,
    ) -> Result<(), WebhookError> {
        sqlx::query("UPDATE webhook_projector SET last_error = $1, updated_at = $2 WHERE id = 1")
            .bind(error.to_owned())
            .bind(now)
            .execute(conn)
            .await?;
        Ok(())
    }

    // --- Subscriptions ----------------------------------------------------------------

    pub async fn count_active(
        conn: &mut DB::Connection,
        region: &str,
    ) -> Result<usize, WebhookError> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM webhook_subscriptions WHERE region = $1 AND active = $2",
        )
        .bind(region.to_owned())
        .bind(true)
        .fetch_one(conn)
        .await?;
        Ok(usize::try_from(row.try_get::<i64, _>(0)?).unwrap_or(usize::MAX))
    }

    pub async fn insert_subscription(
        conn: &mut DB::Connection,
        subscription: &Subscription,
        event_types: &str,
        secret_key_id: &str,
        secret_sealed: &str,
        idempotency: Option<(&str, &str)>,
    ) -> Result<(), WebhookError> {
        sqlx::query(
            "INSERT INTO webhook_subscriptions (id, region, url, event_types, description, \
             active, start_after, secret_key_id, secret_sealed, created_at, created_by, \
             idempotency_key, idempotency_fingerprint) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(subscription.id.to_string())
        .bind(subscription.region.clone())
        .bind(subscription.url.clone())
        .bind(event_types.to_owned())
        .bind(subscription.description.clone())
        .bind(subscription.active)
        .bind(subscription.starts_after.to_bigint()?)
        .bind(secret_key_id.to_owned())
        .bind(secret_sealed.to_owned())
        .bind(micros(subscription.created_at))
        .bind(subscription.created_by.clone())
        .bind(idempotency.map(|(key, _)| key.to_owned()))
        .bind(idempotency.map(|(_, fingerprint)| fingerprint.to_owned()))
        .execute(conn)
        .await?;
        Ok(())
    }

    /// The subscription `created_by` registered in `region` with the idempotency `key`, and
    /// the fingerprint of that request.
    pub async fn subscription_by_key(
        conn: &mut DB::Connection,
        region: &str,
        created_by: &str,
        key: &str,
    ) -> Result<Option<(Subscription, String)>, WebhookError> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS}, idempotency_fingerprint FROM webhook_subscriptions \
             WHERE region = $1 AND created_by = $2 AND idempotency_key = $3"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(region.to_owned())
            .bind(created_by.to_owned())
            .bind(key.to_owned())
            .fetch_optional(conn)
            .await?;
        row.map(|row| {
            let fingerprint: String = row.try_get("idempotency_fingerprint")?;
            Ok((Self::decode_subscription(&row)?, fingerprint))
        })
        .transpose()
    }

    /// Makes the sealed `secret` the subscription's, keeping the current one as the previous
    /// secret until `previous_expires_at` (a previous secret from an earlier rotation is
    /// dropped). False when no active subscription of the region has the id.
    pub async fn rotate_secret(
        conn: &mut DB::Connection,
        region: &str,
        id: SubscriptionId,
        secret_key_id: &str,
        secret_sealed: &str,
        previous_expires_at: i64,
        now: i64,
    ) -> Result<bool, WebhookError> {
        let done = sqlx::query(
            "UPDATE webhook_subscriptions SET previous_secret_key_id = secret_key_id, \
             previous_secret_sealed = secret_sealed, previous_secret_expires_at = $1, \
             secret_key_id = $2, secret_sealed = $3, secret_rotated_at = $4 \
             WHERE region = $5 AND id = $6 AND active = $7 RETURNING id",
        )
        .bind(previous_expires_at)
        .bind(secret_key_id.to_owned())
        .bind(secret_sealed.to_owned())
        .bind(now)
        .bind(region.to_owned())
        .bind(id.to_string())
        .bind(true)
        .fetch_optional(conn)
        .await?;
        Ok(done.is_some())
    }

    pub async fn subscriptions(
        conn: &mut DB::Connection,
        region: &str,
    ) -> Result<Vec<Subscription>, WebhookError> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE region = $1 \
             ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(region.to_owned())
            .fetch_all(conn)
            .await?;
        rows.iter().map(Self::decode_subscription).collect()
    }

    pub async fn subscription(
        conn: &mut DB::Connection,
        region: &str,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, WebhookError> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE region = $1 AND id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(region.to_owned())
            .bind(id.to_string())
            .fetch_optional(conn)
            .await?;
        row.as_ref().map(Self::decode_subscription).transpose()
    }

    /// Deactivates an active subscription; false when it is not active (or not there).
    pub async fn deactivate(
        conn: &mut DB::Connection,
        id: SubscriptionId,
        by: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool, WebhookError> {
        let done = sqlx::query(
            "UPDATE webhook_subscriptions SET active = $1, deactivated_at = $2, \
             deactivated_by = $3, deactivation_reason = $4 WHERE id = $5 AND active = $6 \
             RETURNING id",
        )
        .bind(false)
        .bind(now)
        .bind(by.to_owned())
        .bind(reason.to_owned())
        .bind(id.to_string())
        .bind(true)
        .fetch_optional(conn)
        .await?;
        Ok(done.is_some())
    }

    /// The active subscriptions, for routing a batch of events.
    pub async fn routes(conn: &mut DB::Connection) -> Result<Vec<Route>, WebhookError> {
        let rows = sqlx::query(
            "SELECT id, region, event_types, start_after FROM webhook_subscriptions \
             WHERE active = $1 ORDER BY id",
        )
        .bind(true)
        .fetch_all(conn)
        .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get(0)?;
                Ok(Route {
                    id: SubscriptionId::from_stored(&id)?,
                    region: row.try_get(1)?,
                    event_types: row.try_get(2)?,
                    starts_after: row.try_get(3)?,
                })
            })
            .collect()
    }

    // --- The outbox -------------------------------------------------------------------

    pub async fn insert_deliveries(
        conn: &mut DB::Connection,
        rows: &[NewDelivery],
        now: i64,
    ) -> Result<(), WebhookError> {
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let positions = chunk
                .iter()
                .map(|row| row.position.to_bigint())
                .collect::<Result<Vec<i64>, _>>()?;
            let mut query = QueryBuilder::<DB>::new(
                "INSERT INTO webhook_deliveries (id, subscription_id, position, event_id, \
                 event_type, stream_type, stream_id, status, attempts, next_attempt_at, \
                 created_at, updated_at) ",
            );
            query.push_values(
                chunk.iter().zip(positions),
                |mut values, (row, position)| {
                    values
                        .push_bind(row.id.to_string())
                        .push_bind(row.subscription_id.to_string())
                        .push_bind(position)
                        .push_bind(row.event_id.to_string())
                        .push_bind(row.event_type.clone())
                        .push_bind(row.stream.stream_type.clone())
                        .push_bind(row.stream.stream_id.clone())
                        .push("'pending', 0")
                        .push_bind(now)
                        .push_bind(now)
                        .push_bind(now);
                },
            );
            query.build().execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Returns rows whose lease expired to pending (due at once) or, when that was their
    /// last allowed attempt, parks them. The lost attempt counts: a delivery that crashes
    /// its worker every time must not hold its stream for ever.
    pub async fn sweep_expired(
        conn: &mut DB::Connection,
        now: i64,
        max_attempts: u32,
    ) -> Result<Vec<Abandoned>, WebhookError> {
        let rows = sqlx::query(
            "UPDATE webhook_deliveries SET \
                status = CASE WHEN attempts + 1 >= $1 THEN 'parked' ELSE 'pending' END, \
                attempts = attempts + 1, next_attempt_at = $2, updated_at = $2, \
                last_status = NULL, \
                last_error = 'the worker stopped before recording the outcome', \
                lease_token = NULL, lease_until = NULL \
             WHERE status = 'delivering' AND lease_until < $2 \
             RETURNING id, attempts, lease_owner, claimed_at",
        )
        .bind(i64::from(max_attempts.max(1)))
        .bind(now)
        .fetch_all(conn)
        .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get(0)?;
                Ok(Abandoned {
                    id: DeliveryId::from_stored(&id)?,
                    attempts: to_u32(row.try_get(1)?)?,
                    owner: row.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                    claimed_at: row.try_get::<Option<i64>, _>(3)?.unwrap_or(now),
                })
            })
            .collect()
    }

    /// Claims up to `limit` due rows: pending, due, of an active subscription, and with no
    /// earlier row of the same subscription and stream still pending, delivering or parked.
    /// Marks them delivering under the lease `token` until `until`.
    pub async fn claim(
        conn: &mut DB::Connection,
        now: i64,
        limit: usize,
        token: &str,
        owner: &str,
        until: i64,
    ) -> Result<Vec<Claimed>, WebhookError> {
        let sql = format!(
            "SELECT d.id, d.subscription_id, d.position, d.event_id, d.attempts, s.url, \
                    s.secret_key_id, s.secret_sealed, s.previous_secret_key_id, \
                    s.previous_secret_sealed, s.previous_secret_expires_at \
             FROM webhook_deliveries d \
             JOIN webhook_subscriptions s ON s.id = d.subscription_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND s.active = $2 \
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e \
                   WHERE e.subscription_id = d.subscription_id \
                     AND e.stream_type = d.stream_type AND e.stream_id = d.stream_id \
                     AND e.position < d.position \
                     AND e.status IN ('pending', 'delivering', 'parked')) \
             ORDER BY d.next_attempt_at, d.position \
             LIMIT $3{}",
            DB::CLAIM_LOCK
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(true)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get(0)?;
            let subscription: String = row.try_get(1)?;
            let event_id: String = row.try_get(3)?;
            claimed.push(Claimed {
                id: DeliveryId::from_stored(&id)?,
                subscription_id: SubscriptionId::from_stored(&subscription)?,
                position: position(row.try_get(2)?)?,
                event_id: Uuid::parse_str(&event_id)
                    .map_err(|_| WebhookError::Corrupt(format!("event id {event_id:?}")))?,
                attempts: to_u32(row.try_get(4)?)?,
                url: row.try_get(5)?,
                secret_key_id: row.try_get(6)?,
                secret_sealed: row.try_get(7)?,
                previous_secret: match (
                    row.try_get::<Option<String>, _>(8)?,
                    row.try_get::<Option<String>, _>(9)?,
                    row.try_get::<Option<i64>, _>(10)?,
                ) {
                    (Some(key_id), Some(sealed), Some(expires)) => Some((key_id, sealed, expires)),
                    _ => None,
                },
            });
        }
        if claimed.is_empty() {
            return Ok(claimed);
        }
        let mut update = QueryBuilder::<DB>::new(
            "UPDATE webhook_deliveries SET status = 'delivering', lease_token = ",
        );
        update
            .push_bind(token.to_owned())
            .push(", lease_owner = ")
            .push_bind(owner.to_owned())
            .push(", lease_until = ")
            .push_bind(until)
            .push(", claimed_at = ")
            .push_bind(now)
            .push(", updated_at = ")
            .push_bind(now)
            .push(" WHERE id IN (");
        let mut ids = update.separated(", ");
        for row in &claimed {
            ids.push_bind(row.id.to_string());
        }
        update.push(")");
        update.build().execute(&mut *conn).await?;
        Ok(claimed)
    }

    /// When the earliest pending row of an active subscription is due, if there is one.
    /// (Rows of deactivated subscriptions stay pending for ever and are never due.)
    pub async fn next_due(conn: &mut DB::Connection) -> Result<Option<i64>, WebhookError> {
        let row = sqlx::query(
            "SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d \
             JOIN webhook_subscriptions s ON s.id = d.subscription_id \
             WHERE d.status = 'pending' AND s.active = $1",
        )
        .bind(true)
        .fetch_one(conn)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Applies an attempt's outcome, if the lease `token` still holds the row. False when
    /// the lease was lost (it expired and the row was swept or claimed again).
    pub async fn record(
        conn: &mut DB::Connection,
        id: DeliveryId,
        token: &str,
        outcome: &Outcome,
        now: i64,
    ) -> Result<bool, WebhookError> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, \
             last_status = $4, last_error = $5, delivered_at = COALESCE($6, delivered_at), \
             updated_at = $7, lease_token = NULL, lease_until = NULL \
             WHERE id = $8 AND status = 'delivering' AND lease_token = $9 RETURNING id",
        )
        .bind(outcome.status.as_str().to_owned())
        .bind(i64::from(outcome.attempts))
        .bind(outcome.next_attempt_at)
        .bind(outcome.last_status.map(i64::from))
        .bind(outcome.last_error.clone())
        .bind(outcome.delivered_at)
        .bind(now)
        .bind(id.to_string())
        .bind(token.to_owned())
        .fetch_optional(conn)
        .await?;
        Ok(done.is_some())
    }

    /// Gives a claimed row back without an attempt (the event could not be read, e.g. the
    /// database was unavailable): pending again, due at `retry_at`, attempts unchanged.
    pub async fn release(
        conn: &mut DB::Connection,
        id: DeliveryId,
        token: &str,
        retry_at: i64,
        now: i64,
    ) -> Result<(), WebhookError> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, \
             updated_at = $2, lease_token = NULL, lease_until = NULL \
             WHERE id = $3 AND status = 'delivering' AND lease_token = $4",
        )
        .bind(retry_at)
        .bind(now)
        .bind(id.to_string())
        .bind(token.to_owned())
        .execute(conn)
        .await?;
        Ok(())
    }

    pub async fn insert_attempt(
        conn: &mut DB::Connection,
        attempt: &NewAttempt,
    ) -> Result<(), WebhookError> {
        sqlx::query(
            "INSERT INTO webhook_attempts (id, delivery_id, attempt, started_at, duration_ms, \
             status_code, error, outcome, worker) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(attempt.delivery_id.to_string())
        .bind(i64::from(attempt.attempt))
        .bind(attempt.started_at)
        .bind(attempt.duration_ms.to_bigint()?)
        .bind(attempt.status_code.map(i64::from))
        .bind(attempt.error.clone())
        .bind(attempt.outcome.as_str().to_owned())
        .bind(attempt.worker.clone())
        .execute(conn)
        .await?;
        Ok(())
    }

    // --- The delivery log and interventions --------------------------------------------

    pub async fn deliveries(
        conn: &mut DB::Connection,
        subscription: SubscriptionId,
        status: Option<DeliveryStatus>,
        before: Option<Position>,
        limit: usize,
    ) -> Result<Vec<Delivery>, WebhookError> {
        let mut query = QueryBuilder::<DB>::new(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.subscription_id = "
        ));
        query.push_bind(subscription.to_string());
        if let Some(status) = status {
            query
                .push(" AND d.status = ")
                .push_bind(status.as_str().to_owned());
        }
        if let Some(before) = before {
            query
                .push(" AND d.position < ")
                // A read bound: nothing is stored past i64::MAX, so a larger one bounds nothing.
                .push_bind(i64::try_from(before.get()).unwrap_or(i64::MAX));
        }
        query
            .push(" ORDER BY d.position DESC LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = query.build().fetch_all(conn).await?;
        rows.iter().map(Self::decode_delivery).collect()
    }

    /// One delivery of a subscription in `region`; `lock` takes its row lock.
    pub async fn delivery(
        conn: &mut DB::Connection,
        region: &str,
        id: DeliveryId,
        lock: bool,
    ) -> Result<Option<Delivery>, WebhookError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.id = $1 AND \
             d.subscription_id IN (SELECT id FROM webhook_subscriptions WHERE region = $2){}",
            if lock { DB::FOR_UPDATE } else { "" }
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .bind(region.to_owned())
            .fetch_optional(conn)
            .await?;
        row.as_ref().map(Self::decode_delivery).transpose()
    }

    pub async fn attempts(
        conn: &mut DB::Connection,
        id: DeliveryId,
    ) -> Result<Vec<Attempt>, WebhookError> {
        let rows = sqlx::query(
            "SELECT attempt, started_at, duration_ms, status_code, error, outcome, worker \
             FROM webhook_attempts WHERE delivery_id = $1 ORDER BY started_at, id",
        )
        .bind(id.to_string())
        .fetch_all(conn)
        .await?;
        rows.iter()
            .map(|row| {
                let outcome: String = row.try_get(5)?;
                Ok(Attempt {
                    delivery_id: id,
                    attempt: to_u32(row.try_get(0)?)?,
                    started_at: at_micros(row.try_get(1)?)?,
                    duration_ms: u64::from_bigint(row.try_get(2)?)?,
                    status_code: status_code(row.try_get(3)?)?,
                    error: row.try_get(4)?,
                    outcome: AttemptOutcome::parse(&outcome)
                        .ok_or_else(|| WebhookError::Corrupt(format!("outcome {outcome:?}")))?,
                    worker: row.try_get(6)?,
                })
            })
            .collect()
    }

    pub async fn interventions(
        conn: &mut DB::Connection,
        id: DeliveryId,
    ) -> Result<Vec<Intervention>, WebhookError> {
        let rows = sqlx::query(
            "SELECT action, from_status, requested_at, requested_by FROM webhook_interventions \
             WHERE delivery_id = $1 ORDER BY id",
        )
        .bind(id.to_string())
        .fetch_all(conn)
        .await?;
        rows.iter()
            .map(|row| {
                let action: String = row.try_get(0)?;
                let from: String = row.try_get(1)?;
                Ok(Intervention {
                    action: match action.as_str() {
                        "redeliver" => InterventionKind::Redeliver,
                        "skip" => InterventionKind::Skip,
                        _ => return Err(WebhookError::Corrupt(format!("action {action:?}"))),
                    },
                    from_status: DeliveryStatus::parse(&from)
                        .ok_or_else(|| WebhookError::Corrupt(format!("status {from:?}")))?,
                    requested_at: at_micros(row.try_get(2)?)?,
                    requested_by: row.try_get(3)?,
                })
            })
            .collect()
    }

    /// Moves a delivery to `status` on a person's request, and records who asked. For a
    /// redelivery (`status` pending) the attempt count starts again and it is due at once.
    pub async fn intervene(
        conn: &mut DB::Connection,
        delivery: &Delivery,
        action: InterventionKind,
        by: &str,
        now: i64,
    ) -> Result<(), WebhookError> {
        let (status, reset) = match action {
            InterventionKind::Redeliver => (DeliveryStatus::Pending, true),
            InterventionKind::Skip => (DeliveryStatus::Skipped, false),
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, \
             attempts = CASE WHEN $2 THEN 0 ELSE attempts END, next_attempt_at = $3, \
             updated_at = $3 WHERE id = $4",
        )
        .bind(status.as_str().to_owned())
        .bind(reset)
        .bind(now)
        .bind(delivery.id.to_string())
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO webhook_interventions (id, delivery_id, action, from_status, \
             requested_at, requested_by) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(delivery.id.to_string())
        .bind(
            match action {
                InterventionKind::Redeliver => "redeliver",
                InterventionKind::Skip => "skip",
            }
            .to_owned(),
        )
        .bind(delivery.status.as_str().to_owned())
        .bind(now)
        .bind(by.to_owned())
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Outbox rows that are not done (pending, delivering, parked), and the earliest due time
    /// of pending rows. Each count reads a partial index of its status only, so it costs what
    /// waits, however many rows were delivered before.
    pub async fn live_counts(
        conn: &mut DB::Connection,
    ) -> Result<(LiveCounts, Option<i64>), WebhookError> {
        let row = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'), \
             (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivering'), \
             (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'parked')",
        )
        .fetch_one(&mut *conn)
        .await?;
        let count =
            |i: usize| -> Result<u64, WebhookError> { Ok(u64::from_bigint(row.try_get(i)?)?) };
        let counts = LiveCounts {
            pending: count(0)?,
            delivering: count(1)?,
            parked: count(2)?,
        };
        Ok((counts, Self::next_due(conn).await?))
    }

    /// Rows done for good (delivered, skipped): these grow with every delivery and are never
    /// pruned, so counting them reads the whole outbox; callers cache the answer.
    pub async fn terminal_counts(conn: &mut DB::Connection) -> Result<(u64, u64), WebhookError> {
        let row = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'), \
             (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'skipped')",
        )
        .fetch_one(&mut *conn)
        .await?;
        Ok((
            u64::from_bigint(row.try_get(0)?)?,
            u64::from_bigint(row.try_get(1)?)?,
        ))
    }
}

/// The outbox rows still in play.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LiveCounts {
    pub pending: u64,
    pub delivering: u64,
    pub parked: u64,
}

/// Opens the crate's pools on the store's database (`postgres://…`, or an SQLite file as
/// `sqlite://path…` or a plain path) and applies the migrations.
pub(crate) async fn connect(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<Db, WebhookError> {
    // The outbox is the delivery promise: a commit that said "enqueued" must survive a power
    // loss, as the store's own commits do (durability Full, the policy's default).
    let db = dbkit::connect(
        url,
        // The projector and a worker may each need a connection at once.
        &PoolPolicy::new("the outbox", max_connections.max(2), acquire_timeout),
    )
    .await?;
    dbkit::migrate(&db, &MIGRATIONS, &MIGRATIONS, MIGRATIONS_TABLE).await?;
    Ok(db)
}
