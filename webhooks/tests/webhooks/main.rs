//! The webhooks' test suite: most tests run on PostgreSQL and on SQLite (`both!` instantiates
//! each in a `postgres` and an `sqlite` module, each instance on a fresh database); the tests
//! of several instances sharing one database run on PostgreSQL only. Events are appended
//! through the real store with the tenancy metadata the API writes; deliveries go to a local
//! receiver ([`receiver::Receiver`]) that checks signatures with its own implementation.

mod delivery;
mod receiver;
mod recovery;
mod routing;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};
use store::testing::TestDatabase;
use store::{
    ActorRecord, AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, Position,
    StreamRef,
};
use uuid::Uuid;
use webhooks::{
    Caller, DeliveryStatus, RetryPolicy, SecretKey, SubscriptionSpec, UrlPolicy, WebhookOptions,
    Webhooks,
};

use crate::receiver::Receiver;

store::on_both_backends!(
    routing::events_reach_only_the_matching_active_subscriptions_of_their_own_region,
    routing::subscriptions_are_validated_confined_to_their_region_and_limited,
    routing::the_database_holds_neither_payloads_nor_signing_secrets,
    routing::status_reports_the_checkpoint_lag_leadership_and_the_outbox,
    delivery::deliveries_carry_a_cloudevent_signed_with_standard_webhooks_headers,
    delivery::order_holds_per_case_when_the_receiver_fails_some_requests,
    delivery::a_failing_case_does_not_hold_up_other_cases,
    delivery::retries_back_off_with_full_jitter_within_their_ceilings,
    delivery::a_parked_delivery_holds_its_case_until_redelivered_or_skipped,
    delivery::a_410_gone_parks_the_delivery_and_deactivates_the_subscription,
    delivery::redirects_and_unreachable_endpoints_are_failed_attempts,
    delivery::a_negative_stored_position_or_time_is_refused_as_corrupt,
    recovery::nothing_is_lost_or_reordered_across_a_crash_and_a_restart,
    recovery::a_graceful_shutdown_lets_attempts_in_flight_finish,
);

/// Two instances on one database: PostgreSQL only, where several processes share the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_instances_share_the_work_without_delivering_anything_twice() {
    recovery::two_instances_share_the_work_without_delivering_anything_twice(
        TestDatabase::postgres().await,
    )
    .await;
}

pub const KEY: [u8; 32] = [42; 32];

/// Options for tests: http to the local receiver, quick polling, short retries.
pub fn options() -> WebhookOptions {
    let mut options = WebhookOptions::new(SecretKey::from_bytes(KEY), UrlPolicy::development());
    options.retry = RetryPolicy {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        max_attempts: 12,
    };
    options.connect_timeout = Duration::from_secs(1);
    options.request_timeout = Duration::from_secs(3);
    options.lease = Duration::from_secs(4);
    options.poll_interval = Duration::from_millis(50);
    options.leader_retry = Duration::from_millis(100);
    options.error_backoff = Duration::from_millis(50);
    options
}

pub async fn open(db: &TestDatabase, store: &EventStore, options: WebhookOptions) -> Webhooks {
    Webhooks::open(db.url(), store.clone(), options)
        .await
        .expect("opening the webhooks")
}

pub fn caller(region: &str) -> Caller {
    Caller {
        subject: format!("{region}-region-it"),
        region: region.to_owned(),
    }
}

pub fn spec(url: String, types: &[&str]) -> SubscriptionSpec {
    SubscriptionSpec {
        url,
        event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        description: Some("Case system".into()),
    }
}

/// Registers `path` on the receiver for `region` and tells the receiver its secret.
pub async fn subscribe(
    webhooks: &Webhooks,
    receiver: &Receiver,
    region: &str,
    path: &str,
    types: &[&str],
) -> webhooks::Subscription {
    let registered = webhooks
        .register(&caller(region), spec(receiver.url(path), types))
        .await
        .expect("registering");
    receiver.expect_secret(path, &registered.secret.expose());
    registered.subscription
}

/// An appended event: its position and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub position: Position,
    pub id: Uuid,
}

impl Appended {
    pub fn webhook_id(&self) -> String {
        self.id.to_string()
    }
}

/// Appends one event as the API would: with an actor and the tenancy metadata, the payload
/// shaped like the domain's (`change.type`, `change.data`). `region: None` appends an event
/// without tenancy.
pub async fn append(
    store: &EventStore,
    region: Option<&str>,
    stream: (&str, &str),
    event_type: &str,
    data: Value,
) -> Appended {
    let mut metadata = EventMetadata::new(
        Uuid::now_v7(),
        Some(ActorRecord {
            subject: "officer-1".into(),
            role: "officer".into(),
            region: region.unwrap_or("nowhere").into(),
            provider_org: None,
        }),
    );
    if let Some(region) = region {
        metadata.extra = BTreeMap::from([
            ("tenant_region".to_owned(), region.to_owned()),
            ("tenant_org".to_owned(), "556036-0793".to_owned()),
        ]);
    }
    let outcome = store
        .append(AppendRequest {
            stream: StreamRef::new(stream.0, stream.1),
            expected: ExpectedVersion::Any,
            metadata,
            events: vec![NewEvent {
                event_type: event_type.into(),
                event_version: "1".into(),
                payload: json!({
                    "actor": "officer-1",
                    "at": "2026-03-02T09:14:03Z",
                    "change": {"type": event_type, "data": data},
                }),
            }],
            snapshot: None,
        })
        .await
        .expect("appending");
    let event = store
        .read_all(Position(outcome.last_position.get() - 1), 1)
        .await
        .unwrap()
        .remove(0);
    Appended {
        position: event.position,
        id: event.event_id,
    }
}

/// Appends `count` events to a case of `region`, numbered in their data.
pub async fn append_case(
    store: &EventStore,
    region: &str,
    case: &str,
    count: usize,
) -> Vec<Appended> {
    let mut appended = Vec::with_capacity(count);
    for n in 0..count {
        appended.push(
            append(
                store,
                Some(region),
                ("connection_case", case),
                "StepRecorded",
                json!({"n": n}),
            )
            .await,
        );
    }
    appended
}

/// Polls `check` until it is true, failing the test after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The statuses of every delivery of a subscription, by event position.
pub async fn statuses(
    webhooks: &Webhooks,
    region: &str,
    subscription: webhooks::SubscriptionId,
) -> BTreeMap<u64, DeliveryStatus> {
    let mut out = BTreeMap::new();
    let mut before = None;
    loop {
        let page = webhooks
            .deliveries(
                region,
                subscription,
                webhooks::DeliveryQuery {
                    status: None,
                    before,
                    limit: 500,
                },
            )
            .await
            .unwrap();
        for delivery in &page.deliveries {
            out.insert(delivery.position.get(), delivery.status);
        }
        match page.next {
            Some(next) => before = Some(next),
            None => return out,
        }
    }
}
