//! Append: committed events per second at 1, 4 and 16 concurrent streams, each task owning
//! one stream and committing one event per command, durably (`synchronous_commit = on`).
//!
//! * (a) the raw ceiling: single-row autocommit `INSERT`s into a table of exactly the shape of
//!   Anslut's `events` (it *is* that table, in a database of its own, with its indexes and
//!   constraints), position from a sequence, column values copied from an event Anslut's
//!   store wrote, one connection per task;
//! * (b) `postgres-es` 0.5 with the bench [`Counter`] through `CqrsFramework`, snapshots
//!   every [`SNAPSHOT_EVERY`] events;
//! * (c) Anslut's store with the same aggregate through `CqrsFramework`
//!   (`EventStore::aggregate_store`), snapshots every [`SNAPSHOT_EVERY`] events;
//! * (c′) for explanation: Anslut's `EventStore::append` alone (no aggregate load, no
//!   snapshot), the part of (c) that is the store's write.
//!
//! Rounds are interleaved (the variants in one order, then reversed) and every round uses
//! fresh streams.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate as _, CqrsFramework};
use postgres_es::{PostgresCqrs, PostgresEventRepository};
use sqlx::{Connection, Executor, PgConnection, Row as _};
use store::{
    ActorRecord, AggregateStore, AppendRequest, EventMetadata, EventStore, ExpectedVersion,
    NewEvent, StoreOptions, StreamRef, metadata_keys,
};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::counter::{Counter, Increment};
use crate::db::Server;
use crate::error::{Context, Failure, Result};
use crate::report::Row;
use crate::stats::rate;

/// The concurrencies measured.
pub const STREAMS: [usize; 3] = [1, 4, 16];
/// Snapshots every this many events, for both cqrs-es stores (`anslut serve`'s default).
pub const SNAPSHOT_EVERY: usize = 50;
/// The reason every command carries: about the size of a typical case event's text.
const REASON: &str = "Brandväggsöppning klar enligt beställning";

/// Anslut's store through cqrs-es, as `anslut serve` uses it.
pub type AnslutCqrs = CqrsFramework<Counter, AggregateStore<Counter>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    Raw,
    PostgresEs,
    Anslut,
    StoreOnly,
}

impl Variant {
    pub const ALL: [Self; 4] = [Self::Raw, Self::PostgresEs, Self::Anslut, Self::StoreOnly];

    pub const fn label(self) -> &'static str {
        match self {
            Self::Raw => "(a) raw INSERT",
            Self::PostgresEs => "(b) postgres-es",
            Self::Anslut => "(c) Anslut",
            Self::StoreOnly => "(c') Anslut store.append alone",
        }
    }
}

/// What one round of one variant did.
#[derive(Debug, Default)]
pub struct Round {
    pub events: u64,
    pub elapsed: Duration,
    /// Every command's time from call to committed answer.
    pub latencies: Vec<Duration>,
}

impl Round {
    pub fn per_second(&self) -> f64 {
        rate(self.events, self.elapsed)
    }
}

