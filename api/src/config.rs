//! Configuration: defaults, then an optional TOML file (`--config` or `ANSLUT_CONFIG`), then
//! `ANSLUT_*` environment variables (nested keys joined by `__`, e.g.
//! `ANSLUT_AUTH__JWKS_URL`), then `DATABASE_URL`. Secrets are wrapped in [`Secret`], whose
//! `Debug` and `Display` print `[redacted]`.

use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

/// A value that must never be printed or logged.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself; the name makes every use visible in review.
    pub const fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Development (the default) or production.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

/// Everything `anslut` can be configured with. Unknown top-level keys are ignored, so that
/// other `ANSLUT_*` variables (e.g. the tests' `ANSLUT_TEST_DATABASE_URL`) do not stop the
/// server; unknown keys inside a section are refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// `ANSLUT_ENV`: `development` or `production`.
    pub env: Environment,
    /// The address to listen on.
    pub host: String,
    /// The port to listen on; 0 picks a free one (tests).
    pub port: u16,
    /// Where the SQLite file, the development signing key and the development subject key
    /// live.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`: `postgres://...` for PostgreSQL; unset means SQLite at
    /// `<data_dir>/anslut.db`.
    pub database_url: Option<Secret<String>>,
    pub database: DatabaseSettings,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a graceful shutdown waits for requests in flight, in seconds.
    pub shutdown_timeout_seconds: u64,
    /// How long a client may take to send a request's headers, in milliseconds; a slower
    /// one gets 408 and its connection is closed.
    pub request_header_timeout_milliseconds: u64,
    /// How long a client may take to send a request's body, in milliseconds, from the
    /// moment the handler starts reading it; a slower one (or one that stops mid-body) gets
    /// 408 `request_timeout` and its connection is closed.
    pub request_body_timeout_milliseconds: u64,
    /// Take an aggregate snapshot every this many events.
    pub snapshot_every: usize,
    /// `ANSLUT_CACHED_AGGREGATES`: how many aggregates (cases, incidents, data subjects) the
    /// server keeps in memory as its last command left them, so that the next command on one
    /// reads only the events after that state (0: none). Their states hold no personal data,
    /// like the snapshots. Each instance keeps its own; the events after a cached state are
    /// always read, so instances never act on a stale one.
    pub cached_aggregates: usize,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    pub auth: AuthSettings,
    pub privacy: PrivacySettings,
    pub audit: AuditSettings,
    pub projections: ProjectionSettings,
    pub webhooks: WebhookSettings,
    pub ops: OpsSettings,
    pub limits: LimitSettings,
}

/// Who may read `/metrics` and the detailed `/readyz`. `/healthz` and the bare readiness status
/// (200 or 503, nothing else) are always open on the API's port.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsSettings {
    /// `ANSLUT_OPS__TOKEN`: a bearer token (at least 32 characters) that opens `/metrics` and
    /// the detailed `/readyz` on the API's port. Unset: they are not served there.
    pub token: Option<Secret<String>>,
    /// `ANSLUT_OPS__LISTEN`: a separate address (e.g. `127.0.0.1:9464`, port 0 picks one) that
    /// serves `/metrics`, the detailed `/readyz` and `/healthz` without a token, for a scraper on
    /// a network the API's clients cannot reach.
    pub listen: Option<String>,
}

/// The least length of `ops.token`.
pub const MIN_OPS_TOKEN: usize = 32;

/// Bounds on what one client or caller can make the server do. A rate of 0 turns its limit
/// off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// The largest request head (request line and headers) answered, in bytes; a larger one
    /// gets 431 `request_header_fields_too_large`. At most 64 KiB (the HTTP layer closes
    /// connections whose head exceeds 128 KiB before any handler runs).
    pub max_request_header_bytes: usize,
    /// Requests with a missing or invalid token one client address may send per minute once
    /// its burst is spent; then every request of the address that needs a token gets 429.
    pub failed_auth_per_minute: u32,
    pub failed_auth_burst: u32,
    /// Commands (writes) one caller may send per second once its burst is spent.
    pub commands_per_second: u32,
    pub commands_burst: u32,
    /// Data-subject lookups and forgets one caller may send per minute once its burst is
    /// spent.
    pub privacy_per_minute: u32,
    pub privacy_burst: u32,
    /// Long polls (`GET /v1/feed?wait=`) waiting at once in this instance, and per caller.
    pub long_polls: usize,
    pub long_polls_per_caller: usize,
    /// Wake-ups of waiting long polls are coalesced: at most one per this many milliseconds.
    pub long_poll_coalesce_milliseconds: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_request_header_bytes: 32 * 1024,
            failed_auth_per_minute: 60,
            failed_auth_burst: 120,
            commands_per_second: 50,
            commands_burst: 500,
            privacy_per_minute: 30,
            privacy_burst: 60,
            long_polls: 512,
            long_polls_per_caller: 4,
            long_poll_coalesce_milliseconds: 50,
        }
    }
}

