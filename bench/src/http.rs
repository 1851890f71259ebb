//! End to end and memory: the real `anslut serve` (the release binary) on a fresh database,
//! driven over HTTP at 16 connections with commands that each append one event, against two
//! baselines measured in interleaved rounds (in one order, then reversed):
//!
//! * Anslut's store-level figure, variant (c) of the append case at 16 streams, in the bench
//!   process itself;
//! * (d) what a team would build with the named stack without Anslut: the
//!   `bench-baseline-server` binary of this crate (same profile as `anslut`), an actix-web
//!   route that parses the same JSON body and executes it through cqrs-es's `CqrsFramework`
//!   over `postgres-es` 0.5 (snapshots every 50, one event per command, optimistic
//!   concurrency by version via `If-Match`), on a database of its own on the same server.
//!   Its docs list what it leaves out (authentication, idempotency, logging, projections…).
//!   It is driven by the same load generator: 16 keep-alive connections, one unit each, the
//!   same headers and body, for the same duration.
//!
//! Each server's CPU time per request is its process's user and system ticks from
//! `/proc/<pid>/stat` over the round divided by the requests answered; for (c) it is the
//! bench process's own CPU, load generator included. After every HTTP round the bench waits
//! (up to 10 s) until the server's process is idle (under 10% of a core over 200 ms), so
//! that work a server defers past the round (Anslut's projectors catching up) does not land
//! in the next round of another variant; that deferred CPU time is added to the round's CPU
//! per request (the "everything the server does for it, background work included").
//! The servers' resident memory is read from `/proc/<pid>/status` when idle after start and
//! sampled every 100 ms during the load.
//!
//! Each connection owns one case in the establishment phase (applied, approved, contract
//! signed, all over HTTP) and reports organisational changes (the unit moved) to it: a
//! provider's command that stays valid however often it is repeated and does not grow the
//! aggregate's state. Every request carries `If-Match` with the `ETag` of the previous answer
//! and a fresh `Idempotency-Key`, as a well-behaved integration would. Baseline (d) gets the
//! same requests on the same route path; each connection owns a fresh unit there, starting
//! at version 0 with no establishment phase (its aggregate has none).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, ETAG, IF_MATCH};
use serde_json::{Value, json};
use sqlx::{Connection as _, Executor as _, PgConnection};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::append::{Driver, Harness, POSTGRES_ES_SCHEMA};
use crate::db::Server;
use crate::error::{Context, Failure, Result};
use crate::report::Row;
use crate::stats::{p50_p99, rate};

/// Concurrent HTTP connections, and store-level streams to compare with.
pub const CONNECTIONS: usize = 16;
const REGION: &str = "jamtland-harjedalen";
const ORG: &str = "556677-8899";

/// A running `anslut serve`, killed when dropped.
struct Anslut {
    binary: PathBuf,
    child: Child,
    base: String,
    data: tempfile::TempDir,
    database_url: String,
}

impl Anslut {
    async fn start(binary: &Path, database_url: String) -> Result<Self> {
        let data = tempfile::tempdir().context("creating the server's data directory")?;
        let port = free_port()?;
        let log = std::fs::File::create(data.path().join("serve.log"))
            .context("creating the server's log file")?;
        let child = Command::new(binary)
            .arg("serve")
            .env("DATABASE_URL", &database_url)
            .env("ANSLUT_DATA_DIR", data.path())
            .env("ANSLUT_HOST", "127.0.0.1")
            .env("ANSLUT_PORT", port.to_string())
            // The bench measures throughput from one provider token: no per-caller limit.
            .env("ANSLUT_LIMITS__COMMANDS_PER_SECOND", "0")
            .env_remove("ANSLUT_CONFIG")
            .env_remove("ANSLUT_ENV")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context(format_args!("starting {}", binary.display()))?;
        let mut server = Self {
            binary: binary.to_owned(),
            child,
            base: format!("http://127.0.0.1:{port}"),
            data,
            database_url,
        };
        server.wait_until_ready().await?;
        Ok(server)
    }

    async fn wait_until_ready(&mut self) -> Result<()> {
        let log = self.data.path().join("serve.log");
        wait_until_ready(&mut self.child, &self.base, "anslut serve", &log).await
    }