/// The column values of a row Anslut's store wrote for a counter event; the raw ceiling
/// inserts rows of exactly this shape.
#[derive(Debug, Clone)]
pub struct Template {
    stream_type: String,
    event_type: String,
    event_version: String,
    payload: String,
    metadata: String,
    actor_subject: Option<String>,
    actor_role: Option<String>,
    actor_region: Option<String>,
    actor_provider_org: Option<String>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

const RAW_INSERT: &str = "INSERT INTO events (position, stream_type, stream_id, version, \
     event_id, event_type, event_version, payload, metadata, command_id, correlation_id, \
     causation_id, actor_subject, actor_role, actor_region, actor_provider_org, recorded_at, \
     prev_hash, hash) VALUES (nextval('raw_position'), $1, $2, $3, $4, $5, $6, $7::json, \
     $8::json, $9, $9, NULL, $10, $11, $12, $13, clock_timestamp(), $14, $15)";

/// The databases and stores of the three variants.
pub struct Harness {
    raw_url: String,
    anslut_url: String,
    template: Arc<Template>,
    postgres_es: Arc<PostgresCqrs<Counter>>,
    anslut: Arc<AnslutCqrs>,
    store: EventStore,
}

/// The metadata both cqrs-es stores get with every command, as the API sends it.
fn metadata() -> HashMap<String, String> {
    let command = Uuid::now_v7().to_string();
    HashMap::from([
        (metadata_keys::COMMAND_ID.to_owned(), command.clone()),
        (metadata_keys::CORRELATION_ID.to_owned(), command),
        (
            metadata_keys::ACTOR_SUBJECT.to_owned(),
            "SE2321000032-it5".to_owned(),
        ),
        (metadata_keys::ACTOR_ROLE.to_owned(), "region_it".to_owned()),
        (metadata_keys::ACTOR_REGION.to_owned(), "dalarna".to_owned()),
    ])
}

fn actor() -> ActorRecord {
    ActorRecord {
        subject: "SE2321000032-it5".into(),
        role: "region_it".into(),
        region: "dalarna".into(),
        provider_org: None,
    }
}

/// Anslut's store on `url`, migrated, sized for 16 concurrent commands.
pub async fn anslut_store(url: &str) -> Result<EventStore> {
    let store = EventStore::connect(
        url,
        StoreOptions {
            max_connections: 18,
            snapshot_every: SNAPSHOT_EVERY,
            // As `anslut serve` runs it (`cached_aggregates`' default there).
            cached_aggregates: 4096,
            ..StoreOptions::default()
        },
    )
    .await
    .context("connecting Anslut's store")?;
    store.migrate().await.context("migrating Anslut's store")?;
    Ok(store)
}

pub fn anslut_cqrs(store: &EventStore) -> Arc<AnslutCqrs> {
    Arc::new(CqrsFramework::new(
        store.aggregate_store::<Counter>(),
        Vec::new(),
        (),
    ))
}

impl Harness {
    /// Creates the three databases and connects everything.
    pub async fn new(server: &Server) -> Result<Self> {
        let anslut_url = server.create("append_anslut").await?;
        let store = anslut_store(&anslut_url).await?;
        let anslut = anslut_cqrs(&store);

        // One counter event written by Anslut gives the raw rows their shape.
        anslut
            .execute_with_metadata("template", increment(), metadata())
            .await
            .map_err(|e| Failure::new("appending the template event", e.to_string()))?;
        let template = Arc::new(read_template(&anslut_url).await?);

        let raw_url = server.create("append_raw").await?;
        EventStore::connect(&raw_url, StoreOptions::default())
            .await
            .context("connecting to the raw database")?
            .migrate()
            .await
            .context("creating the events table for the raw ceiling")?;
        let mut conn = PgConnection::connect(&raw_url)
            .await
            .context("connecting to the raw database")?;
        conn.execute("CREATE SEQUENCE raw_position")
            .await
            .context("creating the raw position sequence")?;
        drop(conn.close().await);

        let es_url = server.create("append_postgres_es").await?;
        let mut conn = PgConnection::connect(&es_url)
            .await
            .context("connecting to the postgres-es database")?;
        conn.execute(POSTGRES_ES_SCHEMA)
            .await
            .context("creating postgres-es's tables")?;
        drop(conn.close().await);
        let pool = sqlx_08::postgres::PgPoolOptions::new()
            .max_connections(17)
            .connect(&es_url)
            .await
            .map_err(|e| Failure::new("connecting postgres-es", e.to_string()))?;
        let postgres_es = Arc::new(CqrsFramework::new(
            PersistedEventStore::new_snapshot_store(
                PostgresEventRepository::new(pool),
                SNAPSHOT_EVERY,
            ),
            Vec::new(),
            (),
        ));
        Ok(Self {
            raw_url,
            anslut_url,
            template,
            postgres_es,
            anslut,
            store,
        })
    }

    /// The Anslut variant's store and framework, for the end-to-end comparison.
    pub fn anslut(&self) -> Arc<AnslutCqrs> {
        self.anslut.clone()
    }

    /// One round of `variant` at `streams` concurrent streams named `<label>-<task>`.
    pub async fn round(
        &self,
        variant: Variant,
        streams: usize,
        duration: Duration,
        label: &str,
    ) -> Result<Round> {
        let mut drivers = Vec::with_capacity(streams);
        for task in 0..streams {
            let id = format!("{label}-{task}");
            drivers.push(match variant {
                Variant::Raw => Driver::Raw {
                    conn: Box::new(
                        PgConnection::connect(&self.raw_url)
                            .await
                            .context("connecting a raw inserter")?,
                    ),
                    template: self.template.clone(),
                    id,
                },
                Variant::PostgresEs => Driver::PostgresEs {
                    cqrs: self.postgres_es.clone(),
                    id,
                },
                Variant::Anslut => Driver::Anslut {
                    cqrs: self.anslut.clone(),
                    id,
                },
                Variant::StoreOnly => Driver::StoreOnly {
                    store: self.store.clone(),
                    stream: StreamRef::new(Counter::TYPE, id),
                },
            });
        }
        drive(drivers, duration).await
    }