/// The most `limits.max_request_header_bytes` may be.
pub const MAX_REQUEST_HEADER_BYTES: usize = 64 * 1024;

/// The database beyond its URL.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `ANSLUT_DATABASE__MIGRATE_URL`: the role that owns the schema (`postgres://...`), for
    /// migrations only. When set, `anslut migrate` and the start of every command migrate
    /// through it, and `DATABASE_URL` may name an application role that can only read and
    /// append the log (docs/operations.md gives its grants). Unset, `DATABASE_URL` migrates.
    pub migrate_url: Option<Secret<String>>,
    /// `ANSLUT_DATABASE__POOLS__*`: the most connections each part of the server opens on
    /// PostgreSQL. [`PoolSettings::per_instance`] adds them up.
    pub pools: PoolSettings,
}

/// The connection budget of one server on PostgreSQL, part by part. Every instance opens up to
/// [`PoolSettings::per_instance`] connections, so `max_connections` of the database must
/// allow that times the number of instances, plus the migration and maintenance sessions.
/// (SQLite has one writer whatever the setting.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolSettings {
    /// Appends and reads of the event log, the request path's pool (at least 2).
    pub store: u32,
    /// The read models' projectors and queries (at least 2).
    pub projections: u32,
    /// The webhook outbox, its projector and deliveries (at least 2).
    pub webhooks: u32,
    /// The data subjects' keys (at least 1).
    pub keys: u32,
    /// The audit tree: its own tables' pool of this size (at least 1), and the log it follows
    /// through a store of its own, whose pool has this size but at least 2 (a store's writer
    /// and a reader may each hold one).
    pub audit: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            store: 10,
            projections: 8,
            webhooks: 6,
            keys: 2,
            audit: 4,
        }
    }
}

impl PoolSettings {
    /// The most connections one server opens on PostgreSQL: the pools (the audit's log pool at
    /// least 2, as every store's), plus one dedicated leadership session per projection and
    /// one for the webhook outbox projector (each holds an advisory lock for as long as it
    /// leads). Notification listeners hold a connection of their pool.
    pub fn per_instance(&self) -> u32 {
        let leaders = u32::try_from(projections::ProjectionName::ALL.len()).unwrap_or(u32::MAX);
        self.store
            .saturating_add(self.projections)
            .saturating_add(leaders)
            .saturating_add(self.webhooks)
            .saturating_add(1)
            .saturating_add(self.keys)
            .saturating_add(self.audit)
            .saturating_add(self.audit.max(2))
    }
}

/// How tokens are verified.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry.
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds; at most 60.
    pub leeway_seconds: u64,
    /// Production: a JWKS document on disk.
    pub jwks_file: Option<PathBuf>,
    /// Production: a JWKS document at an `https://` URL.
    pub jwks_url: Option<String>,
    /// How often the JWKS is fetched again, in seconds.
    pub jwks_refresh_seconds: u64,
    /// The least time between two fetches caused by an unknown `kid`, in seconds.
    pub jwks_min_refetch_seconds: u64,
    /// Allow an `http://` JWKS URL on a loopback address (tests and local development only;
    /// refused in production).
    pub allow_loopback_http_jwks: bool,
    /// Development: the HS256 key, hex-encoded, instead of `<data_dir>/dev-signing-key`.
    pub dev_signing_key: Option<Secret<String>>,
    /// The dashboard's sign-in: the OpenID Connect issuer (`https://`; its discovery
    /// document, authorization and token endpoints under the same origin) whose access
    /// tokens the JWKS above verifies. Without it, the dashboard signs in with development
    /// tokens when the server uses its development key, and not at all otherwise.
    pub oidc_issuer: Option<String>,
    /// The dashboard's public client id at the issuer (authorization code with PKCE).
    pub oidc_client_id: Option<String>,
}

