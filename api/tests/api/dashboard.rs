//! The dashboard (`/` and `/dashboard/...`) over HTTP: the shell and its policy, the
//! development sign-in (refused unless the server uses its development key), and the views'
//! authorisation, tenancy and disclosure, on the demo. The browser test
//! (`tests/tests/system/dashboard.rs`) drives the same pages in Chromium.

use std::time::Duration;

use projections::ProjectionName;
use serde_json::{Value, json};
use store::Position;
use store::testing::TestDatabase;

use crate::helpers::{Answer, JAMTLAND, TestApp, spawn_app, spawn_with};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// The demo's personal data: a staff member's name and HSA-id, and its contacts' names.
const PERSONAL: [&str; 5] = [
    "Per Olsson",
    "SE5566778899-K7Q2",
    "Karin Lindqvist",
    "Jonas Ek",
    "19811218",
];

const VIEWS: [&str; 7] = [
    "pipeline",
    "cases",
    "findings",
    "incidents",
    "compliance",
    "staff",
    "costs",
];

async fn plain_get(app: &TestApp, path: &str) -> Answer {
    app.send(app.client.get(format!("{}{path}", app.address)))
        .await
}

async fn dev_token(app: &TestApp, body: &Value) -> Answer {
    app.send(
        app.client
            .post(format!("{}/dashboard/dev-token", app.address))
            .json(body),
    )
    .await
}

#[track_caller]
fn assert_strict_policy(answer: &Answer) {
    let csp = answer
        .header("content-security-policy")
        .expect("a Content-Security-Policy");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
}

async fn demo_app() -> TestApp {
    let app = spawn_app().await;
    api::demo::load(&app.state).await.expect("the demo loads");
    let head = Position(app.head().await);
    app.state
        .projections
        .wait_for(&ProjectionName::ALL, head, Duration::from_secs(30))
        .await
        .expect("the read models catch up");
    app
}

