//! Harness for Anslut's system tests: real `anslut` processes on a real PostgreSQL database,
//! driven over HTTP and through the command line, as an operator would run them.
//!
//! * [`anslut_binary`] builds the `anslut` binary once per test process and finds it in the
//!   workspace's target directory, honouring `CARGO_TARGET_DIR`. It builds what `cargo test
//!   --workspace` builds (`--no-run`), so inside that run (or nextest's) it is a no-op and
//!   the binary is the very one the api crate's tests run: building it with other features
//!   would rebuild half the workspace and replace the binary under tests that use it.
//! * A [`Deployment`] is what instances share: a fresh PostgreSQL database
//!   (`store::testing::TestDatabase`, dropped at the end) and a data directory, so that every
//!   instance has the same development signing, subject and checkpoint keys.
//! * [`Deployment::serve`] starts `anslut serve` on a free port (the server picks it; the
//!   harness reads it from the log), with its standard error captured to a file, and returns
//!   once `/readyz` answers 200. The [`Server`] it returns kills the process when dropped, also
//!   when a test fails, and then prints the end of its log.
//! * [`Deployment::anslut`] runs any other `anslut` command against the deployment;
//!   [`Deployment::token`] mints development tokens with it.
//!
//! * [`Cluster`] is a throwaway PostgreSQL cluster of a test's own (initdb and pg_ctl, on a
//!   free port, stopped when dropped), for tests that stop and start the database itself;
//!   [`Deployment::on_cluster`] deploys on it.
//! * Logs are scanned for secrets: every token [`Deployment::token`] mints and every
//!   personnummer a test names with [`Deployment::forbid_personnummer`] must be absent from
//!   every instance's log ([`Deployment::assert_logs_clean`], also run when the deployment is
//!   dropped at the end of a test that has not already failed).
//!
//! Start a deployment's instances one after another (each `serve` waits until its instance is
//! ready): the first one generates the keys in the shared data directory.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use store::testing::TestDatabase;
use store::{EventStore, StoreOptions};

/// The operations token every instance is started with (`ANSLUT_OPS__TOKEN`): `/metrics`
/// answers only with it.
pub const OPS_TOKEN: &str = "system-test-operations-token-0123456789";

/// How long an instance may take to start and become ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace's root directory.
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
}

/// The `anslut` binary, built once per test process.
///
/// # Panics
/// When the build fails.
pub fn anslut_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["test", "--workspace", "--no-run", "--quiet"])
            .current_dir(workspace());
        // What cargo sets for the test process itself: build scripts that watch these would
        // see another package and build again.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_BIN_",
                "CARGO_CRATE_",
            ]
            .iter()
            .any(|prefix| key.starts_with(prefix))
                || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"].contains(&&*key)
            {
                build.env_remove(&*key);
            }
        }
        let status = build.status().expect("running cargo");
        assert!(status.success(), "cargo test --workspace --no-run failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| workspace().join("target"), |dir| workspace().join(dir));
        let binary = target.join("debug").join("anslut");
        assert!(binary.exists(), "no binary at {}", binary.display());
        binary
    })
}

/// What the instances of one deployment share: a database and a data directory.
pub struct Deployment {
    /// The fresh database on the shared server; `None` on a [`Cluster`] of the test's own.
    database: Option<TestDatabase>,
    database_url: String,
    data_dir: tempfile::TempDir,
    /// What no log may contain: the tokens minted, the personnummer used.
    secrets: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("database", &self.database_url)
            .field("data_dir", &self.data_dir.path())
            // The secrets the logs are scanned for are never printed.
            .finish_non_exhaustive()
    }
}

impl Deployment {
    /// A deployment on a fresh PostgreSQL database (see `store::testing` for which server).
    /// Also installs the TLS provider HTTP clients need (reqwest is built without one).
    pub async fn postgres() -> Self {
        // Already installed by an earlier deployment of this process: fine.
        drop(rustls::crypto::ring::default_provider().install_default());
        anslut_binary();
        let database = TestDatabase::postgres().await;
        Self {
            database_url: database.url().to_owned(),
            database: Some(database),
            data_dir: tempfile::tempdir().expect("a temporary data directory"),
            secrets: Mutex::new(Vec::new()),
        }
    }

