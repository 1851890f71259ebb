//! The connection budget: a server on PostgreSQL never opens more sessions than
//! `database.pools` adds up to, however hard it is pressed.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use api::config::PoolSettings;
use sqlx::Connection;
use store::testing::TestDatabase;

use crate::helpers::{jamtland_application, spawn_with};

/// The client sessions on the test's database other than the one asking.
async fn sessions(watcher: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(watcher)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_opens_no_more_connections_than_its_pools_add_up_to() {
    let small = PoolSettings {
        store: 2,
        projections: 2,
        webhooks: 2,
        keys: 1,
        audit: 1,
    };
    let database = TestDatabase::postgres().await;
    let url = database.url().to_owned();
    let app = spawn_with(database, |settings| settings.database.pools = small).await;
    let mut watcher = sqlx::PgConnection::connect(&url).await.unwrap();

    let most = Arc::new(AtomicI64::new(0));
    let done = Arc::new(tokio::sync::Notify::new());
    let sampler = {
        let most = most.clone();
        let done = done.clone();
        tokio::spawn(async move {
            loop {
                most.fetch_max(sessions(&mut watcher).await, Ordering::SeqCst);
                tokio::select! {
                    () = done.notified() => break,
                    () = tokio::time::sleep(Duration::from_millis(5)) => {}
                }
            }
            most.fetch_max(sessions(&mut watcher).await, Ordering::SeqCst);
        })
    };

    // Thirty applications at once, each read back at once: every pool is pressed.
    let token = app.provider();
    let answers = futures_util::future::join_all((0..30).map(|_| {
        let app = &app;
        let token = &token;
        async move {
            let created = app
                .post("/v1/cases", token, &jamtland_application(), None, None)
                .await;
            let id = created.json()["case_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let read = app
                .send(
                    app.client
                        .get(format!("{}/v1/cases/{id}/overview", app.address))
                        .bearer_auth(token),
                )
                .await;
            (created.status, read.status)
        }
    }))
    .await;
    done.notify_one();
    sampler.await.unwrap();

    for (created, read) in &answers {
        assert_eq!(*created, 201, "{answers:?}");
        assert!(
            [200, 404].contains(read),
            "a read answers (404 until projected): {answers:?}"
        );
    }
    let most = most.load(Ordering::SeqCst);
    assert!(most > 0, "the sampler saw the server's sessions");
    assert!(
        most <= i64::from(small.per_instance()),
        "{most} sessions, the budget is {}",
        small.per_instance()
    );
}
