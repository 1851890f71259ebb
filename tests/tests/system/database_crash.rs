//! PostgreSQL crashes under write load, again and again, and every client learns exactly what
//! happened to each of its commands.
//!
//! `anslut serve` runs on a cluster of the test's own; eight writers (six with an
//! `Idempotency-Key` on every command, two without) drive cases from application to signed
//! contract while the cluster is stopped with `pg_ctl stop -m immediate` (no shutdown
//! checkpoint: WAL recovery on the next start) at least five times. The writers behave as the
//! README's retry contract says a client should:
//! - a 2xx is an acknowledgement;
//! - `503 unavailable` means nothing was written: the writer checks that claim with
//!   `GET /v1/commands/{command_id}` (which must answer 404) before sending again;
//! - `503 outcome_unknown` is resolved with the same endpoint: 200 is the command's original
//!   answer (an acknowledgement), 404 means it was not recorded and is sent again.
//!
//! Afterwards every acknowledged command is in the log once and nothing else is, every
//! `outcome_unknown` was resolved to what the log holds, no `unavailable` hid a recorded
//! command, the read models equal a rebuild and `anslut audit verify` passes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::{Cluster, Deployment};

use crate::support::{
    ORG, REGION, UNDER_LOAD, application, assert_projections_converge,
    assert_the_log_is_what_was_acknowledged, recorded_events, until,
};

const WRITERS: usize = 8;
/// Writers from this index on send no `Idempotency-Key`.
const KEYLESS_FROM: usize = 6;
const CRASHES: usize = 5;
/// Load between a recovery and the next crash.
const LOAD_BETWEEN: Duration = Duration::from_millis(1200);
/// How long the cluster stays down.
const DOWN: Duration = Duration::from_millis(600);
/// How soon after the cluster is back commands must be acknowledged again.
const RESUME_WITHIN: Duration = Duration::from_secs(30);
/// How long resolving one command's outcome may take (the database may still be recovering).
const RESOLVE_WITHIN: Duration = Duration::from_secs(60);

/// What the load saw.
#[derive(Default)]
struct Seen {
    /// (case, events) of each acknowledged command.
    acks: Vec<(String, Vec<(u64, String)>)>,
    /// Answers to commands by kind: `2xx`, the problem codes, `no answer`.
    answers: BTreeMap<String, usize>,
    /// `outcome_unknown` answers resolved as recorded / as not recorded.
    unknown_recorded: usize,
    unknown_absent: usize,
    /// `unavailable` answers checked with the status endpoint (all must be absent).
    unavailable_checked: usize,
    /// Broken promises, each described.
    violations: Vec<String>,
    last_ack: Option<Instant>,
}

/// A command's outcome as the status endpoint tells it.
enum Resolved {
    Recorded(Value),
    Absent,
}

struct Load {
    client: reqwest::Client,
    address: String,
    provider: String,
    officer: String,
    stop: AtomicBool,
    seen: Mutex<Seen>,
}

impl Load {
    fn count(&self, kind: &str) {
        *self
            .seen
            .lock()
            .unwrap()
            .answers
            .entry(kind.to_owned())
            .or_default() += 1;
    }

    fn violation(&self, what: String) {
        self.seen.lock().unwrap().violations.push(what);
    }

    fn acknowledge(&self, answer: &Value) {
        let mut seen = self.seen.lock().unwrap();
        seen.acks.push(recorded_events(answer));
        seen.last_ack = Some(Instant::now());
    }

