//! The tail (`EventStore::read_tail`): followers of one process answered from what one of
//! them read, never with an answer the log would not give.

use std::sync::Arc;

use store::testing::TestDatabase;
use store::{EventStore, ExpectedVersion, Position, RecordedEvent, StoreOptions};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::{request, stream};

fn positions(events: &[Arc<RecordedEvent>]) -> Vec<u64> {
    events.iter().map(|e| e.position.0).collect()
}

/// Given a tail filled up to the head, when this process commits another event, then a
/// follower behind the tail is answered with that event too (a short answer would tell it
/// that it caught up, and it would pause with the event unread and its wake-up taken); a full
/// page is still answered from the tail.
pub async fn a_follower_is_never_answered_short_of_a_commit_this_process_made(db: TestDatabase) {
    let store = db.store().await;
    let case = stream("c-1");
    store
        .append(request(&case, ExpectedVersion::Exact(0), 3))
        .await
        .unwrap();
    let first = store.read_tail(Position::START, 100).await.unwrap();
    assert_eq!(positions(&first), [1, 2, 3]);

    store
        .append(request(&case, ExpectedVersion::Exact(3), 1))
        .await
        .unwrap();
    let page = store.read_tail(Position(1), 2).await.unwrap();
    assert_eq!(positions(&page), [2, 3], "a full page");
    let behind = store.read_tail(Position(1), 100).await.unwrap();
    assert_eq!(
        positions(&behind),
        [2, 3, 4],
        "up to this process's last commit"
    );
}

/// Given writers in this process and in another (whose commits are not announced here), when
/// followers each read the tail from where they are, in pages of different sizes, until the
/// log stops growing, then each one's sequence is the whole log as `read_all` gives it: every
/// event once, in order, the same events.
pub async fn followers_reading_the_tail_see_the_log_as_read_all_gives_it(db: TestDatabase) {
    const WRITERS: usize = 3;
    const APPENDS: usize = 15;
    const FOLLOWERS: u64 = 4;
    let options = StoreOptions {
        sqlite_durable: false,
        acquire_timeout: std::time::Duration::from_secs(30),
        // Small, so that it is trimmed while followers read.
        tail_events: 16,
        ..StoreOptions::default()
    };
    let here = db.store_with(options.clone()).await;
    let elsewhere = EventStore::connect(db.url(), options).await.unwrap();

    let mut writers = JoinSet::new();
    for (w, store) in [here.clone(), elsewhere.clone()]
        .into_iter()
        .cycle()
        .take(WRITERS)
        .enumerate()
    {
        writers.spawn(async move {
            for i in 0..APPENDS {
                let case = stream(&format!("w{w}-{}", i % 4));
                store
                    .append(request(&case, ExpectedVersion::Any, 1 + i % 3))
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
            }
        });
    }
    let (written, done) = tokio::sync::watch::channel(false);
    let mut followers = JoinSet::new();
    for f in 0..FOLLOWERS {
        let store = here.clone();
        let done = done.clone();
        followers.spawn(async move {
            let mut seen: Vec<(u64, Uuid)> = Vec::new();
            let mut last = Position::START;
            let mut finished = false;
            loop {
                let page = store.read_tail(last, 1 + f * 2).await.unwrap();
                for (i, event) in page.iter().enumerate() {
                    assert_eq!(
                        event.position.0,
                        last.0 + 1 + i as u64,
                        "follower {f}: the page after {last} is not dense"
                    );
                    seen.push((event.position.0, event.event_id));
                }
                if let Some(event) = page.last() {
                    last = event.position;
                    continue;
                }
                if finished {
                    return seen;
                }
                // Once the writers are done, one more empty page (which only the database
                // answers: the tail never answers empty) ends the follower.
                finished = *done.borrow();
                tokio::task::yield_now().await;
            }
        });
    }
    while let Some(writer) = writers.join_next().await {
        writer.unwrap();
    }
    written.send(true).unwrap();

    let mut log = Vec::new();
    let mut after = Position::START;
    loop {
        let page = here.read_all(after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.position;
        log.extend(page.iter().map(|e| (e.position.0, e.event_id)));
    }
    assert_eq!(
        log.len(),
        (0..APPENDS).map(|i| 1 + i % 3).sum::<usize>() * WRITERS
    );
    while let Some(seen) = followers.join_next().await {
        assert_eq!(seen.unwrap(), log, "a follower's sequence is the log");
    }
}
