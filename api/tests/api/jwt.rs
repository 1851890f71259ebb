//! Production authentication: RS256, ES256 and EdDSA tokens verified against a JWKS served
//! over (loopback) HTTP, chosen by `kid`, with the algorithm pinned per key. Every bad token
//! is a 401 with `WWW-Authenticate: Bearer error="invalid_token"`, never a 500.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use store::testing::TestDatabase;

use crate::helpers::{JAMTLAND, ORG, TestApp, spawn_app, spawn_with};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).expect("a test key")
}

/// Serves a JWKS (the fixtures', unless changed through the handle) on a free loopback
/// port; its URL and the handle.
fn serve_jwks() -> (String, Arc<Mutex<String>>) {
    let jwks = Arc::new(Mutex::new(String::from_utf8(fixture("jwks.json")).unwrap()));
    let served = jwks.clone();
    let server = HttpServer::new(move || {
        let jwks = served.clone();
        App::new().route(
            "/jwks.json",
            web::get().to(move || {
                let body = jwks.lock().unwrap().clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("binding the JWKS server");
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (format!("http://127.0.0.1:{port}/jwks.json"), jwks)
}

async fn jwks_app() -> TestApp {
    let (url, _) = serve_jwks();
    jwks_app_at(url, 30).await
}

async fn jwks_app_at(url: String, min_refetch: u64) -> TestApp {
    spawn_with(TestDatabase::postgres().await, |settings| {
        settings.auth.jwks_min_refetch_seconds = min_refetch;
        settings.auth.jwks_url = Some(url);
        settings.auth.allow_loopback_http_jwks = true;
        settings.auth.issuer = "https://idp.region.example".into();
        settings.auth.audience = "anslut-api".into();
    })
    .await
}

fn claims(offset_exp: i64, offset_nbf: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": "HSA-SE2321000206-K1", "iss": "https://idp.region.example", "aud": "anslut-api",
        "exp": now + offset_exp, "nbf": now + offset_nbf, "iat": now,
        "role": "provider", "region": JAMTLAND, "org": ORG
    })
}

fn sign(algorithm: Algorithm, kid: &str, claims: &Value) -> String {
    let key = match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&fixture("ec-private.pem")),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&fixture("ed25519-private.pem")),
        _ => panic!("not a test algorithm"),
    }
    .expect("a test key");
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.into());
    encode(&header, claims, &key).expect("signing")
}

