//! Case exports, verified with no database.

use std::sync::Arc;

use audit::{AuditConfig, Auditor, CheckpointSigner, ExportProblem, VerifierKey, verify_export};
use serde_json::{Value, json};
use store::testing::TestDatabase;
use store::{CodecContext, PayloadCodec, Position, StoreOptions};

use crate::independent::{self, leaf};
use crate::{ORIGIN, append, log, setup, signer, stream};

fn lines(export: &[u8]) -> Vec<Value> {
    String::from_utf8(export.to_vec())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn join(lines: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        serde_json::to_writer(&mut out, line).unwrap();
        out.push(b'\n');
    }
    out
}

pub async fn an_export_verifies_offline_with_the_published_key(db: TestDatabase) {
    let (store, auditor) = setup(&db).await;
    let case = stream("case-7");
    append(&store, &[stream("a"), case.clone(), stream("b")], 30).await;
    let published: VerifierKey = auditor.verifier_key().to_string().parse().unwrap();

    let mut export = Vec::new();
    let summary = auditor.export_stream(&case, &mut export).await.unwrap();
    assert_eq!(summary.events, 10);
    assert_eq!(
        summary.checkpoint.tree_size, 30,
        "a fresh checkpoint was taken"
    );
    drop(auditor);
    drop(store);
    drop(db); // no database from here on

    let report = verify_export(export.as_slice(), &published).unwrap();
    assert!(report.is_valid(), "{:?}", report.problem);
    assert_eq!(report.events_checked, 10);
    assert_eq!(report.tree_size, Some(30));
    assert_eq!(report.stream, Some(case.clone()));
    assert_eq!(report.origin.as_deref(), Some(ORIGIN));

    // The file stands on its own for the independent verifier too: the checkpoint opens with
    // the published key and every proof leads to its root.
    let lines = lines(&export);
    assert_eq!(lines[0]["format"], "anslut-audit-export/1");
    assert_eq!(lines[0]["verifier_key"], published.to_string());
    let (_, size, root) = independent::open_checkpoint(
        lines[0]["checkpoint"].as_str().unwrap(),
        &published.to_string(),
    )
    .unwrap();
    for (i, line) in lines[1..].iter().enumerate() {
        assert_eq!(line["stream_id"], "case-7");
        assert_eq!(line["version"], i + 1);
        let hash: [u8; 32] = hex::decode(line["hash"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let proof: Vec<[u8; 32]> = line["inclusion_proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| audit::TreeHash::from_base64(h.as_str().unwrap()).unwrap().0)
            .collect();
        let position = line["position"].as_u64().unwrap();
        assert!(independent::verify_inclusion(
            position - 1,
            size,
            &leaf(&hash),
            &proof,
            &root
        ));
    }
}

pub async fn a_tampered_export_and_a_wrong_key_are_rejected(db: TestDatabase) {
    let (store, auditor) = setup(&db).await;
    let case = stream("case-9");
    append(&store, &[case.clone(), stream("other")], 12).await;
    auditor.checkpoint_now().await.unwrap().unwrap();
    append(&store, std::slice::from_ref(&case), 2).await;
    let mut export = Vec::new();
    let summary = auditor.export_stream(&case, &mut export).await.unwrap();
    assert_eq!(
        summary.checkpoint.tree_size, 14,
        "the old checkpoint did not cover the case"
    );
    let key = auditor.verifier_key().clone();
    assert!(verify_export(export.as_slice(), &key).unwrap().is_valid());
    let original = lines(&export);

    let check = |lines: &[Value]| verify_export(join(lines).as_slice(), &key).unwrap().problem;

    // A payload changed in the third line (the case's version 2).
    let mut changed = original.clone();
    changed[2]["payload"]["i"] = json!(1234);
    match check(&changed) {
        Some(ExportProblem::HashMismatch { line: 3, event }) => {
            assert_eq!(event.version, 2);
        }
        other => panic!("expected a hash mismatch on line 3, got {other:?}"),
    }

    // The actor of an event changed.
    let mut changed = original.clone();
    changed[4]["metadata"]["actor"]["role"] = json!("admin");
    assert!(matches!(
        check(&changed),
        Some(ExportProblem::HashMismatch { line: 5, .. })
    ));

    // A proof element changed.
    let mut changed = original.clone();
    changed[3]["inclusion_proof"][0] = json!(audit::merkle::empty_root().to_base64());
    assert!(matches!(
        check(&changed),
        Some(ExportProblem::NotIncluded { line: 4, .. })
    ));

    // An event left out of the middle.
    let mut changed = original.clone();
    changed.remove(3);
    assert!(matches!(
        check(&changed),
        Some(ExportProblem::VersionGap {
            line: 4,
            expected: 3,
            ..
        })
    ));

    // The last event left out.
    let mut changed = original.clone();
    changed.pop();
    assert!(matches!(
        check(&changed),
        Some(ExportProblem::CountMismatch { .. })
    ));

    // An event moved to another position.
    let mut changed = original.clone();
    let last = changed.len() - 1;
    changed[last]["position"] = json!(changed[last]["position"].as_u64().unwrap() - 1);
    assert!(matches!(
        check(&changed),
        Some(ExportProblem::HashMismatch { .. })
    ));

    // The checkpoint's size altered.
    let mut changed = original.clone();
    let note = changed[0]["checkpoint"]
        .as_str()
        .unwrap()
        .replacen("\n14\n", "\n15\n", 1);
    changed[0]["checkpoint"] = json!(note);
    assert!(matches!(
        check(&changed),
        Some(ExportProblem::BadCheckpoint { .. })
    ));

    // Another key, even under the same name, and the key the file itself names are no help.
    let stranger = CheckpointSigner::from_seed(ORIGIN, &[9; 32]).unwrap();
    let report = verify_export(export.as_slice(), stranger.verifier_key()).unwrap();
    assert!(matches!(
        report.problem,
        Some(ExportProblem::BadCheckpoint { .. })
    ));
    let mut relabelled = original.clone();
    relabelled[0]["verifier_key"] = json!(stranger.verifier_key().to_string());
    let report = verify_export(join(&relabelled).as_slice(), stranger.verifier_key()).unwrap();
    assert!(!report.is_valid());

    // Not an export at all.
    assert!(matches!(
        verify_export(&b"{}\n"[..], &key).unwrap().problem,
        Some(ExportProblem::Malformed { line: 1, .. })
    ));
    assert!(matches!(
        verify_export(&b""[..], &key).unwrap().problem,
        Some(ExportProblem::Malformed { line: 1, .. })
    ));
    assert!(matches!(
        auditor.export_stream(&stream("nobody"), Vec::new()).await,
        Err(audit::AuditError::NoSuchStream(_))
    ));
}

/// Wraps every payload as `{"sealed": payload}` on the way in and unwraps it on the way out:
/// a stand-in for the encryption of personal data.
struct Sealing;

#[async_trait::async_trait]
impl PayloadCodec for Sealing {
    async fn encode(
        &self,
        _: &CodecContext<'_>,
        payload: Value,
    ) -> Result<Value, store::CodecError> {
        Ok(json!({"sealed": payload}))
    }

    async fn decode(
        &self,
        _: &CodecContext<'_>,
        stored: Value,
    ) -> Result<Value, store::CodecError> {
        stored
            .get("sealed")
            .cloned()
            .ok_or_else(|| store::CodecError::Invalid("not sealed".to_owned()))
    }
}

/// The tree and exports are about the stored form: with a codec in the application's store,
/// the export carries the sealed payload (what was hashed), and still verifies.
pub async fn exports_carry_payloads_as_stored_not_as_decoded(db: TestDatabase) {
    let store = db
        .store_with(StoreOptions {
            codec: Arc::new(Sealing),
            ..StoreOptions::default()
        })
        .await;
    let auditor = Auditor::connect(db.url(), signer(), AuditConfig::default())
        .await
        .unwrap();
    auditor.migrate().await.unwrap();
    let case = stream("sealed-case");
    append(&store, std::slice::from_ref(&case), 3).await;
    assert!(
        log(&store).await[0].payload.get("sealed").is_none(),
        "the app reads decoded"
    );

    let mut export = Vec::new();
    auditor.export_stream(&case, &mut export).await.unwrap();
    let lines = lines(&export);
    assert_eq!(lines[1]["payload"]["sealed"]["i"], 0);
    assert!(
        verify_export(export.as_slice(), auditor.verifier_key())
            .unwrap()
            .is_valid()
    );
    let proof = auditor.inclusion_proof(Position(2), 3).await.unwrap();
    proof
        .verify(&auditor.latest_checkpoint().await.unwrap().unwrap().root)
        .unwrap();
}
