//! The connection to PostgreSQL breaks in the middle of a command's commit, at a chosen
//! point, and the database stays out of reach long enough that the store cannot look the
//! command up: the answer is `503 outcome_unknown` with the command id, and
//! `GET /v1/commands/{command_id}` later tells what happened, both ways.
//!
//! `anslut serve` reaches its cluster through a TCP proxy in this test. The proxy watches what
//! the server sends to PostgreSQL for a marker that only the command's event carries (its unit
//! name) and then, before or after handing that write on, cuts every connection and refuses
//! new ones for a while:
//! - cut *before*: the write never reaches the database; the command is not recorded;
//! - cut *after*: the database commits it, but the server never hears so; it is recorded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::{Cluster, Deployment};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::support::{ORG, REGION, UNDER_LOAD, application, stored_events};

/// How long the proxy refuses connections after a cut: longer than the store's wait for a
/// connection (5 s), so the lookup after the failed commit fails too.
const BLACKOUT: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Drop the write that carries the marker, then cut.
    Before,
    /// Hand the write on, let the database commit it, then cut (its answer never returns).
    After,
}

/// A TCP proxy to PostgreSQL that can cut every connection at a marker.
struct Proxy {
    port: u16,
    state: Arc<ProxyState>,
}

struct ProxyState {
    upstream: u16,
    /// The bytes to watch for and where to cut; taken when it fires.
    trigger: Mutex<Option<(Vec<u8>, Cut)>>,
    fired: AtomicBool,
    blackout_until: Mutex<Option<Instant>>,
    /// Bumped by a cut: every connection ends when it changes.
    generation: watch::Sender<u64>,
}

impl ProxyState {
    fn in_blackout(&self) -> bool {
        self.blackout_until
            .lock()
            .unwrap()
            .is_some_and(|until| Instant::now() < until)
    }

    fn cut(&self) {
        *self.blackout_until.lock().unwrap() = Some(Instant::now() + BLACKOUT);
        self.generation.send_modify(|generation| *generation += 1);
    }

    /// Whether `window` (the last bytes sent, this chunk included) holds the marker; if so the
    /// trigger is taken.
    fn take_trigger(&self, window: &[u8]) -> Option<Cut> {
        let mut trigger = self.trigger.lock().unwrap();
        let (marker, cut) = trigger.as_ref()?;
        if window.windows(marker.len()).any(|w| w == marker.as_slice()) {
            let cut = *cut;
            *trigger = None;
            self.fired.store(true, Ordering::SeqCst);
            return Some(cut);
        }
        None
    }
}

impl Proxy {
    async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ProxyState {
            upstream,
            trigger: Mutex::new(None),
            fired: AtomicBool::new(false),
            blackout_until: Mutex::new(None),
            generation: watch::channel(0).0,
        });
        let accepting = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if accepting.in_blackout() {
                    drop(client);
                    continue;
                }
                tokio::spawn(connection(accepting.clone(), client));
            }
        });
        Self { port, state }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn arm(&self, marker: &str, cut: Cut) {
        self.state.fired.store(false, Ordering::SeqCst);
        *self.state.trigger.lock().unwrap() = Some((marker.as_bytes().to_vec(), cut));
    }

    fn fired(&self) -> bool {
        self.state.fired.load(Ordering::SeqCst)
    }
}

