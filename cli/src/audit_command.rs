//! `anslut audit`: verify the log, sign a checkpoint, export a case with proofs, check an
//! export offline, print the verifier key.
//!
//! Exit codes: 0 when the log or export checks out (and for the other commands on success),
//! 1 when problems were found, 2 when the command could not run.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use audit::{AuditProblem, ExportReport, Report, VerifierKey, verify_export};
use clap::Subcommand;
use cqrs_es::Aggregate;
use domain::case::ConnectionCase;
use store::StreamRef;
use uuid::Uuid;

use crate::cli::{CliError, Outcome};
use api::application::checkpoints;
use api::config::Settings;
use api::startup;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the per-stream hash chains, the Merkle tree and every signed checkpoint against
    /// each other, and name the first bad event. Exit 0 intact, 1 problems found, 2 error.
    Verify {
        /// A signed checkpoint note kept outside the database (e.g. one fetched earlier
        /// from /v1/audit/checkpoint), checked as well. Repeatable.
        #[arg(long = "checkpoint", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
    },
    /// Bring the tree up to the head of the log, sign a checkpoint now and print its note.
    Checkpoint,
    /// Write a case's history as JSON Lines with an inclusion proof per event and the
    /// signed checkpoint they lead to.
    Export {
        /// The case id.
        case_id: Uuid,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Check an export with nothing but the file and the verifier key: no database, no
    /// configuration. Exit 0 valid, 1 not valid, 2 error.
    VerifyExport {
        /// The export (JSON Lines).
        file: PathBuf,
        /// The verifier key (`name+keyid+key`, as /.well-known/anslut-checkpoint-key
        /// gives it), or a file holding it.
        #[arg(long, value_name = "VKEY")]
        key: String,
    },
    /// Print the verifier key of the checkpoint signing key.
    Key,
}

/// Runs an audit command. `verify-export` reads no configuration at all.
pub async fn run(config: Option<&Path>, command: AuditCommand) -> Result<Outcome, CliError> {
    let settings = || Settings::load(config);
    match command {
        AuditCommand::VerifyExport { file, key } => check_export(&file, &key),
        AuditCommand::Key => {
            let signer = checkpoints::signer(&settings()?)?;
            writeln!(std::io::stdout().lock(), "{}", signer.verifier_key())?;
            Ok(Outcome::Done)
        }
        AuditCommand::Verify { checkpoints } => {
            let notes = checkpoints
                .iter()
                .map(|path| {
                    std::fs::read_to_string(path).map_err(|error| {
                        CliError::Usage(format!("reading {}: {error}", path.display()))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let auditor = open(&settings()?).await?;
            let report = auditor.verify_with(&notes).await?;
            print_report(&mut std::io::stdout().lock(), &report)?;
            Ok(if report.is_intact() {
                Outcome::Done
            } else {
                Outcome::ProblemsFound
            })
        }
        AuditCommand::Checkpoint => {
            let auditor = open(&settings()?).await?;
            let checkpoint = auditor.checkpoint_now().await?.ok_or_else(|| {
                CliError::Usage("the log is empty: there is nothing to sign".into())
            })?;
            std::io::stdout()
                .lock()
                .write_all(checkpoint.note.as_bytes())?;
            Ok(Outcome::Done)
        }
        AuditCommand::Export { case_id, output } => {
            let auditor = open(&settings()?).await?;
            let stream = StreamRef::new(ConnectionCase::TYPE, case_id.to_string());
            let summary = match &output {
                Some(path) => {
                    let file = File::create(path).map_err(|error| {
                        CliError::Usage(format!("creating {}: {error}", path.display()))
                    })?;
                    auditor.export_stream(&stream, BufWriter::new(file)).await?
                }
                None => {
                    auditor
                        .export_stream(&stream, BufWriter::new(std::io::stdout()))
                        .await?
                }
            };
            tracing::info!(
                case = %case_id,
                events = summary.events,
                tree_size = summary.checkpoint.tree_size,
                "exported the case with inclusion proofs"
            );
            Ok(Outcome::Done)
        }
    }
}

/// The store (migrated) and then the auditor (migrated) of the configured database.
async fn open(settings: &Settings) -> Result<audit::Auditor, CliError> {
    startup::connect_store(settings).await?;
    Ok(checkpoints::open(settings).await?)
}

/// The verifier key given on the command line, or read from the file it names.
fn verifier_key(key: &str) -> Result<VerifierKey, CliError> {
    match key.parse::<VerifierKey>() {
        Ok(key) => Ok(key),
        Err(error) if Path::new(key).is_file() => std::fs::read_to_string(key)
            .map_err(|e| CliError::Usage(format!("reading the key file {key}: {e}")))?
            .parse()
            .map_err(|_| CliError::Usage(format!("{key}: {error}"))),
        Err(error) => Err(CliError::Usage(error.to_string())),
    }
}

fn check_export(file: &Path, key: &str) -> Result<Outcome, CliError> {
    let key = verifier_key(key)?;
    let reader = File::open(file)
        .map_err(|error| CliError::Usage(format!("opening {}: {error}", file.display())))?;
    let report = verify_export(BufReader::new(reader), &key)?;
    print_export_report(&mut std::io::stdout().lock(), &report)?;
    Ok(if report.is_valid() {
        Outcome::Done
    } else {
        Outcome::ProblemsFound
    })
}

/// The report of `anslut audit verify`, for people.
pub fn print_report(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    if report.is_intact() {
        writeln!(out, "intact")?;
    } else {
        writeln!(out, "NOT INTACT: {} problem(s)", report.problems.len())?;
    }
    writeln!(
        out,
        "chains: {} events in {} streams checked (head {})",
        report.chain.events_checked, report.chain.streams_checked, report.chain.head
    )?;
    writeln!(
        out,
        "tree: {} leaves; {} leaves and {} nodes recomputed",
        report.tree_size, report.leaves_checked, report.nodes_checked
    )?;
    match report.latest_checkpoint {
        Some(size) => writeln!(
            out,
            "checkpoints: {} checked, the largest covers {size} events",
            report.checkpoints_checked
        )?,
        None => writeln!(out, "checkpoints: none signed yet")?,
    }
    if let Some(event) = report.first_bad_event() {
        writeln!(
            out,
            "first bad event: position {} ({} version {})",
            event.position, event.stream, event.version
        )?;
    }
    for problem in &report.problems {
        writeln!(out, "problem: {problem}")?;
        if let AuditProblem::LogShorterThanCheckpoint { first_missing, .. } = problem {
            writeln!(out, "first missing event: position {first_missing}")?;
        }
    }
    Ok(())
}

/// The report of `anslut audit verify-export`, for people.
pub fn print_export_report(out: &mut impl Write, report: &ExportReport) -> std::io::Result<()> {
    writeln!(
        out,
        "{}",
        if report.is_valid() {
            "valid"
        } else {
            "NOT VALID"
        }
    )?;
    if let Some(stream) = &report.stream {
        writeln!(out, "stream: {stream}")?;
    }
    if let (Some(origin), Some(size), Some(root)) = (&report.origin, report.tree_size, report.root)
    {
        writeln!(out, "checkpoint: {origin}, {size} events, root {root}")?;
    }
    writeln!(
        out,
        "events: {} checked (hash chain and inclusion proof each)",
        report.events_checked
    )?;
    if let Some(problem) = &report.problem {
        writeln!(out, "problem: {problem}")?;
    }
    Ok(())
}
