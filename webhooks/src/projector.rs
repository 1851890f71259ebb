//! The outbox projector: follows the log from its checkpoint and turns each event into one
//! outbox row per matching subscription, exactly once.
//!
//! # Exactly once
//! A batch is `read_all(after = checkpoint)`; then, in ONE write transaction: move the
//! checkpoint by compare-and-set (it must still be where this projector read it, which also
//! takes the row's lock), read the active subscriptions, insert the batch's rows, commit. A
//! crash before the commit leaves rows and checkpoint as they were; after it, both moved.
//! The `UNIQUE (subscription_id, position)` constraint backs this: a bug that enqueued twice
//! would fail the batch rather than deliver twice.
//!
//! # Which subscriptions see an event
//! Those active when the batch commits, of the event's region (`tenant_region` in its
//! metadata), whose filter accepts its CloudEvents type, and registered before the event
//! was recorded (`position > starts_after`). Registration takes the checkpoint row's lock
//! and reads the log's head after it, so a subscription misses no event recorded after its
//! registration and gets none from before. Events without a recorded tenancy go nowhere.
//!
//! # Leadership
//! On PostgreSQL one instance projects at a time: it holds `pg_try_advisory_lock(LOCK_KEY)`
//! on a connection of its own, pinged before every batch; when its process dies the lock goes
//! with the connection and another instance takes over within `leader_retry`. Two projectors
//! at once (a leader whose connection died mid-batch) are harmless: the compare-and-set lets
//! only one commit each range. SQLite is one process: always the leader.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row as _};
use store::Position;
use tokio::sync::watch;

use crate::cloudevent::{event_type_of, region_of};
use crate::db::{Db, NewDelivery, micros, on_read, on_tx};
use crate::error::WebhookError;
use crate::filter::EventTypeFilter;
use crate::model::{DeliveryId, SubscriptionId};
use crate::service::Shared;

/// The advisory lock of the outbox projector (FNV-1a of `anslut.webhooks.outbox`).
pub(crate) const LOCK_KEY: i64 = {
    let bytes = b"anslut.webhooks.outbox";
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
};

/// The projector's leadership: on PostgreSQL a connection holding the advisory lock.
enum Lead {
    Postgres(PgConnection),
    Sqlite,
}

