//! The audit endpoints over HTTP, checked by a verifier written here from RFC 9162 §2.1 and
//! the C2SP signed-note and checkpoint formats — not the `audit` crate's code.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fixtures::{report_incident, staff_commitments, submit_dalarna};
use crate::helpers::{JAMTLAND, TestApp, spawn_app, spawn_with};

type Hash = [u8; 32];

/// An RFC 6962 / RFC 9162 §2.1 verifier and a C2SP note reader, independent of the server.
mod independent {
    use super::*;

    pub fn sha256(parts: &[&[u8]]) -> Hash {
        let mut digest = Sha256::new();
        for part in parts {
            digest.update(part);
        }
        digest.finalize().into()
    }

    pub fn leaf(data: &[u8]) -> Hash {
        sha256(&[&[0x00], data])
    }

    pub fn node(left: &Hash, right: &Hash) -> Hash {
        sha256(&[&[0x01], left, right])
    }

    /// RFC 9162 §2.1.3.2.
    pub fn verify_inclusion(
        index: u64,
        size: u64,
        leaf_hash: Hash,
        path: &[Hash],
        root: &Hash,
    ) -> bool {
        if index >= size {
            return false;
        }
        let (mut fnode, mut snode) = (index, size - 1);
        let mut r = leaf_hash;
        for p in path {
            if snode == 0 {
                return false;
            }
            if fnode % 2 == 1 || fnode == snode {
                r = node(p, &r);
                if fnode % 2 == 0 {
                    while fnode % 2 == 0 && fnode != 0 {
                        fnode >>= 1;
                        snode >>= 1;
                    }
                }
            } else {
                r = node(&r, p);
            }
            fnode >>= 1;
            snode >>= 1;
        }
        snode == 0 && r == *root
    }

    /// RFC 9162 §2.1.4.2.
    pub fn verify_consistency(
        first: u64,
        second: u64,
        first_root: &Hash,
        second_root: &Hash,
        proof: &[Hash],
    ) -> bool {
        if first == 0 || first > second {
            return false;
        }
        if first == second {
            return proof.is_empty() && first_root == second_root;
        }
        let mut path: Vec<Hash> = proof.to_vec();
        if first.is_power_of_two() {
            path.insert(0, *first_root);
        }
        let (mut fnode, mut snode) = (first - 1, second - 1);
        while fnode % 2 == 1 {
            fnode >>= 1;
            snode >>= 1;
        }
        let Some((head, rest)) = path.split_first() else {
            return false;
        };
        let (mut fr, mut sr) = (*head, *head);
        for c in rest {
            if snode == 0 {
                return false;
            }
            if fnode % 2 == 1 || fnode == snode {
                fr = node(c, &fr);
                sr = node(c, &sr);
                if fnode % 2 == 0 {
                    while fnode % 2 == 0 && fnode != 0 {
                        fnode >>= 1;
                        snode >>= 1;
                    }
                }
            } else {
                sr = node(&sr, c);
            }
            fnode >>= 1;
            snode >>= 1;
        }
        snode == 0 && fr == *first_root && sr == *second_root
    }

    /// A `vkey`: `name+hex(key id)+base64(0x01 || key)`, with the key id checked.
    pub fn parse_vkey(vkey: &str) -> (String, [u8; 4], VerifyingKey) {
        let mut parts = vkey.trim().splitn(3, '+');
        let name = parts.next().unwrap().to_owned();
        let id: [u8; 4] = hex::decode(parts.next().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let typed = BASE64.decode(parts.next().unwrap()).unwrap();
        assert_eq!(typed[0], 0x01, "an Ed25519 key");
        let key = VerifyingKey::from_bytes(&typed[1..].try_into().unwrap()).unwrap();
        let expected = sha256(&[name.as_bytes(), b"\n", &[0x01], key.as_bytes()]);
        assert_eq!(
            id,
            expected[..4],
            "the key id is SHA-256(name, 0x0A, 0x01, key)[..4]"
        );
        (name, id, key)
    }

    /// Opens a signed checkpoint note with the key; `(origin, size, root)`.
    pub fn open_checkpoint(note: &str, vkey: &str) -> (String, u64, Hash) {
        let (name, id, key) = parse_vkey(vkey);
        let split = note
            .rfind("\n\n")
            .expect("a blank line before the signatures");
        let (text, signatures) = (&note[..=split], &note[split + 2..]);
        let line = signatures
            .lines()
            .find(|line| line.starts_with(&format!("\u{2014} {name} ")))
            .expect("a signature line by the key's name");
        let blob = BASE64.decode(line.rsplit(' ').next().unwrap()).unwrap();
        assert_eq!(blob[..4], id, "the signature names the key id");
        let signature = Signature::from_bytes(&blob[4..].try_into().unwrap());
        key.verify_strict(text.as_bytes(), &signature)
            .expect("the checkpoint's signature verifies");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "origin, size, root");
        assert_eq!(lines[0], name, "the origin is the key's name");
        let root: Hash = BASE64.decode(lines[2]).unwrap().try_into().unwrap();
        (lines[0].to_owned(), lines[1].parse().unwrap(), root)
    }

