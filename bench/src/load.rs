//! Aggregate load: the time `AggregateStore::load_aggregate` (cqrs-es's `EventStore`) takes
//! to rebuild the real `ConnectionCase` from a 10,000-event stream with snapshots every
//! [`SNAPSHOT_EVERY`] events, against a 100-event stream; and, for explanation, the same two
//! streams replayed in full without snapshots.
//!
//! The streams are decided by the domain: a case applied for, approved and contracted, then
//! organisational changes (the unit moved), with every tenth command a staff commitment of a
//! new member of staff, so the state, and its snapshot, grows with the stream. Snapshots are
//! written where `AggregateStore` writes them (after every 50th event, the aggregate as it
//! stands), so the 10,000-event and the 100-event stream each load a snapshot and no events
//! after it.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use cqrs_es::Aggregate as _;
use cqrs_es::EventStore as _;
use domain::case::{
    CaseCommand, CommitmentKind, ConnectionCase, OrganisationalChange, RecordStaffCommitment,
    ReportOrganisationalChange, StaffMember,
};
use domain::identity::Personnummer;
use domain::ids::CaseId;
use domain::{Personal, Role};
use projections::testing::{CaseFixture, append_request, long, subject, text};
use store::{AggregateStore, AppendRequest, EventStore, SnapshotUpdate, StoreOptions, StreamRef};
use uuid::Uuid;

use crate::db::Server;
use crate::error::{Context, Failure, Result};
use crate::history::{hsa, registry};
use crate::report::Row;
use crate::stats::{Spread, ms};

/// The long and the short stream.
pub const LONG: u64 = 10_000;
pub const SHORT: u64 = 100;
/// Snapshots every this many events (`anslut serve`'s default).
pub const SNAPSHOT_EVERY: u64 = 50;
const DAY: &str = "2025-03-03";

/// A case of `length` events as append requests, a snapshot with every 50th event.
fn stream(length: u64, seed: usize) -> Result<(String, Vec<AppendRequest>)> {
    let id = CaseId::from_uuid(Uuid::now_v7());
    let mut case = CaseFixture::new(id, registry(), "jamtland-halsoval", DAY);
    case.applied().approved().contracted();
    let day: NaiveDate = case.today();
    let stream = StreamRef::new(ConnectionCase::TYPE, id.to_string());
    let actor = case.actor(Role::Provider);
    let mut requests = Vec::new();
    let mut version = 3;
    let mut staff = 0;
    while version < length {
        version += 1;
        let command = if version.is_multiple_of(10) {
            staff += 1;
            CaseCommand::RecordStaffCommitment(RecordStaffCommitment {
                person: Personal::new(
                    subject(u128::try_from(seed * 100_000 + staff).unwrap_or_default()),
                    StaffMember {
                        name: text("Anna Andersson"),
                        personnummer: Personnummer::parse("198001011017", day)
                            .context("a personnummer")?,
                        hsa_id: hsa(seed * 100_000 + staff),
                    },
                ),
                kind: CommitmentKind::ResponsibilityCommitment,
                signed_on: day,
            })
        } else {
            CaseCommand::ReportOrganisationalChange(ReportOrganisationalChange {
                change: OrganisationalChange::Moved {
                    new_address: text("Prästgatan 12, 831 31 Östersund"),
                },
                effective_on: day,
                description: Some(long("The unit moves to new premises.")),
            })
        };
        case.then(Role::Provider, command);
        if version.is_multiple_of(SNAPSHOT_EVERY) || version == length {
            let snapshot = if version.is_multiple_of(SNAPSHOT_EVERY) {
                Some(SnapshotUpdate {
                    snapshot_number: version / SNAPSHOT_EVERY,
                    payload: serde_json::to_value(case.case()).context("a snapshot")?,
                })
            } else {
                None
            };
            let (expected, events) = case.take_pending();
            let mut request = append_request(stream.clone(), expected, &events, &actor);
            request.snapshot = snapshot;
            requests.push(request);
        }
    }
    Ok((id.to_string(), requests))
}

