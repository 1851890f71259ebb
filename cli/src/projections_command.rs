//! `anslut projections`: the read models' status, rebuilds and verification, from the
//! command line. The commands open the read models in the configured database without
//! running any projector: a running `anslut serve` keeps projecting (and serving) meanwhile.
//!
//! Exit codes: 0 on success (for `verify`: every read model equals a rebuild), 1 when
//! `verify` found differences, 2 when the command could not run.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Subcommand;
use domain::catalogue::CatalogueRegistry;
use indicatif::{HumanDuration, ProgressBar, ProgressStyle};
use projections::{
    Difference, Leader, Progress, ProjectionName, ProjectionStatus, Projections, RebuildReport,
    TableKind, VerifyReport,
};

use crate::cli::{CliError, Outcome};
use api::application::read_models;
use api::config::Settings;
use api::startup;

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Every read model's checkpoint, the head of the log, the lag in events and seconds,
    /// the live generation, the schema version, who leads it and its last error.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild read models from position zero into fresh tables while the live ones keep
    /// serving, then swap them in. Shows a progress bar with events per second and time
    /// left (plain lines when standard error is not a terminal).
    Rebuild {
        /// The read models: case_overview, pipeline, findings, incidents,
        /// compliance_matrix, staff_commitments, costs.
        #[arg(value_parser = parse_name, required_unless_present = "all", conflicts_with = "all")]
        names: Vec<ProjectionName>,
        /// Every read model, in one pass over the log.
        #[arg(long)]
        all: bool,
    },
    /// Rebuild every read model into scratch tables up to its live checkpoint and compare
    /// them row by row with the live ones. Exit 0 equal, 1 differences, 2 error.
    Verify {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn parse_name(raw: &str) -> Result<ProjectionName, String> {
    ProjectionName::parse(raw).ok_or_else(|| {
        let names: Vec<&str> = ProjectionName::ALL.iter().map(|n| n.as_str()).collect();
        format!("no read model {raw}; one of {}", names.join(", "))
    })
}

/// Runs a `projections` command.
pub async fn run(config: Option<&Path>, command: ProjectionsCommand) -> Result<Outcome, CliError> {
    let settings = Settings::load(config)?;
    let store = startup::connect_store(&settings).await?;
    let catalogues = Arc::new(CatalogueRegistry::load_embedded()?);
    let projections = read_models::open(&settings, store, catalogues).await?;
    let mut out = std::io::stdout().lock();
    match command {
        ProjectionsCommand::Status { json } => {
            let statuses = projections.status().await?;
            if json {
                writeln!(out, "{}", to_json(&statuses)?)?;
            } else {
                print_status(&mut out, &statuses)?;
            }
            Ok(Outcome::Done)
        }
        ProjectionsCommand::Rebuild { names, all } => {
            let names = if all {
                ProjectionName::ALL.to_vec()
            } else {
                names
            };
            let report = rebuild(&projections, &names).await?;
            print_rebuild(&mut out, &report)?;
            Ok(Outcome::Done)
        }
        ProjectionsCommand::Verify { json } => {
            let report = projections.verify().await?;
            if json {
                writeln!(out, "{}", to_json(&report)?)?;
            } else {
                print_verify(&mut out, &report)?;
            }
            Ok(if report.is_clean() {
                Outcome::Done
            } else {
                Outcome::ProblemsFound
            })
        }
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<String, CliError> {
    serde_json::to_string_pretty(value).map_err(|e| CliError::Io(std::io::Error::other(e)))
}

const fn leader_str(leader: Leader) -> &'static str {
    match leader {
        Leader::Here => "here",
        Leader::Elsewhere => "elsewhere",
        Leader::Nobody => "nobody",
    }
}

fn print_status(out: &mut impl Write, statuses: &[ProjectionStatus]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<18} {:>10} {:>10} {:>10} {:>11} {:>10} {:>7} {:<9} last error",
        "projection",
        "checkpoint",
        "head",
        "lag events",
        "lag seconds",
        "generation",
        "schema",
        "leader"
    )?;
    for s in statuses {
        let schema = if s.stored_schema_version == s.schema_version {
            s.schema_version.to_string()
        } else {
            format!("{}→{}", s.stored_schema_version, s.schema_version)
        };
        writeln!(
            out,
            "{:<18} {:>10} {:>10} {:>10} {:>11.1} {:>10} {:>7} {:<9} {}",
            s.name.as_str(),
            s.checkpoint.get(),
            s.head.get(),
            s.lag_events,
            s.lag_seconds,
            s.generation,
            schema,
            leader_str(s.leader),
            s.last_error.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

/// One line of progress: where the rebuild is, how fast, how long still.
fn progress_line(progress: &Progress) -> String {
    let target = progress.target.get().max(1);
    #[expect(clippy::cast_precision_loss, reason = "a percentage for people")]
    let percent = progress.position.get() as f64 * 100.0 / target as f64;
    format!(
        "{}/{} events ({percent:.0}%), {:.0} events/s, {} left",
        progress.position.get(),
        progress.target.get(),
        progress.events_per_second,
        progress
            .remaining
            .map_or_else(|| "?".to_owned(), |d| HumanDuration(d).to_string()),
    )
}

/// Rebuilds `names` with a progress bar on a terminal, a line a second otherwise.
async fn rebuild(
    projections: &Projections,
    names: &[ProjectionName],
) -> Result<RebuildReport, CliError> {
    let listed: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:40.cyan/blue}] {pos}/{len} events, {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("rebuilding {}", listed.join(", ")));
        bar
    });
    if bar.is_none() {
        eprintln!("rebuilding {}", listed.join(", "));
    }
    let last_line = Mutex::new(Instant::now());
    let report = projections
        .rebuild(names, |progress| {
            if let Some(bar) = &bar {
                bar.set_length(progress.target.get());
                bar.set_position(progress.position.get());
                bar.set_message(format!(
                    "{:.0} events/s, {} left",
                    progress.events_per_second,
                    progress
                        .remaining
                        .map_or_else(|| "?".to_owned(), |d| HumanDuration(d).to_string())
                ));
            } else if let Ok(mut last) = last_line.lock()
                && (last.elapsed() >= Duration::from_secs(1)
                    || progress.position >= progress.target)
            {
                *last = Instant::now();
                eprintln!("{}", progress_line(progress));
            }
        })
        .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    Ok(report?)
}

