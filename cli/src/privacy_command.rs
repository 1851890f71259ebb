//! `anslut privacy`: forgetting a data subject, and finding a staff member's subject, from
//! the command line (for operators with access to the database and the keys; officers use
//! the API).
//!
//! `anslut privacy subject` reads the personnummer from standard input, never from an
//! argument: arguments are visible to every user of the machine (`ps`) and stay in shell
//! histories.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;

use clap::Subcommand;
use domain::actor::Subject;
use domain::catalogue::CatalogueRegistry;
use domain::identity::Personnummer;
use domain::ids::{DataSubjectId, RegionId};
use domain::text::Reason;
use domain::{Actor, Clock, Role};

use crate::cli::{CliError, Outcome};
use api::OPERATION_KEY;
use api::TENANT_REGION;
use api::application::clock::SystemClock;
use api::application::forget::{Forgetting, forget};
use api::application::read_models;
use api::config::Settings;
use api::startup;

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Forget a data subject: record `SubjectForgotten`, destroy its key, erase the read
    /// models. Running it again repairs an erasure that stopped after recording its event.
    Forget {
        /// The data subject id (a UUID).
        subject: String,
        /// Why: a reference to the erasure request (kept in clear; not the person's data).
        #[arg(long)]
        reason: String,
        /// The region on whose behalf the subject is forgotten; one of its events must name
        /// the subject.
        #[arg(long)]
        region: String,
        /// Who answers for the erasure, recorded as the event's actor (an officer).
        #[arg(long)]
        operator: String,
    },
    /// Print the data subject id under which a region records the staff member whose
    /// personnummer is read from standard input (recorded as a lookup).
    Subject {
        /// The region whose records to look in (each region has its own subjects).
        #[arg(long)]
        region: String,
    },
}

/// Runs a `privacy` command.
pub async fn run(config: Option<&Path>, command: PrivacyCommand) -> Result<Outcome, CliError> {
    let settings = Settings::load(config)?;
    let mut out = std::io::stdout().lock();
    match command {
        PrivacyCommand::Subject { region } => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let clock = SystemClock;
            let personnummer = Personnummer::parse(line.trim(), clock.today())
                .map_err(|e| CliError::Usage(api::dto::identity_message(&e)))?;
            let region = RegionId::parse(&region)
                .map_err(|_| CliError::Usage("--region is not a region id".to_owned()))?;
            let ids = startup::subject_ids(&settings)?;
            let (_store, keys) = startup::connect_store_with_keys(&settings).await?;
            let found = keys
                .find_staff_subject(
                    &ids.staff_lookup(&personnummer, &region),
                    ids.legacy_staff(&personnummer),
                    region.as_str(),
                )
                .await?;
            keys.record_lookup(
                chrono::Utc::now().timestamp_micros(),
                region.as_str(),
                "anslut privacy subject",
                "operator",
                found,
            )
            .await?;
            let Some(subject) = found else {
                return Err(CliError::Usage(
                    "no record of that region names this personnummer".to_owned(),
                ));
            };
            writeln!(out, "{subject}")?;
            Ok(Outcome::Done)
        }
        PrivacyCommand::Forget {
            subject,
            reason,
            region,
            operator,
        } => {
            let usage = |what: &str| CliError::Usage(what.to_owned());
            let subject = DataSubjectId::parse(&subject)
                .map_err(|_| usage("the subject is a data subject id (a UUID)"))?;
            let reason = Reason::parse(&reason)
                .map_err(|_| usage("--reason takes 1 to 4,000 characters"))?;
            let region =
                RegionId::parse(&region).map_err(|_| usage("--region is not a region id"))?;
            let operator = Subject::parse(&operator)
                .map_err(|_| usage("--operator is not a valid actor name"))?;
            let actor = Actor::new(operator, Role::Officer, region.clone(), None)
                .map_err(|_| usage("--operator and --region do not make an actor"))?;
            let (store, keys) = startup::connect_store_with_keys(&settings).await?;
            let catalogues = Arc::new(CatalogueRegistry::load_embedded()?);
            let projections = read_models::open(&settings, store.clone(), catalogues).await?;
            let regions = keys.regions_of(subject).await?;
            if !regions.contains(region.as_str()) {
                return Err(usage("no event of that region names this data subject"));
            }
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let record = store::ActorRecord {
                subject: actor.subject.as_str().to_owned(),
                role: actor.role.as_str().to_owned(),
                region: region.as_str().to_owned(),
                provider_org: None,
            };
            let extra = BTreeMap::from([
                (OPERATION_KEY.to_owned(), "anslut privacy forget".to_owned()),
                (TENANT_REGION.to_owned(), region.as_str().to_owned()),
            ]);
            let forgetting = Forgetting {
                store: &store,
                keys: &keys,
                projections: &projections,
                clock: &clock,
            };
            let forgotten = forget(
                &forgetting,
                actor,
                record,
                uuid::Uuid::now_v7(),
                extra,
                subject,
                reason,
            )
            .await?;
            writeln!(
                out,
                "forgot {} at position {} (key destroyed: {}, read-model documents erased: {})",
                forgotten.subject,
                forgotten.position,
                forgotten.key_destroyed,
                forgotten.documents_erased
            )?;
            Ok(Outcome::Done)
        }
    }
}
