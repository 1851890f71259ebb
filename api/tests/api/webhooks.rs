//! Webhooks over HTTP: a subscription created through the API receives signed deliveries of
//! the commands sent through the API, at a local receiver that verifies each signature with
//! its own Standard Webhooks verification (HMAC-SHA256 from the `hmac` crate, not the
//! `webhooks` crate's signer); the delivery log, redelivery and skipping; tenancy; refusals
//! with stable codes; readiness and metrics.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use store::testing::TestDatabase;

use crate::helpers::{
    Answer, JAMTLAND, OPS_TOKEN, TestApp, logs, spawn_app, spawn_app_sqlite, spawn_with,
};

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub webhook_id: String,
    pub timestamp: String,
    pub signature: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A local webhook receiver (actix-web on 127.0.0.1, port 0): records every request and
/// answers the status it is told to.
pub struct Receiver {
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    status: Arc<AtomicU16>,
    server: actix_web::dev::ServerHandle,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

impl Receiver {
    pub fn start(status: u16) -> Self {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(status));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/anslut", listener.local_addr().unwrap());
        let data = web::Data::new((hits.clone(), status.clone()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url,
            hits,
            status,
            server: handle,
        }
    }

    pub fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits (at most 20 s) until `count` requests have arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Hit> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let hits = self.hits();
            if hits.len() >= count {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "{count} deliveries expected, {} arrived",
                hits.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

type ReceiverState = (Arc<Mutex<Vec<Hit>>>, Arc<AtomicU16>);

async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    state.0.lock().unwrap().push(Hit {
        webhook_id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        body: body.to_vec(),
    });
    let status = state.1.load(Ordering::SeqCst);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

/// Standard Webhooks verification as a receiver does it: the key is the base64 after
/// `whsec_`; the signed content `{webhook-id}.{webhook-timestamp}.{body}`; one of the
/// space-separated `v1,<base64>` signatures must match; the timestamp within five minutes.
pub fn verify(secret: &str, hit: &Hit) -> bool {
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
    else {
        return false;
    };
    let Ok(timestamp) = hit.timestamp.parse::<i64>() else {
        return false;
    };
    if (chrono::Utc::now().timestamp() - timestamp).abs() > 300 || hit.webhook_id.is_empty() {
        return false;
    }
    let signed = |mut mac: Hmac<Sha256>| {
        mac.update(format!("{}.{}.", hit.webhook_id, hit.timestamp).as_bytes());
        mac.update(&hit.body);
        mac
    };
    hit.signature.split(' ').any(|entry| {
        entry
            .strip_prefix("v1,")
            .and_then(|sig| STANDARD.decode(sig).ok())
            .is_some_and(|sig| {
                // `verify_slice` compares in constant time.
                signed(Hmac::<Sha256>::new_from_slice(&key).unwrap())
                    .verify_slice(&sig)
                    .is_ok()
            })
    })
}

pub fn region_it(app: &TestApp, region: &str) -> String {
    app.token("region_it", region, None)
}

/// Creates a subscription as Jämtland's region IT; the answer's body.
pub async fn subscribe(app: &TestApp, url: &str, event_types: &[&str]) -> Value {
    let answer = app
        .post(
            "/v1/webhooks/subscriptions",
            &region_it(app, JAMTLAND),
            &json!({"url": url, "event_types": event_types, "description": "Case system, test"}),
            None,
            None,
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.json()
}

/// Polls `path` as `token` until `done` holds of the body (at most 20 s).
pub async fn poll(app: &TestApp, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = app.get(path, token).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        let body = answer.json();
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never got there: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn delete(app: &TestApp, path: &str, token: &str) -> Answer {
    app.send(
        app.client
            .delete(format!("{}{path}", app.address))
            .bearer_auth(token),
    )
    .await
}

async fn post_empty(app: &TestApp, path: &str, token: &str) -> Answer {
    app.send(
        app.client
            .post(format!("{}{path}", app.address))
            .bearer_auth(token),
    )
    .await
}

/// Waits until the outbox projector has looked at every event in the log.
async fn outbox_caught_up(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = app.state.webhooks.status().await.unwrap();
        if status.lag_events == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox projector lags: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_created_over_http_receives_signed_deliveries_of_commands() {
    let receiver = Receiver::start(204);
    let app = spawn_app().await;
    let token = region_it(&app, JAMTLAND);

    let created = app
        .post(
            "/v1/webhooks/subscriptions",
            &token,
            &json!({"url": receiver.url, "event_types": ["se.anslut.connection_case.*"], "description": "Case system, test"}),
            None,
            None,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.header("cache-control").as_deref(), Some("no-store"));
    let body = created.json();
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let id = body["subscription"]["subscription_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/webhooks/subscriptions/{id}"))
    );
    assert_eq!(body["subscription"]["region"], JAMTLAND);
    assert_eq!(body["subscription"]["active"], true);
    assert_eq!(body["subscription"]["created_by"], "test-region_it");

    let read = app
        .get(&format!("/v1/webhooks/subscriptions/{id}"), &token)
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.json()["url"], receiver.url.as_str());
    assert!(
        !read.text.contains(&secret[6..]) && read.json().get("secret").is_none(),
        "the secret is shown once"
    );
    let list = app.get("/v1/webhooks/subscriptions", &token).await.json();
    assert_eq!(list["subscriptions"].as_array().unwrap().len(), 1);

    // A command through the API reaches the receiver, signed.
    let case_id = app.submit_jamtland().await;
    let hits = receiver.wait_for(1).await;
    let hit = &hits[0];
    assert!(verify(&secret, hit), "the signature verifies: {hit:?}");
    assert!(!verify("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", hit));
    assert_eq!(hit.content_type, "application/cloudevents+json");
    let event = hit.json();
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(
        event["type"],
        "se.anslut.connection_case.ApplicationSubmitted.v1"
    );
    assert_eq!(event["subject"], case_id.as_str());
    assert_eq!(event["id"], hit.webhook_id.as_str());
    assert_eq!(
        event["source"],
        format!("/regions/{JAMTLAND}/cases/{case_id}")
    );

    // The delivery log shows it delivered, with its attempt.
    let deliveries = format!("/v1/webhooks/subscriptions/{id}/deliveries");
    let page = poll(&app, &deliveries, &token, |page| {
        page["deliveries"][0]["status"] == "delivered"
    })
    .await;
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(page["next"], Value::Null);
    let delivery = &page["deliveries"][0];
    assert_eq!(delivery["event_id"], hit.webhook_id.as_str());
    assert_eq!(delivery["stream_id"], case_id.as_str());
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["last_status"], 204);
    let delivery_id = delivery["delivery_id"].as_str().unwrap().to_owned();
    let detail = app
        .get(&format!("/v1/webhooks/deliveries/{delivery_id}"), &token)
        .await;
    assert_eq!(detail.status, 200, "{}", detail.text);
    let detail = detail.json();
    assert_eq!(detail["attempts"][0]["status_code"], 204);
    assert_eq!(detail["attempts"][0]["outcome"], "delivered");
    assert_eq!(detail["interventions"], json!([]));

    // Redelivery sends the same event again, under the same webhook-id, signed anew.
    let redelivered = post_empty(
        &app,
        &format!("/v1/webhooks/deliveries/{delivery_id}/redeliver"),
        &token,
    )
    .await;
    assert_eq!(redelivered.status, 200, "{}", redelivered.text);
    assert_eq!(redelivered.json()["status"], "pending");
    let hits = receiver.wait_for(2).await;
    assert_eq!(hits[1].webhook_id, hit.webhook_id);
    assert_eq!(hits[1].body, hit.body);
    assert!(verify(&secret, &hits[1]));
    let detail = poll(
        &app,
        &format!("/v1/webhooks/deliveries/{delivery_id}"),
        &token,
        |d| d["delivery"]["status"] == "delivered",
    )
    .await;
    assert_eq!(detail["interventions"][0]["action"], "redeliver");
    assert_eq!(detail["interventions"][0]["from_status"], "delivered");
    assert_eq!(detail["interventions"][0]["requested_by"], "test-region_it");

    // Operations see the deliveries.
    let metrics = app
        .send(
            app.client
                .get(format!("{}/metrics", app.address))
                .bearer_auth(OPS_TOKEN),
        )
        .await;
    assert!(
        metrics
            .text
            .contains("anslut_webhook_deliveries{status=\"delivered\"} 1"),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains("anslut_webhook_leader 1"));
    let ready = app
        .send(
            app.client
                .get(format!("{}/readyz", app.address))
                .bearer_auth(OPS_TOKEN),
        )
        .await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.json()["webhooks"]["parked"], 0);
    assert_eq!(ready.json()["webhooks"]["pending"], 0);

