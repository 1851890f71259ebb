//! Wiring: the store, the audit tree, the read models, the keys, the catalogues, the HTTP
//! server and the background tasks that run beside it (the audit checkpointer, the feed's
//! wake-ups and the projectors).

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, guard, web};
use audit::AuditError;
use domain::catalogue::{CatalogueError, CatalogueRegistry};
use projections::{ProjectionError, ProjectionsHandle};
use store::{EventStore, StoreError, StoreOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::application::checkpoints;
use crate::application::clock::SystemClock;
use crate::application::read_models;
use crate::application::subjects::SubjectIds;
use crate::auth::TokenVerifier;
use crate::auth::dev::{DevKey, load_or_generate_key_file};
use crate::auth::jwks::{JwksCache, JwksError, JwksSource};
use crate::auth::token::Keys;
use crate::config::{Secret, Settings};
use crate::edge::RootSpan;
use crate::extract;
use crate::limits::Limits;
use crate::long_poll::{FeedSignal, LongPolls};
use crate::metrics::Metrics;
use crate::routes::ops::OpsListener;
use crate::routes::{self, RouteTable};
use crate::state::AppState;
use crate::telemetry;

/// The file name of the development subject key in the data directory.
pub const SUBJECT_KEY_FILE: &str = "subject-key";

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("the data directory {path}: {error}")]
    DataDir { path: String, error: std::io::Error },
    #[error("the event store")]
    Store(#[from] StoreError),
    #[error("the audit tree")]
    Audit(#[from] AuditError),
    #[error("the read models")]
    Projections(#[from] ProjectionError),
    #[error("the webhooks")]
    Webhooks(#[from] ::webhooks::WebhookError),
    #[error("the catalogues")]
    Catalogues(#[from] CatalogueError),
    #[error("the verification keys")]
    Jwks(#[from] JwksError),
    #[error("the development signing key: {0}")]
    DevKey(std::io::Error),
    #[error("the subject key: {0}")]
    SubjectKey(String),
    #[error("the data subjects' keys")]
    Privacy(#[from] ::privacy::PrivacyError),
    #[error("metrics")]
    Metrics(#[from] prometheus::Error),
    #[error("the OpenAPI document: {0}")]
    OpenApi(serde_json::Error),
    #[error("binding {address}: {error}")]
    Bind {
        address: String,
        error: std::io::Error,
    },
}

/// A built, not yet running, server, with its background tasks already started.
pub struct Application {
    port: u16,
    /// The operations listener's port (`ops.listen`), if one is configured.
    ops_port: Option<u16>,
    server: Server,
    state: web::Data<AppState>,
    /// Set to `true` once the server has stopped: the background tasks then end.
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The projectors: each projection is projected here while this instance leads it.
    projectors: ProjectionsHandle,
    /// The webhooks' outbox projector (while this instance leads it) and delivery workers.
    webhooks: ::webhooks::WebhooksHandle,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects and migrates the store, the audit tables and the read models, loads keys and
    /// catalogues, binds the port (0 picks a free one) and starts the checkpointer, the
    /// feed's wake-ups and the projectors.
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        let state = web::Data::new(build_state(settings).await?);
        let address = format!("{}:{}", settings.host, settings.port);
        let listener = TcpListener::bind(&address).map_err(|error| StartupError::Bind {
            address: address.clone(),
            error,
        })?;
        let port = listener
            .local_addr()
            .map_err(|error| StartupError::Bind { address, error })?
            .port();
        let ops_listener = match &settings.ops.listen {
            Some(address) => {
                Some(
                    TcpListener::bind(address).map_err(|error| StartupError::Bind {
                        address: address.clone(),
                        error,
                    })?,
                )
            }
            None => None,
        };
        let ops_address = match &ops_listener {
            Some(listener) => Some(listener.local_addr().map_err(|error| StartupError::Bind {
                address: settings.ops.listen.clone().unwrap_or_default(),
                error,
            })?),
            None => None,
        };
        if let Some(address) = ops_address {
            tracing::info!(%address, "operations listener: /metrics, /readyz and /healthz without a token");
        }
        let server = server(listener, ops_listener, state.clone(), settings)?;
        let (shutdown, stopped) = watch::channel(false);
        let until_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                // An error means the Application was dropped: stop as well.
                drop(stopped.wait_for(|stopped| *stopped).await);
            }
        };
        let auditor = state.audit.clone();
        let checkpointer = until_stopped();
        let feed_signal = state.feed.clone();
        let feed_store = state.store.clone();
        let tasks = vec![
            tokio::spawn(async move { auditor.run_checkpointer(checkpointer).await }),
            tokio::spawn(feed_signal.pump(feed_store, until_stopped())),
        ];
        tracing::info!(
            checkpoint_interval_seconds = settings.audit.checkpoint_interval_seconds,
            "the audit checkpointer is running"
        );
        let projectors = state.projections.start();
        tracing::info!(
            leader_retry_milliseconds = settings.projections.leader_retry_milliseconds,
            "the projectors are running (each one leads in one instance at a time)"
        );
        let webhooks = state.webhooks.start();
        tracing::info!(
            concurrency = settings.webhooks.concurrency,
            "the webhooks are running (the outbox projector in one instance at a time, delivery workers in every one)"
        );
        Ok(Self {
            port,
            ops_port: ops_address.map(|address| address.port()),
            server,
            state,
            shutdown,
            tasks,
            projectors,
            webhooks,
        })
    }

    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The operations listener's port, when `ops.listen` is configured.
    pub const fn ops_port(&self) -> Option<u16> {
        self.ops_port
    }

    /// A handle that stops the server (tests stop theirs when done).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The state the handlers share (the demo loads through it).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT or SIGTERM, then stops gracefully: no new connections, requests
    /// in flight get up to `shutdown_timeout_seconds`; then the checkpointer finishes its
    /// round, the projectors their batch (giving up their leadership), and the background
    /// tasks end.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.shutdown.send_replace(true);
        self.projectors.shutdown().await;
        // Attempts in flight finish and record their outcome (at most the request timeout).
        self.webhooks.shutdown().await;
        for task in self.tasks {
            if let Err(error) = task.await {
                tracing::warn!(%error, "a background task ended abnormally");
            }
        }
        served
    }
}

fn server(
    listener: TcpListener,
    ops_listener: Option<TcpListener>,
    state: web::Data<AppState>,
    settings: &Settings,
) -> Result<Server, StartupError> {
    // The OpenAPI document is built and serialised once, here, and every worker serves the
    // same bytes: a worker that kept its own document (as `utoipa-swagger-ui` serves one) held
    // megabytes of it, most of an idle server's heap.
    let document = crate::openapi::spec();
    let table = web::Data::new(RouteTable::from_openapi(&document));
    let document = web::Data::new(routes::ops::OpenApiJson(web::Bytes::from(
        serde_json::to_vec(&document).map_err(StartupError::OpenApi)?,
    )));
    let dashboard = web::Data::new(
        crate::dashboard::Dashboard::new(settings, &state.catalogues)
            .map_err(StartupError::DevKey)?,
    );
    let ops = web::Data::new(OpsListener(
        ops_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok()),
    ));
    let mut server = HttpServer::new(move || {
        let app = App::new()
            .app_data(state.clone())
            .app_data(table.clone())
            .app_data(ops.clone())
            .app_data(dashboard.clone())
            .app_data(document.clone())
            .app_data(web::PathConfig::default().error_handler(extract::path_error))
            .app_data(web::QueryConfig::default().error_handler(extract::query_error))
            .into_utoipa_app();
        // The paths the routes collect are the document above's: dropped here.
        routes::register(app)
            .into_app()
            .service(
                web::resource("/openapi.json")
                    .guard(guard::Get())
                    .to(routes::ops::openapi_json),
            )
            .service(
                SwaggerUi::new("/docs/{_:.*}")
                    .config(utoipa_swagger_ui::Config::from("/openapi.json")),
            )
            .route("/docs", web::get().to(routes::ops::docs_redirect))
            .configure(crate::dashboard::configure)
            .default_service(web::to(routes::fallback))
            .wrap(from_fn(telemetry::observe))
            .wrap(TracingLogger::<RootSpan>::new())
    })
    .shutdown_timeout(settings.shutdown_timeout_seconds)
    .client_request_timeout(Duration::from_millis(
        settings.request_header_timeout_milliseconds,
    ));
    if settings.workers > 0 {
        server = server.workers(settings.workers);
    }
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut server = server
        .listen(listener)
        .map_err(|error| StartupError::Bind { address, error })?;
    if let Some(ops_listener) = ops_listener {
        let address = ops_listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        server = server
            .listen(ops_listener)
            .map_err(|error| StartupError::Bind { address, error })?;
    }
    Ok(server.run())
}

/// Connects to the configured database and applies the migrations: through
/// `database.migrate_url` when one is set (the schema's owner; the application's role may not
/// create the log's tables), else through `DATABASE_URL`.
pub async fn connect_store(settings: &Settings) -> Result<EventStore, StartupError> {
    Ok(connect_store_with_keys(settings).await?.0)
}

/// [`connect_store`], and the data subjects' keys whose codec the store seals personal data
/// with (every event written or read through this store).
pub async fn connect_store_with_keys(
    settings: &Settings,
) -> Result<(EventStore, ::privacy::SubjectKeys), StartupError> {
    if settings.database_url.is_none() {
        ensure_dir(&settings.data_dir)?;
    }
    migrate_as_owner(settings).await?;
    let pools = settings.database.pools;
    let keys = ::privacy::SubjectKeys::connect(
        settings.database_url().expose(),
        key_encryption_key(settings)?,
        ::privacy::KeyOptions {
            max_connections: pools.keys,
            ..::privacy::KeyOptions::default()
        },
    )
    .await?;
    let options = StoreOptions {
        snapshot_every: settings.snapshot_every,
        cached_aggregates: settings.cached_aggregates,
        codec: Arc::new(keys.codec()),
        // Old event versions read as current ones (after the codec has opened them).
        upcasters: Arc::new(domain::case::upcast::upcasters()),
        max_connections: pools.store,
        ..StoreOptions::default()
    };
    let store = EventStore::connect(settings.database_url().expose(), options).await?;
    // With a migrate URL this applies nothing; it reads the head.
    store.migrate().await?;
    // Once per database: the regions that events written before the subject index name.
    let backfilled = keys.backfill_regions(crate::tenancy::TENANT_REGION).await?;
    if backfilled > 0 {
        tracing::info!(
            backfilled,
            "indexed the data subjects that earlier events name"
        );
    }
    if store.is_postgres() {
        tracing::info!(
            connections = pools.per_instance(),
            "event store: PostgreSQL (DATABASE_URL); migrations applied; this instance opens at \
             most `connections` sessions (database.pools)"
        );
    } else {
        tracing::info!(
            path = %settings.data_dir.join("anslut.db").display(),
            "event store: SQLite in the data directory (set DATABASE_URL=postgres://... for PostgreSQL); migrations applied"
        );
    }
    Ok((store, keys))
}

/// The file name of the development key-encryption key in the data directory.
pub const PRIVACY_KEY_FILE: &str = "privacy-key";

/// The key that wraps the data subjects' keys: configured (always in production), else
/// generated into the data directory.
fn key_encryption_key(settings: &Settings) -> Result<::privacy::KeyEncryptionKey, StartupError> {
    let bytes = if let Some(hex_key) = &settings.privacy.key_encryption_key {
        Secret::new(hex::decode(hex_key.expose().trim()).map_err(|_| {
            StartupError::SubjectKey("privacy.key_encryption_key is not hex".into())
        })?)
    } else {
        ensure_dir(&settings.data_dir)?;
        let path = settings.data_dir.join(PRIVACY_KEY_FILE);
        let (key, created) = load_or_generate_key_file(&path)
            .map_err(|error| StartupError::SubjectKey(error.to_string()))?;
        if created {
            tracing::warn!(path = %path.display(), "generated a development key-encryption key for personal data");
        }
        key
    };
    Ok(::privacy::KeyEncryptionKey::from_bytes(bytes.expose())?)
}

/// Applies every migration (the log's, the audit tree's, the webhooks') through
/// `database.migrate_url`, when one is set; does nothing otherwise. `anslut migrate` with a
/// migrate URL does only this: the application role's grants come next (see
/// docs/operations.md), and its first `serve` creates the read models, which it owns because
/// every rebuild creates and drops their tables.
pub async fn migrate_as_owner(settings: &Settings) -> Result<(), StartupError> {
    let Some(owner_url) = &settings.database.migrate_url else {
        return Ok(());
    };
    let store = EventStore::connect(owner_url.expose(), StoreOptions::default()).await?;
    store.migrate().await?;
    checkpoints::migrate_as_owner(settings).await?;
    ::privacy::SubjectKeys::connect(
        owner_url.expose(),
        key_encryption_key(settings)?,
        ::privacy::KeyOptions::default(),
    )
    .await?;
    ::webhooks::Webhooks::open(
        owner_url.expose(),
        store,
        crate::application::webhooks::options(settings)?,
    )
    .await?;
    tracing::info!("migrations applied through database.migrate_url");
    Ok(())
}

fn ensure_dir(path: &Path) -> Result<(), StartupError> {
    std::fs::create_dir_all(path).map_err(|error| StartupError::DataDir {
        path: path.display().to_string(),
        error,
    })
}

/// Everything the handlers share.
pub async fn build_state(settings: &Settings) -> Result<AppState, StartupError> {
    let (store, subject_keys) = connect_store_with_keys(settings).await?;
    let audit = checkpoints::open(settings).await?;
    let catalogues = Arc::new(CatalogueRegistry::load_embedded()?);
    let projections = read_models::open(settings, store.clone(), catalogues.clone()).await?;
    let webhooks = crate::application::webhooks::open(settings, store.clone()).await?;
    Ok(AppState {
        store,
        verifier: verifier(settings).await?,
        catalogues,
        clock: Arc::new(SystemClock),
        subjects: subject_ids(settings)?,
        subject_keys,
        metrics: Metrics::new()?,
        body_limit: settings.body_limit,
        body_timeout: Duration::from_millis(settings.request_body_timeout_milliseconds),
        audit,
        feed: FeedSignal::new(Duration::from_millis(
            settings.limits.long_poll_coalesce_milliseconds,
        )),
        long_polls: LongPolls::new(
            settings.limits.long_polls,
            settings.limits.long_polls_per_caller,
        ),
        limits: Arc::new(Limits::new(&settings.limits)),
        max_request_header_bytes: settings.limits.max_request_header_bytes,
        ops_token: settings.ops.token.clone(),
        projections,
        projection_settings: settings.projections.clone(),
        webhooks,
    })
}

/// The token verifier: JWKS keys when configured (always in production), else the
/// development key, generated into the data directory on first start.
pub async fn verifier(settings: &Settings) -> Result<TokenVerifier, StartupError> {
    let auth = &settings.auth;
    let source = match (&auth.jwks_file, &auth.jwks_url) {
        (Some(path), _) => Some(JwksSource::File(path.clone())),
        (None, Some(url)) => Some(JwksSource::url(
            url,
            auth.allow_loopback_http_jwks && !settings.is_production(),
        )?),
        (None, None) => None,
    };
    let keys = if let Some(source) = source {
        let cache = JwksCache::load(
            source,
            Duration::from_secs(auth.jwks_refresh_seconds),
            Duration::from_secs(auth.jwks_min_refetch_seconds),
        )
        .await?;
        tracing::info!("verifying tokens against the configured JWKS (RS256, ES256, EdDSA)");
        Keys::Jwks(Arc::new(cache))
    } else {
        Keys::Development(dev_key(settings)?.decoding_key())
    };
    Ok(TokenVerifier::new(
        keys,
        auth.issuer.clone(),
        auth.audience.clone(),
        auth.leeway_seconds,
    ))
}

/// The development signing key (never in production).
pub fn dev_key(settings: &Settings) -> Result<DevKey, StartupError> {
    if settings.is_production() {
        return Err(StartupError::DevKey(std::io::Error::other(
            "production never uses the development signing key",
        )));
    }
    if settings.auth.dev_signing_key.is_none() {
        ensure_dir(&settings.data_dir)?;
    }
    let (key, created) = DevKey::load(settings.auth.dev_signing_key.as_ref(), &settings.data_dir)
        .map_err(StartupError::DevKey)?;
    let path = settings.data_dir.join(crate::auth::dev::DEV_KEY_FILE);
    if created {
        tracing::warn!(path = %path.display(), "generated a development signing key (HS256); `anslut token` signs with the same key. Development only: production verifies against a JWKS");
    } else if settings.auth.dev_signing_key.is_none() {
        tracing::info!(path = %path.display(), "verifying development tokens (HS256) with the key in the data directory");
    }
    Ok(key)
}

/// The key that maps a personnummer to a stable data subject.
pub fn subject_ids(settings: &Settings) -> Result<SubjectIds, StartupError> {
    if let Some(hex_key) = &settings.privacy.subject_key {
        let bytes = hex::decode(hex_key.expose().trim())
            .map_err(|_| StartupError::SubjectKey("privacy.subject_key is not hex".into()))?;
        if bytes.len() < 32 {
            return Err(StartupError::SubjectKey(
                "privacy.subject_key needs at least 32 bytes".into(),
            ));
        }
        return Ok(SubjectIds::new(Secret::new(bytes)));
    }
    ensure_dir(&settings.data_dir)?;
    let path = settings.data_dir.join(SUBJECT_KEY_FILE);
    let (key, created) = load_or_generate_key_file(&path)
        .map_err(|error| StartupError::SubjectKey(error.to_string()))?;
    if created {
        tracing::warn!(path = %path.display(), "generated a development subject key for personal data");
    }
    Ok(SubjectIds::new(key))
}
