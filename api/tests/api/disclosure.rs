//! The disclosure policy (`domain::disclosure`) end to end: every outlet × every role × every
//! kind of personal data, against the policy table; erasure per region (each region its own
//! controller); lookups limited and recorded.

use std::time::Duration;

use domain::Role;
use domain::disclosure::{DataKind, Outlet, discloses};
use projections::ProjectionName;
use serde_json::json;
use store::testing::TestDatabase;
use store::{Position, StreamRef};

use crate::fixtures::{DALARNA, report_incident};
use crate::helpers::{JAMTLAND, ORG, OTHER_ORG, TestApp, spawn_with, today};

const STAFF_NAME: &str = "Ingrid Sjöberg";
const STAFF_PNR: &str = "19811218-9876";
const STAFF_HSA: &str = "SE5566778899-P0001";
// From `jamtland_application`.
const CONTACT_NAME: &str = "Karin Lindqvist";
const CONTACT_EMAIL: &str = "karin.lindqvist@ostersundshalsan.se";
const CONTACT_PHONE: &str = "+46 63 14 20 00";

/// The strings that give away a kind of personal data when they appear in an answer.
fn needles(kind: DataKind) -> &'static [&'static str] {
    match kind {
        // Every form of the personnummer: with century, without, with and without dash.
        DataKind::Personnummer => &["198112189876", "19811218-9876", "811218-9876", "8112189876"],
        DataKind::StaffName => &[STAFF_NAME],
        DataKind::HsaId => &[STAFF_HSA],
        DataKind::ContactName => &[CONTACT_NAME],
        DataKind::Email => &[CONTACT_EMAIL],
        DataKind::Phone => &[CONTACT_PHONE],
    }
}

fn shows(text: &str, kind: DataKind) -> bool {
    needles(kind).iter().any(|needle| text.contains(needle))
}

async fn caught_up(app: &TestApp) {
    let head = Position(app.head().await);
    app.state
        .projections
        .wait_for(&ProjectionName::ALL, head, Duration::from_secs(20))
        .await
        .unwrap();
}

async fn record_staff(app: &TestApp, case_id: &str, token: &str, hsa: &str, name: &str, pnr: &str) {
    app.command(
        case_id,
        "record-staff-commitment",
        token,
        json!({"hsa_id": hsa, "name": name, "personnummer": pnr,
               "kind": "responsibility_commitment", "signed_on": today()}),
    )
    .await;
}

/// One caller: a role's token (and the role the policy knows it by, `None` for a caller who
/// may not see the case at all).
struct Caller {
    name: &'static str,
    token: String,
    role: Option<Role>,
}

fn callers(app: &TestApp) -> Vec<Caller> {
    let mut callers: Vec<Caller> = Role::ALL
        .into_iter()
        .map(|role| Caller {
            name: role.as_str(),
            token: app.token(
                role.as_str(),
                JAMTLAND,
                (role == Role::Provider).then_some(ORG),
            ),
            role: Some(role),
        })
        .collect();
    callers.push(Caller {
        name: "provider of another organisation",
        token: app.token("provider", JAMTLAND, Some(OTHER_ORG)),
        role: None,
    });
    callers.push(Caller {
        name: "officer of another region",
        token: app.token("officer", DALARNA, None),
        role: None,
    });
    callers
}

/// The read-model endpoints, each asked for JSON and for CSV.
const READ_MODELS: &[&str] = &[
    "/v1/cases",
    "/v1/pipeline",
    "/v1/findings",
    "/v1/incidents",
    "/v1/incidents/summary",
    "/v1/compliance",
    "/v1/staff-commitments",
    "/v1/costs",
];

async fn get_as(app: &TestApp, path: &str, token: &str, accept: &str) -> String {
    let answer = app
        .send(
            app.client
                .get(format!("{}{path}", app.address))
                .bearer_auth(token)
                .header("Accept", accept),
        )
        .await;
    assert!(answer.status < 500, "{path}: {}", answer.text);
    answer.text
}

