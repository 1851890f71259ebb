//! Anslut's benchmarks: every figure next to a baseline measured in the same run, because
//! the machines are shared and noisy. Run through `scripts/bench [--quick]`, which finds or
//! starts PostgreSQL, builds this crate and the `anslut` binary in release mode, and cleans
//! up the databases whatever happens.
//!
//! Cases (each module's docs say exactly what it measures and how):
//! * `append` — events/s at 1, 4 and 16 streams: (a) raw INSERT ceiling, (b) postgres-es,
//!   (c) Anslut through `CqrsFramework`; c/a and c/b.
//! * `http` — commands through `anslut serve` at 16 connections against the store level and
//!   against (d), an actix-web handler over postgres-es's `CqrsFramework` (the
//!   `bench-baseline-server` binary of this crate) driven the same way; `memory` — their
//!   resident memory idle and under that load.
//! * `freshness` — commit to visible in the projections, idle and under the append load.
//! * `load` — loading a 10,000-event case with snapshots against a 100-event one.
//! * `replay` — rebuilding every projection from a 1,000,000-event log against reading it,
//!   and against reading and decoding it into domain events and counting them.
//!
//! Results: a table on stdout, `bench/results/latest.{json,svg}` (`quick.*` with `--quick`).

#![forbid(unsafe_code)]

mod append;
mod counter;
mod db;
mod error;
mod freshness;
mod history;
mod http;
mod load;
mod replay;
mod report;
mod stats;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::db::Server;
use crate::error::{Context, Result};
use crate::report::{CaseRun, Machine, Report, Row};

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Anslut's benchmarks (run them with scripts/bench)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every case, print the table and write the results.
    Run(RunArgs),
    /// Drop every database a run with this prefix left behind.
    Cleanup {
        #[arg(long)]
        prefix: String,
        /// An admin URL of the PostgreSQL server.
        #[arg(long, env = "ANSLUT_TEST_DATABASE_URL", hide_env_values = true)]
        admin_url: String,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Every case, briefly: checks that the benchmark works, says little about speed.
    #[arg(long)]
    quick: bool,
    /// An admin URL of the PostgreSQL server to create the databases on.
    #[arg(long, env = "ANSLUT_TEST_DATABASE_URL", hide_env_values = true)]
    admin_url: String,
    /// The prefix of this run's database names (a-z, 0-9, _).
    #[arg(long)]
    prefix: String,
    /// The `anslut` binary to start for the end-to-end case (a release build).
    #[arg(long)]
    anslut: PathBuf,
    /// The `bench-baseline-server` binary, baseline (d) of the end-to-end case (built with
    /// the same profile as `anslut`).
    #[arg(long)]
    baseline_server: PathBuf,
    /// Where the JSON and SVG go.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// The commit measured, for the record.
    #[arg(long, default_value = "unknown")]
    commit: String,
    /// Only these cases (comma-separated), for profiling or a before/after comparison; the
    /// results go to `partial.{json,svg}` so that `latest` stays a full run's.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Case>,
    /// The replay case's log size instead of the profile's (1,000,000; --quick 20,000), for
    /// a profile of a rebuild long enough to sample without generating a full log.
    #[arg(long)]
    replay_events: Option<u64>,
}

/// The cases, in the order a run measures them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Case {
    Append,
    Http,
    Freshness,
    Load,
    Replay,
}

impl RunArgs {
    fn measures(&self, case: Case) -> bool {
        self.only.is_empty() || self.only.contains(&case)
    }

    /// The stem of the result files: a full run is `latest`, a quick one `quick`, one of
    /// some cases only (or of another log size) `partial`.
    fn stem(&self) -> &'static str {
        match (
            self.quick,
            self.only.is_empty() && self.replay_events.is_none(),
        ) {
            (true, _) => "quick",
            (false, true) => "latest",
            (false, false) => "partial",
        }
    }
}

/// How long and how often each case measures.
#[derive(Debug, Clone, Copy)]
struct Profile {
    append_warmup: Duration,
    append_round: Duration,
    append_rounds: usize,
    http_warmup: Duration,
    http_round: Duration,
    http_rounds: usize,
    fresh_phase: Duration,
    fresh_rounds: usize,
    load_rounds: usize,
    loads_per_round: usize,
    replay_events: u64,
    replay_rounds: usize,
}

impl Profile {
    const FULL: Self = Self {
        append_warmup: Duration::from_secs(1),
        append_round: Duration::from_secs(3),
        append_rounds: 3,
        http_warmup: Duration::from_secs(2),
        http_round: Duration::from_secs(5),
        http_rounds: 4,
        fresh_phase: Duration::from_secs(5),
        fresh_rounds: 3,
        load_rounds: 5,
        loads_per_round: 20,
        replay_events: 1_000_000,
        replay_rounds: 2,
    };

    const QUICK: Self = Self {
        append_warmup: Duration::from_millis(200),
        append_round: Duration::from_millis(500),
        append_rounds: 1,
        http_warmup: Duration::from_millis(300),
        http_round: Duration::from_secs(1),
        http_rounds: 2,
        fresh_phase: Duration::from_secs(1),
        fresh_rounds: 1,
        load_rounds: 1,
        loads_per_round: 3,
        replay_events: 20_000,
        replay_rounds: 1,
    };
}

