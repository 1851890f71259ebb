//! The event feed: CloudEvents in global order, paging by cursor without gaps or repeats,
//! tenancy from the events' own metadata, and the long poll.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use store::{AppendRequest, EventMetadata, ExpectedVersion, NewEvent, StreamRef};
use uuid::Uuid;

use crate::fixtures::{DALARNA, DALARNA_ORG, staff_commitments, submit_dalarna, submit_other_org};
use crate::helpers::{Answer, JAMTLAND, ORG, OTHER_ORG, TestApp, spawn_app};

/// Follows the feed from the start with `limit`, until an answer is empty; every event and
/// the number of requests.
async fn follow(app: &TestApp, token: &str, limit: u32) -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let mut after = 0;
    let mut requests = 0;
    loop {
        let answer = app
            .get(&format!("/v1/feed?after={after}&limit={limit}"), token)
            .await;
        requests += 1;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let cursor: u64 = answer
            .header("anslut-feed-cursor")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            answer.header("link"),
            Some(format!(
                "</v1/feed?after={cursor}&limit={limit}>; rel=\"next\""
            ))
        );
        let batch = answer.json().as_array().unwrap().clone();
        assert!(batch.len() <= limit as usize);
        if batch.len() == limit as usize {
            assert_eq!(
                batch[batch.len() - 1]["position"]
                    .as_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
                cursor,
                "a full batch ends at its cursor"
            );
        }
        assert!(cursor >= after, "the cursor never goes back");
        let empty = batch.is_empty();
        events.extend(batch);
        if empty {
            return (events, requests);
        }
        after = cursor;
    }
}

