//! Operations: health, readiness, metrics, Swagger UI offline, and logs that never hold a
//! token or a personnummer.

use serde_json::json;

use crate::helpers::{OPS_TOKEN, logs, spawn_app, today};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer_and_readiness_reports_the_log_head() {
    let app = spawn_app().await;
    let health = app
        .send(app.client.get(format!("{}/healthz", app.address)))
        .await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json(), json!({"status": "ok"}));
    app.submit_jamtland().await;
    let ready = app
        .send(
            app.client
                .get(format!("{}/readyz", app.address))
                .bearer_auth(OPS_TOKEN),
        )
        .await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.json()["head"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_template_and_status_and_appends() {
    let app = spawn_app().await;
    let case = app.submit_jamtland().await;
    app.get(&format!("/v1/cases/{case}"), &app.officer()).await;
    app.post(
        &format!("/v1/cases/{case}/approve-application"),
        &app.officer(),
        &json!({"reason": "x"}),
        Some("\"9\""),
        None,
    )
    .await;
    let metrics = app
        .send(
            app.client
                .get(format!("{}/metrics", app.address))
                .bearer_auth(OPS_TOKEN),
        )
        .await;
    assert_eq!(metrics.status, 200);
    let text = metrics.text;
    assert!(
        text.contains(
            r#"anslut_http_requests_total{method="GET",route="/v1/cases/{case_id}",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"anslut_http_requests_total{method="POST",route="/v1/cases",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("anslut_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"anslut_events_appended_total{stream_type="connection_case"} 1"#),
        "{text}"
    );
    assert!(text.contains("anslut_command_conflicts_total 1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_answers_at_docs_from_vendored_assets() {
    let app = spawn_app().await;
    let redirect = app
        .send(app.client.get(format!("{}/docs", app.address)))
        .await;
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location").as_deref(), Some("/docs/"));
    let page = app
        .send(app.client.get(format!("{}/docs/", app.address)))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("swagger-ui"), "{}", page.text);
    // The UI's script and its configuration come from the binary, not from a CDN.
    assert!(
        !page.text.contains("https://"),
        "the page loads nothing from the network"
    );
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        let answer = app
            .send(app.client.get(format!("{}/docs/{asset}", app.address)))
            .await;
        assert_eq!(answer.status, 200, "{asset}");
        assert!(answer.text.len() > 100, "{asset}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_logs_its_request_id_but_never_its_token_or_a_personnummer() {
    let app = spawn_app().await;
    let case = app.establishment_case().await;
    let provider = app.provider();
    let answer = app
        .post(
            &format!("/v1/cases/{case}/record-staff-commitment"),
            &provider,
            &json!({"hsa_id": "SE5566778899-K7Q2", "name": "Per Olsson", "personnummer": "19811218-9876", "kind": "confidentiality_reminder", "signed_on": today()}),
            Some("*"),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    // A refused personnummer is not logged either.
    let refused = app
        .post(
            &format!("/v1/cases/{case}/record-staff-commitment"),
            &provider,
            &json!({"hsa_id": "SE5566778899-K7Q3", "name": "Per Olsson", "personnummer": "19811318-9875", "kind": "confidentiality_reminder", "signed_on": today()}),
            Some("*"),
            None,
        )
        .await;
    assert_eq!(refused.status, 400);
    let logs = logs();
    let ours: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains(&format!("/v1/cases/{case}/record-staff-commitment")))
        .collect();
    assert!(!ours.is_empty(), "the requests were logged");
    assert!(
        ours.iter().all(|line| line.contains("request_id")),
        "{ours:?}"
    );
    let token_signature = provider.rsplit('.').next().unwrap();
    for secret in [
        token_signature,
        "19811218-9876",
        "811218-9876",
        "8112189876",
        "19811318",
        "Per Olsson",
    ] {
        assert!(!logs.contains(secret), "{secret} was logged");
    }
}