/// Pumps one client connection both ways until either side closes or a cut.
async fn connection(state: Arc<ProxyState>, client: TcpStream) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", state.upstream)).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let mut cut_to_server = state.generation.subscribe();
    let mut cut_to_client = state.generation.subscribe();
    let towards_server = state.clone();
    // Each pump owns its halves, so that when it ends its write half closes and the other
    // side sees the connection end.
    let to_server = async move {
        let state = towards_server;
        let mut buffer = vec![0_u8; 64 * 1024];
        let mut window: Vec<u8> = Vec::new();
        loop {
            let n = tokio::select! {
                read = client_read.read(&mut buffer) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                },
                _ = cut_to_server.changed() => return,
            };
            let chunk = &buffer[..n];
            // Keep enough of the previous chunk for a marker split across two reads.
            let keep = window.len().min(256);
            window.drain(..window.len() - keep);
            window.extend_from_slice(chunk);
            match state.take_trigger(&window) {
                Some(Cut::Before) => {
                    state.cut();
                    return;
                }
                Some(Cut::After) => {
                    // From now on nothing comes back to the client; what it sent goes on, so
                    // the database executes and commits the write.
                    state.cut();
                    if server_write.write_all(chunk).await.is_err() {
                        return;
                    }
                    let deadline = tokio::time::sleep(Duration::from_millis(500));
                    tokio::pin!(deadline);
                    loop {
                        tokio::select! {
                            () = &mut deadline => return,
                            read = client_read.read(&mut buffer) => match read {
                                Ok(0) | Err(_) => {
                                    deadline.as_mut().await;
                                    return;
                                }
                                Ok(n) => {
                                    if server_write.write_all(&buffer[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            },
                        }
                    }
                }
                None => {
                    if server_write.write_all(chunk).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let to_client = async move {
        let mut buffer = vec![0_u8; 64 * 1024];
        loop {
            let n = tokio::select! {
                read = server_read.read(&mut buffer) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                },
                _ = cut_to_client.changed() => return,
            };
            if state.in_blackout() || client_write.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::join!(to_server, to_client);
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> (u16, Option<String>, Value) {
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    let command_id = response
        .headers()
        .get("command-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    (
        status,
        command_id,
        response.json().await.unwrap_or(Value::Null),
    )
}

/// Asks `GET /v1/commands/{id}` until the database answers: the status and body.
async fn status_of(client: &reqwest::Client, base: &str, token: &str, id: &str) -> (u16, Value) {
    let started = Instant::now();
    loop {
        let response = client
            .get(format!("{base}/v1/commands/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status != 503 {
            return (status, body);
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_cut_off_answers_outcome_unknown_and_the_status_tells_what_happened() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(cluster.port()).await;
    let deployment = Deployment::on_url(proxy.url());
    let server = deployment.serve_with("commit-cut", UNDER_LOAD).await;
    let provider = deployment.token("provider", REGION, Some(ORG));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let base = server.address().to_owned();
    let cases = format!("{base}/v1/cases");

    for (round, cut) in [Cut::Before, Cut::After].into_iter().enumerate() {
        let marker = format!("Cut-{round}-{}", uuid_like());
        let mut body = application();
        body["unit_name"] = Value::String(format!("Vårdcentral {marker}"));
        let key = format!("cut-{round}");
        proxy.arm(&marker, cut);
        let (status, command_id, problem) = post(&client, &cases, &provider, &key, &body).await;
        assert!(proxy.fired(), "{cut:?}: the write passed the proxy");
        assert_eq!(status, 503, "{cut:?}: {problem}");
        assert_eq!(problem["code"], "outcome_unknown", "{cut:?}: {problem}");
        let command_id = command_id.expect("Command-Id on outcome_unknown");
        assert_eq!(problem["command_id"], command_id.as_str());
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("/v1/commands/{command_id}")),
            "{problem}"
        );

        // Once the database is reachable again, the status endpoint settles it.
        let (status, answer) = status_of(&client, &base, &provider, &command_id).await;
        let store = deployment.store().await;
        match cut {
            Cut::Before => {
                assert_eq!(status, 404, "{answer}");
                // Not recorded: the retry with the same key records it, once.
                let (status, retry_id, created) =
                    post(&client, &cases, &provider, &key, &body).await;
                assert_eq!(status, 201, "{created}");
                assert_eq!(retry_id.as_deref(), Some(command_id.as_str()));
                let case = created["case_id"].as_str().unwrap();
                assert_eq!(stored_events(&store, case).await.len(), 1);
            }
            Cut::After => {
                assert_eq!(status, 200, "{answer}");
                assert_eq!(answer["outcome"], "recorded");
                assert_eq!(answer["status"], 201);
                let case = answer["result"]["case_id"].as_str().unwrap();
                assert_eq!(
                    stored_events(&store, case).await,
                    vec![(1, "ApplicationSubmitted".to_owned())]
                );
                // The retry with the same key gets the same answer and writes nothing.
                let head = store.head().await.unwrap();
                let (status, _, replayed) = post(&client, &cases, &provider, &key, &body).await;
                assert_eq!(status, 201, "{replayed}");
                assert_eq!(replayed, answer["result"]);
                assert_eq!(store.head().await.unwrap(), head);
            }
        }
    }
}

/// A short unique suffix for markers, so that no other traffic carries them by chance.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}")
}
