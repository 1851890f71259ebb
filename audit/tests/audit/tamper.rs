//! `verify` against someone with direct database access.

use audit::{AuditError, AuditProblem, CheckpointSigner, NodeId};
use serde_json::json;
use store::canonical::{self, EventFields, EventHash};
use store::testing::TestDatabase;
use store::{Position, Problem};

use crate::{ORIGIN, append, log, setup, stream};

/// An SQL literal for bytes, in the backend's syntax.
fn bytes_literal(db: &TestDatabase, bytes: &[u8]) -> String {
    if db.is_postgres() {
        format!("decode('{}', 'hex')", hex::encode(bytes))
    } else {
        format!("X'{}'", hex::encode(bytes))
    }
}

pub async fn verify_passes_an_intact_log(db: TestDatabase) {
    let (store, auditor) = setup(&db).await;
    append(&store, &[stream("a"), stream("b")], 9).await;
    let first = auditor.checkpoint_now().await.unwrap().unwrap();
    append(&store, &[stream("b"), stream("c")], 12).await;
    auditor.checkpoint_now().await.unwrap().unwrap();
    append(&store, &[stream("c")], 4).await;
    auditor.follow().await.unwrap();
    append(&store, &[stream("d")], 2).await; // in the log, not yet in the tree

    let report = auditor.verify().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.chain.events_checked, 27);
    assert_eq!(report.tree_size, 25);
    assert_eq!(report.leaves_checked, 25);
    assert_eq!(report.nodes_checked, 2 * 25 - 3);
    assert_eq!(report.checkpoints_checked, 2);
    assert_eq!(report.latest_checkpoint, Some(21));

    // A checkpoint kept elsewhere is checked too; one signed by another key is reported.
    let report = auditor
        .verify_with(std::slice::from_ref(&first.note))
        .await
        .unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.checkpoints_checked, 3);
    let stranger = CheckpointSigner::from_seed(ORIGIN, &[9; 32]).unwrap();
    let foreign = stranger.sign_checkpoint(9, &first.root);
    let report = auditor.verify_with(&[foreign]).await.unwrap();
    assert!(matches!(
        report.problems.as_slice(),
        [AuditProblem::BadCheckpoint { .. }]
    ));
}