/// What each case measures, in a sentence, for the table and the JSON.
const NOTES: [&str; 6] = [
    "append: one event per command, each task its own stream, durable commits; (a) autocommit INSERT into a copy of Anslut's events table (same columns, sizes, indexes), (b) postgres-es 0.5 and (c) Anslut, both via CqrsFramework with the same counter aggregate and snapshots every 50 ((c) also with the aggregate cache anslut serve runs with, 4,096 aggregates); (c') is Anslut's EventStore::append alone. Every in-process figure (append, load, replay, the raw reads) runs on the allocator anslut ships with (mimalloc).",
    "http: report-organisational-change on 16 cases over 16 keep-alive connections to the release anslut serve (If-Match, Idempotency-Key, JSON logs on), rounds interleaved with (c) at 16 streams and with (d): the same requests to bench-baseline-server, one actix-web route executing the command through CqrsFramework over postgres-es 0.5 (snapshots every 50, If-Match checked by the aggregate; no auth, idempotency, logs or projections). CPU per request: the server process's /proc ticks over the round plus what it spent after the round until idle (background work it deferred); for (c) the bench process's.",
    "memory: VmRSS of anslut serve (and of the (d) server) 1 s after it is ready, and the highest VmRSS sampled every 100 ms during the HTTP rounds.",
    "freshness: a probe appends a real case event and waits (Projections::wait_for, woken by the projectors) until all 7 projections have passed it; idle log vs. (c) running at 16 streams alongside.",
    "load: AggregateStore::load_aggregate of the real ConnectionCase (organisational changes, every tenth a staff commitment), median per round.",
    "replay: Projections::rebuild of all 7 read models from position 0 vs. SELECT of the store's columns ORDER BY position in pages of 5,000 with payload and metadata parsed as JSON, and vs. a count-only floor: EventStore::read_all in pages of 5,000, each payload decoded into its domain event as the projections decode it, counted (the projections runtime takes no external projection, so this floor is outside it).",
];

async fn run(args: &RunArgs) -> Result<Report> {
    let mut profile = if args.quick {
        Profile::QUICK
    } else {
        Profile::FULL
    };
    if let Some(events) = args.replay_events {
        profile.replay_events = events;
    }
    let started = Instant::now();
    let server = Server::new(&args.admin_url, &args.prefix)?;
    let postgres = server.info().await?;
    eprintln!("bench: {}", postgres.version);
    for (name, value) in &postgres.settings {
        eprintln!("bench:   {name} = {value}");
    }
    let load_at_start = Machine::load_average();
    let outcome = cases(&server, args, profile).await;
    let dropped = server.drop_all().await;
    let (rows, cases) = outcome?;
    eprintln!("bench: dropped {} databases", dropped?.len());
    Ok(Report {
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        commit: args.commit.clone(),
        quick: args.quick,
        machine: Machine {
            cores: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
            load_at_start,
            load_at_end: Machine::load_average(),
            kernel: Machine::kernel(),
        },
        postgres,
        seconds: started.elapsed().as_secs_f64(),
        cases,
        notes: NOTES.iter().map(|n| (*n).to_owned()).collect(),
        rows,
    })
}

/// Runs every case in turn, timing each.
async fn cases(server: &Server, args: &RunArgs, p: Profile) -> Result<(Vec<Row>, Vec<CaseRun>)> {
    let mut rows = Vec::new();
    let mut runs = Vec::new();
    let mut timed = |case: &'static str, started: Instant, load_before: f64, mut new: Vec<Row>| {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("bench: {case} took {seconds:.1} s");
        runs.push(CaseRun {
            case,
            seconds,
            load_before,
        });
        rows.append(&mut new);
    };
    let load_now = || Machine::load_average()[0];

    if args.measures(Case::Append) || args.measures(Case::Http) {
        let harness = append::Harness::new(server).await?;
        if args.measures(Case::Append) {
            let (t, l) = (Instant::now(), load_now());
            let new = harness
                .run(p.append_warmup, p.append_round, p.append_rounds)
                .await?;
            timed("append", t, l, new);
        }
        if args.measures(Case::Http) {
            let (t, l) = (Instant::now(), load_now());
            let new = http::run(
                server,
                &args.anslut,
                &args.baseline_server,
                &harness,
                p.http_warmup,
                p.http_round,
                p.http_rounds,
            )
            .await?;
            timed("http", t, l, new);
        }
        harness.verify().await?;
    }

    if args.measures(Case::Freshness) {
        let (t, l) = (Instant::now(), load_now());
        let new = freshness::run(server, p.fresh_rounds, p.fresh_phase).await?;
        timed("freshness", t, l, new);
    }

    if args.measures(Case::Load) {
        let (t, l) = (Instant::now(), load_now());
        let new = load::run(server, p.load_rounds, p.loads_per_round).await?;
        timed("load", t, l, new);
    }

    if args.measures(Case::Replay) {
        let (t, l) = (Instant::now(), load_now());
        let new = replay::run(server, p.replay_events, p.replay_rounds).await?;
        timed("replay", t, l, new);
    }
    Ok((rows, runs))
}

/// The allocator `anslut` ships with (its `main.rs`), so that what this process measures of
/// the store and the projections is what the product does; the in-process baselines (the raw
/// read, postgres-es) run on it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // reqwest's rustls needs a crypto provider, though the benchmark only speaks plain HTTP
    // to 127.0.0.1.
    drop(rustls::crypto::ring::default_provider().install_default());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench: starting the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome: Result<()> = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => {
                let report = run(&args).await?;
                let stem = args.stem();
                report.write(&args.out, stem)?;
                let table = report.table();
                std::io::stdout()
                    .lock()
                    .write_all(table.as_bytes())
                    .context("printing the table")?;
                eprintln!(
                    "bench: wrote {}",
                    args.out.join(format!("{stem}.{{json,svg}}")).display()
                );
                Ok(())
            }
            Command::Cleanup { prefix, admin_url } => {
                let dropped = Server::new(&admin_url, &prefix)?.drop_all().await?;
                if !dropped.is_empty() {
                    eprintln!("bench: dropped {}", dropped.join(", "));
                }
                Ok(())
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: {error}");
            ExitCode::FAILURE
        }
    }
}