async fn view(app: &TestApp, path: &str, token: &str) -> String {
    let answer = app.get(&format!("/dashboard/views/{path}"), token).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    assert_eq!(
        answer.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_strict_policy(&answer);
    answer.text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_answers_the_dashboard_shell_under_a_strict_policy_and_the_api_is_unchanged() {
    let app = spawn_app().await;
    let root = plain_get(&app, "/").await;
    assert_eq!(root.status, 200, "{}", root.text);
    assert_eq!(
        root.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_strict_policy(&root);
    assert!(root.text.contains("<html lang=\"sv\">"), "{}", root.text);
    assert!(root.text.contains("data-auth=\"development\""));
    assert!(
        root.text
            .contains("<script type=\"module\" src=\"/dashboard/app.js\">")
    );
    assert!(!root.text.contains("style="), "no inline style");

    let english = plain_get(&app, "/?lang=en").await;
    assert!(english.text.contains("<html lang=\"en\">"));
    assert!(english.text.contains("Sign in"));

    for (path, media) in [
        ("/dashboard/app.js", "text/javascript; charset=utf-8"),
        ("/dashboard/app.css", "text/css; charset=utf-8"),
        ("/dashboard/favicon.svg", "image/svg+xml"),
    ] {
        let asset = plain_get(&app, path).await;
        assert_eq!(asset.status, 200, "{path}");
        assert_eq!(asset.header("content-type").as_deref(), Some(media));
        assert_strict_policy(&asset);
    }
    let script = plain_get(&app, "/dashboard/app.js").await.text;
    for storage in ["localStorage", "sessionStorage", "document.cookie"] {
        assert!(!script.contains(storage), "the token stays in memory");
    }

    // The API's own answers stay as they were.
    plain_get(&app, "/v1/nothing-here")
        .await
        .assert_problem(404, "not_found");
    plain_get(&app, "/dashboard/nothing-here")
        .await
        .assert_problem(404, "not_found");
    let cases = app.get("/v1/cases", &app.officer()).await;
    assert_eq!(cases.status, 200);
    assert!(cases.header("content-security-policy").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_tokens_are_minted_for_the_roles_of_anslut_token() {
    let app = spawn_app().await;
    let answer = dev_token(&app, &json!({"role": "officer", "region": JAMTLAND})).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let token = answer.json()["token"].as_str().unwrap().to_owned();
    assert!(view(&app, "cases", &token).await.contains("view-title"));
    // The token works on the API too: it is an `anslut token` token.
    assert_eq!(app.get("/v1/cases", &token).await.status, 200);

    dev_token(&app, &json!({"role": "provider", "region": JAMTLAND}))
        .await
        .assert_problem(400, "invalid_body");
    dev_token(&app, &json!({"role": "root", "region": JAMTLAND}))
        .await
        .assert_problem(400, "invalid_body");
    dev_token(&app, &json!({"role": "officer", "region": "Nowhere!"}))
        .await
        .assert_problem(400, "invalid_body");
    dev_token(
        &app,
        &json!({"role": "officer", "region": JAMTLAND, "admin": true}),
    )
    .await
    .assert_problem(400, "invalid_body");
    let provider = dev_token(
        &app,
        &json!({"role": "provider", "region": JAMTLAND, "org": "556677-8899"}),
    )
    .await;
    assert_eq!(provider.status, 200, "{}", provider.text);
    assert_eq!(provider.json()["org"], "556677-8899");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_development_sign_in_is_refused_when_the_server_verifies_against_a_jwks() {
    let app = spawn_with(TestDatabase::postgres().await, |settings| {
        settings.auth.jwks_file = Some(format!("{FIXTURES}/jwks.json").into());
    })
    .await;
    let answer = dev_token(&app, &json!({"role": "officer", "region": JAMTLAND})).await;
    answer.assert_problem(404, "not_found");
    assert_strict_policy(&answer);
    let root = plain_get(&app, "/").await;
    assert!(root.text.contains("data-auth=\"none\""), "{}", root.text);
    assert!(!root.text.contains("dev-signin"));

    let oidc = spawn_with(TestDatabase::postgres().await, |settings| {
        settings.auth.jwks_file = Some(format!("{FIXTURES}/jwks.json").into());
        settings.auth.oidc_issuer = Some("https://idp.region.example/realms/anslut".into());
        settings.auth.oidc_client_id = Some("anslut-dashboard".into());
    })
    .await;
    dev_token(&oidc, &json!({"role": "officer", "region": JAMTLAND}))
        .await
        .assert_problem(404, "not_found");
    let root = plain_get(&oidc, "/").await;
    assert!(root.text.contains("data-auth=\"oidc\""), "{}", root.text);
    assert!(
        root.text
            .contains("data-oidc-issuer=\"https://idp.region.example/realms/anslut\"")
    );
    let csp = root.header("content-security-policy").unwrap();
    assert!(
        csp.contains("connect-src 'self' https://idp.region.example;"),
        "{csp}"
    );
}

#[test]
fn the_openid_settings_come_in_pairs_and_over_https() {
    let mut auth = api::config::AuthSettings::default();
    assert!(api::dashboard::validate_oidc(&auth, true).is_ok());
    auth.oidc_issuer = Some("https://idp.example".into());
    assert!(api::dashboard::validate_oidc(&auth, true).is_err());
    auth.oidc_client_id = Some("anslut".into());
    assert!(api::dashboard::validate_oidc(&auth, true).is_ok());
    auth.oidc_issuer = Some("http://idp.example".into());
    assert!(api::dashboard::validate_oidc(&auth, false).is_err());
    auth.oidc_issuer = Some("http://127.0.0.1:9000".into());
    assert!(api::dashboard::validate_oidc(&auth, false).is_ok());
    assert!(api::dashboard::validate_oidc(&auth, true).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_views_need_a_token_and_refuse_bad_input_with_problems() {
    let app = spawn_app().await;
    let anonymous = plain_get(&app, "/dashboard/views/cases").await;
    anonymous.assert_problem(401, "unauthenticated");
    assert_strict_policy(&anonymous);
    let officer = app.officer();
    app.get("/dashboard/views/cases?phase=nonsense", &officer)
        .await
        .assert_problem(400, "invalid_query");
    app.get("/dashboard/views/cases?programme=%00", &officer)
        .await
        .assert_problem(400, "invalid_query");
    app.get("/dashboard/views/pipeline?lang=de", &officer)
        .await
        .assert_problem(400, "invalid_query");
    app.get("/dashboard/views/cases/not-a-uuid/history", &officer)
        .await
        .assert_problem(400, "invalid_path");
    app.get(
        "/dashboard/views/cases/0196a3c2-4f1e-7c3a-9b2d-5e8f1a2b3c4e/history",
        &officer,
    )
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_demo_each_role_sees_what_the_api_shows_it_and_no_more() {
    let app = demo_app().await;
    let officer = app.officer();
    let provider = app.provider();
    let dashboard = app.token("dashboard", JAMTLAND, None);

    // The officer sees the region's cases, the staff member's name and the costs.
    let cases = view(&app, "cases?lang=en", &officer).await;
    assert!(cases.contains("Östersundshälsan Vårdcentral"), "{cases}");
    assert!(cases.contains("Frösö Hälsocentral"), "{cases}");
    assert!(cases.contains("demand 1 is open"), "{cases}");
    assert!(!cases.contains("Kronoparken"), "another region's case");
    let live = view(&app, "cases?phase=suspended", &officer).await;
    assert!(live.contains("Frösö") && !live.contains("Östersundshälsan"));
    assert!(view(&app, "staff", &officer).await.contains("Per Olsson"));
    let costs = view(&app, "costs?lang=en", &officer).await;
    assert!(costs.contains("SEK"), "{costs}");
    let pipeline = view(&app, "pipeline?lang=en", &officer).await;
    assert!(pipeline.contains("<svg"), "{pipeline}");
    assert!(pipeline.contains("Final verification"), "{pipeline}");
    assert!(view(&app, "compliance", &officer).await.contains("heatmap"));
    assert!(view(&app, "findings", &officer).await.contains("JHV-030"));

    // The provider sees its own organisation only, in every view.
    for path in VIEWS {
        let text = view(&app, path, &provider).await;
        assert!(
            !text.contains("Frösö"),
            "{path}: another organisation's case"
        );
        assert!(!text.contains("559412-3787"), "{path}");
    }
    assert!(
        view(&app, "cases", &provider)
            .await
            .contains("Östersundshälsan")
    );

    // The dashboard role sees the same rows and no personal data, in every view and history.
    for path in VIEWS {
        let text = view(&app, path, &dashboard).await;
        for needle in PERSONAL {
            assert!(!text.contains(needle), "{path} shows {needle}");
        }
    }
    let list = app.get("/v1/cases", &officer).await.json();
    for case in list["items"].as_array().unwrap() {
        let id = case["case_id"].as_str().unwrap();
        let history = view(&app, &format!("cases/{id}/history"), &dashboard).await;
        assert!(history.contains("ApplicationSubmitted"), "{history}");
        for needle in PERSONAL {
            assert!(!history.contains(needle), "history shows {needle}");
        }
        let officer_history = view(&app, &format!("cases/{id}/history"), &officer).await;
        assert!(officer_history.contains("Skäl") && officer_history.contains("Aktör"));
        // Another organisation's history is not found for the provider.
        if case["provider_org"] != "556677-8899" {
            app.get(&format!("/dashboard/views/cases/{id}/history"), &provider)
                .await
                .assert_problem(404, "not_found");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_provider_writes_is_shown_as_text_never_as_markup() {
    let app = spawn_app().await;
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)> & \"quoted\"";
    let mut application = crate::helpers::jamtland_application();
    application["unit_name"] = json!(hostile);
    let answer = app
        .post("/v1/cases", &app.provider(), &application, None, None)
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let head = Position(app.head().await);
    app.state
        .projections
        .wait_for(&ProjectionName::ALL, head, Duration::from_secs(30))
        .await
        .unwrap();
    let officer = app.officer();
    for path in ["cases", "pipeline"] {
        let text = view(&app, path, &officer).await;
        assert!(!text.contains("<script>alert"), "{path}: {text}");
        assert!(!text.contains("<img src=x"), "{path}: {text}");
        assert!(
            text.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt; &amp; &quot;quoted&quot;"),
            "{path}: {text}"
        );
    }
}
