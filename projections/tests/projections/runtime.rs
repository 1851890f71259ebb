//! The runtime: exactly-once batches across crashes, poison events, rebuilds and swaps,
//! schema version bumps, read-your-writes, verify and status.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::case::{ConnectionCase, Phase};
use domain::ids::RegionId;
use projections::read_models::case_overview::CaseFilter;
use projections::testing::{CaseFixture, date, registry};
use projections::{
    Activity, Difference, Fault, FaultAction, Leader, PageRequest, ProjectionError, ProjectionName,
    ProjectionStatus, Projections, Tenancy,
};
use serde_json::json;
use sqlx::{Connection as _, PgConnection};
use store::testing::TestDatabase;
use store::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, Position, StreamRef,
};
use uuid::Uuid;

use crate::{caught_up, open, options};

fn testregion() -> Tenancy {
    Tenancy::region(RegionId::parse("testregion").unwrap())
}

/// `n` cases taken live, appended one command at a time.
async fn live_cases(store: &EventStore, first: u128, n: u128) {
    for i in first..first + n {
        let mut case = CaseFixture::test(i);
        case.live();
        case.append(store).await;
    }
}

async fn status_of(projections: &Projections, name: ProjectionName) -> ProjectionStatus {
    projections
        .status()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap()
}

