//! Replay: rebuilding every projection from position zero (`Projections::rebuild` of all
//! seven read models) over a log of realistic events, against two floors:
//!
//! * the raw ceiling of reading the same rows in global order: `SELECT` of the store's
//!   columns `ORDER BY position` in pages, each payload and metadata parsed from JSON;
//! * a count-only projection, "read_all + decode + count": `EventStore::read_all` in pages
//!   of the rebuild's batch size (5,000) on the same store, every event of a stream type the
//!   projections follow (cases, incidents, data subjects) deserialised into its domain event
//!   and its stored type checked against it, as the projections' runtime decodes a batch, and
//!   counted. It writes nothing. This is the floor under a rebuild: what any projection pays
//!   before it folds or writes a row. It is measured outside the projections' runtime because
//!   that runtime cannot take a projection defined elsewhere (its read-model trait is private
//!   to the crate and projection names are a closed enum), so the bench re-implements the
//!   runtime's decode step (`projections::event::parse`, also private) with the same domain
//!   types rather than calling it. What it leaves out, and the rebuild pays: new-generation
//!   tables, per-batch transactions, loading and folding partition states, writing state
//!   documents and rows, and the swap.
//!
//! For explanation, also the store's own `read_all` over the same log, without decoding.
//! Interleaved rounds (in one order, then reversed).

use std::time::Instant;

use cqrs_es::Aggregate as _;
use domain::case::{CaseEvent, ConnectionCase};
use domain::incident::{IncidentEvent, SecurityIncident};
use domain::subject::{DataSubject, SubjectEvent};
use projections::{ProjectionName, ProjectionOptions, Projections};
use sqlx::{Connection, PgConnection, Row as _};
use store::{EventStore, Position, RecordedEvent, StoreOptions};
use uuid::Uuid;

use crate::db::Server;
use crate::error::{Context, Failure, Result};
use crate::history;
use crate::report::Row;
use crate::stats::rate;

/// Rows per page for both readers, the projections' rebuild batch.
const PAGE: i64 = 5000;

/// The columns the store reads for every event.
const COLUMNS: &str = "position, stream_type, stream_id, version, event_id, event_type, \
    event_version, payload::text AS payload, metadata::text AS metadata, command_id, \
    correlation_id, causation_id, actor_subject, actor_role, actor_region, actor_provider_org, \
    recorded_at, prev_hash, hash";

/// One event as the raw reader decodes it.
struct RawEvent {
    position: i64,
    stream_type: String,
    stream_id: String,
    version: i64,
    event_id: Uuid,
    event_type: String,
    event_version: String,
    payload: serde_json::Value,
    metadata: serde_json::Value,
    hash: Vec<u8>,
}

/// Reads the whole log in position order; returns how many events it read.
async fn raw_read(url: &str) -> Result<u64> {
    let mut conn = PgConnection::connect(url)
        .await
        .context("connecting the raw reader")?;
    let sql =
        format!("SELECT {COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2");
    let (mut after, mut count, mut checksum) = (0_i64, 0_u64, 0_usize);
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(after)
            .bind(PAGE)
            .fetch_all(&mut conn)
            .await
            .context("reading a page of the log")?;
        let Some(last) = rows.last() else { break };
        after = last.try_get("position").context("a position")?;
        for row in &rows {
            let payload: String = row.try_get("payload").context("a payload")?;
            let metadata: String = row.try_get("metadata").context("metadata")?;
            let event = RawEvent {
                position: row.try_get("position").context("a position")?,
                stream_type: row.try_get("stream_type").context("a stream type")?,
                stream_id: row.try_get("stream_id").context("a stream id")?,
                version: row.try_get("version").context("a version")?,
                event_id: row.try_get("event_id").context("an event id")?,
                event_type: row.try_get("event_type").context("an event type")?,
                event_version: row.try_get("event_version").context("an event version")?,
                payload: serde_json::from_str(&payload).context("parsing a payload")?,
                metadata: serde_json::from_str(&metadata).context("parsing metadata")?,
                hash: row.try_get("hash").context("a hash")?,
            };
            // Touch what was decoded, so none of it is optimised away.
            checksum = checksum.wrapping_add(
                event.stream_type.len()
                    + event.stream_id.len()
                    + event.event_type.len()
                    + event.event_version.len()
                    + event.event_id.as_bytes().len()
                    + event.hash.len()
                    + usize::from(event.payload.is_object())
                    + usize::from(event.metadata.is_object())
                    + usize::try_from(event.version + event.position).unwrap_or(0),
            );
            count += 1;
        }
    }
    drop(conn.close().await);
    if count > 0 && checksum == 0 {
        return Err(Failure::new("reading the log", "decoded nothing"));
    }
    Ok(count)
}

/// Reads the whole log through `EventStore::read_all`; returns how many events it read.
async fn store_read(store: &EventStore) -> Result<u64> {
    let (mut after, mut count) = (Position::START, 0_u64);
    loop {
        let page = store
            .read_all(after, u64::try_from(PAGE).unwrap_or(5000))
            .await
            .context("reading the log through the store")?;
        let Some(last) = page.last() else { break };
        after = last.position;
        count += page.len() as u64;
    }
    Ok(count)
}