/// Keys for personal data.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacySettings {
    /// The HMAC key (hex, at least 32 bytes) that maps a personnummer to a stable data
    /// subject id. Development generates `<data_dir>/subject-key` when unset.
    pub subject_key: Option<Secret<String>>,
    /// The key-encryption key (hex, exactly 32 bytes) that wraps every data subject's key
    /// (crypto-shredding, see the `privacy` crate). Development generates
    /// `<data_dir>/privacy-key` when unset. Losing it loses all personal data in the log.
    pub key_encryption_key: Option<Secret<String>>,
}

/// Tamper evidence: the signed checkpoints of the Merkle tree over the log.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// The checkpoints' origin line and key name, e.g. `anslut.region.se/dalarna-prod`: no
    /// spaces or `+`. Production requires it; development uses [`DEV_ORIGIN`].
    pub origin: Option<String>,
    /// The Ed25519 signing key: a file of exactly 32 bytes (the seed). Production requires
    /// it; development generates `<data_dir>/checkpoint-signing-key`.
    pub signing_key_file: Option<PathBuf>,
    /// The least time between two signed checkpoints, in seconds.
    pub checkpoint_interval_seconds: u64,
    /// How often new events are added to the tree, in milliseconds.
    pub poll_interval_milliseconds: u64,
}

/// The checkpoint origin of development deployments.
pub const DEV_ORIGIN: &str = "anslut.localhost/development";

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            origin: None,
            signing_key_file: None,
            checkpoint_interval_seconds: 60,
            poll_interval_milliseconds: 1000,
        }
    }
}

impl AuditSettings {
    /// The configured origin, or the development one.
    pub fn origin(&self) -> &str {
        self.origin.as_deref().unwrap_or(DEV_ORIGIN)
    }
}

/// The read models: read-your-writes, readiness and the projectors' pace.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectionSettings {
    /// How long a read with `min_position` waits for the read models to reach that position
    /// before it answers 503 `projection_lagging`, in milliseconds.
    pub wait_milliseconds: u64,
    /// `/readyz` answers 503 when a projection is more than this many events behind the log.
    pub ready_max_lag_events: u64,
    /// `/readyz` answers 503 when a projection's oldest unprojected event is older than this,
    /// in seconds.
    pub ready_max_lag_seconds: u64,
    /// A projector reads the log at least this often, whatever it was told, in milliseconds.
    pub poll_interval_milliseconds: u64,
    /// How often an instance that does not lead a projection tries to take it over, in
    /// milliseconds: the longest a dead leader's projection waits for a successor.
    pub leader_retry_milliseconds: u64,
}

impl Default for ProjectionSettings {
    fn default() -> Self {
        Self {
            wait_milliseconds: 5000,
            ready_max_lag_events: 10_000,
            ready_max_lag_seconds: 60,
            poll_interval_milliseconds: 1000,
            leader_retry_milliseconds: 1000,
        }
    }
}

/// Webhooks: the key that seals the subscriptions' signing secrets, and the deliveries' pace.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// The server key that seals every subscription's signing secret at rest: a file of 64
    /// hex digits (32 bytes), kept outside the database. Production requires it; development
    /// generates `<data_dir>/webhook-secret-key`. Losing it makes every stored secret
    /// unusable (the regions then need new subscriptions).
    pub secret_key_file: Option<PathBuf>,
    /// Failed attempts before a delivery is parked.
    pub max_attempts: u32,
    /// The ceiling of the wait after the first failed attempt, in milliseconds; it doubles
    /// with each failure (full jitter) up to `retry_cap_seconds`.
    pub retry_base_milliseconds: u64,
    /// The longest wait between two attempts, in seconds.
    pub retry_cap_seconds: u64,
    /// Time allowed for one attempt, connecting included, in seconds.
    pub request_timeout_seconds: u64,
    /// How long a claimed delivery belongs to its worker, in seconds; longer than
    /// `request_timeout_seconds`.
    pub lease_seconds: u64,
    /// Deliveries in flight at once in one instance.
    pub concurrency: usize,
    /// Active subscriptions one region may have.
    pub max_subscriptions_per_region: usize,
    /// The outbox projector and the workers look at least this often, in milliseconds.
    pub poll_interval_milliseconds: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            secret_key_file: None,
            max_attempts: 12,
            retry_base_milliseconds: 5000,
            retry_cap_seconds: 3600,
            request_timeout_seconds: 15,
            lease_seconds: 60,
            concurrency: 16,
            max_subscriptions_per_region: 50,
            poll_interval_milliseconds: 1000,
        }
    }
}

