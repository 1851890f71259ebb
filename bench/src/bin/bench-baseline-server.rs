//! Baseline (d) of the `http` case: what a team would build with the named stack without
//! Anslut. An actix-web server with one command route, `POST
//! /v1/cases/{id}/report-organisational-change`, that parses the same JSON body as Anslut's
//! route, executes it through cqrs-es's `CqrsFramework` over `postgres-es` 0.5 (snapshots
//! every 50 events, as `anslut serve` by default) and answers 200 with a small JSON body and
//! the new version as `ETag`. `GET /readyz` answers 200 once the pool is connected.
//!
//! The aggregate is [`Unit`]: one event per command, about the size of Anslut's event for
//! the same command (the change, its date and description, the actor and the time), and
//! optimistic concurrency by version: `If-Match` carries the version the caller last saw,
//! the aggregate refuses a stale one (412), and postgres-es's primary key on
//! `(aggregate_type, aggregate_id, sequence)` refuses a concurrent write (412).
//!
//! Deliberately missing, and so part of what Anslut's figure pays for: authentication and
//! authorisation (the `Authorization` header is ignored; the actor in the event is fixed),
//! idempotency keys (ignored), request logging, tenancy, the domain's rules, a global order,
//! the hash chain, projections and everything `anslut serve` runs in the background. Anslut
//! additionally groups concurrent commits into one transaction; postgres-es commits each
//! command on its own.
//!
//! Started by the bench binary (`bench run`) on a database whose postgres-es tables it has
//! created: `bench-baseline-server --database-url URL --port PORT`. The topology is
//! `anslut serve`'s: the pool on a multi-thread Tokio runtime, the HTTP workers on actix-web's
//! own threads (one per core).

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Parser;
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, DomainEvent};
use postgres_es::{PostgresCqrs, PostgresEventRepository};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// Snapshots every this many events (`anslut serve`'s default).
const SNAPSHOT_EVERY: usize = 50;

#[derive(Debug, Parser)]
#[command(
    name = "bench-baseline-server",
    about = "Baseline (d) of the bench's http case: actix-web over postgres-es"
)]
struct Args {
    /// A PostgreSQL URL of a database with postgres-es's `events` and `snapshots` tables.
    #[arg(long)]
    database_url: String,
    /// The port to listen on, on 127.0.0.1.
    #[arg(long)]
    port: u16,
    /// Connections in the pool.
    #[arg(long, default_value_t = 17)]
    max_connections: u32,
}

/// Who did it, as Anslut records an actor: fixed here, as nothing authenticates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    subject: String,
    role: String,
    region: String,
    provider_org: Option<String>,
}

/// What changed in the organisation, as Anslut's API names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    NewUnit { name: String },
    UnitRemoved { name: String },
    NameChanged { new_name: String },
    Moved { new_address: String },
}

/// The request body, as Anslut's `report-organisational-change` takes it.
#[derive(Debug, Deserialize)]
struct ReportBody {
    change: Change,
    effective_on: NaiveDate,
    description: Option<String>,
}

/// A unit's organisational changes; the version is the aggregate's sequence, kept in the
/// state (and so in its snapshots) for the `If-Match` check.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Unit {
    version: u64,
    address: Option<String>,
}

/// Report a change, expecting the unit at `expected_version`.
#[derive(Debug)]
pub struct ReportChange {
    expected_version: u64,
    change: Change,
    effective_on: NaiveDate,
    description: Option<String>,
    actor: Actor,
    at: DateTime<Utc>,
}

/// The change was reported, making the unit `version`.
///
/// The event carries the version it makes, and [`Unit::apply`] sets it rather than counting,
/// because cqrs-es 0.5 applies a command's events twice to the aggregate whose snapshot it
/// writes: once in `EventSink::write` during `handle`, and again in `PersistedEventStore`'s
/// `update_snapshot_with_events` on that same aggregate. A counting `apply` would store a
/// snapshot one version ahead of the stream every 50 events (the bench's `Counter` sets its
/// count from the event, which is why it is not affected).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeReported {
    version: u64,
    actor: Actor,
    at: DateTime<Utc>,
    change: Change,
    effective_on: NaiveDate,
    description: Option<String>,
}

impl DomainEvent for ChangeReported {
    fn event_type(&self) -> String {
        "OrganisationalChangeReported".into()
    }

    fn event_version(&self) -> String {
        "1".into()
    }
}

/// Why the unit refused a command.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("the unit is at version {current}, not {expected}")]
    Stale { current: u64, expected: u64 },
    #[error("{0}")]
    Invalid(&'static str),
}

impl Aggregate for Unit {
    const TYPE: &'static str = "bench_unit";
    type Command = ReportChange;
    type Event = ChangeReported;
    type Error = Refused;
    type Services = ();

    async fn handle(
        &mut self,
        command: ReportChange,
        (): &(),
        sink: &EventSink<Self>,
    ) -> Result<(), Refused> {
        if command.expected_version != self.version {
            return Err(Refused::Stale {
                current: self.version,
                expected: command.expected_version,
            });
        }
        let text = match &command.change {
            Change::NewUnit { name } | Change::UnitRemoved { name } => name,
            Change::NameChanged { new_name } => new_name,
            Change::Moved { new_address } => new_address,
        };
        if text.trim().is_empty() || text.chars().count() > 200 {
            return Err(Refused::Invalid("the change needs 1-200 characters"));
        }
        if command
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 4000)
        {
            return Err(Refused::Invalid("the description is too long"));
        }
        let event = ChangeReported {
            version: self.version + 1,
            actor: command.actor,
            at: command.at,
            change: command.change,
            effective_on: command.effective_on,
            description: command.description,
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: ChangeReported) {
        self.version = event.version;
        if let Change::Moved { new_address } = event.change {
            self.address = Some(new_address);
        }
    }
}