fn print_rebuild(out: &mut impl Write, report: &RebuildReport) -> std::io::Result<()> {
    writeln!(
        out,
        "rebuilt from {} events in {:.1} s ({:.0} events/s) and swapped in:",
        report.events,
        report.elapsed.as_secs_f64(),
        report.events_per_second
    )?;
    writeln!(
        out,
        "{:<18} {:>10} {:>10}",
        "projection", "generation", "checkpoint"
    )?;
    for (name, generation, checkpoint) in &report.projections {
        writeln!(
            out,
            "{:<18} {generation:>10} {:>10}",
            name.as_str(),
            checkpoint.get()
        )?;
    }
    Ok(())
}

const fn table_str(table: TableKind) -> &'static str {
    match table {
        TableKind::Rows => "row",
        TableKind::State => "state",
    }
}

fn print_verify(out: &mut impl Write, report: &VerifyReport) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<18} {:>10} {:>13} {:>11}",
        "projection", "checkpoint", "rows compared", "differences"
    )?;
    for outcome in &report.projections {
        writeln!(
            out,
            "{:<18} {:>10} {:>13} {:>11}",
            outcome.name.as_str(),
            outcome.position.get(),
            outcome.rows_compared,
            outcome.difference_count
        )?;
        for difference in &outcome.differences {
            match difference {
                Difference::OnlyLive { table, key } => {
                    writeln!(out, "  {} {key}: only in the live table", table_str(*table))?;
                }
                Difference::OnlyRebuilt { table, key } => {
                    writeln!(out, "  {} {key}: only in the rebuild", table_str(*table))?;
                }
                Difference::Differs {
                    table,
                    key,
                    live,
                    rebuilt,
                } => {
                    writeln!(
                        out,
                        "  {} {key} differs\n    live:    {live}\n    rebuilt: {rebuilt}",
                        table_str(*table)
                    )?;
                }
            }
        }
    }
    if report.is_clean() {
        writeln!(out, "every read model equals a rebuild from scratch")?;
    } else {
        writeln!(
            out,
            "read models differ from a rebuild from scratch: rebuild them with `anslut projections rebuild NAME`"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use store::Position;

    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_list_the_known() {
        assert_eq!(parse_name("costs"), Ok(ProjectionName::Costs));
        let error = parse_name("cost").unwrap_err();
        assert!(error.contains("compliance_matrix"), "{error}");
    }

    #[test]
    fn a_progress_line_says_how_far_how_fast_and_how_long_still() {
        let progress = Progress {
            projections: vec![ProjectionName::Costs],
            position: Position(2500),
            target: Position(10_000),
            events: 2500,
            elapsed: Duration::from_secs(1),
            events_per_second: 2500.0,
            remaining: Some(Duration::from_secs(3)),
        };
        assert_eq!(
            progress_line(&progress),
            "2500/10000 events (25%), 2500 events/s, 3 seconds left"
        );
    }
}
