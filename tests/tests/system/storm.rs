//! Many concurrent commands on one case, against a real `anslut serve`:
//!
//! * with the same `If-Match` version, exactly one is applied per version and every other is
//!   refused with 412 `precondition_failed`;
//! * with the same `Idempotency-Key` and body, every answer is the same (status, version,
//!   position, events, `ETag`) and the log holds one set of events, for a new case and for a
//!   command on an existing one;
//! * with the same `Idempotency-Key` and different bodies, one body wins and is answered
//!   identically to all who sent it, every other body is refused with 422
//!   `idempotency_key_reused`, and the log holds the winner's events alone.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::{Deployment, Server};
use tokio::task::JoinSet;

use crate::support::{
    ORG, REGION, UNDER_LOAD, application, personnummer, recorded_events, staff_commitment,
    stored_events,
};

/// Requests in one storm.
const STORM: usize = 16;
/// Storms with one `If-Match` version each.
const ROUNDS: usize = 4;

/// One answer: status, `ETag`, and the body as JSON.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: StatusCode,
    etag: Option<String>,
    body: Value,
}

/// Sends every request at once (each on a task of its own) and collects the answers in
/// the order given.
/// One request of a storm: method, path, extra headers, body.
type Request = (String, String, Vec<(String, String)>, Value);

async fn storm(server: &Server, requests: Vec<Request>) -> Vec<Answer> {
    let mut tasks = JoinSet::new();
    for (index, (path, token, headers, body)) in requests.into_iter().enumerate() {
        let client = server.client().clone();
        let url = server.url(&path);
        tasks.spawn(async move {
            let mut request = client.post(url).bearer_auth(token).json(&body);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = request.send().await.expect("an answer");
            let status = response.status();
            let etag = response
                .headers()
                .get("etag")
                .map(|value| value.to_str().unwrap().to_owned());
            let body = response.json::<Value>().await.expect("a JSON body");
            (index, Answer { status, etag, body })
        });
    }
    let mut answers: Vec<Option<Answer>> = vec![None; tasks.len()];
    while let Some(done) = tasks.join_next().await {
        let (index, answer) = done.expect("a request task");
        answers[index] = Some(answer);
    }
    answers.into_iter().map(Option::unwrap).collect()
}