/// The environment variables (after `ANSLUT_`) that hold hex keys.
const SUBJECT_KEY_VAR: &str = "privacy__subject_key";
const KEK_VAR: &str = "privacy__key_encryption_key";
const DEV_KEY_VAR: &str = "auth__dev_signing_key";
const OPS_TOKEN_VAR: &str = "ops__token";

/// The largest request body accepted by default: 256 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;
/// The most clock skew a token may be granted.
pub const MAX_LEEWAY_SECONDS: u64 = 60;

impl Default for Settings {
    fn default() -> Self {
        Self {
            env: Environment::Development,
            host: "127.0.0.1".into(),
            port: 8080,
            data_dir: PathBuf::from("data"),
            database_url: None,
            database: DatabaseSettings::default(),
            body_limit: DEFAULT_BODY_LIMIT,
            shutdown_timeout_seconds: 30,
            request_header_timeout_milliseconds: 5_000,
            request_body_timeout_milliseconds: 30_000,
            snapshot_every: 50,
            cached_aggregates: 4096,
            workers: 0,
            auth: AuthSettings::default(),
            privacy: PrivacySettings::default(),
            audit: AuditSettings::default(),
            projections: ProjectionSettings::default(),
            webhooks: WebhookSettings::default(),
            ops: OpsSettings::default(),
            limits: LimitSettings::default(),
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: "anslut-dev".into(),
            audience: "anslut".into(),
            leeway_seconds: 30,
            jwks_file: None,
            jwks_url: None,
            jwks_refresh_seconds: 300,
            jwks_min_refetch_seconds: 30,
            allow_loopback_http_jwks: false,
            dev_signing_key: None,
            oidc_issuer: None,
            oidc_client_id: None,
        }
    }
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading the configuration")]
    Load(#[from] Box<figment::Error>),
    #[error("{0}")]
    Invalid(String),
}

impl Settings {
    /// Layers defaults, the optional file and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid(format!(
                    "the configuration file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment
            .merge(
                Env::prefixed("ANSLUT_")
                    .filter(|key| {
                        ![
                            "config",
                            SUBJECT_KEY_VAR,
                            KEK_VAR,
                            DEV_KEY_VAR,
                            OPS_TOKEN_VAR,
                        ]
                        .iter()
                        .any(|skip| key.as_str().eq_ignore_ascii_case(skip))
                    })
                    .split("__")
                    .lowercase(true),
            )
            .merge(Env::raw().only(&["database_url"]).lowercase(true));
        let mut settings: Self = figment.extract().map_err(Box::new)?;
        // Hex keys are read verbatim: the environment provider would take "00ff..." for a
        // number.
        if let Ok(key) = std::env::var(format!("ANSLUT_{}", SUBJECT_KEY_VAR.to_uppercase())) {
            settings.privacy.subject_key = Some(Secret::new(key));
        }
        if let Ok(key) = std::env::var(format!("ANSLUT_{}", KEK_VAR.to_uppercase())) {
            settings.privacy.key_encryption_key = Some(Secret::new(key));
        }
        if let Ok(key) = std::env::var(format!("ANSLUT_{}", DEV_KEY_VAR.to_uppercase())) {
            settings.auth.dev_signing_key = Some(Secret::new(key));
        }
        // Read verbatim too: a token of digits would otherwise become a number.
        if let Ok(token) = std::env::var(format!("ANSLUT_{}", OPS_TOKEN_VAR.to_uppercase())) {
            settings.ops.token = Some(Secret::new(token));
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what must hold whatever the source: the leeway bound, and in production a
    /// PostgreSQL URL, verification keys and the subject key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.auth.leeway_seconds > MAX_LEEWAY_SECONDS {
            return Err(ConfigError::Invalid(format!(
                "auth.leeway_seconds is {}; at most {MAX_LEEWAY_SECONDS} is allowed",
                self.auth.leeway_seconds
            )));
        }
        if self.auth.jwks_file.is_some() && self.auth.jwks_url.is_some() {
            return Err(ConfigError::Invalid(
                "configure either auth.jwks_file or auth.jwks_url, not both".into(),
            ));
        }
        crate::dashboard::validate_oidc(&self.auth, self.is_production())
            .map_err(ConfigError::Invalid)?;
        if self.body_limit == 0 {
            return Err(ConfigError::Invalid("body_limit must be positive".into()));
        }
        if self.request_header_timeout_milliseconds == 0
            || self.request_body_timeout_milliseconds == 0
        {
            return Err(ConfigError::Invalid(
                "request_header_timeout_milliseconds and request_body_timeout_milliseconds \
                 must be positive"
                    .into(),
            ));
        }
        if self.audit.poll_interval_milliseconds == 0 {
            return Err(ConfigError::Invalid(
                "audit.poll_interval_milliseconds must be positive".into(),
            ));
        }
        if self.projections.poll_interval_milliseconds == 0
            || self.projections.leader_retry_milliseconds == 0
        {
            return Err(ConfigError::Invalid(
                "projections.poll_interval_milliseconds and projections.leader_retry_milliseconds \
                 must be positive"
                    .into(),
            ));
        }
        self.validate_edge()?;
        if let Some(migrate_url) = &self.database.migrate_url {
            let postgres = is_postgres_url(migrate_url.expose())
                && self
                    .database_url
                    .as_ref()
                    .is_some_and(|url| is_postgres_url(url.expose()));
            if !postgres {
                return Err(ConfigError::Invalid(
                    "database.migrate_url and DATABASE_URL must both be postgres://... URLs (a \
                     separate migration role is for PostgreSQL)"
                        .into(),
                ));
            }
        }
        let pools = &self.database.pools;
        if pools.store < 2
            || pools.projections < 2
            || pools.webhooks < 2
            || pools.keys == 0
            || pools.audit == 0
        {
            return Err(ConfigError::Invalid(
                "database.pools: store, projections and webhooks need at least 2 connections, \
                 keys and audit at least 1"
                    .into(),
            ));
        }
        let hooks = &self.webhooks;
        if hooks.max_attempts == 0
            || hooks.concurrency == 0
            || hooks.poll_interval_milliseconds == 0
            || hooks.request_timeout_seconds == 0
            || hooks.lease_seconds <= hooks.request_timeout_seconds
        {
            return Err(ConfigError::Invalid(
                "webhooks: max_attempts, concurrency, poll_interval_milliseconds and \
                 request_timeout_seconds must be positive, and lease_seconds longer than \
                 request_timeout_seconds"
                    .into(),
            ));
        }
        if self.env == Environment::Production {
            let postgres = self
                .database_url
                .as_ref()
                .is_some_and(|url| is_postgres_url(url.expose()));
            if !postgres {
                return Err(ConfigError::Invalid(
                    "production needs DATABASE_URL=postgres://...; SQLite is for development"
                        .into(),
                ));
            }
            if self.auth.jwks_file.is_none() && self.auth.jwks_url.is_none() {
                return Err(ConfigError::Invalid(
                    "production needs verification keys: set ANSLUT_AUTH__JWKS_URL (https) or \
                     ANSLUT_AUTH__JWKS_FILE"
                        .into(),
                ));
            }
            if self.auth.dev_signing_key.is_some() || self.auth.allow_loopback_http_jwks {
                return Err(ConfigError::Invalid(
                    "production refuses development settings (auth.dev_signing_key, \
                     auth.allow_loopback_http_jwks)"
                        .into(),
                ));
            }
            if self.privacy.subject_key.is_none() {
                return Err(ConfigError::Invalid(
                    "production needs ANSLUT_PRIVACY__SUBJECT_KEY (hex, at least 32 bytes)".into(),
                ));
            }
            if self.privacy.key_encryption_key.is_none() {
                return Err(ConfigError::Invalid(
                    "production needs ANSLUT_PRIVACY__KEY_ENCRYPTION_KEY (hex, 32 bytes)".into(),
                ));
            }
            if self.audit.signing_key_file.is_none() || self.audit.origin.is_none() {
                return Err(ConfigError::Invalid(
                    "production needs the checkpoint signing key and origin: set \
                     ANSLUT_AUDIT__SIGNING_KEY_FILE (32 bytes) and ANSLUT_AUDIT__ORIGIN"
                        .into(),
                ));
            }
            if self.webhooks.secret_key_file.is_none() {
                return Err(ConfigError::Invalid(
                    "production needs the webhook secret key: set \
                     ANSLUT_WEBHOOKS__SECRET_KEY_FILE (a file of 64 hex digits)"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// The operations endpoints' protection and the limits at the edge.
    fn validate_edge(&self) -> Result<(), ConfigError> {
        if let Some(token) = &self.ops.token
            && (token.expose().trim().len() < MIN_OPS_TOKEN
                || token.expose().trim().contains(char::is_whitespace))
        {
            return Err(ConfigError::Invalid(format!(
                "ops.token needs at least {MIN_OPS_TOKEN} characters and no spaces"
            )));
        }
        if let Some(listen) = &self.ops.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(ConfigError::Invalid(
                "ops.listen is an address and port, e.g. 127.0.0.1:9464".into(),
            ));
        }
        let limits = &self.limits;
        if !(1024..=MAX_REQUEST_HEADER_BYTES).contains(&limits.max_request_header_bytes) {
            return Err(ConfigError::Invalid(format!(
                "limits.max_request_header_bytes is 1024 to {MAX_REQUEST_HEADER_BYTES}"
            )));
        }
        if limits.long_polls == 0
            || limits.long_polls_per_caller == 0
            || limits.long_poll_coalesce_milliseconds > 1000
        {
            return Err(ConfigError::Invalid(
                "limits.long_polls and limits.long_polls_per_caller must be positive, \
                 limits.long_poll_coalesce_milliseconds at most 1000"
                    .into(),
            ));
        }
        for (name, rate, burst) in [
            (
                "failed_auth",
                limits.failed_auth_per_minute,
                limits.failed_auth_burst,
            ),
            (
                "commands",
                limits.commands_per_second,
                limits.commands_burst,
            ),
            ("privacy", limits.privacy_per_minute, limits.privacy_burst),
        ] {
            if rate > 0 && burst == 0 {
                return Err(ConfigError::Invalid(format!(
                    "limits.{name}_burst must be positive while its rate is"
                )));
            }
        }
        Ok(())
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }

    /// The database to connect to: `DATABASE_URL`, or the SQLite file in the data directory.
    pub fn database_url(&self) -> Secret<String> {
        self.database_url.clone().unwrap_or_else(|| {
            Secret::new(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("anslut.db").display()
            ))
        })
    }

    /// The database migrations run through: `database.migrate_url` when set, else
    /// [`Settings::database_url`].
    pub fn migrate_url(&self) -> Secret<String> {
        self.database
            .migrate_url
            .clone()
            .unwrap_or_else(|| self.database_url())
    }
}

fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        let settings = Settings {
            database_url: Some(Secret::new("postgres://u:pw@h/db".into())),
            ..Settings::default()
        };
        assert!(!format!("{settings:?}").contains("pw@"));
    }

