//! The dashboard in a real browser: `anslut serve --demo` on PostgreSQL, and
//! `tests/browser/dashboard.mjs` driving Debian's headless Chromium (`/usr/bin/chromium`, or
//! `ANSLUT_CHROMIUM`) through playwright-core. The script signs in through the page as an
//! officer, a provider, a dashboard and another region's officer, and checks that each page
//! renders its data, the provider sees only its own organisation, the dashboard role no
//! personal data, the Content-Security-Policy holds (no console error, no violation, an
//! injected inline style refused) and `/` answers the dashboard; then, on a second instance
//! configured with `auth.jwks_file` and `auth.oidc_*`, it signs in at a stand-in OpenID
//! Connect issuer (authorization code with PKCE in a pop-up; the issuer checks the verifier
//! and signs with a test key of `api/tests/fixtures`) and finds the development sign-in
//! refused and nothing stored in the browser. Each page's load time is
//! printed (`success-output` is on for this test in `.config/nextest.toml`).
//!
//! playwright-core comes from npm, pinned in `tests/browser/package-lock.json` (`npm ci`,
//! only when `node_modules` does not hold that version); it never downloads a browser.
//! `scripts/test` installs the `chromium` package when it runs as root and it is missing.
//! Without Chromium, Node.js or npm the test fails and says so; it never skips.
//! `ANSLUT_SCREENSHOTS=DIR` keeps a screenshot of every page.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::{Deployment, workspace};

use crate::support::REGION;

/// The browser: Debian's package.
fn chromium() -> PathBuf {
    let path = std::env::var_os("ANSLUT_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.exists(),
        "{} is missing: scripts/test installs Debian's chromium package when run as root \
         (apt-get install chromium), or set ANSLUT_CHROMIUM",
        path.display()
    );
    path
}

/// `tests/browser` with its pinned playwright-core installed.
fn browser_dir() -> PathBuf {
    let dir = workspace().join("tests/browser");
    let lock: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("package-lock.json")).expect("package-lock.json"),
    )
    .expect("package-lock.json is JSON");
    let pinned = lock["packages"]["node_modules/playwright-core"]["version"]
        .as_str()
        .expect("playwright-core is locked")
        .to_owned();
    let installed = std::fs::read_to_string(dir.join("node_modules/playwright-core/package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|package| package["version"].as_str().map(str::to_owned));
    if installed.as_deref() != Some(pinned.as_str()) {
        let npm = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .output()
            .expect("the browser test needs Node.js and npm (npm ci)");
        assert!(
            npm.status.success(),
            "npm ci in {} (is the npm registry reachable?):\n{}",
            dir.display(),
            String::from_utf8_lossy(&npm.stderr)
        );
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_chromium_for_each_role_under_its_policy() {
    let chromium = chromium();
    let dir = browser_dir();
    let deployment = Deployment::postgres().await;
    deployment.forbid_personnummer("19811218-9876");
    let server = deployment.serve_args("dashboard", &["--demo"], &[]).await;

    // Every view's read model has projected the demo (read your writes up to the head).
    let head = deployment.store().await.head().await.unwrap().get();
    let officer = deployment.token("officer", REGION, None);
    for resource in [
        "/v1/cases",
        "/v1/pipeline",
        "/v1/findings",
        "/v1/incidents",
        "/v1/compliance",
        "/v1/staff-commitments",
        "/v1/costs",
    ] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = server
                .client()
                .get(server.url(&format!("{resource}?min_position={head}")))
                .bearer_auth(&officer)
                .send()
                .await
                .unwrap();
            if answer.status() == 200 {
                break;
            }
            assert!(
                answer.status() == 503 && Instant::now() < deadline,
                "{resource}: {}",
                answer.status()
            );
        }
    }

    // A second instance on the same log that signs in at an OpenID Connect issuer (the
    // script's stand-in, on a port chosen here) and verifies its tokens with a JWKS file.
    let issuer_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let issuer = format!("http://127.0.0.1:{issuer_port}");
    let fixtures = workspace().join("api/tests/fixtures");
    let jwks = fixtures.join("jwks.json");
    let oidc_server = deployment
        .serve_args(
            "dashboard-oidc",
            &[],
            &[
                ("ANSLUT_AUTH__JWKS_FILE", jwks.to_str().unwrap()),
                ("ANSLUT_AUTH__ISSUER", &issuer),
                ("ANSLUT_AUTH__OIDC_ISSUER", &issuer),
                ("ANSLUT_AUTH__OIDC_CLIENT_ID", "anslut-dashboard"),
            ],
        )
        .await;

    let started = Instant::now();
    let mut node = Command::new("node");
    node.arg("dashboard.mjs")
        .current_dir(&dir)
        .env("ANSLUT_URL", server.url(""))
        .env("ANSLUT_OIDC_URL", oidc_server.url(""))
        .env("OIDC_PORT", issuer_port.to_string())
        .env("OIDC_KEY", fixtures.join("rsa-private.pem"))
        .env("OIDC_KID", "test-rsa")
        .env("CHROMIUM", &chromium);
    if let Some(screenshots) = std::env::var_os("ANSLUT_SCREENSHOTS") {
        node.env("SCREENSHOTS", screenshots);
    }
    let output = node
        .output()
        .expect("the browser test needs Node.js (node)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!(
        "the browser run took {:.1} s; page load times (from the click to the fragment on the page):",
        started.elapsed().as_secs_f64()
    );
    for line in stdout.lines() {
        if let Ok(line) = serde_json::from_str::<Value>(line)
            && let Some(load) = line.get("load")
        {
            eprintln!(
                "  {:<18} {:<24} {:>5} ms",
                load["role"].as_str().unwrap_or_default(),
                load["view"].as_str().unwrap_or_default(),
                load["ms"].as_u64().unwrap_or_default()
            );
        }
    }
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.log_tail(30)
    );
    assert!(stdout.contains("{\"ok\":true"), "{stdout}");
}
