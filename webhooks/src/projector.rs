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
use dbkit::BigInt as _;
use dbkit::follower::{Follower, Lane, Recovery, Step as Stepped};
use store::Position;

use crate::cloudevent::{event_type_of, region_of};
use crate::db::{NewDelivery, Sql, micros};
use crate::error::WebhookError;
use crate::filter::EventTypeFilter;
use crate::model::{DeliveryId, SubscriptionId};
use crate::service::Shared;

/// The advisory lock of the outbox projector.
pub(crate) const LOCK_KEY: i64 = dbkit::lock::key("anslut.webhooks.outbox");

enum Step {
    /// The checkpoint is (now) here; `caught_up` when the batch was all there was (less
    /// than a full batch).
    Advanced(Position, bool),
    Idle,
    LostRace,
}

/// The outbox projector's own part of the follower runtime: its cursor and its step.
pub(crate) struct Projector {
    pub shared: Arc<Shared>,
    /// Where the checkpoint was last seen; `None`: read it first.
    cursor: Option<Position>,
}

impl Projector {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            cursor: None,
        }
    }
}

impl Follower for Projector {
    type Error = WebhookError;

    fn name(&self) -> String {
        "webhooks: the outbox projector".into()
    }

    fn led(&mut self, leading: bool) {
        self.cursor = None;
        self.shared.set_local(|l| l.leading = leading);
    }

    fn lead_failed(&mut self, error: dbkit::DbError) {
        let message = WebhookError::from(error).to_string();
        self.shared.set_local(|l| l.projector_error = Some(message));
    }

    async fn step(&mut self, lane: Lane<'_>) -> Result<Stepped, WebhookError> {
        let stepped = match self.cursor {
            Some(at) => step(&self.shared, at, lane).await?,
            None => Step::Advanced(read_checkpoint(&self.shared).await?, false),
        };
        Ok(match stepped {
            Step::Advanced(at, caught_up) => {
                self.cursor = Some(at);
                self.shared.set_local(|l| l.projector_error = None);
                if caught_up {
                    Stepped::CaughtUp
                } else {
                    Stepped::Worked
                }
            }
            Step::Idle => Stepped::Idle,
            Step::LostRace => {
                self.cursor = None;
                Stepped::Worked
            }
        })
    }

    async fn failed(&mut self, error: WebhookError) -> Recovery {
        tracing::warn!(%error, "webhooks: outbox batch failed; retrying");
        self.cursor = None;
        let message = error.to_string();
        self.shared
            .set_local(|l| l.projector_error = Some(message.clone()));
        if let Ok(mut tx) = self.shared.db.begin_write().await {
            let now = micros(Utc::now());
            let recorded = dbkit::with_backend!(tx.conn(), conn, S = Sql => S::set_projector_error(conn, &message, now).await);
            if recorded.is_ok() {
                let _ = tx.commit().await;
            }
        }
        Recovery::Backoff
    }
}

async fn read_checkpoint(shared: &Shared) -> Result<Position, WebhookError> {
    let (at, _) = dbkit::with_backend!(shared.db.reader().await?.conn(), conn, S = Sql => S::checkpoint(conn, false).await)?;
    Ok(Position::from_bigint(at)?)
}

/// One batch after `from`, exactly once.
async fn step(shared: &Shared, from: Position, mut lane: Lane<'_>) -> Result<Step, WebhookError> {
    let events = shared
        .store
        .read_tail(from, shared.options.batch_size)
        .await?;
    let Some(last) = events.last().map(|e| e.position) else {
        return Ok(Step::Idle);
    };
    let caught_up = u64::try_from(events.len()).is_ok_and(|read| read < shared.options.batch_size);
    let to = last.to_bigint()?;
    let from = from.to_bigint()?;
    let now = micros(Utc::now());
    // Durable: a delivery, once a worker may have sent it, must not vanish in a crash and
    // be enqueued again under another id.
    let mut tx = lane.begin_write().await?;
    let advanced =
        dbkit::with_backend!(tx.conn(), conn, S = Sql => S::advance(conn, from, to, now).await)?;
    if !advanced {
        tx.rollback().await?;
        return Ok(Step::LostRace);
    }
    let routes = dbkit::with_backend!(tx.conn(), conn, S = Sql => S::routes(conn).await)?;
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
        let position = event.position.to_bigint()?;
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
        dbkit::with_backend!(tx.conn(), conn, S = Sql => S::insert_deliveries(conn, &rows, now).await)?;
        tx.notify(crate::db::WEBHOOKS_CHANNEL, "").await?;
    }
    tx.commit().await?;
    if !rows.is_empty() {
        tracing::debug!(rows = rows.len(), to, "webhooks: enqueued deliveries");
        shared.wake_workers();
    }
    Ok(Step::Advanced(last, caught_up))
}