    #[test]
    fn production_refuses_sqlite_and_missing_keys() {
        let mut settings = Settings {
            env: Environment::Production,
            ..Settings::default()
        };
        assert!(settings.validate().is_err());
        settings.database_url = Some(Secret::new("postgres://h/db".into()));
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("verification keys"), "{error}");
        settings.auth.jwks_url = Some("https://idp.example/jwks".into());
        assert!(settings.validate().is_err(), "the subject key is missing");
        settings.privacy.subject_key = Some(Secret::new("00".repeat(32)));
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("KEY_ENCRYPTION_KEY"), "{error}");
        settings.privacy.key_encryption_key = Some(Secret::new("01".repeat(32)));
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("checkpoint signing key"), "{error}");
        settings.audit.signing_key_file = Some("/run/secrets/checkpoint-key".into());
        settings.audit.origin = Some("anslut.example/prod".into());
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("webhook secret key"), "{error}");
        settings.webhooks.secret_key_file = Some("/run/secrets/webhook-key".into());
        settings.validate().unwrap();
    }

    #[test]
    fn a_configuration_file_sets_what_the_environment_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("anslut.toml");
        std::fs::write(
            &file,
            "shutdown_timeout_seconds = 7\n[auth]\nissuer = \"https://idp.example\"\n",
        )
        .unwrap();
        let settings = Settings::load(Some(&file)).unwrap();
        assert_eq!(settings.shutdown_timeout_seconds, 7);
        assert_eq!(settings.auth.issuer, "https://idp.example");
        assert!(Settings::load(Some(&dir.path().join("missing.toml"))).is_err());
        std::fs::write(&file, "[auth]\nisuer = \"typo\"\n").unwrap();
        assert!(
            Settings::load(Some(&file)).is_err(),
            "unknown keys in a section are refused"
        );
    }

    #[test]
    fn pool_sizes_come_from_the_environment_and_add_up_to_the_instance_budget() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("anslut.toml");
        std::fs::write(
            &file,
            "[database.pools]\nstore = 4\nprojections = 3\nwebhooks = 2\nkeys = 1\naudit = 1\n",
        )
        .unwrap();
        let settings = Settings::load(Some(&file)).unwrap();
        let pools = settings.database.pools;
        assert_eq!(
            (
                pools.store,
                pools.projections,
                pools.webhooks,
                pools.keys,
                pools.audit
            ),
            (4, 3, 2, 1, 1)
        );
        // 4 + 3 + 7 leaders + 2 + 1 outbox leader + 1 + 1 (audit tables) + 2 (its log, at
        // least 2 as every store's pool)
        assert_eq!(pools.per_instance(), 21);
        assert_eq!(PoolSettings::default().per_instance(), 42);
        let mut starved = Settings::default();
        starved.database.pools.store = 1;
        assert!(starved.validate().is_err());
        std::fs::write(&file, "[database.pools]\nstorre = 4\n").unwrap();
        assert!(
            Settings::load(Some(&file)).is_err(),
            "a misspelt pool is refused"
        );
    }

    #[test]
    fn the_operations_token_and_the_edge_limits_are_checked() {
        let mut settings = Settings::default();
        settings.ops.token = Some(Secret::new("short".into()));
        assert!(settings.validate().is_err(), "a guessable token is refused");
        settings.ops.token = Some(Secret::new("o".repeat(MIN_OPS_TOKEN)));
        settings.validate().unwrap();
        settings.ops.listen = Some("not an address".into());
        assert!(settings.validate().is_err());
        settings.ops.listen = Some("127.0.0.1:9464".into());
        settings.validate().unwrap();
        settings.limits.max_request_header_bytes = MAX_REQUEST_HEADER_BYTES + 1;
        assert!(
            settings.validate().is_err(),
            "beyond what the HTTP layer reads"
        );
        settings.limits = LimitSettings {
            commands_burst: 0,
            ..LimitSettings::default()
        };
        assert!(settings.validate().is_err());
        settings.limits.commands_per_second = 0;
        settings.validate().unwrap();
    }

    #[test]
    fn leeway_is_bounded() {
        let mut settings = Settings::default();
        settings.auth.leeway_seconds = 61;
        assert!(settings.validate().is_err());
    }

    #[test]
    fn migrations_run_through_the_migrate_url_when_one_is_set() {
        let mut settings = Settings {
            database_url: Some(Secret::new("postgres://anslut_app@h/db".into())),
            ..Settings::default()
        };
        assert_eq!(
            settings.migrate_url().expose(),
            "postgres://anslut_app@h/db"
        );
        settings.database.migrate_url = Some(Secret::new("postgres://anslut_owner@h/db".into()));
        settings.validate().unwrap();
        assert_eq!(
            settings.migrate_url().expose(),
            "postgres://anslut_owner@h/db"
        );
        settings.database_url = None;
        assert!(
            settings.validate().is_err(),
            "a migration role is for PostgreSQL, not the SQLite file"
        );
    }

    #[test]
    fn sqlite_in_the_data_directory_is_the_default_database() {
        let settings = Settings::default();
        assert!(
            settings
                .database_url()
                .expose()
                .ends_with("anslut.db?mode=rwc")
        );
    }
}
