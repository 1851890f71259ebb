//! Inclusion and consistency proofs, checked by the independent verifier.

use audit::merkle::{
    Frontier, Span, TreeHash, consistency_spans, fold, inclusion_spans, leaf_hash,
};
use audit::{AuditConfig, AuditError};
use store::Position;
use store::testing::TestDatabase;

use crate::independent::{Hash, Sample, leaf, mth, verify_consistency, verify_inclusion};
use crate::{append, leaf_data, setup, setup_with, stream};

fn raw(hashes: &[TreeHash]) -> Vec<Hash> {
    hashes.iter().map(|h| h.0).collect()
}

/// The crate's proof construction without a database, exhaustively: every leaf of every tree
/// of 1 to 300 leaves, and every pair of sizes up to 300, against the independent verifier.
#[test]
fn every_proof_of_every_tree_up_to_300_leaves_verifies_independently() {
    let data: Vec<Hash> = (0u32..300)
        .map(|i| {
            let mut d = [0u8; 32];
            d[..4].copy_from_slice(&i.to_be_bytes());
            d
        })
        .collect();
    let mut nodes = std::collections::HashMap::new();
    let mut frontier = Frontier::new();
    for d in &data {
        frontier.push(leaf_hash(d), |id, hash| {
            nodes.insert(id, hash);
        });
    }
    let hash_of = |span: Span| -> TreeHash {
        fold(&span.nodes().iter().map(|id| nodes[id]).collect::<Vec<_>>())
    };
    let roots: Vec<Hash> = (0..=300).map(|n| mth(&data[..n])).collect();
    for size in 1..=300u64 {
        let root = roots[usize::try_from(size).unwrap()];
        assert_eq!(hash_of(Span::tree(size)).0, root, "root of {size}");
        for index in 0..size {
            let proof: Vec<Hash> = inclusion_spans(index, size)
                .into_iter()
                .map(|span| hash_of(span).0)
                .collect();
            let leaf = leaf(&data[usize::try_from(index).unwrap()]);
            assert!(
                verify_inclusion(index, size, &leaf, &proof, &root),
                "leaf {index} of {size}"
            );
        }
        for from in 1..size {
            let proof: Vec<Hash> = consistency_spans(from, size)
                .into_iter()
                .map(|span| hash_of(span).0)
                .collect();
            let old = roots[usize::try_from(from).unwrap()];
            assert!(
                verify_consistency(from, size, &old, &root, &proof),
                "consistency {from} to {size}"
            );
            assert!(!verify_consistency(from, size, &root, &old, &proof) || old == root);
        }
    }
}

/// The same through the database on both backends: 300 events added in small batches, then
/// proofs for every leaf of the small trees, sampled leaves of the larger ones, every pair
/// of small sizes and random pairs of larger ones.
pub async fn inclusion_and_consistency_proofs_verify_independently_for_many_tree_sizes(
    db: TestDatabase,
) {
    let (store, auditor) = setup_with(
        &db,
        AuditConfig {
            batch: 17,
            ..AuditConfig::default()
        },
    )
    .await;
    for chunk in [1, 2, 5, 40, 100, 152] {
        append(&store, &[stream("a"), stream("b"), stream("c")], chunk).await;
        auditor.follow().await.unwrap();
    }
    let data = leaf_data(&store).await;
    assert_eq!(data.len(), 300);
    assert_eq!(auditor.tree_size().await.unwrap(), 300);
    let roots: Vec<Hash> = (0..=300).map(|n| mth(&data[..n])).collect();
    let mut sample = Sample::new(0x5eed);
    let mut proofs = 0;
    for size in 1..=300u64 {
        let root = roots[usize::try_from(size).unwrap()];
        assert_eq!(auditor.root(size).await.unwrap().0, root);
        let indices: Vec<u64> = if size <= 24 {
            (0..size).collect()
        } else {
            let mut picked = vec![0, size / 2, size - 1];
            picked.push(sample.between(0, size - 1));
            picked
        };
        for index in indices {
            let proof = auditor
                .inclusion_proof(Position(index + 1), size)
                .await
                .unwrap();
            assert_eq!((proof.leaf_index, proof.tree_size), (index, size));
            let expected_leaf = leaf(&data[usize::try_from(index).unwrap()]);
            assert_eq!(proof.leaf_hash.0, expected_leaf);
            assert!(
                verify_inclusion(index, size, &expected_leaf, &raw(&proof.hashes), &root),
                "event {} in {size}",
                index + 1
            );
            proofs += 1;
        }
    }
    let mut pairs: Vec<(u64, u64)> = (1..=16u64)
        .flat_map(|to| (1..to).map(move |from| (from, to)))
        .collect();
    for _ in 0..200 {
        let to = sample.between(2, 300);
        pairs.push((sample.between(1, to - 1), to));
    }
    for (from, to) in pairs {
        let proof = auditor.consistency_proof(from, to).await.unwrap();
        let (old, new) = (
            roots[usize::try_from(from).unwrap()],
            roots[usize::try_from(to).unwrap()],
        );
        assert!(
            verify_consistency(from, to, &old, &new, &raw(&proof.hashes)),
            "consistency {from} to {to}"
        );
        proofs += 1;
    }
    assert!(proofs > 1000, "{proofs} proofs checked");
    // The trivial proof, and the crate's own verifier agrees.
    let same = auditor.consistency_proof(300, 300).await.unwrap();
    assert!(same.hashes.is_empty());
    let root = auditor.root(300).await.unwrap();
    same.verify(&root, &root).unwrap();
}

pub async fn proofs_outside_the_tree_are_refused(db: TestDatabase) {
    let (store, auditor) = setup(&db).await;
    append(&store, &[stream("a")], 5).await;
    auditor.follow().await.unwrap();
    append(&store, &[stream("a")], 5).await; // not yet in the tree
    for result in [
        auditor.inclusion_proof(Position(0), 5).await,
        auditor.inclusion_proof(Position(6), 5).await,
        auditor.inclusion_proof(Position(6), 10).await,
    ] {
        assert!(
            matches!(result, Err(AuditError::OutOfRange(_))),
            "{result:?}"
        );
    }
    for (from, to) in [(0, 3), (4, 3), (3, 10)] {
        assert!(matches!(
            auditor.consistency_proof(from, to).await,
            Err(AuditError::OutOfRange(_))
        ));
    }
    assert!(matches!(
        auditor.root(6).await,
        Err(AuditError::OutOfRange(_))
    ));
}
