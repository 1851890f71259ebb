//! The append-only guard, and what `verify` finds once someone gets past it.

use store::testing::TestDatabase;
use store::{EventStore, ExpectedVersion, Position, Problem, StoreError, StreamRef};

use crate::{request, stream};

/// Ten events: positions 1–10 alternating over streams "a" and "b" (a: 1,3,5,7,9).
async fn ten_events(db: &TestDatabase) -> EventStore {
    let store = db.store().await;
    for i in 0..10_u64 {
        let case = stream(if i % 2 == 0 { "a" } else { "b" });
        store
            .append(request(&case, ExpectedVersion::Exact(i / 2), 1))
            .await
            .unwrap();
    }
    store
}

fn refused(result: Result<(), sqlx::Error>, what: &str) {
    let error = result.expect_err(what).to_string();
    assert!(error.contains("append-only"), "{what}: {error}");
}

pub async fn the_database_refuses_to_change_or_remove_events_and_commands(db: TestDatabase) {
    let store = ten_events(&db).await;
    refused(
        db.execute("UPDATE events SET payload = '{}' WHERE position = 3")
            .await,
        "update of an event",
    );
    refused(
        db.execute("DELETE FROM events WHERE position = 3").await,
        "delete of an event",
    );
    refused(
        db.execute("DELETE FROM events").await,
        "delete of all events",
    );
    refused(
        db.execute("UPDATE commands SET last_version = 0").await,
        "update of a command record",
    );
    refused(
        db.execute("DELETE FROM commands").await,
        "delete of command records",
    );
    if db.is_postgres() {
        refused(db.execute("TRUNCATE events").await, "truncate of events");
        refused(
            db.execute("TRUNCATE commands").await,
            "truncate of commands",
        );
    }
    assert_eq!(
        store.read_all(Position::START, 100).await.unwrap().len(),
        10
    );
    assert!(store.verify().await.unwrap().is_intact());
}

pub async fn verify_passes_an_untouched_log(db: TestDatabase) {
    let store = db.store().await;
    let empty = store.verify().await.unwrap();
    assert!(empty.is_intact());
    assert_eq!((empty.events_checked, empty.head), (0, Position::START));
    drop(store);
    let store = ten_events(&db).await;
    let report = store.verify().await.unwrap();
    assert_eq!(report.problem, None);
    assert_eq!(
        (report.events_checked, report.streams_checked, report.head),
        (10, 2, Position(10))
    );
}

fn at(problem: Option<Problem>) -> (u64, StreamRef, u64, Problem) {
    let problem = problem.expect("verify finds the tampering");
    let event = match &problem {
        Problem::HashMismatch { event }
        | Problem::BrokenLink { event }
        | Problem::VersionGap { event, .. }
        | Problem::Unreadable { event, .. }
        | Problem::MissingPosition { found: event, .. } => event.clone(),
        other => panic!("expected a problem naming an event, got {other:?}"),
    };
    (event.position.0, event.stream, event.version, problem)
}

pub async fn verify_names_an_event_whose_payload_was_changed(db: TestDatabase) {
    let store = ten_events(&db).await;
    db.disable_append_only_guard().await;
    db.execute(r#"UPDATE events SET payload = '{"i":0,"note":"forged"}' WHERE position = 5"#)
        .await
        .unwrap();
    // A later change does not hide the first one.
    db.execute("UPDATE events SET event_type = 'Forged' WHERE position = 8")
        .await
        .unwrap();
    let (position, event_stream, version, problem) = at(store.verify().await.unwrap().problem);
    assert_eq!((position, event_stream, version), (5, stream("a"), 3));
    assert!(matches!(problem, Problem::HashMismatch { .. }), "{problem}");
}

pub async fn verify_names_an_event_whose_actor_was_changed(db: TestDatabase) {
    let store = ten_events(&db).await;
    db.disable_append_only_guard().await;
    db.execute("UPDATE events SET actor_subject = 'someone-else' WHERE position = 2")
        .await
        .unwrap();
    let (position, _, _, problem) = at(store.verify().await.unwrap().problem);
    assert_eq!(position, 2);
    assert!(matches!(problem, Problem::HashMismatch { .. }), "{problem}");
}

pub async fn verify_names_the_event_after_a_removed_middle_event(db: TestDatabase) {
    let store = ten_events(&db).await;
    db.disable_append_only_guard().await;
    db.execute("DELETE FROM events WHERE position = 5")
        .await
        .unwrap();
    let problem = store.verify().await.unwrap().problem;
    let (position, event_stream, version, problem) = at(problem);
    assert_eq!((position, event_stream, version), (6, stream("b"), 3));
    assert!(
        matches!(
            problem,
            Problem::MissingPosition {
                missing: Position(5),
                ..
            }
        ),
        "{problem}"
    );
}

pub async fn verify_notices_events_removed_from_the_end(db: TestDatabase) {
    let store = ten_events(&db).await;
    db.disable_append_only_guard().await;
    db.execute("DELETE FROM events WHERE position > 7")
        .await
        .unwrap();
    let report = store.verify().await.unwrap();
    assert_eq!(report.events_checked, 7);
    assert_eq!(
        report.problem,
        Some(Problem::HeadMismatch {
            head: Position(10),
            last_event: Position(7)
        })
    );
}

/// The message of a read that must fail as corrupt.
fn corrupt<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) -> String {
    match result {
        Err(StoreError::Corrupt(message)) => message,
        other => panic!("{what}: expected a corrupt event, got {other:?}"),
    }
}

/// A row past the guard that no reader can make sense of (half an actor; extra metadata that
/// is not text by name) is reported corrupt, with its position, by every read path, never
/// read as something else; `verify` names it unreadable.
pub async fn a_row_that_cannot_be_read_is_reported_corrupt_by_every_reader(db: TestDatabase) {
    let store = ten_events(&db).await;
    db.disable_append_only_guard().await;
    db.execute("UPDATE events SET actor_role = NULL WHERE position = 3")
        .await
        .unwrap();
    db.execute(r#"UPDATE events SET metadata = '{"k": 1}' WHERE position = 4"#)
        .await
        .unwrap();

    let message = corrupt(store.read_all(Position::START, 100).await, "read_all");
    assert!(
        message.contains("event at position 3: a partial actor"),
        "{message}"
    );
    let message = corrupt(
        store.read_stream(&stream("a"), 0, 100).await,
        "read_stream of a",
    );
    assert!(
        message.contains("event at position 3: a partial actor"),
        "{message}"
    );
    let message = corrupt(
        store.read_stream(&stream("b"), 0, 100).await,
        "read_stream of b",
    );
    assert!(
        message.contains("event at position 4: metadata"),
        "{message}"
    );
    let message = corrupt(
        store
            .read_all_where(Position::START, 100, 1000, |_| true)
            .await
            .map(|read| read.events),
        "read_all_where",
    );
    assert!(
        message.contains("event at position 3: a partial actor"),
        "{message}"
    );

    let (position, _, _, problem) = at(store.verify().await.unwrap().problem);
    assert_eq!(position, 3);
    assert!(matches!(problem, Problem::Unreadable { .. }), "{problem}");
}