    /// A deployment on a [`Cluster`]'s `postgres` database.
    pub fn on_cluster(cluster: &Cluster) -> Self {
        Self::on_url(cluster.url())
    }

    /// A deployment on the database at `url`, which the test set up (a cluster of its own,
    /// or a proxy in front of one).
    pub fn on_url(url: String) -> Self {
        drop(rustls::crypto::ring::default_provider().install_default());
        anslut_binary();
        Self {
            database: None,
            database_url: url,
            data_dir: tempfile::tempdir().expect("a temporary data directory"),
            secrets: Mutex::new(Vec::new()),
        }
    }

    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Forbids `personnummer` (given as `YYYYMMDD-NNNN`) in the logs, in every form it can
    /// be written: with and without the century, with and without the dash.
    pub fn forbid_personnummer(&self, personnummer: &str) {
        let digits: String = personnummer.chars().filter(char::is_ascii_digit).collect();
        assert_eq!(digits.len(), 12, "a personnummer as YYYYMMDD-NNNN");
        let (date, number) = digits.split_at(8);
        let mut secrets = self.secrets.lock().unwrap();
        // `YYMMDD-NNNN` is also found inside `YYYYMMDD-NNNN`.
        secrets.push(format!("{}-{number}", &date[2..]));
        secrets.push(format!("{}+{number}", &date[2..]));
        secrets.push(format!("{date}{number}"));
        secrets.push(format!("{}{number}", &date[2..]));
    }

    /// Forbids `secret` in the logs.
    pub fn forbid_in_logs(&self, secret: &str) {
        self.secrets.lock().unwrap().push(secret.to_owned());
    }

