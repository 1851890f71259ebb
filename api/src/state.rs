//! What every handler shares.

use std::sync::Arc;

use audit::Auditor;
use domain::Clock;
use domain::case::CaseServices;
use domain::catalogue::CatalogueRegistry;
use domain::incident::IncidentServices;
use projections::Projections;
use store::EventStore;

use crate::application::subjects::SubjectIds;
use crate::auth::TokenVerifier;
use crate::config::ProjectionSettings;
use crate::config::Secret;
use crate::limits::Limits;
use crate::long_poll::{FeedSignal, LongPolls};
use crate::metrics::Metrics;

/// The application's shared state, handed to handlers as `web::Data<AppState>`.
pub struct AppState {
    pub store: EventStore,
    pub verifier: TokenVerifier,
    /// The embedded catalogues, loaded and validated once at start.
    pub catalogues: Arc<CatalogueRegistry>,
    pub clock: Arc<dyn Clock>,
    pub subjects: SubjectIds,
    /// The data subjects' keys: the store's codec seals personal data with them; forgetting
    /// a subject destroys its key.
    pub subject_keys: ::privacy::SubjectKeys,
    pub metrics: Metrics,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long reading a request's body may take (`request_body_timeout_milliseconds`).
    pub body_timeout: std::time::Duration,
    /// The Merkle tree over the log and its signed checkpoints.
    pub audit: Auditor,
    /// Wakes the event feed's long polls when the log may have grown (coalesced).
    pub feed: FeedSignal,
    /// The cap on the feed's long polls waiting at once.
    pub long_polls: LongPolls,
    /// The rate limits: failed authentication per address, commands and privacy per caller.
    pub limits: Arc<Limits>,
    /// The largest request head answered (`limits.max_request_header_bytes`).
    pub max_request_header_bytes: usize,
    /// The bearer token that opens `/metrics` and the detailed `/readyz` on the API's port.
    pub ops_token: Option<Secret<String>>,
    /// The read models: queries, read-your-writes, status. `serve` runs their projectors
    /// (`startup::Application`).
    pub projections: Projections,
    /// How long `min_position` reads wait, and when lag makes `/readyz` fail.
    pub projection_settings: ProjectionSettings,
    /// Region subscriptions and their deliveries. `serve` runs the outbox projector and the
    /// delivery workers (`startup::Application`).
    pub webhooks: ::webhooks::Webhooks,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .field("verifier", &self.verifier)
            .field("body_limit", &self.body_limit)
            .field("audit", &self.audit)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn case_services(&self) -> CaseServices {
        CaseServices::new(self.clock.clone(), self.catalogues.clone())
    }

    pub fn incident_services(&self) -> IncidentServices {
        IncidentServices {
            clock: self.clock.clone(),
        }
    }
}
