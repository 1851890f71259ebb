//! [`Webhooks`]: the facade the API layer calls (subscriptions, the delivery log,
//! redelivery, status) and [`Webhooks::start`], which runs the outbox projector and the
//! delivery workers beside the server.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use dbkit::BigInt as _;
use dbkit::follower::{self, Signal, Tasks, Timing};
use store::{EventStore, NOTIFY_CHANNEL, Position};

use crate::db::{self, Db, Sql, WEBHOOKS_CHANNEL, micros};
use crate::endpoint::{GuardedResolver, UrlPolicy};
use crate::error::WebhookError;
use crate::filter::EventTypeFilter;
use crate::model::{
    Caller, Delivery, DeliveryDetail, DeliveryId, DeliveryPage, DeliveryQuery, DeliveryStatus,
    InterventionKind, Leader, Registered, Registration, Rotated, Subscription, SubscriptionId,
    SubscriptionSpec, WebhookStatus,
};
use crate::retry::RetryPolicy;
use crate::secret::{SecretKey, SigningSecret};
use crate::{projector, worker};

/// The most deliveries one page of the log holds.
const MAX_PAGE: u32 = 500;
const DEFAULT_PAGE: u32 = 100;
const MAX_DESCRIPTION: usize = 200;

/// How the webhooks run. [`WebhookOptions::new`] gives production-sane values.
#[derive(Clone)]
pub struct WebhookOptions {
    /// Seals signing secrets at rest.
    pub secret_key: SecretKey,
    /// Where deliveries may go.
    pub url_policy: UrlPolicy,
    /// The CloudEvents types the application records, when known: registration then refuses
    /// patterns that match none of them.
    pub known_event_types: Option<Arc<BTreeSet<String>>>,
    pub retry: RetryPolicy,
    /// Time allowed to connect (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time allowed for a whole attempt, connecting included (Standard Webhooks recommends
    /// 15 to 30 s).
    pub request_timeout: Duration,
    /// How long a claimed row is a worker's. Must exceed `request_timeout`: a live worker
    /// always records before its lease ends.
    pub lease: Duration,
    /// Deliveries in flight at once in this instance.
    pub concurrency: usize,
    /// Events per outbox projector batch (one transaction each).
    pub batch_size: u64,
    /// The projector and the workers look at least this often, whatever they were told.
    pub poll_interval: Duration,
    /// How often a non-leader tries to take over the outbox projector.
    pub leader_retry: Duration,
    /// How long to wait after a database error before trying again.
    pub error_backoff: Duration,
    /// Active subscriptions per region.
    pub max_subscriptions_per_region: usize,
    /// The size of the crate's own connection pool.
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// This instance's name in leases and the attempt log.
    pub instance: String,
    /// How long [`Webhooks::status`] reuses its delivered and skipped counts (each count reads
    /// the whole outbox, which is never pruned); zero counts every time.
    pub terminal_counts_ttl: Duration,
}

impl std::fmt::Debug for WebhookOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookOptions")
            .field("secret_key", &self.secret_key)
            .field("url_policy", &self.url_policy)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .field("lease", &self.lease)
            .field("concurrency", &self.concurrency)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl WebhookOptions {
    pub fn new(secret_key: SecretKey, url_policy: UrlPolicy) -> Self {
        Self {
            secret_key,
            url_policy,
            known_event_types: None,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            lease: Duration::from_secs(60),
            concurrency: 16,
            batch_size: 500,
            poll_interval: Duration::from_secs(1),
            leader_retry: Duration::from_secs(1),
            error_backoff: Duration::from_secs(1),
            max_subscriptions_per_region: 50,
            max_connections: 6,
            acquire_timeout: Duration::from_secs(5),
            instance: format!(
                "instance-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            ),
            terminal_counts_ttl: Duration::ZERO,
        }
    }

    fn validate(&self) -> Result<(), WebhookError> {
        if self.lease <= self.request_timeout {
            return Err(WebhookError::Invalid(
                "the lease must be longer than the request timeout".into(),
            ));
        }
        if self.concurrency == 0 || self.batch_size == 0 || self.retry.max_attempts == 0 {
            return Err(WebhookError::Invalid(
                "concurrency, batch size and max attempts must be at least 1".into(),
            ));
        }
        if self.instance.is_empty() || self.instance.len() > 100 {
            return Err(WebhookError::Invalid(
                "an instance name is 1 to 100 bytes".into(),
            ));
        }
        Ok(())
    }
}

/// What this process is doing.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocalState {
    pub running: bool,
    pub leading: bool,
    pub projector_error: Option<String>,
}