/// Polls `check` on the status of `name` for up to 20 seconds.
async fn until(
    projections: &Projections,
    name: ProjectionName,
    what: &str,
    check: impl Fn(&ProjectionStatus) -> bool,
) -> ProjectionStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = status_of(projections, name).await;
        if check(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{name} never {what}: {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn assert_verifies(projections: &Projections) {
    let report = projections.verify().await.unwrap();
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.projections.len(), ProjectionName::ALL.len());
}

async fn append_raw(
    store: &EventStore,
    stream_type: &str,
    id: &str,
    event_type: &str,
    payload: serde_json::Value,
) -> Position {
    store
        .append(AppendRequest {
            stream: StreamRef::new(stream_type, id),
            expected: ExpectedVersion::Any,
            metadata: EventMetadata::new(Uuid::now_v7(), None),
            events: vec![NewEvent {
                event_type: event_type.into(),
                event_version: "1".into(),
                payload,
            }],
            snapshot: None,
        })
        .await
        .unwrap()
        .last_position
}

pub async fn events_of_other_stream_types_are_skipped_but_move_the_checkpoint(db: TestDatabase) {
    let (store, projections) = open(&db, options(registry())).await;
    let handle = projections.start();
    live_cases(&store, 1, 1).await;
    for i in 0..3 {
        append_raw(&store, "audit_trail", "a1", "Noted", json!({"i": i})).await;
    }
    let head = caught_up(&handle, &store).await;
    for status in handle.status().await.unwrap() {
        assert_eq!(status.checkpoint, head, "{}", status.name);
        assert_eq!(status.lag_events, 0);
        assert!(status.last_error.is_none());
    }
    assert_verifies(&handle).await;
}

pub async fn a_projector_aborted_between_batches_resumes_and_equals_a_clean_rebuild(
    db: TestDatabase,
) {
    let mut opts = options(registry());
    opts.batch_size = 4;
    let (store, projections) = open(&db, opts.clone()).await;
    live_cases(&store, 1, 12).await;
    let handle = projections.start();
    handle
        .wait_for(
            &[ProjectionName::CaseOverview],
            Position(40),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    drop(handle);
    let head = store.head().await.unwrap();
    for status in projections.status().await.unwrap() {
        assert!(status.checkpoint <= head);
        assert_eq!(status.activity, Activity::NotRunning);
    }
    live_cases(&store, 100, 3).await;

    let (_, again) = open(&db, opts).await;
    let handle = again.start();
    caught_up(&handle, &store).await;
    drop(handle);
    assert_verifies(&again).await;
    let cases = again
        .read_models()
        .case_overviews(
            &testregion(),
            &CaseFilter::default(),
            &PageRequest::first(100),
            date("2025-03-03"),
        )
        .await
        .unwrap();
    assert_eq!(cases.items.len(), 15);
    assert!(cases.items.iter().all(|c| c.phase == Phase::Live));
}

pub async fn a_projector_aborted_inside_a_transaction_resumes_and_equals_a_clean_rebuild(
    db: TestDatabase,
) {
    let mut stalling = options(registry());
    stalling.batch_size = 5;
    stalling.fault = Some(Fault {
        projection: ProjectionName::CaseOverview,
        at: Position(53),
        action: FaultAction::Stall,
    });
    let (store, projections) = open(&db, stalling).await;
    live_cases(&store, 1, 8).await;
    let handle = projections.start();
    handle
        .wait_for(
            &[ProjectionName::CaseOverview],
            Position(50),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    // The batch (50, 55] has written its documents and now waits before its commit.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        status_of(&projections, ProjectionName::CaseOverview)
            .await
            .checkpoint,
        Position(50)
    );
    drop(handle);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        status_of(&projections, ProjectionName::CaseOverview)
            .await
            .checkpoint,
        Position(50),
        "the aborted transaction committed nothing"
    );
    assert_verifies(&projections).await;

    let (_, again) = open(&db, options(registry())).await;
    let handle = again.start();
    caught_up(&handle, &store).await;
    drop(handle);
    assert_verifies(&again).await;
}

/// Every commit wakes all seven projectors; they apply it together, in one round (one
/// transaction), not one transaction each.
pub async fn the_projectors_led_here_apply_a_commit_together_in_one_round(db: TestDatabase) {
    let (store, projections) = open(&db, options(registry())).await;
    let handle = projections.start();
    caught_up(&handle, &store).await;
    let before = projections.rounds();
    for i in 1..=10 {
        live_cases(&store, i, 1).await;
        caught_up(&handle, &store).await;
    }
    let rounds = projections.rounds();
    let (carried, members) = (
        rounds.rounds - before.rounds,
        rounds.members - before.members,
    );
    assert_eq!(rounds.failed, 0, "{rounds:?}");
    assert!(carried > 0, "{rounds:?}");
    // Seven when every projector joins every round (6.4 and 6.9 measured on a quiet
    // machine); on a loaded one the scheduler may leave some out of a round's millisecond of
    // gathering, and they carry one of their own. One member per round is what a carrier
    // that does not gather would show.
    assert!(
        members >= 2 * carried,
        "{members} members in {carried} rounds"
    );
    drop(handle);
    assert_verifies(&projections).await;
}

/// A projection stuck inside a round (here: before its commit, for ever) holds the others
/// back for one `round_timeout`; then each goes alone, the others catch up, and only the
/// stuck one stays behind.
pub async fn a_projection_stuck_in_a_round_holds_the_others_back_only_until_the_round_times_out(
    db: TestDatabase,
) {
    let mut stalling = options(registry());
    stalling.round_timeout = Duration::from_millis(300);
    stalling.fault = Some(Fault {
        projection: ProjectionName::Findings,
        at: Position(1),
        action: FaultAction::Stall,
    });
    let (store, projections) = open(&db, stalling).await;
    let handle = projections.start();
    live_cases(&store, 1, 3).await;
    let head = store.head().await.unwrap();
    let others: Vec<ProjectionName> = ProjectionName::ALL
        .into_iter()
        .filter(|n| *n != ProjectionName::Findings)
        .collect();
    handle
        .wait_for(&others, head, Duration::from_secs(20))
        .await
        .unwrap();
    // The round findings hangs in may be one of its own (the others carried theirs while it
    // hung): it fails once its `round_timeout` is up, which can be after the others are done.
    let deadline = Instant::now() + Duration::from_secs(20);
    while projections.rounds().failed == 0 {
        assert!(
            Instant::now() < deadline,
            "no round failed: {:?}",
            projections.rounds()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status_of(&projections, ProjectionName::Findings)
            .await
            .checkpoint,
        Position(0)
    );
    drop(handle);

    let (_, again) = open(&db, options(registry())).await;
    let handle = again.start();
    caught_up(&handle, &store).await;
    drop(handle);
    assert_verifies(&again).await;
}

/// The batch of events 21 to 30 fails at 25: it is rolled back whole, 21 to 24 are applied
/// on their own, and the projector stops with its checkpoint at 24.
pub async fn an_apply_error_stops_the_projector_just_before_the_event_that_failed(
    db: TestDatabase,
) {
    let mut failing = options(registry());
    failing.batch_size = 10;
    failing.fault = Some(Fault {
        projection: ProjectionName::Findings,
        at: Position(25),
        action: FaultAction::Fail,
    });
    let (store, projections) = open(&db, failing).await;
    live_cases(&store, 1, 4).await;
    let handle = projections.start();
    let stopped = until(&handle, ProjectionName::Findings, "stopped", |s| {
        s.activity == Activity::Stopped
    })
    .await;
    assert_eq!(stopped.checkpoint, Position(24), "{stopped:?}");
    assert!(
        stopped
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("position 25")),
        "{stopped:?}"
    );
    let head = store.head().await.unwrap();
    handle
        .wait_for(
            &[ProjectionName::CaseOverview, ProjectionName::Incidents],
            head,
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert!(matches!(
        handle
            .wait_for(
                &[ProjectionName::Findings],
                head,
                Duration::from_millis(300)
            )
            .await,
        Err(ProjectionError::Lagging {
            checkpoint: Position(24),
            ..
        })
    ));
    drop(handle);
    // Another process sees the error in the registry.
    let (_, elsewhere) = open(&db, options(registry())).await;
    let seen = status_of(&elsewhere, ProjectionName::Findings).await;
    assert!(seen.last_error.is_some());
    assert_eq!(seen.checkpoint, Position(24));
    assert_verifies(&elsewhere).await;
}

pub async fn an_event_that_does_not_deserialise_stops_the_projector_loudly(db: TestDatabase) {
    let (store, projections) = open(&db, options(registry())).await;
    let mut case = CaseFixture::test(1);
    case.applied();
    let applied = case.append(&store).await.last_position;
    let handle = projections.start();
    caught_up(&handle, &store).await;
    handle.shutdown().await;

    case.approved();
    let approved = case.append(&store).await.last_position;
    let bad = append_raw(
        &store,
        ConnectionCase_TYPE,
        &Uuid::from_u128(9).to_string(),
        "ApplicationSubmitted",
        json!({"nonsense": true}),
    )
    .await;
    let handle = projections.start();
    let stopped = until(&handle, ProjectionName::CaseOverview, "stopped", |s| {
        s.activity == Activity::Stopped
    })
    .await;
    assert_eq!(
        stopped.checkpoint, approved,
        "the good event read in the same batch is applied"
    );
    assert!(applied < approved && approved.get() + 1 == bad.get());
    let error = stopped.last_error.unwrap();
    assert!(error.contains(&format!("position {bad}")), "{error}");
    let overview = handle
        .read_models()
        .case_overview(&testregion(), case.id, date("2025-03-03"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(overview.phase, Phase::Approved);
    // Incidents do not read case streams and carry on.
    handle
        .wait_for(&[ProjectionName::Incidents], bad, Duration::from_secs(10))
        .await
        .unwrap();
}

#[expect(
    non_upper_case_globals,
    reason = "named like the associated constant it stands for"
)]
const ConnectionCase_TYPE: &str = <ConnectionCase as cqrs_es::Aggregate>::TYPE;

pub async fn a_rebuild_serves_the_old_generation_until_it_swaps(db: TestDatabase) {
    let mut opts = options(registry());
    opts.rebuild_batch_size = 8;
    let (store, projections) = open(&db, opts).await;
    live_cases(&store, 1, 15).await;
    let handle = projections.start();
    caught_up(&handle, &store).await;
    assert_eq!(
        status_of(&handle, ProjectionName::CaseOverview)
            .await
            .generation,
        1
    );

    let seen = Arc::new(Mutex::new(Vec::new()));
    let rebuilding = {
        let projections = (*handle).clone();
        let seen = seen.clone();
        tokio::spawn(async move {
            projections
                .rebuild(&[ProjectionName::CaseOverview], move |p| {
                    seen.lock().unwrap().push(p.clone());
                })
                .await
        })
    };
    let reads = handle.read_models();
    let mut counts = Vec::new();
    let mut appended = false;
    while !rebuilding.is_finished() {
        let page = reads
            .case_overviews(
                &testregion(),
                &CaseFilter::default(),
                &PageRequest::first(100),
                date("2025-03-03"),
            )
            .await
            .unwrap();
        counts.push(page.items.len());
        if !appended && counts.len() == 3 {
            live_cases(&store, 100, 2).await;
            appended = true;
        }
    }
    let report = rebuilding.await.unwrap().unwrap();
    assert!(counts.len() > 2, "the reads ran alongside the rebuild");
    assert!(
        counts.iter().all(|n| (15..=17).contains(n)) && counts.windows(2).all(|w| w[0] <= w[1]),
        "reads only ever saw whole generations: {counts:?}"
    );
    let progress = seen.lock().unwrap().clone();
    assert!(progress.len() >= 2, "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(report.projections[0].0, ProjectionName::CaseOverview);
    assert_eq!(report.projections[0].1, 2);

    caught_up(&handle, &store).await;
    let status = status_of(&handle, ProjectionName::CaseOverview).await;
    assert_eq!(status.generation, 2);
    assert!(
        db.execute("SELECT 1 FROM case_overview_g1").await.is_err(),
        "the old generation is dropped"
    );
    let cases = reads
        .case_overviews(
            &testregion(),
            &CaseFilter::default(),
            &PageRequest::first(100),
            date("2025-03-03"),
        )
        .await
        .unwrap();
    assert_eq!(cases.items.len(), 17);
    drop(handle);
    assert_verifies(&projections).await;
}

pub async fn a_schema_version_bump_rebuilds_at_start(db: TestDatabase) {
    let (store, projections) = open(&db, options(registry())).await;
    live_cases(&store, 1, 3).await;
    let handle = projections.start();
    caught_up(&handle, &store).await;
    handle.shutdown().await;
    // What a release with a new schema version of `costs` finds: tables of the old one.
    db.execute("UPDATE projection_state SET schema_version = 0 WHERE name = 'costs'")
        .await
        .unwrap();
    live_cases(&store, 10, 1).await;

    let (_, again) = open(&db, options(registry())).await;
    assert_eq!(
        status_of(&again, ProjectionName::Costs)
            .await
            .stored_schema_version,
        0
    );
    let handle = again.start();
    let rebuilt = until(&handle, ProjectionName::Costs, "rebuilt", |s| {
        s.generation == 2 && s.stored_schema_version == s.schema_version
    })
    .await;
    assert_eq!(rebuilt.schema_version, 3);
    caught_up(&handle, &store).await;
    assert_eq!(
        status_of(&handle, ProjectionName::CaseOverview)
            .await
            .generation,
        1,
        "only costs"
    );
    assert!(db.execute("SELECT 1 FROM costs_g1").await.is_err());
    let costs = handle
        .read_models()
        .costs(
            &testregion(),
            &projections::read_models::costs::CostFilter::default(),
            &PageRequest::default(),
            date("2025-03-03"),
        )
        .await
        .unwrap();
    assert_eq!(costs.items.len(), 4);
    drop(handle);
    assert_verifies(&again).await;
}

pub async fn wait_for_returns_once_the_projection_passes_the_position_and_times_out_otherwise(
    db: TestDatabase,
) {
    let (store, projections) = open(&db, options(registry())).await;
    let mut case = CaseFixture::test(1);
    case.applied();
    let written = case.append(&store).await.last_position;
    // Nobody projects yet: the read gives up after its bound.
    let started = Instant::now();
    let lagging = projections
        .wait_for(
            &[ProjectionName::CaseOverview],
            written,
            Duration::from_millis(300),
        )
        .await;
    let Err(ProjectionError::Lagging {
        projection,
        checkpoint,
        wanted,
        retry_after,
    }) = lagging
    else {
        panic!("expected Lagging, got {lagging:?}");
    };
    assert_eq!(
        (projection, checkpoint, wanted),
        (ProjectionName::CaseOverview, Position(0), written)
    );
    assert!(retry_after >= Duration::from_secs(1));
    assert!(started.elapsed() >= Duration::from_millis(300));

    let handle = projections.start();
    handle
        .wait_for(&ProjectionName::ALL, written, Duration::from_secs(10))
        .await
        .unwrap();
    case.approved();
    let approved = case.append(&store).await.last_position;
    let started = Instant::now();
    handle
        .wait_for(&ProjectionName::ALL, approved, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "woken, not polled: {:?}",
        started.elapsed()
    );
    let overview = handle
        .read_models()
        .case_overview(&testregion(), case.id, date("2025-03-03"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(overview.phase, Phase::Approved, "the read sees the write");
    assert!(matches!(
        handle
            .wait_for(
                &[ProjectionName::Costs],
                Position(approved.get() + 1000),
                Duration::from_millis(200)
            )
            .await,
        Err(ProjectionError::Lagging { .. })
    ));
}

pub async fn verify_finds_differences_planted_in_a_live_table(db: TestDatabase) {
    let (store, projections) = open(&db, options(registry())).await;
    let mut first = CaseFixture::test(1);
    first.live();
    first.append(&store).await;
    live_cases(&store, 2, 1).await;
    let handle = projections.start();
    caught_up(&handle, &store).await;
    handle.shutdown().await;
    assert_verifies(&projections).await;

    let key = first.id.to_string();
    db.execute(&format!(
        "UPDATE case_overview_g1 SET phase = 'ended' WHERE key = '{key}'"
    ))
    .await
    .unwrap();
    db.execute(&format!(
        "DELETE FROM findings_state_g1 WHERE key = '{key}'"
    ))
    .await
    .unwrap();
    db.execute(
        "INSERT INTO costs_g1 (key, region, provider_org, programme, phase, doc) \
         VALUES ('planted', 'testregion', '559123-4561', 'test-halsoval', 'live', '{}')",
    )
    .await
    .unwrap();
    let report = projections.verify().await.unwrap();
    assert!(!report.is_clean());
    let of = |name| {
        report
            .projections
            .iter()
            .find(|p| p.name == name)
            .unwrap()
            .clone()
    };
    let overview = of(ProjectionName::CaseOverview);
    assert_eq!(overview.difference_count, 1);
    assert!(matches!(
        &overview.differences[0],
        Difference::Differs { key: k, live, rebuilt, .. } if *k == key && live.contains("\"ended\"") && rebuilt.contains("\"live\"")
    ));
    let findings = of(ProjectionName::Findings);
    assert_eq!(
        findings.differences,
        vec![Difference::OnlyRebuilt {
            table: projections::TableKind::State,
            key: key.clone()
        }]
    );
    let costs = of(ProjectionName::Costs);
    assert_eq!(
        costs.differences,
        vec![Difference::OnlyLive {
            table: projections::TableKind::Rows,
            key: "planted".into()
        }]
    );
    assert_eq!(of(ProjectionName::Pipeline).difference_count, 0);
    assert!(of(ProjectionName::Pipeline).rows_compared > 0);
    // Verify cleans up after itself: only the live generations remain.
    let status = projections.status().await.unwrap();
    assert!(status.iter().all(|s| s.generation == 1));
}

pub async fn status_reports_checkpoint_head_lag_and_leadership(db: TestDatabase) {
    let (store, projections) = open(&db, options(registry())).await;
    live_cases(&store, 1, 2).await;
    let head = store.head().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for status in projections.status().await.unwrap() {
        assert_eq!((status.checkpoint, status.head), (Position(0), head));
        assert_eq!(status.lag_events, head.get());
        assert!(status.lag_seconds > 0.0, "{status:?}");
        assert_eq!(status.activity, Activity::NotRunning);
        assert_eq!(status.leader, Leader::Nobody);
        assert_eq!(
            (status.generation, status.stored_schema_version),
            (1, status.schema_version)
        );
        assert!(status.schema_version >= 1);
    }
    let handle = projections.start();
    caught_up(&handle, &store).await;
    for status in handle.status().await.unwrap() {
        assert_eq!(status.checkpoint, head);
        assert_eq!((status.lag_events, status.lag_seconds), (0, 0.0));
        assert_eq!(status.leader, Leader::Here);
        assert_eq!(status.activity, Activity::Projecting);
    }
}

/// The documents of every projection's tables, those made at start and those a rebuild
/// makes, are compressed with lz4 where the server has it (PostgreSQL's default, pglz, was
/// the largest single cost of the database's side of a rebuild).
pub async fn documents_are_compressed_with_lz4_where_the_server_has_it(db: TestDatabase) {
    let (store, projections) = open(&db, options(registry())).await;
    let handle = projections.start();
    live_cases(&store, 1, 2).await;
    caught_up(&handle, &store).await;
    drop(handle);
    projections
        .rebuild(&[ProjectionName::Findings], |_| {})
        .await
        .unwrap();

    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    let lz4: bool = sqlx::query_scalar(
        "SELECT COALESCE(bool_or('lz4' = ANY(enumvals)), false) FROM pg_settings \
         WHERE name = 'default_toast_compression'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let methods: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attcompression::text FROM pg_attribute a \
         JOIN pg_class c ON c.oid = a.attrelid \
         WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' \
         AND a.attname = 'doc' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(methods.len(), 2 * ProjectionName::ALL.len(), "{methods:?}");
    assert!(
        methods
            .iter()
            .any(|(table, _)| table == "findings_state_g2"),
        "{methods:?}"
    );
    let expected = if lz4 { "l" } else { "" };
    for (table, method) in &methods {
        assert_eq!(method, expected, "{table}");
    }
    if lz4 {
        // A live case's overview embeds the whole case: large enough to be compressed.
        let compressed: Vec<Option<String>> =
            sqlx::query_scalar("SELECT pg_column_compression(doc) FROM case_overview_state_g1")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        assert_eq!(compressed, vec![Some("lz4".to_owned()); 2]);
    }
    drop(conn.close().await);
}

/// A rebuild that meets an event one projection cannot apply (here: a second application in
/// a case) fails with that projection's error at that position, however far the others got,
/// and swaps nothing in: every projection keeps serving its live generation.
pub async fn a_rebuild_that_meets_an_event_a_projection_cannot_apply_fails_and_swaps_nothing(
    db: TestDatabase,
) {
    let mut opts = options(registry());
    opts.rebuild_batch_size = 3;
    let (store, projections) = open(&db, opts).await;
    live_cases(&store, 1, 2).await;
    let first = store.read_all(Position::START, 1).await.unwrap().remove(0);
    assert_eq!(first.event_type, "ApplicationSubmitted");
    let bad = append_raw(
        &store,
        ConnectionCase_TYPE,
        &first.stream.stream_id,
        "ApplicationSubmitted",
        first.payload.clone(),
    )
    .await;
    // More batches after it, for the lanes that can go on.
    live_cases(&store, 10, 3).await;

    let error = projections
        .rebuild(&ProjectionName::ALL, |_| {})
        .await
        .unwrap_err();
    match error {
        ProjectionError::Poison { position, .. } => assert_eq!(position, bad, "{error}"),
        other => panic!("expected the event at {bad} to stop the rebuild: {other}"),
    }
    for status in projections.status().await.unwrap() {
        assert_eq!(status.generation, 1, "{status:?}");
    }
}
