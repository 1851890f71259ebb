//! `spawn_app()`: the real application on port 0 against a fresh PostgreSQL database (dropped
//! at the end), with an HTTP client and token helpers. `spawn_app_sqlite()` for the smoke run.
//! `TEST_LOG=1` prints the logs; every test's logs are also kept in [`LOGS`] for the test that
//! checks what is never logged.

use std::io::Write;
use std::sync::{LazyLock, Mutex, Once};
use std::time::Duration;

use actix_web::web;
use api::auth::dev::{DevKey, TokenSpec};
use api::config::Settings;
use api::startup::Application;
use api::state::AppState;
use serde_json::{Value, json};
use store::testing::TestDatabase;
use tracing_subscriber::fmt::MakeWriter;

/// Every log line written by any application in this test process.
pub static LOGS: LazyLock<Mutex<Vec<u8>>> = LazyLock::new(|| Mutex::new(Vec::new()));

#[derive(Clone, Copy)]
struct CaptureWriter;

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stdout().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl MakeWriter<'_> for CaptureWriter {
    type Writer = Self;

    fn make_writer(&self) -> Self::Writer {
        *self
    }
}

static INIT: Once = Once::new();

fn init() {
    INIT.call_once(|| {
        drop(rustls::crypto::ring::default_provider().install_default());
        api::telemetry::init(api::telemetry::subscriber("info", CaptureWriter))
            .expect("installing the test subscriber");
    });
}

/// The log text captured so far.
pub fn logs() -> String {
    String::from_utf8_lossy(
        &LOGS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned()
}

pub const JAMTLAND: &str = "jamtland-harjedalen";
/// The operations token every test application is given (`ops.token`).
pub const OPS_TOKEN: &str = "test-operations-token-0123456789abcdef";
pub const ORG: &str = "556677-8899";
pub const OTHER_ORG: &str = "559123-4561";

/// A running application.
pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:PORT` of the operations listener, when `ops.listen` is set.
    pub ops_address: Option<String>,
    pub client: reqwest::Client,
    pub key: DevKey,
    pub settings: Settings,
    pub state: web::Data<AppState>,
    handle: actix_web::dev::ServerHandle,
    _database: TestDatabase,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(TestDatabase::postgres().await, |_| {}).await
}

pub async fn spawn_app_sqlite() -> TestApp {
    spawn_with(TestDatabase::sqlite(), |_| {}).await
}

/// An application on `database` with settings adjusted by `adjust`.
pub async fn spawn_with(database: TestDatabase, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    init();
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let mut settings = Settings {
        port: 0,
        data_dir: dir.path().to_path_buf(),
        database_url: Some(api::config::Secret::new(database.url().to_owned())),
        workers: 1,
        shutdown_timeout_seconds: 1,
        ..Settings::default()
    };
    settings.ops.token = Some(api::config::Secret::new(OPS_TOKEN.to_owned()));
    adjust(&mut settings);
    let application = Application::build(&settings)
        .await
        .expect("building the application");
    let address = format!("http://127.0.0.1:{}", application.port());
    let ops_address = application
        .ops_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let state = application.state();
    let handle = application.handle();
    tokio::spawn(application.run_until_stopped());
    let (key, _) = DevKey::load(None, dir.path()).expect("the development key");
    TestApp {
        address,
        ops_address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client"),
        key,
        settings,
        state,
        handle,
        _database: database,
        _dir: dir,
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    pub fn etag(&self) -> String {
        self.header("etag").expect("an ETag")
    }

    /// Asserts an RFC 9457 problem with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["code"], code, "{}", self.text);
        assert_eq!(body["status"], status, "{}", self.text);
        assert!(body["title"].is_string() && body["detail"].is_string());
        assert_eq!(body["type"], format!("urn:anslut:problem:{code}"));
    }
}

impl TestApp {
    /// A development token for a role, region and (for providers) organisation.
    pub fn token(&self, role: &str, region: &str, org: Option<&str>) -> String {
        self.key
            .mint(&TokenSpec {
                subject: format!("test-{role}"),
                role: role.into(),
                region: region.into(),
                org: org.map(str::to_owned),
                issuer: self.settings.auth.issuer.clone(),
                audience: self.settings.auth.audience.clone(),
                ttl: Duration::from_secs(600),
            })
            .expect("minting a token")
    }

    /// `path` (`/metrics`, `/readyz`) with the operations token.
    pub async fn ops_get(&self, path: &str) -> Answer {
        self.send(
            self.client
                .get(format!("{}{path}", self.address))
                .bearer_auth(OPS_TOKEN),
        )
        .await
    }

    pub fn officer(&self) -> String {
        self.token("officer", JAMTLAND, None)
    }

    pub fn provider(&self) -> String {
        self.token("provider", JAMTLAND, Some(ORG))
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request
            .send()
            .await
            .expect("the request reaches the server");
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.expect("a body"),
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(
            self.client
                .get(format!("{}{path}", self.address))
                .bearer_auth(token),
        )
        .await
    }

    /// A JSON POST with optional `If-Match` and `Idempotency-Key`.
    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: &Value,
        if_match: Option<&str>,
        key: Option<&str>,
    ) -> Answer {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(token)
            .json(body);
        if let Some(if_match) = if_match {
            request = request.header("If-Match", if_match);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        self.send(request).await
    }

    /// A case command with `If-Match: *`, asserted to succeed.
    pub async fn command(&self, case_id: &str, name: &str, token: &str, body: Value) -> Answer {
        let answer = self
            .post(
                &format!("/v1/cases/{case_id}/{name}"),
                token,
                &body,
                Some("*"),
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.text);
        answer
    }

    /// Submits a valid Jämtland Hälsoval application as the provider; the case id.
    pub async fn submit_jamtland(&self) -> String {
        let answer = self
            .post(
                "/v1/cases",
                &self.provider(),
                &jamtland_application(),
                None,
                None,
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        answer.json()["case_id"]
            .as_str()
            .expect("a case id")
            .to_owned()
    }

    /// A Jämtland case in establishment: applied, approved, contract signed today.
    pub async fn establishment_case(&self) -> String {
        let case_id = self.submit_jamtland().await;
        let officer = self.officer();
        self.command(
            &case_id,
            "approve-application",
            &officer,
            json!({"reason": "Complete."}),
        )
        .await;
        self.command(
            &case_id,
            "sign-contract",
            &officer,
            json!({"signed_on": today()}),
        )
        .await;
        case_id
    }

    pub async fn head(&self) -> u64 {
        self.state.store.head().await.expect("the head").get()
    }
}

pub fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

pub fn days_from_today(days: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(days)).to_string()
}

/// A complete application to Region Jämtland Härjedalen's Hälsoval, by its catalogue:
/// the two required contacts, both mandatory packages, listed patients and the
/// call-measurement system.
pub fn jamtland_application() -> Value {
    json!({
        "programme": "jamtland-halsoval",
        "unit_name": "Östersundshälsan Vårdcentral",
        "org_number": ORG,
        "service_packages": ["vardutbud-bas", "stodapplikationer"],
        "workstations": 12,
        "listed_patients": 4200,
        "contacts": [
            {"role": "it_contact", "name": "Karin Lindqvist", "email": "karin.lindqvist@ostersundshalsan.se", "phone": "+46 63 14 20 00"},
            {"role": "system_administrator", "name": "Jonas Ek", "email": "jonas.ek@ostersundshalsan.se"}
        ],
        "requested_go_live": days_from_today(120),
        "call_measurement_system": "Telia Touchpoint"
    })
}
