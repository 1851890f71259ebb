//! What a delivery looks like, and how failures are retried, ordered, parked and redelivered.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use store::testing::TestDatabase;
use webhooks::{AttemptOutcome, DeliveryStatus, InterventionKind, RetryPolicy, WebhookError};

use crate::receiver::{Receiver, always};
use crate::{
    Appended, append, append_case, caller, eventually, open, options, statuses, subscribe,
};

const ALL: Duration = Duration::from_secs(30);

/// The delivery of `event` to the only subscription of `region`, once it is enqueued.
async fn try_delivery_of(
    webhooks: &webhooks::Webhooks,
    region: &str,
    event: Appended,
) -> Option<webhooks::DeliveryDetail> {
    let subscription = webhooks.list(region).await.unwrap()[0].id;
    let page = webhooks
        .deliveries(region, subscription, webhooks::DeliveryQuery::default())
        .await
        .unwrap();
    let delivery = page
        .deliveries
        .iter()
        .find(|d| d.position == event.position)?;
    webhooks.delivery(region, delivery.id).await.unwrap()
}

async fn delivery_of(
    webhooks: &webhooks::Webhooks,
    region: &str,
    event: Appended,
) -> webhooks::DeliveryDetail {
    try_delivery_of(webhooks, region, event)
        .await
        .expect("the event has a delivery")
}

async fn is_parked(webhooks: &webhooks::Webhooks, event: Appended) -> bool {
    try_delivery_of(webhooks, "dalarna", event)
        .await
        .is_some_and(|d| d.delivery.status == DeliveryStatus::Parked)
}

