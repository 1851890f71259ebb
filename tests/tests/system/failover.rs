//! Two `anslut serve` instances on one PostgreSQL database under write load. The instance
//! that leads every projector is killed with SIGKILL; the survivor takes the projectors over
//! within seconds and catches up with the log, the read models end equal to a rebuild from
//! scratch (`anslut projections verify`), and every command that got a 2xx has its events in
//! the log exactly once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use store::StreamRef;
use tests::Deployment;

use crate::support::{
    ORG, PROJECTIONS, REGION, UNDER_LOAD, application, checkpoints, personnummer, until,
};

/// Concurrent writers, each taking case after case through its first commands.
const WRITERS: usize = 4;
/// Staff commitments recorded per case: a command that may repeat, so a command applied twice
/// would show as an extra event.
const STAFF_PER_CASE: usize = 3;
/// How long the load runs before the kill, and after it.
const LOAD_BEFORE_KILL: Duration = Duration::from_millis(1500);
const LOAD_AFTER_KILL: Duration = Duration::from_millis(1500);
/// How long one command may take to be acknowledged, retries included.
const COMMAND_DEADLINE: Duration = Duration::from_secs(20);

/// A command that was acknowledged: its case, and its events as (stream version, type).
struct Ack {
    case: String,
    events: Vec<(u64, String)>,
}

/// The write load's shared state.
struct Load {
    client: reqwest::Client,
    /// The two instances' addresses: the leader, then the other.
    addresses: [String; 2],
    /// False from the moment the leader is killed: new commands go to the survivor.
    leader_alive: AtomicBool,
    stop: AtomicBool,
    provider: String,
    officer: String,
    acks: Mutex<Vec<Ack>>,
}

