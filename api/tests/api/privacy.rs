//! Crypto-shredding end to end: personal data written through the API is sealed in the log,
//! plaintext exists only in the read models (which answer queries) until the subject is
//! forgotten, and after `forget` it is found nowhere in the database, while the log still
//! verifies and other subjects' data is untouched.

use std::time::Duration;

use projections::ProjectionName;
use serde_json::{Value, json};
use sqlx::{Column as _, Connection as _, Row as _};
use store::Position;
use store::testing::TestDatabase;

use crate::helpers::{JAMTLAND, TestApp, logs, spawn_with, today};

const STAFF_NAME: &str = "Ingrid Sjöberg";
const STAFF_PNR: &str = "19811218-9876";
const STAFF_PNR_CANONICAL: &str = "198112189876";
const OTHER_STAFF: &str = "Per Olsson";
const CONTACT_NAME: &str = "Karin Lindqvist";
const CONTACT_EMAIL: &str = "karin.lindqvist@ostersundshalsan.se";
const CONTACT_PHONE: &str = "+46 63 14 20 00";
const OTHER_CONTACT: &str = "Jonas Ek";
/// The staff member's HSA-id: personal data, sealed like the name.
const STAFF_HSA: &str = "SE5566778899-P0001";

/// Every row of every table, as text, by table.
async fn dump(app: &TestApp) -> Vec<(String, String)> {
    let url = app.settings.database_url.as_ref().unwrap().expose().clone();
    let mut rows = Vec::new();
    if url.starts_with("postgres") {
        let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&mut db)
        .await
        .unwrap();
        for (table,) in tables {
            let sql = format!("SELECT t::text FROM \"{table}\" t");
            let texts: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut db)
                .await
                .unwrap();
            rows.extend(texts.into_iter().map(|(text,)| (table.clone(), text)));
        }
    } else {
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let tables: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&mut db)
                .await
                .unwrap();
        for (table,) in tables {
            let sql = format!("SELECT * FROM \"{table}\"");
            for row in sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut db)
                .await
                .unwrap()
            {
                let mut text = String::new();
                for column in row.columns() {
                    let i = column.ordinal();
                    if let Ok(Some(s)) = row.try_get::<Option<String>, _>(i) {
                        text.push_str(&s);
                    } else if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                        text.push_str(&String::from_utf8_lossy(&bytes));
                    }
                    text.push('|');
                }
                rows.push((table.clone(), text));
            }
        }
    }
    assert!(rows.len() > 20, "the dump found the tables: {}", rows.len());
    rows
}

/// The tables where `needle` occurs.
fn found_in(rows: &[(String, String)], needle: &str) -> Vec<String> {
    let mut tables: Vec<String> = rows
        .iter()
        .filter(|(_, text)| text.contains(needle))
        .map(|(table, _)| table.clone())
        .collect();
    tables.dedup();
    tables
}

