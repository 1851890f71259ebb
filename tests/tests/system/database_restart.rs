//! PostgreSQL goes away under load and comes back. `anslut serve` runs on a cluster of the
//! test's own; the cluster is stopped (`pg_ctl stop -m fast`) while writers and readers keep
//! sending. Every answer meanwhile is a 503 problem+json with `Retry-After` (or no answer at
//! all), never a 500 and never a hang; once the cluster is started again the same instance
//! serves again by itself, within a bound, and every acknowledged command is in the log
//! exactly once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::{Cluster, Deployment};

use crate::support::{
    ORG, REGION, UNDER_LOAD, application, assert_projections_converge,
    assert_the_log_is_what_was_acknowledged, personnummer, recorded_events, staff_commitment,
    until,
};

const WRITERS: usize = 3;
const LOAD_BEFORE_STOP: Duration = Duration::from_millis(1500);
/// How long the database stays down: longer than the pool's acquire timeout (5 s), which a
/// request already waiting for a connection sits out before it is answered 503, so that the
/// answers counted during the outage include refusals and not only waits.
const OUTAGE: Duration = Duration::from_secs(7);
/// How soon after the database is back the instance must acknowledge commands again.
const RESUME_WITHIN: Duration = Duration::from_secs(15);
/// The longest any single answer may take: slower is a hang.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// What the load saw.
#[derive(Default)]
struct Seen {
    /// (case, events) of each acknowledged command.
    acks: Vec<(String, Vec<(u64, String)>)>,
    /// Answers by status, and the connection-level failures as 0.
    statuses: BTreeMap<u16, usize>,
    /// Refusals other than the expected ones: (status, content type, Retry-After, body).
    unexpected: Vec<String>,
    /// When the last acknowledgement arrived.
    last_ack: Option<Instant>,
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
    /// Records one answer; `Some(body)` for a 2xx.
    async fn answer(&self, request: reqwest::RequestBuilder) -> Option<Value> {
        let sent = Instant::now();
        let Ok(response) = request.send().await else {
            let mut seen = self.seen.lock().unwrap();
            *seen.statuses.entry(0).or_default() += 1;
            if sent.elapsed() > ANSWER_WITHIN {
                seen.unexpected
                    .push(format!("no answer after {:?}", sent.elapsed()));
            }
            return None;
        };
        let status = response.status();
        *self
            .seen
            .lock()
            .unwrap()
            .statuses
            .entry(status.as_u16())
            .or_default() += 1;
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let retry_after = response.headers().get("retry-after").cloned();
        let text = response.text().await.unwrap_or_default();
        let mut seen = self.seen.lock().unwrap();
        if sent.elapsed() > ANSWER_WITHIN {
            seen.unexpected
                .push(format!("an answer after {:?}: {status}", sent.elapsed()));
        }
        if status.is_success() {
            seen.last_ack = Some(Instant::now());
            return serde_json::from_str(&text).ok();
        }
        // `outcome_unknown` when the database went away while a commit was in flight; the
        // writer's retry with the same key then learns the outcome (database_crash and
        // commit_cut check that contract in detail).
        let expected = status == reqwest::StatusCode::SERVICE_UNAVAILABLE
            && content_type == "application/problem+json"
            && retry_after.is_some()
            && serde_json::from_str::<Value>(&text)
                .is_ok_and(|p| p["code"] == "unavailable" || p["code"] == "outcome_unknown");
        if !expected {
            seen.unexpected.push(format!(
                "{status} {content_type} Retry-After {retry_after:?}: {text}"
            ));
        }
        None
    }