    /// A development token from `anslut token`, signed with the server's key.
    fn token(&self, role: &str, org: Option<&str>) -> Result<String> {
        let mut command = Command::new(&self.binary);
        command
            .args(["token", "--role", role, "--region", REGION, "--ttl", "3h"])
            .env("DATABASE_URL", &self.database_url)
            .env("ANSLUT_DATA_DIR", self.data.path())
            .env_remove("ANSLUT_CONFIG")
            .env_remove("ANSLUT_ENV");
        if let Some(org) = org {
            command.args(["--org", org]);
        }
        let out = command.output().context("running anslut token")?;
        if !out.status.success() {
            return Err(Failure::new(
                "running anslut token",
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// `VmRSS` and `VmHWM` of the server process, in MiB.
    fn memory(&self) -> Result<(f64, f64)> {
        resident(self.child.id())
    }
}

impl Drop for Anslut {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

/// Polls `{base}/readyz` until it answers 200, for at most 60 s; fails with the end of the
/// server's log if it exits or never gets ready.
async fn wait_until_ready(child: &mut Child, base: &str, what: &str, log: &Path) -> Result<()> {
    let doing = format!("starting {what}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().context("watching the server")? {
            return Err(Failure::new(
                doing,
                format!("it exited with {status}; its log ends:\n{}", log_tail(log)),
            ));
        }
        let ready = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|answer| answer.status() == StatusCode::OK);
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Failure::new(
                doing,
                format!("not ready after 60 s; its log ends:\n{}", log_tail(log)),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last 20 lines of a server's log.
fn log_tail(log: &Path) -> String {
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A free port on 127.0.0.1.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .context("finding a free port")?
        .port())
}

/// A running baseline (d), `bench-baseline-server`, killed when dropped.
struct Baseline {
    child: Child,
    base: String,
    /// Holds the server's log.
    _dir: tempfile::TempDir,
}

impl Baseline {
    /// Creates its database with postgres-es's tables and starts the server on it.
    async fn start(server: &Server, binary: &Path) -> Result<Self> {
        let url = server.create("http_baseline").await?;
        let mut conn = PgConnection::connect(&url)
            .await
            .context("connecting to the baseline's database")?;
        conn.execute(POSTGRES_ES_SCHEMA)
            .await
            .context("creating postgres-es's tables for the baseline")?;
        drop(conn.close().await);
        let dir = tempfile::tempdir().context("creating the baseline's directory")?;
        let port = free_port()?;
        let log_path = dir.path().join("baseline.log");
        let log = std::fs::File::create(&log_path).context("creating the baseline's log")?;
        let child = Command::new(binary)
            .args(["--database-url", &url, "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context(format_args!("starting {}", binary.display()))?;
        let mut baseline = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        wait_until_ready(
            &mut baseline.child,
            &baseline.base,
            "the baseline server",
            &log_path,
        )
        .await?;
        Ok(baseline)
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

/// Waits until process `pid` is idle: at most 2 clock ticks (10% of a core) over 200 ms, or
/// 10 s have passed. Returns the CPU time it spent meanwhile, ms, and how long it took.
async fn settle(pid: u32) -> Result<(f64, Duration)> {
    let started = Instant::now();
    let first = process_ticks(pid)?;
    let mut before = first;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = process_ticks(pid)?;
        if now.saturating_sub(before) <= 2 || started.elapsed() > Duration::from_secs(10) {
            #[expect(
                clippy::cast_precision_loss,
                reason = "a count or a duration as f64 for a rate or a percentage: far below 2^52, where f64 is exact"
            )]
            let spent = now.saturating_sub(first) as f64 / TICKS_PER_SECOND * 1000.0;
            return Ok((spent, started.elapsed()));
        }
        before = now;
    }
}

/// `VmRSS` and `VmHWM` (the peak) of process `pid`, in MiB.
fn resident(pid: u32) -> Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading the server's /proc status")?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    };
    match (field("VmRSS:"), field("VmHWM:")) {
        (Some(rss), Some(hwm)) => Ok((rss, hwm)),
        _ => Err(Failure::new(
            "reading the server's memory",
            "no VmRSS/VmHWM in /proc/<pid>/status",
        )),
    }
}

/// Clock ticks per second in `/proc` (Linux's `USER_HZ`, 100 on every mainstream
/// architecture).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time of one process and of the whole machine over a stretch of work.
struct CpuMeter {
    pid: u32,
    process: u64,
    busy: u64,
    total: u64,
}

/// What a [`CpuMeter`] saw.
struct CpuUse {
    /// The process's CPU time per operation, ms.
    per_operation_ms: f64,
    /// The share of the machine's cores that were busy, %.
    machine_busy: f64,
}

impl CpuMeter {
    fn start(pid: u32) -> Result<Self> {
        let (busy, total) = machine_ticks()?;
        Ok(Self {
            pid,
            process: process_ticks(pid)?,
            busy,
            total,
        })
    }

    fn stop(self, operations: u64) -> Result<CpuUse> {
        let (busy, total) = machine_ticks()?;
        let process = process_ticks(self.pid)?.saturating_sub(self.process);
        // Tick counts over a few seconds are far below 2^52.
        #[expect(
            clippy::cast_precision_loss,
            reason = "a count or a duration as f64 for a rate or a percentage: far below 2^52, where f64 is exact"
        )]
        let (process, busy, total, operations) = (
            process as f64,
            busy.saturating_sub(self.busy) as f64,
            total.saturating_sub(self.total) as f64,
            operations.max(1) as f64,
        );
        Ok(CpuUse {
            per_operation_ms: process / TICKS_PER_SECOND * 1000.0 / operations,
            machine_busy: 100.0 * busy / total.max(1.0),
        })
    }
}

/// User and system clock ticks process `pid` has spent on the CPU.
fn process_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .context("reading a process's /proc stat")?;
    // Fields after the command name, which ends with the last ')': state is the first,
    // utime the 12th and stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    match (field(11), field(12)) {
        (Some(user), Some(system)) => Ok(user + system),
        _ => Err(Failure::new(
            "reading a process's CPU time",
            "unexpected /proc/<pid>/stat",
        )),
    }
}

/// Busy and total clock ticks of all cores since boot, from `/proc/stat`.
fn machine_ticks() -> Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|f| f.parse().ok())
        .collect();
    if ticks.len() < 8 {
        return Err(Failure::new(
            "reading the machine's CPU time",
            "unexpected /proc/stat",
        ));
    }
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    let total: u64 = ticks.iter().sum();
    Ok((total - ticks[3] - ticks[4], total))
}

