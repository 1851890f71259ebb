//! The projections' test suite: every test runs on PostgreSQL and on SQLite (leadership only
//! on PostgreSQL, where there are several processes to lead).
//!
//! `both!` instantiates each test function in a `postgres` and an `sqlite` module; each
//! instance gets a fresh database ([`TestDatabase`]). Events come from the real domain
//! through `projections::testing`'s fixtures and are appended through the real store.

mod leadership;
mod read_models;
mod runtime;

use std::sync::Arc;
use std::time::Duration;

use domain::catalogue::CatalogueRegistry;
use projections::{ProjectionName, ProjectionOptions, Projections, ProjectionsHandle};
use store::testing::TestDatabase;
use store::{EventStore, Position};

store::on_both_backends!(
    read_models::the_case_overview_shows_phases_milestone_dates_and_the_aggregates_blockers,
    read_models::the_pipeline_counts_cases_by_phase_and_gives_the_median_of_completed_stays,
    read_models::findings_are_listed_by_case_with_their_age_and_whether_they_are_overdue,
    read_models::incidents_show_time_from_report_to_assessment_and_counts_by_severity,
    read_models::the_compliance_matrix_follows_attestation_and_marks_verified_requirements,
    read_models::staff_commitments_show_what_is_missing_and_keep_names_inside_personal_data,
    read_models::costs_follow_the_jamtland_prices_in_force_on_the_day_asked_about,
    read_models::cursor_paging_returns_every_row_once_and_tenancy_filters_hold,
    read_models::a_forgotten_subject_is_erased_by_the_projectors_and_by_a_rebuild,
    runtime::events_of_other_stream_types_are_skipped_but_move_the_checkpoint,
    runtime::a_projector_aborted_between_batches_resumes_and_equals_a_clean_rebuild,
    runtime::a_projector_aborted_inside_a_transaction_resumes_and_equals_a_clean_rebuild,
    runtime::an_apply_error_stops_the_projector_just_before_the_event_that_failed,
    runtime::the_projectors_led_here_apply_a_commit_together_in_one_round,
    runtime::an_event_that_does_not_deserialise_stops_the_projector_loudly,
    runtime::a_rebuild_serves_the_old_generation_until_it_swaps,
    runtime::a_rebuild_that_meets_an_event_a_projection_cannot_apply_fails_and_swaps_nothing,
    runtime::a_schema_version_bump_rebuilds_at_start,
    runtime::wait_for_returns_once_the_projection_passes_the_position_and_times_out_otherwise,
    runtime::verify_finds_differences_planted_in_a_live_table,
    runtime::status_reports_checkpoint_head_lag_and_leadership,
);

/// Runs only on PostgreSQL: several instances share one database there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_second_instance_follows_and_takes_over_when_the_leader_goes() {
    leadership::a_second_instance_follows_and_takes_over_when_the_leader_goes(
        TestDatabase::postgres().await,
    )
    .await;
}

/// PostgreSQL only: on SQLite a transaction that never ends holds the one write lock, and
/// every writer waits on it, in rounds or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_projection_stuck_in_a_round_holds_the_others_back_only_until_the_round_times_out()
 {
    runtime::a_projection_stuck_in_a_round_holds_the_others_back_only_until_the_round_times_out(
        TestDatabase::postgres().await,
    )
    .await;
}

/// PostgreSQL only: SQLite has no compression methods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_documents_are_compressed_with_lz4_where_the_server_has_it() {
    runtime::documents_are_compressed_with_lz4_where_the_server_has_it(
        TestDatabase::postgres().await,
    )
    .await;
}

/// Options for tests: quick polling and retries.
pub fn options(catalogues: Arc<CatalogueRegistry>) -> ProjectionOptions {
    let mut options = ProjectionOptions::new(catalogues);
    options.poll_interval = Duration::from_millis(200);
    options.leader_retry = Duration::from_millis(200);
    options.error_backoff = Duration::from_millis(100);
    options
}

/// A store and projections on a test database.
pub async fn open(db: &TestDatabase, options: ProjectionOptions) -> (EventStore, Projections) {
    let store = db.store().await;
    let projections = Projections::open(db.url(), store.clone(), options)
        .await
        .expect("opening the projections");
    (store, projections)
}

/// Waits until every projection has projected the whole log.
pub async fn caught_up(handle: &ProjectionsHandle, store: &EventStore) -> Position {
    let head = store.head().await.unwrap();
    handle
        .wait_for(&ProjectionName::ALL, head, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("projections did not catch up with {head}: {e}"));
    head
}

/// The benchmark's realistic histories (`projections::testing::realistic`) walk every real
/// programme to go-live by its own process: a history the domain refuses would stop the
/// rebuild benchmark, so a change to a process must keep them valid.
#[test]
fn the_realistic_histories_of_every_programme_reach_go_live() {
    let start = chrono::NaiveDate::from_ymd_opt(2024, 2, 1).unwrap();
    for i in 0..10 {
        let requests = projections::testing::realistic::case_history(i, start);
        let last = requests[0].events.last().expect("the case's events");
        assert_eq!(last.event_type, "WentLive", "case {i}");
    }
}
