//! Which subscriptions get which events; what registration accepts; what the database holds.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sqlx::{Connection, PgConnection, Row as _, SqliteConnection};
use store::testing::TestDatabase;
use webhooks::{DeliveryStatus, Leader, UrlPolicy, WebhookError};

use crate::receiver::Receiver;
use crate::{append, caller, eventually, open, options, spec, statuses, subscribe};

const ALL: Duration = Duration::from_secs(20);

pub async fn events_reach_only_the_matching_active_subscriptions_of_their_own_region(
    db: TestDatabase,
) {
    let store = db.store().await;
    let receiver = Receiver::start();
    let before = append(
        &store,
        Some("dalarna"),
        ("connection_case", "c0"),
        "WentLive",
        json!({}),
    )
    .await;
    let webhooks = open(&db, &store, options()).await;
    let all = subscribe(&webhooks, &receiver, "dalarna", "all", &["*"]).await;
    let live = subscribe(
        &webhooks,
        &receiver,
        "dalarna",
        "live",
        &["se.anslut.connection_case.WentLive.v1"],
    )
    .await;
    subscribe(
        &webhooks,
        &receiver,
        "dalarna",
        "incidents",
        &["se.anslut.security_incident.*"],
    )
    .await;
    subscribe(&webhooks, &receiver, "varmland", "foreign", &["*"]).await;
    assert_eq!(all.starts_after, before.position);
    let handle = webhooks.start();

    let step = append(
        &store,
        Some("dalarna"),
        ("connection_case", "c1"),
        "StepRecorded",
        json!({}),
    )
    .await;
    let went_live = append(
        &store,
        Some("dalarna"),
        ("connection_case", "c1"),
        "WentLive",
        json!({}),
    )
    .await;
    let incident = append(
        &store,
        Some("dalarna"),
        ("security_incident", "i1"),
        "IncidentReported",
        json!({}),
    )
    .await;
    let foreign = append(
        &store,
        Some("varmland"),
        ("connection_case", "c2"),
        "WentLive",
        json!({}),
    )
    .await;
    let untenanted = append(
        &store,
        None,
        ("connection_case", "c3"),
        "WentLive",
        json!({}),
    )
    .await;
    eventually("every subscription has its events", ALL, || async {
        receiver.accepted("all").len() == 3
            && receiver.accepted("live").len() == 1
            && receiver.accepted("incidents").len() == 1
            && receiver.accepted("foreign").len() == 1
    })
    .await;

    let deactivated = webhooks
        .deactivate(&caller("dalarna"), live.id)
        .await
        .unwrap();
    assert!(!deactivated.active);
    let later = append(
        &store,
        Some("dalarna"),
        ("connection_case", "c1"),
        "WentLive",
        json!({}),
    )
    .await;
    eventually(
        "the later event reaches the active subscription",
        ALL,
        || async { receiver.accepted("all").len() == 4 },
    )
    .await;
    eventually(
        "the projector has passed the untenanted event",
        ALL,
        || async { webhooks.status().await.unwrap().checkpoint == later.position },
    )
    .await;

    let ids = |list: &[crate::Appended]| {
        list.iter()
            .map(crate::Appended::webhook_id)
            .collect::<Vec<_>>()
    };
    // Across streams there is no order to check; within c1 there is (see delivery.rs).
    let sorted = |mut list: Vec<String>| {
        list.sort();
        list
    };
    assert_eq!(
        sorted(receiver.accepted("all")),
        sorted(ids(&[step, went_live, incident, later]))
    );
    assert_eq!(receiver.accepted("live"), ids(&[went_live]));
    assert_eq!(receiver.accepted("incidents"), ids(&[incident]));
    assert_eq!(receiver.accepted("foreign"), ids(&[foreign]));
    let sent: BTreeSet<String> = receiver.hits().into_iter().map(|h| h.webhook_id).collect();
    assert!(!sent.contains(&before.webhook_id()), "registered after it");
    assert!(
        !sent.contains(&untenanted.webhook_id()),
        "no tenancy, no delivery"
    );
    assert_eq!(
        statuses(&webhooks, "dalarna", live.id)
            .await
            .into_keys()
            .collect::<Vec<_>>(),
        vec![went_live.position.get()],
        "nothing is enqueued for a deactivated subscription"
    );
    drop(handle);
}

