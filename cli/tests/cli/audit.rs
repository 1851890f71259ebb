//! `anslut audit` as an operator runs it: the built binary against the test server's
//! database and data directory (hence its signing key).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use crate::fixtures::{execute, staff_commitments};
use crate::helpers::{TestApp, spawn_app};

/// The `anslut` binary with no environment but `vars`.
async fn anslut(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_anslut"));
    command.env_clear().env("RUST_LOG", "warn").args(args);
    for (name, value) in vars {
        command.env(name, value);
    }
    tokio::task::spawn_blocking(move || command.output().expect("running anslut"))
        .await
        .expect("the command's thread")
}

/// `anslut audit ...` configured like the test server: its database and data directory.
async fn audit(app: &TestApp, args: &[&str]) -> Output {
    let url = app.settings.database_url.as_ref().unwrap().expose().clone();
    let data_dir = app.settings.data_dir.display().to_string();
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    anslut(
        &all,
        &[("DATABASE_URL", &url), ("ANSLUT_DATA_DIR", &data_dir)],
    )
    .await
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[track_caller]
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The position of a case's event of the given type, from its history.
async fn position_of(app: &TestApp, case: &str, event_type: &str) -> u64 {
    let history = app
        .get(&format!("/v1/cases/{case}/history"), &app.officer())
        .await
        .json();
    history["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == event_type)
        .unwrap()["position"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_an_intact_log_and_names_a_tampered_event() {
    let app = spawn_app().await;
    let case = app.establishment_case().await;
    staff_commitments(&app, &case, 3).await;

    // A checkpoint now, printed as its note; the key is the well-known one.
    let checkpoint = audit(&app, &["checkpoint"]).await;
    assert_exit(&checkpoint, 0);
    let note = stdout(&checkpoint);
    assert!(note.starts_with(&format!(
        "anslut.localhost/development\n{}\n",
        app.head().await
    )));
    let key = audit(&app, &["key"]).await;
    assert_exit(&key, 0);
    let well_known = app
        .send(
            app.client
                .get(format!("{}/.well-known/anslut-checkpoint-key", app.address)),
        )
        .await;
    assert_eq!(stdout(&key), well_known.text);

    let intact = audit(&app, &["verify"]).await;
    assert_exit(&intact, 0);
    let report = stdout(&intact);
    assert!(report.starts_with("intact\n"), "{report}");
    assert!(
        report.contains("chains: 6 events in 1 streams checked"),
        "{report}"
    );

    // A checkpoint kept elsewhere is checked too.
    let kept = app.settings.data_dir.join("kept.note");
    std::fs::write(&kept, &note).unwrap();
    let with_kept = audit(&app, &["verify", "--checkpoint", kept.to_str().unwrap()]).await;
    assert_exit(&with_kept, 0);

    // Someone with the table owner's rights changes the approval's reason.
    let approved = position_of(&app, &case, "ApplicationApproved").await;
    execute(
        &app,
        &format!(
            "ALTER TABLE events DISABLE TRIGGER USER; \
             UPDATE events SET payload = replace(payload::text, 'Complete.', 'Forged.')::json \
             WHERE position = {approved}"
        ),
    )
    .await;
    let tampered = audit(&app, &["verify"]).await;
    assert_exit(&tampered, 1);
    let report = stdout(&tampered);
    assert!(report.starts_with("NOT INTACT"), "{report}");
    assert!(
        report.contains(&format!(
            "first bad event: position {approved} (connection_case/{case} version 2)"
        )),
        "{report}"
    );

    // An error (here: a configuration file that does not exist) is exit 2.
    let missing = audit(&app, &["verify", "--config", "/nonexistent/anslut.toml"]).await;
    assert_exit(&missing, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_catches_a_truncated_log_whose_head_was_rewritten() {
    let app = spawn_app().await;
    let kept = app.establishment_case().await;
    let kept_head = app.head().await;
    let tail = app.submit_jamtland().await;
    app.command(
        &tail,
        "approve-application",
        &app.officer(),
        json!({"reason": "Complete."}),
    )
    .await;
    let signed = audit(&app, &["checkpoint"]).await;
    assert_exit(&signed, 0);
    let head = app.head().await;
    assert_eq!(head, kept_head + 2);

    // The tail case's events removed, the head and the streams table rewritten to match:
    // the chains alone agree with what is left.
    execute(
        &app,
        &format!(
            "ALTER TABLE events DISABLE TRIGGER USER; \
             DELETE FROM events WHERE position > {kept_head}; \
             UPDATE log_head SET position = {kept_head} WHERE id = 1; \
             DELETE FROM streams WHERE stream_id = '{tail}'"
        ),
    )
    .await;
    assert!(app.state.store.verify().await.unwrap().is_intact());
    let truncated = audit(&app, &["verify"]).await;
    assert_exit(&truncated, 1);
    let report = stdout(&truncated);
    assert!(
        report.contains(&format!(
            "checkpoint {head} covers more events than the log has ({kept_head}): events from \
             position {} on were removed",
            kept_head + 1
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!("first missing event: position {}", kept_head + 1)),
        "{report}"
    );
    assert_ne!(kept, tail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_case_verifies_offline_with_the_well_known_key() {
    let app = spawn_app().await;
    let case = app.establishment_case().await;
    staff_commitments(&app, &case, 2).await;
    app.submit_jamtland().await; // another case, after this one's events
    let key = app
        .send(
            app.client
                .get(format!("{}/.well-known/anslut-checkpoint-key", app.address)),
        )
        .await
        .text;
    let key = key.trim();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("case.jsonl");
    let file_arg = file.to_str().unwrap();
    let exported = audit(&app, &["export", &case, "--output", file_arg]).await;
    assert_exit(&exported, 0);
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 5, "a header and the case's five events");
    let header: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(header["format"], "anslut-audit-export/1");
    assert_eq!(header["stream_id"], case);
    assert_eq!(header["verifier_key"], key);

    // No database, no configuration: only the file and the key. The data directory named
    // here does not exist and is not created.
    let nowhere = dir.path().join("no-data-dir");
    let offline = |args: Vec<String>| {
        let nowhere = nowhere.display().to_string();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            anslut(&args, &[("ANSLUT_DATA_DIR", &nowhere)]).await
        }
    };
    let verify = |file: &Path, key: &str| {
        vec![
            "audit".to_owned(),
            "verify-export".to_owned(),
            file.display().to_string(),
            "--key".to_owned(),
            key.to_owned(),
        ]
    };
    let valid = offline(verify(&file, key)).await;
    assert_exit(&valid, 0);
    let report = stdout(&valid);
    assert!(report.starts_with("valid\n"), "{report}");
    assert!(report.contains("events: 5 checked"), "{report}");
    assert!(!nowhere.exists());

    // The key may also be given as a file.
    let key_file = dir.path().join("checkpoint.vkey");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    assert_exit(&offline(verify(&file, key_file.to_str().unwrap())).await, 0);

    // An altered line, or another key, does not verify (exit 1); a malformed key is an
    // error (exit 2).
    let altered = dir.path().join("altered.jsonl");
    std::fs::write(&altered, text.replacen("Complete.", "Forged.", 1)).unwrap();
    let refused = offline(verify(&altered, key)).await;
    assert_exit(&refused, 1);
    assert!(
        stdout(&refused).contains("was altered"),
        "{}",
        stdout(&refused)
    );
    assert_exit(&offline(verify(&file, "not a key")).await, 2);
    // The right key under a key id that does not match it.
    let (name, rest) = key.split_once('+').unwrap();
    let (_, encoded) = rest.split_once('+').unwrap();
    assert_exit(
        &offline(verify(&file, &format!("{name}+00000000+{encoded}"))).await,
        2,
    );
    let signer =
        audit::CheckpointSigner::from_seed("anslut.localhost/development", &[7; 32]).unwrap();
    let foreign = offline(verify(&file, &signer.verifier_key().to_string())).await;
    assert_exit(&foreign, 1);
    assert!(
        stdout(&foreign).contains("the checkpoint"),
        "{}",
        stdout(&foreign)
    );
}