impl Load {
    /// Sends a command until it is acknowledged, alternating instances while both live. A
    /// request that fails (the instance died, or answered 5xx) is sent again with the same
    /// `Idempotency-Key`, to the survivor: a command that had committed is answered as before,
    /// one that had not runs once.
    async fn command(
        &self,
        turn: usize,
        path: &str,
        token: &str,
        key: &str,
        body: &Value,
    ) -> Value {
        let deadline = Instant::now() + COMMAND_DEADLINE;
        let mut to_leader = turn.is_multiple_of(2);
        loop {
            assert!(
                Instant::now() < deadline,
                "{path} ({key}) was never acknowledged"
            );
            let address = if to_leader && self.leader_alive.load(Ordering::SeqCst) {
                &self.addresses[0]
            } else {
                &self.addresses[1]
            };
            let mut request = self
                .client
                .post(format!("{address}{path}"))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(body);
            if path != "/v1/cases" {
                request = request.header("If-Match", "*");
            }
            let answered = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    match response.text().await {
                        Ok(text) => Some((status, text)),
                        Err(_) => None,
                    }
                }
                Err(_) => None,
            };
            match answered {
                Some((status, text)) if status.is_success() => {
                    let body: Value = serde_json::from_str(&text).expect("a JSON answer");
                    let events = body["events"]
                        .as_array()
                        .expect("the recorded events")
                        .iter()
                        .map(|e| {
                            (
                                e["version"].as_u64().unwrap(),
                                e["type"].as_str().unwrap().to_owned(),
                            )
                        })
                        .collect();
                    self.acks.lock().unwrap().push(Ack {
                        case: body["case_id"].as_str().unwrap().to_owned(),
                        events,
                    });
                    return body;
                }
                Some((status, text)) if !status.is_server_error() => {
                    panic!("{path} ({key}) was refused with {status}: {text}");
                }
                // A 5xx, or no answer: the same command again, to the survivor.
                _ => {
                    to_leader = false;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// One writer: cases through application, approval, contract and staff commitments.
    async fn write(self: Arc<Self>, writer: usize) {
        let today = chrono::Utc::now().date_naive().to_string();
        let mut case_number = 0;
        while !self.stop.load(Ordering::SeqCst) {
            case_number += 1;
            let key = |step: &str| format!("w{writer}-c{case_number}-{step}");
            let mut turn = writer;
            let mut next = || {
                turn += 1;
                turn
            };
            let submitted = self
                .command(
                    next(),
                    "/v1/cases",
                    &self.provider,
                    &key("submit"),
                    &application(),
                )
                .await;
            let case = submitted["case_id"].as_str().unwrap().to_owned();
            let steps = [
                (
                    "approve-application",
                    &self.officer,
                    json!({"reason": "Complete."}),
                ),
                ("sign-contract", &self.officer, json!({"signed_on": today})),
            ];
            for (name, token, body) in steps {
                let path = format!("/v1/cases/{case}/{name}");
                self.command(next(), &path, token, &key(name), &body).await;
            }
            for staff in 0..STAFF_PER_CASE {
                let path = format!("/v1/cases/{case}/record-staff-commitment");
                let body = json!({
                    "hsa_id": format!("SE5566778899-W{writer}C{case_number}S{staff}"),
                    "name": "Per Olsson",
                    // One person per commitment: a case records each person's once.
                    "personnummer": personnummer(staff),
                    "kind": "responsibility_commitment",
                    "signed_on": today,
                });
                self.command(
                    next(),
                    &path,
                    &self.provider,
                    &key(&format!("staff{staff}")),
                    &body,
                )
                .await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_survivor_takes_over_the_projectors_when_the_leader_is_killed_under_write_load() {
    let deployment = Deployment::postgres().await;
    let mut leader = deployment.serve_with("leader", UNDER_LOAD).await;
    until(
        Duration::from_secs(10),
        "the first instance leads",
        || async { leader.leads().await.len() == PROJECTIONS },
    )
    .await;
    let survivor = deployment.serve_with("survivor", UNDER_LOAD).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        survivor.leads().await.is_empty(),
        "a projector runs in one instance at a time"
    );

    let load = Arc::new(Load {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        addresses: [leader.address().to_owned(), survivor.address().to_owned()],
        leader_alive: AtomicBool::new(true),
        stop: AtomicBool::new(false),
        provider: deployment.token("provider", REGION, Some(ORG)),
        officer: deployment.token("officer", REGION, None),
        acks: Mutex::new(Vec::new()),
    });
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| tokio::spawn(load.clone().write(writer)))
        .collect();

    tokio::time::sleep(LOAD_BEFORE_KILL).await;
    let before_kill = load.acks.lock().unwrap().len();
    assert!(before_kill > 0, "the load runs");
    load.leader_alive.store(false, Ordering::SeqCst);
    leader.kill();
    let killed = Instant::now();
    let takeover = until(
        Duration::from_secs(15),
        "the survivor leads every projector",
        || async { survivor.leads().await.len() == PROJECTIONS },
    )
    .await;
    tokio::time::sleep(LOAD_AFTER_KILL.saturating_sub(killed.elapsed())).await;
    load.stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.expect("a writer failed");
    }
    let stopped = Instant::now();

    let store = deployment.store().await;
    let head = store.head().await.unwrap().get();
    let catch_up = until(
        Duration::from_secs(15),
        "the survivor's read models reach the head",
        || async { checkpoints(&survivor).await == vec![head; PROJECTIONS] },
    )
    .await;
    let ready = survivor.is_ready().await;
    assert!(ready, "the survivor is ready:\n{}", survivor.log_tail(20));

    // The read models equal a rebuild from scratch.
    let verified = deployment.anslut(&["projections", "verify"]);
    assert!(
        verified.status.success(),
        "anslut projections verify:\n{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );

    // Every acknowledged command's events are in the log exactly once, and nothing else is.
    let acks = std::mem::take(&mut *load.acks.lock().unwrap());
    let mut by_case: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for ack in &acks {
        by_case
            .entry(ack.case.clone())
            .or_default()
            .extend(ack.events.iter().cloned());
    }
    let mut acknowledged_events = 0;
    for (case, mut acked) in by_case.clone() {
        acked.sort();
        let stored: Vec<(u64, String)> = store
            .read_stream(&StreamRef::new("connection_case", case.clone()), 0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|event| (event.version, event.event_type))
            .collect();
        assert_eq!(
            stored, acked,
            "case {case}: the log holds what was acknowledged"
        );
        acknowledged_events += acked.len() as u64;
    }
    assert_eq!(
        head, acknowledged_events,
        "no event the load did not get a 2xx for"
    );

    // The survivor serves reads of everything written, through both instances.
    let cases = load
        .client
        .get(survivor.url(&format!("/v1/cases?limit=500&min_position={head}")))
        .bearer_auth(&load.officer)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(cases["items"].as_array().unwrap().len(), by_case.len());

    eprintln!(
        "failover: {} commands ({before_kill} before the kill) over {} cases, {head} events; \
         the survivor led every projector {takeover:?} after the SIGKILL and had projected the \
         whole log {catch_up:?} after the writes stopped ({:?} after the kill)",
        acks.len(),
        by_case.len(),
        stopped.duration_since(killed) + catch_up,
    );
    assert!(
        takeover < Duration::from_secs(5),
        "took over in {takeover:?}"
    );
}