/// Decodes one stored event as the projections' runtime does: `Ok(true)` when it is of a
/// stream type the projections follow and deserialised into its domain event, `Ok(false)`
/// for any other stream type.
fn decode(event: RecordedEvent) -> Result<bool> {
    let RecordedEvent {
        position,
        stream,
        event_type,
        payload,
        ..
    } = event;
    let doing = || format!("decoding the {} event at {position}", stream.stream_type);
    // The payload is moved into the domain type, as the runtime moves it.
    let decoded = match stream.stream_type.as_str() {
        ConnectionCase::TYPE => serde_json::from_value::<CaseEvent>(payload)
            .context(doing())?
            .change
            .name(),
        SecurityIncident::TYPE => serde_json::from_value::<IncidentEvent>(payload)
            .context(doing())?
            .change
            .name(),
        DataSubject::TYPE => {
            serde_json::from_value::<SubjectEvent>(payload).context(doing())?;
            return Ok(true);
        }
        _ => return Ok(false),
    };
    if decoded != event_type {
        return Err(Failure::new(
            doing(),
            format!("stored as {event_type} but the payload is {decoded}"),
        ));
    }
    Ok(true)
}

/// The count-only projection: reads the whole log through `EventStore::read_all`, decodes
/// every event (see [`decode`]) and counts them; returns how many events it read.
async fn count_only(store: &EventStore) -> Result<u64> {
    let (mut after, mut count, mut decoded) = (Position::START, 0_u64, 0_u64);
    loop {
        let page = store
            .read_all(after, u64::try_from(PAGE).unwrap_or(5000))
            .await
            .context("reading the log through the store")?;
        let Some(last) = page.last() else { break };
        after = last.position;
        for event in page {
            count += 1;
            decoded += u64::from(decode(event)?);
        }
    }
    if count > 0 && decoded == 0 {
        return Err(Failure::new(
            "the count-only projection",
            "no event of a stream type the projections follow",
        ));
    }
    Ok(count)
}

/// The replay rows, over a generated log of at least `events` events.
pub async fn run(server: &Server, events: u64, rounds: usize) -> Result<Vec<Row>> {
    let url = server.create("replay").await?;
    let store = EventStore::connect(
        &url,
        StoreOptions {
            max_batch: 4096,
            ..StoreOptions::default()
        },
    )
    .await
    .context("connecting the replay store")?;
    store
        .migrate()
        .await
        .context("migrating the replay store")?;
    let head = history::generate(&store, events).await?;
    let projections = Projections::open(
        &url,
        store.clone(),
        ProjectionOptions::new(history::registry()),
    )
    .await
    .context("opening the projections")?;

    let (mut rebuilds, mut raws, mut reads, mut counts) = (vec![], vec![], vec![], vec![]);
    for r in 0..rounds {
        let mut order = [0, 1, 2, 3];
        if r % 2 == 1 {
            order.reverse();
        }
        for step in order {
            let started = Instant::now();
            let (what, count) = match step {
                0 => {
                    let report = projections
                        .rebuild(&ProjectionName::ALL, |_| {})
                        .await
                        .context("rebuilding the projections")?;
                    ("rebuild of all 7 projections", report.events)
                }
                1 => ("raw SELECT in position order", raw_read(&url).await?),
                2 => ("store read_all", store_read(&store).await?),
                _ => (
                    "count-only (read_all + decode + count)",
                    count_only(&store).await?,
                ),
            };
            let elapsed = started.elapsed();
            if count != head {
                return Err(Failure::new(
                    what,
                    format!("covered {count} events of a log of {head}"),
                ));
            }
            let per_second = rate(count, elapsed);
            eprintln!(
                "replay: round {}, {what}: {count} events in {:.1} s = {per_second:.0} events/s",
                r + 1,
                elapsed.as_secs_f64()
            );
            match step {
                0 => rebuilds.push(per_second),
                1 => raws.push(per_second),
                2 => reads.push(per_second),
                _ => counts.push(per_second),
            }
        }
    }
    let raw_label = "raw SELECT in position order";
    let log = format!("{} events", crate::report::number(as_f64(head)));
    Ok(vec![
        Row::new(
            "replay",
            format!("raw SELECT ORDER BY position, {log}"),
            "events/s",
            &raws,
        ),
        Row::new(
            "replay",
            format!("rebuild all 7 projections, {log}"),
            "events/s",
            &rebuilds,
        )
        .against(raw_label, &raws),
        Row::new(
            "replay",
            format!("count-only: read_all + decode + count, {log}"),
            "events/s",
            &counts,
        )
        .against(raw_label, &raws),
        Row::new(
            "replay",
            format!("rebuild all 7 projections, {log}"),
            "events/s",
            &rebuilds,
        )
        .against("count-only (read_all + decode + count)", &counts),
        Row::new(
            "replay",
            format!("store read_all, {log}"),
            "events/s",
            &reads,
        )
        .against(raw_label, &raws),
    ])
}

fn as_f64(n: u64) -> f64 {
    // Event counts stay far below 2^52.
    #[expect(
        clippy::cast_precision_loss,
        reason = "a count or a duration as f64 for a rate or a percentage: far below 2^52, where f64 is exact"
    )]
    let n = n as f64;
    n
}
