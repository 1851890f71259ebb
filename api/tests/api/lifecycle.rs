//! A connection case over HTTP, from application to go-live, with the real Jämtland Hälsoval
//! catalogue: its required contacts, mandatory packages, call-measurement system and the
//! agreements JHV-008, JHV-014 and JHV-026.

use serde_json::{Value, json};

use crate::helpers::{
    Answer, JAMTLAND, TestApp, days_from_today, spawn_app, spawn_app_sqlite, today,
};

/// Posts a command with the given `If-Match` and returns the answer, asserting its status.
async fn step(
    app: &TestApp,
    case: &str,
    name: &str,
    token: &str,
    etag: &str,
    body: Value,
    status: u16,
) -> Answer {
    let answer = app
        .post(
            &format!("/v1/cases/{case}/{name}"),
            token,
            &body,
            Some(etag),
            None,
        )
        .await;
    assert_eq!(answer.status, status, "{name}: {}", answer.text);
    answer
}

fn conditions(answer: &Answer) -> Vec<String> {
    answer.json()["unmet"]
        .as_array()
        .expect("unmet conditions")
        .iter()
        .map(|c| {
            let mut text = c["condition"].as_str().unwrap_or_default().to_owned();
            if let Some(agreement) = c["agreement"].as_str() {
                text = format!("{text}:{agreement}");
            }
            if let Some(finding) = c["finding"].as_u64() {
                text = format!("{text}:{finding}");
            }
            text
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jamtland_halsoval_case_goes_from_application_to_go_live_over_http() {
    let app = spawn_app().await;
    let provider = app.provider();
    let officer = app.officer();
    let region_it = app.token("region_it", JAMTLAND, None);

    // Application: 201 with Location and ETag.
    let submitted = app
        .post(
            "/v1/cases",
            &provider,
            &crate::helpers::jamtland_application(),
            None,
            None,
        )
        .await;
    assert_eq!(submitted.status, 201, "{}", submitted.text);
    let case = submitted.json()["case_id"].as_str().unwrap().to_owned();
    assert_eq!(
        submitted.header("location"),
        Some(format!("/v1/cases/{case}"))
    );
    assert_eq!(submitted.etag(), "\"1\"");
    assert_eq!(
        submitted.json()["events"][0]["type"],
        "ApplicationSubmitted"
    );
    assert!(submitted.json()["position"].as_u64().unwrap() >= 1);

    let mut etag = submitted.etag();

    etag = step(
        &app,
        &case,
        "approve-application",
        &officer,
        &etag,
        json!({"reason": "Complete."}),
        200,
    )
    .await
    .etag();
    etag = step(
        &app,
        &case,
        "sign-contract",
        &officer,
        &etag,
        json!({"signed_on": today(), "document": "RS 2026/114"}),
        200,
    )
    .await
    .etag();

    // Go-live is refused while the agreements, the joint IT plan, the declaration, training and
    // verification are missing: Jämtland's own process. The Hjälpmedelssystem agreement
    // (JHV-026) is conditional and gates nothing until the unit connects the system.
    let refused = step(
        &app,
        &case,
        "go-live",
        &officer,
        &etag,
        json!({"reason": "Too early."}),
        409,
    )
    .await;
    refused.assert_problem(409, "go_live_blocked");
    let unmet = conditions(&refused);
    for expected in [
        "self_declaration_not_accepted",
        "agreement_not_signed:JHV-008",
        "agreement_not_signed:JHV-014",
        "plan_not_recorded",
        "training_not_completed",
        "final_verification_not_approved",
        "final_contract_not_signed",
    ] {
        assert!(
            unmet.contains(&expected.to_owned()),
            "{expected} in {unmet:?}"
        );
    }
    assert!(!unmet.contains(&"contract_not_signed".to_owned()));
    assert!(!unmet.contains(&"agreement_not_signed:JHV-026".to_owned()));

    for agreement in ["JHV-008", "JHV-014", "JHV-026"] {
        etag = step(
            &app,
            &case,
            "sign-agreement",
            &officer,
            &etag,
            json!({"agreement": agreement, "signed_on": today(), "counterparty": "Inera AB"}),
            200,
        )
        .await
        .etag();
    }

    // The self-declaration answers every requirement of the held catalogue.
    let catalogue = app
        .get("/v1/catalogues/jamtland-halsoval/versions/1", &provider)
        .await;
    assert_eq!(catalogue.status, 200);
    let answers: Vec<Value> = catalogue.json()["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!({"requirement": r["id"], "compliance": "complies"}))
        .collect();
    assert_eq!(answers.len(), 63);
    etag = step(
        &app,
        &case,
        "submit-self-declaration",
        &provider,
        &etag,
        json!({"answers": answers}),
        200,
    )
    .await
    .etag();
    etag = step(
        &app,
        &case,
        "accept-self-declaration",
        &officer,
        &etag,
        json!({"reason": "In order."}),
        200,
    )
    .await
    .etag();
    etag = step(
        &app,
        &case,
        "record-plan",
        &region_it,
        &etag,
        json!({"step": "gemensam-it-plan", "recorded_on": today(), "document": "RS 2026/131"}),
        200,
    )
    .await
    .etag();
    etag = step(&app, &case, "record-milestone", &region_it, &etag, json!({"milestone": {"kind": "network_connected", "network": "Sjunet"}, "completed_on": today()}), 200).await.etag();
    etag = step(&app, &case, "record-staff-commitment", &provider, &etag, json!({"hsa_id": "SE5566778899-K7Q2", "name": "Per Olsson", "personnummer": "19811218-9876", "kind": "responsibility_commitment", "signed_on": today()}), 200).await.etag();
    etag = step(
        &app,
        &case,
        "complete-training",
        &region_it,
        &etag,
        json!({"completed_on": today(), "description": "Introductory training, 9 staff."}),
        200,
    )
    .await
    .etag();
    etag = step(
        &app,
        &case,
        "schedule-final-verification",
        &region_it,
        &etag,
        json!({"scheduled_for": today()}),
        200,
    )
    .await
    .etag();
    etag = step(&app, &case, "record-finding", &region_it, &etag, json!({"kind": "demand", "requirement": "JHV-030", "description": "The network cabinet is not locked.", "due": days_from_today(14)}), 200).await.etag();
    etag = step(
        &app,
        &case,
        "record-finding",
        &region_it,
        &etag,
        json!({"kind": "recommendation", "description": "Privacy filters at reception."}),
        200,
    )
    .await
    .etag();

    // An open demand blocks the approval and go-live.
    let refused = step(
        &app,
        &case,
        "approve-final-verification",
        &region_it,
        &etag,
        json!({"reason": "Fine."}),
        409,
    )
    .await;
    refused.assert_problem(409, "open_demands");
    let refused = step(
        &app,
        &case,
        "go-live",
        &officer,
        &etag,
        json!({"reason": "Too early."}),
        409,
    )
    .await;
    refused.assert_problem(409, "go_live_blocked");
    let unmet = conditions(&refused);
    assert!(unmet.contains(&"demand_open:1".to_owned()), "{unmet:?}");
    let view = app.get(&format!("/v1/cases/{case}"), &officer).await;
    assert_eq!(view.json()["phase"], "final_verification");
    assert!(
        view.json()["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["condition"] == "demand_open")
    );

    // The demand is the region's: the provider responds, the region accepts by resolving.
    let refused = step(
        &app,
        &case,
        "resolve-finding",
        &provider,
        &etag,
        json!({"finding": 1, "resolution": "A lock was fitted."}),
        403,
    )
    .await;
    refused.assert_problem(403, "demand_is_the_regions");
    etag = step(
        &app,
        &case,
        "respond-to-finding",
        &provider,
        &etag,
        json!({"finding": 1, "remediation": "A lock was fitted.", "evidence": ["Photo in the case file"]}),
        200,
    )
    .await
    .etag();
    etag = step(
        &app,
        &case,
        "resolve-finding",
        &region_it,
        &etag,
        json!({"finding": 1, "resolution": "The lock is fitted; remediation accepted."}),
        200,
    )
    .await
    .etag();
    etag = step(
        &app,
        &case,
        "approve-final-verification",
        &region_it,
        &etag,
        json!({"reason": "Demand resolved; the recommendation noted."}),
        200,
    )
    .await
    .etag();
    etag = step(
        &app,
        &case,
        "sign-final-contract",
        &officer,
        &etag,
        json!({"signed_on": today()}),
        200,
    )
    .await
    .etag();
    let live = step(
        &app,
        &case,
        "go-live",
        &officer,
        &etag,
        json!({"reason": "Every condition is met."}),
        200,
    )
    .await;
    assert_eq!(live.json()["events"][0]["type"], "WentLive");
    let version = live.json()["version"].as_u64().unwrap();
    assert_eq!(live.etag(), format!("\"{version}\""));

    let view = app.get(&format!("/v1/cases/{case}"), &officer).await;
    assert_eq!(view.status, 200);
    assert_eq!(view.etag(), format!("\"{version}\""));
    let body = view.json();
    assert_eq!(body["phase"], "live");
    assert_eq!(body["went_live_on"], today());
    assert_eq!(body["blockers"], json!([]));
    assert_eq!(body["agreements"].as_array().unwrap().len(), 3);
    assert_eq!(body["version"], version);
    // The view holds no personal data.
    for secret in ["Per Olsson", "9876", "Karin", "karin.lindqvist"] {
        assert!(!view.text.contains(secret), "{secret} in the case view");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smoke_run_on_sqlite_submits_reads_and_acts_on_a_case() {
    let app = spawn_app_sqlite().await;
    let case = app.submit_jamtland().await;
    let officer = app.officer();
    let view = app.get(&format!("/v1/cases/{case}"), &officer).await;
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(view.json()["phase"], "application");
    assert_eq!(
        view.json()["blockers"][0]["condition"],
        "contract_not_signed"
    );
    let approved = step(
        &app,
        &case,
        "approve-application",
        &officer,
        &view.etag(),
        json!({"reason": "Complete."}),
        200,
    )
    .await;
    assert_eq!(approved.etag(), "\"2\"");
    let stale = step(
        &app,
        &case,
        "sign-contract",
        &officer,
        "\"1\"",
        json!({"signed_on": today()}),
        412,
    )
    .await;
    stale.assert_problem(412, "precondition_failed");
    step(
        &app,
        &case,
        "sign-contract",
        &officer,
        &approved.etag(),
        json!({"signed_on": today()}),
        200,
    )
    .await;
    let incident = app
        .post(
            &format!("/v1/cases/{case}/incidents"),
            &app.provider(),
            &json!({"summary": "Lost laptop", "description": "A laptop was left on a train.", "detected_at": chrono::Utc::now().to_rfc3339(), "region_it_may_be_affected": false, "severity": "low"}),
            None,
            None,
        )
        .await;
    assert_eq!(incident.status, 201, "{}", incident.text);
    let location = incident.header("location").unwrap();
    let read = app.get(&location, &officer).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.json()["status"], "reported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_loads_through_the_pipeline_once_and_its_cases_can_be_read() {
    let app = spawn_app_sqlite().await;
    api::demo::load(&app.state).await.expect("the demo loads");
    let head = app.head().await;
    assert!(head > 50, "{head} events");
    api::demo::load(&app.state)
        .await
        .expect("a second load is a no-op");
    assert_eq!(app.head().await, head);
    // Every event was recorded with an actor and a request fingerprint, like an HTTP command.
    let events = app
        .state
        .store
        .read_all(store::Position::START, 1000)
        .await
        .unwrap();
    assert!(events.iter().all(|e| {
        e.metadata.actor.is_some() && e.metadata.extra.contains_key(api::FINGERPRINT_KEY)
    }));
    let phases: std::collections::BTreeSet<String> =
        events.iter().map(|e| e.event_type.clone()).collect();
    for expected in [
        "WentLive",
        "ConnectionSuspended",
        "ConnectionEnded",
        "SelfDeclarationReturned",
        "FindingRecorded",
        "ApplicationApproved",
    ] {
        assert!(phases.contains(expected), "{expected}");
    }
    let incidents: Vec<_> = events
        .iter()
        .filter(|e| e.stream.stream_type == "security_incident")
        .collect();
    assert_eq!(incidents.len(), 2);
    let incident = &incidents[0].stream.stream_id;
    let read = app
        .get(
            &format!("/v1/incidents/{incident}"),
            &app.token("auditor", "varmland", None),
        )
        .await;
    assert_eq!(read.json()["status"], "assessed", "{}", read.text);
}