async fn every_outlet_shows_each_role_only_what_the_policy_allows(database: TestDatabase) {
    let app = spawn_with(database, |_| {}).await;
    let case_id = app.establishment_case().await;
    record_staff(
        &app,
        &case_id,
        &app.officer(),
        STAFF_HSA,
        STAFF_NAME,
        STAFF_PNR,
    )
    .await;
    // The contact named again for its role (`update-contact`): the same personal data in a
    // newer event type, through every outlet.
    let updated = app
        .command(
            &case_id,
            "update-contact",
            &app.provider(),
            json!({"contact": {"role": "it_contact", "name": CONTACT_NAME,
                   "email": CONTACT_EMAIL, "phone": CONTACT_PHONE}}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let incident_id = report_incident(&app, &case_id).await;
    caught_up(&app).await;
    let head = app.head().await;

    // What each outlet answers each caller, as text.
    for caller in callers(&app) {
        let mut answers: Vec<(Outlet, String, String)> = Vec::new();
        let token = &caller.token;
        for (outlet, path) in [
            (Outlet::Case, format!("/v1/cases/{case_id}")),
            (Outlet::Case, format!("/v1/incidents/{incident_id}")),
            (
                Outlet::AsOf,
                format!("/v1/cases/{case_id}?as_of_position={head}"),
            ),
            (
                Outlet::AsOf,
                format!("/v1/incidents/{incident_id}?as_of_position={head}"),
            ),
            (Outlet::History, format!("/v1/cases/{case_id}/history")),
            (
                Outlet::History,
                format!("/v1/incidents/{incident_id}/history"),
            ),
            (Outlet::Feed, "/v1/feed".to_owned()),
            (
                Outlet::ReadModelJson,
                format!("/v1/cases/{case_id}/overview"),
            ),
        ] {
            answers.push((
                outlet,
                path.clone(),
                get_as(&app, &path, token, "application/json").await,
            ));
        }
        for path in READ_MODELS {
            answers.push((
                Outlet::ReadModelJson,
                (*path).to_owned(),
                get_as(&app, path, token, "application/json").await,
            ));
            answers.push((
                Outlet::ReadModelCsv,
                (*path).to_owned(),
                get_as(&app, path, token, "text/csv").await,
            ));
        }
        // Errors: the same commitment again (409), and a commitment that fails validation.
        for body in [
            json!({"hsa_id": STAFF_HSA, "name": STAFF_NAME, "personnummer": STAFF_PNR,
                   "kind": "responsibility_commitment", "signed_on": today()}),
            json!({"hsa_id": STAFF_HSA, "name": STAFF_NAME, "personnummer": "19811218-9875",
                   "kind": "responsibility_commitment", "signed_on": today()}),
        ] {
            let answer = app
                .post(
                    &format!("/v1/cases/{case_id}/record-staff-commitment"),
                    token,
                    &body,
                    Some("*"),
                    None,
                )
                .await;
            assert!(answer.status >= 400, "{}", answer.text);
            answers.push((Outlet::Error, "record-staff-commitment".into(), answer.text));
        }

        for (outlet, path, text) in &answers {
            for kind in DataKind::ALL {
                let allowed = caller
                    .role
                    .is_some_and(|role| discloses(role, kind, *outlet));
                assert!(
                    allowed || !shows(text, kind),
                    "{} is shown {} in {outlet:?} {path}: {text}",
                    caller.name,
                    kind.as_str(),
                );
            }
        }
        // And the outlets that carry the events show what the policy allows (the matrix is
        // not passing because nothing is shown at all).
        if let Some(role) = caller.role {
            for (outlet, path, text) in answers.iter().filter(|(o, p, _)| {
                matches!(o, Outlet::History | Outlet::Feed) && !p.contains("incidents")
            }) {
                for kind in DataKind::ALL {
                    assert_eq!(
                        shows(text, kind),
                        discloses(role, kind, *outlet),
                        "{} and {} in {outlet:?} {path}: {text}",
                        caller.name,
                        kind.as_str(),
                    );
                }
            }
        }
    }

    // Webhooks: the body the delivery worker renders, for every event of the log.
    let events = app
        .state
        .store
        .read_all(Position::START, 1000)
        .await
        .unwrap();
    assert!(events.len() >= 5);
    for event in &events {
        let body = serde_json::to_string(&webhooks::CloudEvent::of(event, JAMTLAND)).unwrap();
        for kind in DataKind::ALL {
            assert!(
                !shows(&body, kind) || discloses(Role::Integration, kind, Outlet::Webhook),
                "a webhook carries {}: {body}",
                kind.as_str()
            );
        }
    }

    // The audit export: the events as stored, sealed; no plaintext of any kind.
    app.state.audit.checkpoint_now().await.unwrap();
    let mut export = Vec::new();
    app.state
        .audit
        .export_stream(
            &StreamRef::new("connection_case", case_id.clone()),
            &mut export,
        )
        .await
        .unwrap();
    let export = String::from_utf8(export).unwrap();
    assert!(export.contains("sealed"));
    for kind in DataKind::ALL {
        assert!(
            !shows(&export, kind),
            "the audit export shows {}",
            kind.as_str()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_every_outlet_shows_each_role_only_what_the_policy_allows() {
    every_outlet_shows_each_role_only_what_the_policy_allows(TestDatabase::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_every_outlet_shows_each_role_only_what_the_policy_allows() {
    every_outlet_shows_each_role_only_what_the_policy_allows(TestDatabase::sqlite()).await;
}

async fn lookup(app: &TestApp, token: &str, pnr: &str) -> crate::helpers::Answer {
    app.post(
        "/v1/privacy/subjects/lookup",
        token,
        &json!({"personnummer": pnr}),
        None,
        None,
    )
    .await
}

async fn forget(app: &TestApp, token: &str, subject: &str) -> crate::helpers::Answer {
    app.post(
        &format!("/v1/privacy/subjects/{subject}/forget"),
        token,
        &json!({"reason": "Erasure request 2026-17 (GDPR art. 17)"}),
        None,
        None,
    )
    .await
}

async fn each_region_erases_its_own_records_only(database: TestDatabase) {
    let app = spawn_with(database, |_| {}).await;
    // Region A (Jämtland) records the person; region B (Dalarna) records the same person on
    // a case of its own (the attack of issue 13: B names A's staff member, then forgets).
    let a_case = app.establishment_case().await;
    record_staff(
        &app,
        &a_case,
        &app.officer(),
        STAFF_HSA,
        STAFF_NAME,
        STAFF_PNR,
    )
    .await;
    let b_provider = app.token("provider", DALARNA, Some(crate::fixtures::DALARNA_ORG));
    let b_case =
        crate::fixtures::submit_as(&app, &b_provider, &crate::fixtures::dalarna_application())
            .await;
    let b_officer = app.token("officer", DALARNA, None);
    app.command(
        &b_case,
        "approve-application",
        &b_officer,
        json!({"reason": "Complete."}),
    )
    .await;
    app.command(
        &b_case,
        "sign-contract",
        &b_officer,
        json!({"signed_on": today()}),
    )
    .await;
    record_staff(
        &app,
        &b_case,
        &b_officer,
        "SE2321000180-X1",
        STAFF_NAME,
        STAFF_PNR,
    )
    .await;

    // Each region finds its own subject; they differ.
    let a_found = lookup(&app, &app.officer(), STAFF_PNR).await;
    assert_eq!(a_found.status, 200, "{}", a_found.text);
    let a_subject = a_found.json()["subject_id"].as_str().unwrap().to_owned();
    let b_found = lookup(&app, &b_officer, STAFF_PNR).await;
    assert_eq!(b_found.status, 200, "{}", b_found.text);
    let b_subject = b_found.json()["subject_id"].as_str().unwrap().to_owned();
    assert_ne!(
        a_subject, b_subject,
        "one subject (and key) per person and region"
    );

    // B cannot forget A's subject: 404, as if it did not exist.
    forget(&app, &b_officer, &a_subject)
        .await
        .assert_problem(404, "not_found");
    // B forgets its own: A's records are intact.
    let forgot = forget(&app, &b_officer, &b_subject).await;
    assert_eq!(forgot.status, 200, "{}", forgot.text);
    caught_up(&app).await;
    let a_history = app
        .get(&format!("/v1/cases/{a_case}/history"), &app.officer())
        .await;
    assert!(
        a_history.text.contains(STAFF_NAME) && a_history.text.contains(STAFF_HSA),
        "{}",
        a_history.text
    );
    let a_staff = app.get("/v1/staff-commitments", &app.officer()).await;
    assert!(a_staff.text.contains(STAFF_NAME), "{}", a_staff.text);
    let b_history = app
        .get(&format!("/v1/cases/{b_case}/history"), &b_officer)
        .await;
    assert!(!b_history.text.contains(STAFF_NAME), "{}", b_history.text);
    assert!(
        b_history.text.contains("\"erased\":true"),
        "{}",
        b_history.text
    );

    // After B's erasure, B's lookup finds nothing (the index row went with the key), and
    // A's answers about its own subject say nothing of B.
    lookup(&app, &b_officer, STAFF_PNR)
        .await
        .assert_problem(404, "not_found");
    let again = forget(&app, &b_officer, &b_subject).await;
    again.assert_problem(409, "already_forgotten");
    assert!(!again.text.contains(JAMTLAND), "{}", again.text);
    // A's officer asking about B's (forgotten) subject learns nothing: 404, no officer, no
    // region, no time.
    let probe = forget(&app, &app.officer(), &b_subject).await;
    probe.assert_problem(404, "not_found");
    assert!(
        !probe.text.contains(DALARNA) && !probe.text.contains("forgotten"),
        "{}",
        probe.text
    );

    // A forgets its own; then both are gone and the log still verifies.
    let forgot = forget(&app, &app.officer(), &a_subject).await;
    assert_eq!(forgot.status, 200, "{}", forgot.text);
    caught_up(&app).await;
    let a_history = app
        .get(&format!("/v1/cases/{a_case}/history"), &app.officer())
        .await;
    assert!(!a_history.text.contains(STAFF_NAME) && !a_history.text.contains(STAFF_HSA));
    assert!(app.state.store.verify().await.unwrap().is_intact());

    // Named again after being forgotten: a new subject, not the old one.
    record_staff(
        &app,
        &a_case,
        &app.officer(),
        STAFF_HSA,
        STAFF_NAME,
        STAFF_PNR,
    )
    .await;
    let renamed = lookup(&app, &app.officer(), STAFF_PNR).await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_ne!(renamed.json()["subject_id"].as_str().unwrap(), a_subject);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_each_region_erases_its_own_records_only() {
    each_region_erases_its_own_records_only(TestDatabase::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_each_region_erases_its_own_records_only() {
    each_region_erases_its_own_records_only(TestDatabase::sqlite()).await;
}

async fn lookups_are_recorded_and_limited(database: TestDatabase) {
    // The per-minute rate limit of the edge is off here: this is about the daily allowance.
    let app = spawn_with(database, |settings| settings.limits.privacy_per_minute = 0).await;
    let case_id = app.establishment_case().await;
    record_staff(
        &app,
        &case_id,
        &app.officer(),
        STAFF_HSA,
        STAFF_NAME,
        STAFF_PNR,
    )
    .await;
    let officer = app.token("officer", JAMTLAND, None);

    let found = lookup(&app, &officer, STAFF_PNR).await;
    assert_eq!(found.status, 200, "{}", found.text);
    let subject = found.json()["subject_id"].as_str().unwrap().to_owned();
    // A person the region's records do not name: 404, and no subject is made up.
    lookup(&app, &officer, "19121212-1212")
        .await
        .assert_problem(404, "not_found");

    let recorded = app.state.subject_keys.lookups().await.unwrap();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    let (_, region, who, role, what) = &recorded[0];
    assert_eq!((region.as_str(), role.as_str()), (JAMTLAND, "officer"));
    assert_eq!(who, "test-officer");
    assert_eq!(what.as_deref(), Some(subject.as_str()));
    assert_eq!(recorded[1].4, None);
    // Neither personnummer in any of its forms (not the last four digits alone: a random
    // subject id or a timestamp may hold "1212" by chance).
    let dump = format!("{recorded:?}");
    for form in [
        "19811218-9876",
        "811218-9876",
        "198112189876",
        "8112189876",
        "19121212-1212",
        "121212-1212",
        "191212121212",
        "1212121212",
    ] {
        assert!(!dump.contains(form), "no personnummer ({form}): {dump}");
    }

    // The limit: a caller's lookups in 24 hours, found or not.
    for _ in 2..api::LOOKUPS_PER_DAY {
        assert_eq!(lookup(&app, &officer, "19121212-1212").await.status, 404);
    }
    let refused = lookup(&app, &officer, STAFF_PNR).await;
    refused.assert_problem(429, "lookup_limit_reached");
    assert!(refused.header("retry-after").is_some());
    // Another caller is not limited by the first one's lookups.
    let colleague = app.token("region_it", JAMTLAND, None);
    assert_eq!(lookup(&app, &colleague, STAFF_PNR).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lookups_are_recorded_and_limited() {
    lookups_are_recorded_and_limited(TestDatabase::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_lookups_are_recorded_and_limited() {
    lookups_are_recorded_and_limited(TestDatabase::sqlite()).await;
}

/// A staff commitment as events recorded before subjects were per region: version 1 (the
/// HSA-id in clear beside the person), the subject an HMAC of the personnummer alone.
async fn append_legacy_commitment(app: &TestApp, case_id: &str, subject: &str) {
    let stream = StreamRef::new("connection_case", case_id);
    let version = app
        .state
        .store
        .read_stream(&stream, 0, 1000)
        .await
        .unwrap()
        .len() as u64;
    let mut metadata = store::EventMetadata::new(
        uuid::Uuid::now_v7(),
        Some(store::ActorRecord {
            subject: "test-officer".into(),
            role: "officer".into(),
            region: JAMTLAND.into(),
            provider_org: None,
        }),
    );
    metadata
        .extra
        .insert("tenant_region".into(), JAMTLAND.into());
    metadata.extra.insert("tenant_org".into(), ORG.into());
    let payload = json!({
        "actor": {"subject": "test-officer", "role": "officer", "region": JAMTLAND, "provider_org": null},
        "at": chrono::Utc::now(),
        "change": {"type": "StaffCommitmentRecorded", "data": {
            "hsa_id": STAFF_HSA,
            "person": {"pii": {"subject": subject, "value": {"name": STAFF_NAME, "personnummer": "198112189876"}}},
            "kind": "responsibility_commitment",
            "signed_on": today(),
        }},
    });
    app.state
        .store
        .append(store::AppendRequest {
            stream,
            expected: store::ExpectedVersion::Exact(version),
            metadata,
            events: vec![store::NewEvent {
                event_type: "StaffCommitmentRecorded".into(),
                event_version: "1".into(),
                payload,
            }],
            snapshot: None,
        })
        .await
        .unwrap();
}

async fn events_with_old_subject_ids_still_read_and_forget(database: TestDatabase) {
    let app = spawn_with(database, |_| {}).await;
    let case_id = app.establishment_case().await;
    let pnr = domain::identity::Personnummer::parse_canonical("198112189876").unwrap();
    let legacy = app.state.subjects.legacy_staff(&pnr).to_string();
    append_legacy_commitment(&app, &case_id, &legacy).await;
    // What a database written before the index finds at start: its events not yet indexed.
    app.state
        .subject_keys
        .backfill_regions("tenant_region")
        .await
        .unwrap();
    assert!(
        app.state
            .subject_keys
            .regions_of(domain::ids::DataSubjectId::parse(&legacy).unwrap())
            .await
            .unwrap()
            .is_empty(),
        "the backfill ran at start, on an empty log"
    );
    crate::fixtures::execute_any(&app, "DELETE FROM subject_jobs").await;
    assert!(
        app.state
            .subject_keys
            .backfill_regions("tenant_region")
            .await
            .unwrap()
            > 0
    );
    caught_up(&app).await;

    // It reads as version 2: the HSA-id inside the person, as the role may see it.
    let history = app
        .get(&format!("/v1/cases/{case_id}/history"), &app.officer())
        .await;
    let events = history.json()["events"].as_array().unwrap().clone();
    let legacy_event = events.last().unwrap();
    assert_eq!(legacy_event["event_version"], "2", "{legacy_event}");
    assert_eq!(
        legacy_event["data"]["person"]["pii"]["value"]["hsa_id"],
        STAFF_HSA
    );
    assert!(legacy_event["data"].get("hsa_id").is_none());
    assert!(!history.text.contains("198112189876"));
    let dashboard = app
        .get("/v1/feed", &app.token("dashboard", JAMTLAND, None))
        .await;
    assert!(!dashboard.text.contains(STAFF_HSA) && !dashboard.text.contains(STAFF_NAME));

    // The lookup finds the old subject; the same person again is the same subject, so the
    // case refuses a second commitment of the kind.
    let found = lookup(&app, &app.officer(), STAFF_PNR).await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.json()["subject_id"], legacy.as_str());
    let again = app
        .post(
            &format!("/v1/cases/{case_id}/record-staff-commitment"),
            &app.officer(),
            &json!({"hsa_id": STAFF_HSA, "name": STAFF_NAME, "personnummer": STAFF_PNR,
                    "kind": "responsibility_commitment", "signed_on": today()}),
            Some("*"),
            None,
        )
        .await;
    again.assert_problem(409, "commitment_already_recorded");
    assert!(!again.text.contains(STAFF_HSA), "{}", again.text);

    // Another region cannot forget it; its own region can, and then the HSA-id (in clear in
    // the stored v1 event) is shown nowhere.
    forget(&app, &app.token("officer", DALARNA, None), &legacy)
        .await
        .assert_problem(404, "not_found");
    let forgot = forget(&app, &app.officer(), &legacy).await;
    assert_eq!(forgot.status, 200, "{}", forgot.text);
    caught_up(&app).await;
    for path in [
        format!("/v1/cases/{case_id}/history"),
        "/v1/feed".to_owned(),
        "/v1/staff-commitments".to_owned(),
    ] {
        let answer = app.get(&path, &app.officer()).await;
        assert!(
            !answer.text.contains(STAFF_HSA) && !answer.text.contains(STAFF_NAME),
            "{path}: {}",
            answer.text
        );
    }
    lookup(&app, &app.officer(), STAFF_PNR)
        .await
        .assert_problem(404, "not_found");
    assert!(app.state.store.verify().await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_events_with_old_subject_ids_still_read_and_forget() {
    events_with_old_subject_ids_still_read_and_forget(TestDatabase::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_events_with_old_subject_ids_still_read_and_forget() {
    events_with_old_subject_ids_still_read_and_forget(TestDatabase::sqlite()).await;
}
