//! `anslut serve` is killed with SIGKILL under write load, again and again, and a fresh
//! instance is started on the same database after each kill. Every command that got a 2xx
//! has its events in the log exactly once; a command whose answer was lost in a kill is sent
//! again with the same `Idempotency-Key` to the next instance, which answers with the
//! original outcome when the command had committed before the kill and runs it once when it
//! had not; in the end no event is in the log without an acknowledgement, and the read
//! models equal a rebuild from scratch.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::Deployment;

use crate::support::{
    ORG, REGION, UNDER_LOAD, application, assert_projections_converge, personnummer,
    recorded_events, staff_commitment, stored_events,
};

/// How many times an instance is killed.
const KILLS: usize = 8;
/// Concurrent writers.
const WRITERS: usize = 4;
const STAFF_PER_CASE: usize = 3;
/// How long an instance serves the load before it is killed: varied, so that kills land in
/// different steps of the pipeline.
const LOAD_PER_INSTANCE: [Duration; 4] = [
    Duration::from_millis(700),
    Duration::from_millis(1100),
    Duration::from_millis(900),
    Duration::from_millis(1300),
];
/// How long one command may take to be acknowledged, restarts included.
const COMMAND_DEADLINE: Duration = Duration::from_secs(40);

/// An acknowledged command: its case and events, and whether an earlier attempt's answer
/// was lost in the kill of instance `lost_in`.
struct Ack {
    case: String,
    events: Vec<(u64, String)>,
    position: u64,
    lost_in: Option<usize>,
}

struct Load {
    client: reqwest::Client,
    /// The serving instance's address; `None` from just before a kill until the next
    /// instance is ready.
    address: RwLock<Option<String>>,
    /// The instance serving now (0, 1, ...), counted up at each kill.
    instance: AtomicUsize,
    /// The log's head once instance `i` was dead: an outcome at or below it was committed
    /// by the killed instance.
    heads_at_kill: Mutex<Vec<u64>>,
    stop: AtomicBool,
    provider: String,
    officer: String,
    acks: Mutex<Vec<Ack>>,
    server_errors: AtomicUsize,
}