/// One connection's client, case and last ETag.
struct Connection {
    client: reqwest::Client,
    base: String,
    token: Arc<str>,
    case: String,
    etag: String,
}

impl Connection {
    /// Sends a command to the case; returns the answer's body, keeping its ETag.
    async fn command(&mut self, token: &str, command: &str, body: &Value) -> Result<Value> {
        let answer = self
            .client
            .post(format!("{}/v1/cases/{}/{command}", self.base, self.case))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(IF_MATCH, &self.etag)
            .header("Idempotency-Key", Uuid::now_v7().to_string())
            .json(body)
            .send()
            .await
            .context(format_args!("sending {command}"))?;
        self.take(command, answer, StatusCode::OK).await
    }

    async fn take(
        &mut self,
        what: &str,
        answer: reqwest::Response,
        expected: StatusCode,
    ) -> Result<Value> {
        let status = answer.status();
        let etag = answer
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = answer
            .text()
            .await
            .context(format_args!("reading the answer to {what}"))?;
        if status != expected {
            return Err(Failure::new(what.to_owned(), format!("{status}: {body}")));
        }
        self.etag = etag.ok_or_else(|| Failure::new(what.to_owned(), "no ETag in the answer"))?;
        serde_json::from_str(&body).context(format_args!("parsing the answer to {what}"))
    }

    async fn report_change(&mut self) -> Result<()> {
        let token = self.token.clone();
        self.command(
            &token,
            "report-organisational-change",
            &json!({
                "change": {"kind": "moved", "new_address": "Prästgatan 12, 831 31 Östersund"},
                "effective_on": Utc::now().date_naive().to_string(),
                "description": "The unit moves to new premises."
            }),
        )
        .await
        .map(drop)
    }
}

