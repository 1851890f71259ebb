//! The dashboard in a real browser: `anslut serve --demo` on PostgreSQL, and
//! `tests/browser/dashboard.mjs` driving Debian's headless Chromium (`/usr/bin/chromium`, or
//! `ANSLUT_CHROMIUM`) through playwright-core. The script signs in through the page as an
//! officer, a provider, a dashboard and another region's officer, and checks that each page
//! renders its data, the provider sees only its own organisation, the dashboard role no
//! personal data, the Content-Security-Policy holds (no console error, no violation, an
//! injected inline style refused) and `/` answers the dashboard. It also starts a real OpenID
//! Provider, panva's `oidc-provider` (`tests/browser/issuer.mjs`), before this test starts a
//! second instance configured with `auth.oidc_*` and `auth.jwks_url` at the provider's
//! `/jwks`; on it the script signs in at the provider (authorization code with PKCE in a
//! pop-up, the provider's login and consent pages filled in) as Jämtland's and Värmland's
//! officers, and checks the PKCE request, that the provider refused nothing, the development
//! sign-in refused, nothing stored in the browser, Värmland's token not showing Jämtland's
//! cases and that token with its region changed refused by the API. Each page's load time is
//! printed (`success-output` is on for this test in `.config/nextest.toml`).
//!
//! playwright-core and oidc-provider come from npm, pinned in
//! `tests/browser/package-lock.json` (`npm ci`, only when `node_modules` does not hold those
//! versions); playwright-core never downloads a browser.
//! `scripts/test` installs the `chromium` package when it runs as root and it is missing.
//! Without Chromium, Node.js or npm the test fails and says so; it never skips.
//! `ANSLUT_SCREENSHOTS=DIR` keeps a screenshot of every page.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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
    let stale = ["playwright-core", "oidc-provider"].iter().any(|package| {
        let pinned = lock["packages"][format!("node_modules/{package}")]["version"]
            .as_str()
            .unwrap_or_else(|| panic!("{package} is locked"))
            .to_owned();
        let installed =
            std::fs::read_to_string(dir.join(format!("node_modules/{package}/package.json")))
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .and_then(|package| package["version"].as_str().map(str::to_owned));
        installed.as_deref() != Some(pinned.as_str())
    });
    if stale {
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

/// A port free now (the instance and the provider bind it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The browser run; killed if the test stops before it ends.
struct Run(Option<Child>);

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            child.kill().ok();
            child.wait().ok();
        }
    }
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

    // A second instance on the same log that signs in at an OpenID Provider: oidc-provider,
    // which the script starts first (tests/browser/issuer.mjs) on a port chosen here, known as
    // http://localhost:PORT (another site than the dashboard's 127.0.0.1: no shared cookies).
    // The instance verifies tokens with the provider's own keys, fetched from its /jwks, so it
    // starts once the provider serves them, on a port chosen here too (the provider's client
    // names the dashboard's callback).
    let issuer_port = free_port();
    let oidc_port = free_port();
    let issuer = format!("http://localhost:{issuer_port}");
    let jwks = format!("{issuer}/jwks");
    let oidc_url = format!("http://127.0.0.1:{oidc_port}");

    let started = Instant::now();
    let mut node = Command::new("node");
    node.arg("dashboard.mjs")
        .current_dir(&dir)
        .env("ANSLUT_URL", server.url(""))
        .env("ANSLUT_OIDC_URL", &oidc_url)
        .env("OIDC_ISSUER", &issuer)
        .env("OIDC_PORT", issuer_port.to_string())
        .env("CHROMIUM", &chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(screenshots) = std::env::var_os("ANSLUT_SCREENSHOTS") {
        node.env("SCREENSHOTS", screenshots);
    }
    let mut run = Run(Some(
        node.spawn().expect("the browser test needs Node.js (node)"),
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = server.client().get(jwks.as_str()).send().await;
        if answer.is_ok_and(|answer| answer.status() == 200) {
            break;
        }
        if let Some(child) = run.0.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            let output = run.0.take().unwrap().wait_with_output().unwrap();
            panic!(
                "the browser test ended ({status}) before the provider served {jwks}:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert!(
            Instant::now() < deadline,
            "oidc-provider did not serve {jwks}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let port = oidc_port.to_string();
    let oidc_server = deployment
        .serve_args(
            "dashboard-oidc",
            &["--port", &port],
            &[
                ("ANSLUT_AUTH__JWKS_URL", &jwks),
                ("ANSLUT_AUTH__ALLOW_LOOPBACK_HTTP_JWKS", "true"),
                ("ANSLUT_AUTH__ISSUER", &issuer),
                ("ANSLUT_AUTH__OIDC_ISSUER", &issuer),
                ("ANSLUT_AUTH__OIDC_CLIENT_ID", "anslut-dashboard"),
            ],
        )
        .await;
    assert_eq!(oidc_server.url(""), oidc_url);
    let output = run
        .0
        .take()
        .unwrap()
        .wait_with_output()
        .expect("the browser test's output");
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
                "  {:<21} {:<29} {:>5} ms",
                load["role"].as_str().unwrap_or_default(),
                load["view"].as_str().unwrap_or_default(),
                load["ms"].as_u64().unwrap_or_default()
            );
        }
    }
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{}\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.log_tail(30),
        oidc_server.log_tail(30)
    );
    assert!(stdout.contains("{\"ok\":true"), "{stdout}");
}
