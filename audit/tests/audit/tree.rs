//! The tree follower and signed checkpoints.

use audit::{AuditConfig, Auditor};
use store::testing::TestDatabase;

use crate::independent::{self, leaf, mth, node, open_checkpoint};
use crate::{ORIGIN, append, leaf_data, setup, setup_with, signer, stream};

pub async fn the_follower_covers_the_log_and_checkpoints_sign_its_root(db: TestDatabase) {
    let (store, auditor) = setup_with(
        &db,
        AuditConfig {
            batch: 4,
            ..AuditConfig::default()
        },
    )
    .await;
    assert_eq!(
        auditor.checkpoint_now().await.unwrap(),
        None,
        "nothing to sign yet"
    );
    append(&store, &[stream("a"), stream("b"), stream("c")], 25).await;

    let first = auditor.checkpoint_now().await.unwrap().unwrap();
    assert_eq!(first.tree_size, 25);
    assert_eq!(auditor.tree_size().await.unwrap(), 25);
    let leaves = leaf_data(&store).await;
    let vkey = auditor.verifier_key().to_string();
    let (origin, size, root) = open_checkpoint(&first.note, &vkey).expect("a genuine note");
    assert_eq!((origin.as_str(), size), (ORIGIN, 25));
    assert_eq!(
        root,
        mth(&leaves),
        "the signed root is RFC 6962's MTH of the chain hashes"
    );
    assert_eq!(first.root.0, root);
    assert_eq!(
        first.note,
        format!(
            "{ORIGIN}\n25\n{}\n\n\u{2014} {ORIGIN} {}",
            first.root,
            first.note.rsplit(' ').next().unwrap()
        )
    );

    // Nothing new: the same checkpoint comes back, none is added.
    assert_eq!(auditor.checkpoint_now().await.unwrap().unwrap(), first);

    append(&store, &[stream("b")], 10).await;
    let second = auditor.checkpoint_now().await.unwrap().unwrap();
    assert_eq!(second.tree_size, 35);
    assert_eq!(second.root.0, mth(&leaf_data(&store).await));
    assert_eq!(
        auditor.latest_checkpoint().await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(auditor.checkpoint(25).await.unwrap(), Some(first.clone()));
    assert_eq!(auditor.checkpoint(30).await.unwrap(), None);
    let proof = auditor.consistency_proof(25, 35).await.unwrap();
    let hashes: Vec<_> = proof.hashes.iter().map(|h| h.0).collect();
    assert!(independent::verify_consistency(
        25,
        35,
        &first.root.0,
        &second.root.0,
        &hashes
    ));

    // The published key, parsed back from its text, opens the note with the crate too, and a
    // changed character breaks it for both.
    let key: audit::VerifierKey = vkey.parse().unwrap();
    assert_eq!(key.open_checkpoint(&second.note).unwrap().tree_size, 35);
    let forged = second.note.replacen("\n35\n", "\n36\n", 1);
    assert!(key.open_checkpoint(&forged).is_err());
    assert!(open_checkpoint(&forged, &vkey).is_none());
}

/// Leaves are the events' chain hashes `d0, d1, ...`; the expected roots are written out from
/// RFC 6962 §2.1 by hand: the tree of `n` splits after the largest power of two below `n`.
pub async fn roots_match_vectors_derived_by_hand_for_1_2_3_and_7_events(db: TestDatabase) {
    let (store, auditor) = setup(&db).await;
    append(&store, &[stream("a"), stream("b")], 7).await;
    auditor.follow().await.unwrap();
    let d = leaf_data(&store).await;
    let l: Vec<_> = d.iter().map(|d| leaf(d)).collect();

    // n = 1: the leaf itself.
    let root1 = l[0];
    // n = 2: H(0x01 || l0 || l1).
    let root2 = node(&l[0], &l[1]);
    // n = 3: split 2 + 1: H(H(l0, l1), l2).
    let root3 = node(&node(&l[0], &l[1]), &l[2]);
    // n = 7: split 4 + 3; the 3 splits 2 + 1:
    // H(H(H(l0, l1), H(l2, l3)), H(H(l4, l5), l6)).
    let root7 = node(
        &node(&node(&l[0], &l[1]), &node(&l[2], &l[3])),
        &node(&node(&l[4], &l[5]), &l[6]),
    );
    for (n, expected) in [(1, root1), (2, root2), (3, root3), (7, root7)] {
        assert_eq!(auditor.root(n).await.unwrap().0, expected, "root of {n}");
    }
    let signed = auditor.checkpoint_now().await.unwrap().unwrap();
    assert_eq!(signed.root.0, root7);
}

pub async fn migrations_can_run_twice_and_the_audit_tables_are_append_only(db: TestDatabase) {
    let (store, auditor) = setup(&db).await;
    auditor.migrate().await.unwrap();
    store.migrate().await.unwrap();
    append(&store, &[stream("a")], 3).await;
    auditor.checkpoint_now().await.unwrap().unwrap();
    for sql in [
        "UPDATE audit_checkpoints SET tree_size = 2",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_nodes SET idx = idx + 100",
        "DELETE FROM audit_nodes",
    ] {
        assert!(db.execute(sql).await.is_err(), "{sql} must be refused");
    }
    if db.is_postgres() {
        assert!(db.execute("TRUNCATE audit_nodes").await.is_err());
    }
    assert!(auditor.verify().await.unwrap().is_intact());
}

pub async fn concurrent_followers_add_every_leaf_once(db: TestDatabase) {
    let config = AuditConfig {
        batch: 3,
        ..AuditConfig::default()
    };
    let (store, first) = setup_with(&db, config.clone()).await;
    let second = Auditor::connect(db.url(), signer(), config).await.unwrap();
    append(&store, &[stream("a"), stream("b")], 60).await;
    let (a, b) = tokio::join!(first.follow(), second.follow());
    assert_eq!((a.unwrap(), b.unwrap()), (60, 60));
    let report = first.verify().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.nodes_checked, 2 * 60 - 4, "every node once");
    assert_eq!(
        first.root(60).await.unwrap().0,
        mth(&leaf_data(&store).await)
    );
}