    /// Every instance's log so far, by file name.
    pub fn logs(&self) -> Vec<(String, String)> {
        let mut logs: Vec<(String, String)> = std::fs::read_dir(self.data_dir())
            .expect("reading the data directory")
            .filter_map(Result::ok)
            .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "log"))
            .map(|entry| {
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(entry.path()).unwrap_or_default(),
                )
            })
            .collect();
        logs.sort();
        logs
    }

    /// Panics when a log holds a minted token or a forbidden personnummer; returns how many
    /// log lines were scanned.
    ///
    /// # Panics
    /// When a secret is found (the message names the log and line, never the secret).
    pub fn assert_logs_clean(&self) -> usize {
        let secrets = self.secrets.lock().unwrap().clone();
        let mut lines = 0;
        for (name, log) in self.logs() {
            for (number, line) in log.lines().enumerate() {
                lines += 1;
                let found = secrets
                    .iter()
                    .position(|secret| line.contains(secret.as_str()));
                assert!(
                    found.is_none(),
                    "{name} line {}: holds forbidden secret #{} (a token or personnummer)",
                    number + 1,
                    found.unwrap_or_default()
                );
            }
        }
        lines
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The event store, read directly: what a test checks the log with.
    pub async fn store(&self) -> EventStore {
        if let Some(database) = &self.database {
            return database.store().await;
        }
        let store = EventStore::connect(&self.database_url, StoreOptions::default())
            .await
            .expect("connecting to the cluster");
        store
            .migrate()
            .await
            .expect("migrating the cluster's database");
        store
    }

    /// An `anslut` command configured for this deployment: its database and data directory,
    /// and no `ANSLUT_*` settings from the test's own environment.
    pub fn command(&self) -> Command {
        let mut command = Command::new(anslut_binary());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ANSLUT_") {
                command.env_remove(key);
            }
        }
        command
            .env("DATABASE_URL", self.database_url())
            .env("ANSLUT_DATA_DIR", self.data_dir())
            .stdin(Stdio::null());
        command
    }

    /// Runs `anslut ARGS` to completion.
    pub fn anslut(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("running anslut")
    }

    /// A development token for a role in a region (and for providers, an organisation).
    ///
    /// # Panics
    /// When `anslut token` fails.
    pub fn token(&self, role: &str, region: &str, org: Option<&str>) -> String {
        let mut args = vec!["token", "--role", role, "--region", region];
        if let Some(org) = org {
            args.extend(["--org", org]);
        }
        let output = self.anslut(&args);
        assert!(
            output.status.success(),
            "anslut token: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        self.forbid_in_logs(&token);
        // The signature alone is as good as the token to whoever holds the rest.
        if let Some(signature) = token.rsplit('.').next().filter(|s| s.len() >= 16) {
            self.forbid_in_logs(signature);
        }
        token
    }

    /// Starts `anslut serve` as the instance `name` and waits until it is ready.
    pub async fn serve(&self, name: &str) -> Server {
        self.serve_with(name, &[]).await
    }

    /// Like [`Deployment::serve`], with extra environment (e.g. `ANSLUT_PROJECTIONS__...`).
    ///
    /// # Panics
    /// When the instance exits or is not ready within a minute; the panic shows its log.
    pub async fn serve_with(&self, name: &str, env: &[(&str, &str)]) -> Server {
        self.serve_args(name, &[], env).await
    }

    /// Like [`Deployment::serve_with`], with extra arguments to `anslut serve` (`--demo`;
    /// `--port N` instead of a port the system chooses).
    ///
    /// # Panics
    /// When the instance exits or is not ready within a minute; the panic shows its log.
    pub async fn serve_args(&self, name: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        let log = self.data_dir().join(format!("{name}.log"));
        let stderr = File::create(&log).expect("creating the log file");
        let mut command = self.command();
        command.arg("serve");
        if !args.contains(&"--port") {
            command.args(["--port", "0"]);
        }
        command
            .args(args)
            .env("ANSLUT_HOST", "127.0.0.1")
            .env("ANSLUT_SHUTDOWN_TIMEOUT_SECONDS", "1")
            .env("RUST_LOG", "info")
            .env("ANSLUT_OPS__TOKEN", OPS_TOKEN)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = command.spawn().expect("starting anslut serve");
        let mut server = Server {
            name: name.to_owned(),
            child: Some(child),
            address: String::new(),
            log,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        server.address = loop {
            if let Some(address) = server.served_address() {
                break address;
            }
            server.assert_running();
            assert!(
                Instant::now() < deadline,
                "{name} did not start in time:\n{}",
                server.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        while !server.is_ready().await {
            server.assert_running();
            assert!(
                Instant::now() < deadline,
                "{name} was not ready in time:\n{}",
                server.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_logs_clean();
        }
    }
}

/// A running `anslut serve`. Dropping it kills the process.
pub struct Server {
    name: String,
    child: Option<Child>,
    address: String,
    log: PathBuf,
    client: reqwest::Client,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("name", &self.name)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Server {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `http://127.0.0.1:PORT`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Kills the process with SIGKILL (no shutdown, no goodbye) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.kill());
            drop(child.wait());
        }
    }

    /// `/readyz` answers 200.
    pub async fn is_ready(&self) -> bool {
        self.client
            .get(self.url("/readyz"))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
    }

    /// The samples of `/metrics` named `metric`, as printed, by their `projection` label (or
    /// the whole label set when there is none).
    pub async fn metric(&self, metric: &str) -> BTreeMap<String, String> {
        let text = self
            .client
            .get(self.url("/metrics"))
            .bearer_auth(OPS_TOKEN)
            .send()
            .await
            .expect("the metrics answer")
            .text()
            .await
            .expect("the metrics' text");
        parse_metric(&text, metric)
    }

    /// The projections this instance leads, by `anslut_projection_leader`.
    pub async fn leads(&self) -> Vec<String> {
        self.metric("anslut_projection_leader")
            .await
            .into_iter()
            .filter(|(_, value)| value == "1")
            .map(|(projection, _)| projection)
            .collect()
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The address the server logged when it started serving.
    fn served_address(&self) -> Option<String> {
        let file = File::open(&self.log).ok()?;
        BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                let entry: Value = serde_json::from_str(&line).ok()?;
                (entry["message"] == "Anslut is serving")
                    .then(|| entry["address"].as_str().map(str::to_owned))
                    .flatten()
            })
    }

    fn assert_running(&mut self) {
        assert!(
            self.is_running(),
            "{} exited:\n{}",
            self.name,
            self.log_tail(40)
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- the end of {}'s log ({}):\n{}",
                self.name,
                self.log.display(),
                self.log_tail(30)
            );
        }
    }
}

