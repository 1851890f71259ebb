//! Schemathesis (property-based API testing from the OpenAPI document) against a running
//! server: every operation of the served `/openapi.json`, with `--checks all`, as an officer,
//! a provider with its organisation, region IT and an auditor, with a seeded case so that
//! operations on a case reach a real one. No check may fail.
//!
//! Schemathesis comes from PyPI, pinned, into a virtual environment under
//! `$HOME/.cache/anslut` that later runs reuse. Without PyPI the test fails and says so; it
//! never skips.
//!
//! One exception by operation: `use_after_free` does not hold for the reads of a webhook
//! subscription. `DELETE /v1/webhooks/subscriptions/{id}` deactivates the subscription for good
//! and answers it as it now stands; the subscription and its delivery log stay readable, as the
//! spec documents, because a region's integration team must be able to see what was delivered
//! before it was switched off. Every other read after a DELETE is checked.
//!
//! `positive_data_acceptance` (a request valid by the schema is accepted) runs too: every
//! parameter, header and body field the server parses has the `pattern`, `format`, length and
//! enum of what it accepts (`If-Match` as RFC 9110's entity-tag list, `Idempotency-Key`,
//! cursors, slugs, requirement ids, text, e-mail and phone; the catalogue paths' `programme`
//! lists the programmes, so it is not pinned here), and `as_of` with `as_of_position` is a
//! conjunction, not an error. What the check accepts beyond a 2xx is what no schema can know:
//! 401, 403 and 404 for who the caller is (404 also for a resource of another region or
//! organisation), 409 and 412 for the state of the resource (a command in the wrong phase; a
//! stale `If-Match`, or one naming no version the server gave), 422 for the domain's rules (a
//! date in the past, an unknown service package, a `min_position` beyond the log, an
//! `Idempotency-Key` reused with another body) and 429 for the rate limits. Never 400: a 400
//! is the server refusing what its own schema admits.
//!
//! Three formats carry a check digit (Luhn) that no pattern expresses: `organisationsnummer`,
//! `personnummer` (also a real, past birth date) and `hsa-id` (an organisationsnummer inside).
//! The spec names them as `format`s beside the pattern of their shape; the run registers a
//! generator for each (a Schemathesis hook, [`HOOKS`]) so that its valid values are valid.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::support::{ORG, REGION, application};
use serde_json::Value;
use tests::{Deployment, Server};

/// Generators for the spec's own string formats, as a Schemathesis hooks file: each draws
/// values the server's parser accepts (check digit, real past birth date).
const HOOKS: &str = r#"# Written by tests/tests/system/schemathesis.rs.
import datetime

import schemathesis
from hypothesis import strategies as st


def luhn(digits):
    """The check digit of nine digits, as Swedish identity numbers compute it."""
    total = 0
    for i, digit in enumerate(digits):
        value = digit * (2 if i % 2 == 0 else 1)
        total += value // 10 + value % 10
    return (10 - total % 10) % 10


def digits(count, low=0):
    return st.lists(st.integers(low, 9), min_size=count, max_size=count)


@st.composite
def org_digits(draw):
    """Ten digits of an organisationsnummer: the third digit 2 or more, then the check digit."""
    nine = draw(digits(2)) + [draw(st.integers(2, 9))] + draw(digits(6))
    return "".join(map(str, nine)) + str(luhn(nine))


@st.composite
def organisationsnummer(draw):
    ten = draw(org_digits())
    prefix = draw(st.sampled_from(["", "16"]))
    dash = draw(st.sampled_from(["", "-"]))
    return prefix + ten[:6] + dash + ten[6:]


@st.composite
def personnummer(draw):
    born = draw(st.dates(datetime.date(1930, 1, 1), datetime.date(2005, 12, 31)))
    day = born.day + draw(st.sampled_from([0, 60]))  # a samordningsnummer adds 60
    nine = [int(c) for c in f"{born.year % 100:02}{born.month:02}{day:02}"] + draw(digits(3))
    ten = "".join(map(str, nine)) + str(luhn(nine))
    dash = draw(st.sampled_from(["", "-"]))
    return f"{born.year // 100}" + ten[:6] + dash + ten[6:]


@st.composite
def hsa_id(draw):
    local = draw(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=18))
    return "SE" + draw(org_digits()) + "-" + local


schemathesis.openapi.format("organisationsnummer", organisationsnummer())
schemathesis.openapi.format("personnummer", personnummer())
schemathesis.openapi.format("hsa-id", hsa_id())
"#;

/// The Schemathesis release the test runs; change it deliberately.
const VERSION: &str = "4.32.5";
/// Per role: at most this many generated cases per operation, and this many seconds.
const MAX_EXAMPLES: &str = "8";
const MAX_SECONDS: &str = "25";

/// `bin/schemathesis` of the pinned release, installing it on first use.
fn schemathesis() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    let venv = Path::new(&home)
        .join(".cache/anslut")
        .join(format!("schemathesis-{VERSION}"));
    let binary = venv.join("bin/schemathesis");
    let installed = Command::new(&binary)
        .arg("--version")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains(VERSION));
    if installed {
        return binary;
    }
    let python = ["python3", "python"]
        .into_iter()
        .find(|python| {
            Command::new(python)
                .args(["-m", "venv", "--help"])
                .output()
                .is_ok_and(|output| output.status.success())
        })
        .expect("schemathesis needs Python 3 with venv (python3 -m venv) to be installed");
    let created = Command::new(python)
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .output()
        .expect("running python3 -m venv");
    assert!(
        created.status.success(),
        "creating {}: {}",
        venv.display(),
        String::from_utf8_lossy(&created.stderr)
    );
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("schemathesis=={VERSION}"))
        .output()
        .expect("running pip");
    assert!(
        pip.status.success(),
        "could not install schemathesis {VERSION} from PyPI into {} (is PyPI reachable?):\n{}",
        venv.display(),
        String::from_utf8_lossy(&pip.stderr)
    );
    binary
}

