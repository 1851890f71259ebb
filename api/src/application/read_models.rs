//! The read models as the API uses them: opened on the store's database, run by `serve`,
//! waited for by reads that name a `min_position`, and judged by `/readyz` and `/metrics`.
//!
//! Every instance opens the projections; each projector runs in exactly one instance at a
//! time (PostgreSQL advisory locks, see the `projections` crate), the others follow its
//! checkpoint, so every instance serves every read.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use domain::catalogue::CatalogueRegistry;
use projections::{
    Activity, ProjectionError, ProjectionName, ProjectionOptions, ProjectionStatus, Projections,
};
use serde::Serialize;
use serde_json::json;
use store::{EventStore, Position};

use crate::config::{ProjectionSettings, Settings};
use crate::problem::{ApiError, ProblemCode};
use crate::state::AppState;

/// The projections' options from the configuration.
pub fn options(settings: &Settings, catalogues: Arc<CatalogueRegistry>) -> ProjectionOptions {
    let mut options = ProjectionOptions::new(catalogues);
    options.poll_interval = Duration::from_millis(settings.projections.poll_interval_milliseconds);
    options.leader_retry = Duration::from_millis(settings.projections.leader_retry_milliseconds);
    options.max_connections = settings.database.pools.projections;
    options
}

/// Opens the read models in the store's database: creates their tables when missing, runs
/// nothing (`serve` starts the projectors; the CLI never does).
pub async fn open(
    settings: &Settings,
    store: EventStore,
    catalogues: Arc<CatalogueRegistry>,
) -> Result<Projections, ProjectionError> {
    Projections::open(
        settings.database_url().expose(),
        store,
        options(settings, catalogues),
    )
    .await
}

/// Read your writes: with a `min_position`, waits (at most the configured bound) until every
/// projection in `names` has projected it; 503 `projection_lagging` with `Retry-After` when
/// the bound passes.
pub async fn wait_for(
    state: &AppState,
    names: &[ProjectionName],
    min_position: Option<u64>,
) -> Result<(), ApiError> {
    let Some(position) = min_position.filter(|p| *p > 0) else {
        return Ok(());
    };
    // A position past the log's end was never answered to a write (every instance shares the
    // one log), so waiting for it would only end in 503 after the bound.
    let head = state.store.head().await?.get();
    if position > head {
        return Err(beyond_the_log(head));
    }
    let bound = Duration::from_millis(state.projection_settings.wait_milliseconds);
    state
        .projections
        .wait_for(names, Position(position), bound)
        .await?;
    Ok(())
}

/// 422 `beyond_the_log`: a `min_position` past the last position of the log.
fn beyond_the_log(head: u64) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        ProblemCode::BeyondTheLog,
        "Beyond the end of the log",
        format!(
            "min_position is past the end of the log (its last position is {head}); use the \
             position a write was answered with"
        ),
    )
    .with("head", json!(head))
}

/// Why a projection keeps this instance from being ready.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unready {
    pub projection: ProjectionName,
    /// `stopped` (on an event it cannot apply) or `lagging` (beyond the thresholds).
    pub reason: &'static str,
    pub checkpoint: u64,
    pub head: u64,
    pub lag_events: u64,
    pub lag_seconds: f64,
    pub last_error: Option<String>,
}

/// The projections that stopped in this process, or lag beyond the configured thresholds.
pub fn unready(statuses: &[ProjectionStatus], settings: &ProjectionSettings) -> Vec<Unready> {
    #[expect(clippy::cast_precision_loss, reason = "seconds, far below 2^52")]
    let max_seconds = settings.ready_max_lag_seconds as f64;
    statuses
        .iter()
        .filter_map(|status| {
            let reason = if status.activity == Activity::Stopped {
                "stopped"
            } else if status.lag_events > settings.ready_max_lag_events
                || status.lag_seconds > max_seconds
            {
                "lagging"
            } else {
                return None;
            };
            Some(Unready {
                projection: status.name,
                reason,
                checkpoint: status.checkpoint.get(),
                head: status.head.get(),
                lag_events: status.lag_events,
                lag_seconds: (status.lag_seconds * 1000.0).round() / 1000.0,
                last_error: status.last_error.clone(),
            })
        })
        .collect()
}

/// 503 `not_ready`: the read models listed are stopped or too far behind to serve.
pub fn not_ready(unready: &[Unready]) -> ApiError {
    let names: Vec<&str> = unready.iter().map(|u| u.projection.as_str()).collect();
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ProblemCode::NotReady,
        "Not ready",
        format!(
            "read models stopped or behind the log: {}",
            names.join(", ")
        ),
    )
    .with("projections", json!(unready))
    .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
}

#[cfg(test)]
mod tests {
    use projections::Leader;

    use super::*;

    fn status(name: ProjectionName, lag_events: u64, lag_seconds: f64) -> ProjectionStatus {
        ProjectionStatus {
            name,
            schema_version: 1,
            stored_schema_version: 1,
            generation: 1,
            checkpoint: Position(100 - lag_events),
            head: Position(100),
            lag_events,
            lag_seconds,
            activity: Activity::Projecting,
            leader: Leader::Here,
            last_error: None,
            updated_at: String::new(),
        }
    }

    #[test]
    fn projections_behind_either_threshold_or_stopped_are_unready() {
        let settings = ProjectionSettings {
            ready_max_lag_events: 10,
            ready_max_lag_seconds: 30,
            ..ProjectionSettings::default()
        };
        let mut stopped = status(ProjectionName::Costs, 0, 0.0);
        stopped.activity = Activity::Stopped;
        stopped.last_error = Some("cannot apply".into());
        let statuses = [
            status(ProjectionName::CaseOverview, 10, 29.9),
            status(ProjectionName::Pipeline, 11, 1.0),
            status(ProjectionName::Findings, 1, 30.5),
            stopped,
        ];
        let unready = unready(&statuses, &settings);
        let listed: Vec<(ProjectionName, &str)> =
            unready.iter().map(|u| (u.projection, u.reason)).collect();
        assert_eq!(
            listed,
            [
                (ProjectionName::Pipeline, "lagging"),
                (ProjectionName::Findings, "lagging"),
                (ProjectionName::Costs, "stopped"),
            ]
        );
        let error = not_ready(&unready);
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.code(), "not_ready");
    }
}
