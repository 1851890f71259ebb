//! Backup and restore as docs/operations.md tells an operator to do them: history written
//! through a running server, a signed checkpoint, `pg_dump` of the live database (by the
//! server's own major version), `pg_restore` into a fresh database, and `anslut audit
//! verify` on the copy with the keys backed up apart from it. The copy is intact and its
//! latest checkpoint is the original's; without the checkpoint key it cannot be trusted; and
//! one event changed in the copy (its guard trigger disabled, as a table owner could) is
//! named by the verification.

use std::process::Output;

use serde_json::{Value, json};
use tests::{Deployment, Server};

use crate::pg_client::{program, psql_ok};

const REGION: &str = "jamtland-harjedalen";
const ORG: &str = "556677-8899";
const CASES: usize = 3;
/// The latest signed checkpoint: its tree size, root hash (hex) and signed note.
const LATEST_CHECKPOINT: &str = "SELECT tree_size || ' ' || encode(root_hash, 'hex') || ' ' || \
     note FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1";

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Submits a case and approves it: two events; the approval's position.
async fn case_with_approval(server: &Server, provider: &str, officer: &str, n: usize) -> u64 {
    let submitted = server
        .client()
        .post(server.url("/v1/cases"))
        .bearer_auth(provider)
        .header("Idempotency-Key", format!("backup-submit-{n}"))
        .json(&json!({
            "programme": "jamtland-halsoval",
            "unit_name": format!("Vårdcentral {n}"),
            "org_number": ORG,
            "service_packages": ["vardutbud-bas", "stodapplikationer"],
            "workstations": 5,
            "listed_patients": 1000,
            "contacts": [
                {"role": "it_contact", "name": "Karin Lindqvist", "email": "karin@vardcentral.example"},
                {"role": "system_administrator", "name": "Jonas Ek", "email": "jonas@vardcentral.example"}
            ],
            "requested_go_live": "2099-01-15",
            "call_measurement_system": "Telia Touchpoint"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 201);
    let case: Value = submitted.json().await.unwrap();
    let case = case["case_id"].as_str().unwrap();
    let approved = server
        .client()
        .post(server.url(&format!("/v1/cases/{case}/approve-application")))
        .bearer_auth(officer)
        .header("Idempotency-Key", format!("backup-approve-{n}"))
        .header("If-Match", "*")
        .json(&json!({"reason": "Complete."}))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 200);
    let approved: Value = approved.json().await.unwrap();
    approved["position"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_dump_verifies_against_its_signed_checkpoint_and_names_a_changed_event() {
    let original = Deployment::postgres().await;
    let server = original.serve("original").await;
    let provider = original.token("provider", REGION, Some(ORG));
    let officer = original.token("officer", REGION, None);
    let mut approvals = Vec::new();
    for n in 0..CASES {
        approvals.push(case_with_approval(&server, &provider, &officer, n).await);
    }
    let checkpoint = original.anslut(&["audit", "checkpoint"]);
    assert!(checkpoint.status.success(), "{}", text(&checkpoint));
    let signed = psql_ok(original.database_url(), LATEST_CHECKPOINT);
    assert!(
        signed.starts_with(&format!("{} ", 2 * CASES)),
        "the checkpoint covers the whole log: {signed}"
    );

    // The backup, taken while the server runs.
    let dump = original.data_dir().join("anslut.dump");
    let dumped = program("pg_dump")
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(original.database_url())
        .output()
        .expect("running pg_dump");
    assert!(dumped.status.success(), "pg_dump: {}", text(&dumped));
    drop(server);

    // The restore, into a fresh database.
    let restored = Deployment::postgres().await;
    let loaded = program("pg_restore")
        .args(["--exit-on-error", "--no-owner", "--dbname"])
        .arg(restored.database_url())
        .arg(&dump)
        .output()
        .expect("running pg_restore");
    assert!(loaded.status.success(), "pg_restore: {}", text(&loaded));
    assert_eq!(
        psql_ok(restored.database_url(), LATEST_CHECKPOINT),
        signed,
        "the restored latest checkpoint is the original one"
    );

    // Verified with the keys backed up apart from the database (the original data directory
    // holds the development checkpoint key): intact.
    let verify = || {
        restored
            .command()
            .args(["audit", "verify"])
            .env("ANSLUT_DATA_DIR", original.data_dir())
            .env("RUST_LOG", "warn")
            .output()
            .expect("running anslut audit verify")
    };
    let verified = verify();
    assert!(verified.status.success(), "{}", text(&verified));
    let report = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(report.starts_with("intact\n"), "{report}");
    assert!(
        report.contains(&format!("chains: {} events", 2 * CASES)),
        "{report}"
    );

    // Without the checkpoint key (a fresh data directory generates another one), the signed
    // checkpoints cannot be verified: the key is part of the backup.
    let keyless = restored.anslut(&["audit", "verify"]);
    assert_eq!(keyless.status.code(), Some(1), "{}", text(&keyless));

    // One event changed in the copy, by someone who may disable its guard.
    let forged = approvals[1];
    psql_ok(
        restored.database_url(),
        &format!(
            "ALTER TABLE events DISABLE TRIGGER USER; \
             UPDATE events SET payload = replace(payload::text, 'Complete.', 'Forged.')::json \
             WHERE position = {forged}; \
             ALTER TABLE events ENABLE TRIGGER USER"
        ),
    );
    let tampered = verify();
    assert_eq!(tampered.status.code(), Some(1), "{}", text(&tampered));
    let report = String::from_utf8_lossy(&tampered.stdout).into_owned();
    assert!(report.starts_with("NOT INTACT"), "{report}");
    assert!(
        report.contains(&format!("first bad event: position {forged} ")),
        "{report}"
    );
}
