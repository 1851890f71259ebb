//! The `anslut` command. Add a subcommand by adding a variant to [`Command`] and an arm to
//! [`run`].

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use domain::Role;
use domain::catalogue::CatalogueRegistry;
use domain::ids::ProgrammeId;

use crate::audit_command::AuditCommand;
use crate::projections_command::ProjectionsCommand;
use api::auth::dev::TokenSpec;
use api::config::Settings;
use api::dto::catalogues::{CatalogueDiffView, CatalogueView};
use api::startup::{self, Application};

/// Anslut: the system of record for connecting private care providers to Swedish regions'
/// IT.
#[derive(Debug, Parser)]
#[command(name = "anslut", version, about)]
pub struct Cli {
    /// A TOML configuration file (defaults, then this file, then ANSLUT_* variables).
    #[arg(long, env = "ANSLUT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrates the database first).
    Serve(ServeArgs),
    /// Apply the database migrations and exit. With ANSLUT_DATABASE__MIGRATE_URL, the log's
    /// and the audit tree's, as that role; the read models are then created by serve.
    Migrate,
    /// Print a development token signed with the development key (refused in production).
    Token(TokenArgs),
    /// Show the embedded requirement catalogues.
    #[command(subcommand)]
    Catalogues(CataloguesCommand),
    /// Print the OpenAPI document.
    Openapi,
    /// Tamper evidence: verify the log, sign a checkpoint, export a case with proofs and
    /// check an export offline.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The read models: status, rebuild, verify against a rebuild.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
    /// Personal data: forget a data subject, find a staff member's subject.
    #[command(subcommand)]
    Privacy(crate::privacy_command::PrivacyCommand),
}

impl Command {
    /// The log level when `RUST_LOG` does not say. `token` prints a token to capture in a
    /// shell variable and nothing else (only errors are logged: the notice that it generated
    /// the development key is `serve`'s to give, and `serve` gives it); `openapi` and
    /// `catalogues` print documents and log warnings; the rest report progress.
    pub const fn default_log_level(&self) -> &'static str {
        match self {
            Self::Token(_) => "error",
            Self::Openapi | Self::Catalogues(_) => "warn",
            _ => "info",
        }
    }
}

/// How a command ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did what was asked (exit 0).
    Done,
    /// It ran, and found problems in what it checked (exit 1).
    ProblemsFound,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Load a worked example (cases across every programme, in different phases) when the
    /// store is empty.
    #[arg(long)]
    pub demo: bool,
    /// The port to listen on (overrides the configuration).
    #[arg(long)]
    pub port: Option<u16>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// officer, region_it, provider, auditor, dashboard or integration.
    #[arg(long)]
    pub role: String,
    /// The region, e.g. jamtland-harjedalen.
    #[arg(long)]
    pub region: String,
    /// The provider's organisationsnummer (required for --role provider).
    #[arg(long)]
    pub org: Option<String>,
    /// The subject (`sub`); defaults to dev-<role>.
    #[arg(long)]
    pub subject: Option<String>,
    /// How long the token is valid: e.g. 30m, 1h, 7d.
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Duration,
}