/// Opens a connection and walks a new case to the establishment phase.
async fn open_case(base: &str, provider: &Arc<str>, officer: &str, n: usize) -> Result<Connection> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .context("building an HTTP client")?;
    let mut connection = Connection {
        client,
        base: base.to_owned(),
        token: provider.clone(),
        case: String::new(),
        etag: String::new(),
    };
    let answer = connection
        .client
        .post(format!("{base}/v1/cases"))
        .header(AUTHORIZATION, format!("Bearer {provider}"))
        .header("Idempotency-Key", format!("bench-application-{n}"))
        .json(&json!({
            "programme": "jamtland-halsoval",
            "unit_name": format!("Brunflo Vårdcentral {n}"),
            "org_number": ORG,
            "service_packages": ["vardutbud-bas", "stodapplikationer"],
            "workstations": 8,
            "listed_patients": 3500,
            "contacts": [
                {"role": "it_contact", "name": "Karin Lindqvist", "email": "karin@brunflovc.se"},
                {"role": "system_administrator", "name": "Jonas Ek", "email": "jonas@brunflovc.se"}
            ],
            "requested_go_live": "2030-01-15",
            "call_measurement_system": "Telia Touchpoint"
        }))
        .send()
        .await
        .context("submitting an application")?;
    let created = connection
        .take("submit-application", answer, StatusCode::CREATED)
        .await?;
    connection.case = created
        .get("case_id")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::new("submit-application", "no case_id in the answer"))?
        .to_owned();
    connection
        .command(
            officer,
            "approve-application",
            &json!({"reason": "The application is complete."}),
        )
        .await?;
    connection
        .command(
            officer,
            "sign-contract",
            &json!({"signed_on": Utc::now().date_naive().to_string(), "document": "RS 2026/114"}),
        )
        .await?;
    Ok(connection)
}

/// What one HTTP round did.
struct HttpRound {
    requests: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// The highest `VmRSS` sampled during the round, MiB.
    peak_rss: f64,
    /// The server's CPU time per request, and how busy the machine was.
    cpu: CpuUse,
}

/// Drives every connection for `duration`, sampling the server's memory.
async fn http_round(
    connections: Vec<Connection>,
    pid: u32,
    duration: Duration,
) -> Result<(Vec<Connection>, HttpRound)> {
    let barrier = Arc::new(Barrier::new(connections.len() + 1));
    let mut tasks = JoinSet::new();
    for mut connection in connections {
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            let deadline = Instant::now() + duration;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                connection.report_change().await?;
                latencies.push(sent.elapsed());
            }
            Ok::<_, Failure>((connection, latencies))
        });
    }
    let sampling = Arc::new(AtomicBool::new(true));
    let peak_kib = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sampling, peak_kib) = (sampling.clone(), peak_kib.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Ok((rss, _)) = resident(pid) {
                    // MiB to KiB, kept as an integer for the atomic.
                    #[expect(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "a resident set in KiB, positive and far below u64::MAX"
                    )]
                    peak_kib.fetch_max((rss * 1024.0) as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    barrier.wait().await;
    let started = Instant::now();
    let meter = CpuMeter::start(pid)?;
    let mut back = Vec::new();
    let mut latencies = Vec::new();
    let mut failure = None;
    while let Some(done) = tasks.join_next().await {
        match done.map_err(|e| Failure::new("an HTTP connection's task", e.to_string())) {
            Ok(Ok((connection, mut own))) => {
                back.push(connection);
                latencies.append(&mut own);
            }
            Ok(Err(error)) | Err(error) => failure = Some(error),
        }
    }
    let elapsed = started.elapsed();
    let cpu = meter.stop(latencies.len() as u64)?;
    sampling.store(false, Ordering::Relaxed);
    drop(sampler.await);
    if let Some(error) = failure {
        return Err(error);
    }
    // The sampled peak comes back from KiB.
    #[expect(
        clippy::cast_precision_loss,
        reason = "a count or a duration as f64 for a rate or a percentage: far below 2^52, where f64 is exact"
    )]
    let peak_rss = peak_kib.load(Ordering::Relaxed) as f64 / 1024.0;
    Ok((
        back,
        HttpRound {
            requests: latencies.len() as u64,
            elapsed,
            latencies,
            peak_rss,
            cpu,
        },
    ))
}

/// Opens a connection to baseline (d) on a fresh unit, at version 0.
fn open_unit(base: &str, provider: &Arc<str>) -> Result<Connection> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .context("building an HTTP client")?;
    Ok(Connection {
        client,
        base: base.to_owned(),
        token: provider.clone(),
        case: Uuid::now_v7().to_string(),
        etag: "\"0\"".to_owned(),
    })
}

/// The figures of one HTTP server over the measured rounds.
#[derive(Default)]
struct HttpFigures {
    rates: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    cpu: Vec<f64>,
    busy: Vec<f64>,
    peaks: Vec<f64>,
}

