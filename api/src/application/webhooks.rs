//! The webhooks in the server and the CLI: opening the `webhooks` crate's [`Webhooks`] with its
//! secret key and the configured pace, the event types the domain records, readiness, and how
//! its errors become problems.
//!
//! * **The secret key** seals every subscription's signing secret at rest. Production reads
//!   it from `webhooks.secret_key_file` (a mounted secret of 64 hex digits); development
//!   generates `<data_dir>/webhook-secret-key` on first use, like the other development keys.
//! * **Where deliveries may go**: production allows `https://` to public addresses only;
//!   development also `http://` to a loopback host (a receiver on the developer's machine,
//!   and the tests').
//! * **Event types**: registration refuses a type or prefix that matches none of the types
//!   the domain records (`CASE_EVENT_TYPES`, `INCIDENT_EVENT_TYPES`), so a typo is a 422 rather
//!   than a subscription that never fires.
//! * **Running**: every instance opens the webhooks (the routes need them); `serve` also runs
//!   the outbox projector (one instance at a time, by advisory lock on PostgreSQL) and the
//!   delivery workers (every instance, sharing rows by `SKIP LOCKED`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ::webhooks::{
    RetryPolicy, SecretKey, UrlPolicy, WebhookError, WebhookOptions, WebhookStatus, Webhooks,
};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use cqrs_es::Aggregate;
use domain::case::{CASE_EVENT_TYPES, ConnectionCase};
use domain::incident::{INCIDENT_EVENT_TYPES, SecurityIncident};
use serde_json::json;
use store::EventStore;

use crate::config::{ProjectionSettings, Settings};
use crate::problem::{ApiError, ProblemCode};

/// The file name of the development webhook secret key in the data directory.
pub const SECRET_KEY_FILE: &str = "webhook-secret-key";

/// The key that seals signing secrets: the configured file, or in development the key in the
/// data directory (generated when missing).
pub fn secret_key(settings: &Settings) -> Result<SecretKey, WebhookError> {
    match &settings.webhooks.secret_key_file {
        Some(path) => SecretKey::from_file(path),
        None if settings.is_production() => Err(WebhookError::Key(
            "production needs webhooks.secret_key_file (ANSLUT_WEBHOOKS__SECRET_KEY_FILE)".into(),
        )),
        None => {
            let path = settings.data_dir.join(SECRET_KEY_FILE);
            let (key, created) = SecretKey::load_or_generate(&path)?;
            if created {
                tracing::warn!(path = %path.display(), key_id = key.id(), "generated a development webhook secret key. Development only: production reads webhooks.secret_key_file");
            }
            Ok(key)
        }
    }
}

/// Where deliveries may go: https to public addresses in production; development also
/// allows http to a loopback host.
pub fn url_policy(settings: &Settings) -> UrlPolicy {
    if settings.is_production() {
        UrlPolicy::production()
    } else {
        UrlPolicy::development()
    }
}

/// Every CloudEvents type the domain records: `se.anslut.<stream type>.<event type>.v<n>`.
pub fn known_event_types() -> BTreeSet<String> {
    let case = CASE_EVENT_TYPES
        .iter()
        .map(|(name, version)| (ConnectionCase::TYPE, name, version));
    let incident = INCIDENT_EVENT_TYPES
        .iter()
        .map(|(name, version)| (SecurityIncident::TYPE, name, version));
    case.chain(incident)
        .map(|(stream, name, version)| format!("se.anslut.{stream}.{name}.v{version}"))
        .collect()
}

