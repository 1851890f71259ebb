//! The delivery workers: claim due rows, send them signed, record what happened.
//!
//! One dispatcher per instance claims as many due rows as it has free slots
//! (`WebhookOptions::concurrency`) in one short transaction, then runs one task per row.
//! Claiming marks rows `delivering` under a lease token and a deadline; the attempt runs
//! outside any transaction; its outcome is recorded only where the token still holds the
//! row. On PostgreSQL the claim's `FOR UPDATE OF d SKIP LOCKED` makes concurrent claimers in
//! other instances pass over rows this one is taking, and the status check (re-evaluated on
//! the locked row's latest version) over rows it already took: no row is claimed twice. Per
//! stream order needs no lock of its own: a row is claimable only when every earlier row of
//! its subscription and stream is delivered or skipped, and a row is delivered only by the
//! holder of its lease.
//!
//! Before each claim the dispatcher sweeps expired leases (workers that died mid-attempt)
//! back to pending. When nothing is claimable it sleeps until the next row is due, a
//! notification, a finished attempt, or `poll_interval`, whichever comes first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use store::Position;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::cloudevent::{CONTENT_TYPE, CloudEvent, region_of};
use crate::db::{Claimed, NewAttempt, Outcome, Sql, Tx, micros};
use crate::error::WebhookError;
use crate::model::{AttemptOutcome, DeliveryStatus};
use crate::retry::{parse_retry_after, roll};
use crate::service::Shared;

/// How long a failed outcome write is retried before the lease is left to expire.
const RECORD_TRIES: u32 = 3;

fn duration_micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// The dispatcher task. On stop it claims nothing more and waits for its attempts to finish.
pub(crate) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut wake = shared.outbox_moved.subscribe();
    let mut inflight: JoinSet<()> = JoinSet::new();
    let options = shared.options.clone();
    loop {
        while inflight.try_join_next().is_some() {}
        if *stop.borrow() {
            break;
        }
        let free = options.concurrency.saturating_sub(inflight.len());
        let mut sleep = options.poll_interval;
        if free > 0 {
            match claim(&shared, free).await {
                Ok(claimed) => {
                    let full = claimed.len() == free;
                    for (token, row) in claimed {
                        inflight.spawn(attempt(shared.clone(), token, row));
                    }
                    if full {
                        continue;
                    }
                    if let Ok(Some(due)) = next_due(&shared).await {
                        let now = micros(Utc::now());
                        if due > now {
                            let until =
                                Duration::from_micros(u64::try_from(due - now).unwrap_or(0));
                            sleep = sleep.min(until);
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "webhooks: claiming deliveries failed; retrying");
                    sleep = options.error_backoff;
                }
            }
        }
        tokio::select! {
            _ = wake.changed() => {}
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
            () = tokio::time::sleep(sleep) => {}
            _ = stop.changed() => {}
        }
    }
    while inflight.join_next().await.is_some() {}
}

/// Sweeps expired leases, then claims up to `limit` rows under a fresh lease token.
async fn claim(shared: &Shared, limit: usize) -> Result<Vec<(String, Claimed)>, WebhookError> {
    let options = &shared.options;
    let now = micros(Utc::now());
    let token = uuid::Uuid::new_v4().to_string();
    let until = now.saturating_add(duration_micros(options.lease));
    let mut tx = shared.db.begin_write().await?;
    let abandoned = dbkit::with_backend!(tx.conn(), conn, S = Sql => S::sweep_expired(conn, now, options.retry.max_attempts).await)?;
    for lost in &abandoned {
        tracing::warn!(delivery = %lost.id, worker = %lost.owner, "webhooks: a lease expired; the attempt is abandoned");
        let log = NewAttempt {
            delivery_id: lost.id,
            attempt: lost.attempts,
            started_at: lost.claimed_at,
            duration_ms: u64::try_from((now - lost.claimed_at) / 1000).unwrap_or_default(),
            status_code: None,
            error: Some("the worker stopped before recording the outcome".into()),
            outcome: AttemptOutcome::Abandoned,
            worker: lost.owner.clone(),
        };
        dbkit::with_backend!(tx.conn(), conn, S = Sql => S::insert_attempt(conn, &log).await)?;
    }
    let claimed = dbkit::with_backend!(tx.conn(), conn, S = Sql => S::claim(conn, now, limit, &token, &options.instance, until).await)?;
    tx.commit().await?;
    Ok(claimed
        .into_iter()
        .map(|row| (token.clone(), row))
        .collect())
}