    // Deactivated, it receives nothing more.
    let deactivated = delete(&app, &format!("/v1/webhooks/subscriptions/{id}"), &token).await;
    assert_eq!(deactivated.status, 200, "{}", deactivated.text);
    assert_eq!(deactivated.json()["active"], false);
    assert_eq!(deactivated.json()["deactivated_by"], "test-region_it");
    app.submit_jamtland().await;
    outbox_caught_up(&app).await;
    let page = app.get(&deliveries, &token).await.json();
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1);
    let again = delete(&app, &format!("/v1/webhooks/subscriptions/{id}"), &token).await;
    assert_eq!(again.status, 200, "deactivating twice changes nothing");

    assert!(!logs().contains(&secret[6..]), "the secret was logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_delivery_is_skipped_and_redelivered_over_http() {
    let receiver = Receiver::start(503);
    let app = spawn_with(TestDatabase::postgres().await, |settings| {
        settings.webhooks.max_attempts = 1;
        settings.webhooks.retry_base_milliseconds = 10;
    })
    .await;
    let token = region_it(&app, JAMTLAND);
    let created = subscribe(&app, &receiver.url, &["*"]).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["subscription"]["subscription_id"].as_str().unwrap();
    app.submit_jamtland().await;

    let parked = poll(
        &app,
        &format!("/v1/webhooks/subscriptions/{id}/deliveries?status=parked"),
        &token,
        |page| page["deliveries"].as_array().is_some_and(|d| d.len() == 1),
    )
    .await;
    let delivery = &parked["deliveries"][0];
    assert_eq!(delivery["last_status"], 503);
    let delivery_id = delivery["delivery_id"].as_str().unwrap();
    assert!(verify(&secret, &receiver.hits()[0]));

    // Parked deliveries wait on a receiver: reported, never a reason to be unready.
    let ready = app
        .send(
            app.client
                .get(format!("{}/readyz", app.address))
                .bearer_auth(OPS_TOKEN),
        )
        .await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.json()["webhooks"]["parked"], 1);
    let metrics = app
        .send(
            app.client
                .get(format!("{}/metrics", app.address))
                .bearer_auth(OPS_TOKEN),
        )
        .await;
    assert!(
        metrics
            .text
            .contains("anslut_webhook_deliveries{status=\"parked\"} 1"),
        "{}",
        metrics.text
    );

