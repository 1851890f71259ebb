//! `anslut privacy`: a failing key table is reported as the database's failure, with its cause,
//! never as a usage error.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::fixtures::{execute, personnummer};
use crate::helpers::{JAMTLAND, TestApp, spawn_app};

/// Runs `anslut privacy ARGS` against the application's database, `stdin` on standard input.
async fn privacy(app: &TestApp, args: &[&str], stdin: &str) -> std::process::Output {
    let url = app.settings.database_url.as_ref().unwrap().expose().clone();
    let mut command = Command::new(env!("CARGO_BIN_EXE_anslut"));
    command
        .env_clear()
        .env("RUST_LOG", "off")
        .env("DATABASE_URL", url)
        .env("ANSLUT_DATA_DIR", &app.settings.data_dir)
        .arg("privacy")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("running anslut");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().expect("anslut's output")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_table_that_fails_is_the_databases_failure_not_a_usage_error() {
    let app = spawn_app().await;
    let number = personnummer(1);

    // Before: the lookup runs and finds nobody, which is the operator's answer (a usage
    // error: nothing of that region names the number).
    let nobody = privacy(&app, &["subject", "--region", JAMTLAND], &number).await;
    assert_eq!(nobody.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&nobody.stderr);
    assert!(
        stderr.contains("no record of that region names this personnummer"),
        "{stderr}"
    );

    // The index table gone: the lookup fails in the database, and says so.
    execute(&app, "DROP TABLE subject_index").await;
    let failed = privacy(&app, &["subject", "--region", JAMTLAND], &number).await;
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("the personal-data keys"), "{stderr}");
    assert!(
        stderr.contains("subject_index"),
        "the cause is named: {stderr}"
    );
    assert!(!stderr.contains("no record"), "{stderr}");
    assert!(
        !stderr.contains(&number),
        "no personnummer in the output: {stderr}"
    );
}
