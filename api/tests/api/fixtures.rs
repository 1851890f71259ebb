//! Histories for the history, audit and feed tests: cases in other regions and
//! organisations, cases with many events, and raw SQL as someone with database access.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use sqlx::{Connection, Executor};

use crate::helpers::{JAMTLAND, OTHER_ORG, TestApp, days_from_today, jamtland_application, today};

pub const DALARNA: &str = "dalarna";
pub const DALARNA_ORG: &str = "556712-3400";

/// A complete application to Region Dalarna's Hälsoval.
pub fn dalarna_application() -> Value {
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

/// Submits an application as the given provider; the case id.
pub async fn submit_as(app: &TestApp, provider: &str, body: &Value) -> String {
    let answer = app.post("/v1/cases", provider, body, None, None).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.json()["case_id"].as_str().unwrap().to_owned()
}

/// A Jämtland case of the other provider organisation.
pub async fn submit_other_org(app: &TestApp) -> String {
    let mut body = jamtland_application();
    body["org_number"] = json!(OTHER_ORG);
    body["unit_name"] = json!("Brunflo Vårdcentral");
    let provider = app.token("provider", JAMTLAND, Some(OTHER_ORG));
    submit_as(app, &provider, &body).await
}

/// A Dalarna case.
pub async fn submit_dalarna(app: &TestApp) -> String {
    let provider = app.token("provider", DALARNA, Some(DALARNA_ORG));
    submit_as(app, &provider, &dalarna_application()).await
}

/// The `n`th of a family of valid personnummer, `YYYYMMDD-NNNN` (born in the 1970s and
/// 1980s, with a correct Luhn check digit): a case records one commitment of a kind per
/// person, so fixtures that record many name many people.
pub fn personnummer(n: usize) -> String {
    let year = 70 + n % 20;
    let month = 1 + (n / 20) % 12;
    let day = 1 + (n / 240) % 28;
    let serial = 100 + (n * 37) % 900;
    let nine = format!("{year:02}{month:02}{day:02}{serial:03}");
    let sum: u32 = nine
        .bytes()
        .enumerate()
        .map(|(i, digit)| {
            let product = u32::from(digit - b'0') * if i % 2 == 0 { 2 } else { 1 };
            product / 10 + product % 10
        })
        .sum();
    let check = (10 - sum % 10) % 10;
    format!("19{}-{}{check}", &nine[..6], &nine[6..])
}

/// Numbers the staff members of [`staff_commitments`], so that every call names new ones.
static STAFF: AtomicUsize = AtomicUsize::new(0);

/// Records `n` staff commitments on a case in establishment (one event each); the global
/// position of each.
pub async fn staff_commitments(app: &TestApp, case_id: &str, n: usize) -> Vec<u64> {
    let officer = app.officer();
    let mut positions = Vec::with_capacity(n);
    for _ in 0..n {
        let i = STAFF.fetch_add(1, Ordering::Relaxed);
        let answer = app
            .command(
                case_id,
                "record-staff-commitment",
                &officer,
                json!({
                    "hsa_id": format!("SE5566778899-T{i:05}"),
                    "name": format!("Staff Member {i}"),
                    "personnummer": personnummer(i),
                    "kind": "responsibility_commitment",
                    "signed_on": today(),
                }),
            )
            .await;
        positions.push(answer.json()["position"].as_u64().unwrap());
    }
    positions
}

/// Reports an incident on a case in establishment as the officer; the incident id.
pub async fn report_incident(app: &TestApp, case_id: &str) -> String {
    let answer = app
        .post(
            &format!("/v1/cases/{case_id}/incidents"),
            &app.officer(),
            &json!({
                "summary": "Phishing e-mail opened on a reception workstation",
                "description": "The workstation was disconnected within 10 minutes.",
                "detected_at": chrono::Utc::now().to_rfc3339(),
                "region_it_may_be_affected": true,
                "severity": "medium"
            }),
            None,
            None,
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.json()["incident_id"].as_str().unwrap().to_owned()
}

/// Runs SQL on the application's PostgreSQL database, past the store, as its owner could.
pub async fn execute(app: &TestApp, sql: &str) {
    let url = app
        .settings
        .database_url
        .as_ref()
        .expect("a database URL")
        .expose()
        .clone();
    let mut connection = sqlx::PgConnection::connect(&url)
        .await
        .expect("connecting past the store");
    connection
        .execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    connection.close().await.expect("closing the connection");
}

/// Runs SQL on the application's database (PostgreSQL or SQLite), past the store.
pub async fn execute_any(app: &TestApp, sql: &str) {
    let url = app
        .settings
        .database_url
        .as_ref()
        .expect("a database URL")
        .expose()
        .clone();
    if url.starts_with("postgres") {
        execute(app, sql).await;
        return;
    }
    let mut connection = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("connecting past the store");
    connection
        .execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    connection.close().await.expect("closing the connection");
}