async fn post(server: &Server, path: &str, token: &str, body: &Value) -> Value {
    let response = server
        .client()
        .post(server.url(path))
        .bearer_auth(token)
        .header("If-Match", "*")
        .json(body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_on_one_case_apply_once() {
    let deployment = Deployment::postgres().await;
    // From here: the binary is built.
    let started = Instant::now();
    let server = deployment.serve_with("storm", UNDER_LOAD).await;
    let store = deployment.store().await;
    for n in (0..STORM * ROUNDS).chain([400, 450, 451]) {
        deployment.forbid_personnummer(&personnummer(n));
    }
    let provider = deployment.token("provider", REGION, Some(ORG));
    let officer = deployment.token("officer", REGION, None);
    let today = chrono::Utc::now().date_naive().to_string();
    let mut requests_sent = 0;

    // (b) for a new case: one key, one body, sent STORM times at once.
    let submits = (0..STORM)
        .map(|_| {
            (
                "/v1/cases".to_owned(),
                provider.clone(),
                vec![("Idempotency-Key".to_owned(), "storm-submit".to_owned())],
                application(),
            )
        })
        .collect();
    let answers = storm(&server, submits).await;
    requests_sent += answers.len();
    assert_eq!(answers[0].status, StatusCode::CREATED, "{:?}", answers[0]);
    assert!(
        answers.iter().all(|answer| *answer == answers[0]),
        "every retry of the submission is answered alike: {answers:#?}"
    );
    let (case, submitted) = recorded_events(&answers[0].body);
    assert_eq!(
        stored_events(&store, &case).await,
        submitted,
        "one case, created once"
    );

    post(
        &server,
        &format!("/v1/cases/{case}/approve-application"),
        &officer,
        &json!({"reason": "Complete."}),
    )
    .await;
    let signed = post(
        &server,
        &format!("/v1/cases/{case}/sign-contract"),
        &officer,
        &json!({"signed_on": today}),
    )
    .await;
    let mut version = signed["version"].as_u64().unwrap();
    let path = format!("/v1/cases/{case}/record-staff-commitment");
    let mut applied = 0;

    // (a) STORM different commands with one If-Match version, ROUNDS times.
    for round in 0..ROUNDS {
        let requests = (0..STORM)
            .map(|n| {
                (
                    path.clone(),
                    provider.clone(),
                    vec![
                        ("If-Match".to_owned(), format!("\"{version}\"")),
                        ("Idempotency-Key".to_owned(), format!("storm-a{round}-{n}")),
                    ],
                    // A person per request: a case records one commitment of a kind per person.
                    staff_commitment(
                        &format!("A{round}N{n}"),
                        &personnummer(round * STORM + n),
                        n % 2 == 0,
                    ),
                )
            })
            .collect();
        let answers = storm(&server, requests).await;
        requests_sent += answers.len();
        let winners: Vec<&Answer> = answers.iter().filter(|a| a.status.is_success()).collect();
        assert_eq!(winners.len(), 1, "one command per version: {answers:#?}");
        for refused in answers.iter().filter(|a| !a.status.is_success()) {
            assert_eq!(
                refused.status,
                StatusCode::PRECONDITION_FAILED,
                "{refused:?}"
            );
            assert_eq!(refused.body["code"], "precondition_failed");
            // Refused before deciding, the answer names the version now current; refused
            // by the store at commit, it only says the case changed meanwhile.
            if let Some(current) = refused.body.get("current_version") {
                assert_eq!(current, &json!(version + 1));
                assert_eq!(
                    refused.etag.as_deref(),
                    Some(&*format!("\"{}\"", version + 1))
                );
            }
        }
        assert_eq!(winners[0].body["version"], version + 1);
        version += 1;
        applied += 1;
    }

    // (b) on an existing case: one key, one body.
    let same = (0..STORM)
        .map(|_| {
            (
                path.clone(),
                provider.clone(),
                vec![
                    ("If-Match".to_owned(), "*".to_owned()),
                    ("Idempotency-Key".to_owned(), "storm-b".to_owned()),
                ],
                staff_commitment("B", &personnummer(400), false),
            )
        })
        .collect();
    let answers = storm(&server, same).await;
    requests_sent += answers.len();
    assert_eq!(answers[0].status, StatusCode::OK, "{:?}", answers[0]);
    assert!(
        answers.iter().all(|answer| *answer == answers[0]),
        "every request with the key is answered alike: {answers:#?}"
    );
    assert_eq!(answers[0].body["version"], version + 1);
    version += 1;
    applied += 1;

    // (c) one key, two bodies, half the storm each.
    let mixed = (0..STORM)
        .map(|n| {
            (
                path.clone(),
                provider.clone(),
                vec![
                    ("If-Match".to_owned(), "*".to_owned()),
                    ("Idempotency-Key".to_owned(), "storm-c".to_owned()),
                ],
                staff_commitment(&format!("C{}", n % 2), &personnummer(450 + n % 2), false),
            )
        })
        .collect();
    let answers = storm(&server, mixed).await;
    requests_sent += answers.len();
    let winner = answers
        .iter()
        .position(|answer| answer.status.is_success())
        .expect("one body is applied");
    for (n, answer) in answers.iter().enumerate() {
        if n % 2 == winner % 2 {
            assert_eq!(
                answer, &answers[winner],
                "the winning body's requests agree"
            );
        } else {
            assert_eq!(
                answer.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{answer:?}"
            );
            assert_eq!(answer.body["code"], "idempotency_key_reused");
        }
    }
    assert_eq!(answers[winner].body["version"], version + 1);
    version += 1;
    applied += 1;

    // The log holds the submission, approval, contract and one event per applied command.
    let stored = stored_events(&store, &case).await;
    assert_eq!(
        stored.len() as u64,
        version,
        "no duplicate events: {stored:?}"
    );
    let commitments = stored
        .iter()
        .filter(|(_, kind)| kind == "StaffCommitmentRecorded")
        .count();
    assert_eq!(commitments, applied);
    let versions: BTreeSet<u64> = stored.iter().map(|(v, _)| *v).collect();
    assert_eq!(versions, (1..=version).collect());
    let lines = deployment.assert_logs_clean();
    eprintln!(
        "storm: {requests_sent} concurrent requests in storms of {STORM}; {applied} staff \
         commitments applied, {version} events in the case's stream; {lines} log lines clean; \
         {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}
