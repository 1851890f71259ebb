//! The checkpointer: a checkpoint when the log has grown and the interval has passed.

use std::time::Duration;

use audit::AuditConfig;
use chrono::{TimeZone, Utc};
use store::testing::TestDatabase;

use crate::{append, setup_with, stream};

/// Driven by `checkpoint_if_due` with a clock the test controls.
pub async fn checkpoints_follow_the_interval_on_a_controlled_clock(db: TestDatabase) {
    let (store, auditor) = setup_with(
        &db,
        AuditConfig {
            checkpoint_interval: Duration::from_secs(60),
            ..AuditConfig::default()
        },
    )
    .await;
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
    let at = |secs: i64| t0 + chrono::Duration::seconds(secs);

    assert_eq!(
        auditor.checkpoint_if_due(at(0)).await.unwrap(),
        None,
        "empty log"
    );
    append(&store, &[stream("a")], 3).await;
    let first = auditor.checkpoint_if_due(at(1)).await.unwrap().unwrap();
    assert_eq!((first.tree_size, first.created_at), (3, at(1)));

    append(&store, &[stream("a")], 2).await;
    assert_eq!(
        auditor.checkpoint_if_due(at(30)).await.unwrap(),
        None,
        "too soon"
    );
    assert_eq!(
        auditor.tree_size().await.unwrap(),
        5,
        "but the tree follows at once"
    );
    let second = auditor.checkpoint_if_due(at(61)).await.unwrap().unwrap();
    assert_eq!((second.tree_size, second.created_at), (5, at(61)));

    assert_eq!(
        auditor.checkpoint_if_due(at(3600)).await.unwrap(),
        None,
        "no growth, no checkpoint"
    );
    // On demand, the interval does not apply.
    append(&store, &[stream("b")], 1).await;
    assert_eq!(
        auditor.checkpoint_now().await.unwrap().unwrap().tree_size,
        6
    );
}

/// The loop itself, with a short real interval.
pub async fn the_checkpointer_loop_signs_after_appends_and_stops_on_shutdown(db: TestDatabase) {
    let interval = Duration::from_millis(400);
    let (store, auditor) = setup_with(
        &db,
        AuditConfig {
            checkpoint_interval: interval,
            poll_interval: Duration::from_millis(20),
            ..AuditConfig::default()
        },
    )
    .await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn({
        let auditor = auditor.clone();
        async move {
            auditor
                .run_checkpointer(async {
                    stopped.await.ok();
                })
                .await;
        }
    });

    let wait_for = |size: u64| {
        let auditor = auditor.clone();
        async move {
            for _ in 0..500 {
                if let Some(latest) = auditor.latest_checkpoint().await.unwrap()
                    && latest.tree_size == size
                {
                    return latest;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("no checkpoint of {size} events within 10 s");
        }
    };
    append(&store, &[stream("a")], 4).await;
    let first = wait_for(4).await;
    append(&store, &[stream("a")], 3).await;
    let second = wait_for(7).await;
    assert!(
        (second.created_at - first.created_at).to_std().unwrap() >= interval,
        "checkpoints at least an interval apart"
    );
    tokio::time::sleep(interval * 2).await;
    assert_eq!(
        auditor.latest_checkpoint().await.unwrap(),
        Some(second),
        "no growth"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the loop stops on shutdown")
        .unwrap();
}
