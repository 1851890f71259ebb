//! Freshness: the time from an append's commit (its answer reaching the caller) to the event
//! being visible in all seven projections (every projector's checkpoint has passed its
//! position), measured with `Projections::wait_for`, which the projectors wake as they commit
//! (no polling). The projectors run in this process on the store's database, as in
//! `anslut serve`.
//!
//! A probe appends a real case event (an organisational change of a live-phase case) and
//! waits for it, over and over, with 20 ms between probes; under load, the append load of
//! variant (c) at 16 streams runs at full speed alongside (its counter events are not for
//! the read models, but every projector still reads and checkpoints past them). The baseline
//! is the same probe on an otherwise idle log; idle and loaded phases alternate.

use std::time::{Duration, Instant};

use cqrs_es::Aggregate as _;
use domain::Role;
use domain::case::{CaseCommand, ConnectionCase, OrganisationalChange, ReportOrganisationalChange};
use domain::ids::CaseId;
use projections::testing::{CaseFixture, append_request, long, text};
use projections::{ProjectionName, ProjectionOptions, Projections};
use store::{EventStore, StreamRef};
use uuid::Uuid;

use crate::append::{Driver, anslut_cqrs, anslut_store, drive};
use crate::db::Server;
use crate::error::{Context, Failure, Result};
use crate::history::registry;
use crate::report::Row;
use crate::stats::p50_p99;

const LOAD_STREAMS: usize = 16;
const PROBE_GAP: Duration = Duration::from_millis(20);
const VISIBLE_WITHIN: Duration = Duration::from_secs(60);

/// The probe's case, and where it stands.
struct Probe {
    case: CaseFixture,
    stream: StreamRef,
}

impl Probe {
    /// Appends one organisational change; returns its commit-to-visible time.
    async fn once(&mut self, store: &EventStore, projections: &Projections) -> Result<Duration> {
        let day = self.case.today();
        self.case.then(
            Role::Provider,
            CaseCommand::ReportOrganisationalChange(ReportOrganisationalChange {
                change: OrganisationalChange::Moved {
                    new_address: text("Prästgatan 12, 831 31 Östersund"),
                },
                effective_on: day,
                description: Some(long("The unit moves to new premises.")),
            }),
        );
        let actor = self.case.actor(Role::Provider);
        let (expected, events) = self.case.take_pending();
        let outcome = store
            .append(append_request(
                self.stream.clone(),
                expected,
                &events,
                &actor,
            ))
            .await
            .context("appending a probe")?;
        let committed = Instant::now();
        projections
            .wait_for(&ProjectionName::ALL, outcome.last_position, VISIBLE_WITHIN)
            .await
            .context("waiting for a probe to be visible")?;
        Ok(committed.elapsed())
    }

    /// Probes for `duration`.
    async fn run(
        &mut self,
        store: &EventStore,
        projections: &Projections,
        duration: Duration,
    ) -> Result<Vec<Duration>> {
        let deadline = Instant::now() + duration;
        let mut latencies = Vec::new();
        while Instant::now() < deadline {
            latencies.push(self.once(store, projections).await?);
            tokio::time::sleep(PROBE_GAP).await;
        }
        Ok(latencies)
    }
}

/// The freshness rows: `rounds` of an idle and a loaded phase of `phase` each.
pub async fn run(server: &Server, rounds: usize, phase: Duration) -> Result<Vec<Row>> {
    let url = server.create("freshness").await?;
    let store = anslut_store(&url).await?;
    let cqrs = anslut_cqrs(&store);
    let projections = Projections::open(&url, store.clone(), ProjectionOptions::new(registry()))
        .await
        .context("opening the projections")?;
    let handle = projections.start();

    let id = CaseId::from_uuid(Uuid::now_v7());
    let mut case = CaseFixture::new(id, registry(), "jamtland-halsoval", "2025-03-03");
    case.applied().approved().contracted();
    let actor = case.actor(Role::Officer);
    let (expected, events) = case.take_pending();
    let stream = StreamRef::new(ConnectionCase::TYPE, id.to_string());
    let outcome = store
        .append(append_request(stream.clone(), expected, &events, &actor))
        .await
        .context("appending the probe's case")?;
    handle
        .wait_for(&ProjectionName::ALL, outcome.last_position, VISIBLE_WITHIN)
        .await
        .context("waiting for the probe's case")?;
    let mut probe = Probe { case, stream };
    probe.run(&store, &handle, phase / 4).await?;

    let (mut idle_p50, mut idle_p99, mut busy_p50, mut busy_p99, mut loads) =
        (vec![], vec![], vec![], vec![], vec![]);
    for r in 0..rounds {
        for loaded in if r % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        } {
            let mut latencies = if loaded {
                let drivers = (0..LOAD_STREAMS)
                    .map(|task| Driver::Anslut {
                        cqrs: cqrs.clone(),
                        id: format!("fresh-r{r}-{task}"),
                    })
                    .collect();
                let load = tokio::spawn(drive(drivers, phase));
                let latencies = probe.run(&store, &handle, phase).await?;
                let load = load
                    .await
                    .map_err(|e| Failure::new("the append load", e.to_string()))??;
                loads.push(load.per_second());
                latencies
            } else {
                probe.run(&store, &handle, phase).await?
            };
            let count = latencies.len();
            let (p50, p99) = p50_p99(&mut latencies);
            eprintln!(
                "freshness: round {}, {}: {count} probes, p50 {p50:.1} ms, p99 {p99:.1} ms{}",
                r + 1,
                if loaded { "under load" } else { "idle" },
                if loaded {
                    format!(
                        ", load {:.0} events/s",
                        loads.last().copied().unwrap_or_default()
                    )
                } else {
                    String::new()
                }
            );
            if loaded {
                busy_p50.push(p50);
                busy_p99.push(p99);
            } else {
                idle_p50.push(p50);
                idle_p99.push(p99);
            }
        }
    }
    handle.shutdown().await;
    let what = "commit → visible in all 7 projections";
    Ok(vec![
        Row::new(
            "freshness",
            format!("{what}, p50, idle log"),
            "ms",
            &idle_p50,
        ),
        Row::new(
            "freshness",
            format!("{what}, p50, under load"),
            "ms",
            &busy_p50,
        )
        .against("p50 on an idle log", &idle_p50),
        Row::new(
            "freshness",
            format!("{what}, p99, idle log"),
            "ms",
            &idle_p99,
        ),
        Row::new(
            "freshness",
            format!("{what}, p99, under load"),
            "ms",
            &busy_p99,
        )
        .against("p99 on an idle log", &idle_p99),
        Row::new(
            "freshness",
            "the load: (c) at 16 streams alongside",
            "events/s",
            &loads,
        ),
    ])
}
