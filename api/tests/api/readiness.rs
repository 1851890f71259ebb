//! The read models in operations: `/readyz` names projections that lag or stopped, `/metrics`
//! exports lag, checkpoint and leadership per projection, and another instance takes over a
//! projection whose leader goes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::catalogue::CatalogueRegistry;
use projections::{Fault, FaultAction, Leader, ProjectionName, ProjectionOptions, Projections};
use serde_json::{Value, json};
use store::testing::TestDatabase;
use store::{AppendRequest, EventMetadata, ExpectedVersion, NewEvent, Position, StreamRef};

use crate::helpers::{Answer, OPS_TOKEN, TestApp, jamtland_application, spawn_app, spawn_with};

async fn readyz(app: &TestApp) -> Answer {
    app.send(
        app.client
            .get(format!("{}/readyz", app.address))
            .bearer_auth(OPS_TOKEN),
    )
    .await
}

/// Polls `/readyz` until `done` holds for its answer, for at most `within`.
async fn readyz_until(app: &TestApp, within: Duration, done: impl Fn(&Answer) -> bool) -> Answer {
    let deadline = Instant::now() + within;
    loop {
        let answer = readyz(app).await;
        if done(&answer) || Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn listed(answer: &Answer) -> Vec<(String, String)> {
    answer.json()["projections"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|p| {
                    (
                        p["projection"].as_str().unwrap().to_owned(),
                        p["reason"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn submit(app: &TestApp) -> u64 {
    let answer = app
        .post(
            "/v1/cases",
            &app.provider(),
            &jamtland_application(),
            None,
            None,
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.json()["position"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_a_projection_whose_leader_in_another_instance_is_stuck_until_it_goes() {
    // Another instance leads every projection first; its findings projector hangs inside
    // its first batch.
    let database = TestDatabase::postgres().await;
    let catalogues = Arc::new(CatalogueRegistry::load_embedded().unwrap());
    let mut options = ProjectionOptions::new(catalogues);
    options.leader_retry = Duration::from_millis(100);
    options.fault = Some(Fault {
        projection: ProjectionName::Findings,
        at: Position(1),
        action: FaultAction::Stall,
    });
    // The other instance reads the log with the same keys as the application (personal data
    // in events is sealed with them).
    let kek = "07".repeat(32);
    let keys = privacy::SubjectKeys::connect(
        database.url(),
        privacy::KeyEncryptionKey::from_bytes(&hex::decode(&kek).unwrap()).unwrap(),
        privacy::KeyOptions::default(),
    )
    .await
    .unwrap();
    let store = database
        .store_with(store::StoreOptions {
            codec: Arc::new(keys.codec()),
            ..store::StoreOptions::default()
        })
        .await;
    let other = Projections::open(database.url(), store, options)
        .await
        .unwrap();
    let other_running = other.start();
    let deadline = Instant::now() + Duration::from_secs(10);
    while other
        .status()
        .await
        .unwrap()
        .iter()
        .any(|s| s.leader != Leader::Here)
    {
        assert!(Instant::now() < deadline, "the other instance never led");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let app = spawn_with(database, |settings| {
        settings.privacy.key_encryption_key = Some(api::config::Secret::new(kek));
        settings.projections.ready_max_lag_seconds = 1;
        settings.projections.leader_retry_milliseconds = 200;
    })
    .await;
    let ready = readyz(&app).await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    let written = submit(&app).await;
    let others: Vec<ProjectionName> = ProjectionName::ALL
        .into_iter()
        .filter(|n| *n != ProjectionName::Findings)
        .collect();
    app.state
        .projections
        .wait_for(&others, Position(written), Duration::from_secs(10))
        .await
        .unwrap();

    let unready = readyz_until(&app, Duration::from_secs(10), |a| a.status == 503).await;
    unready.assert_problem(503, "not_ready");
    assert!(unready.header("retry-after").is_some());
    assert_eq!(
        listed(&unready),
        [("findings".to_owned(), "lagging".to_owned())]
    );
    let entry = &unready.json()["projections"][0];
    assert_eq!(entry["checkpoint"], 0);
    assert_eq!(entry["head"], written);
    assert!(entry["lag_seconds"].as_f64().unwrap() > 1.0);

    // The stuck instance goes: this one takes the projection over and catches up.
    drop(other_running);
    drop(other);
    let ready = readyz_until(&app, Duration::from_secs(15), |a| a.status == 200).await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    let metrics = app
        .send(
            app.client
                .get(format!("{}/metrics", app.address))
                .bearer_auth(OPS_TOKEN),
        )
        .await;
    assert!(
        metrics
            .text
            .contains(r#"anslut_projection_leader{projection="findings"} 1"#),
        "{}",
        metrics.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_the_projections_stopped_on_an_event_they_cannot_apply() {
    let app = spawn_app().await;
    // Whether or not the submitted case's events are projected before the poison is written,
    // each stopped projection ends just before the poison.
    submit(&app).await;
    // A case event that does not deserialise, as only someone past the API could write it.
    let poison = app
        .state
        .store
        .append(AppendRequest {
            stream: StreamRef::new("connection_case", uuid::Uuid::now_v7().to_string()),
            expected: ExpectedVersion::Exact(0),
            metadata: EventMetadata::new(uuid::Uuid::now_v7(), None),
            events: vec![NewEvent {
                event_type: "ApplicationSubmitted".into(),
                event_version: "1".into(),
                payload: json!({"nonsense": true}),
            }],
            snapshot: None,
        })
        .await
        .unwrap()
        .last_position;

    let unready = readyz_until(&app, Duration::from_secs(30), |a| listed(a).len() == 6).await;
    unready.assert_problem(503, "not_ready");
    let mut expected: Vec<(String, String)> = ProjectionName::ALL
        .into_iter()
        .filter(|n| *n != ProjectionName::Incidents)
        .map(|n| (n.as_str().to_owned(), "stopped".to_owned()))
        .collect();
    expected.sort();
    let mut stopped = listed(&unready);
    stopped.sort();
    assert_eq!(
        stopped, expected,
        "the incidents model reads no case events"
    );
    for entry in unready.json()["projections"].as_array().unwrap() {
        let error = entry["last_error"].as_str().unwrap();
        assert!(
            error.contains(&format!("position {poison}")),
            "the error names the event: {error}"
        );
        assert_eq!(entry["checkpoint"], poison.get() - 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_export_lag_checkpoint_and_leadership_per_projection() {
    let app = spawn_app().await;
    let written = submit(&app).await;
    app.state
        .projections
        .wait_for(
            &ProjectionName::ALL,
            Position(written),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let metrics = app
        .send(
            app.client
                .get(format!("{}/metrics", app.address))
                .bearer_auth(OPS_TOKEN),
        )
        .await;
    assert_eq!(metrics.status, 200);
    for name in ProjectionName::ALL {
        for line in [
            format!(r#"anslut_projection_lag_events{{projection="{name}"}} 0"#),
            format!(r#"anslut_projection_lag_seconds{{projection="{name}"}} 0"#),
            format!(r#"anslut_projection_checkpoint{{projection="{name}"}} {written}"#),
            format!(r#"anslut_projection_leader{{projection="{name}"}} 1"#),
        ] {
            assert!(metrics.text.contains(&line), "{line} in\n{}", metrics.text);
        }
    }
    let ready: Value = readyz(&app).await.json();
    assert_eq!(ready["status"], "ok");
}