async fn store_with(url: &str, snapshot_every: u64) -> Result<EventStore> {
    let store = EventStore::connect(
        url,
        StoreOptions {
            snapshot_every: usize::try_from(snapshot_every).unwrap_or(0),
            max_batch: 4096,
            ..StoreOptions::default()
        },
    )
    .await
    .context("connecting the load store")?;
    store.migrate().await.context("migrating the load store")?;
    Ok(store)
}

/// Loads `id` once; fails unless the aggregate comes back at `length`.
async fn load_once(
    aggregates: &AggregateStore<ConnectionCase>,
    id: &str,
    length: u64,
) -> Result<Duration> {
    let started = Instant::now();
    let context = aggregates
        .load_aggregate(id)
        .await
        .map_err(|e| Failure::new("loading a case", e.to_string()))?;
    let elapsed = started.elapsed();
    if context.current_sequence as u64 != length {
        return Err(Failure::new(
            "loading a case",
            format!(
                "loaded at version {}, expected {length}",
                context.current_sequence
            ),
        ));
    }
    Ok(elapsed)
}

/// The aggregate-load rows: `rounds` interleaved rounds of `loads` loads of each variant.
pub async fn run(server: &Server, rounds: usize, loads: usize) -> Result<Vec<Row>> {
    let url = server.create("load").await?;
    let snapshots = store_with(&url, SNAPSHOT_EVERY).await?;
    let replays = store_with(&url, 0).await?;
    let (long_id, long_requests) = stream(LONG, 1)?;
    let (short_id, short_requests) = stream(SHORT, 2)?;
    for request in long_requests.into_iter().chain(short_requests) {
        snapshots
            .append(request)
            .await
            .context("appending a generated stream")?;
    }
    let with_snapshots = snapshots.aggregate_store::<ConnectionCase>();
    let without = replays.aggregate_store::<ConnectionCase>();
    let variants: [(&AggregateStore<ConnectionCase>, &str, u64); 4] = [
        (&with_snapshots, short_id.as_str(), SHORT),
        (&with_snapshots, long_id.as_str(), LONG),
        (&without, short_id.as_str(), SHORT),
        (&without, long_id.as_str(), LONG),
    ];
    // Warm-up: one load of each.
    for (aggregates, id, length) in variants {
        load_once(aggregates, id, length).await?;
    }
    let mut medians: [Vec<f64>; 4] = Default::default();
    for r in 0..rounds {
        let mut order = [0, 1, 2, 3];
        if r % 2 == 1 {
            order.reverse();
        }
        for v in order {
            let (aggregates, id, length) = variants[v];
            let mut times = Vec::with_capacity(loads);
            for _ in 0..loads {
                times.push(ms(load_once(aggregates, id, length).await?));
            }
            medians[v].push(Spread::of(&times).median);
        }
        eprintln!(
            "load: round {}: snapshots {:.2} ms (100) / {:.2} ms (10,000); \
             full replay {:.2} ms (100) / {:.1} ms (10,000)",
            r + 1,
            medians[0][r],
            medians[1][r],
            medians[2][r],
            medians[3][r]
        );
    }
    let [short_snap, long_snap, short_full, long_full] = medians;
    Ok(vec![
        Row::new(
            "load",
            "100-event case, snapshot every 50",
            "ms",
            &short_snap,
        ),
        Row::new(
            "load",
            "10,000-event case, snapshot every 50",
            "ms",
            &long_snap,
        )
        .against("100-event case, snapshots", &short_snap),
        Row::new(
            "load",
            "100-event case, no snapshot (full replay)",
            "ms",
            &short_full,
        ),
        Row::new(
            "load",
            "10,000-event case, no snapshot (full replay)",
            "ms",
            &long_full,
        )
        .against("100-event case, full replay", &short_full),
    ])
}