    /// Every variant at every concurrency: a warm-up, then `rounds` interleaved rounds.
    pub async fn run(&self, warmup: Duration, round: Duration, rounds: usize) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        for streams in STREAMS {
            for variant in Variant::ALL {
                self.round(
                    variant,
                    streams,
                    warmup,
                    &format!("warm{streams}{variant:?}"),
                )
                .await?;
            }
            let mut rates: HashMap<Variant, Vec<f64>> = HashMap::new();
            for r in 0..rounds {
                let mut order = Variant::ALL.to_vec();
                if r % 2 == 1 {
                    order.reverse();
                }
                for variant in order {
                    let label = format!("s{streams}r{r}{variant:?}");
                    let done = self.round(variant, streams, round, &label).await?;
                    eprintln!(
                        "append: {streams:>2} streams, round {}, {}: {:.0} events/s",
                        r + 1,
                        variant.label(),
                        done.per_second()
                    );
                    rates.entry(variant).or_default().push(done.per_second());
                }
            }
            let of = |v: Variant| rates.get(&v).map_or(&[][..], Vec::as_slice);
            let name = |v: Variant| {
                format!(
                    "{}, {streams} stream{}",
                    v.label(),
                    if streams == 1 { "" } else { "s" }
                )
            };
            let unit = "events/s";
            rows.push(Row::new(
                "append",
                name(Variant::Raw),
                unit,
                of(Variant::Raw),
            ));
            rows.push(Row::new(
                "append",
                name(Variant::PostgresEs),
                unit,
                of(Variant::PostgresEs),
            ));
            rows.push(
                Row::new("append", name(Variant::Anslut), unit, of(Variant::Anslut))
                    .against("(a) raw INSERT  [c/a]", of(Variant::Raw)),
            );
            rows.push(
                Row::new("append", name(Variant::Anslut), unit, of(Variant::Anslut))
                    .against("(b) postgres-es [c/b]", of(Variant::PostgresEs)),
            );
            rows.push(
                Row::new(
                    "append",
                    name(Variant::StoreOnly),
                    unit,
                    of(Variant::StoreOnly),
                )
                .against("(a) raw INSERT", of(Variant::Raw)),
            );
            let mut batches = Vec::new();
            for r in 0..rounds {
                batches.push(
                    self.events_per_commit(&format!("s{streams}r{r}Anslut-"))
                        .await?,
                );
            }
            rows.push(Row::new(
                "append",
                format!(
                    "(c) events per commit of the log's writer, {streams} stream{}",
                    if streams == 1 { "" } else { "s" }
                ),
                "events",
                &batches,
            ));
        }
        Ok(rows)
    }

    /// The mean number of events Anslut's writer committed together for the streams whose ids
    /// start with `prefix`: every batch reads the database clock once, so its events share
    /// one `recorded_at`.
    async fn events_per_commit(&self, prefix: &str) -> Result<f64> {
        let mut conn = PgConnection::connect(&self.anslut_url)
            .await
            .context("connecting to count the writer's batches")?;
        let (events, batches): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(DISTINCT recorded_at) FROM events \
             WHERE stream_type = $1 AND starts_with(stream_id, $2)",
        )
        .bind(Counter::TYPE)
        .bind(prefix)
        .fetch_one(&mut conn)
        .await
        .context("counting the writer's batches")?;
        drop(conn.close().await);
        if batches == 0 {
            return Err(Failure::new("counting the writer's batches", "no events"));
        }
        // Event counts stay far below 2^52.
        #[expect(
            clippy::cast_precision_loss,
            reason = "a count or a duration as f64 for a rate or a percentage: far below 2^52, where f64 is exact"
        )]
        let mean = events as f64 / batches as f64;
        Ok(mean)
    }

    /// Checks that Anslut's log is intact after everything the rounds appended.
    pub async fn verify(&self) -> Result<()> {
        let report = self.store.verify().await.context("verifying the log")?;
        if report.is_intact() {
            Ok(())
        } else {
            Err(Failure::new("verifying the log", format!("{report:?}")))
        }
    }
}

/// postgres-es's tables, as its `db/init.sql` creates them.
pub const POSTGRES_ES_SCHEMA: &str = "
CREATE TABLE events (
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    sequence bigint CHECK (sequence >= 0) NOT NULL,
    event_type text NOT NULL,
    event_version text NOT NULL,
    payload json NOT NULL,
    metadata json NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);
CREATE TABLE snapshots (
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    last_sequence bigint CHECK (last_sequence >= 0) NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload json NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);";

