//! The read models over HTTP, with data made through the command routes: what each endpoint
//! serves, tenancy, cursor paging, CSV, `min_position` and refused query values.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use store::{AppendRequest, EventMetadata, ExpectedVersion, NewEvent, StreamRef};

use crate::helpers::{
    Answer, JAMTLAND, ORG, OTHER_ORG, TestApp, days_from_today, jamtland_application, spawn_app,
    spawn_with, today,
};

const DALARNA: &str = "dalarna";
const DALARNA_ORG: &str = "556712-3400";

/// Every list endpoint of the read models.
const LISTS: [&str; 8] = [
    "/v1/cases",
    "/v1/pipeline",
    "/v1/findings",
    "/v1/incidents",
    "/v1/incidents/summary",
    "/v1/compliance",
    "/v1/staff-commitments",
    "/v1/costs",
];

/// A case in final verification, made through the command routes.
struct Built {
    case: String,
    /// The position of the last command's last event.
    position: u64,
}

fn position(answer: &Answer) -> u64 {
    answer.json()["position"].as_u64().expect("a position")
}

/// `path` with `min_position` added to its query.
fn at(path: &str, position: u64) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}min_position={position}")
}

async fn submit(app: &TestApp, token: &str, body: &Value) -> (String, u64) {
    let answer = app.post("/v1/cases", token, body, None, None).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    (
        answer.json()["case_id"].as_str().unwrap().to_owned(),
        position(&answer),
    )
}

fn dalarna_application() -> Value {
    json!({
        "programme": "dalarna-halsoval",
        "unit_name": "Vårdcentralen Falun Norr",
        "org_number": DALARNA_ORG,
        "service_packages": [],
        "workstations": 6,
        "contacts": [{"role": "head_of_unit", "name": "Sara Holm", "email": "sara.holm@falunnorr.se"}],
        "requested_go_live": days_from_today(120),
    })
}

fn staff(hsa_id: &str, name: &str, personnummer: &str, kind: &str) -> Value {
    json!({"hsa_id": hsa_id, "name": name, "personnummer": personnummer, "kind": kind, "signed_on": today()})
}

