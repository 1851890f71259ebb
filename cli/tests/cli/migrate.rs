//! `anslut migrate` on a fresh database and data directory.

use store::testing::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anslut_migrate_creates_the_webhook_tables_and_the_development_key() {
    let database = TestDatabase::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_anslut"))
        .arg("migrate")
        .env("DATABASE_URL", database.url())
        .env("ANSLUT_DATA_DIR", dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("running anslut");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
    for table in [
        "webhook_subscriptions",
        "webhook_deliveries",
        "webhook_attempts",
        "webhook_projector",
    ] {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(table)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(exists, "{table} was not created");
    }
    pool.close().await;
    assert!(
        dir.path()
            .join(api::application::webhooks::SECRET_KEY_FILE)
            .exists()
    );
}