async fn assert_refused(app: &TestApp, token: &str, why: &str) {
    let answer = app.get("/v1/catalogues", token).await;
    answer.assert_problem(401, "invalid_token");
    assert!(
        answer
            .header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\""),
        "{why}"
    );
    assert!(
        answer.json()["detail"].as_str().unwrap().contains(why),
        "{why}: {}",
        answer.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_es256_and_eddsa_tokens_from_the_jwks_are_accepted() {
    let app = jwks_app().await;
    for (algorithm, kid) in [
        (Algorithm::RS256, "test-rsa"),
        (Algorithm::ES256, "test-ec"),
        (Algorithm::EdDSA, "test-ed"),
    ] {
        let answer = app
            .get("/v1/catalogues", &sign(algorithm, kid, &claims(300, 0)))
            .await;
        assert_eq!(answer.status, 200, "{algorithm:?}: {}", answer.text);
    }
    // The provider's tenancy comes from the token: it may apply for its own organisation.
    let token = sign(Algorithm::ES256, "test-ec", &claims(300, 0));
    let answer = app
        .post(
            "/v1/cases",
            &token,
            &crate::helpers::jamtland_application(),
            None,
            None,
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_premature_and_misaddressed_tokens_are_refused() {
    let app = jwks_app().await;
    assert_refused(
        &app,
        &sign(Algorithm::RS256, "test-rsa", &claims(-120, -600)),
        "expired",
    )
    .await;
    assert_refused(
        &app,
        &sign(Algorithm::RS256, "test-rsa", &claims(900, 300)),
        "not valid yet",
    )
    .await;
    let mut wrong_audience = claims(300, 0);
    wrong_audience["aud"] = json!("another-api");
    assert_refused(
        &app,
        &sign(Algorithm::RS256, "test-rsa", &wrong_audience),
        "audience",
    )
    .await;
    let mut wrong_issuer = claims(300, 0);
    wrong_issuer["iss"] = json!("https://evil.example");
    assert_refused(
        &app,
        &sign(Algorithm::EdDSA, "test-ed", &wrong_issuer),
        "issuer",
    )
    .await;
    let mut no_subject = claims(300, 0);
    no_subject.as_object_mut().unwrap().remove("sub");
    assert_refused(
        &app,
        &sign(Algorithm::RS256, "test-rsa", &no_subject),
        "sub",
    )
    .await;
    let mut no_nbf = claims(300, 0);
    no_nbf.as_object_mut().unwrap().remove("nbf");
    assert_refused(&app, &sign(Algorithm::RS256, "test-rsa", &no_nbf), "nbf").await;
    let mut no_org = claims(300, 0);
    no_org.as_object_mut().unwrap().remove("org");
    assert_refused(&app, &sign(Algorithm::RS256, "test-rsa", &no_org), "org").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_are_refused() {
    let app = jwks_app().await;
    let payload = URL_SAFE_NO_PAD.encode(claims(300, 0).to_string());

    // alg: none.
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"test-rsa"}"#)
    );
    assert_refused(&app, &none, "well-formed").await;

    // HS256 signed with the RSA public key, naming the RSA key's kid (algorithm confusion).
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("test-rsa".into());
    let confused = encode(
        &header,
        &claims(300, 0),
        &EncodingKey::from_secret(&fixture("rsa-public.pem")),
    )
    .unwrap();
    assert_refused(&app, &confused, "algorithm").await;

    // ES256 claimed for the RSA key.
    let mismatched = sign(Algorithm::ES256, "test-rsa", &claims(300, 0));
    assert_refused(&app, &mismatched, "algorithm").await;

    // An unknown kid, and no kid at all.
    assert_refused(
        &app,
        &sign(Algorithm::RS256, "rotated-away", &claims(300, 0)),
        "key id",
    )
    .await;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = None;
    let no_kid = encode(
        &header,
        &claims(300, 0),
        &EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).unwrap(),
    )
    .unwrap();
    assert_refused(&app, &no_kid, "kid").await;

    // A tampered signature, and a tampered payload under a valid signature.
    let token = sign(Algorithm::RS256, "test-rsa", &claims(300, 0));
    let (head, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 0x01;
    assert_refused(
        &app,
        &format!("{head}.{}", URL_SAFE_NO_PAD.encode(bytes)),
        "signature",
    )
    .await;
    let mut raised = claims(300, 0);
    raised["role"] = json!("officer");
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(raised.to_string()),
        parts[2]
    );
    assert_refused(&app, &tampered, "signature").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_development_key_accepts_only_hs256() {
    let app = spawn_app().await;
    let answer = app.get("/v1/catalogues", &app.officer()).await;
    assert_eq!(answer.status, 200);
    let mut claims = claims(300, 0);
    claims["iss"] = json!("anslut-dev");
    claims["aud"] = json!("anslut");
    assert_refused(&app, &sign(Algorithm::RS256, "dev", &claims), "algorithm").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_added_to_the_jwks_is_fetched_on_its_first_unknown_kid() {
    let (url, jwks) = serve_jwks();
    let mut only_rsa: Value = serde_json::from_slice(&fixture("jwks.json")).unwrap();
    only_rsa["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|key| key["kid"] == "test-rsa");
    let all = std::mem::replace(&mut *jwks.lock().unwrap(), only_rsa.to_string());
    let app = jwks_app_at(url, 0).await;
    let ec = sign(Algorithm::ES256, "test-ec", &claims(300, 0));
    assert_refused(&app, &ec, "key id").await;
    *jwks.lock().unwrap() = all;
    let answer = app.get("/v1/catalogues", &ec).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}
