//! `anslut projections status|rebuild|verify`: the built binary against the database of a
//! running server, which keeps leading the projectors meanwhile.

use std::process::Output;
use std::time::Duration;

use projections::ProjectionName;
use serde_json::{Value, json};
use sqlx::{Connection, Executor};
use store::Position;

use crate::helpers::{TestApp, jamtland_application, spawn_app, today};

/// Runs `anslut projections ARGS` against the application's database.
fn anslut(app: &TestApp, args: &[&str]) -> Output {
    let url = app
        .settings
        .database_url
        .as_ref()
        .expect("a database URL")
        .expose();
    std::process::Command::new(env!("CARGO_BIN_EXE_anslut"))
        .arg("projections")
        .args(args)
        .env("DATABASE_URL", url)
        .env("ANSLUT_DATA_DIR", &app.settings.data_dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("running anslut")
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

fn status(app: &TestApp) -> Vec<Value> {
    let output = anslut(app, &["status", "--json"]);
    assert_exit(&output, 0);
    serde_json::from_str::<Value>(&stdout(&output))
        .expect("status --json prints JSON")
        .as_array()
        .expect("one entry per projection")
        .clone()
}

fn generation(statuses: &[Value], name: ProjectionName) -> u64 {
    statuses
        .iter()
        .find(|s| s["name"] == name.as_str())
        .and_then(|s| s["generation"].as_u64())
        .expect("a generation")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shows_status_rebuilds_while_the_server_serves_and_verifies() {
    let app = spawn_app().await;
    let officer = app.officer();
    let answer = app
        .post(
            "/v1/cases",
            &app.provider(),
            &jamtland_application(),
            None,
            None,
        )
        .await;
    let case = answer.json()["case_id"].as_str().unwrap().to_owned();
    app.command(
        &case,
        "approve-application",
        &officer,
        json!({"reason": "Complete."}),
    )
    .await;
    let last = app
        .command(
            &case,
            "sign-contract",
            &officer,
            json!({"signed_on": today()}),
        )
        .await;
    let head = last.json()["position"].as_u64().unwrap();
    app.state
        .projections
        .wait_for(
            &ProjectionName::ALL,
            Position(head),
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    // Status: every projection at the head, led by the server, not by the CLI.
    let statuses = status(&app);
    assert_eq!(statuses.len(), ProjectionName::ALL.len());
    for s in &statuses {
        assert_eq!(s["checkpoint"], head, "{s}");
        assert_eq!(s["head"], head, "{s}");
        assert_eq!(s["lag_events"], 0, "{s}");
        assert_eq!(s["leader"], "elsewhere", "{s}");
        assert_eq!(s["generation"], 1, "{s}");
    }
    let table = anslut(&app, &["status"]);
    assert_exit(&table, 0);
    let table = stdout(&table);
    assert!(table.starts_with("projection"), "{table}");
    assert!(
        table.contains("lag events") && table.contains("leader"),
        "{table}"
    );
    for name in ProjectionName::ALL {
        assert!(table.contains(name.as_str()), "{table}");
    }

    // Rebuild two, then all, while the server keeps serving.
    let rebuilt = anslut(&app, &["rebuild", "costs", "findings"]);
    assert_exit(&rebuilt, 0);
    assert!(
        stdout(&rebuilt).contains("swapped in"),
        "{}",
        stdout(&rebuilt)
    );
    assert!(
        String::from_utf8_lossy(&rebuilt.stderr).contains("events/s"),
        "progress lines on a stderr that is not a terminal"
    );
    let statuses = status(&app);
    assert_eq!(generation(&statuses, ProjectionName::Costs), 2);
    assert_eq!(generation(&statuses, ProjectionName::Findings), 2);
    assert_eq!(generation(&statuses, ProjectionName::Pipeline), 1);
    let overview = app
        .get(&format!("/v1/costs?case_id={case}"), &officer)
        .await;
    assert_eq!(overview.status, 200, "{}", overview.text);
    assert_eq!(overview.json()["items"].as_array().unwrap().len(), 1);
    let rebuilt = anslut(&app, &["rebuild", "--all"]);
    assert_exit(&rebuilt, 0);
    let statuses = status(&app);
    assert_eq!(generation(&statuses, ProjectionName::Costs), 3);
    assert_eq!(generation(&statuses, ProjectionName::CaseOverview), 2);

    // Verify: equal to a rebuild; then a planted change is found and exits 1.
    let verified = anslut(&app, &["verify"]);
    assert_exit(&verified, 0);
    assert!(
        stdout(&verified).contains("every read model equals a rebuild from scratch"),
        "{}",
        stdout(&verified)
    );
    let url = app.settings.database_url.as_ref().unwrap().expose().clone();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!(
        "UPDATE costs_g{} SET doc = '{{}}'",
        generation(&statuses, ProjectionName::Costs)
    )))
    .await
    .unwrap();
    conn.close().await.unwrap();
    let differs = anslut(&app, &["verify"]);
    assert_exit(&differs, 1);
    assert!(stdout(&differs).contains("differs"), "{}", stdout(&differs));
    let report = anslut(&app, &["verify", "--json"]);
    assert_exit(&report, 1);
    let report: Value = serde_json::from_str(&stdout(&report)).unwrap();
    let costs = report["projections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "costs")
        .unwrap()
        .clone();
    assert_eq!(costs["difference_count"], 1);
    assert_eq!(costs["differences"][0]["key"], case);

    // A command that cannot run exits 2.
    let unreachable = std::process::Command::new(env!("CARGO_BIN_EXE_anslut"))
        .args(["projections", "status"])
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing")
        .env("ANSLUT_DATA_DIR", &app.settings.data_dir)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_exit(&unreachable, 2);
}
