//! `anslut`: telemetry, configuration, dispatch.

use std::process::ExitCode;

use api::cli::{self, Cli, Outcome};
use api::telemetry;
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = cli.command.default_log_level();
    if let Err(error) = telemetry::init(telemetry::subscriber(level, std::io::stderr)) {
        eprintln!("anslut: logging could not start: {error}");
        return ExitCode::FAILURE;
    }
    let outcome = actix_web::rt::System::new().block_on(cli::run(cli));
    match outcome {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::ProblemsFound) => ExitCode::from(1),
        Err(error) => {
            tracing::error!(error = %api::problem::cause_chain(&error), "anslut failed");
            eprintln!("anslut: {}", api::problem::cause_chain(&error));
            ExitCode::from(error.exit_code())
        }
    }
}
