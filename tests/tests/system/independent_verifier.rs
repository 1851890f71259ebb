//! The independent verifier (`docs/verify/verify.py`, Python with one Ed25519 package)
//! against a real server: a case with personal data is recorded, its audit export and the
//! checkpoint key are fetched over HTTP, and the verifier finds it intact; one byte changed
//! in a payload string, it names the line. Anslut's own `audit verify-export` agrees.
//!
//! The verifier's one dependency comes from PyPI, pinned in `docs/verify/requirements.txt`,
//! into a virtual environment under `$HOME/.cache/anslut` that later runs reuse (as the
//! Schemathesis test does). Without PyPI the test fails and says so; it never skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{ORG, REGION, application};
use serde_json::{Value, json};
use tests::{Deployment, Server, workspace};

/// `bin/python` of a virtual environment with `docs/verify/requirements.txt` installed.
fn verifier_python() -> PathBuf {
    let requirements = workspace().join("docs/verify/requirements.txt");
    let pinned = std::fs::read_to_string(&requirements).expect("reading requirements.txt");
    let tag: String = pinned
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let home = std::env::var_os("HOME").expect("HOME is set");
    let venv = Path::new(&home)
        .join(".cache/anslut")
        .join(format!("verify-{tag}"));
    let python = venv.join("bin/python");
    let ready = venv.join("installed");
    if ready.exists() {
        return python;
    }
    let created = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .output()
        .expect("the verifier needs Python 3 with venv (python3 -m venv)");
    assert!(
        created.status.success(),
        "creating {}: {}",
        venv.display(),
        String::from_utf8_lossy(&created.stderr)
    );
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&requirements)
        .output()
        .expect("running pip");
    assert!(
        pip.status.success(),
        "could not install {} from PyPI into {} (is PyPI reachable?):\n{}",
        pinned.trim(),
        venv.display(),
        String::from_utf8_lossy(&pip.stderr)
    );
    std::fs::write(&ready, pinned).unwrap();
    python
}

fn verify(python: &Path, args: &[&str]) -> Output {
    Command::new(python)
        .arg(workspace().join("docs/verify/verify.py"))
        .args(args)
        .output()
        .expect("running verify.py")
}