impl Load {
    /// Sends a command until it gets a 2xx; a request without an answer (the instance was
    /// killed) is sent again with the same `Idempotency-Key` once the next one serves.
    async fn command(&self, path: &str, token: &str, key: &str, body: &Value) -> Value {
        let deadline = Instant::now() + COMMAND_DEADLINE;
        let mut lost_in = None;
        loop {
            assert!(
                Instant::now() < deadline,
                "{path} ({key}) was never acknowledged"
            );
            let instance = self.instance.load(Ordering::SeqCst);
            let Some(address) = self.address.read().unwrap().clone() else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
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
                    response.text().await.ok().map(|text| (status, text))
                }
                Err(_) => None,
            };
            match answered {
                Some((status, text)) if status.is_success() => {
                    let answer: Value = serde_json::from_str(&text).expect("a JSON answer");
                    let (case, events) = recorded_events(&answer);
                    self.acks.lock().unwrap().push(Ack {
                        case,
                        events,
                        position: answer["position"].as_u64().expect("a position"),
                        lost_in,
                    });
                    return answer;
                }
                Some((status, text)) if !status.is_server_error() => {
                    panic!("{path} ({key}) was refused with {status}: {text}");
                }
                Some(_) => {
                    self.server_errors.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                None => {
                    lost_in.get_or_insert(instance);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// One writer: cases through application, approval, contract and staff commitments
    /// (a command that may repeat, so one applied twice would show as an extra event).
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
            let steps = [
                ("approve-application", json!({"reason": "Complete."})),
                ("sign-contract", json!({"signed_on": today})),
            ];
            for (name, body) in steps {
                let path = format!("/v1/cases/{case}/{name}");
                self.command(&path, &self.officer, &key(name), &body).await;
            }
            for staff in 0..STAFF_PER_CASE {
                let path = format!("/v1/cases/{case}/record-staff-commitment");
                let body = staff_commitment(
                    &format!("W{writer}C{case_number}S{staff}"),
                    &personnummer(writer * STAFF_PER_CASE + staff),
                    staff % 2 == 1,
                );
                self.command(&path, &self.provider, &key(&format!("staff{staff}")), &body)
                    .await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_survive_repeated_sigkills_exactly_once() {
    let deployment = Deployment::postgres().await;
    // From here: the binary is built.
    let started = Instant::now();
    for n in 0..WRITERS * STAFF_PER_CASE {
        deployment.forbid_personnummer(&personnummer(n));
    }
    let store = deployment.store().await;
    let load = Arc::new(Load {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        address: RwLock::new(None),
        instance: AtomicUsize::new(0),
        heads_at_kill: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
        provider: deployment.token("provider", REGION, Some(ORG)),
        officer: deployment.token("officer", REGION, None),
        acks: Mutex::new(Vec::new()),
        server_errors: AtomicUsize::new(0),
    });
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| tokio::spawn(load.clone().write(writer)))
        .collect();

    let mut restarts = Vec::new();
    for kill in 0..KILLS {
        let starting = Instant::now();
        let mut server = deployment
            .serve_with(&format!("instance-{kill}"), UNDER_LOAD)
            .await;
        restarts.push(starting.elapsed());
        *load.address.write().unwrap() = Some(server.address().to_owned());
        let acked_before = load.acks.lock().unwrap().len();
        tokio::time::sleep(LOAD_PER_INSTANCE[kill % LOAD_PER_INSTANCE.len()]).await;
        assert!(
            load.acks.lock().unwrap().len() > acked_before,
            "instance {kill} acknowledged commands before its kill"
        );
        *load.address.write().unwrap() = None;
        server.kill();
        // A COMMIT the database had received before the kill still completes: let it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let head = store.head().await.unwrap().get();
        load.heads_at_kill.lock().unwrap().push(head);
        load.instance.fetch_add(1, Ordering::SeqCst);
    }
    let last = deployment.serve_with("instance-last", UNDER_LOAD).await;
    *load.address.write().unwrap() = Some(last.address().to_owned());
    tokio::time::sleep(Duration::from_millis(500)).await;
    load.stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.expect("a writer failed");
    }

    // Every acknowledged command's events are in the log exactly once, and nothing else is.
    let acks = std::mem::take(&mut *load.acks.lock().unwrap());
    let heads_at_kill = load.heads_at_kill.lock().unwrap().clone();
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
        assert_eq!(
            stored_events(&store, &case).await,
            acked,
            "case {case}: the log holds what was acknowledged, once"
        );
        acknowledged_events += acked.len() as u64;
    }
    let head = store.head().await.unwrap().get();
    assert_eq!(
        head, acknowledged_events,
        "no event in the log without an acknowledgement"
    );

    // The answers lost in a kill, retried with their key: committed before the kill (the
    // retry was answered with the original outcome, at or below the head at the kill) or
    // not (the retry ran the command once, after it).
    let lost: Vec<&Ack> = acks.iter().filter(|ack| ack.lost_in.is_some()).collect();
    let replayed = lost
        .iter()
        .filter(|ack| {
            ack.lost_in
                .and_then(|instance| heads_at_kill.get(instance))
                .is_some_and(|head| ack.position <= *head)
        })
        .count();
    assert!(
        !lost.is_empty(),
        "some request was in flight at one of {KILLS} kills"
    );

    let catch_up = assert_projections_converge(&deployment, &last, head).await;
    let lines = deployment.assert_logs_clean();
    eprintln!(
        "kill_loop: {KILLS} SIGKILLs survived; {} commands acknowledged over {} cases, {head} \
         events, each once; {} answers lost in a kill and retried with their key ({replayed} \
         had committed before the kill and were answered with the original outcome, {} ran \
         after it); {} 5xx answers; instances ready {:?} after starting (slowest); read models \
         at the head {catch_up:?} after the writes stopped; {lines} log lines clean; {:?} in all",
        acks.len(),
        by_case.len(),
        lost.len(),
        lost.len() - replayed,
        load.server_errors.load(Ordering::SeqCst),
        restarts.iter().max().unwrap(),
        started.elapsed(),
    );
}