/// Read-model tables (`<projection>_g<N>`, `<projection>_state_g<N>`): they answer queries,
/// so they hold personal data in clear until the subject is forgotten.
fn is_read_model(table: &str) -> bool {
    table
        .rsplit_once("_g")
        .is_some_and(|(_, n)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

async fn caught_up(app: &TestApp) {
    let head = Position(app.head().await);
    app.state
        .projections
        .wait_for(&ProjectionName::ALL, head, Duration::from_secs(20))
        .await
        .unwrap();
}

/// The subject id of the personal value whose `name` is `name`, from the log.
async fn subject_named(app: &TestApp, name: &str) -> String {
    fn find(value: &Value, name: &str) -> Option<String> {
        match value {
            Value::Object(map) => {
                if let Some(pii) = map.get("pii")
                    && pii["value"]["name"] == name
                {
                    return pii["subject"].as_str().map(str::to_owned);
                }
                map.values().find_map(|v| find(v, name))
            }
            Value::Array(items) => items.iter().find_map(|v| find(v, name)),
            _ => None,
        }
    }
    let events = app
        .state
        .store
        .read_all(Position::START, 1000)
        .await
        .unwrap();
    events
        .iter()
        .find_map(|e| find(&e.payload, name))
        .unwrap_or_else(|| panic!("no personal value named {name}"))
}

async fn staff(app: &TestApp, case_id: &str, hsa: &str, name: &str, pnr: &str) {
    app.command(
        case_id,
        "record-staff-commitment",
        &app.officer(),
        json!({"hsa_id": hsa, "name": name, "personnummer": pnr,
               "kind": "responsibility_commitment", "signed_on": today()}),
    )
    .await;
}

async fn forgetting_erases_personal_data_everywhere(database: TestDatabase) {
    // A snapshot after every event, so that the scan covers snapshots too.
    let app = spawn_with(database, |settings| settings.snapshot_every = 1).await;
    let case_id = app.establishment_case().await;
    staff(&app, &case_id, STAFF_HSA, STAFF_NAME, STAFF_PNR).await;
    staff(
        &app,
        &case_id,
        "SE5566778899-P0002",
        OTHER_STAFF,
        "19121212-1212",
    )
    .await;
    caught_up(&app).await;

    // Before: the log, snapshots, command records, audit and key tables hold no plaintext;
    // only the read models do.
    let before = dump(&app).await;
    assert!(
        before.iter().any(|(table, _)| table == "snapshots"),
        "the scan sees snapshots"
    );
    for secret in [
        STAFF_NAME,
        STAFF_PNR,
        STAFF_PNR_CANONICAL,
        STAFF_HSA,
        CONTACT_NAME,
        CONTACT_EMAIL,
        CONTACT_PHONE,
    ] {
        let outside: Vec<String> = found_in(&before, secret)
            .into_iter()
            .filter(|t| !is_read_model(t))
            .collect();
        assert!(outside.is_empty(), "{secret} in clear in {outside:?}");
    }
    assert!(
        !found_in(&before, STAFF_NAME).is_empty() && !found_in(&before, STAFF_HSA).is_empty(),
        "the read models answer with the name and HSA-id before forgetting (the scan can see it)"
    );
    // Read models store no personnummer at all, not even before forgetting.
    for secret in [STAFF_PNR, STAFF_PNR_CANONICAL] {
        assert!(
            found_in(&before, secret).is_empty(),
            "{secret} in {:?}",
            found_in(&before, secret)
        );
    }

    // The officer finds the staff member's subject from the personnummer, sent in the body.
    let lookup = app
        .post(
            "/v1/privacy/subjects/lookup",
            &app.officer(),
            &json!({"personnummer": STAFF_PNR}),
            None,
            None,
        )
        .await;
    assert_eq!(lookup.status, 200, "{}", lookup.text);
    let staff_subject = lookup.json()["subject_id"].as_str().unwrap().to_owned();
    assert_eq!(staff_subject, subject_named(&app, STAFF_NAME).await);
    assert_eq!(lookup.json()["named_in_region"], true);
    let contact_subject = subject_named(&app, CONTACT_NAME).await;

    // Who may forget: not the audit role, not another region's officer.
    let reason = json!({"reason": "Erasure request 2026-17 (GDPR art. 17)"});
    let path = |subject: &str| format!("/v1/privacy/subjects/{subject}/forget");
    app.post(
        &path(&staff_subject),
        &app.token("auditor", JAMTLAND, None),
        &reason,
        None,
        None,
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &path(&staff_subject),
        &app.token("officer", "dalarna", None),
        &reason,
        None,
        None,
    )
    .await
    .assert_problem(404, "not_found");

    for subject in [&staff_subject, &contact_subject] {
        let forgot = app
            .post(&path(subject), &app.officer(), &reason, None, None)
            .await;
        assert_eq!(forgot.status, 200, "{}", forgot.text);
        assert_eq!(forgot.json()["key_destroyed"], true);
    }
    // Idempotent: a second forget is refused with the first decision and changes nothing.
    let again = app
        .post(
            &path(&staff_subject),
            &app.token("region_it", JAMTLAND, None),
            &reason,
            None,
            None,
        )
        .await;
    again.assert_problem(409, "already_forgotten");
    assert_eq!(again.json()["forgotten"]["by"]["role"], "officer");
    caught_up(&app).await;

    // After: found nowhere at all.
    let after = dump(&app).await;
    for secret in [
        STAFF_NAME,
        STAFF_PNR,
        STAFF_PNR_CANONICAL,
        STAFF_HSA,
        CONTACT_NAME,
        CONTACT_EMAIL,
        CONTACT_PHONE,
    ] {
        assert!(
            found_in(&after, secret).is_empty(),
            "{secret} still in {:?}",
            found_in(&after, secret)
        );
    }
    assert!(
        !found_in(&after, OTHER_STAFF).is_empty(),
        "another staff member's row in the read model is untouched"
    );
    let log = payloads(
        app.state
            .store
            .read_all(Position::START, 1000)
            .await
            .unwrap()
            .iter()
            .map(|e| &e.payload),
    );
    for other in [OTHER_STAFF, OTHER_CONTACT] {
        assert!(log.contains(other), "{other} still opens in the log");
    }
    for gone in [STAFF_NAME, STAFF_HSA, CONTACT_NAME, CONTACT_EMAIL] {
        assert!(!log.contains(gone), "{gone} still opens in the log");
    }
    // Nor in the followers' tail, which held these events as decoded before the key went.
    let tail = payloads(
        app.state
            .store
            .read_tail(Position::START, 1000)
            .await
            .unwrap()
            .iter()
            .map(|e| &e.payload),
    );
    for gone in [STAFF_NAME, STAFF_HSA, CONTACT_NAME, CONTACT_EMAIL] {
        assert!(
            !tail.contains(gone),
            "{gone} still opens in the followers' tail"
        );
    }

    // Reads, history, the feed and the staff read model show the erasure.
    let history = app
        .get(&format!("/v1/cases/{case_id}/history"), &app.officer())
        .await;
    assert_eq!(history.status, 200, "{}", history.text);
    for answer in [
        &history,
        &app.get("/v1/feed", &app.officer()).await,
        &app.get("/v1/staff-commitments", &app.officer()).await,
    ] {
        assert!(answer.text.contains("\"erased\":true"), "{}", answer.text);
        assert!(
            !answer.text.contains(STAFF_NAME)
                && !answer.text.contains(STAFF_HSA)
                && !answer.text.contains(CONTACT_NAME)
        );
    }
    assert!(history.text.contains(OTHER_STAFF));

    // The log still verifies: the hashes cover the ciphertext. An audit export carries the
    // events as stored (sealed; its key is gone) and still checks out offline.
    assert!(app.state.store.verify().await.unwrap().is_intact());
    app.state.audit.checkpoint_now().await.unwrap();
    let mut export = Vec::new();
    app.state
        .audit
        .export_stream(
            &store::StreamRef::new("connection_case", case_id.clone()),
            &mut export,
        )
        .await
        .unwrap();
    let text = String::from_utf8(export.clone()).unwrap();
    assert!(text.contains("sealed") && !text.contains(STAFF_NAME) && !text.contains(CONTACT_NAME));
    let report = audit::verify_export(export.as_slice(), app.state.audit.verifier_key()).unwrap();
    assert!(report.is_valid(), "{report:?}");
    // `anslut audit verify`'s check: the tree, the checkpoints and every chain.
    let verified = app.state.audit.verify().await.unwrap();
    assert!(verified.is_intact(), "{verified:?}");

    // A rebuild from the log gives the same erased read models.
    let staff_before = app
        .get("/v1/staff-commitments", &app.officer())
        .await
        .json();
    app.state
        .projections
        .rebuild(&ProjectionName::ALL, |_| {})
        .await
        .unwrap();
    let staff_after = app
        .get("/v1/staff-commitments", &app.officer())
        .await
        .json();
    assert_eq!(staff_before["items"], staff_after["items"]);
    let rebuilt = dump(&app).await;
    assert!(found_in(&rebuilt, STAFF_NAME).is_empty());
    assert!(found_in(&rebuilt, STAFF_HSA).is_empty());
    // Nothing leads from the personnummer to the subject any more: the lookup finds nothing.
    app.post(
        "/v1/privacy/subjects/lookup",
        &app.officer(),
        &json!({"personnummer": STAFF_PNR}),
        None,
        None,
    )
    .await
    .assert_problem(404, "not_found");

    // The personnummer never reached the logs.
    let logs = logs();
    assert!(!logs.contains(STAFF_PNR) && !logs.contains(STAFF_PNR_CANONICAL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_forgetting_erases_personal_data_everywhere() {
    forgetting_erases_personal_data_everywhere(TestDatabase::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_forgetting_erases_personal_data_everywhere() {
    forgetting_erases_personal_data_everywhere(TestDatabase::sqlite()).await;
}

/// Event payloads as one JSON text, to search for what must no longer open.
fn payloads<'a>(payloads: impl Iterator<Item = &'a serde_json::Value>) -> String {
    serde_json::to_string(&payloads.collect::<Vec<_>>()).unwrap()
}