async fn post(server: &Server, path: &str, token: &str, body: &Value) -> Value {
    let answer = server
        .client()
        .post(server.url(path))
        .bearer_auth(token)
        .header("If-Match", "*")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let body: Value = answer.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

async fn get(server: &Server, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = server.client().get(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.unwrap();
    assert_eq!(answer.status(), 200, "{path}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_verifier_checks_an_http_export_and_names_a_changed_byte() {
    let python = verifier_python();
    let deployment = Deployment::postgres().await;
    let server = deployment.serve("api").await;
    let provider = deployment.token("provider", REGION, Some(ORG));
    let officer = deployment.token("officer", REGION, None);
    let auditor = deployment.token("auditor", REGION, None);

    // A case naming two people (personal data, sealed in the store), approved.
    let submitted = post(&server, "/v1/cases", &provider, &application()).await;
    let case = submitted["case_id"].as_str().unwrap().to_owned();
    post(
        &server,
        &format!("/v1/cases/{case}/approve-application"),
        &officer,
        &json!({"reason": "The application is complete."}),
    )
    .await;

    // Over HTTP, as an auditor would: the key (public) and the export.
    let key = get(&server, "/.well-known/anslut-checkpoint-key", None)
        .await
        .text()
        .await
        .unwrap();
    let export_path = format!("/v1/cases/{case}/audit-export");
    let answer = get(&server, &export_path, Some(&auditor)).await;
    assert_eq!(
        answer.headers()["content-type"].to_str().unwrap(),
        "application/jsonl"
    );
    let export = answer.text().await.unwrap();
    let lines: Vec<&str> = export.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two events:\n{export}");
    assert!(
        !export.contains("Karin Lindqvist") && export.contains("\"sealed\""),
        "the export holds the payload as stored, personal data sealed:\n{export}"
    );

    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("checkpoint-key");
    std::fs::write(&key_file, &key).unwrap();
    let export_file = dir.path().join("case.audit.jsonl");
    std::fs::write(&export_file, &export).unwrap();
    let key_file = key_file.to_str().unwrap();
    let export_file = export_file.to_str().unwrap();

    // The verifier fetches both itself, and checks the saved copy.
    let over_http = verify(
        &python,
        &[
            &server.url(&export_path),
            "--key",
            &server.url("/.well-known/anslut-checkpoint-key"),
            "--token",
            &auditor,
        ],
    );
    let stdout = String::from_utf8_lossy(&over_http.stdout);
    assert!(
        over_http.status.success() && stdout.starts_with("intact"),
        "verify.py over HTTP: {stdout}{}",
        String::from_utf8_lossy(&over_http.stderr)
    );
    let saved = verify(&python, &[export_file, "--key", key_file]);
    assert!(
        saved.status.success(),
        "verify.py on the saved export: {}{}",
        String::from_utf8_lossy(&saved.stdout),
        String::from_utf8_lossy(&saved.stderr)
    );
    let anslut = deployment.anslut(&["audit", "verify-export", export_file, "--key", key_file]);
    assert!(
        anslut.status.success(),
        "anslut audit verify-export: {}",
        String::from_utf8_lossy(&anslut.stdout)
    );

    // One byte of a payload string changed on the first event's line ("Vårdcentral" →
    // "Wårdcentral"): the verifier names line 2 and exits 1.
    let at = export
        .find("Vårdcentral")
        .expect("the unit's name is in the payload");
    assert_eq!(
        export[..at].matches('\n').count(),
        1,
        "the name is on line 2"
    );
    let mut tampered = export.clone().into_bytes();
    tampered[at] = b'W';
    std::fs::write(export_file, &tampered).unwrap();
    let caught = verify(&python, &[export_file, "--key", key_file]);
    let stdout = String::from_utf8_lossy(&caught.stdout);
    assert_eq!(
        caught.status.code(),
        Some(1),
        "verify.py must refuse the changed export: {stdout}{}",
        String::from_utf8_lossy(&caught.stderr)
    );
    assert!(
        stdout.contains("NOT INTACT: line 2 ") && stdout.contains("altered"),
        "{stdout}"
    );
    let anslut = deployment.anslut(&["audit", "verify-export", export_file, "--key", key_file]);
    assert_eq!(anslut.status.code(), Some(1));

    // A byte that makes the line invalid UTF-8 is named too.
    tampered[at] = 0xff;
    std::fs::write(export_file, &tampered).unwrap();
    let caught = verify(&python, &[export_file, "--key", key_file]);
    let stdout = String::from_utf8_lossy(&caught.stdout);
    assert_eq!(caught.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("NOT INTACT: line 2: not UTF-8"), "{stdout}");

    // One byte of the checkpoint's signature changed: the note no longer verifies.
    let mut header: Value = serde_json::from_str(lines[0]).unwrap();
    let note = header["checkpoint"].as_str().unwrap();
    let signature = note.rfind(' ').unwrap() + 1;
    let mut forged = note.to_owned().into_bytes();
    forged[signature + 10] = if forged[signature + 10] == b'A' {
        b'B'
    } else {
        b'A'
    };
    header["checkpoint"] = Value::String(String::from_utf8(forged).unwrap());
    let mut forged = serde_json::to_string(&header).unwrap();
    for line in &lines[1..] {
        forged.push('\n');
        forged.push_str(line);
    }
    forged.push('\n');
    assert_ne!(forged, export);
    std::fs::write(export_file, forged).unwrap();
    let caught = verify(&python, &[export_file, "--key", key_file]);
    let stdout = String::from_utf8_lossy(&caught.stdout);
    assert_eq!(caught.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("NOT INTACT: the checkpoint"), "{stdout}");

    // Another region's auditor gets no export: 404, as for a case that does not exist.
    let foreign = deployment.token("auditor", "dalarna", None);
    let answer = server
        .client()
        .get(server.url(&export_path))
        .bearer_auth(&foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    assert!(!answer.text().await.unwrap().contains("sealed"));
}
