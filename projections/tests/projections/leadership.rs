//! Several instances on one PostgreSQL database: each projection runs in exactly one of
//! them, the others follow its checkpoint, and when the leader goes another takes over.

use std::time::{Duration, Instant};

use projections::testing::{CaseFixture, registry};
use projections::{Leader, ProjectionName, Projections};
use store::testing::TestDatabase;

use crate::options;

async fn leaders(projections: &Projections) -> Vec<Leader> {
    projections
        .status()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.leader)
        .collect()
}

pub async fn a_second_instance_follows_and_takes_over_when_the_leader_goes(db: TestDatabase) {
    let first_store = db.store().await;
    let first = Projections::open(db.url(), first_store.clone(), options(registry()))
        .await
        .unwrap();
    let first_running = first.start();
    let deadline = Instant::now() + Duration::from_secs(10);
    while leaders(&first).await.iter().any(|l| *l != Leader::Here) {
        assert!(Instant::now() < deadline, "the first instance never led");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let second_store = db.store().await;
    let second = Projections::open(db.url(), second_store.clone(), options(registry()))
        .await
        .unwrap();
    let second_running = second.start();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        leaders(&second)
            .await
            .iter()
            .all(|l| *l == Leader::Elsewhere),
        "only one instance leads"
    );

    // Writes through the first instance; the second reads its own writes' positions through
    // the leader's notifications.
    let mut case = CaseFixture::test(1);
    case.applied().approved();
    let written = case.append(&first_store).await.last_position;
    second_running
        .wait_for(&ProjectionName::ALL, written, Duration::from_secs(5))
        .await
        .unwrap();

    // The leader dies; its connections, and with them its locks, go.
    drop(first_running);
    drop(first);
    let mut more = CaseFixture::test(2);
    more.live();
    let written = more.append(&second_store).await.last_position;
    let died = Instant::now();
    second_running
        .wait_for(&ProjectionName::ALL, written, Duration::from_secs(10))
        .await
        .unwrap();
    let took = died.elapsed();
    assert!(took < Duration::from_secs(5), "took over in {took:?}");
    assert!(leaders(&second).await.iter().all(|l| *l == Leader::Here));
    drop(second_running);
    let report = second.verify().await.unwrap();
    assert!(report.is_clean(), "{report:#?}");
}
