//! `anslut`: the command line. `serve` runs the HTTP edge (the `api` crate); the other
//! subcommands are an operator's: migrate, token, catalogues, openapi, audit, projections,
//! privacy. This crate holds the parsing, the dispatch and each subcommand's own output; what
//! they open and run is `api`'s (its application layer and startup).

#![forbid(unsafe_code)]

mod audit_command;
mod cli;
mod privacy_command;
mod projections_command;

use std::process::ExitCode;

use api::telemetry;
use clap::Parser;
use cli::{Cli, Outcome};

/// mimalloc rather than the system's malloc: the store and the projections build and drop
/// pages of JSON trees whole, where glibc's allocator spent a third of a rebuild's fold and
/// two-fifths of `read_all` (ARCHITECTURE.md, "Dependencies").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = cli.command.default_log_level();
    if let Err(error) = telemetry::init(telemetry::subscriber(level, std::io::stderr)) {
        eprintln!("anslut: logging could not start: {error}");
        return ExitCode::FAILURE;
    }
    // The topology (ARCHITECTURE.md, "Runtime topology"): the command line and everything
    // `anslut serve` starts in the background (the store's group-commit writer, the
    // projectors, the audit follower, the feed pump, the webhook workers) run on a
    // multi-thread runtime, one worker per core; the HTTP workers run on their own threads,
    // one current-thread runtime each, as actix-web does.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("anslut-background")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("anslut: the runtime could not start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = actix_web::rt::System::with_tokio_rt(|| runtime).block_on(cli::run(cli));
    match outcome {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::ProblemsFound) => ExitCode::from(1),
        Err(error) => {
            tracing::error!(error = %api::cause_chain(&error), "anslut failed");
            eprintln!("anslut: {}", api::cause_chain(&error));
            ExitCode::from(error.exit_code())
        }
    }
}