/// Everything the tasks and the facade share.
pub(crate) struct Shared {
    pub db: Db,
    pub store: EventStore,
    pub options: WebhookOptions,
    pub client: reqwest::Client,
    /// The log may have grown: wakes the projector.
    pub log_moved: Signal,
    /// The outbox may hold claimable rows: wakes the workers.
    pub outbox_moved: Signal,
    pub local: Mutex<LocalState>,
    /// The last delivered and skipped counts, and when they were counted.
    pub terminal: Mutex<Option<(std::time::Instant, (u64, u64))>>,
}

impl Shared {
    pub fn wake_projector(&self) {
        self.log_moved.wake();
    }

    pub fn wake_workers(&self) {
        self.outbox_moved.wake();
    }

    pub fn set_local(&self, change: impl FnOnce(&mut LocalState)) {
        change(&mut self.local.lock().expect("local state poisoned"));
    }

    fn local(&self) -> LocalState {
        self.local.lock().expect("local state poisoned").clone()
    }
}

/// The webhooks over one store's database. Cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("postgres", &self.shared.db.is_postgres())
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

/// The HTTP client of the workers: rustls, no redirects, no proxy, bounded timeouts, and the
/// resolver that applies the address policy to what a name resolves to.
fn http_client(options: &WebhookOptions) -> Result<reqwest::Client, WebhookError> {
    // Installing twice is harmless: the first provider stays.
    drop(rustls::crypto::ring::default_provider().install_default());
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .dns_resolver(GuardedResolver {
            refuse_private_addresses: options.url_policy.refuse_private_addresses,
        })
        .user_agent(concat!("anslut-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| WebhookError::Invalid(format!("the HTTP client: {e}")))
}

/// What an idempotency key was first used for: SHA-256 over the request's content.
fn fingerprint(spec: &SubscriptionSpec) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(spec.url.as_bytes());
    for pattern in &spec.event_types {
        hasher.update([0x1f]);
        hasher.update(pattern.as_bytes());
    }
    hasher.update([0x1e]);
    if let Some(description) = &spec.description {
        hasher.update([0x01]);
        hasher.update(description.as_bytes());
    }
    hex::encode(hasher.finalize())
}

fn validate_description(description: Option<&String>) -> Result<(), WebhookError> {
    if let Some(text) = description
        && (text.chars().count() > MAX_DESCRIPTION || text.chars().any(char::is_control))
    {
        return Err(WebhookError::Invalid(
            "description is at most 200 characters without control characters".into(),
        ));
    }
    Ok(())
}

impl Webhooks {
    /// Connects to the store's database (the URL the store was given), creates or updates
    /// the webhook tables, and builds the delivery client. Runs nothing: see
    /// [`Webhooks::start`].
    pub async fn open(
        database_url: &str,
        store: EventStore,
        options: WebhookOptions,
    ) -> Result<Self, WebhookError> {
        options.validate()?;
        let db = db::connect(
            database_url,
            options.max_connections,
            options.acquire_timeout,
        )
        .await?;
        if db.is_postgres() != store.is_postgres() {
            return Err(WebhookError::Invalid(
                "the outbox must live in the store's database".into(),
            ));
        }
        let client = http_client(&options)?;
        Ok(Self {
            shared: Arc::new(Shared {
                db,
                store,
                options,
                client,
                log_moved: Signal::default(),
                outbox_moved: Signal::default(),
                local: Mutex::new(LocalState::default()),
                terminal: Mutex::new(None),
            }),
        })
    }

    pub fn options(&self) -> &WebhookOptions {
        &self.shared.options
    }

    /// Registers a subscription for the caller's region. It receives the matching events
    /// recorded from now on. The answer carries the signing secret: show it once; it cannot
    /// be read again.
    #[tracing::instrument(skip_all, fields(region = %caller.region))]
    pub async fn register(
        &self,
        caller: &Caller,
        spec: SubscriptionSpec,
    ) -> Result<Registered, WebhookError> {
        match self.register_with(caller, spec, None).await? {
            Registration::Created(registered) => Ok(registered),
            Registration::Existing(_) => Err(WebhookError::Corrupt(
                "a registration without a key found an existing one".into(),
            )),
        }
    }

    /// [`Webhooks::register`] with the caller's idempotency `key`: the first request creates
    /// the subscription (with its secret); a retry with the same key and content answers
    /// [`Registration::Existing`], the subscription without its secret (it is never shown
    /// again: rotate it for a new one); the same key with other content is
    /// [`WebhookError::IdempotencyKeyReused`]. Keys belong to the caller (region and subject).
    #[tracing::instrument(skip_all, fields(region = %caller.region))]
    pub async fn register_idempotent(
        &self,
        caller: &Caller,
        spec: SubscriptionSpec,
        key: &str,
    ) -> Result<Registration, WebhookError> {
        match self.register_with(caller, spec.clone(), Some(key)).await {
            // Two first requests at once: the unique index lets one in, and the other's insert
            // fails; it then finds the subscription the first created.
            Err(error @ (WebhookError::Database(_) | WebhookError::Store(_))) => {
                match self.existing(caller, &spec, key).await? {
                    Some(existing) => Ok(Registration::Existing(existing)),
                    None => Err(error),
                }
            }
            other => other,
        }
    }

    /// The subscription `caller` registered with `key`, if the content matches.
    async fn existing(
        &self,
        caller: &Caller,
        spec: &SubscriptionSpec,
        key: &str,
    ) -> Result<Option<Subscription>, WebhookError> {
        let found = dbkit::with_backend!(self.shared.db.reader().await?.conn(), conn, S = Sql => {
            S::subscription_by_key(conn, &caller.region, &caller.subject, key).await
        })?;
        match found {
            Some((subscription, stored)) if stored == fingerprint(spec) => Ok(Some(subscription)),
            Some(_) => Err(WebhookError::IdempotencyKeyReused),
            None => Ok(None),
        }
    }

    async fn register_with(
        &self,
        caller: &Caller,
        spec: SubscriptionSpec,
        key: Option<&str>,
    ) -> Result<Registration, WebhookError> {
        let options = &self.shared.options;
        let url = options.url_policy.check(&spec.url)?;
        let filter =
            EventTypeFilter::parse(&spec.event_types, options.known_event_types.as_deref())?;
        validate_description(spec.description.as_ref())?;
        if caller.region.is_empty() || caller.subject.is_empty() {
            return Err(WebhookError::Invalid(
                "the caller has no region or subject".into(),
            ));
        }
        if let Some(key) = key {
            if key.is_empty() || key.len() > 255 {
                return Err(WebhookError::Invalid(
                    "an idempotency key is 1 to 255 bytes".into(),
                ));
            }
            if let Some(existing) = self.existing(caller, &spec, key).await? {
                return Ok(Registration::Existing(existing));
            }
        }
        let key_fingerprint = key.map(|key| (key, fingerprint(&spec)));
        let id = SubscriptionId(uuid::Uuid::now_v7());
        let secret = SigningSecret::generate()?;
        let sealed = options.secret_key.seal(&id.to_string(), &secret)?;
        let mut tx = self.shared.db.begin_write().await?;
        // The projector's row lock orders this registration against its batches: every
        // batch that commits after this one sees the subscription, and covers only events
        // after the head read below.
        dbkit::with_backend!(tx.conn(), conn, S = Sql => S::checkpoint(conn, true).await)?;
        let active = dbkit::with_backend!(tx.conn(), conn, S = Sql => S::count_active(conn, &caller.region).await)?;
        if active >= options.max_subscriptions_per_region {
            return Err(WebhookError::TooMany(options.max_subscriptions_per_region));
        }
        let head = self.shared.store.head().await?;
        let subscription = Subscription {
            id,
            region: caller.region.clone(),
            url: url.to_string(),
            event_types: filter.patterns().to_vec(),
            description: spec.description,
            active: true,
            starts_after: head,
            created_at: db::at_micros(micros(Utc::now()))?,
            created_by: caller.subject.clone(),
            deactivated_at: None,
            deactivated_by: None,
            deactivation_reason: None,
        };
        dbkit::with_backend!(tx.conn(), conn, S = Sql => S::insert_subscription(
            conn, &subscription, &filter.to_stored(), options.secret_key.id(), &sealed,
            key_fingerprint.as_ref().map(|(key, print)| (*key, print.as_str())),
        ).await)?;
        tx.commit().await?;
        tracing::info!(subscription = %id, starts_after = %head, "webhook subscription registered");
        Ok(Registration::Created(Registered {
            subscription,
            secret,
        }))
    }

    /// Gives an active subscription of the caller's region a new signing secret, shown this
    /// once. The previous secret keeps signing beside it (deliveries carry both signatures)
    /// for `overlap`, so the receiver can switch without losing a delivery; then only the
    /// new one signs. Rotating again during an overlap drops the oldest secret at once. A
    /// deactivated subscription is a conflict; another region's is not found.
    #[tracing::instrument(skip_all, fields(region = %caller.region, subscription = %id))]
    pub async fn rotate_secret(
        &self,
        caller: &Caller,
        id: SubscriptionId,
        overlap: Duration,
    ) -> Result<Rotated, WebhookError> {
        let options = &self.shared.options;
        let secret = SigningSecret::generate()?;
        let sealed = options.secret_key.seal(&id.to_string(), &secret)?;
        let now = micros(Utc::now());
        let expires = now.saturating_add(i64::try_from(overlap.as_micros()).unwrap_or(i64::MAX));
        let mut tx = self.shared.db.begin_write().await?;
        let rotated = dbkit::with_backend!(tx.conn(), conn, S = Sql => {
            let done = S::rotate_secret(&mut *conn, &caller.region, id, options.secret_key.id(), &sealed, expires, now).await?;
            S::subscription(&mut *conn, &caller.region, id).await.map(|found| (done, found))
        })?;
        tx.commit().await?;
        let subscription = match rotated {
            (true, Some(subscription)) => subscription,
            (false, Some(_)) => {
                return Err(WebhookError::Conflict(
                    "the subscription is deactivated: nothing is signed for it".into(),
                ));
            }
            (_, None) => return Err(WebhookError::NotFound("subscription")),
        };
        tracing::info!(
            overlap_seconds = overlap.as_secs(),
            "webhook signing secret rotated"
        );
        Ok(Rotated {
            subscription,
            secret,
            previous_expires_at: db::at_micros(expires)?,
        })
    }

    /// The region's subscriptions, active or not, oldest first.
    pub async fn list(&self, region: &str) -> Result<Vec<Subscription>, WebhookError> {
        dbkit::with_backend!(self.shared.db.reader().await?.conn(), conn, S = Sql => S::subscriptions(conn, region).await)
    }

    /// One subscription of the region; `None` also for another region's.
    pub async fn get(
        &self,
        region: &str,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, WebhookError> {
        dbkit::with_backend!(self.shared.db.reader().await?.conn(), conn, S = Sql => S::subscription(conn, region, id).await)
    }

    /// Stops deliveries to a subscription for good. Its rows stay in the log as they are;
    /// nothing more is enqueued or sent. Deactivating an inactive subscription changes
    /// nothing.
    #[tracing::instrument(skip_all, fields(region = %caller.region, subscription = %id))]
    pub async fn deactivate(
        &self,
        caller: &Caller,
        id: SubscriptionId,
    ) -> Result<Subscription, WebhookError> {
        let mut tx = self.shared.db.begin_write().await?;
        let found = dbkit::with_backend!(tx.conn(), conn, S = Sql => {
            match S::subscription(&mut *conn, &caller.region, id).await? {
                Some(found) if found.active => {
                    S::deactivate(&mut *conn, id, &caller.subject, "deactivated on request", micros(Utc::now())).await?;
                    S::subscription(&mut *conn, &caller.region, id).await
                }
                other => Ok::<_, WebhookError>(other),
            }
        })?;
        tx.commit().await?;
        found.ok_or(WebhookError::NotFound("subscription"))
    }

    /// A page of a subscription's delivery log, newest event first.
    pub async fn deliveries(
        &self,
        region: &str,
        subscription: SubscriptionId,
        query: DeliveryQuery,
    ) -> Result<DeliveryPage, WebhookError> {
        let limit = match query.limit {
            0 => DEFAULT_PAGE,
            n if n <= MAX_PAGE => n,
            _ => {
                return Err(WebhookError::Invalid(format!(
                    "a page holds at most {MAX_PAGE} deliveries"
                )));
            }
        } as usize;
        dbkit::with_backend!(self.shared.db.reader().await?.conn(), conn, S = Sql => {
            if S::subscription(&mut *conn, region, subscription).await?.is_none() {
                return Err(WebhookError::NotFound("subscription"));
            }
            let mut deliveries =
                S::deliveries(&mut *conn, subscription, query.status, query.before, limit + 1).await?;
            let next = (deliveries.len() > limit).then(|| {
                deliveries.truncate(limit);
                deliveries.last().map(|d| d.position)
            });
            Ok(DeliveryPage {
                deliveries,
                next: next.flatten(),
            })
        })
    }

    /// One delivery of the region with its attempts and interventions.
    pub async fn delivery(
        &self,
        region: &str,
        id: DeliveryId,
    ) -> Result<Option<DeliveryDetail>, WebhookError> {
        dbkit::with_backend!(self.shared.db.reader().await?.conn(), conn, S = Sql => {
            let Some(delivery) = S::delivery(&mut *conn, region, id, false).await? else {
                return Ok(None);
            };
            let attempts = S::attempts(&mut *conn, id).await?;
            let interventions = S::interventions(&mut *conn, id).await?;
            Ok(Some(DeliveryDetail { delivery, attempts, interventions }))
        })
    }

    /// Sends a parked, delivered or skipped delivery again: pending, due now, with a fresh
    /// attempt budget, recording who asked. The same `webhook-id` is sent (receivers that
    /// still remember it may ignore it). Pending and delivering rows are refused (409): they
    /// are on their way already.
    #[tracing::instrument(skip_all, fields(region = %caller.region, delivery = %id))]
    pub async fn redeliver(
        &self,
        caller: &Caller,
        id: DeliveryId,
    ) -> Result<Delivery, WebhookError> {
        self.intervene(caller, id, InterventionKind::Redeliver)
            .await
    }

    /// Gives up on a parked delivery: it is never sent again (unless redelivered), and the
    /// events after it in its stream are released. Records who asked.
    #[tracing::instrument(skip_all, fields(region = %caller.region, delivery = %id))]
    pub async fn skip(&self, caller: &Caller, id: DeliveryId) -> Result<Delivery, WebhookError> {
        self.intervene(caller, id, InterventionKind::Skip).await
    }

    async fn intervene(
        &self,
        caller: &Caller,
        id: DeliveryId,
        action: InterventionKind,
    ) -> Result<Delivery, WebhookError> {
        let mut tx = self.shared.db.begin_write().await?;
        let changed = dbkit::with_backend!(tx.conn(), conn, S = Sql => {
            let delivery = S::delivery(&mut *conn, &caller.region, id, true)
                .await?
                .ok_or(WebhookError::NotFound("delivery"))?;
            let allowed = match action {
                InterventionKind::Redeliver => matches!(
                    delivery.status,
                    DeliveryStatus::Parked | DeliveryStatus::Delivered | DeliveryStatus::Skipped
                ),
                InterventionKind::Skip => delivery.status == DeliveryStatus::Parked,
            };
            if !allowed {
                return Err(WebhookError::Conflict(format!(
                    "a {} delivery cannot be {}",
                    delivery.status,
                    match action {
                        InterventionKind::Redeliver => "redelivered",
                        InterventionKind::Skip => "skipped",
                    }
                )));
            }
            let subscription = S::subscription(&mut *conn, &caller.region, delivery.subscription_id)
                .await?
                .ok_or(WebhookError::NotFound("delivery"))?;
            if action == InterventionKind::Redeliver && !subscription.active {
                return Err(WebhookError::Conflict(
                    "the subscription is deactivated: nothing is sent to it".into(),
                ));
            }
            S::intervene(&mut *conn, &delivery, action, &caller.subject, micros(Utc::now())).await?;
            S::delivery(&mut *conn, &caller.region, id, false).await
        })?;
        tx.notify(WEBHOOKS_CHANNEL, "").await?;
        tx.commit().await?;
        self.shared.wake_workers();
        changed.ok_or(WebhookError::NotFound("delivery"))
    }

    /// The projector's checkpoint and leadership, and the outbox by status.
    pub async fn status(&self) -> Result<WebhookStatus, WebhookError> {
        let mut status = self.health().await?;
        let (delivered, skipped) = self.terminal_counts().await?;
        status.delivered = Some(delivered);
        status.skipped = Some(skipped);
        Ok(status)
    }

    /// [`Webhooks::status`] without the delivered and skipped counts: what readiness needs,
    /// reading only the rows still in play.
    pub async fn health(&self) -> Result<WebhookStatus, WebhookError> {
        let local = self.shared.local();
        let head = self.shared.store.head().await?;
        let ((checkpoint, stored_error), (counts, next_due)) = dbkit::with_backend!(self.shared.db.reader().await?.conn(), conn, S = Sql => {
            let checkpoint = S::checkpoint(&mut *conn, false).await?;
            Ok::<_, WebhookError>((checkpoint, S::live_counts(&mut *conn).await?))
        })?;
        let checkpoint = Position::from_bigint(checkpoint)?;
        let leader = if local.leading {
            Leader::Here
        } else if self
            .shared
            .db
            .advisory_lock_held(projector::LOCK_KEY)
            .await?
        {
            Leader::Elsewhere
        } else {
            Leader::Nobody
        };
        let now = micros(Utc::now());
        #[expect(
            clippy::cast_precision_loss,
            reason = "a count or a duration as f64 for a rate or a percentage: far below 2^52, where f64 is exact"
        )]
        let oldest_due_seconds = next_due
            .filter(|due| *due < now)
            .map_or(0.0, |due| (now - due) as f64 / 1e6);
        Ok(WebhookStatus {
            checkpoint,
            head,
            lag_events: head.get().saturating_sub(checkpoint.get()),
            leader,
            projector_error: local.projector_error.or(stored_error),
            running: local.running,
            pending: counts.pending,
            delivering: counts.delivering,
            delivered: None,
            parked: counts.parked,
            skipped: None,
            oldest_due_seconds,
        })
    }

    /// The delivered and skipped counts, counted again only when the last count is older than
    /// `terminal_counts_ttl`.
    async fn terminal_counts(&self) -> Result<(u64, u64), WebhookError> {
        let ttl = self.shared.options.terminal_counts_ttl;
        if !ttl.is_zero()
            && let Some((at, counts)) = *self.shared.terminal.lock().expect("counts poisoned")
            && at.elapsed() < ttl
        {
            return Ok(counts);
        }
        let counts = dbkit::with_backend!(self.shared.db.reader().await?.conn(), conn, S = Sql => S::terminal_counts(conn).await)?;
        *self.shared.terminal.lock().expect("counts poisoned") =
            Some((std::time::Instant::now(), counts));
        Ok(counts)
    }

    /// Starts the outbox projector, the delivery workers and their wake-ups. Dropping the
    /// handle stops them at once (in-flight attempts are abandoned and redelivered after
    /// their lease); [`WebhooksHandle::shutdown`] lets in-flight attempts finish first.
    pub fn start(&self) -> WebhooksHandle {
        let shared = self.shared.clone();
        shared.set_local(|local| local.running = true);
        let mut tasks = Tasks::default();
        let forward = shared.clone();
        tasks.spawn_waker(follower::forward(shared.store.subscribe(), move || {
            forward.wake_projector();
        }));
        if let Db::Postgres(pools) = &shared.db {
            tasks.spawn_waker(listen(shared.clone(), pools.clone()));
        }
        let options = &shared.options;
        tasks.spawn_follower(follower::run(
            projector::Projector::new(shared.clone()),
            shared.db.clone(),
            Some(projector::LOCK_KEY),
            Timing {
                poll_interval: options.poll_interval,
                leader_retry: options.leader_retry,
                error_backoff: options.error_backoff,
            },
            shared.log_moved.subscribe(),
            tasks.stopping(),
        ));
        tasks.spawn_follower(worker::run(shared.clone(), tasks.stopping()));
        WebhooksHandle {
            webhooks: self.clone(),
            tasks: Some(tasks),
        }
    }
}