/// One measured HTTP round against `pid`, recorded in `figures`, then a wait until the
/// server is idle.
async fn measure_http(
    what: &str,
    connections: Vec<Connection>,
    pid: u32,
    round: Duration,
    r: usize,
    figures: &mut HttpFigures,
) -> Result<Vec<Connection>> {
    let (back, mut done) = http_round(connections, pid, round).await?;
    let (p50, p99) = p50_p99(&mut done.latencies);
    let per_second = rate(done.requests, done.elapsed);
    let (deferred, settled) = settle(pid).await?;
    eprintln!(
        "http: round {}, {what}, {CONNECTIONS} connections: {per_second:.0} requests/s, \
         p50 {p50:.1} ms, p99 {p99:.1} ms, peak RSS {:.1} MiB, \
         server CPU {:.2} ms/request, machine {:.0}% busy; \
         then {deferred:.0} ms CPU in {:.1} s until idle",
        r + 1,
        done.peak_rss,
        done.cpu.per_operation_ms,
        done.cpu.machine_busy,
        settled.as_secs_f64()
    );
    // Everything the server does for a request counts, the background work it deferred past
    // the round (projectors, outbox, audit catching up) included.
    #[expect(
        clippy::cast_precision_loss,
        reason = "a request count as f64 for a per-request share: far below 2^52"
    )]
    let deferred_per_request = deferred / done.requests.max(1) as f64;
    figures
        .cpu
        .push(done.cpu.per_operation_ms + deferred_per_request);
    figures.busy.push(done.cpu.machine_busy);
    figures.rates.push(per_second);
    figures.p50.push(p50);
    figures.p99.push(p99);
    figures.peaks.push(done.peak_rss);
    Ok(back)
}

/// What a round measures, in the order of even rounds (odd rounds reverse it).
#[derive(Debug, Clone, Copy)]
enum Step {
    Anslut,
    StoreLevel,
    Baseline,
}