type Cqrs = PostgresCqrs<Unit>;

fn actor() -> Actor {
    Actor {
        subject: "SE2321000032-bench-provider".into(),
        role: "provider".into(),
        region: "jamtland-harjedalen".into(),
        provider_org: Some("556677-8899".into()),
    }
}

/// `"7"` → 7; `None` for anything else (Anslut also takes `*`, which this baseline does not).
fn if_match(request: &HttpRequest) -> Option<u64> {
    let raw = request.headers().get(header::IF_MATCH)?.to_str().ok()?;
    raw.trim()
        .strip_prefix('"')?
        .strip_suffix('"')?
        .parse()
        .ok()
}

fn problem(
    status: actix_web::http::StatusCode,
    detail: &str,
    version: Option<u64>,
) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    if let Some(version) = version {
        response.insert_header((header::ETAG, format!("\"{version}\"")));
    }
    response
        .content_type("application/problem+json")
        .json(json!({"status": status.as_u16(), "detail": detail}))
}

async fn report(
    cqrs: web::Data<Cqrs>,
    id: web::Path<String>,
    request: HttpRequest,
    body: web::Json<ReportBody>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let Some(expected) = if_match(&request) else {
        return problem(
            StatusCode::PRECONDITION_REQUIRED,
            "If-Match with the version is required",
            None,
        );
    };
    let id = id.into_inner();
    let body = body.into_inner();
    let command_id = Uuid::now_v7();
    let actor = actor();
    let metadata = HashMap::from([
        ("command_id".to_owned(), command_id.to_string()),
        ("correlation_id".to_owned(), command_id.to_string()),
        ("actor_subject".to_owned(), actor.subject.clone()),
        ("actor_role".to_owned(), actor.role.clone()),
        ("actor_region".to_owned(), actor.region.clone()),
    ]);
    let command = ReportChange {
        expected_version: expected,
        change: body.change,
        effective_on: body.effective_on,
        description: body.description,
        actor,
        at: Utc::now(),
    };
    match cqrs.execute_with_metadata(&id, command, metadata).await {
        Ok(()) => {
            let version = expected + 1;
            let mut response = HttpResponse::Ok();
            if let Ok(value) = HeaderValue::from_str(&format!("\"{version}\"")) {
                response.insert_header((header::ETAG, value));
            }
            response.json(json!({
                "case_id": id,
                "command_id": command_id,
                "version": version,
                "events": [{"event_type": "OrganisationalChangeReported", "version": version}],
            }))
        }
        Err(AggregateError::UserError(Refused::Stale { current, .. })) => problem(
            StatusCode::PRECONDITION_FAILED,
            "the version is no longer current",
            Some(current),
        ),
        Err(AggregateError::UserError(Refused::Invalid(why))) => {
            problem(StatusCode::UNPROCESSABLE_ENTITY, why, None)
        }
        Err(AggregateError::AggregateConflict) => problem(
            StatusCode::PRECONDITION_FAILED,
            "another command changed the unit meanwhile",
            None,
        ),
        Err(error) => problem(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string(), None),
    }
}

async fn ready() -> HttpResponse {
    HttpResponse::Ok().finish()
}

async fn serve(args: Args) -> std::io::Result<()> {
    let pool = sqlx_08::postgres::PgPoolOptions::new()
        .max_connections(args.max_connections)
        .connect(&args.database_url)
        .await
        .map_err(std::io::Error::other)?;
    let cqrs: Arc<Cqrs> = Arc::new(CqrsFramework::new(
        PersistedEventStore::new_snapshot_store(PostgresEventRepository::new(pool), SNAPSHOT_EVERY),
        Vec::new(),
        (),
    ));
    let cqrs = web::Data::from(cqrs);
    HttpServer::new(move || {
        App::new()
            .app_data(cqrs.clone())
            .route("/readyz", web::get().to(ready))
            .route(
                "/v1/cases/{id}/report-organisational-change",
                web::post().to(report),
            )
    })
    .bind(("127.0.0.1", args.port))?
    .run()
    .await
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("baseline-background")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench-baseline-server: the runtime could not start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match actix_web::rt::System::with_tokio_rt(|| runtime).block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench-baseline-server: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    fn report(expected_version: u64) -> ReportChange {
        ReportChange {
            expected_version,
            change: Change::Moved {
                new_address: "Prästgatan 12, 831 31 Östersund".into(),
            },
            effective_on: NaiveDate::from_ymd_opt(2026, 3, 1).expect("a date"),
            description: None,
            actor: actor(),
            at: DateTime::UNIX_EPOCH,
        }
    }

    fn reported(version: u64) -> ChangeReported {
        ChangeReported {
            version,
            actor: actor(),
            at: DateTime::UNIX_EPOCH,
            change: Change::Moved {
                new_address: "Prästgatan 12, 831 31 Östersund".into(),
            },
            effective_on: NaiveDate::from_ymd_opt(2026, 3, 1).expect("a date"),
            description: None,
        }
    }

    #[test]
    fn a_report_at_the_current_version_records_the_next() {
        TestFramework::<Unit>::with(())
            .given(vec![reported(1), reported(2)])
            .when(report(2))
            .then_expect_events(vec![reported(3)]);
    }

    #[test]
    fn a_report_at_a_stale_version_is_refused() {
        TestFramework::<Unit>::with(())
            .given(vec![reported(1), reported(2)])
            .when(report(1))
            .then_expect_error_message("the unit is at version 2, not 1");
    }

    #[test]
    fn applying_an_event_twice_keeps_the_version() {
        let mut unit = Unit::default();
        unit.apply(reported(1));
        unit.apply(reported(1));
        assert_eq!(unit.version, 1);
    }
}