impl Lead {
    async fn try_take(
        db: &Db,
        candidate: &mut Option<PgConnection>,
    ) -> Result<Option<Self>, WebhookError> {
        let Db::Postgres(engine) = db else {
            return Ok(Some(Self::Sqlite));
        };
        let mut conn = match candidate.take() {
            Some(conn) => conn,
            None => PgConnection::connect_with(&engine.write.connect_options()).await?,
        };
        let taken: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(LOCK_KEY)
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

    async fn still_held(&mut self) -> bool {
        match self {
            Self::Postgres(conn) => conn.ping().await.is_ok(),
            Self::Sqlite => true,
        }
    }
}

/// Waits for a wake-up, `timeout`, or the stop signal; true when stopping.
async fn pause(
    wake: &mut watch::Receiver<u64>,
    stop: &mut watch::Receiver<bool>,
    timeout: std::time::Duration,
) -> bool {
    tokio::select! {
        _ = wake.changed() => false,
        () = tokio::time::sleep(timeout) => false,
        _ = stop.changed() => true,
    }
}

enum Step {
    /// The checkpoint is (now) here.
    Advanced(i64),
    Idle,
    LostRace,
}

/// The projector task: lead, then batch after batch; stops between batches.
pub(crate) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut wake = shared.log_moved.subscribe();
    let mut lead: Option<Lead> = None;
    let mut candidate: Option<PgConnection> = None;
    let mut cursor: Option<i64> = None;
    let options = shared.options.clone();
    while !*stop.borrow() {
        if lead.is_none() {
            match Lead::try_take(&shared.db, &mut candidate).await {
                Ok(Some(taken)) => {
                    tracing::info!("webhooks: leading the outbox projector");
                    lead = Some(taken);
                    cursor = None;
                    shared.set_local(|l| l.leading = true);
                }
                Ok(None) => {
                    if pause(&mut wake, &mut stop, options.leader_retry).await {
                        break;
                    }
                    continue;
                }
                Err(error) => {
                    candidate = None;
                    shared.set_local(|l| l.projector_error = Some(error.to_string()));
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
            tracing::warn!("webhooks: lost the outbox projector's leadership connection");
            lead = None;
            shared.set_local(|l| l.leading = false);
            continue;
        }
        let result = match cursor {
            Some(at) => step(&shared, at).await,
            None => read_checkpoint(&shared.db).await.map(Step::Advanced),
        };
        match result {
            Ok(Step::Advanced(at)) => {
                cursor = Some(at);
                shared.set_local(|l| l.projector_error = None);
            }
            Ok(Step::Idle) => {
                if pause(&mut wake, &mut stop, options.poll_interval).await {
                    break;
                }
            }
            Ok(Step::LostRace) => cursor = None,
            Err(error) => {
                tracing::warn!(%error, "webhooks: outbox batch failed; retrying");
                cursor = None;
                let message = error.to_string();
                shared.set_local(|l| l.projector_error = Some(message.clone()));
                if let Ok(mut tx) = shared.db.begin_write().await {
                    let now = micros(Utc::now());
                    let recorded = on_tx!(&mut tx, conn, S => S::set_projector_error(conn, &message, now).await);
                    if recorded.is_ok() {
                        let _ = tx.commit().await;
                    }
                }
                if pause(&mut wake, &mut stop, options.error_backoff).await {
                    break;
                }
            }
        }
    }
    shared.set_local(|l| l.leading = false);
}

async fn read_checkpoint(db: &Db) -> Result<i64, WebhookError> {
    on_read!(db, conn, S => S::checkpoint(conn, false).await).map(|(at, _)| at)
}

/// One batch after `from`, exactly once.
async fn step(shared: &Shared, from: i64) -> Result<Step, WebhookError> {
    let events = shared
        .store
        .read_all(
            Position(u64::try_from(from).unwrap_or_default()),
            shared.options.batch_size,
        )
        .await?;
    let Some(last) = events.last().map(|e| e.position) else {
        return Ok(Step::Idle);
    };
    let to = i64::try_from(last.get()).unwrap_or(i64::MAX);
    let now = micros(Utc::now());
    let mut tx = shared.db.begin_write().await?;
    let advanced = on_tx!(&mut tx, conn, S => S::advance(conn, from, to, now).await)?;
    if !advanced {
        tx.rollback().await?;
        return Ok(Step::LostRace);
    }
    let routes = on_tx!(&mut tx, conn, S => S::routes(conn).await)?;
    let mut filters: HashMap<SubscriptionId, EventTypeFilter> = HashMap::new();
    for route in &routes {
        filters.insert(route.id, EventTypeFilter::from_stored(&route.event_types)?);
    }
    let mut rows = Vec::new();
    for event in &events {
        let Some(region) = region_of(&event.metadata) else {
            continue;
        };
        let event_type = event_type_of(event);
        let position = i64::try_from(event.position.get()).unwrap_or(i64::MAX);
        for route in &routes {
            if route.region == region
                && position > route.starts_after
                && filters[&route.id].accepts(&event_type)
            {
                rows.push(NewDelivery {
                    id: DeliveryId(uuid::Uuid::now_v7()),
                    subscription_id: route.id,
                    position: event.position,
                    event_id: event.event_id,
                    event_type: event_type.clone(),
                    stream: event.stream.clone(),
                });
            }
        }
    }
    if !rows.is_empty() {
        on_tx!(&mut tx, conn, S => S::insert_deliveries(conn, &rows, now).await)?;
        tx.notify_workers().await?;
    }
    tx.commit().await?;
    if !rows.is_empty() {
        tracing::debug!(rows = rows.len(), to, "webhooks: enqueued deliveries");
        shared.wake_workers();
    }
    Ok(Step::Advanced(to))
}