    /// Asks the status endpoint until it answers 200 or 404.
    async fn resolve(&self, command_id: &str, token: &str) -> Resolved {
        let started = Instant::now();
        loop {
            let response = self
                .client
                .get(format!("{}/v1/commands/{command_id}", self.address))
                .bearer_auth(token)
                .send()
                .await;
            if let Ok(response) = response {
                match response.status().as_u16() {
                    200 => {
                        let body: Value = response.json().await.expect("a status body");
                        return Resolved::Recorded(body["result"].clone());
                    }
                    404 => return Resolved::Absent,
                    503 => {}
                    other => {
                        let text = response.text().await.unwrap_or_default();
                        self.violation(format!("status of {command_id}: {other} {text}"));
                        return Resolved::Absent;
                    }
                }
            }
            assert!(
                started.elapsed() < RESOLVE_WITHIN,
                "the outcome of {command_id} could not be learned within {RESOLVE_WITHIN:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sends a command until it is known to be recorded, following the retry contract.
    async fn command(&self, path: &str, token: &str, key: Option<&str>, body: &Value) -> Value {
        loop {
            let mut request = self
                .client
                .post(format!("{}{path}", self.address))
                .bearer_auth(token)
                .json(body);
            if let Some(key) = key {
                request = request.header("Idempotency-Key", key);
            }
            if path != "/v1/cases" {
                request = request.header("If-Match", "*");
            }
            let Ok(response) = request.send().await else {
                self.count("no answer");
                if key.is_none() {
                    self.violation(format!("{path}: no answer to a command without a key"));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let status = response.status();
            let header_id = response
                .headers()
                .get("command-id")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let retry_after = response.headers().get("retry-after").is_some();
            let text = response.text().await.unwrap_or_default();
            let body_json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if status.is_success() {
                self.count("2xx");
                self.acknowledge(&body_json);
                return body_json;
            }
            let code = body_json["code"].as_str().unwrap_or("").to_owned();
            self.count(&code);
            let command_id = body_json["command_id"].as_str().map(str::to_owned);
            if status != 503 || !retry_after || command_id.is_none() || command_id != header_id {
                self.violation(format!(
                    "{path}: {status} (Retry-After: {retry_after}, Command-Id {header_id:?}): {text}"
                ));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let command_id = command_id.unwrap_or_default();
            match (code.as_str(), self.resolve(&command_id, token).await) {
                ("unavailable", Resolved::Absent) => {
                    self.seen.lock().unwrap().unavailable_checked += 1;
                }
                ("unavailable", Resolved::Recorded(_)) => self.violation(format!(
                    "{path}: answered unavailable, but command {command_id} was recorded"
                )),
                ("outcome_unknown", Resolved::Recorded(result)) => {
                    self.seen.lock().unwrap().unknown_recorded += 1;
                    self.acknowledge(&result);
                    return result;
                }
                ("outcome_unknown", Resolved::Absent) => {
                    self.seen.lock().unwrap().unknown_absent += 1;
                }
                (other, _) => self.violation(format!("{path}: unexpected code {other}: {text}")),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn write(self: Arc<Self>, writer: usize) {
        let today = chrono::Utc::now().date_naive().to_string();
        let keyed = writer < KEYLESS_FROM;
        let mut case_number = 0;
        while !self.stop.load(Ordering::SeqCst) {
            case_number += 1;
            let key = |step: &str| keyed.then(|| format!("w{writer}-c{case_number}-{step}"));
            let submitted = self
                .command(
                    "/v1/cases",
                    &self.provider,
                    key("submit").as_deref(),
                    &application(),
                )
                .await;
            let case = submitted["case_id"].as_str().unwrap().to_owned();
            self.command(
                &format!("/v1/cases/{case}/approve-application"),
                &self.officer,
                key("approve").as_deref(),
                &json!({"reason": "Complete."}),
            )
            .await;
            self.command(
                &format!("/v1/cases/{case}/sign-contract"),
                &self.officer,
                key("sign").as_deref(),
                &json!({"signed_on": today}),
            )
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_every_crash_each_client_learns_exactly_what_was_recorded() {
    let cluster = Cluster::start();
    let deployment = Deployment::on_cluster(&cluster);
    let started = Instant::now();
    let mut server = deployment.serve_with("db-crash", UNDER_LOAD).await;
    let load = Arc::new(Load {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        address: server.address().to_owned(),
        provider: deployment.token("provider", REGION, Some(ORG)),
        officer: deployment.token("officer", REGION, None),
        stop: AtomicBool::new(false),
        seen: Mutex::new(Seen::default()),
    });
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| tokio::spawn(load.clone().write(writer)))
        .collect();

    let mut resumed = Vec::new();
    for _ in 0..CRASHES {
        tokio::time::sleep(LOAD_BETWEEN).await;
        cluster.stop("immediate");
        tokio::time::sleep(DOWN).await;
        cluster.start_again();
        let restarted = Instant::now();
        resumed.push(
            until(RESUME_WITHIN, "commands are acknowledged again", || async {
                load.seen
                    .lock()
                    .unwrap()
                    .last_ack
                    .is_some_and(|at| at > restarted)
            })
            .await,
        );
    }
    tokio::time::sleep(LOAD_BETWEEN).await;
    load.stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.expect("a writer failed");
    }
    assert!(server.is_running(), "the same instance served throughout");

    let seen = std::mem::take(&mut *load.seen.lock().unwrap());
    assert!(
        seen.violations.is_empty(),
        "broken promises:\n{}",
        seen.violations.join("\n")
    );
    assert!(
        seen.answers.get("unavailable").copied().unwrap_or(0)
            + seen.answers.get("outcome_unknown").copied().unwrap_or(0)
            > 0,
        "the load met the crashes: {:?}",
        seen.answers
    );

    // Every acknowledged command is in the log, once; nothing else is.
    let store = deployment.store().await;
    let (cases, head) = assert_the_log_is_what_was_acknowledged(&store, &seen.acks).await;

    let caught_up = assert_projections_converge(&deployment, &server, head).await;
    let verified = deployment.anslut(&["audit", "verify"]);
    assert!(
        verified.status.success(),
        "anslut audit verify:\n{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    let lines = deployment.assert_logs_clean();
    eprintln!(
        "database_crash: {CRASHES} crashes (immediate stop, WAL recovery); {} commands \
         acknowledged over {} cases ({head} events); answers to commands {:?}; \
         outcome_unknown resolved: {} recorded, {} not recorded; {} unavailable answers \
         checked as not recorded; acknowledged again {resumed:?} after each restart; read \
         models at the head {caught_up:?} later; {lines} log lines clean; {:?} in all",
        seen.acks.len(),
        cases,
        seen.answers,
        seen.unknown_recorded,
        seen.unknown_absent,
        seen.unavailable_checked,
        started.elapsed()
    );
    server.kill();
}