/// The running projector and workers. Dropping it stops them at once.
pub struct WebhooksHandle {
    webhooks: Webhooks,
    tasks: Option<Tasks>,
}

impl std::fmt::Debug for WebhooksHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhooksHandle").finish_non_exhaustive()
    }
}

impl std::ops::Deref for WebhooksHandle {
    type Target = Webhooks;
    fn deref(&self) -> &Webhooks {
        &self.webhooks
    }
}

impl WebhooksHandle {
    /// Stops claiming, lets in-flight attempts finish and record their outcome (at most the
    /// request timeout), stops the projector between batches, and waits for all of it.
    pub async fn shutdown(mut self) {
        if let Some(tasks) = self.tasks.take() {
            tasks.shutdown().await;
        }
    }

    /// Stops every task at once, as a crash would (nothing finishes its step or records an
    /// outcome), and returns when none runs any more. Leases stay as they were: the next
    /// instance takes them over when they expire, as after a real crash.
    pub async fn abort(mut self) {
        if let Some(tasks) = self.tasks.take() {
            tasks.abort().await;
        }
    }
}

impl Drop for WebhooksHandle {
    fn drop(&mut self) {
        // Dropping the tasks aborts whatever still runs.
        self.tasks = None;
        self.webhooks.shared.set_local(|local| {
            local.running = false;
            local.leading = false;
        });
    }
}

/// Wake-ups from other processes (PostgreSQL): appends on the store's channel wake the
/// projector, outbox changes on [`WEBHOOKS_CHANNEL`] wake the workers; after a gap, both.
async fn listen(shared: Arc<Shared>, pools: Arc<dbkit::Pools<sqlx::Postgres>>) {
    follower::listen(
        &pools,
        &[NOTIFY_CHANNEL, WEBHOOKS_CHANNEL],
        shared.options.error_backoff,
        "webhooks",
        |channel, payload| {
            if channel == WEBHOOKS_CHANNEL {
                shared.wake_workers();
            } else {
                shared.store.notified(payload);
                shared.wake_projector();
            }
        },
        || {
            shared.wake_projector();
            shared.wake_workers();
        },
    )
    .await;
}