pub async fn subscriptions_are_validated_confined_to_their_region_and_limited(db: TestDatabase) {
    let store = db.store().await;
    let mut opts = options();
    opts.max_subscriptions_per_region = 2;
    opts.known_event_types = Some(Arc::new(
        ["se.anslut.connection_case.WentLive.v1".to_owned()]
            .into_iter()
            .collect(),
    ));
    let webhooks = open(&db, &store, opts.clone()).await;
    let dalarna = caller("dalarna");
    let url = "http://127.0.0.1:9/hook".to_owned();

    let refused = |result: Result<webhooks::Registered, WebhookError>| result.unwrap_err().code();
    assert_eq!(
        refused(
            webhooks
                .register(&dalarna, spec("http://example.se/hook".into(), &["*"]))
                .await
        ),
        "webhooks.url_refused"
    );
    assert_eq!(
        refused(
            webhooks
                .register(&dalarna, spec("https://u:p@example.se/".into(), &["*"]))
                .await
        ),
        "webhooks.url_refused"
    );
    assert_eq!(
        refused(webhooks.register(&dalarna, spec(url.clone(), &[])).await),
        "webhooks.invalid"
    );
    assert_eq!(
        refused(
            webhooks
                .register(
                    &dalarna,
                    spec(url.clone(), &["se.anslut.connection_case.WentLve.v1"])
                )
                .await
        ),
        "webhooks.invalid"
    );
    let mut bad_description = spec(url.clone(), &["*"]);
    bad_description.description = Some("line\nbreak".into());
    assert_eq!(
        refused(webhooks.register(&dalarna, bad_description).await),
        "webhooks.invalid"
    );

    let first = webhooks
        .register(
            &dalarna,
            spec(url.clone(), &["se.anslut.connection_case.*", "*"]),
        )
        .await
        .unwrap();
    assert!(first.secret.expose().starts_with("whsec_"));
    assert_eq!(first.subscription.created_by, "dalarna-region-it");
    assert_eq!(
        first.subscription.event_types,
        ["*", "se.anslut.connection_case.*"]
    );
    let second = webhooks
        .register(&dalarna, spec(url.clone(), &["*"]))
        .await
        .unwrap();
    assert_ne!(first.secret.expose(), second.secret.expose());
    assert_eq!(
        refused(webhooks.register(&dalarna, spec(url.clone(), &["*"])).await),
        "webhooks.too_many"
    );
    assert!(
        webhooks
            .register(&caller("varmland"), spec(url.clone(), &["*"]))
            .await
            .is_ok()
    );

    // Another region sees none of it.
    let varmland = caller("varmland");
    let id = first.subscription.id;
    assert_eq!(webhooks.get("varmland", id).await.unwrap(), None);
    assert_eq!(webhooks.list("varmland").await.unwrap().len(), 1);
    assert_eq!(
        webhooks.deactivate(&varmland, id).await.unwrap_err().code(),
        "webhooks.not_found"
    );
    assert_eq!(
        webhooks
            .deliveries("varmland", id, webhooks::DeliveryQuery::default())
            .await
            .unwrap_err()
            .code(),
        "webhooks.not_found"
    );
    assert_eq!(
        webhooks.list("dalarna").await.unwrap(),
        vec![first.subscription.clone(), second.subscription.clone()]
    );
    assert_eq!(
        webhooks.get("dalarna", id).await.unwrap(),
        Some(first.subscription.clone())
    );

    let gone = webhooks.deactivate(&dalarna, id).await.unwrap();
    assert!(!gone.active && gone.deactivated_by.as_deref() == Some("dalarna-region-it"));
    assert_eq!(
        webhooks.deactivate(&dalarna, id).await.unwrap(),
        gone,
        "idempotent"
    );
    assert!(
        webhooks
            .register(&dalarna, spec(url.clone(), &["*"]))
            .await
            .is_ok(),
        "room again"
    );

    // Production refuses the development receiver.
    let mut production = opts;
    production.url_policy = UrlPolicy::production();
    let strict = open(&db, &store, production).await;
    assert_eq!(
        refused(strict.register(&varmland, spec(url, &["*"])).await),
        "webhooks.url_refused"
    );
}