#[derive(Debug, Subcommand)]
pub enum CataloguesCommand {
    /// Every programme and its versions.
    List,
    /// One catalogue version as JSON (the one in force today unless --version).
    Show {
        programme: String,
        #[arg(long)]
        version: Option<u32>,
    },
    /// What changed between two versions, as JSON.
    Diff {
        programme: String,
        from: u32,
        to: u32,
    },
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] api::config::ConfigError),
    #[error(transparent)]
    Startup(#[from] startup::StartupError),
    #[error(transparent)]
    Catalogues(#[from] domain::catalogue::CatalogueError),
    #[error("{0}")]
    Usage(String),
    #[error("writing the output")]
    Io(#[from] std::io::Error),
    #[error("the demo: {0}")]
    Demo(String),
    #[error("signing the token")]
    Token(#[from] jsonwebtoken::errors::Error),
    #[error("the audit tree")]
    AuditTree(#[from] audit::AuditError),
    /// An `anslut audit` command failed (exit 2, apart from the 1 of problems found).
    #[error(transparent)]
    AuditCommand(Box<CliError>),
    #[error("the read models")]
    Projections(#[from] projections::ProjectionError),
    /// `anslut privacy forget` did not forget (the domain refused, or a subsystem failed:
    /// the cause says which).
    #[error("forgetting the data subject")]
    Forget(#[from] api::application::forget::ForgetError),
    /// The personal-data keys' tables (an unavailable database among the causes).
    #[error("the personal-data keys")]
    Privacy(#[from] privacy::PrivacyError),
    /// An `anslut projections` command failed (exit 2, apart from the 1 of differences
    /// found).
    #[error(transparent)]
    ProjectionsCommand(Box<CliError>),
}

impl CliError {
    /// The process's exit code for this error: 2 for `anslut audit` and `anslut projections`
    /// commands, else 1.
    pub const fn exit_code(&self) -> u8 {
        match self {
            Self::AuditCommand(_) | Self::ProjectionsCommand(_) => 2,
            _ => 1,
        }
    }
}

fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{raw}: give a unit, e.g. 30m, 1h, 7d"))?;
    let (number, unit) = raw.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{raw}: not a number of s, m, h or d"))?;
    let seconds = match unit {
        "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        "d" => number * 86_400,
        _ => return Err(format!("{raw}: the unit is s, m, h or d")),
    };
    if seconds == 0 {
        return Err("a token must live longer than 0 seconds".into());
    }
    Ok(Duration::from_secs(seconds))
}

/// Runs a command.
pub async fn run(cli: Cli) -> Result<Outcome, CliError> {
    match cli.command {
        Command::Openapi => {
            std::io::stdout()
                .lock()
                .write_all(api::openapi::spec_json().as_bytes())?;
        }
        Command::Catalogues(command) => catalogues(&command)?,
        Command::Migrate => {
            let settings = Settings::load(cli.config.as_deref())?;
            if settings.database.migrate_url.is_some() {
                startup::migrate_as_owner(&settings).await?;
                return Ok(Outcome::Done);
            }
            let store = startup::connect_store(&settings).await?;
            api::application::checkpoints::open(&settings).await?;
            let catalogues = std::sync::Arc::new(CatalogueRegistry::load_embedded()?);
            api::application::read_models::open(&settings, store.clone(), catalogues).await?;
            api::application::webhooks::open(&settings, store)
                .await
                .map_err(startup::StartupError::from)?;
        }
        Command::Token(args) => token(&Settings::load(cli.config.as_deref())?, &args)?,
        Command::Serve(args) => {
            let mut settings = Settings::load(cli.config.as_deref())?;
            if let Some(port) = args.port {
                settings.port = port;
            }
            serve(&settings, args.demo).await?;
        }
        Command::Audit(command) => {
            // Boxed: a large future (16.5 kB in a release build).
            return Box::pin(crate::audit_command::run(cli.config.as_deref(), command))
                .await
                .map_err(|error| CliError::AuditCommand(Box::new(error)));
        }
        Command::Projections(command) => {
            return crate::projections_command::run(cli.config.as_deref(), command)
                .await
                .map_err(|error| CliError::ProjectionsCommand(Box::new(error)));
        }
        Command::Privacy(command) => {
            return crate::privacy_command::run(cli.config.as_deref(), command).await;
        }
    }
    Ok(Outcome::Done)
}

async fn serve(settings: &Settings, demo: bool) -> Result<(), CliError> {
    let application = Application::build(settings).await?;
    if demo {
        api::demo::load(&application.state())
            .await
            .map_err(|error| CliError::Demo(error.to_string()))?;
    }
    tracing::info!(
        address = %format!("http://{}:{}", settings.host, application.port()),
        docs = %format!("http://{}:{}/docs/", settings.host, application.port()),
        "Anslut is serving"
    );
    application.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

fn token(settings: &Settings, args: &TokenArgs) -> Result<(), CliError> {
    if settings.is_production() {
        return Err(CliError::Usage(
            "anslut token mints development tokens and is refused in production".into(),
        ));
    }
    let role = Role::parse(&args.role).ok_or_else(|| {
        CliError::Usage(format!(
            "unknown role {}; one of officer, region_it, provider, auditor, dashboard, integration",
            args.role
        ))
    })?;
    if role == Role::Provider && args.org.is_none() {
        return Err(CliError::Usage(
            "a provider token needs --org with the provider's organisationsnummer".into(),
        ));
    }
    let key = startup::dev_key(settings)?;
    let spec = TokenSpec {
        subject: args
            .subject
            .clone()
            .unwrap_or_else(|| format!("dev-{}", role.as_str())),
        role: role.as_str().to_owned(),
        region: args.region.clone(),
        org: args.org.clone(),
        issuer: settings.auth.issuer.clone(),
        audience: settings.auth.audience.clone(),
        ttl: args.ttl,
    };
    let token = key.mint(&spec)?;
    writeln!(std::io::stdout().lock(), "{token}")?;
    Ok(())
}

fn catalogues(command: &CataloguesCommand) -> Result<(), CliError> {
    let registry = CatalogueRegistry::load_embedded()?;
    let today = chrono::Utc::now().date_naive();
    let mut out = std::io::stdout().lock();
    let programme =
        |raw: &str| ProgrammeId::parse(raw).map_err(|e| CliError::Usage(format!("{raw}: {e}")));
    let missing = |programme: &ProgrammeId, version: u32| {
        CliError::Usage(format!("{programme} has no catalogue version {version}"))
    };
    match command {
        CataloguesCommand::List => {
            writeln!(
                out,
                "{:<22} {:<20} {:<9} {:<9} title",
                "programme", "region", "version", "in force"
            )?;
            for catalogue in registry.all() {
                let in_force = registry
                    .in_force(&catalogue.programme, today)
                    .is_some_and(|c| c.version == catalogue.version);
                writeln!(
                    out,
                    "{:<22} {:<20} {:<9} {:<9} {}",
                    catalogue.programme.as_str(),
                    catalogue.region.as_str(),
                    catalogue.version,
                    if in_force { "yes" } else { "" },
                    catalogue.title
                )?;
            }
        }
        CataloguesCommand::Show {
            programme: raw,
            version,
        } => {
            let programme = programme(raw)?;
            let catalogue = match version {
                Some(version) => registry
                    .get(&programme, *version)
                    .ok_or_else(|| missing(&programme, *version))?,
                None => registry.in_force(&programme, today).ok_or_else(|| {
                    CliError::Usage(format!("{programme} has no catalogue in force today"))
                })?,
            };
            let json = serde_json::to_string_pretty(&CatalogueView::from(catalogue))
                .map_err(std::io::Error::other)?;
            writeln!(out, "{json}")?;
        }
        CataloguesCommand::Diff {
            programme: raw,
            from,
            to,
        } => {
            let programme = programme(raw)?;
            let old = registry
                .get(&programme, *from)
                .ok_or_else(|| missing(&programme, *from))?;
            let new = registry
                .get(&programme, *to)
                .ok_or_else(|| missing(&programme, *to))?;
            let json = serde_json::to_string_pretty(&CatalogueDiffView::of(old, new))
                .map_err(std::io::Error::other)?;
            writeln!(out, "{json}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_take_a_unit() {
        assert_eq!(parse_ttl("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_ttl("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_ttl("7d").unwrap(), Duration::from_secs(604_800));
        assert!(parse_ttl("10").is_err());
        assert!(parse_ttl("0h").is_err());
        assert!(parse_ttl("1w").is_err());
    }

    #[test]
    fn the_command_line_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "anslut", "token", "--role", "officer", "--region", "dalarna",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Token(_)));
        let cli = Cli::try_parse_from([
            "anslut",
            "audit",
            "verify-export",
            "case.jsonl",
            "--key",
            "origin+01020304+AQ==",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Audit(AuditCommand::VerifyExport { .. })
        ));
        let cli = Cli::try_parse_from([
            "anslut",
            "audit",
            "verify",
            "--checkpoint",
            "a.note",
            "--checkpoint",
            "b.note",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Audit(AuditCommand::Verify { checkpoints }) if checkpoints.len() == 2
        ));
        let cli =
            Cli::try_parse_from(["anslut", "projections", "rebuild", "costs", "findings"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Projections(ProjectionsCommand::Rebuild { names, all: false }) if names.len() == 2
        ));
        assert!(Cli::try_parse_from(["anslut", "projections", "rebuild"]).is_err());
        assert!(
            Cli::try_parse_from(["anslut", "projections", "rebuild", "costs", "--all"]).is_err()
        );
        assert!(Cli::try_parse_from(["anslut", "projections", "rebuild", "nonsense"]).is_err());
    }
}