/// A Jämtland Hälsoval case of `ORG` taken to final verification over HTTP: agreements,
/// an accepted self-declaration, two staff members (one with both commitments), training,
/// a demand on JHV-030 and a recommendation, and an incident assessed as high.
async fn verification_case(app: &TestApp) -> Built {
    let provider = app.provider();
    let officer = app.officer();
    let region_it = app.token("region_it", JAMTLAND, None);
    let (case, _) = submit(app, &provider, &jamtland_application()).await;
    app.command(
        &case,
        "approve-application",
        &officer,
        json!({"reason": "Complete."}),
    )
    .await;
    app.command(
        &case,
        "sign-contract",
        &officer,
        json!({"signed_on": today(), "document": "RS 2026/114"}),
    )
    .await;
    for agreement in ["JHV-008", "JHV-014", "JHV-026"] {
        app.command(
            &case,
            "sign-agreement",
            &officer,
            json!({"agreement": agreement, "signed_on": today(), "counterparty": "Inera AB"}),
        )
        .await;
    }
    let catalogue = app
        .get("/v1/catalogues/jamtland-halsoval/versions/1", &provider)
        .await;
    let answers: Vec<Value> = catalogue.json()["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!({"requirement": r["id"], "compliance": "complies", "evidence": ["Policy 2026"]}))
        .collect();
    app.command(
        &case,
        "submit-self-declaration",
        &provider,
        json!({"answers": answers}),
    )
    .await;
    app.command(
        &case,
        "accept-self-declaration",
        &officer,
        json!({"reason": "In order."}),
    )
    .await;
    for body in [
        staff(
            "SE5566778899-K7Q2",
            "Per Olsson",
            "19811218-9876",
            "responsibility_commitment",
        ),
        staff(
            "SE5566778899-K7Q2",
            "Per Olsson",
            "19811218-9876",
            "confidentiality_reminder",
        ),
        staff(
            "SE5566778899-A1B2",
            "Anna Berg",
            "19900315-1231",
            "responsibility_commitment",
        ),
    ] {
        app.command(&case, "record-staff-commitment", &provider, body)
            .await;
    }
    app.command(
        &case,
        "complete-training",
        &region_it,
        json!({"completed_on": today(), "description": "Introductory training, 9 staff."}),
    )
    .await;
    app.command(
        &case,
        "schedule-final-verification",
        &region_it,
        json!({"scheduled_for": today()}),
    )
    .await;
    app.command(&case, "record-finding", &region_it, json!({"kind": "demand", "requirement": "JHV-030", "description": "The network cabinet is not locked.", "due": days_from_today(14)})).await;
    app.command(
        &case,
        "record-finding",
        &region_it,
        json!({"kind": "recommendation", "description": "Privacy filters at reception."}),
    )
    .await;
    let reported = app
        .post(
            &format!("/v1/cases/{case}/incidents"),
            &provider,
            &json!({
                "summary": "Phishing e-mail opened on a reception workstation",
                "description": "A receptionist opened an attachment.",
                "detected_at": "2026-05-04T08:30:00Z",
                "region_it_may_be_affected": true,
                "severity": "medium"
            }),
            None,
            None,
        )
        .await;
    assert_eq!(reported.status, 201, "{}", reported.text);
    let incident = reported.json()["incident_id"].as_str().unwrap().to_owned();
    let assessed = app
        .post(
            &format!("/v1/incidents/{incident}/assess"),
            &region_it,
            &json!({"assessment": "Contained.", "region_it_affected": false, "severity": "high"}),
            Some("*"),
            None,
        )
        .await;
    assert_eq!(assessed.status, 200, "{}", assessed.text);
    Built {
        case,
        position: position(&assessed),
    }
}

/// A GET that must answer 200.
async fn ok(app: &TestApp, path: &str, token: &str) -> Value {
    let answer = app.get(path, token).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    answer.json()
}

fn items(body: &Value) -> &Vec<Value> {
    body["items"].as_array().expect("items")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_model_serves_what_the_commands_recorded() {
    let app = spawn_app().await;
    let built = verification_case(&app).await;
    let (case, p) = (built.case.as_str(), built.position);
    let officer = app.officer();

    let overview = ok(
        &app,
        &at(&format!("/v1/cases/{case}/overview"), p),
        &officer,
    )
    .await;
    assert_eq!(overview["phase"], "final_verification");
    assert_eq!(overview["provider_org"], ORG);
    let phases: Vec<&str> = overview["phase_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "application",
            "approved",
            "establishment",
            "final_verification"
        ]
    );
    let milestones = &overview["milestones"];
    assert_eq!(milestones["contract_signed_on"], today());
    assert_eq!(milestones["training_completed_on"], today());
    assert_eq!(milestones["agreements"].as_array().unwrap().len(), 3);
    assert!(milestones["approved_at"].is_string());
    assert!(milestones["declaration_accepted_at"].is_string());
    assert_eq!(milestones["verification_rounds"][0]["outcome"], "pending");
    assert_eq!(overview["catalogue_held"]["version"], 1);
    assert_eq!(overview["cost_basis"]["workstations"], 12);
    let blockers: Vec<&str> = overview["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["condition"].as_str().unwrap())
        .collect();
    assert!(blockers.contains(&"demand_open"), "{blockers:?}");
    assert!(!blockers.contains(&"self_declaration_not_accepted"));

    let cases = ok(&app, &at("/v1/cases", p), &officer).await;
    assert_eq!(items(&cases).len(), 1);
    assert_eq!(items(&cases)[0]["case_id"], case);
    assert_eq!(items(&cases)[0]["lead_time"]["days"], 0, "applied today");
    assert!(cases["next_cursor"].is_null());
    let filtered = ok(&app, "/v1/cases?phase=live", &officer).await;
    assert!(items(&filtered).is_empty());
    let filtered = ok(
        &app,
        "/v1/cases?phase=final_verification&programme=jamtland-halsoval",
        &officer,
    )
    .await;
    assert_eq!(items(&filtered).len(), 1);

    let pipeline = ok(&app, &at("/v1/pipeline", p), &officer).await;
    let row = |phase: &str| {
        items(&pipeline)
            .iter()
            .find(|r| r["phase"] == phase)
            .cloned()
            .unwrap()
    };
    assert_eq!(row("final_verification")["cases"], 1);
    assert_eq!(row("application")["cases"], 0);
    assert_eq!(row("application")["completed_stays"], 1);
    assert!(row("live")["median_days"].is_null());

    let findings = ok(
        &app,
        &at(&format!("/v1/findings?case_id={case}"), p),
        &officer,
    )
    .await;
    assert_eq!(items(&findings).len(), 2);
    assert_eq!(items(&findings)[0]["kind"], "demand");
    assert_eq!(items(&findings)[0]["requirement"], "JHV-030");
    assert_eq!(items(&findings)[0]["open"], true);
    assert_eq!(items(&findings)[0]["overdue"], false);
    let demands = ok(&app, "/v1/findings?kind=demand&open=true", &officer).await;
    assert_eq!(items(&demands).len(), 1);
    let resolved = ok(&app, "/v1/findings?open=false", &officer).await;
    assert!(items(&resolved).is_empty());

    let incidents = ok(
        &app,
        &at(&format!("/v1/incidents?case_id={case}"), p),
        &officer,
    )
    .await;
    assert_eq!(items(&incidents).len(), 1);
    let incident = &items(&incidents)[0];
    assert_eq!(incident["severity"], "high");
    assert_eq!(incident["reported_severity"], "medium");
    assert_eq!(incident["status"], "assessed");
    assert!(incident["seconds_to_assessment"].as_i64().unwrap() >= 0);
    let high = ok(&app, "/v1/incidents?severity=high&open=true", &officer).await;
    assert_eq!(items(&high).len(), 1);
    let summary = ok(&app, &at("/v1/incidents/summary", p), &officer).await;
    let severities: Vec<&str> = items(&summary)
        .iter()
        .map(|s| s["severity"].as_str().unwrap())
        .collect();
    assert_eq!(severities, ["low", "medium", "high", "critical"]);
    assert_eq!(items(&summary)[2]["open"], 1);
    assert_eq!(items(&summary)[2]["assessed"], 1);

    let matrix = ok(
        &app,
        &at(&format!("/v1/compliance?case_id={case}&limit=500"), p),
        &officer,
    )
    .await;
    assert_eq!(items(&matrix).len(), 63, "one cell per requirement");
    assert!(
        items(&matrix)
            .iter()
            .all(|c| c["compliance"] == "complies" && c["declaration"] == "accepted")
    );
    let cell = ok(&app, "/v1/compliance?requirement=JHV-030", &officer).await;
    assert_eq!(items(&cell).len(), 1);
    assert_eq!(items(&cell)[0]["open_findings"], json!([1]));
    assert_eq!(items(&cell)[0]["verified"], false);
    assert_eq!(items(&cell)[0]["evidence_refs"], json!(["Policy 2026"]));

    let staff = app
        .get(&at("/v1/staff-commitments", p), &app.provider())
        .await;
    assert_eq!(staff.status, 200, "{}", staff.text);
    let people = items(&staff.json()).clone();
    assert_eq!(people.len(), 2);
    let anna = people
        .iter()
        .find(|s| s["person"]["hsa_id"] == "SE5566778899-A1B2")
        .unwrap();
    assert_eq!(anna["person"]["name"], "Anna Berg");
    assert_eq!(anna["missing"], json!(["confidentiality_reminder"]));
    assert_eq!(anna["complete"], false);
    for secret in ["19811218", "19900315", "9876", "1231"] {
        assert!(!staff.text.contains(secret), "a personnummer leaked");
    }
    let missing = ok(&app, "/v1/staff-commitments?missing=true", &officer).await;
    assert_eq!(items(&missing).len(), 1);
    let dashboard = ok(
        &app,
        "/v1/staff-commitments",
        &app.token("dashboard", JAMTLAND, None),
    )
    .await;
    assert!(
        items(&dashboard)
            .iter()
            .all(|s| s["person"]["name"].is_null()
                && s["person"]["hsa_id"].is_null()
                && s["person"]["subject"].is_string()),
        "dashboards get no names and no HSA-ids"
    );

    // 12 workstations are two groups at 1,200 SEK a month; 4,200 listed patients at 2.53 SEK
    // a year, 2.85 from 2025-05-01.
    let before = ok(
        &app,
        &at(&format!("/v1/costs?case_id={case}&on=2025-04-30"), p),
        &officer,
    )
    .await;
    assert_eq!(items(&before)[0]["yearly_ore"], 2_880_000 + 1_062_600);
    let after = ok(
        &app,
        &format!("/v1/costs?case_id={case}&on=2025-05-01"),
        &officer,
    )
    .await;
    assert_eq!(items(&after)[0]["yearly_ore"], 2_880_000 + 1_197_000);
    assert_eq!(items(&after)[0]["monthly_ore"], 240_000 + 99_750);
    assert_eq!(items(&after)[0]["lines"].as_array().unwrap().len(), 2);
}

/// The case ids a list shows.
fn by_case(body: &Value) -> BTreeSet<String> {
    items(body)
        .iter()
        .map(|i| i["case_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_model_shows_a_region_its_cases_and_a_provider_only_its_own() {
    let app = spawn_app().await;
    let own = verification_case(&app).await;
    let other_provider = app.token("provider", JAMTLAND, Some(OTHER_ORG));
    let mut application = jamtland_application();
    application["org_number"] = json!(OTHER_ORG);
    application["unit_name"] = json!("Brunflo Vårdcentral");
    let (other, _) = submit(&app, &other_provider, &application).await;
    let officer = app.officer();
    app.command(
        &other,
        "approve-application",
        &officer,
        json!({"reason": "Complete."}),
    )
    .await;
    app.command(
        &other,
        "sign-contract",
        &officer,
        json!({"signed_on": today()}),
    )
    .await;
    let last = app
        .command(
            &other,
            "record-staff-commitment",
            &other_provider,
            staff(
                "SE5591234561-X9Y8",
                "Lena Ek",
                "19900315-1231",
                "confidentiality_reminder",
            ),
        )
        .await;
    let dalarna_provider = app.token("provider", DALARNA, Some(DALARNA_ORG));
    let (dalarna, dalarna_position) = submit(&app, &dalarna_provider, &dalarna_application()).await;
    let head = position(&last).max(own.position).max(dalarna_position);

    let jamtland = BTreeSet::from([own.case.clone(), other.clone()]);
    let dalarna_officer = app.token("officer", DALARNA, None);
    for path in [
        "/v1/cases",
        "/v1/compliance",
        "/v1/staff-commitments",
        "/v1/costs",
    ] {
        let path = at(&format!("{path}?limit=500"), head);
        let all = ok(&app, &path, &officer).await;
        assert_eq!(by_case(&all), jamtland, "{path} as the region's officer");
        let mine = ok(&app, &path, &app.provider()).await;
        assert_eq!(
            by_case(&mine),
            BTreeSet::from([own.case.clone()]),
            "{path} as the provider"
        );
        let theirs = ok(&app, &path, &other_provider).await;
        assert_eq!(
            by_case(&theirs),
            BTreeSet::from([other.clone()]),
            "{path} as the other provider"
        );
        let foreign = ok(&app, &path, &dalarna_officer).await;
        assert!(
            by_case(&foreign).is_subset(&BTreeSet::from([dalarna.clone()])),
            "{path} as another region's officer"
        );
    }
    // Findings and incidents exist only on the own case.
    for path in ["/v1/findings", "/v1/incidents"] {
        let path = at(path, head);
        assert!(!items(&ok(&app, &path, &officer).await).is_empty());
        assert!(!items(&ok(&app, &path, &app.provider()).await).is_empty());
        assert!(items(&ok(&app, &path, &other_provider).await).is_empty());
        assert!(items(&ok(&app, &path, &dalarna_officer).await).is_empty());
    }
    // Dalarna Hälsoval states a minimum lead time of three months.
    let dalarna_cases = ok(&app, "/v1/cases", &dalarna_officer).await;
    let lead_time = &items(&dalarna_cases)[0]["lead_time"];
    assert_eq!(lead_time["target_months"], 3);
    assert_eq!(lead_time["kind"], "minimum");
    assert_eq!(lead_time["days"], 0);
    assert_eq!(lead_time["beyond_target"], false);
    assert!(lead_time["target_days"].as_i64().unwrap() >= 89);
    let summary = ok(&app, "/v1/incidents/summary", &other_provider).await;
    assert!(
        items(&summary)
            .iter()
            .all(|s| s["open"] == 0 && s["closed"] == 0)
    );
    // The pipeline counts only what the caller may see.
    let count = |body: &Value| -> u64 {
        items(body)
            .iter()
            .map(|r| r["cases"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(count(&ok(&app, "/v1/pipeline", &officer).await), 2);
    assert_eq!(count(&ok(&app, "/v1/pipeline", &other_provider).await), 1);
    assert_eq!(count(&ok(&app, "/v1/pipeline", &dalarna_officer).await), 1);

    // Another tenant's case answers 404 exactly like a missing one.
    let missing = app
        .get(
            &format!("/v1/cases/{}/overview", uuid::Uuid::now_v7()),
            &officer,
        )
        .await;
    missing.assert_problem(404, "not_found");
    for token in [&other_provider, &dalarna_officer] {
        let hidden = app
            .get(&format!("/v1/cases/{}/overview", own.case), token)
            .await;
        assert_eq!(hidden.status, 404);
        assert_eq!(hidden.text, missing.text);
    }
    // A region filter other than the caller's own shows nothing; its own shows everything.
    let elsewhere = ok(&app, "/v1/cases?region=dalarna", &officer).await;
    assert!(items(&elsewhere).is_empty());
    let here = ok(&app, "/v1/cases?region=jamtland-harjedalen", &officer).await;
    assert_eq!(items(&here).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_visit_every_case_once_in_json_and_in_csv() {
    let app = spawn_app().await;
    let provider = app.provider();
    let mut made = BTreeSet::new();
    let mut head = 0;
    for _ in 0..7 {
        let (case, position) = submit(&app, &provider, &jamtland_application()).await;
        made.insert(case);
        head = head.max(position);
    }
    let officer = app.officer();

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut path = at("/v1/cases?limit=3", head);
    loop {
        let answer = app.get(&path, &officer).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let body = answer.json();
        sizes.push(items(&body).len());
        seen.extend(
            items(&body)
                .iter()
                .map(|c| c["case_id"].as_str().unwrap().to_owned()),
        );
        let Some(cursor) = body["next_cursor"].as_str() else {
            assert!(answer.header("link").is_none());
            break;
        };
        let link = answer.header("link").expect("a Link to the next page");
        assert!(link.contains(&format!("cursor={cursor}")), "{link}");
        assert!(link.contains("limit=3") && link.ends_with("rel=\"next\""));
        path = link
            .trim_start_matches('<')
            .split_once('>')
            .unwrap()
            .0
            .to_owned();
    }
    assert_eq!(sizes, [3, 3, 1]);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "pages come in case id order");
    assert_eq!(
        seen.iter().cloned().collect::<BTreeSet<_>>(),
        made,
        "every case once"
    );
    assert_eq!(seen.len(), made.len(), "no case twice");

    // The CSV pages the same way, through Link.
    let mut csv_seen = Vec::new();
    let mut path = "/v1/cases?limit=2".to_owned();
    loop {
        let answer = app
            .send(
                app.client
                    .get(format!("{}{path}", app.address))
                    .bearer_auth(&officer)
                    .header("Accept", "text/csv"),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let mut reader = csv::Reader::from_reader(answer.text.as_bytes());
        for record in reader.records() {
            csv_seen.push(record.unwrap()[0].to_owned());
        }
        match answer.header("link") {
            Some(link) => {
                path = link
                    .trim_start_matches('<')
                    .split_once('>')
                    .unwrap()
                    .0
                    .to_owned();
            }
            None => break,
        }
    }
    assert_eq!(csv_seen, seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_exports_have_a_header_line_and_parse_back_without_personal_data() {
    let app = spawn_app().await;
    let built = verification_case(&app).await;
    let officer = app.officer();
    let csv_get = |path: String| {
        let request = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth(&officer)
            .header("Accept", "text/csv");
        app.send(request)
    };
    let parse = |answer: &Answer| -> (Vec<String>, Vec<Vec<String>>) {
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(
            answer.header("content-type").as_deref(),
            Some("text/csv; charset=utf-8")
        );
        assert!(answer.text.ends_with("\r\n"));
        let mut reader = csv::Reader::from_reader(answer.text.as_bytes());
        let headers = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        (headers, rows)
    };

    let cases = csv_get(at("/v1/cases", built.position)).await;
    let (headers, rows) = parse(&cases);
    assert_eq!(
        headers[..6],
        [
            "case_id",
            "region",
            "provider_org",
            "programme",
            "unit_name",
            "phase"
        ]
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], built.case);
    assert_eq!(rows[0][4], "Östersundshälsan Vårdcentral");
    assert_eq!(rows[0][5], "final_verification");
    let blockers = &rows[0][headers.iter().position(|h| h == "blockers").unwrap()];
    assert!(blockers.contains("demand_open:1"), "{blockers}");

    let staff = csv_get(at("/v1/staff-commitments", built.position)).await;
    let (headers, rows) = parse(&staff);
    assert_eq!(
        headers,
        [
            "case_id",
            "person_subject",
            "name",
            "hsa_id",
            "responsibility_commitment_signed_on",
            "confidentiality_reminder_signed_on",
            "missing"
        ]
    );
    assert_eq!(rows.len(), 2);
    for secret in [
        "Per Olsson",
        "Anna Berg",
        "19811218",
        "19900315",
        "SE5566778899",
    ] {
        assert!(!staff.text.contains(secret), "the CSV holds personal data");
    }
    let json = ok(&app, "/v1/staff-commitments", &officer).await;
    let subjects: BTreeSet<String> = items(&json)
        .iter()
        .map(|s| s["person"]["subject"].as_str().unwrap().to_owned())
        .collect();
    let csv_subjects: BTreeSet<String> = rows.iter().map(|r| r[1].clone()).collect();
    assert_eq!(csv_subjects, subjects);

    let costs = csv_get(format!("/v1/costs?case_id={}&on=2025-05-01", built.case)).await;
    let (headers, rows) = parse(&costs);
    let yearly = headers.iter().position(|h| h == "yearly_sek").unwrap();
    assert_eq!(rows[0][yearly], "40770.00");

    for path in [
        "/v1/pipeline",
        "/v1/findings",
        "/v1/incidents",
        "/v1/incidents/summary",
        "/v1/compliance",
    ] {
        let (headers, rows) = parse(&csv_get(path.to_owned()).await);
        assert!(!headers.is_empty() && !rows.is_empty(), "{path}");
        assert!(rows.iter().all(|r| r.len() == headers.len()), "{path}");
    }
    let one = csv_get(format!("/v1/cases/{}/overview", built.case)).await;
    let (_, rows) = parse(&one);
    assert_eq!(rows.len(), 1);

    // JSON stays the default, and is chosen when it ranks first.
    let json = app
        .send(
            app.client
                .get(format!("{}/v1/cases", app.address))
                .bearer_auth(&officer)
                .header("Accept", "application/json, text/csv;q=0.5"),
        )
        .await;
    assert_eq!(
        json.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(json.header("vary").as_deref(), Some("Accept"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_position_reads_a_commands_effect_refuses_the_past_end_and_times_out_in_time() {
    let app = spawn_with(store::testing::TestDatabase::postgres().await, |settings| {
        settings.projections.wait_milliseconds = 1000;
    })
    .await;
    let officer = app.officer();
    // Each command's effect is visible to the read that names its position, at once.
    let (case, submitted) = submit(&app, &app.provider(), &jamtland_application()).await;
    let overview = ok(
        &app,
        &at(&format!("/v1/cases/{case}/overview"), submitted),
        &officer,
    )
    .await;
    assert_eq!(overview["phase"], "application");
    let approved = app
        .command(
            &case,
            "approve-application",
            &officer,
            json!({"reason": "Complete."}),
        )
        .await;
    let overview = ok(
        &app,
        &at(&format!("/v1/cases/{case}/overview"), position(&approved)),
        &officer,
    )
    .await;
    assert_eq!(overview["phase"], "approved");
    let pipeline = ok(&app, &at("/v1/pipeline", position(&approved)), &officer).await;
    assert!(
        items(&pipeline)
            .iter()
            .any(|r| r["phase"] == "approved" && r["cases"] == 1)
    );

    // A position past the end of the log was never answered to a write: 422 at once.
    let head = app.state.store.head().await.unwrap().get();
    let past = app
        .get(&at("/v1/findings", head + 1_000_000), &officer)
        .await;
    past.assert_problem(422, "beyond_the_log");
    assert_eq!(past.json()["head"], head);

    // A position in the log the read models never reach (an event they cannot apply, as only
    // someone past the API could write it, stops them): 503 once the bound has passed, with
    // Retry-After.
    let never = app
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
        .last_position
        .get();
    for path in [
        format!("/v1/cases/{case}/overview"),
        "/v1/findings".to_owned(),
    ] {
        let started = Instant::now();
        let lagging = app.get(&at(&path, never), &officer).await;
        let took = started.elapsed();
        lagging.assert_problem(503, "projection_lagging");
        assert!(lagging.header("retry-after").is_some());
        assert_eq!(lagging.json()["min_position"], never);
        assert!(lagging.json()["checkpoint"].as_u64().unwrap() >= position(&approved));
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(4),
            "answered after {took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_values_the_read_models_cannot_use_are_400() {
    let app = spawn_app().await;
    let officer = app.officer();
    for path in [
        "/v1/cases?phase=bogus",
        "/v1/cases?programme=Not%20a%20programme",
        "/v1/cases?region=%3F%3F",
        "/v1/cases?limit=0",
        "/v1/cases?limit=501",
        "/v1/cases?cursor=zz",
        "/v1/cases?min_position=-1",
        "/v1/cases?colour=blue",
        "/v1/findings?kind=suggestion",
        "/v1/findings?case_id=not-a-uuid",
        "/v1/incidents?severity=extreme",
        "/v1/incidents?open=maybe",
        "/v1/compliance?requirement=",
        "/v1/costs?on=2025-13-01",
        "/v1/pipeline?programme=UPPER",
        "/v1/staff-commitments?missing=2",
    ] {
        let answer = app.get(path, &officer).await;
        answer.assert_problem(400, "invalid_query");
    }
    for path in LISTS {
        let answer = app.get(path, &officer).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        let unauthenticated = app
            .send(app.client.get(format!("{}{path}", app.address)))
            .await;
        unauthenticated.assert_problem(401, "unauthenticated");
    }
}