/// The crate's options from the configuration.
pub fn options(settings: &Settings) -> Result<WebhookOptions, WebhookError> {
    let hooks = &settings.webhooks;
    let mut options = WebhookOptions::new(secret_key(settings)?, url_policy(settings));
    options.known_event_types = Some(Arc::new(known_event_types()));
    options.retry = RetryPolicy {
        base: Duration::from_millis(hooks.retry_base_milliseconds),
        cap: Duration::from_secs(hooks.retry_cap_seconds),
        max_attempts: hooks.max_attempts,
    };
    options.request_timeout = Duration::from_secs(hooks.request_timeout_seconds);
    options.connect_timeout = options.connect_timeout.min(options.request_timeout);
    options.lease = Duration::from_secs(hooks.lease_seconds);
    options.concurrency = hooks.concurrency;
    options.max_subscriptions_per_region = hooks.max_subscriptions_per_region;
    options.poll_interval = Duration::from_millis(hooks.poll_interval_milliseconds);
    options.leader_retry = Duration::from_millis(settings.projections.leader_retry_milliseconds);
    options.max_connections = settings.database.pools.webhooks;
    // `/metrics` counts the delivered and skipped rows (the whole outbox) at most this often.
    options.terminal_counts_ttl = Duration::from_secs(30);
    Ok(options)
}

/// Opens the webhooks in the store's database and creates or updates their tables; runs
/// nothing (`serve` starts the projector and the workers; the CLI never does).
pub async fn open(settings: &Settings, store: EventStore) -> Result<Webhooks, WebhookError> {
    let webhooks =
        Webhooks::open(settings.database_url().expose(), store, options(settings)?).await?;
    tracing::info!("webhooks ready; migrations applied");
    Ok(webhooks)
}

/// Why the webhooks keep this instance from being ready, if they do: the outbox projector
/// failed (`stopped`), or it is further behind the log than the read models may be
/// (`lagging`). Parked and waiting deliveries never do: they wait on the receivers, and
/// taking the API out of service would not bring a receiver back. They are reported in
/// `/readyz` and `/metrics` instead.
pub fn unready(status: &WebhookStatus, settings: &ProjectionSettings) -> Option<&'static str> {
    if status.projector_error.is_some() {
        Some("stopped")
    } else if status.lag_events > settings.ready_max_lag_events {
        Some("lagging")
    } else {
        None
    }
}

/// 503 `not_ready` for the webhooks' outbox projector, with its status.
pub fn not_ready(reason: &str, status: &WebhookStatus) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ProblemCode::NotReady,
        "Not ready",
        format!("the webhook outbox projector is {reason}"),
    )
    .with("webhooks", json!({"reason": reason, "status": status}))
    .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_known_types_are_every_case_and_incident_event_type() {
        let known = known_event_types();
        assert_eq!(
            known.len(),
            CASE_EVENT_TYPES.len() + INCIDENT_EVENT_TYPES.len()
        );
        assert!(known.contains("se.anslut.connection_case.ApplicationSubmitted.v1"));
        assert!(known.contains("se.anslut.security_incident.IncidentReported.v1"));
    }

    #[test]
    fn production_sends_only_to_public_https_endpoints() {
        let mut settings = Settings::default();
        let development = url_policy(&settings);
        assert!(development.check("http://127.0.0.1:9000/hook").is_ok());
        settings.env = crate::config::Environment::Production;
        let production = url_policy(&settings);
        for refused in [
            "http://127.0.0.1:9000/hook",
            "http://cases.region.example/hook",
            "https://10.0.0.5/hook",
            "https://localhost/hook",
        ] {
            assert!(production.check(refused).is_err(), "{refused}");
        }
        assert!(
            production
                .check("https://cases.region.example/hook")
                .is_ok()
        );
    }

    #[test]
    fn production_never_generates_a_secret_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            data_dir: dir.path().to_path_buf(),
            ..Settings::default()
        };
        settings.env = crate::config::Environment::Production;
        assert!(secret_key(&settings).is_err());
        assert!(!dir.path().join(SECRET_KEY_FILE).exists());
        settings.env = crate::config::Environment::Development;
        let generated = secret_key(&settings).unwrap();
        assert_eq!(secret_key(&settings).unwrap().id(), generated.id());
    }
}