async fn next_due(shared: &Shared) -> Result<Option<i64>, WebhookError> {
    dbkit::with_backend!(shared.db.reader().await?.conn(), conn, S = Sql => S::next_due(conn).await)
}

/// What an attempt came to, before it is written down.
struct Sent {
    status_code: Option<u16>,
    error: Option<String>,
    retry_after: Option<Duration>,
}

/// Reads the event and renders the body; `Err(None)` when the store is unavailable (give
/// the row back without an attempt), `Err(Some(why))` when the event cannot be rendered.
async fn render(shared: &Shared, row: &Claimed) -> Result<Vec<u8>, Option<String>> {
    let before = Position(row.position.get().saturating_sub(1));
    let events = match shared.store.read_all(before, 1).await {
        Ok(events) => events,
        Err(error) if error.is_retryable() => return Err(None),
        Err(error) => return Err(Some(format!("the event cannot be read: {error}"))),
    };
    let event = events
        .into_iter()
        .next()
        .filter(|e| e.position == row.position && e.event_id == row.event_id)
        .ok_or_else(|| Some("the event is not in the log at its position".to_owned()))?;
    let region = region_of(&event.metadata).unwrap_or_default().to_owned();
    serde_json::to_vec(&CloudEvent::of(&event, &region))
        .map_err(|e| Some(format!("the event cannot be rendered: {e}")))
}

/// Why a request failed, without the URL (the log shows it once, in the subscription).
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("timed out after {} s", timeout.as_secs_f64());
    }
    let mut text = if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Sends one claimed row and records the outcome.
async fn attempt(shared: Arc<Shared>, token: String, row: Claimed) {
    let options = &shared.options;
    let started_at = Utc::now();
    let started = Instant::now();
    let body = match render(&shared, &row).await {
        Ok(body) => Ok(body),
        Err(None) => {
            let retry_at = micros(Utc::now()) + duration_micros(options.error_backoff);
            let released = async {
                let mut tx = shared.db.begin_write().await?;
                dbkit::with_backend!(tx.conn(), conn, S = Sql => S::release(conn, row.id, &token, retry_at, micros(Utc::now())).await)?;
                tx.commit().await?;
                Ok::<(), WebhookError>(())
            };
            if let Err(error) = released.await {
                tracing::warn!(delivery = %row.id, %error, "webhooks: could not release a claim; its lease will expire");
            }
            return;
        }
        Err(Some(why)) => Err(why),
    };
    let sent = match body {
        Err(why) => Sent {
            status_code: None,
            error: Some(why),
            retry_after: None,
        },
        Ok(body) => send(&shared, &row, body).await,
    };
    let duration = started.elapsed();
    let attempts = row.attempts.saturating_add(1);
    let delivered = sent.error.is_none();
    let gone = sent.status_code == Some(410);
    let now = Utc::now();
    let outcome = if delivered {
        Outcome {
            status: DeliveryStatus::Delivered,
            attempts,
            next_attempt_at: micros(now),
            last_status: sent.status_code,
            last_error: None,
            delivered_at: Some(micros(now)),
        }
    } else {
        let parked = gone || options.retry.exhausted(attempts);
        let wait = options.retry.delay(attempts, roll(), sent.retry_after);
        Outcome {
            status: if parked {
                DeliveryStatus::Parked
            } else {
                DeliveryStatus::Pending
            },
            attempts,
            next_attempt_at: micros(now) + duration_micros(wait),
            last_status: sent.status_code,
            last_error: sent.error.clone(),
            delivered_at: None,
        }
    };
    let log = NewAttempt {
        delivery_id: row.id,
        attempt: attempts,
        started_at: micros(started_at),
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        status_code: sent.status_code,
        error: sent.error,
        outcome: if delivered {
            AttemptOutcome::Delivered
        } else {
            AttemptOutcome::Failed
        },
        worker: options.instance.clone(),
    };
    for tries in 1..=RECORD_TRIES {
        match record(&shared, &row, &token, &outcome, &log, gone, micros(now)).await {
            Ok(true) => break,
            Ok(false) => {
                tracing::warn!(delivery = %row.id, "webhooks: the lease ran out before the outcome was recorded; the lease sweep has taken the row back");
                break;
            }
            Err(error) if tries < RECORD_TRIES => {
                tracing::warn!(delivery = %row.id, %error, "webhooks: recording an outcome failed; retrying");
                tokio::time::sleep(options.error_backoff).await;
            }
            Err(error) => {
                tracing::error!(delivery = %row.id, %error, "webhooks: the outcome could not be recorded; the row will be sent again after its lease");
            }
        }
    }
    if delivered {
        // The next event of the stream may now be claimable.
        shared.wake_workers();
    }
}

