//! History and time travel over HTTP: paging through a case with many events, the case and an
//! incident as they stood at several points (by time and by position), and tenancy.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::fixtures::{DALARNA, report_incident, staff_commitments};
use crate::helpers::{JAMTLAND, ORG, OTHER_ORG, TestApp, spawn_app, today};

/// Every event of a case's history, following `next` from the first page.
async fn all_pages(app: &TestApp, first: &str, token: &str) -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let mut pages = 0;
    let mut path = Some(first.to_owned());
    while let Some(current) = path {
        let answer = app.get(&current, token).await;
        assert_eq!(answer.status, 200, "{current}: {}", answer.text);
        let body = answer.json();
        let next = body["next"].as_str().map(str::to_owned);
        assert_eq!(
            answer.header("link"),
            next.as_ref().map(|next| format!("<{next}>; rel=\"next\"")),
            "the Link header names the next page"
        );
        events.extend(body["events"].as_array().unwrap().iter().cloned());
        pages += 1;
        path = next;
    }
    (events, pages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_history_pages_by_version_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let case = app.establishment_case().await;
    staff_commitments(&app, &case, 24).await;
    let auditor = app.token("auditor", JAMTLAND, None);

    let (events, pages) =
        all_pages(&app, &format!("/v1/cases/{case}/history?limit=5"), &auditor).await;
    assert_eq!(events.len(), 27);
    assert_eq!(pages, 6, "5 full pages and one of 2");
    let versions: Vec<u64> = events
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, (1..=27).collect::<Vec<_>>());
    let positions: Vec<u64> = events
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    let ids: BTreeSet<&str> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 27);

    // Exactly 27: the last full page has no next.
    let (again, pages) =
        all_pages(&app, &format!("/v1/cases/{case}/history?limit=9"), &auditor).await;
    assert_eq!((again.len(), pages), (27, 3));
    assert_eq!(again, events);

    // The default page is 100 and holds them all; a page starts after a version.
    let page = app
        .get(&format!("/v1/cases/{case}/history"), &auditor)
        .await
        .json();
    assert_eq!(page["events"].as_array().unwrap().len(), 27);
    assert_eq!(page["next"], Value::Null);
    let tail = app
        .get(
            &format!("/v1/cases/{case}/history?after_version=25"),
            &auditor,
        )
        .await
        .json();
    let tail: Vec<u64> = tail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(tail, [26, 27]);

    // Who, role, when, why, correlation, and the data as the domain records it.
    let submitted = &events[0];
    assert_eq!(submitted["type"], "ApplicationSubmitted");
    assert_eq!(submitted["event_version"], "1");
    assert_eq!(submitted["actor"]["role"], "provider");
    assert_eq!(submitted["actor"]["region"], JAMTLAND);
    assert_eq!(submitted["actor"]["provider_org"], ORG);
    assert_eq!(submitted["actor"]["subject"], "test-provider");
    assert_eq!(submitted["reason"], Value::Null);
    assert_eq!(
        submitted["data"]["unit_name"],
        "Östersundshälsan Vårdcentral"
    );
    let approved = &events[1];
    assert_eq!(approved["type"], "ApplicationApproved");
    assert_eq!(approved["actor"]["role"], "officer");
    assert_eq!(approved["actor"]["provider_org"], Value::Null);
    assert_eq!(approved["reason"], "Complete.");
    for event in &events {
        for field in ["command_id", "correlation_id", "recorded_at", "at"] {
            assert!(event[field].is_string(), "{field} in {event}");
        }
        assert!(event.get("causation_id").is_some());
    }
    let commitment = &events[3];
    assert_eq!(commitment["type"], "StaffCommitmentRecorded");
    assert!(
        commitment["data"]["person"].to_string().contains("\"pii\""),
        "personal data appears as the domain serialises it: {}",
        commitment["data"]
    );

    // Limits are bounded.
    for bad in ["limit=0", "limit=501", "after_version=x", "colour=red"] {
        app.get(&format!("/v1/cases/{case}/history?{bad}"), &auditor)
            .await
            .assert_problem(400, "invalid_query");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditors_read_every_history_in_their_region_and_nothing_else() {
    let app = spawn_app().await;
    let case = app.submit_jamtland().await;
    let path = format!("/v1/cases/{case}/history");
    for (role, region, org) in [
        ("auditor", JAMTLAND, None),
        ("dashboard", JAMTLAND, None),
        ("provider", JAMTLAND, Some(ORG)),
    ] {
        let answer = app.get(&path, &app.token(role, region, org)).await;
        assert_eq!(answer.status, 200, "{role}: {}", answer.text);
    }
    for (role, region, org) in [
        ("auditor", DALARNA, None),
        ("officer", DALARNA, None),
        ("provider", JAMTLAND, Some(OTHER_ORG)),
    ] {
        let answer = app.get(&path, &app.token(role, region, org)).await;
        answer.assert_problem(404, "not_found");
        assert!(!answer.text.contains("Östersundshälsan"));
    }
    let missing = format!("/v1/cases/{}/history", uuid::Uuid::now_v7());
    app.get(&missing, &app.officer())
        .await
        .assert_problem(404, "not_found");
    // An auditor reads; it decides nothing.
    app.post(
        &format!("/v1/cases/{case}/approve-application"),
        &app.token("auditor", JAMTLAND, None),
        &json!({"reason": "Auditors do not decide."}),
        Some("*"),
        None,
    )
    .await
    .assert_problem(403, "forbidden");
}

/// The state a time-travel read answers: phase, version, agreements, and the point's facts.
fn state_of(body: &Value) -> (String, u64, usize, u64) {
    (
        body["phase"].as_str().unwrap().to_owned(),
        body["version"].as_u64().unwrap(),
        body["agreements"].as_array().unwrap().len(),
        body["as_of"]["position"].as_u64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_of_answers_the_phases_the_case_had_by_position_and_by_time() {
    let app = spawn_app().await;
    let officer = app.officer();
    let submitted = app
        .post(
            "/v1/cases",
            &app.provider(),
            &crate::helpers::jamtland_application(),
            None,
            None,
        )
        .await;
    let case = submitted.json()["case_id"].as_str().unwrap().to_owned();
    let mut positions = vec![submitted.json()["position"].as_u64().unwrap()];
    for (name, body) in [
        ("approve-application", json!({"reason": "Complete."})),
        ("sign-contract", json!({"signed_on": today()})),
        (
            "sign-agreement",
            json!({"agreement": "JHV-008", "signed_on": today(), "counterparty": "Inera AB"}),
        ),
        (
            "end-connection",
            json!({"ending": {"kind": "withdrawn"}, "ended_on": today(), "reason": "The provider withdrew."}),
        ),
    ] {
        let answer = app.command(&case, name, &officer, body).await;
        positions.push(answer.json()["position"].as_u64().unwrap());
    }
    // Another case's event after the last: a position between events of this case.
    let later = app.submit_jamtland().await;
    assert_ne!(later, case);

    let expected = [
        ("application", 1, 0),
        ("approved", 2, 0),
        ("establishment", 3, 0),
        ("establishment", 4, 1),
        ("ended", 5, 1),
    ];
    let history = app
        .get(&format!("/v1/cases/{case}/history"), &officer)
        .await
        .json();
    let history = history["events"].as_array().unwrap();
    for (i, (phase, version, agreements)) in expected.into_iter().enumerate() {
        let want = (phase.to_owned(), version, agreements, positions[i]);
        // By position: the event's own, and (before the next event) one past it.
        let at_position = app
            .get(
                &format!("/v1/cases/{case}?as_of_position={}", positions[i]),
                &officer,
            )
            .await;
        assert_eq!(at_position.status, 200, "{}", at_position.text);
        assert_eq!(
            state_of(&at_position.json()),
            want,
            "position {}",
            positions[i]
        );
        assert_eq!(at_position.header("etag"), None, "no ETag for a past state");
        // By time: the instant the store recorded the event.
        let recorded_at = history[i]["recorded_at"].as_str().unwrap();
        let at_time = app
            .get(
                &format!("/v1/cases/{case}?as_of={}", recorded_at.replace('+', "%2B")),
                &officer,
            )
            .await;
        assert_eq!(at_time.status, 200, "{}", at_time.text);
        assert_eq!(state_of(&at_time.json()), want, "time {recorded_at}");
        assert_eq!(at_time.json()["as_of"]["recorded_at"], recorded_at);
    }
    // Before the contract the blockers include it; later they do not.
    let conditions = |body: &Value| -> Vec<String> {
        body["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["condition"].as_str().unwrap().to_owned())
            .collect()
    };
    let applied = app
        .get(
            &format!("/v1/cases/{case}?as_of_position={}", positions[0]),
            &officer,
        )
        .await
        .json();
    assert!(conditions(&applied).contains(&"contract_not_signed".to_owned()));
    let establishment = app
        .get(
            &format!("/v1/cases/{case}?as_of_position={}", positions[2]),
            &officer,
        )
        .await
        .json();
    assert!(!conditions(&establishment).contains(&"contract_not_signed".to_owned()));
    assert!(conditions(&establishment).contains(&"final_contract_not_signed".to_owned()));
    assert!(establishment["catalogue"]["digest"].is_string());

    // A position after the last event answers the last state; the current read has an ETag
    // and no as_of.
    let head = app.head().await;
    let last = app
        .get(&format!("/v1/cases/{case}?as_of_position={head}"), &officer)
        .await
        .json();
    assert_eq!(state_of(&last), ("ended".to_owned(), 5, 1, positions[4]));
    let now = app.get(&format!("/v1/cases/{case}"), &officer).await;
    assert_eq!(now.etag(), "\"5\"");
    assert_eq!(now.json().get("as_of"), None);
    assert_eq!(now.json()["phase"], "ended");

    // Before the case existed: 404, by position and by time.
    app.get(
        &format!("/v1/cases/{case}?as_of_position={}", positions[0] - 1),
        &officer,
    )
    .await
    .assert_problem(404, "not_found");
    app.get(
        &format!("/v1/cases/{case}?as_of=2020-01-01T00:00:00Z"),
        &officer,
    )
    .await
    .assert_problem(404, "not_found");
    // Both at once: the state within both bounds, whichever is the earlier.
    let both = app
        .get(
            &format!(
                "/v1/cases/{case}?as_of=2030-01-01T00:00:00Z&as_of_position={}",
                positions[2]
            ),
            &officer,
        )
        .await
        .json();
    assert_eq!(both["as_of"]["position"], positions[2]);
    assert_eq!(both, establishment);
    app.get(
        &format!("/v1/cases/{case}?as_of=2020-01-01T00:00:00Z&as_of_position={head}"),
        &officer,
    )
    .await
    .assert_problem(404, "not_found");
    // A malformed instant: 400. Another region: 404 at any point.
    app.get(&format!("/v1/cases/{case}?as_of=yesterday"), &officer)
        .await
        .assert_problem(400, "invalid_query");
    app.get(
        &format!("/v1/cases/{case}?as_of_position={head}"),
        &app.token("auditor", DALARNA, None),
    )
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incidents_history_and_its_past_states() {
    let app = spawn_app().await;
    let case = app.establishment_case().await;
    let incident = report_incident(&app, &case).await;
    let region_it = app.token("region_it", JAMTLAND, None);
    let assessed = app
        .post(
            &format!("/v1/incidents/{incident}/assess"),
            &region_it,
            &json!({"severity": "low", "region_it_affected": false, "assessment": "No traffic reached the region's network."}),
            Some("*"),
            None,
        )
        .await;
    assert_eq!(assessed.status, 200, "{}", assessed.text);
    let closed = app
        .post(
            &format!("/v1/incidents/{incident}/close"),
            &region_it,
            &json!({"reason": "Actions completed."}),
            Some("*"),
            None,
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);

    let auditor = app.token("auditor", JAMTLAND, None);
    let history = app
        .get(&format!("/v1/incidents/{incident}/history"), &auditor)
        .await;
    assert_eq!(history.status, 200, "{}", history.text);
    let events = history.json()["events"].as_array().unwrap().clone();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["IncidentReported", "IncidentAssessed", "IncidentClosed"]
    );
    assert_eq!(events[0]["reason"], Value::Null);
    assert_eq!(
        events[1]["reason"],
        "No traffic reached the region's network."
    );
    assert_eq!(events[1]["actor"]["role"], "region_it");
    assert_eq!(events[2]["reason"], "Actions completed.");

    let statuses: Vec<(String, String)> = {
        let mut statuses = Vec::new();
        for event in &events {
            let position = event["position"].as_u64().unwrap();
            let past = app
                .get(
                    &format!("/v1/incidents/{incident}?as_of_position={position}"),
                    &auditor,
                )
                .await;
            assert_eq!(past.status, 200, "{}", past.text);
            assert_eq!(past.json()["as_of"]["position"], position);
            assert_eq!(past.header("etag"), None);
            statuses.push((
                past.json()["status"].as_str().unwrap().to_owned(),
                past.json()["severity"].as_str().unwrap().to_owned(),
            ));
        }
        statuses
    };
    assert_eq!(
        statuses,
        [
            ("reported".to_owned(), "medium".to_owned()),
            ("assessed".to_owned(), "low".to_owned()),
            ("closed".to_owned(), "low".to_owned()),
        ]
    );
    let first = events[0]["recorded_at"].as_str().unwrap();
    let reported = app
        .get(&format!("/v1/incidents/{incident}?as_of={first}"), &auditor)
        .await;
    assert_eq!(reported.json()["status"], "reported", "{}", reported.text);

    for token in [
        app.token("auditor", DALARNA, None),
        app.token("provider", JAMTLAND, Some(OTHER_ORG)),
    ] {
        app.get(&format!("/v1/incidents/{incident}/history"), &token)
            .await
            .assert_problem(404, "not_found");
        app.get(&format!("/v1/incidents/{incident}?as_of={first}"), &token)
            .await
            .assert_problem(404, "not_found");
    }
}