pub async fn deliveries_carry_a_cloudevent_signed_with_standard_webhooks_headers(db: TestDatabase) {
    let store = db.store().await;
    let receiver = Receiver::start();
    // The first attempt of each event fails, so every header is seen on a retry too.
    receiver.script(Arc::new(|_, nth| {
        (if nth == 1 { 500 } else { 200 }, Duration::ZERO)
    }));
    let webhooks = open(&db, &store, options()).await;
    let secret = webhooks
        .register(
            &caller("dalarna"),
            crate::spec(receiver.url("hooks"), &["*"]),
        )
        .await
        .unwrap()
        .secret
        .expose();
    receiver.expect_secret("hooks", &secret);
    let handle = webhooks.start();
    let event = append(
        &store,
        Some("dalarna"),
        ("connection_case", "c1"),
        "ContractSigned",
        json!({"document": "RS 2026/114"}),
    )
    .await;
    eventually("the retry is accepted and recorded", ALL, || async {
        try_delivery_of(&webhooks, "dalarna", event)
            .await
            .is_some_and(|d| d.delivery.status == DeliveryStatus::Delivered)
    })
    .await;

    let hits = receiver.hits_on("hooks");
    assert_eq!(hits.len(), 2);
    let now = Utc::now().timestamp();
    for hit in &hits {
        assert!(
            hit.verified,
            "the independent verifier accepts the signature"
        );
        assert_eq!(
            hit.webhook_id,
            event.webhook_id(),
            "the event id, the same on every attempt"
        );
        assert_eq!(hit.content_type, "application/cloudevents+json");
        assert!((now - hit.timestamp).abs() < 30);
        assert!(hit.signature.starts_with("v1,"));
        let body = hit.json();
        assert_eq!(body["specversion"], "1.0");
        assert_eq!(body["id"], event.webhook_id());
        assert_eq!(body["type"], "se.anslut.connection_case.ContractSigned.v1");
        assert_eq!(body["source"], "/regions/dalarna/cases/c1");
        assert_eq!(body["subject"], "c1");
        assert_eq!(body["datacontenttype"], "application/json");
        assert_eq!(body["data"], json!({"document": "RS 2026/114"}));
        assert_eq!(body["position"], event.position.to_string());
        assert_eq!(body["streamversion"], "1");
        assert_eq!(body["actorrole"], "officer");
        assert!(body["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    // The signature covers the id, the timestamp and the body: change any and it fails.
    let hit = &hits[1];
    let check = |id: &str, ts: i64, body: &[u8]| {
        crate::receiver::verify(&secret, id, &ts.to_string(), &hit.signature, body, now)
    };
    assert!(check(&hit.webhook_id, hit.timestamp, &hit.body));
    assert!(!check(&hit.webhook_id, hit.timestamp + 1, &hit.body));
    assert!(!check(
        &hits[0].webhook_id.replace('-', ""),
        hit.timestamp,
        &hit.body
    ));
    assert!(!check(&hit.webhook_id, hit.timestamp, b"{}"));

    let detail = delivery_of(&webhooks, "dalarna", event).await;
    assert_eq!(detail.delivery.status, DeliveryStatus::Delivered);
    let outcomes: Vec<(u32, Option<u16>, AttemptOutcome)> = detail
        .attempts
        .iter()
        .map(|a| (a.attempt, a.status_code, a.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            (1, Some(500), AttemptOutcome::Failed),
            (2, Some(200), AttemptOutcome::Delivered)
        ]
    );
    assert_eq!(detail.attempts[0].error.as_deref(), Some("HTTP 500"));
    drop(handle);
}

/// Per case, the positions the receiver saw, in arrival order.
fn arrivals_by_case(
    receiver: &Receiver,
    path: &str,
    accepted_only: bool,
) -> BTreeMap<String, Vec<u64>> {
    let mut cases: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for hit in receiver.hits_on(path) {
        if !accepted_only || (200..300).contains(&hit.answered) {
            cases.entry(hit.subject()).or_default().push(hit.position());
        }
    }
    cases
}

pub async fn order_holds_per_case_when_the_receiver_fails_some_requests(db: TestDatabase) {
    let store = db.store().await;
    let receiver = Receiver::start();
    // About a third of first, second and third attempts fail, decided by the id.
    receiver.script(Arc::new(|hit, nth| {
        let roll = hit.webhook_id.bytes().map(u32::from).sum::<u32>() + nth * 7;
        (
            if nth <= 3 && roll % 3 == 0 { 503 } else { 200 },
            Duration::ZERO,
        )
    }));
    let webhooks = open(&db, &store, options()).await;
    subscribe(&webhooks, &receiver, "dalarna", "hooks", &["*"]).await;
    let handle = webhooks.start();
    let mut expected: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for round in 0..6 {
        for case in 0..4 {
            let event = append(
                &store,
                Some("dalarna"),
                ("connection_case", &format!("c{case}")),
                "Step",
                json!({"round": round}),
            )
            .await;
            expected
                .entry(format!("c{case}"))
                .or_default()
                .push(event.position.get());
        }
    }
    eventually("all 24 are accepted", ALL, || async {
        receiver.accepted("hooks").len() == 24
    })
    .await;

    assert!(
        receiver.hits_on("hooks").len() > 24,
        "some attempts failed and were retried"
    );
    assert_eq!(
        arrivals_by_case(&receiver, "hooks", true),
        expected,
        "accepted in order, each once"
    );
    for (case, seen) in arrivals_by_case(&receiver, "hooks", false) {
        assert!(
            seen.is_sorted(),
            "{case}: no event was sent before an earlier one was accepted: {seen:?}"
        );
    }
    assert!(receiver.hits().iter().all(|h| h.verified));
    drop(handle);
}

pub async fn a_failing_case_does_not_hold_up_other_cases(db: TestDatabase) {
    let store = db.store().await;
    let receiver = Receiver::start();
    let failing = Arc::new(AtomicBool::new(true));
    let flag = failing.clone();
    receiver.script(Arc::new(move |hit, _| {
        let stuck = hit.subject() == "stuck" && flag.load(Ordering::SeqCst);
        (if stuck { 500 } else { 200 }, Duration::ZERO)
    }));
    let mut opts = options();
    opts.retry.max_attempts = 1000;
    let webhooks = open(&db, &store, opts).await;
    subscribe(&webhooks, &receiver, "dalarna", "hooks", &["*"]).await;
    let handle = webhooks.start();
    let stuck = append_case(&store, "dalarna", "stuck", 2).await;
    for case in ["a", "b", "c"] {
        append_case(&store, "dalarna", case, 3).await;
    }
    eventually("the other cases are delivered", ALL, || async {
        receiver.accepted("hooks").len() == 9
    })
    .await;
    let stuck_hits: HashSet<String> = receiver
        .hits_on("hooks")
        .into_iter()
        .filter(|h| h.subject() == "stuck")
        .map(|h| h.webhook_id)
        .collect();
    assert_eq!(
        stuck_hits,
        HashSet::from([stuck[0].webhook_id()]),
        "the second waits for the first"
    );

    failing.store(false, Ordering::SeqCst);
    eventually("the stuck case follows, in order", ALL, || async {
        receiver.accepted("hooks").len() == 11
    })
    .await;
    assert_eq!(
        arrivals_by_case(&receiver, "hooks", true)["stuck"],
        stuck.iter().map(|e| e.position.get()).collect::<Vec<_>>()
    );
    drop(handle);
}

pub async fn retries_back_off_with_full_jitter_within_their_ceilings(db: TestDatabase) {
    let store = db.store().await;
    let receiver = Receiver::start();
    receiver.script(always(500));
    let mut opts = options();
    let policy = RetryPolicy {
        base: Duration::from_millis(200),
        cap: Duration::from_millis(800),
        max_attempts: 5,
    };
    opts.retry = policy;
    opts.poll_interval = Duration::from_millis(20);
    let webhooks = open(&db, &store, opts).await;
    let subscription = subscribe(&webhooks, &receiver, "dalarna", "hooks", &["*"]).await;
    let handle = webhooks.start();

    // Watch the schedule: a pending row after its n-th failure is due `next_attempt_at`,
    // counted from the moment its failure was recorded (`updated_at`).
    let waits: Arc<Mutex<BTreeMap<(String, u32), Duration>>> = Arc::default();
    let sampler = {
        let (webhooks, waits) = (webhooks.clone(), waits.clone());
        tokio::spawn(async move {
            loop {
                for (_, delivery) in page(&webhooks, subscription.id).await {
                    if let (DeliveryStatus::Pending, Some(due)) =
                        (delivery.status, delivery.next_attempt_at)
                        && delivery.attempts > 0
                    {
                        let wait = (due - delivery.updated_at).to_std().expect("not negative");
                        waits
                            .lock()
                            .unwrap()
                            .insert((delivery.id.to_string(), delivery.attempts), wait);
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let mut events = Vec::new();
    for case in 0..6 {
        events.extend(append_case(&store, "dalarna", &format!("c{case}"), 1).await);
    }
    eventually("all six are parked", ALL, || async {
        let now = statuses(&webhooks, "dalarna", subscription.id).await;
        now.len() == 6 && now.values().all(|s| *s == DeliveryStatus::Parked)
    })
    .await;
    sampler.abort();

    // Each scheduled wait lies in [0, min(cap, base · 2^(n−1))], and they spread over it.
    let waits = waits.lock().unwrap().clone();
    assert!(waits.len() >= 16, "most waits were seen: {}", waits.len());
    let mut below_half = 0;
    for ((_, failed), wait) in &waits {
        let ceiling = policy.ceiling(*failed);
        assert!(
            *wait <= ceiling,
            "after failure {failed}: {wait:?} beyond {ceiling:?}"
        );
        if *wait < ceiling / 2 {
            below_half += 1;
        }
    }
    assert!(
        below_half >= 3 && waits.len() - below_half >= 3,
        "full jitter spreads the waits: {waits:?}"
    );

    // At the receiver: five attempts each, never further apart than the ceiling allows
    // (plus the time an attempt takes on a busy machine).
    let slack = Duration::from_millis(500);
    for event in &events {
        let times: Vec<_> = receiver
            .hits_on("hooks")
            .into_iter()
            .filter(|h| h.webhook_id == event.webhook_id())
            .map(|h| h.at)
            .collect();
        assert_eq!(times.len(), 5, "five attempts, then parked");
        for (n, pair) in times.windows(2).enumerate() {
            let gap = pair[1] - pair[0];
            let ceiling = policy.ceiling(u32::try_from(n).unwrap() + 1);
            assert!(
                gap <= ceiling + slack,
                "wait {n}: {gap:?} beyond {ceiling:?}"
            );
        }
        let detail = delivery_of(&webhooks, "dalarna", *event).await;
        assert_eq!(detail.delivery.attempts, 5);
        assert_eq!(detail.delivery.last_status, Some(500));
        let numbers: Vec<u32> = detail.attempts.iter().map(|a| a.attempt).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5]);
        assert!(
            detail
                .attempts
                .iter()
                .all(|a| a.outcome == AttemptOutcome::Failed
                    && a.status_code == Some(500)
                    && a.worker == webhooks.options().instance)
        );
        assert!(
            detail
                .attempts
                .windows(2)
                .all(|w| w[0].started_at <= w[1].started_at)
        );
    }
    drop(handle);
}

/// Every delivery of a subscription of dalarna, by id.
async fn page(
    webhooks: &webhooks::Webhooks,
    subscription: webhooks::SubscriptionId,
) -> BTreeMap<String, webhooks::Delivery> {
    webhooks
        .deliveries("dalarna", subscription, webhooks::DeliveryQuery::default())
        .await
        .unwrap()
        .deliveries
        .into_iter()
        .map(|d| (d.id.to_string(), d))
        .collect()
}

pub async fn a_parked_delivery_holds_its_case_until_redelivered_or_skipped(db: TestDatabase) {
    let store = db.store().await;
    let receiver = Receiver::start();
    let failing: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(
        ["e1", "e3"].into_iter().map(str::to_owned).collect(),
    ));
    let tags = failing.clone();
    receiver.script(Arc::new(move |hit, _| {
        let tag = hit.json()["data"]["tag"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (
            if tags.lock().unwrap().contains(&tag) {
                500
            } else {
                200
            },
            Duration::ZERO,
        )
    }));
    let mut opts = options();
    opts.retry.max_attempts = 3;
    let webhooks = open(&db, &store, opts).await;
    let subscription = subscribe(&webhooks, &receiver, "dalarna", "hooks", &["*"]).await;
    let handle = webhooks.start();
    let case = ("connection_case", "c1");
    let e1 = append(&store, Some("dalarna"), case, "Step", json!({"tag": "e1"})).await;
    let e2 = append(&store, Some("dalarna"), case, "Step", json!({"tag": "e2"})).await;
    let other = append(
        &store,
        Some("dalarna"),
        ("connection_case", "c2"),
        "Step",
        json!({"tag": "f1"}),
    )
    .await;
    eventually("e1 is parked", ALL, || async {
        is_parked(&webhooks, e1).await
    })
    .await;
    eventually("the other case is delivered", ALL, || async {
        receiver.accepted("hooks") == [other.webhook_id()]
    })
    .await;
    let parked = delivery_of(&webhooks, "dalarna", e1).await;
    assert_eq!(parked.delivery.attempts, 3);
    assert_eq!(parked.attempts.len(), 3);
    assert!(
        parked
            .attempts
            .iter()
            .all(|a| a.status_code == Some(500) && a.error.as_deref() == Some("HTTP 500"))
    );
    let waiting = delivery_of(&webhooks, "dalarna", e2).await.delivery;
    assert_eq!(
        (waiting.status, waiting.attempts),
        (DeliveryStatus::Pending, 0)
    );
    assert!(
        receiver
            .hits()
            .iter()
            .all(|h| h.webhook_id != e2.webhook_id()),
        "e2 never overtakes e1"
    );

    let dalarna = caller("dalarna");
    let code = |result: Result<webhooks::Delivery, WebhookError>| result.unwrap_err().code();
    assert_eq!(
        code(webhooks.redeliver(&dalarna, waiting.id).await),
        "webhooks.conflict"
    );
    assert_eq!(
        code(
            webhooks
                .redeliver(&caller("varmland"), parked.delivery.id)
                .await
        ),
        "webhooks.not_found"
    );
    let delivered = delivery_of(&webhooks, "dalarna", other).await.delivery;
    assert_eq!(
        code(webhooks.skip(&dalarna, delivered.id).await),
        "webhooks.conflict"
    );

    failing.lock().unwrap().remove("e1");
    let again = webhooks
        .redeliver(&dalarna, parked.delivery.id)
        .await
        .unwrap();
    assert_eq!((again.status, again.attempts), (DeliveryStatus::Pending, 0));
    eventually("e1 then e2 arrive", ALL, || async {
        receiver.accepted("hooks").len() == 3
    })
    .await;
    assert_eq!(
        receiver.accepted("hooks"),
        [other.webhook_id(), e1.webhook_id(), e2.webhook_id()]
    );
    let redelivered = delivery_of(&webhooks, "dalarna", e1).await;
    assert_eq!(redelivered.delivery.status, DeliveryStatus::Delivered);
    assert_eq!(redelivered.attempts.len(), 4);
    assert_eq!(
        redelivered.attempts[3].attempt, 1,
        "a fresh budget after redelivery"
    );
    assert_eq!(redelivered.interventions.len(), 1);
    let asked = &redelivered.interventions[0];
    assert_eq!(
        (asked.action, asked.from_status, asked.requested_by.as_str()),
        (
            InterventionKind::Redeliver,
            DeliveryStatus::Parked,
            "dalarna-region-it"
        )
    );

    // Skipping releases the case without sending the skipped event.
    let e3 = append(&store, Some("dalarna"), case, "Step", json!({"tag": "e3"})).await;
    let e4 = append(&store, Some("dalarna"), case, "Step", json!({"tag": "e4"})).await;
    eventually("e3 is parked", ALL, || async {
        is_parked(&webhooks, e3).await
    })
    .await;
    let skipped = webhooks
        .skip(
            &dalarna,
            delivery_of(&webhooks, "dalarna", e3).await.delivery.id,
        )
        .await
        .unwrap();
    assert_eq!(skipped.status, DeliveryStatus::Skipped);
    eventually("e4 follows", ALL, || async {
        receiver.accepted("hooks").len() == 4
    })
    .await;
    assert_eq!(receiver.accepted("hooks")[3], e4.webhook_id());
    let now = statuses(&webhooks, "dalarna", subscription.id).await;
    assert_eq!(now[&e3.position.get()], DeliveryStatus::Skipped);
    assert_eq!(
        delivery_of(&webhooks, "dalarna", e3).await.interventions[0].action,
        InterventionKind::Skip
    );
    let parked_only = webhooks
        .deliveries(
            "dalarna",
            subscription.id,
            webhooks::DeliveryQuery {
                status: Some(DeliveryStatus::Skipped),
                before: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(parked_only.deliveries.len(), 1);
    assert_eq!(parked_only.next, None);
    drop(handle);
}

pub async fn a_410_gone_parks_the_delivery_and_deactivates_the_subscription(db: TestDatabase) {
    let store = db.store().await;
    let receiver = Receiver::start();
    receiver.script(always(410));
    let webhooks = open(&db, &store, options()).await;
    let subscription = subscribe(&webhooks, &receiver, "dalarna", "hooks", &["*"]).await;
    let handle = webhooks.start();
    let first = append_case(&store, "dalarna", "c1", 2).await;
    eventually("the subscription is deactivated", ALL, || async {
        !webhooks
            .get("dalarna", subscription.id)
            .await
            .unwrap()
            .unwrap()
            .active
    })
    .await;
    let gone = webhooks
        .get("dalarna", subscription.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(gone.deactivated_by.as_deref(), Some("webhooks"));
    assert!(gone.deactivation_reason.unwrap().contains("410"));
    let detail = delivery_of(&webhooks, "dalarna", first[0]).await;
    assert_eq!(detail.delivery.status, DeliveryStatus::Parked);
    assert_eq!(detail.delivery.last_status, Some(410));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.hits_on("hooks").len(), 1, "nothing more is sent");
    assert_eq!(
        webhooks
            .redeliver(&caller("dalarna"), detail.delivery.id)
            .await
            .unwrap_err()
            .code(),
        "webhooks.conflict"
    );
    drop(handle);
}

pub async fn redirects_and_unreachable_endpoints_are_failed_attempts(db: TestDatabase) {
    let store = db.store().await;
    let receiver = Receiver::start();
    receiver.script(always(302));
    let mut opts = options();
    opts.retry.max_attempts = 2;
    let webhooks = open(&db, &store, opts).await;
    let moved = subscribe(&webhooks, &receiver, "dalarna", "moved", &["*"]).await;
    // Nothing listens on port 1: the connection is refused.
    let closed = webhooks
        .register(
            &caller("dalarna"),
            crate::spec("http://127.0.0.1:1/hook".into(), &["*"]),
        )
        .await
        .unwrap()
        .subscription;
    let handle = webhooks.start();
    append_case(&store, "dalarna", "c1", 1).await;
    let parked = |id| {
        let webhooks = &webhooks;
        async move {
            let now = statuses(webhooks, "dalarna", id).await;
            now.len() == 1 && now.values().all(|s| *s == DeliveryStatus::Parked)
        }
    };
    eventually("both are parked", ALL, || async {
        parked(moved.id).await && parked(closed.id).await
    })
    .await;
    let last_error = |id| {
        let webhooks = &webhooks;
        async move {
            let page = webhooks
                .deliveries("dalarna", id, webhooks::DeliveryQuery::default())
                .await
                .unwrap();
            let detail = webhooks
                .delivery("dalarna", page.deliveries[0].id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(detail.attempts.len(), 2);
            detail.delivery.last_error.unwrap()
        }
    };
    assert_eq!(
        last_error(moved.id).await,
        "HTTP 302 (redirects are not followed)"
    );
    let refused = last_error(closed.id).await;
    assert!(refused.starts_with("could not connect"), "{refused}");
    assert!(
        !refused.contains("127.0.0.1:1/hook"),
        "the log does not repeat the URL"
    );
    assert_eq!(receiver.hits_on("moved").len(), 2);
    assert!(
        receiver.hits_on("elsewhere").is_empty(),
        "the redirect was not followed"
    );
    drop(handle);
}

/// A stored position or time the outbox never writes (negative: a bad migration, a hand edit)
/// is refused as corrupt where it is read, never read as 0 or the epoch.
pub async fn a_negative_stored_position_or_time_is_refused_as_corrupt(db: TestDatabase) {
    let store = db.store().await;
    let receiver = Receiver::start();
    receiver.script(always(200));
    let webhooks = open(&db, &store, options()).await;
    let subscription = subscribe(&webhooks, &receiver, "dalarna", "hooks", &["*"]).await;
    let handle = webhooks.start();
    let event = append_case(&store, "dalarna", "c1", 1).await[0];
    eventually("the event is delivered", ALL, || async {
        try_delivery_of(&webhooks, "dalarna", event)
            .await
            .is_some_and(|d| d.delivery.status == DeliveryStatus::Delivered)
    })
    .await;
    drop(handle);
    let list = || {
        webhooks.deliveries(
            "dalarna",
            subscription.id,
            webhooks::DeliveryQuery::default(),
        )
    };
    assert!(list().await.is_ok());

    // The tables' CHECK constraints refuse such values, so the corruption goes past them:
    // PostgreSQL loses the constraints, SQLite's connection ignores them.
    let past_the_checks = if db.sqlite_path().is_some() {
        "PRAGMA ignore_check_constraints = ON; "
    } else {
        "ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS webhook_deliveries_position_check; \
         ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS webhook_deliveries_attempts_check; "
    };
    for corruption in [
        "UPDATE webhook_deliveries SET position = -1",
        "UPDATE webhook_deliveries SET created_at = -9223372036854775807",
        "UPDATE webhook_deliveries SET attempts = -1",
    ] {
        db.execute(&format!("{past_the_checks}{corruption}"))
            .await
            .unwrap();
        let error = list().await.expect_err(corruption);
        assert!(
            matches!(error, WebhookError::Corrupt(_)),
            "{corruption}: {error:?}"
        );
        assert_eq!(error.code(), "webhooks.corrupt", "{corruption}");
        // Put the row back as it was for the next corruption.
        db.execute(&format!(
            "UPDATE webhook_deliveries SET position = {}, created_at = updated_at, attempts = 1",
            event.position.get()
        ))
        .await
        .unwrap();
        assert!(list().await.is_ok(), "{corruption}: restored");
    }
}