pub async fn verify_names_an_event_whose_payload_was_changed(db: TestDatabase) {
    let (store, auditor) = setup(&db).await;
    append(&store, &[stream("a"), stream("b")], 10).await;
    auditor.checkpoint_now().await.unwrap().unwrap();
    db.disable_append_only_guard().await;
    db.execute(r#"UPDATE events SET payload = '{"i":1000}' WHERE position = 5"#)
        .await
        .unwrap();

    let report = auditor.verify().await.unwrap();
    assert!(!report.is_intact());
    let bad = report.first_bad_event().expect("an event is named");
    assert_eq!(bad.position, Position(5));
    assert_eq!(bad.stream, stream("a"));
    assert_eq!(bad.version, 3);
    assert!(matches!(
        &report.problems[0],
        AuditProblem::Chain(Problem::HashMismatch { .. })
    ));
}

/// The attack the chains alone miss: change an event and recompute its hash (it is its
/// stream's last, so no later link breaks) and the stream's head. The store's check passes;
/// the tree still holds the original hash.
pub async fn verify_names_an_event_rewritten_with_a_recomputed_hash(db: TestDatabase) {
    let (store, auditor) = setup(&db).await;
    append(&store, &[stream("a"), stream("b")], 10).await;
    auditor.checkpoint_now().await.unwrap().unwrap();
    let victim = log(&store).await.remove(8);
    assert_eq!(
        (victim.position, &victim.stream),
        (Position(9), &stream("a"))
    );

    let payload = json!({"i": 999, "text": "rewritten"});
    let canonical_payload = canonical::to_canonical_string(&payload).unwrap();
    let actor = victim.metadata.actor.as_ref().unwrap();
    let metadata = json!({
        "actor": {"provider_org": actor.provider_org, "region": actor.region,
                  "role": actor.role, "subject": actor.subject},
        "causation_id": null,
        "command_id": victim.metadata.command_id.to_string(),
        "correlation_id": victim.metadata.correlation_id.to_string(),
        "extra": {},
    });
    let bytes = canonical::event_bytes(&EventFields {
        position: victim.position.0,
        stream_type: &victim.stream.stream_type,
        stream_id: &victim.stream.stream_id,
        version: victim.version,
        event_id: victim.event_id,
        event_type: &victim.event_type,
        event_version: &victim.event_version,
        canonical_metadata: &canonical::to_canonical_string(&metadata).unwrap(),
        canonical_payload: &canonical_payload,
        recorded_at: &victim.recorded_at,
    });
    let forged = EventHash::chain(&victim.prev_hash, &bytes);
    db.disable_append_only_guard().await;
    db.execute(&format!(
        "UPDATE events SET payload = '{canonical_payload}', hash = {} WHERE position = 9; \
         UPDATE streams SET last_hash = {} WHERE stream_id = 'a'",
        bytes_literal(&db, &forged.0),
        bytes_literal(&db, &forged.0),
    ))
    .await
    .unwrap();

    assert!(
        store.verify().await.unwrap().is_intact(),
        "the chains alone are fooled"
    );
    let report = auditor.verify().await.unwrap();
    assert!(report.chain.is_intact());
    match report.problems.as_slice() {
        [AuditProblem::LeafMismatch { event }] => {
            assert_eq!(event.position, Position(9));
            assert_eq!((&event.stream, event.version), (&stream("a"), 5));
        }
        other => panic!("expected the rewritten event to be named, got {other:?}"),
    }
}

/// Events removed from the end, with the head row and the streams table rewritten to match:
/// nothing in the database disagrees any more, except the signed checkpoint.
pub async fn verify_catches_a_truncated_log_by_the_checkpoint_that_exceeds_it(db: TestDatabase) {
    let (store, auditor) = setup(&db).await;
    append(&store, &[stream("a"), stream("b")], 15).await;
    append(&store, &[stream("tail")], 5).await;
    let checkpoint = auditor.checkpoint_now().await.unwrap().unwrap();
    assert_eq!(checkpoint.tree_size, 20);

    db.disable_append_only_guard().await;
    db.execute(
        "DELETE FROM events WHERE position > 15; \
         UPDATE log_head SET position = 15 WHERE id = 1; \
         DELETE FROM streams WHERE stream_id = 'tail'",
    )
    .await
    .unwrap();

    assert!(
        store.verify().await.unwrap().is_intact(),
        "the chains alone are fooled"
    );
    let report = auditor.verify().await.unwrap();
    assert_eq!(
        report.problems,
        vec![AuditProblem::LogShorterThanCheckpoint {
            tree_size: 20,
            log_size: 15,
            first_missing: Position(16),
        }]
    );
}

pub async fn verify_reports_a_forged_checkpoint_and_a_changed_node(db: TestDatabase) {
    let (store, auditor) = setup(&db).await;
    append(&store, &[stream("a")], 8).await;
    auditor.checkpoint_now().await.unwrap().unwrap();

    // A stored node changed behind the follower's back.
    let guard_off = if db.is_postgres() {
        "ALTER TABLE audit_nodes DISABLE TRIGGER USER"
    } else {
        "DROP TRIGGER audit_nodes_no_update"
    };
    db.execute(guard_off).await.unwrap();
    db.execute(&format!(
        "UPDATE audit_nodes SET hash = {} WHERE level = 1 AND idx = 1",
        bytes_literal(&db, &[0x11; 32])
    ))
    .await
    .unwrap();
    let report = auditor.verify().await.unwrap();
    assert_eq!(
        report.problems,
        vec![AuditProblem::NodeMismatch {
            node: NodeId { level: 1, index: 1 }
        }]
    );

    // With a node under the signed root changed, the log refuses to sign again: the new
    // checkpoint could not be proven consistent with the old one.
    db.execute(&format!(
        "UPDATE audit_nodes SET hash = {} WHERE level = 3 AND idx = 0",
        bytes_literal(&db, &[0x22; 32])
    ))
    .await
    .unwrap();
    append(&store, &[stream("a")], 1).await;
    assert!(matches!(
        auditor.checkpoint_now().await,
        Err(AuditError::Inconsistent(_))
    ));

    // A checkpoint row signed by another key, claiming a larger log, is reported and
    // otherwise ignored (it does not make the log look truncated).
    let stranger = CheckpointSigner::from_seed(ORIGIN, &[9; 32]).unwrap();
    let root = audit::merkle::empty_root();
    let created_at = if db.is_postgres() {
        "now()"
    } else {
        "'2026-01-31T12:00:00.000000Z'"
    };
    db.execute(&format!(
        "INSERT INTO audit_checkpoints (tree_size, root_hash, note, created_at) \
         VALUES (100, {}, '{}', {created_at})",
        bytes_literal(&db, &root.0),
        stranger.sign_checkpoint(100, &root)
    ))
    .await
    .unwrap();
    let report = auditor.verify().await.unwrap();
    assert!(
        matches!(
            report.problems.as_slice(),
            [
                AuditProblem::BadCheckpoint { tree_size: 100, .. },
                AuditProblem::NodeMismatch { .. }
            ]
        ),
        "{:?}",
        report.problems
    );
}