    /// Sends a command until it is acknowledged, with the same `Idempotency-Key`.
    async fn command(&self, path: &str, token: &str, key: &str, body: &Value) -> Value {
        loop {
            let mut request = self
                .client
                .post(format!("{}{path}", self.address))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(body);
            if path != "/v1/cases" {
                request = request.header("If-Match", "*");
            }
            if let Some(answer) = self.answer(request).await {
                let ack = recorded_events(&answer);
                self.seen.lock().unwrap().acks.push(ack);
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn write(self: Arc<Self>, writer: usize) {
        let today = chrono::Utc::now().date_naive().to_string();
        let mut case_number = 0;
        while !self.stop.load(Ordering::SeqCst) {
            case_number += 1;
            let key = |step: &str| format!("w{writer}-c{case_number}-{step}");
            let submitted = self
                .command("/v1/cases", &self.provider, &key("submit"), &application())
                .await;
            let case = submitted["case_id"].as_str().unwrap().to_owned();
            self.command(
                &format!("/v1/cases/{case}/approve-application"),
                &self.officer,
                &key("approve"),
                &json!({"reason": "Complete."}),
            )
            .await;
            self.command(
                &format!("/v1/cases/{case}/sign-contract"),
                &self.officer,
                &key("sign"),
                &json!({"signed_on": today}),
            )
            .await;
            let body = staff_commitment(
                &format!("D{writer}C{case_number}"),
                &personnummer(300 + writer),
                writer.is_multiple_of(2),
            );
            let path = format!("/v1/cases/{case}/record-staff-commitment");
            self.command(&path, &self.provider, &key("staff"), &body)
                .await;
            // A read of what was just written: strongly consistent, from the log.
            let read = self
                .client
                .get(format!("{}/v1/cases/{case}", self.address))
                .bearer_auth(&self.officer);
            self.answer(read).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_503_while_the_database_is_down_and_recovers_by_itself() {
    let cluster = Cluster::start();
    let deployment = Deployment::on_cluster(&cluster);
    // From here: the binary is built.
    let started = Instant::now();
    for writer in 0..WRITERS {
        deployment.forbid_personnummer(&personnummer(300 + writer));
    }
    let mut server = deployment.serve_with("db-restart", UNDER_LOAD).await;
    let load = Arc::new(Load {
        client: reqwest::Client::builder()
            .timeout(ANSWER_WITHIN * 2)
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

    tokio::time::sleep(LOAD_BEFORE_STOP).await;
    let before = load.seen.lock().unwrap().acks.len();
    assert!(before > 0, "the load runs");
    let refusals = |statuses: &BTreeMap<u16, usize>| -> usize {
        statuses
            .iter()
            .filter(|(status, _)| **status == 503 || **status == 0)
            .map(|(_, n)| n)
            .sum()
    };
    let refused_before = refusals(&load.seen.lock().unwrap().statuses);
    cluster.stop("fast");
    let stopped = Instant::now();
    // While the database is down: /readyz says so, commands and reads get 503.
    until(Duration::from_secs(5), "/readyz fails", || async {
        !server.is_ready().await
    })
    .await;
    tokio::time::sleep(OUTAGE.saturating_sub(stopped.elapsed())).await;
    cluster.start_again();
    let restarted = Instant::now();
    let resumed = until(RESUME_WITHIN, "commands are acknowledged again", || async {
        load.seen
            .lock()
            .unwrap()
            .last_ack
            .is_some_and(|at| at > restarted)
    })
    .await;
    // The answers up to the first command acknowledged after the restart: the outage's.
    let during = load.seen.lock().unwrap().statuses.clone();
    let ready = until(RESUME_WITHIN, "/readyz answers 200 again", || async {
        server.is_ready().await
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    load.stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.expect("a writer failed");
    }
    assert!(server.is_running(), "the same instance served throughout");

    let seen = std::mem::take(&mut *load.seen.lock().unwrap());
    assert!(
        seen.unexpected.is_empty(),
        "answers other than 2xx or 503 problem+json with Retry-After:\n{}",
        seen.unexpected.join("\n")
    );
    assert!(
        !seen.statuses.contains_key(&500),
        "no 500: {:?}",
        seen.statuses
    );
    // Requests sent while the database was down are answered 503 (a command may wait for the
    // pool's acquire timeout and the writer's outcome probe first, so its answer can come
    // after the restart; no answer takes longer than ANSWER_WITHIN, checked above).
    let refused_during = refusals(&during) - refused_before;
    assert!(refused_during > 0, "the load met the outage: {during:?}");

    // Every acknowledged command is in the log, once; nothing else is.
    let store = deployment.store().await;
    let (cases, head) = assert_the_log_is_what_was_acknowledged(&store, &seen.acks).await;
    let caught_up = assert_projections_converge(&deployment, &server, head).await;
    let lines = deployment.assert_logs_clean();
    eprintln!(
        "database_restart: {} commands acknowledged ({before} before the stop) over {} cases; \
         answers by status (0 = no answer) {:?}, during the {OUTAGE:?} outage {during:?}; \
         commands acknowledged again {resumed:?} and /readyz 200 {ready:?} after the restart; \
         read models at the head {caught_up:?} later; {lines} log lines clean; {:?} in all",
        seen.acks.len(),
        cases,
        seen.statuses,
        started.elapsed()
    );
    server.kill();
}