    let skip = format!("/v1/webhooks/deliveries/{delivery_id}/skip");
    let skipped = post_empty(&app, &skip, &token).await;
    assert_eq!(skipped.status, 200, "{}", skipped.text);
    assert_eq!(skipped.json()["status"], "skipped");
    post_empty(&app, &skip, &token)
        .await
        .assert_problem(409, "delivery_state");

    receiver.answer(204);
    let redeliver = format!("/v1/webhooks/deliveries/{delivery_id}/redeliver");
    let redelivered = post_empty(&app, &redeliver, &token).await;
    assert_eq!(redelivered.status, 200, "{}", redelivered.text);
    let detail = poll(
        &app,
        &format!("/v1/webhooks/deliveries/{delivery_id}"),
        &token,
        |d| d["delivery"]["status"] == "delivered",
    )
    .await;
    let actions: Vec<&Value> = detail["interventions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["action"])
        .collect();
    assert_eq!(actions, [&json!("skip"), &json!("redeliver")]);
    assert_eq!(detail["attempts"].as_array().unwrap().len(), 2);
    let hits = receiver.wait_for(2).await;
    assert!(verify(&secret, &hits[1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_regions_subscriptions_and_deliveries_are_not_found() {
    let receiver = Receiver::start(204);
    let app = spawn_app().await;
    let token = region_it(&app, JAMTLAND);
    let created = subscribe(&app, &receiver.url, &["se.anslut.connection_case.*"]).await;
    let id = created["subscription"]["subscription_id"].as_str().unwrap();
    app.submit_jamtland().await;
    let page = poll(
        &app,
        &format!("/v1/webhooks/subscriptions/{id}/deliveries"),
        &token,
        |page| page["deliveries"][0]["status"] == "delivered",
    )
    .await;
    let delivery_id = page["deliveries"][0]["delivery_id"].as_str().unwrap();

    let missing = app
        .get(
            &format!("/v1/webhooks/subscriptions/{}", uuid::Uuid::now_v7()),
            &token,
        )
        .await;
    missing.assert_problem(404, "not_found");
    let shape = |answer: &Answer| {
        let mut body = answer.json();
        body.as_object_mut().unwrap().remove("detail");
        body
    };
    for foreign in [
        region_it(&app, "dalarna"),
        app.token("integration", "dalarna", None),
    ] {
        let answers = [
            app.get(&format!("/v1/webhooks/subscriptions/{id}"), &foreign)
                .await,
            delete(&app, &format!("/v1/webhooks/subscriptions/{id}"), &foreign).await,
            app.get(
                &format!("/v1/webhooks/subscriptions/{id}/deliveries"),
                &foreign,
            )
            .await,
            app.get(&format!("/v1/webhooks/deliveries/{delivery_id}"), &foreign)
                .await,
            post_empty(
                &app,
                &format!("/v1/webhooks/deliveries/{delivery_id}/redeliver"),
                &foreign,
            )
            .await,
            post_empty(
                &app,
                &format!("/v1/webhooks/deliveries/{delivery_id}/skip"),
                &foreign,
            )
            .await,
        ];
        for answer in answers {
            answer.assert_problem(404, "not_found");
            assert_eq!(shape(&answer), shape(&missing), "{}", answer.text);
            assert!(!answer.text.contains(&receiver.url));
        }
        let list = app.get("/v1/webhooks/subscriptions", &foreign).await;
        assert_eq!(list.status, 200, "{}", list.text);
        assert_eq!(list.json()["subscriptions"], json!([]));
    }
    // Still active and delivered: the foreign calls changed nothing.
    let read = app
        .get(&format!("/v1/webhooks/subscriptions/{id}"), &token)
        .await;
    assert_eq!(read.json()["active"], true);

    // Only region IT and integrations manage webhooks.
    for role in ["officer", "auditor", "dashboard"] {
        let other = app.token(role, JAMTLAND, None);
        app.get("/v1/webhooks/subscriptions", &other)
            .await
            .assert_problem(403, "forbidden");
    }
    app.post(
        "/v1/webhooks/subscriptions",
        &app.provider(),
        &json!({"url": receiver.url, "event_types": ["*"]}),
        None,
        None,
    )
    .await
    .assert_problem(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_subscriptions_and_queries_are_refused_with_stable_codes() {
    let app = spawn_app().await;
    let token = region_it(&app, JAMTLAND);
    let create = |body: Value| {
        let app = &app;
        let token = token.clone();
        async move {
            app.post("/v1/webhooks/subscriptions", &token, &body, None, None)
                .await
        }
    };
    let types = json!(["se.anslut.connection_case.*"]);
    for url in [
        "ftp://cases.region.example/hooks",
        "http://cases.region.example/hooks",
        "not a url",
        "https://user:hunter2@cases.region.example/hooks",
        "https://cases.region.example/hooks#fragment",
    ] {
        let answer = create(json!({"url": url, "event_types": types})).await;
        answer.assert_problem(422, "url_refused");
        assert!(!answer.text.contains("hunter2") && !answer.text.contains(url));
    }
    for event_types in [
        json!([]),
        json!(["se.anslut.connection_case.NoSuchEvent.v1"]),
        json!(["se.anslut.nothing.*"]),
        json!(["se.anslut..*"]),
        json!(["bad pattern!"]),
    ] {
        create(json!({"url": "https://cases.region.example/hooks", "event_types": event_types}))
            .await
            .assert_problem(422, "invalid_subscription");
    }
    create(json!({
        "url": "https://cases.region.example/hooks",
        "event_types": types,
        "description": "x".repeat(201)
    }))
    .await
    .assert_problem(422, "invalid_subscription");
    for body in [
        json!({"url": "https://cases.region.example/hooks", "event_types": types, "secret": "whsec_x"}),
        json!({"event_types": types}),
        json!({"url": "https://cases.region.example/hooks", "event_types": "*"}),
    ] {
        create(body).await.assert_problem(400, "invalid_body");
    }
    assert_eq!(
        app.get("/v1/webhooks/subscriptions", &token).await.json()["subscriptions"],
        json!([]),
        "nothing refused was created"
    );

    // An https endpoint anywhere is accepted in development.
    let created =
        create(json!({"url": "https://cases.region.example/hooks", "event_types": types})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["subscription"]["subscription_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deliveries = format!("/v1/webhooks/subscriptions/{id}/deliveries");
    for query in [
        "?limit=0",
        "?limit=501",
        "?status=lost",
        "?before=x",
        "?before=0",
        "?colour=red",
    ] {
        app.get(&format!("{deliveries}{query}"), &token)
            .await
            .assert_problem(400, "invalid_query");
    }
    assert_eq!(
        app.get(&format!("{deliveries}?status=parked&limit=10"), &token)
            .await
            .status,
        200
    );
    app.get("/v1/webhooks/subscriptions/not-a-uuid", &token)
        .await
        .assert_problem(400, "invalid_path");
    post_empty(
        &app,
        &format!("/v1/webhooks/deliveries/{}/redeliver", uuid::Uuid::now_v7()),
        &token,
    )
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_deliver_on_sqlite_too() {
    let receiver = Receiver::start(200);
    let app = spawn_app_sqlite().await;
    let created = subscribe(
        &app,
        &receiver.url,
        &["se.anslut.connection_case.ApplicationSubmitted.v1"],
    )
    .await;
    let secret = created["secret"].as_str().unwrap();
    let case_id = app.submit_jamtland().await;
    let hits = receiver.wait_for(1).await;
    assert!(verify(secret, &hits[0]));
    assert_eq!(hits[0].json()["subject"], case_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_previous_one_until_the_overlap_ends() {
    let receiver = Receiver::start(204);
    let app = spawn_app().await;
    let token = region_it(&app, JAMTLAND);
    let created = subscribe(&app, &receiver.url, &["se.anslut.connection_case.*"]).await;
    let old = created["secret"].as_str().unwrap().to_owned();
    let id = created["subscription"]["subscription_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotate = format!("/v1/webhooks/subscriptions/{id}/rotate-secret");

    let rotated = post_empty(&app, &format!("{rotate}?overlap_seconds=3"), &token).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    assert_eq!(rotated.header("cache-control").as_deref(), Some("no-store"));
    let new = rotated.json()["secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    assert_eq!(
        rotated.json()["subscription"]["subscription_id"],
        id.as_str()
    );
    assert!(rotated.json()["previous_secret_expires_at"].is_string());
    let read = app
        .get(&format!("/v1/webhooks/subscriptions/{id}"), &token)
        .await;
    assert!(!read.text.contains(&new[6..]) && !read.text.contains(&old[6..]));

    // During the overlap: two signatures, each secret verifies.
    app.submit_jamtland().await;
    let hits = receiver.wait_for(1).await;
    assert_eq!(hits[0].signature.split(' ').count(), 2, "{:?}", hits[0]);
    assert!(verify(&new, &hits[0]), "the new secret verifies");
    assert!(verify(&old, &hits[0]), "the previous secret verifies");

    // After it: the new secret only.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    app.submit_jamtland().await;
    let hits = receiver.wait_for(2).await;
    assert_eq!(hits[1].signature.split(' ').count(), 1, "{:?}", hits[1]);
    assert!(verify(&new, &hits[1]));
    assert!(
        !verify(&old, &hits[1]),
        "the previous secret no longer signs"
    );

    // Bad overlaps, another region's subscription, a deactivated one.
    post_empty(&app, &format!("{rotate}?overlap_seconds=604801"), &token)
        .await
        .assert_problem(400, "invalid_query");
    post_empty(&app, &rotate, &region_it(&app, "dalarna"))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        delete(&app, &format!("/v1/webhooks/subscriptions/{id}"), &token)
            .await
            .status,
        200
    );
    post_empty(&app, &rotate, &token)
        .await
        .assert_problem(409, "delivery_state");
    let logs = logs();
    assert!(!logs.contains(&new[6..]) && !logs.contains(&old[6..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_creation_with_an_idempotency_key_finds_the_subscription_without_its_secret() {
    let app = spawn_app().await;
    let token = region_it(&app, JAMTLAND);
    let body = json!({"url": "https://hooks.example.se/anslut", "event_types": ["se.anslut.connection_case.*"], "description": "Case system"});
    let create = |token: String, body: Value| {
        let app = &app;
        async move {
            app.post(
                "/v1/webhooks/subscriptions",
                &token,
                &body,
                None,
                Some("create-1"),
            )
            .await
        }
    };
    let first = create(token.clone(), body.clone()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let secret = first.json()["secret"].as_str().unwrap().to_owned();
    let id = first.json()["subscription"]["subscription_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let retried = create(token.clone(), body.clone()).await;
    retried.assert_problem(409, "subscription_exists");
    assert_eq!(retried.json()["subscription_id"], id.as_str());
    assert_eq!(
        retried.header("location"),
        Some(format!("/v1/webhooks/subscriptions/{id}"))
    );
    assert!(
        !retried.text.contains(&secret[6..]),
        "the secret is not replayed"
    );
    let list = app.get("/v1/webhooks/subscriptions", &token).await.json();
    assert_eq!(list["subscriptions"].as_array().unwrap().len(), 1);

    // Concurrent retries: still one subscription.
    let racing: Vec<Answer> =
        futures_util::future::join_all((0..4).map(|_| create(token.clone(), body.clone()))).await;
    assert!(racing.iter().all(|a| a.status == 409), "{racing:?}");

    // The same key with another body is refused; another caller's key is its own.
    let mut other = body.clone();
    other["url"] = json!("https://hooks.example.se/other");
    create(token.clone(), other)
        .await
        .assert_problem(422, "idempotency_key_reused");
    let integration = app.token("integration", JAMTLAND, None);
    assert_eq!(create(integration, body.clone()).await.status, 201);

    // Two first requests at once create one subscription.
    let racing: Vec<Answer> = futures_util::future::join_all((0..4).map(|_| {
        let app = &app;
        let token = token.clone();
        let body = body.clone();
        async move {
            app.post(
                "/v1/webhooks/subscriptions",
                &token,
                &body,
                None,
                Some("create-2"),
            )
            .await
        }
    }))
    .await;
    let statuses: Vec<u16> = racing.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [201, 409].contains(s)),
        "{racing:?}"
    );

    // The way to a secret after a lost answer: rotate.
    let rotated = post_empty(
        &app,
        &format!("/v1/webhooks/subscriptions/{id}/rotate-secret?overlap_seconds=0"),
        &token,
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    assert_ne!(rotated.json()["secret"], secret.as_str());
}

/// One mapping from the log to a CloudEvent: an event as the feed shows it to an integration
/// and as its webhook delivery carries it are the same document (the event has no personal
/// data, so the two outlets' disclosure rules agree on it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_item_and_the_webhook_body_of_an_event_are_equal() {
    let receiver = Receiver::start(204);
    let app = spawn_app().await;
    subscribe(&app, &receiver.url, &["se.anslut.connection_case.*"]).await;
    let case_id = app.submit_jamtland().await;
    let officer = app.officer();
    let approved = app
        .post(
            &format!("/v1/cases/{case_id}/approve-application"),
            &officer,
            &json!({"reason": "Complete."}),
            Some("\"1\""),
            None,
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    let hits = receiver.wait_for(2).await;
    let delivered: Value = hits
        .iter()
        .map(Hit::json)
        .find(|event| event["type"] == "se.anslut.connection_case.ApplicationApproved.v1")
        .expect("the approval was delivered");
    let integration = app.token("integration", JAMTLAND, None);
    let feed = app.get("/v1/feed?limit=500", &integration).await;
    assert_eq!(feed.status, 200, "{}", feed.text);
    let item = feed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["id"] == delivered["id"])
        .cloned()
        .expect("the approval is in the feed");
    assert_eq!(item, delivered);
}
