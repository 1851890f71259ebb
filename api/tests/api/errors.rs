//! Every error status is an RFC 9457 problem with a stable `code`, and nothing a client sends
//! produces a 500.

use serde_json::json;

use crate::helpers::{JAMTLAND, spawn_app, today};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_paths_queries_and_headers_are_400_problems_naming_the_place() {
    let app = spawn_app().await;
    let provider = app.provider();
    let officer = app.officer();

    // Malformed JSON.
    let answer = app
        .send(
            app.client
                .post(format!("{}/v1/cases", app.address))
                .bearer_auth(&provider)
                .header("content-type", "application/json")
                .body("{\"programme\": "),
        )
        .await;
    answer.assert_problem(400, "invalid_body");

    // A wrong type, with its JSON path, without the value.
    let mut body = crate::helpers::jamtland_application();
    body["workstations"] = json!("8112189876");
    let answer = app.post("/v1/cases", &provider, &body, None, None).await;
    answer.assert_problem(400, "invalid_body");
    assert_eq!(answer.json()["errors"][0]["path"], "workstations");
    assert!(!answer.text.contains("8112189876"), "{}", answer.text);

    // An unknown field.
    let mut body = crate::helpers::jamtland_application();
    body["colour"] = json!("blue");
    let answer = app.post("/v1/cases", &provider, &body, None, None).await;
    answer.assert_problem(400, "invalid_body");
    assert!(answer.text.contains("colour"), "{}", answer.text);

    // Values the domain's parsers refuse: every one, each with its path.
    let mut body = crate::helpers::jamtland_application();
    body["org_number"] = json!("556677-8898");
    body["contacts"][1]["email"] = json!("not an address");
    let answer = app.post("/v1/cases", &provider, &body, None, None).await;
    answer.assert_problem(400, "invalid_body");
    let body = answer.json();
    let paths: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["org_number", "contacts[1].email"],
        "{}",
        answer.text
    );

    // A personnummer the parser refuses is not repeated, not even its date.
    let case = app.establishment_case().await;
    let answer = app
        .post(
            &format!("/v1/cases/{case}/record-staff-commitment"),
            &provider,
            &json!({"hsa_id": "SE5566778899-K7Q2", "name": "Per Olsson", "personnummer": "19811318-9876", "kind": "responsibility_commitment", "signed_on": today()}),
            Some("*"),
            None,
        )
        .await;
    answer.assert_problem(400, "invalid_body");
    assert_eq!(answer.json()["errors"][0]["path"], "personnummer");
    // (The command id is a random UUID: it may hold "9876" by chance, so it is left out.)
    let mut body = answer.json();
    body.as_object_mut().unwrap().remove("command_id");
    let text = body.to_string();
    assert!(!text.contains("811318") && !text.contains("9876"), "{text}");

    // A bad path value.
    let answer = app.get("/v1/cases/not-a-uuid", &officer).await;
    answer.assert_problem(400, "invalid_path");
    let answer = app
        .get("/v1/catalogues/Dalarna-BUP/versions/1", &officer)
        .await;
    answer.assert_problem(400, "invalid_path");

    // A bad query value.
    let answer = app
        .get("/v1/catalogues/dalarna-bup/diff?from=one&to=2", &officer)
        .await;
    answer.assert_problem(400, "invalid_query");
    let answer = app
        .get("/v1/catalogues/dalarna-bup/diff?to=2", &officer)
        .await;
    answer.assert_problem(400, "invalid_query");

    // Bad precondition headers: a malformed If-Match is 400; a weak tag is well formed but
    // never matches under strong comparison (RFC 9110 §13.1.1), so the precondition fails.
    let answer = app
        .post(
            &format!("/v1/cases/{case}/record-milestone"),
            &officer,
            &json!({"milestone": {"kind": "contact_card_published"}, "completed_on": today()}),
            Some("version 3"),
            None,
        )
        .await;
    answer.assert_problem(400, "invalid_header");
    let answer = app
        .post(
            &format!("/v1/cases/{case}/record-milestone"),
            &officer,
            &json!({"milestone": {"kind": "contact_card_published"}, "completed_on": today()}),
            Some("W/\"3\""),
            None,
        )
        .await;
    answer.assert_problem(412, "precondition_failed");
    let long_key = "k".repeat(256);
    let answer = app
        .post(
            &format!("/v1/cases/{case}/record-milestone"),
            &officer,
            &json!({"milestone": {"kind": "contact_card_published"}, "completed_on": today()}),
            Some("*"),
            Some(&long_key),
        )
        .await;
    answer.assert_problem(400, "invalid_header");
    let answer = app
        .post(
            &format!("/v1/cases/{case}/record-milestone"),
            &officer,
            &json!({"milestone": {"kind": "contact_card_published"}, "completed_on": today()}),
            Some("*"),
            Some("\"\""),
        )
        .await;
    answer.assert_problem(400, "invalid_header");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_bad_tokens_are_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let answer = app
        .send(app.client.get(format!("{}/v1/catalogues", app.address)))
        .await;
    answer.assert_problem(401, "unauthenticated");
    assert!(
        answer
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );

    let answer = app.get("/v1/catalogues", "not.a.token").await;
    answer.assert_problem(401, "invalid_token");
    assert!(
        answer
            .header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    let answer = app
        .send(
            app.client
                .get(format!("{}/v1/catalogues", app.address))
                .header("Authorization", "Basic dXNlcjpwdw=="),
        )
        .await;
    answer.assert_problem(401, "invalid_token");

    // A provider token without an organisation names no principal.
    let answer = app
        .get("/v1/catalogues", &app.token("provider", JAMTLAND, None))
        .await;
    answer.assert_problem(401, "invalid_token");
    let answer = app
        .get("/v1/catalogues", &app.token("superuser", JAMTLAND, None))
        .await;
    answer.assert_problem(401, "invalid_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_unknown_conflicting_and_stale_commands_get_their_statuses() {
    let app = spawn_app().await;
    let case = app.submit_jamtland().await;
    let officer = app.officer();

    // 403: the auditor's role lacks Decide; nothing is read first.
    let answer = app
        .post(
            &format!("/v1/cases/{case}/approve-application"),
            &app.token("auditor", JAMTLAND, None),
            &json!({"reason": "x"}),
            Some("*"),
            None,
        )
        .await;
    answer.assert_problem(403, "forbidden");

    // 404: an unknown case, an unknown route; 405 for a known path and another method.
    let answer = app
        .get(&format!("/v1/cases/{}", uuid::Uuid::now_v7()), &officer)
        .await;
    answer.assert_problem(404, "not_found");
    let answer = app.get("/v1/nothing-here", &officer).await;
    answer.assert_problem(404, "not_found");
    let answer = app
        .get(&format!("/v1/cases/{case}/approve-application"), &officer)
        .await;
    answer.assert_problem(405, "method_not_allowed");
    assert_eq!(answer.header("allow").as_deref(), Some("POST"));

    // 428 without If-Match; 412 with a stale one, with the current ETag.
    let answer = app
        .post(
            &format!("/v1/cases/{case}/approve-application"),
            &officer,
            &json!({"reason": "Complete."}),
            None,
            None,
        )
        .await;
    answer.assert_problem(428, "precondition_required");
    let answer = app
        .post(
            &format!("/v1/cases/{case}/approve-application"),
            &officer,
            &json!({"reason": "Complete."}),
            Some("\"7\""),
            None,
        )
        .await;
    answer.assert_problem(412, "precondition_failed");
    assert_eq!(answer.etag(), "\"1\"");
    assert_eq!(answer.json()["current_version"], 1);

    // 200 with the current ETag, then 409 for the same decision again.
    let answer = app
        .post(
            &format!("/v1/cases/{case}/approve-application"),
            &officer,
            &json!({"reason": "Complete."}),
            Some("\"1\""),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let answer = app
        .post(
            &format!("/v1/cases/{case}/approve-application"),
            &officer,
            &json!({"reason": "Again."}),
            Some("*"),
            None,
        )
        .await;
    answer.assert_problem(409, "wrong_phase");
    assert_eq!(answer.json()["phase"], "approved");

    // 422: a rule of the content, with the domain's details.
    let mut body = crate::helpers::jamtland_application();
    body["contacts"] = json!([]);
    let answer = app
        .post("/v1/cases", &app.provider(), &body, None, None)
        .await;
    answer.assert_problem(422, "invalid_application");
    assert!(answer.text.contains("missing_contact"), "{}", answer.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_non_json_bodies_are_413_and_415() {
    let app = spawn_app().await;
    let provider = app.provider();
    let mut body = crate::helpers::jamtland_application();
    body["unit_name"] = json!("x".repeat(300 * 1024));
    let answer = app.post("/v1/cases", &provider, &body, None, None).await;
    answer.assert_problem(413, "payload_too_large");
    assert!(answer.json()["detail"].as_str().unwrap().contains("262144"));

    let answer = app
        .send(
            app.client
                .post(format!("{}/v1/cases", app.address))
                .bearer_auth(&provider)
                .header("content-type", "text/plain")
                .body(crate::helpers::jamtland_application().to_string()),
        )
        .await;
    answer.assert_problem(415, "unsupported_media_type");
    let answer = app
        .send(
            app.client
                .post(format!("{}/v1/cases", app.address))
                .bearer_auth(&provider)
                .body(crate::helpers::jamtland_application().to_string()),
        )
        .await;
    answer.assert_problem(415, "unsupported_media_type");
    assert_eq!(app.head().await, 0, "nothing was written");
}

/// Positions, versions and tree sizes are int64 in the spec and BIGINT in the database: a
/// larger number is a malformed request, 400 naming the parameter, wherever it is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_beyond_int64_are_400_naming_the_parameter() {
    let app = spawn_app().await;
    let officer = app.officer();
    let too_big = "9223372036854775808";

    let answer = app
        .get(&format!("/v1/audit/checkpoints/{too_big}"), &officer)
        .await;
    answer.assert_problem(400, "invalid_path");
    assert_eq!(answer.json()["errors"][0]["path"], "tree_size");

    let region_it = app.token("region_it", JAMTLAND, None);
    let created = app
        .post(
            "/v1/webhooks/subscriptions",
            &region_it,
            &json!({"url": "https://hooks.example.se/anslut", "event_types": ["se.anslut.connection_case.*"]}),
            None,
            None,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let subscription = created.json()["subscription"]["subscription_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = app
        .get(
            &format!("/v1/webhooks/subscriptions/{subscription}/deliveries?before={too_big}"),
            &region_it,
        )
        .await;
    answer.assert_problem(400, "invalid_query");
    assert_eq!(answer.json()["errors"][0]["path"], "before");

    let answer = app
        .get(&format!("/v1/feed?after={too_big}"), &officer)
        .await;
    answer.assert_problem(400, "invalid_query");
    assert_eq!(answer.json()["errors"][0]["path"], "after");
}
