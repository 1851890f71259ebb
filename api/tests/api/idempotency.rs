//! `Idempotency-Key`: the same key and body replay the first response; the same key with
//! another body is 422; concurrent retries write once.

use serde_json::json;

use crate::helpers::{jamtland_application, spawn_app, today};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_application_replays_the_first_response_and_writes_once() {
    let app = spawn_app().await;
    let provider = app.provider();
    let body = jamtland_application();
    let first = app
        .post("/v1/cases", &provider, &body, None, Some("order-4711"))
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let head = app.head().await;
    let second = app
        .post("/v1/cases", &provider, &body, None, Some("order-4711"))
        .await;
    assert_eq!(second.status, 201, "{}", second.text);
    assert_eq!(second.text, first.text);
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(second.etag(), first.etag());
    assert_eq!(app.head().await, head, "the retry wrote nothing");

    // Another body under the same key is refused.
    let mut other = body.clone();
    other["workstations"] = json!(20);
    let reused = app
        .post("/v1/cases", &provider, &other, None, Some("order-4711"))
        .await;
    reused.assert_problem(422, "idempotency_key_reused");

    // Without a key, the same body is a new application.
    let third = app.post("/v1/cases", &provider, &body, None, None).await;
    assert_eq!(third.status, 201);
    assert_ne!(third.json()["case_id"], first.json()["case_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_command_replays_even_after_the_version_moved_on() {
    let app = spawn_app().await;
    let case = app.submit_jamtland().await;
    let officer = app.officer();
    let path = format!("/v1/cases/{case}/approve-application");
    let body = json!({"reason": "Complete."});
    let first = app
        .post(&path, &officer, &body, Some("\"1\""), Some("approve-1"))
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    // The retry's If-Match is stale now, but the key answers it with the original response.
    let retry = app
        .post(&path, &officer, &body, Some("\"1\""), Some("approve-1"))
        .await;
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.text, first.text);
    assert_eq!(retry.etag(), "\"2\"");
    // The same key on another route of the same case is another scope: the domain decides.
    let other = app
        .post(
            &format!("/v1/cases/{case}/sign-contract"),
            &officer,
            &json!({"signed_on": today()}),
            Some("\"2\""),
            Some("approve-1"),
        )
        .await;
    assert_eq!(other.status, 200, "{}", other.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_key_write_once_and_answer_alike() {
    let app = spawn_app().await;
    let case = app.submit_jamtland().await;
    let officer = app.officer();
    let path = format!("/v1/cases/{case}/approve-application");
    let body = json!({"reason": "Complete."});
    let head = app.head().await;
    let (a, b, c) = tokio::join!(
        app.post(&path, &officer, &body, Some("*"), Some("race")),
        app.post(&path, &officer, &body, Some("*"), Some("race")),
        app.post(&path, &officer, &body, Some("*"), Some("race")),
    );
    for answer in [&a, &b, &c] {
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.text, a.text);
    }
    assert_eq!(app.head().await, head + 1, "exactly one event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_command_writes_nothing_so_its_retry_runs_again() {
    let app = spawn_app().await;
    let case = app.submit_jamtland().await;
    let officer = app.officer();
    let path = format!("/v1/cases/{case}/go-live");
    let body = json!({"reason": "Now."});
    let first = app
        .post(&path, &officer, &body, Some("*"), Some("live"))
        .await;
    first.assert_problem(409, "wrong_phase");
    let again = app
        .post(&path, &officer, &body, Some("*"), Some("live"))
        .await;
    again.assert_problem(409, "wrong_phase");
}