/// Signs and POSTs the body.
async fn send(shared: &Shared, row: &Claimed, body: Vec<u8>) -> Sent {
    let options = &shared.options;
    let failed = |error: String| Sent {
        status_code: None,
        error: Some(error),
        retry_after: None,
    };
    let url = match options.url_policy.check(&row.url) {
        Ok(url) => url,
        Err(error) => return failed(error.to_string()),
    };
    let secret = match options.secret_key.open(
        &row.subscription_id.to_string(),
        &row.secret_key_id,
        &row.secret_sealed,
    ) {
        Ok(secret) => secret,
        Err(error) => {
            tracing::error!(subscription = %row.subscription_id, %error, "webhooks: a signing secret does not open");
            return failed("the subscription's signing secret cannot be opened".into());
        }
    };
    let webhook_id = row.event_id.to_string();
    let now = Utc::now();
    let timestamp = now.timestamp();
    let mut signature = secret.sign(&webhook_id, timestamp, &body);
    // During a rotation's overlap the previous secret signs too (Standard Webhooks: several
    // signatures, space-separated); the receiver accepts the delivery if any one verifies.
    if let Some((key_id, sealed, expires)) = &row.previous_secret
        && *expires > crate::db::micros(now)
    {
        match options
            .secret_key
            .open(&row.subscription_id.to_string(), key_id, sealed)
        {
            Ok(previous) => {
                signature.push(' ');
                signature.push_str(&previous.sign(&webhook_id, timestamp, &body));
            }
            Err(error) => {
                tracing::error!(subscription = %row.subscription_id, %error, "webhooks: the previous signing secret does not open; signing with the current one only");
            }
        }
    }
    let response = shared
        .client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .header("webhook-id", &webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    match response {
        Ok(response) if response.status().is_success() => Sent {
            status_code: Some(response.status().as_u16()),
            error: None,
            retry_after: None,
        },
        Ok(response) => {
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, Utc::now()));
            let error = if status.is_redirection() {
                format!("HTTP {} (redirects are not followed)", status.as_u16())
            } else if status.as_u16() == 410 {
                "HTTP 410 Gone: the subscription is deactivated".to_owned()
            } else {
                format!("HTTP {}", status.as_u16())
            };
            Sent {
                status_code: Some(status.as_u16()),
                error: Some(error),
                retry_after,
            }
        }
        Err(error) => failed(describe(&error, options.request_timeout)),
    }
}

/// Writes the outcome and the attempt log in one transaction, stamped `now` (the instant the
/// next attempt's wait is counted from). The attempt is logged even when the lease was lost
/// (it happened); the row changes only under the lease.
async fn record(
    shared: &Shared,
    row: &Claimed,
    token: &str,
    outcome: &Outcome,
    log: &NewAttempt,
    gone: bool,
    now: i64,
) -> Result<bool, WebhookError> {
    let mut tx: Tx<'static> = shared.db.begin_write().await?;
    let held = dbkit::with_backend!(tx.conn(), conn, S = Sql => S::record(conn, row.id, token, outcome, now).await)?;
    dbkit::with_backend!(tx.conn(), conn, S = Sql => S::insert_attempt(conn, log).await)?;
    if held && gone {
        dbkit::with_backend!(tx.conn(), conn, S = Sql => S::deactivate(
            conn, row.subscription_id, "webhooks", "the endpoint answered 410 Gone", now,
        ).await)?;
        tracing::warn!(subscription = %row.subscription_id, "webhooks: the endpoint answered 410 Gone; subscription deactivated");
    }
    if held && outcome.status == DeliveryStatus::Delivered {
        tx.notify(crate::db::WEBHOOKS_CHANNEL, "").await?;
    }
    tx.commit().await?;
    Ok(held)
}