fn positions(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["position"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn sources(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["source"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_is_the_log_in_order_as_cloudevents_paged_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let case = app.establishment_case().await;
    staff_commitments(&app, &case, 8).await;
    let officer = app.officer();

    let answer = app.get("/v1/feed", &officer).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.header("content-type").as_deref(),
        Some("application/cloudevents-batch+json")
    );
    let all = answer.json().as_array().unwrap().clone();
    assert_eq!(all.len(), 11);
    assert_eq!(positions(&all), (1..=11).collect::<Vec<_>>());

    // Every CloudEvents attribute, against the case's history.
    let history = app
        .get(&format!("/v1/cases/{case}/history"), &officer)
        .await
        .json();
    let history = history["events"].as_array().unwrap();
    for (event, recorded) in all.iter().zip(history) {
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["id"], recorded["event_id"]);
        assert_eq!(event["source"], format!("/regions/{JAMTLAND}/cases/{case}"));
        assert_eq!(
            event["type"],
            format!(
                "se.anslut.connection_case.{}.v{}",
                recorded["type"].as_str().unwrap(),
                recorded["event_version"].as_str().unwrap()
            )
        );
        assert_eq!(event["subject"], case);
        assert_eq!(event["time"], recorded["recorded_at"]);
        assert_eq!(event["datacontenttype"], "application/json");
        assert_eq!(event["data"], recorded["data"]);
        assert_eq!(
            event["position"],
            recorded["position"].as_u64().unwrap().to_string()
        );
        assert_eq!(
            event["streamversion"],
            recorded["version"].as_u64().unwrap().to_string()
        );
        assert_eq!(event["correlationid"], recorded["correlation_id"]);
        assert_eq!(event["actorrole"], recorded["actor"]["role"]);
        // Extension names are lowercase letters and digits (CloudEvents 1.0).
        for name in event.as_object().unwrap().keys() {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
                "{name}"
            );
        }
    }

    // Paging by cursor, for several page sizes, gives the same events once each.
    for limit in [1, 3, 4, 11, 500] {
        let (paged, requests) = follow(&app, &officer, limit).await;
        assert_eq!(paged, all, "limit {limit}");
        assert_eq!(
            requests,
            11usize.div_ceil(limit as usize) + 1,
            "limit {limit}"
        );
    }
    let tail = app.get("/v1/feed?after=9", &officer).await.json();
    assert_eq!(positions(tail.as_array().unwrap()), [10, 11]);

    for bad in ["limit=0", "limit=501", "wait=31", "after=-1", "from=3"] {
        app.get(&format!("/v1/feed?{bad}"), &officer)
            .await
            .assert_problem(400, "invalid_query");
    }
    app.get("/v1/feed", "not-a-token")
        .await
        .assert_problem(401, "invalid_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_follows_only_its_own_events_and_never_rescans_the_others() {
    let app = spawn_app().await;
    let own = app.establishment_case().await;
    let other_org = submit_other_org(&app).await;
    let dalarna = submit_dalarna(&app).await;
    let incident = crate::fixtures::report_incident(&app, &own).await;
    // An event appended past the API, without a recorded tenancy: shown to nobody.
    app.state
        .store
        .append(AppendRequest {
            stream: StreamRef::new("connection_case", Uuid::now_v7().to_string()),
            expected: ExpectedVersion::NoStream,
            metadata: EventMetadata::new(Uuid::now_v7(), None),
            events: vec![NewEvent {
                event_type: "NoteAdded".into(),
                event_version: "1".into(),
                payload: json!({"text": "recorded outside the API"}),
            }],
            snapshot: None,
        })
        .await
        .unwrap();
    let head = app.head().await;

    let jamtland_case = format!("/regions/{JAMTLAND}/cases/{own}");
    let other_case = format!("/regions/{JAMTLAND}/cases/{other_org}");
    let dalarna_case = format!("/regions/{DALARNA}/cases/{dalarna}");
    let jamtland_incident = format!("/regions/{JAMTLAND}/incidents/{incident}");
    let expectations: [(&str, &str, Option<&str>, Vec<&str>); 6] = [
        (
            "auditor",
            JAMTLAND,
            None,
            vec![&jamtland_case, &other_case, &jamtland_incident],
        ),
        (
            "dashboard",
            JAMTLAND,
            None,
            vec![&jamtland_case, &other_case, &jamtland_incident],
        ),
        (
            "provider",
            JAMTLAND,
            Some(ORG),
            vec![&jamtland_case, &jamtland_incident],
        ),
        ("provider", JAMTLAND, Some(OTHER_ORG), vec![&other_case]),
        ("officer", DALARNA, None, vec![&dalarna_case]),
        ("provider", DALARNA, Some(DALARNA_ORG), vec![&dalarna_case]),
    ];
    let mut seen = BTreeSet::new();
    for (role, region, org, expected) in expectations {
        let token = app.token(role, region, org);
        let (events, _) = follow(&app, &token, 2).await;
        let expected: BTreeSet<String> = expected.into_iter().map(str::to_owned).collect();
        assert_eq!(sources(&events), expected, "{role} of {region} {org:?}");
        let positions = positions(&events);
        assert!(positions.windows(2).all(|w| w[0] < w[1]));
        seen.extend(positions);
        // The answer that ends the follow has scanned the whole log.
        let end = app.get("/v1/feed?after=0&limit=500", &token).await;
        let cursor: u64 = end.header("anslut-feed-cursor").unwrap().parse().unwrap();
        assert_eq!(
            cursor, head,
            "the cursor passes the events the caller may not see"
        );
    }
    assert_eq!(
        seen.len() as u64,
        head - 1,
        "every event but the untenanted one was seen by someone"
    );
}

/// A feed request on its own task: the answer and how long it took.
fn poll(app: &TestApp, path: &str, token: String) -> tokio::task::JoinHandle<(Answer, Duration)> {
    let client = app.client.clone();
    let url = format!("{}{path}", app.address);
    tokio::spawn(async move {
        let started = Instant::now();
        let response = client.get(url).bearer_auth(token).send().await.unwrap();
        let answer = Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        };
        (answer, started.elapsed())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_answers_as_soon_as_a_visible_event_is_recorded() {
    let app = spawn_app().await;
    let provider = app.provider();
    let case = app.submit_jamtland().await;
    let head = app.head().await;

    // Nothing new: the poll waits, then answers an empty batch.
    let started = Instant::now();
    let empty = app
        .get(&format!("/v1/feed?after={head}&wait=1"), &provider)
        .await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json(), json!([]));
    assert!(started.elapsed() >= Duration::from_millis(950), "it waited");
    assert_eq!(empty.header("anslut-feed-cursor"), Some(head.to_string()));

    // A poll that waits through another tenant's event and answers with its own.
    let waiting = poll(
        &app,
        &format!("/v1/feed?after={head}&wait=20"),
        provider.clone(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "the poll waits for an event");
    let dalarna = submit_dalarna(&app).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "another region's case does not answer a Jämtland provider's poll"
    );
    let approved = app
        .command(
            &case,
            "approve-application",
            &app.officer(),
            json!({"reason": "Complete."}),
        )
        .await;
    let (answer, took) = waiting.await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    let batch = answer.json();
    let batch = batch.as_array().unwrap();
    assert_eq!(batch.len(), 1, "{batch:?}");
    assert_eq!(
        batch[0]["type"],
        "se.anslut.connection_case.ApplicationApproved.v1"
    );
    assert_eq!(
        batch[0]["position"],
        approved.json()["position"].as_u64().unwrap().to_string()
    );
    assert!(
        took < Duration::from_secs(5),
        "the poll answered {took:?} after it was sent, well before its 20 s"
    );
    assert_eq!(
        answer.header("link"),
        Some(format!(
            "</v1/feed?after={}&limit=100&wait=20>; rel=\"next\"",
            batch[0]["position"].as_str().unwrap()
        ))
    );
    assert!(!answer.text.contains(&dalarna));
}