/// The end-to-end and memory rows.
pub async fn run(
    server: &Server,
    binary: &Path,
    baseline_binary: &Path,
    harness: &Harness,
    warmup: Duration,
    round: Duration,
    rounds: usize,
) -> Result<Vec<Row>> {
    let url = server.create("http").await?;
    let anslut = Anslut::start(binary, url).await?;
    let pid = anslut.child.id();
    // Idle: started and ready, nothing asked of it yet but the readiness probes.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_rss, _) = anslut.memory()?;
    eprintln!("http: anslut serve (pid {pid}) idle at {idle_rss:.1} MiB");
    let baseline = Baseline::start(server, baseline_binary).await?;
    let baseline_pid = baseline.child.id();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (baseline_idle, _) = resident(baseline_pid)?;
    eprintln!("http: baseline (d) server (pid {baseline_pid}) idle at {baseline_idle:.1} MiB");

    let provider: Arc<str> = anslut.token("provider", Some(ORG))?.into();
    let officer = anslut.token("officer", None)?;
    let mut connections = Vec::new();
    for n in 0..CONNECTIONS {
        connections.push(open_case(&anslut.base, &provider, &officer, n).await?);
    }
    let mut units = Vec::new();
    for _ in 0..CONNECTIONS {
        units.push(open_unit(&baseline.base, &provider)?);
    }
    let store_level = harness.anslut();
    let store_round = |label: String| {
        let drivers = (0..CONNECTIONS)
            .map(|task| Driver::Anslut {
                cqrs: store_level.clone(),
                id: format!("{label}-{task}"),
            })
            .collect();
        crate::append::drive(drivers, round)
    };

    let (warm, _) = http_round(connections, pid, warmup).await?;
    connections = warm;
    settle(pid).await?;
    let (warm, _) = http_round(units, baseline_pid, warmup).await?;
    units = warm;
    settle(baseline_pid).await?;
    let mut http = HttpFigures::default();
    let mut base = HttpFigures::default();
    let (mut store_rates, mut store_p50, mut store_p99) = (vec![], vec![], vec![]);
    let (mut store_cpu, mut store_busy) = (vec![], vec![]);
    for r in 0..rounds {
        let mut order = [Step::Anslut, Step::StoreLevel, Step::Baseline];
        if r % 2 == 1 {
            order.reverse();
        }
        for step in order {
            match step {
                Step::Anslut => {
                    connections =
                        measure_http("anslut serve", connections, pid, round, r, &mut http).await?;
                }
                Step::Baseline => {
                    units = measure_http("baseline (d)", units, baseline_pid, round, r, &mut base)
                        .await?;
                }
                Step::StoreLevel => {
                    let meter = CpuMeter::start(std::process::id())?;
                    let mut done = store_round(format!("http-r{r}")).await?;
                    let cpu = meter.stop(done.events)?;
                    let (p50, p99) = p50_p99(&mut done.latencies);
                    eprintln!(
                        "http: round {}, store level (c) at {CONNECTIONS} streams: {:.0} events/s, \
                         p50 {p50:.1} ms, p99 {p99:.1} ms, in-process CPU {:.2} ms/command, \
                         machine {:.0}% busy",
                        r + 1,
                        done.per_second(),
                        cpu.per_operation_ms,
                        cpu.machine_busy
                    );
                    store_cpu.push(cpu.per_operation_ms);
                    store_busy.push(cpu.machine_busy);
                    store_rates.push(done.per_second());
                    store_p50.push(p50);
                    store_p99.push(p99);
                }
            }
        }
    }
    let (_, peak_hwm) = anslut.memory()?;
    let (_, baseline_hwm) = resident(baseline_pid)?;
    eprintln!(
        "http: VmHWM (peak resident): anslut serve {peak_hwm:.1} MiB, \
         baseline (d) {baseline_hwm:.1} MiB"
    );
    drop(connections);
    drop(units);
    drop(anslut);
    drop(baseline);

    let store_label = "(c) Anslut store level, 16 streams";
    let d = "(d) actix-web + postgres-es";
    let served = "requests through anslut serve, 16 connections";
    Ok(vec![
        Row::new("http", served, "req/s", &http.rates).against(store_label, &store_rates),
        Row::new(
            "http",
            format!("{d} server, 16 connections"),
            "req/s",
            &base.rates,
        ),
        Row::new("http", served, "req/s", &http.rates)
            .against(format!("{d} [http/d]"), &base.rates),
        Row::new("http", "p50 latency through anslut serve", "ms", &http.p50)
            .against("(c) p50, 16 streams", &store_p50),
        Row::new("http", "p99 latency through anslut serve", "ms", &http.p99)
            .against("(c) p99, 16 streams", &store_p99),
        Row::new("http", format!("{d} p50 latency"), "ms", &base.p50),
        Row::new("http", "p50 latency through anslut serve", "ms", &http.p50)
            .against(format!("{d} p50"), &base.p50),
        Row::new("http", format!("{d} p99 latency"), "ms", &base.p99),
        Row::new("http", "p99 latency through anslut serve", "ms", &http.p99)
            .against(format!("{d} p99"), &base.p99),
        Row::new("http", "anslut serve CPU time per request", "ms", &http.cpu)
            .against("(c) bench process CPU per command", &store_cpu),
        Row::new(
            "http",
            format!("{d} server CPU time per request"),
            "ms",
            &base.cpu,
        ),
        Row::new("http", "anslut serve CPU time per request", "ms", &http.cpu)
            .against(format!("{d} CPU per request"), &base.cpu),
        Row::new(
            "http",
            "machine CPU busy during HTTP rounds",
            "%",
            &http.busy,
        )
        .against("busy during (c) rounds", &store_busy),
        Row::new(
            "http",
            "machine CPU busy during HTTP rounds",
            "%",
            &http.busy,
        )
        .against("busy during (d) rounds", &base.busy),
        Row::new(
            "memory",
            "anslut serve resident, idle after start",
            "MiB",
            &[idle_rss],
        ),
        Row::new(
            "memory",
            "anslut serve resident, peak under load",
            "MiB",
            &http.peaks,
        )
        .against("idle after start", &[idle_rss]),
        Row::new(
            "memory",
            "anslut serve VmHWM (kernel's peak) at the end",
            "MiB",
            &[peak_hwm],
        )
        .against("idle after start", &[idle_rss]),
        Row::new(
            "memory",
            format!("{d} server resident, peak under load"),
            "MiB",
            &base.peaks,
        )
        .against("its idle after start", &[baseline_idle]),
        Row::new(
            "memory",
            "anslut serve resident, peak under load",
            "MiB",
            &http.peaks,
        )
        .against(format!("{d} peak under load"), &base.peaks),
    ])
}