/// A throwaway PostgreSQL cluster of one test's own: `initdb` into a temporary directory and
/// `pg_ctl start` on a free loopback port, with the binaries of the newest
/// `/usr/lib/postgresql/*/bin` (or `initdb` on the `PATH`), as `scripts/lib/postgres.sh`
/// does. Run as root, the cluster belongs to the `postgres` system user (initdb refuses
/// root). Dropping it stops it (`-m immediate`), also when the test fails. The shared
/// server on 127.0.0.1:5432 is never touched.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// The user that owns the cluster when the test runs as root.
    owner: Option<&'static str>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Initialises and starts a cluster.
    ///
    /// # Panics
    /// When no PostgreSQL binaries are installed or the cluster does not start.
    pub fn start() -> Self {
        let bin = postgres_bin().expect(
            "no PostgreSQL binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on the PATH",
        );
        let dir = tempfile::tempdir().expect("a directory for the cluster");
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
        let owner = root.then_some("postgres");
        if let Some(owner) = owner {
            let status = Command::new("chown")
                .args(["-R", owner])
                .arg(dir.path())
                .status()
                .expect("running chown");
            assert!(status.success(), "chown {owner} {}", dir.path().display());
            // Every directory above the cluster must be traversable by its owner.
            for ancestor in dir.path().ancestors().skip(1) {
                drop(Command::new("chmod").arg("o+x").arg(ancestor).status());
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let cluster = Self {
            dir,
            bin,
            port,
            owner,
        };
        let data = cluster.data_dir();
        let output = cluster
            .tool("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
            ])
            .output()
            .expect("running initdb");
        assert!(
            output.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        cluster.start_again();
        cluster
    }

    /// The admin URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub const fn port(&self) -> u16 {
        self.port
    }

    /// Starts the (stopped) cluster again on its port and waits until it accepts connections.
    ///
    /// # Panics
    /// When it does not start within a minute.
    pub fn start_again(&self) {
        let socket = self.dir.path().display().to_string();
        let options = format!(
            "-p {} -k {socket} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off",
            self.port
        );
        let output = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .output()
            .expect("running pg_ctl start");
        assert!(
            output.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&output.stderr),
            self.server_log()
        );
    }

    /// Stops the cluster with `pg_ctl stop -m MODE` (`fast`: sessions are ended, the
    /// cluster shuts down cleanly; `immediate`: like a crash) and waits until it has.
    ///
    /// # Panics
    /// When pg_ctl fails.
    pub fn stop(&self, mode: &str) {
        let output = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", mode, "-w", "-t", "60", "stop"])
            .output()
            .expect("running pg_ctl stop");
        assert!(
            output.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The cluster's own log.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        let mut command = if let Some(owner) = self.owner {
            let mut command = Command::new("runuser");
            command.args(["-u", owner, "--"]).arg(path);
            command
        } else {
            Command::new(path)
        };
        command.stdin(Stdio::null());
        command
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data_dir().join("postmaster.pid").exists() {
            drop(
                self.tool("pg_ctl")
                    .arg("-D")
                    .arg(self.data_dir())
                    .args(["-m", "immediate", "-w", "stop"])
                    .output(),
            );
        }
    }
}

/// The directory of the newest installed `initdb` and `pg_ctl`.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let which = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .ok()?;
    let initdb = PathBuf::from(String::from_utf8_lossy(&which.stdout).trim());
    initdb
        .parent()
        .map(Path::to_path_buf)
        .filter(|dir| dir.join("pg_ctl").exists())
}

/// The samples of `metric` in a Prometheus text exposition, as printed, keyed by their
/// `projection` label value, or by the label set when there is no such label.
pub fn parse_metric(text: &str, metric: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let labels = series.strip_prefix(metric)?;
            if !(labels.is_empty() || labels.starts_with('{')) {
                return None;
            }
            let key = labels
                .split("projection=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map_or_else(|| labels.to_owned(), str::to_owned);
            Some((key, value.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_read_by_their_projection_label() {
        let text = "# TYPE anslut_projection_leader gauge\n\
                    anslut_projection_leader{projection=\"costs\"} 1\n\
                    anslut_projection_leader{projection=\"findings\"} 0\n\
                    anslut_projection_leader_other{projection=\"costs\"} 7\n\
                    anslut_command_conflicts_total 3\n";
        let leader = parse_metric(text, "anslut_projection_leader");
        assert_eq!(leader.len(), 2);
        assert_eq!(leader["costs"], "1");
        assert_eq!(leader["findings"], "0");
        assert_eq!(
            parse_metric(text, "anslut_command_conflicts_total")[""],
            "3"
        );
    }
}
