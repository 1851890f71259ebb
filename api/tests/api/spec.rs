//! The OpenAPI document: the served one equals the committed file, and every operation is
//! documented (summary, description, security, examples).

use serde_json::Value;

use crate::helpers::spawn_app;

const COMMITTED: &str = include_str!("../../../openapi/openapi.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_equals_the_committed_file() {
    let app = spawn_app().await;
    let served = app
        .send(app.client.get(format!("{}/openapi.json", app.address)))
        .await;
    assert_eq!(served.status, 200);
    let served: Value = serde_json::from_str(&served.text).unwrap();
    let committed: Value = serde_json::from_str(COMMITTED).unwrap();
    assert!(
        served == committed,
        "openapi/openapi.json is stale; regenerate it with\n    cargo run --bin anslut -- openapi > openapi/openapi.json"
    );
    assert_eq!(
        api::openapi::spec_json(),
        COMMITTED,
        "openapi/openapi.json is not as `anslut openapi` prints it; regenerate it with\n    cargo run --bin anslut -- openapi > openapi/openapi.json"
    );
}

#[test]
fn every_operation_has_a_summary_description_security_and_examples() {
    let spec: Value = serde_json::from_str(COMMITTED).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let mut operations = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let at = format!("{method} {path}");
            for field in ["summary", "description", "operationId"] {
                assert!(
                    op[field].as_str().is_some_and(|s| !s.is_empty()),
                    "{at}: no {field}"
                );
            }
            let security = op["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{at}: no security"));
            if path.starts_with("/v1/") {
                assert!(
                    security.iter().any(|s| s.get("bearer").is_some()),
                    "{at}: not bearer"
                );
            }
            if method == "post" && !op["requestBody"].is_null() {
                let example = &op["requestBody"]["content"]["application/json"]["example"];
                assert!(example.is_object(), "{at}: no request example");
            }
            let success = op["responses"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(status, _)| status.starts_with('2'))
                .unwrap_or_else(|| panic!("{at}: no 2xx"));
            let content = success.1["content"].as_object().unwrap();
            assert!(
                content.values().all(|media| !media["example"].is_null()),
                "{at}: no 2xx example"
            );
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    let name = response["$ref"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{at} {status}: not a problem response"));
                    let name = name.rsplit('/').next().unwrap();
                    let problem = &spec["components"]["responses"][name]["content"]["application/problem+json"];
                    assert!(
                        problem["example"]["code"].is_string(),
                        "{at} {status}: no problem example"
                    );
                }
            }
        }
    }
    assert_eq!(operations, 81);
    let ids: Vec<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(path, item)| {
            path.strip_prefix("/v1/cases/{case_id}/")
                .map(|name| (name, item))
        })
        .filter(|(name, _)| !["incidents", "history", "overview", "audit-export"].contains(name))
        .map(|(name, item)| {
            assert_eq!(
                item["post"]["operationId"],
                name.replace('-', "_"),
                "{name}"
            );
            name
        })
        .collect();
    assert_eq!(ids.len(), 34);
}
