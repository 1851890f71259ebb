//! A local webhook receiver (actix-web on 127.0.0.1, port 0) that records every request,
//! answers as the test's script says, and verifies each signature with its own
//! implementation of Standard Webhooks verification: HMAC-SHA256 written out from SHA-256
//! (RFC 2104), not the crate's signer.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub webhook_id: String,
    pub timestamp: i64,
    pub content_type: String,
    pub signature: String,
    /// Whether the independent verifier accepted the signature with the path's secret.
    pub verified: bool,
    pub body: Vec<u8>,
    /// The status the receiver answered.
    pub answered: u16,
    pub at: Instant,
}

impl Hit {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    /// The event's global position, from the CloudEvent's `position` extension.
    pub fn position(&self) -> u64 {
        self.json()["position"]
            .as_str()
            .and_then(|p| p.parse().ok())
            .expect("a position extension")
    }

    pub fn subject(&self) -> String {
        self.json()["subject"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// What to answer: given the request and how many times this path has seen this id (1 for
/// the first), a status and a delay before answering.
pub type Script = Arc<dyn Fn(&Hit, u32) -> (u16, Duration) + Send + Sync>;

struct State {
    secrets: Mutex<HashMap<String, String>>,
    hits: Mutex<Vec<Hit>>,
    script: Mutex<Script>,
}

pub struct Receiver {
    pub base: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

pub fn always(status: u16) -> Script {
    Arc::new(move |_, _| (status, Duration::ZERO))
}

impl Receiver {
    pub fn start() -> Self {
        let state = Arc::new(State {
            secrets: Mutex::new(HashMap::new()),
            hits: Mutex::new(Vec::new()),
            script: Mutex::new(always(204)),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(handle))
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
            base,
            state,
            server: handle,
        }
    }

    /// The URL of `path` on this receiver, whose requests are verified with `secret`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    pub fn expect_secret(&self, path: &str, secret: &str) {
        self.state
            .secrets
            .lock()
            .unwrap()
            .insert(format!("/{path}"), secret.to_owned());
    }

    pub fn script(&self, script: Script) {
        *self.state.script.lock().unwrap() = script;
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    pub fn hits_on(&self, path: &str) -> Vec<Hit> {
        let path = format!("/{path}");
        self.hits().into_iter().filter(|h| h.path == path).collect()
    }

    /// The ids `path` accepted (answered 2xx), in the order they arrived.
    pub fn accepted(&self, path: &str) -> Vec<String> {
        self.hits_on(path)
            .into_iter()
            .filter(|h| (200..300).contains(&h.answered))
            .map(|h| h.webhook_id)
            .collect()
    }
}

async fn handle(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<State>>,
) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let path = request.path().to_owned();
    let secret = state.secrets.lock().unwrap().get(&path).cloned();
    let webhook_id = header("webhook-id");
    let timestamp = header("webhook-timestamp");
    let signature = header("webhook-signature");
    let verified = secret.is_some_and(|secret| {
        verify(
            &secret,
            &webhook_id,
            &timestamp,
            &signature,
            &body,
            chrono::Utc::now().timestamp(),
        )
    });
    let mut hit = Hit {
        path: path.clone(),
        webhook_id,
        timestamp: timestamp.parse().unwrap_or_default(),
        content_type: header("content-type"),
        signature,
        verified,
        body: body.to_vec(),
        answered: 0,
        at: Instant::now(),
    };
    let script = state.script.lock().unwrap().clone();
    let seen = {
        let hits = state.hits.lock().unwrap();
        hits.iter()
            .filter(|h| h.path == path && h.webhook_id == hit.webhook_id)
            .count()
    };
    let (status, delay) = script(&hit, u32::try_from(seen).unwrap() + 1);
    hit.answered = status;
    state.hits.lock().unwrap().push(hit);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if (300..400).contains(&status) {
        response.insert_header(("location", "/elsewhere"));
    }
    response.finish()
}

/// HMAC-SHA256 (RFC 2104), written out.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0_u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner_pad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer_pad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// Standard Webhooks verification as a receiver does it: the secret is `whsec_` + base64;
/// the signed content is `{id}.{timestamp}.{body}`; the header holds space-separated
/// `v1,<base64>` signatures, one of which must match (compared in constant time); the
/// timestamp must be within five minutes of `now`.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    header: &str,
    body: &[u8],
    now: i64,
) -> bool {
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
    else {
        return false;
    };
    let Ok(ts) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now - ts).abs() > 300 || id.is_empty() {
        return false;
    }
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let expected = STANDARD.encode(hmac_sha256(&key, &signed));
    header.split(' ').any(|entry| {
        entry.strip_prefix("v1,").is_some_and(|sig| {
            sig.len() == expected.len()
                && sig
                    .bytes()
                    .zip(expected.bytes())
                    .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
    })
}

#[test]
fn the_independent_verifier_accepts_the_reference_vector_and_nothing_else() {
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let id = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    let body = br#"{"email":"test@example.com","username":"test_user"}"#;
    let good = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
    let now = 1_649_367_553;
    assert!(verify(secret, id, "1649367553", good, body, now));
    assert!(verify(
        secret,
        id,
        "1649367553",
        &format!("v1,AAAA {good}"),
        body,
        now
    ));
    assert!(!verify(secret, id, "1649367553", good, b"{}", now));
    assert!(!verify(secret, "msg_other", "1649367553", good, body, now));
    assert!(!verify(secret, id, "1649367553", good, body, now + 301));
    assert!(!verify(
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        id,
        "1649367553",
        good,
        body,
        now
    ));
}