/// Every column of every row of the webhook tables, as text.
async fn dump(db: &TestDatabase) -> String {
    const TABLES: [&str; 5] = [
        "webhook_subscriptions",
        "webhook_projector",
        "webhook_deliveries",
        "webhook_attempts",
        "webhook_interventions",
    ];
    let mut out = String::new();
    if db.is_postgres() {
        let mut conn = PgConnection::connect(db.url()).await.unwrap();
        for table in TABLES {
            let sql = format!("SELECT t::text FROM {table} t");
            for row in sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut conn)
                .await
                .unwrap()
            {
                out.push_str(&row.get::<String, _>(0));
                out.push('\n');
            }
        }
    } else {
        let mut conn = SqliteConnection::connect(db.url()).await.unwrap();
        for table in TABLES {
            let columns: Vec<String> =
                sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA table_info({table})")))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| row.get::<String, _>("name"))
                    .collect();
            let concat = columns
                .iter()
                .map(|c| format!("COALESCE(CAST({c} AS TEXT), '')"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let sql = format!("SELECT {concat} FROM {table}");
            for row in sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut conn)
                .await
                .unwrap()
            {
                out.push_str(&row.get::<String, _>(0));
                out.push('\n');
            }
        }
    }
    out
}

pub async fn the_database_holds_neither_payloads_nor_signing_secrets(db: TestDatabase) {
    let store = db.store().await;
    let receiver = Receiver::start();
    let webhooks = open(&db, &store, options()).await;
    let registered = webhooks
        .register(&caller("dalarna"), spec(receiver.url("hooks"), &["*"]))
        .await
        .unwrap();
    let secret = registered.secret.expose();
    receiver.expect_secret("hooks", &secret);
    let handle = webhooks.start();
    let event = append(
        &store,
        Some("dalarna"),
        ("connection_case", "c1"),
        "StaffCommitted",
        json!({"note": "MARKER-7731",
               "name": {"pii": {"subject": "s-1", "value": {"name": "Greta Gustafsson"}}}}),
    )
    .await;
    eventually("the event is delivered", ALL, || async {
        receiver.accepted("hooks").len() == 1
    })
    .await;
    let hit = &receiver.hits_on("hooks")[0];
    assert!(hit.verified);
    let body = String::from_utf8_lossy(&hit.body);
    assert!(
        body.contains("MARKER-7731"),
        "the body is rendered from the store"
    );
    assert!(
        !body.contains("Greta") && body.contains("s-1") && body.contains("withheld"),
        "a webhook carries no personal data, only its subject: {body}"
    );

    let dumped = dump(&db).await;
    assert!(
        dumped.contains(&event.webhook_id()),
        "the dump is of the outbox"
    );
    assert!(
        !dumped.contains("MARKER-7731"),
        "no payload in the webhook tables"
    );
    assert!(
        !dumped.contains("Greta"),
        "no payload in the webhook tables"
    );
    assert!(!dumped.contains(&secret), "no plain signing secret");
    assert!(
        !dumped.contains(&secret["whsec_".len()..]),
        "no plain signing secret"
    );
    assert!(dumped.contains("v1:"), "the sealed secret is there");
    drop(handle);
}

pub async fn status_reports_the_checkpoint_lag_leadership_and_the_outbox(db: TestDatabase) {
    let store = db.store().await;
    let receiver = Receiver::start();
    let webhooks = open(&db, &store, options()).await;
    subscribe(&webhooks, &receiver, "dalarna", "hooks", &["*"]).await;
    crate::append_case(&store, "dalarna", "c1", 3).await;

    let idle = webhooks.status().await.unwrap();
    assert_eq!(
        (idle.checkpoint.get(), idle.head.get(), idle.lag_events),
        (0, 3, 3)
    );
    assert!(!idle.running);
    assert_eq!(idle.leader, Leader::Nobody);

    let handle = webhooks.start();
    eventually("all three are delivered", ALL, || async {
        let status = webhooks.status().await.unwrap();
        status.delivered == Some(3) && status.lag_events == 0
    })
    .await;
    let status = webhooks.status().await.unwrap();
    assert!(status.running);
    assert_eq!(status.leader, Leader::Here);
    assert_eq!(
        (
            status.pending,
            status.delivering,
            status.parked,
            status.skipped
        ),
        (0, 0, 0, Some(0))
    );
    assert_eq!(status.projector_error, None);
    assert!(status.oldest_due_seconds.abs() < f64::EPSILON);
    // Readiness's health counts only the rows still in play, never the delivered history.
    let health = webhooks.health().await.unwrap();
    assert_eq!((health.delivered, health.skipped), (None, None));
    assert_eq!((health.pending, health.lag_events), (0, 0));
    drop(handle);
    eventually("nobody leads once stopped", ALL, || async {
        let status = webhooks.status().await.unwrap();
        !status.running && status.leader == Leader::Nobody
    })
    .await;
    let statuses = statuses(
        &webhooks,
        "dalarna",
        webhooks.list("dalarna").await.unwrap()[0].id,
    )
    .await;
    assert!(statuses.values().all(|s| *s == DeliveryStatus::Delivered));
}
