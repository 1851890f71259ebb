//! The tamper evidence in the server and the CLI: opening the `audit` crate's [`Auditor`] with
//! its signing key, and how its errors become problems.
//!
//! The signing key: production reads the 32-byte seed from `audit.signing_key_file` (a
//! mounted secret) under the configured `audit.origin`; development generates
//! `<data_dir>/checkpoint-signing-key` on first use, like the other development keys, under
//! the origin `anslut.localhost/development`. `serve` runs the checkpointer (the follower that
//! adds new events to the tree, and a signed checkpoint every `checkpoint_interval_seconds`
//! when the log has grown) until the server has stopped.

use std::time::Duration;

use actix_web::http::StatusCode;
use audit::{AuditConfig, AuditError, Auditor, CheckpointSigner};

use crate::config::Settings;
use crate::problem::{ApiError, ProblemCode};

/// The file name of the development checkpoint signing key in the data directory.
pub const SIGNING_KEY_FILE: &str = "checkpoint-signing-key";

/// The checkpoint signer the settings name: the configured key file, or in development the
/// key in the data directory (generated when missing).
pub fn signer(settings: &Settings) -> Result<CheckpointSigner, AuditError> {
    let origin = settings.audit.origin();
    match &settings.audit.signing_key_file {
        Some(path) => CheckpointSigner::from_file(origin, path),
        None if settings.is_production() => Err(AuditError::Key(
            "production needs audit.signing_key_file (ANSLUT_AUDIT__SIGNING_KEY_FILE)".into(),
        )),
        None => {
            let path = settings.data_dir.join(SIGNING_KEY_FILE);
            let existed = path.exists();
            let signer = CheckpointSigner::load_or_generate(origin, &path)?;
            if !existed {
                tracing::warn!(path = %path.display(), key = %signer.verifier_key(), "generated a development checkpoint signing key (Ed25519). Development only: production reads audit.signing_key_file");
            }
            Ok(signer)
        }
    }
}

/// The auditor's settings.
pub fn config(settings: &Settings) -> AuditConfig {
    AuditConfig {
        checkpoint_interval: Duration::from_secs(settings.audit.checkpoint_interval_seconds),
        poll_interval: Duration::from_millis(settings.audit.poll_interval_milliseconds),
        max_connections: settings.database.pools.audit,
        ..AuditConfig::default()
    }
}

/// Applies the audit tables' migrations through `database.migrate_url`, when one is set (the
/// schema's owner); does nothing otherwise. The store's tables must exist
/// (`startup::migrate_as_owner` runs both).
pub async fn migrate_as_owner(settings: &Settings) -> Result<(), AuditError> {
    if let Some(owner_url) = &settings.database.migrate_url {
        Auditor::connect(owner_url.expose(), signer(settings)?, config(settings))
            .await?
            .migrate()
            .await?;
    }
    Ok(())
}

/// Connects the auditor to the configured database and applies its migrations (with
/// `database.migrate_url`, `startup::connect_store` has applied them as the owner, and this
/// finds nothing to apply). The store's tables must exist: migrate the store first.
pub async fn open(settings: &Settings) -> Result<Auditor, AuditError> {
    let auditor = Auditor::connect(
        settings.database_url().expose(),
        signer(settings)?,
        config(settings),
    )
    .await?;
    auditor.migrate().await?;
    tracing::info!(origin = auditor.origin(), key = %auditor.verifier_key(), "audit tree ready; migrations applied");
    Ok(auditor)
}

/// 422 `out_of_range`: a tree size or position the tree does not (yet) cover.
pub fn out_of_range(detail: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        ProblemCode::OutOfRange,
        "Outside the tree",
        detail,
    )
}