async fn read_template(url: &str) -> Result<Template> {
    let mut conn = PgConnection::connect(url)
        .await
        .context("connecting to read the template event")?;
    let row = sqlx::query(
        "SELECT stream_type, event_type, event_version, payload::text AS payload, \
         metadata::text AS metadata, actor_subject, actor_role, actor_region, \
         actor_provider_org, prev_hash, hash FROM events ORDER BY position LIMIT 1",
    )
    .fetch_one(&mut conn)
    .await
    .context("reading the template event")?;
    let get = |column: &str| row.try_get::<String, _>(column);
    let template = Template {
        stream_type: get("stream_type").context("the template's stream type")?,
        event_type: get("event_type").context("the template's event type")?,
        event_version: get("event_version").context("the template's event version")?,
        payload: get("payload").context("the template's payload")?,
        metadata: get("metadata").context("the template's metadata")?,
        actor_subject: row
            .try_get("actor_subject")
            .context("the template's actor")?,
        actor_role: row.try_get("actor_role").context("the template's actor")?,
        actor_region: row
            .try_get("actor_region")
            .context("the template's actor")?,
        actor_provider_org: row
            .try_get("actor_provider_org")
            .context("the template's actor")?,
        prev_hash: row.try_get("prev_hash").context("the template's hash")?,
        hash: row.try_get("hash").context("the template's hash")?,
    };
    drop(conn.close().await);
    Ok(template)
}

fn increment() -> Increment {
    Increment {
        reason: REASON.to_owned(),
    }
}

/// One task's way of committing an event to its own stream.
pub enum Driver {
    Raw {
        conn: Box<PgConnection>,
        template: Arc<Template>,
        id: String,
    },
    PostgresEs {
        cqrs: Arc<PostgresCqrs<Counter>>,
        id: String,
    },
    Anslut {
        cqrs: Arc<AnslutCqrs>,
        id: String,
    },
    StoreOnly {
        store: EventStore,
        stream: StreamRef,
    },
}

impl Driver {
    /// Commits the stream's `n`-th event (from 1).
    async fn step(&mut self, n: u64) -> Result<()> {
        match self {
            Self::Raw { conn, template, id } => {
                let version = i64::try_from(n).unwrap_or(i64::MAX);
                let event_id = Uuid::now_v7();
                sqlx::query(RAW_INSERT)
                    .bind(&template.stream_type)
                    .bind(id.as_str())
                    .bind(version)
                    .bind(event_id)
                    .bind(&template.event_type)
                    .bind(&template.event_version)
                    .bind(&template.payload)
                    .bind(&template.metadata)
                    .bind(Uuid::now_v7())
                    .bind(&template.actor_subject)
                    .bind(&template.actor_role)
                    .bind(&template.actor_region)
                    .bind(&template.actor_provider_org)
                    .bind(&template.prev_hash)
                    .bind(&template.hash)
                    .execute(&mut **conn)
                    .await
                    .context("a raw INSERT")?;
            }
            Self::PostgresEs { cqrs, id } => cqrs
                .execute_with_metadata(id, increment(), metadata())
                .await
                .map_err(|e| Failure::new("a postgres-es command", e.to_string()))?,
            Self::Anslut { cqrs, id } => cqrs
                .execute_with_metadata(id, increment(), metadata())
                .await
                .map_err(|e| Failure::new("an Anslut command", e.to_string()))?,
            Self::StoreOnly { store, stream } => {
                let payload = serde_json::json!({ "count": n, "reason": REASON });
                store
                    .append(AppendRequest {
                        stream: stream.clone(),
                        expected: ExpectedVersion::Exact(n - 1),
                        metadata: EventMetadata::new(Uuid::now_v7(), Some(actor())),
                        events: vec![NewEvent {
                            event_type: "Incremented".into(),
                            event_version: "1".into(),
                            payload,
                        }],
                        snapshot: None,
                    })
                    .await
                    .context("an Anslut store append")?;
            }
        }
        Ok(())
    }
}

/// Runs every driver in its own task for `duration`, all starting together.
pub async fn drive(drivers: Vec<Driver>, duration: Duration) -> Result<Round> {
    let barrier = Arc::new(Barrier::new(drivers.len() + 1));
    let mut tasks = JoinSet::new();
    for mut driver in drivers {
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            let deadline = Instant::now() + duration;
            let mut latencies = Vec::new();
            let mut n = 0;
            while Instant::now() < deadline {
                n += 1;
                let sent = Instant::now();
                driver.step(n).await?;
                latencies.push(sent.elapsed());
            }
            Ok::<_, Failure>(latencies)
        });
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut round = Round::default();
    while let Some(done) = tasks.join_next().await {
        let latencies = done.map_err(|e| Failure::new("an appending task", e.to_string()))??;
        round.events += latencies.len() as u64;
        round.latencies.extend(latencies);
    }
    round.elapsed = started.elapsed();
    Ok(round)
}