    pub fn hashes(values: &Value) -> Vec<Hash> {
        values
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                BASE64
                    .decode(h.as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap()
            })
            .collect()
    }
}

async fn public_key(app: &TestApp) -> String {
    let answer = app
        .send(
            app.client
                .get(format!("{}/.well-known/anslut-checkpoint-key", app.address)),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    answer.text
}

/// The signed checkpoint of `size` events, fetched and opened with the well-known key.
async fn signed_root(app: &TestApp, token: &str, vkey: &str, size: u64) -> Hash {
    let answer = app
        .get(&format!("/v1/audit/checkpoints/{size}"), token)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let (_, signed_size, root) = independent::open_checkpoint(&answer.text, vkey);
    assert_eq!(signed_size, size);
    root
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_from_the_api_verify_against_signed_checkpoints_independently() {
    let app = spawn_app().await;
    let auditor = app.token("auditor", JAMTLAND, None);
    let vkey = public_key(&app).await;
    assert!(vkey.ends_with('\n'));
    let (origin, _, _) = independent::parse_vkey(&vkey);
    assert_eq!(origin, "anslut.localhost/development");

    // The first checkpoint, then more events and a second one.
    let case = app.establishment_case().await;
    staff_commitments(&app, &case, 4).await;
    let first = app.state.audit.checkpoint_now().await.unwrap().unwrap();
    let incident = report_incident(&app, &case).await;
    staff_commitments(&app, &case, 6).await;
    submit_dalarna(&app).await;
    let second = app.state.audit.checkpoint_now().await.unwrap().unwrap();
    assert!(second.tree_size > first.tree_size);

    // The latest checkpoint: the note as text, or JSON on request.
    let latest = app.get("/v1/audit/checkpoint", &auditor).await;
    assert_eq!(latest.status, 200, "{}", latest.text);
    assert_eq!(
        latest.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    let (_, size, root) = independent::open_checkpoint(&latest.text, &vkey);
    assert_eq!(size, second.tree_size);
    let json = app
        .send(
            app.client
                .get(format!("{}/v1/audit/checkpoint", app.address))
                .bearer_auth(&auditor)
                .header("Accept", "application/json"),
        )
        .await;
    assert_eq!(json.status, 200, "{}", json.text);
    let json = json.json();
    assert_eq!(json["tree_size"], second.tree_size);
    assert_eq!(json["root"], BASE64.encode(root));
    assert_eq!(json["note"], latest.text);
    assert_eq!(json["origin"], origin);

    // Inclusion proofs of several events (case and incident, first and last) in both trees.
    let history = app
        .get(&format!("/v1/cases/{case}/history"), &auditor)
        .await
        .json();
    let incident_history = app
        .get(&format!("/v1/incidents/{incident}/history"), &auditor)
        .await
        .json();
    let mut events: Vec<Value> = history["events"].as_array().unwrap().clone();
    events.extend(
        incident_history["events"]
            .as_array()
            .unwrap()
            .iter()
            .cloned(),
    );
    let mut proven = 0;
    for (tree_size, signed) in [(first.tree_size, false), (second.tree_size, true)] {
        let root = signed_root(&app, &auditor, &vkey, tree_size).await;
        for event in &events {
            let position = event["position"].as_u64().unwrap();
            if position > tree_size {
                continue;
            }
            // The default tree is the latest checkpoint's.
            let path = if signed {
                format!("/v1/audit/proofs/inclusion?position={position}")
            } else {
                format!("/v1/audit/proofs/inclusion?position={position}&tree_size={tree_size}")
            };
            let proof = app.get(&path, &auditor).await;
            assert_eq!(proof.status, 200, "{}", proof.text);
            let proof = proof.json();
            assert_eq!(proof["tree_size"], tree_size);
            assert_eq!(proof["leaf_index"], position - 1);
            assert_eq!(proof["event_id"], event["event_id"]);
            assert_eq!(proof["version"], event["version"]);
            let chain_hash = hex::decode(proof["chain_hash"].as_str().unwrap()).unwrap();
            let leaf = independent::leaf(&chain_hash);
            assert_eq!(proof["leaf_hash"], BASE64.encode(leaf));
            let path = independent::hashes(&proof["hashes"]);
            assert!(
                independent::verify_inclusion(position - 1, tree_size, leaf, &path, &root),
                "the event at {position} is in the tree of {tree_size}"
            );
            // A proof for one event does not prove another.
            let other = independent::leaf(b"a forged event");
            assert!(!independent::verify_inclusion(
                position - 1,
                tree_size,
                other,
                &path,
                &root
            ));
            proven += 1;
        }
    }
    assert!(proven >= 20, "{proven} proofs checked");

    // The second tree extends the first.
    let first_root = signed_root(&app, &auditor, &vkey, first.tree_size).await;
    let second_root = signed_root(&app, &auditor, &vkey, second.tree_size).await;
    for path in [
        format!(
            "/v1/audit/proofs/consistency?from={}&to={}",
            first.tree_size, second.tree_size
        ),
        format!("/v1/audit/proofs/consistency?from={}", first.tree_size),
    ] {
        let proof = app.get(&path, &auditor).await;
        assert_eq!(proof.status, 200, "{}", proof.text);
        let hashes = independent::hashes(&proof.json()["hashes"]);
        assert!(independent::verify_consistency(
            first.tree_size,
            second.tree_size,
            &first_root,
            &second_root,
            &hashes
        ));
        assert!(!independent::verify_consistency(
            first.tree_size,
            second.tree_size,
            &independent::leaf(b"another history"),
            &second_root,
            &hashes
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_reads_refuse_providers_foreign_events_and_sizes_outside_the_tree() {
    let app = spawn_app().await;
    let auditor = app.token("auditor", JAMTLAND, None);
    app.get("/v1/audit/checkpoint", &auditor)
        .await
        .assert_problem(404, "not_found");
    let case = app.submit_jamtland().await;
    let dalarna_case = submit_dalarna(&app).await;
    let checkpoint = app.state.audit.checkpoint_now().await.unwrap().unwrap();
    let size = checkpoint.tree_size;
    let first_position = |case: String, token: String| {
        let app = &app;
        async move {
            app.get(&format!("/v1/cases/{case}/history"), &token)
                .await
                .json()["events"][0]["position"]
                .as_u64()
                .unwrap()
        }
    };
    let own = first_position(case, auditor.clone()).await;
    let dalarna_officer = app.token("officer", "dalarna", None);
    let foreign = first_position(dalarna_case, dalarna_officer.clone()).await;

    // Providers and dashboards may not read the audit trail at all.
    for token in [app.provider(), app.token("dashboard", JAMTLAND, None)] {
        for path in [
            "/v1/audit/checkpoint".to_owned(),
            format!("/v1/audit/checkpoints/{size}"),
            format!("/v1/audit/proofs/inclusion?position={own}"),
            "/v1/audit/proofs/consistency?from=1".to_owned(),
        ] {
            app.get(&path, &token)
                .await
                .assert_problem(403, "forbidden");
        }
    }
    // An event of another region's case is not provable to this region: 404, like a
    // position without an event.
    app.get(
        &format!("/v1/audit/proofs/inclusion?position={foreign}"),
        &auditor,
    )
    .await
    .assert_problem(404, "not_found");
    let theirs = app
        .get(
            &format!("/v1/audit/proofs/inclusion?position={foreign}"),
            &dalarna_officer,
        )
        .await;
    assert_eq!(theirs.status, 200, "{}", theirs.text);
    for position in [0, size + 1000] {
        app.get(
            &format!("/v1/audit/proofs/inclusion?position={position}"),
            &auditor,
        )
        .await
        .assert_problem(404, "not_found");
    }
    // Sizes outside the tree: 422 out_of_range.
    for path in [
        format!(
            "/v1/audit/proofs/inclusion?position={own}&tree_size={}",
            own - 1
        ),
        format!(
            "/v1/audit/proofs/inclusion?position={own}&tree_size={}",
            size + 1000
        ),
        format!("/v1/audit/proofs/consistency?from={}&to={size}", size + 1),
        "/v1/audit/proofs/consistency?from=0".to_owned(),
        format!("/v1/audit/proofs/consistency?from=1&to={}", size + 1000),
    ] {
        app.get(&path, &auditor)
            .await
            .assert_problem(422, "out_of_range");
    }
    // A size without a checkpoint: 404; a malformed one: 400.
    app.get(&format!("/v1/audit/checkpoints/{}", size + 1000), &auditor)
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/audit/checkpoints/many", &auditor)
        .await
        .assert_problem(400, "invalid_path");
    // Officers, region IT and integrations read it as auditors do.
    for role in ["officer", "region_it", "integration"] {
        let answer = app
            .get(
                &format!("/v1/audit/checkpoints/{size}"),
                &app.token(role, JAMTLAND, None),
            )
            .await;
        assert_eq!(answer.status, 200, "{role}: {}", answer.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_signs_checkpoints_on_its_interval() {
    let app = spawn_with(store::testing::TestDatabase::postgres().await, |settings| {
        settings.audit.checkpoint_interval_seconds = 1;
        settings.audit.poll_interval_milliseconds = 100;
    })
    .await;
    let auditor = app.token("auditor", JAMTLAND, None);
    let vkey = public_key(&app).await;
    app.submit_jamtland().await;
    let first = wait_for_checkpoint(&app, &auditor, 1).await;
    let (_, first_size, _) = independent::open_checkpoint(&first, &vkey);
    assert_eq!(first_size, app.head().await);
    app.establishment_case().await;
    let head = app.head().await;
    let later = wait_for_checkpoint(&app, &auditor, head).await;
    let (_, later_size, _) = independent::open_checkpoint(&later, &vkey);
    assert_eq!(later_size, head);
}

/// Polls the latest checkpoint until it covers `size` events (10 s at most).
async fn wait_for_checkpoint(app: &TestApp, token: &str, size: u64) -> String {
    for _ in 0..100 {
        let answer = app.get("/v1/audit/checkpoint", token).await;
        if answer.status == 200 && answer.text.lines().nth(1) == Some(&size.to_string()) {
            return answer.text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no checkpoint of {size} events within 10 s");
}
