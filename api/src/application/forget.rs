//! Forgetting a data subject (GDPR art. 17): the flow `POST /v1/privacy/subjects/{id}/forget`
//! and `anslut privacy forget` share. The decision is the domain's (`domain::subject`); this
//! records it, destroys the subject's key and erases the live read models, and reports what it
//! did or why not, in its own error type: the HTTP edge makes problems of it, the CLI messages
//! with the cause (an unavailable database reads as such, not as a usage error).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, AggregateError, EventStore as _};
use domain::Actor;
use domain::case::Issued;
use domain::ids::DataSubjectId;
use domain::subject::{DataSubject, Forget, SubjectCommand, SubjectError, SubjectServices};
use domain::text::Reason;
use store::{ActorRecord, EventMetadata, Position, StoreError};
use uuid::Uuid;

/// What forgetting did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forgotten {
    pub subject: DataSubjectId,
    pub forgotten_at: DateTime<Utc>,
    /// Where the decision was recorded in the log.
    pub position: Position,
    pub key_destroyed: bool,
    pub documents_erased: u64,
}

/// Why forgetting did not happen, or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ForgetError {
    /// The domain refused (already forgotten, an empty reason, ...).
    #[error(transparent)]
    Refused(#[from] SubjectError),
    /// Loading or recording the decision failed.
    #[error("recording the decision")]
    Decision(#[from] AggregateError<SubjectError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Destroying the subject's key failed (the decision is recorded: forgetting again
    /// repairs it).
    #[error("destroying the key")]
    Keys(#[from] privacy::PrivacyError),
    /// Erasing the live read models failed (their projectors erase on reaching the event).
    #[error("erasing the read models")]
    ReadModels(#[from] projections::ProjectionError),
    #[error("the store has no outcome for the committed command {0}")]
    OutcomeMissing(Uuid),
}

/// What forgetting needs: the log, the keys, the read models and the time.
#[derive(Clone, Copy)]
pub struct Forgetting<'a> {
    pub store: &'a store::EventStore,
    pub keys: &'a privacy::SubjectKeys,
    pub projections: &'a projections::Projections,
    pub clock: &'a std::sync::Arc<dyn domain::Clock>,
}

impl std::fmt::Debug for Forgetting<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forgetting").finish_non_exhaustive()
    }
}

impl<'a> Forgetting<'a> {
    pub fn of(state: &'a crate::state::AppState) -> Self {
        Self {
            store: &state.store,
            keys: &state.subject_keys,
            projections: &state.projections,
            clock: &state.clock,
        }
    }
}

/// Records the decision, then destroys the key and erases the read models (also used by
/// `anslut privacy forget`).
pub async fn forget(
    state: &Forgetting<'_>,
    actor: Actor,
    record: ActorRecord,
    correlation_id: Uuid,
    extra: BTreeMap<String, String>,
    subject: DataSubjectId,
    reason: Reason,
) -> Result<Forgotten, ForgetError> {
    let aggregates = state.store.aggregate_store::<DataSubject>();
    let mut loaded = aggregates.load_aggregate(&subject.to_string()).await?;
    let services = SubjectServices {
        clock: state.clock.clone(),
    };
    let sink = EventSink::default();
    let decided = loaded
        .aggregate
        .handle(
            Issued::new(actor, SubjectCommand::Forget(Forget { subject, reason })),
            &services,
            &sink,
        )
        .await;
    if let Err(error) = decided {
        if matches!(error, SubjectError::AlreadyForgotten { .. }) {
            // Repair an erasure that recorded its event and stopped before the key.
            erase(state, subject).await?;
        }
        return Err(error.into());
    }
    let events = sink.collect().await;
    let command_id = Uuid::now_v7();
    let metadata = EventMetadata {
        command_id,
        correlation_id,
        causation_id: None,
        actor: Some(record),
        extra,
    };
    aggregates.commit(events, loaded, metadata.to_map()).await?;
    let outcome = state
        .store
        .command_outcome(command_id)
        .await?
        .ok_or(ForgetError::OutcomeMissing(command_id))?;
    let (key_destroyed, documents_erased) = erase(state, subject).await?;
    tracing::info!(%subject, position = outcome.last_position.get(), key_destroyed, "forgot a data subject");
    Ok(Forgotten {
        subject,
        forgotten_at: outcome.recorded_at,
        position: outcome.last_position,
        key_destroyed,
        documents_erased,
    })
}

/// Destroys the key, then rewrites the live read models at once (their projectors would
/// also do it on reaching the event; this makes the erasure visible without waiting).
async fn erase(state: &Forgetting<'_>, subject: DataSubjectId) -> Result<(bool, u64), ForgetError> {
    let destroyed = state.keys.forget(subject).await?;
    // Events the followers' tail decoded with the key are not handed out again.
    state.store.clear_tail();
    let documents = state.projections.erase_subject(subject).await?;
    Ok((destroyed, documents))
}