/// A case submitted by the provider, for the operations that take a `case_id`.
async fn seed_case(server: &Server, provider: &str) -> String {
    let submitted = server
        .client()
        .post(server.url("/v1/cases"))
        .bearer_auth(provider)
        .header("Idempotency-Key", "schemathesis-seed")
        .json(&application())
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 201);
    let body: Value = submitted.json().await.unwrap();
    body["case_id"].as_str().unwrap().to_owned()
}

/// What one role's run found: the cases generated, and the summary when a check failed.
struct Run {
    role: &'static str,
    cases: u64,
    failed: Option<String>,
}

fn run(
    binary: &Path,
    server: &Server,
    dir: &Path,
    config: &Path,
    role: &'static str,
    token: &str,
) -> Run {
    let report = dir.join(format!("{role}.json"));
    let output = Command::new(binary)
        .arg("--config-file")
        .arg(config)
        .args(["run", &server.url("/openapi.json")])
        // Which checks run is in the configuration file, not on the command line: a check
        // named there would override the per-operation exception written in the file.
        .args(["--max-examples", MAX_EXAMPLES])
        .args([
            "--max-time",
            MAX_SECONDS,
            // One worker: Hypothesis's lambda-source cache is not thread-safe under
            // Python 3.11 and fails runs at random ("AST constructor recursion depth mismatch").
            "--workers",
            "1",
            "--seed",
            "20260501",
        ])
        .args([
            // Longer than the feed's longest long-poll (`wait` up to 30 s).
            "--request-timeout",
            "35",
            "--no-shrink",
            "--warnings",
            "off",
        ])
        .args(["--report", "json", "--report-json-path"])
        .arg(&report)
        .arg("--header")
        .arg(format!("Authorization: Bearer {token}"))
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", dir.join("hooks.py"))
        .current_dir(dir)
        .output()
        .expect("running schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let cases = stdout
        .lines()
        .find_map(|line| {
            let line = line.trim();
            let generated = line.split(" generated").next()?;
            line.contains(" generated")
                .then(|| generated.trim().parse().ok())?
        })
        .unwrap_or(0);
    let failed = (!output.status.success()).then(|| {
        let summary = stdout
            .find("=== FAILURES ===")
            .or_else(|| stdout.find("FAILURES"))
            .map_or(stdout.as_str(), |at| &stdout[at..]);
        format!("{summary}\n{}", String::from_utf8_lossy(&output.stderr))
    });
    Run {
        role,
        cases,
        failed,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_conforms_to_the_published_spec_for_every_role() {
    let binary = schemathesis();
    let deployment = Deployment::postgres().await;
    // Schemathesis sends many requests without a valid token from one address, on purpose:
    // the failed-authentication limit would turn the rest of its run into 429s.
    let server = deployment
        .serve_with("api", &[("ANSLUT_LIMITS__FAILED_AUTH_PER_MINUTE", "0")])
        .await;
    let provider = deployment.token("provider", REGION, Some(ORG));
    let case = seed_case(&server, &provider).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hooks.py"), HOOKS).unwrap();
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "# Written by tests/tests/system/schemathesis.rs.\n\
             [parameters]\n\
             \"path.case_id\" = \"{case}\"\n\
             # The feed's long-poll: a short one, or it would spend a role's time budget.\n\
             \"query.wait\" = 1\n\
             \n\
             # Every check (see the module's documentation).\n\
             [checks]\n\
             enabled = true\n\
             \n\
             # What a valid request may still meet: the caller (401, 403, 404), the state\n\
             # (409, 412), the domain's rules (422), the rate limits (429). Never 400.\n\
             [checks.positive_data_acceptance]\n\
             expected-statuses = [\"2xx\", \"401\", \"403\", \"404\", \"409\", \"412\", \"422\", \"429\"]\n\
             \n\
             # A command without If-Match is 428 Precondition Required (RFC 6585), by design.\n\
             [checks.missing_required_header]\n\
             expected-statuses = [\"400\", \"401\", \"403\", \"406\", \"415\", \"422\", \"428\"]\n\
             \n\
             # DELETE of a webhook subscription deactivates it: the subscription and its\n\
             # delivery log stay readable (see the module's documentation).\n\
             [[operations]]\n\
             include-path-regex = \"^/v1/webhooks/subscriptions/\"\n\
             include-method = \"GET\"\n\
             checks.use_after_free.enabled = false\n\
             \n\
"
        ),
    )
    .unwrap();

    let roles = [
        ("officer", deployment.token("officer", REGION, None)),
        ("provider", provider.clone()),
        ("region_it", deployment.token("region_it", REGION, None)),
        ("auditor", deployment.token("auditor", REGION, None)),
    ];
    let started = Instant::now();
    let runs: Vec<Run> = roles
        .iter()
        .map(|(role, token)| run(&binary, &server, dir.path(), &config, role, token))
        .collect();
    let cases: u64 = runs.iter().map(|run| run.cases).sum();
    eprintln!(
        "schemathesis {VERSION}: {cases} cases in {:?} ({})",
        started.elapsed(),
        runs.iter()
            .map(|run| format!("{}: {}", run.role, run.cases))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let failures: Vec<String> = runs
        .iter()
        .filter_map(|run| {
            run.failed
                .as_ref()
                .map(|failed| format!("--- as {}:\n{failed}", run.role))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(cases > 0, "schemathesis generated no cases");
}
