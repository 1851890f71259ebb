//! `Idempotency-Key`: the same key and body replay the first response; the same key with
//! another body is 422; concurrent retries write once and all get the original answer; a key
//! is scoped to the whole caller. Every command answer names its command id, and
//! `GET /v1/commands/{command_id}` tells whether a command was recorded.

use serde_json::json;

use crate::helpers::{JAMTLAND, OTHER_ORG, jamtland_application, spawn_app, today};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_belongs_to_the_whole_caller_not_to_its_subject() {
    let app = spawn_app().await;
    let body = jamtland_application();
    let own = app.provider();
    let first = app
        .post("/v1/cases", &own, &body, None, Some("shared-key"))
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let case = first.json()["case_id"].as_str().unwrap().to_owned();

    // Another organisation's provider token has the same `sub` ("test-provider"); with the
    // same key and body it must not be answered with the first caller's case.
    let other = app.token("provider", JAMTLAND, Some(OTHER_ORG));
    let foreign = app
        .post("/v1/cases", &other, &body, None, Some("shared-key"))
        .await;
    assert_ne!(foreign.status, 201, "{}", foreign.text);
    assert!(!foreign.text.contains(&case), "{}", foreign.text);

    // Another role of the same region and subject name is another caller too.
    let officer = app.token("provider", "dalarna", Some(crate::helpers::ORG));
    let elsewhere = app
        .post("/v1/cases", &officer, &body, None, Some("shared-key"))
        .await;
    assert!(!elsewhere.text.contains(&case), "{}", elsewhere.text);
}

/// Concurrent retries of one command, with the same key, body and (exact) `If-Match`, all get
/// the original answer: a request that loads the case after another committed it must not
/// answer 412, or the client would resend under a new key and record the decision twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_retries_with_one_key_and_etag_all_get_the_original_answer() {
    let app = spawn_app().await;
    let officer = app.officer();
    let body = json!({"reason": "Complete."});
    for round in 0..12 {
        let case = app.submit_jamtland().await;
        let path = format!("/v1/cases/{case}/approve-application");
        let head = app.head().await;
        let key = format!("race-{round}");
        let answers = futures_util::future::join_all(
            (0..8).map(|_| app.post(&path, &officer, &body, Some("\"1\""), Some(&key))),
        )
        .await;
        for answer in &answers {
            assert_eq!(answer.status, 200, "round {round}: {}", answer.text);
            assert_eq!(answer.text, answers[0].text, "round {round}");
            assert_eq!(answer.header("command-id"), answers[0].header("command-id"));
        }
        assert_eq!(
            app.head().await,
            head + 1,
            "round {round}: exactly one event"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_answer_names_its_command_id() {
    let app = spawn_app().await;
    let provider = app.provider();
    let created = app
        .post(
            "/v1/cases",
            &provider,
            &jamtland_application(),
            None,
            Some("k-1"),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let command_id = created.header("command-id").expect("Command-Id on a 201");
    assert_eq!(created.json()["command_id"], command_id.as_str());
    let case = created.json()["case_id"].as_str().unwrap().to_owned();

    // Without a key too: a fresh id per request.
    let officer = app.officer();
    let approved = app
        .post(
            &format!("/v1/cases/{case}/approve-application"),
            &officer,
            &json!({"reason": "Complete."}),
            Some("\"1\""),
            None,
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    let approve_id = approved.header("command-id").expect("Command-Id on a 200");
    assert_eq!(approved.json()["command_id"], approve_id.as_str());
    assert_ne!(approve_id, command_id);

    // Refusals name it as well: a domain refusal, a stale If-Match, a missing If-Match.
    let refused = app
        .post(
            &format!("/v1/cases/{case}/go-live"),
            &officer,
            &json!({"reason": "Now."}),
            Some("*"),
            None,
        )
        .await;
    refused.assert_problem(409, "wrong_phase");
    let refused_id = refused
        .header("command-id")
        .expect("Command-Id on a refusal");
    assert_eq!(refused.json()["command_id"], refused_id.as_str());
    let stale = app
        .post(
            &format!("/v1/cases/{case}/sign-contract"),
            &officer,
            &json!({"signed_on": today()}),
            Some("\"1\""),
            None,
        )
        .await;
    stale.assert_problem(412, "precondition_failed");
    assert!(stale.json()["command_id"].is_string(), "{}", stale.text);
    // A refused command was not recorded.
    app.get(&format!("/v1/commands/{refused_id}"), &officer)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_of_a_command_is_its_original_answer_within_its_tenancy() {
    let app = spawn_app().await;
    let provider = app.provider();
    let created = app
        .post("/v1/cases", &provider, &jamtland_application(), None, None)
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let command_id = created.header("command-id").unwrap();
    let case = created.json()["case_id"].as_str().unwrap().to_owned();

    // Recorded: the original status, location and body, to the provider and the officer.
    for token in [
        &provider,
        &app.officer(),
        &app.token("auditor", JAMTLAND, None),
    ] {
        let status = app.get(&format!("/v1/commands/{command_id}"), token).await;
        assert_eq!(status.status, 200, "{}", status.text);
        let body = status.json();
        assert_eq!(body["command_id"], command_id.as_str());
        assert_eq!(body["outcome"], "recorded");
        assert_eq!(body["status"], 201);
        assert_eq!(body["operation"], "POST /v1/cases");
        assert_eq!(body["location"], format!("/v1/cases/{case}"));
        assert_eq!(body["result"], created.json());
    }

    // A later command: 200, no location.
    let approved = app
        .command(
            &case,
            "approve-application",
            &app.officer(),
            json!({"reason": "Complete."}),
        )
        .await;
    let approve_id = approved.header("command-id").unwrap();
    let status = app
        .get(&format!("/v1/commands/{approve_id}"), &provider)
        .await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.json()["status"], 200);
    assert!(status.json().get("location").is_none());
    assert_eq!(status.json()["result"], approved.json());

    // Another organisation, another region: 404 like a command never recorded.
    for token in [
        app.token("provider", JAMTLAND, Some(OTHER_ORG)),
        app.token("officer", "dalarna", None),
    ] {
        app.get(&format!("/v1/commands/{command_id}"), &token)
            .await
            .assert_problem(404, "not_found");
    }
    let unknown = uuid::Uuid::now_v7();
    app.get(&format!("/v1/commands/{unknown}"), &provider)
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/commands/not-a-uuid", &provider)
        .await
        .assert_problem(400, "invalid_path");
}
