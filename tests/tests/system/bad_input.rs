//! Hostile and broken requests against the real binary. Every one is answered with a
//! problem+json refusal and a stable code (never a 500), or, below HTTP, cut off by the
//! server's timeouts; the server keeps serving others meanwhile, and is still up and ready
//! at the end.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::{Deployment, Server};

use crate::support::{ORG, OTHER_ORG, REGION, application, personnummer, staff_commitment};

/// The server's time limits in this test (the defaults are 5 s and 30 s).
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const BODY_TIMEOUT: Duration = Duration::from_secs(2);
/// How much later than its limit a slow client may be cut off.
const MARGIN: Duration = Duration::from_secs(3);
const BODY_LIMIT: usize = 256 * 1024;

/// A request and the refusal it must get.
struct Case {
    what: &'static str,
    request: reqwest::RequestBuilder,
    /// Acceptable statuses (the first is the documented one).
    statuses: &'static [u16],
    /// The problem's code, when it is fixed.
    code: Option<&'static str>,
}

/// Sends `case` and checks the refusal: its status, problem+json, the code; never a 5xx.
async fn refused(case: Case) -> Value {
    let response = case.request.send().await.unwrap_or_else(|error| {
        panic!("{}: no answer: {error}", case.what);
    });
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let challenge = response.headers().get("www-authenticate").cloned();
    let text = response.text().await.unwrap_or_default();
    assert!(
        case.statuses.contains(&status.as_u16()),
        "{}: {status} {text}",
        case.what
    );
    assert_eq!(
        content_type, "application/problem+json",
        "{}: {text}",
        case.what
    );
    let problem: Value = serde_json::from_str(&text).expect("a problem body");
    assert_eq!(problem["status"], status.as_u16(), "{}", case.what);
    if let Some(code) = case.code {
        assert_eq!(problem["code"], code, "{}: {text}", case.what);
    }
    if status == StatusCode::UNAUTHORIZED {
        let challenge = challenge.unwrap_or_else(|| panic!("{}: no WWW-Authenticate", case.what));
        assert!(
            challenge.to_str().unwrap().starts_with("Bearer"),
            "{}",
            case.what
        );
    }
    problem
}

/// Writes `head` to a raw connection, then `then` one byte each `pace`; returns the status
/// line the server answered with (if any) and how long until it closed the connection.
fn slow_client(
    address: &str,
    head: &[u8],
    then: &[u8],
    pace: Duration,
) -> (Option<String>, Duration) {
    let mut stream = TcpStream::connect(address.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(pace)).unwrap();
    let started = Instant::now();
    stream.write_all(head).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    let mut rest = then.iter();
    loop {
        assert!(
            started.elapsed() < HEADER_TIMEOUT + BODY_TIMEOUT + MARGIN * 2,
            "the server never cut the slow client off"
        );
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if let Some(byte) = rest.next() {
                    // The server may have closed its side: a failed write ends the test
                    // at the next read.
                    drop(stream.write_all(&[*byte]));
                }
            }
            Err(_) => break,
        }
    }
    let status = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .map(str::to_owned);
    (status, started.elapsed())
}

/// `/readyz` answers within a second, `times` times in a row.
async fn serves_others(server: &Server, times: usize) {
    for _ in 0..times {
        let started = Instant::now();
        assert!(server.is_ready().await, "the server answers others");
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(clippy::too_many_lines, reason = "one list of bad inputs")]
async fn hostile_requests_are_refused_and_the_server_stays_up() {
    let deployment = Deployment::postgres().await;
    // From here: the binary is built.
    let started = Instant::now();
    let header_ms = HEADER_TIMEOUT.as_millis().to_string();
    let body_ms = BODY_TIMEOUT.as_millis().to_string();
    let mut server = deployment
        .serve_with(
            "bad-input",
            &[
                ("ANSLUT_REQUEST_HEADER_TIMEOUT_MILLISECONDS", &header_ms),
                ("ANSLUT_REQUEST_BODY_TIMEOUT_MILLISECONDS", &body_ms),
                ("ANSLUT_AUTH__LEEWAY_SECONDS", "0"),
            ],
        )
        .await;
    let client = server.client().clone();
    let provider = deployment.token("provider", REGION, Some(ORG));
    let officer = deployment.token("officer", REGION, None);
    let foreign = deployment.token("provider", REGION, Some(OTHER_ORG));
    let cases = server.url("/v1/cases");
    let submit = || {
        client
            .post(&cases)
            .bearer_auth(&provider)
            .header("Idempotency-Key", uuid_like())
    };
    let json_body = |bytes: Vec<u8>| {
        submit()
            .header("content-type", "application/json")
            .body(bytes)
    };
    let mut tried = 0;

    // A case to aim at.
    let created = submit().json(&application()).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let case = created.json::<Value>().await.unwrap()["case_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let staff_path = server.url(&format!("/v1/cases/{case}/record-staff-commitment"));
    deployment.forbid_personnummer(&personnummer(7));

    // Bodies.
    let mut deep_arrays = vec![b'['; 100_000];
    deep_arrays.extend(vec![b']'; 100_000]);
    let deep_objects = "{\"a\":".repeat(30_000) + "1" + &"}".repeat(30_000);
    let mut huge_name = application();
    huge_name["unit_name"] = json!("Ö".repeat(100_000));
    let mut over_limit_name = application();
    over_limit_name["unit_name"] = json!("x".repeat(BODY_LIMIT + 1));
    let mut many_contacts = application();
    many_contacts["contacts"] = json!(vec![application()["contacts"][0].clone(); 2_000]);
    let mut invalid_utf8 = serde_json::to_vec(&application()).unwrap();
    let at = invalid_utf8
        .windows(4)
        .position(|w| w == b"Vrd".as_slice())
        .unwrap_or(20);
    invalid_utf8.splice(at..at, [0xff, 0xfe, 0xc3]);
    let mut huge_number = application();
    huge_number["workstations"] = json!(u64::MAX);
    let mut unknown_field = application();
    unknown_field["is_admin"] = json!(true);
    let mut personnummer_in_wrong_field = application();
    personnummer_in_wrong_field["unit_name"] = json!(personnummer(7));
    personnummer_in_wrong_field["workstations"] = json!(personnummer(7));

    let body_cases = vec![
        Case {
            what: "a body over the limit",
            request: json_body(vec![b' '; BODY_LIMIT + 1]),
            statuses: &[413],
            code: Some("payload_too_large"),
        },
        Case {
            what: "100,000 nested arrays",
            request: json_body(deep_arrays),
            statuses: &[400],
            code: Some("invalid_body"),
        },
        Case {
            what: "30,000 nested objects",
            request: json_body(deep_objects.into_bytes()),
            statuses: &[400],
            code: Some("invalid_body"),
        },
        Case {
            what: "a 200 KB unit name",
            request: submit().json(&huge_name),
            statuses: &[400, 422],
            code: None,
        },
        Case {
            what: "a unit name over the body limit",
            request: submit().json(&over_limit_name),
            statuses: &[413],
            code: Some("payload_too_large"),
        },
        Case {
            what: "2,000 contacts",
            request: submit().json(&many_contacts),
            statuses: &[400, 422],
            code: None,
        },
        Case {
            what: "invalid UTF-8 in a string",
            request: json_body(invalid_utf8),
            statuses: &[400],
            code: Some("invalid_body"),
        },
        Case {
            what: "a number out of range",
            request: submit().json(&huge_number),
            statuses: &[400, 422],
            code: None,
        },
        Case {
            what: "an unknown field",
            request: submit().json(&unknown_field),
            statuses: &[400],
            code: Some("invalid_body"),
        },
        Case {
            what: "a personnummer in fields that want a name and a number",
            request: submit().json(&personnummer_in_wrong_field),
            statuses: &[400, 422],
            code: None,
        },
        Case {
            what: "an empty body",
            request: json_body(Vec::new()),
            statuses: &[400],
            code: Some("invalid_body"),
        },
        Case {
            what: "a JSON array for an object",
            request: json_body(b"[]".to_vec()),
            statuses: &[400],
            code: Some("invalid_body"),
        },
        Case {
            what: "trailing data after the object",
            request: json_body(
                [serde_json::to_vec(&application()).unwrap(), b"{}".to_vec()].concat(),
            ),
            statuses: &[400],
            code: Some("invalid_body"),
        },
        Case {
            what: "text/plain",
            request: submit()
                .header("content-type", "text/plain")
                .body(serde_json::to_vec(&application()).unwrap()),
            statuses: &[415],
            code: Some("unsupported_media_type"),
        },
        Case {
            what: "no content type",
            request: submit().body(serde_json::to_vec(&application()).unwrap()),
            statuses: &[415],
            code: Some("unsupported_media_type"),
        },
        Case {
            what: "a form body",
            request: submit()
                .header("content-type", "application/x-www-form-urlencoded")
                .body("programme=jamtland-halsoval"),
            statuses: &[415],
            code: Some("unsupported_media_type"),
        },
        Case {
            what: "an Idempotency-Key of 1,000 characters",
            request: client
                .post(&cases)
                .bearer_auth(&provider)
                .header("Idempotency-Key", "k".repeat(1_000))
                .json(&application()),
            statuses: &[400],
            code: Some("invalid_header"),
        },
        Case {
            what: "a malformed If-Match",
            request: client
                .post(&staff_path)
                .bearer_auth(&provider)
                .header("If-Match", "version seven")
                .json(&staff_commitment("X1", &personnummer(7), false)),
            statuses: &[400],
            code: Some("invalid_header"),
        },
        Case {
            what: "a command without If-Match",
            request: client
                .post(&staff_path)
                .bearer_auth(&provider)
                .json(&staff_commitment("X2", &personnummer(7), true)),
            statuses: &[428],
            code: Some("precondition_required"),
        },
        Case {
            what: "a case id that is not a UUID",
            request: client
                .get(server.url("/v1/cases/not-a-case"))
                .bearer_auth(&officer),
            statuses: &[400, 404],
            code: None,
        },
        Case {
            what: "a 100 KB Authorization header",
            request: client.get(server.url("/v1/cases")).header(
                "authorization",
                format!("Bearer {}", "a".repeat(100 * 1024)),
            ),
            statuses: &[431],
            code: Some("request_header_fields_too_large"),
        },
        Case {
            what: "a negative page size",
            request: client
                .get(server.url("/v1/cases?limit=-1"))
                .bearer_auth(&officer),
            statuses: &[400],
            code: Some("invalid_query"),
        },
    ];
    for case in body_cases {
        tried += 1;
        let what = case.what;
        let problem = refused(case).await;
        let text = problem.to_string();
        assert!(
            !text.contains(&personnummer(7)) && !text.contains(&"Ö".repeat(100)),
            "{what}: the refusal repeats a value sent"
        );
    }
    assert!(server.is_ready().await, "still up after the bodies");

    // Tokens.
    let parts: Vec<&str> = provider.split('.').collect();
    let officer_parts: Vec<&str> = officer.split('.').collect();
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    let alg_hs512 = format!(
        "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.{}.{}",
        parts[1], parts[2]
    );
    let swapped_claims = format!("{}.{}.{}", parts[0], officer_parts[1], parts[2]);
    let other_key = {
        let elsewhere = tempfile::tempdir().unwrap();
        mint(
            &deployment,
            &[("ANSLUT_DATA_DIR", elsewhere.path().to_str().unwrap())],
            "1h",
        )
    };
    let wrong_audience = mint(
        &deployment,
        &[("ANSLUT_AUTH__AUDIENCE", "someone-else")],
        "1h",
    );
    let wrong_issuer = mint(
        &deployment,
        &[("ANSLUT_AUTH__ISSUER", "https://idp.example")],
        "1h",
    );
    let expired = mint(&deployment, &[], "1s");
    for token in [
        &alg_none,
        &alg_hs512,
        &swapped_claims,
        &other_key,
        &wrong_audience,
        &wrong_issuer,
        &expired,
    ] {
        deployment.forbid_in_logs(token);
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let read = server.url(&format!("/v1/cases/{case}"));
    let token_cases: Vec<(&'static str, Option<String>, &'static str)> = vec![
        ("no token", None, "unauthenticated"),
        (
            "alg none",
            Some(format!("Bearer {alg_none}")),
            "invalid_token",
        ),
        (
            "HS512 header on an HS256 signature",
            Some(format!("Bearer {alg_hs512}")),
            "invalid_token",
        ),
        (
            "another token's claims",
            Some(format!("Bearer {swapped_claims}")),
            "invalid_token",
        ),
        (
            "signed with another key",
            Some(format!("Bearer {other_key}")),
            "invalid_token",
        ),
        (
            "for another audience",
            Some(format!("Bearer {wrong_audience}")),
            "invalid_token",
        ),
        (
            "from another issuer",
            Some(format!("Bearer {wrong_issuer}")),
            "invalid_token",
        ),
        (
            "expired",
            Some(format!("Bearer {expired}")),
            "invalid_token",
        ),
        ("not a JWT", Some("Bearer abc.def".into()), "invalid_token"),
        ("an empty bearer", Some("Bearer ".into()), "invalid_token"),
        (
            "the Basic scheme",
            Some("Basic dXNlcjpwYXNz".into()),
            "invalid_token",
        ),
        (
            "8 KB of token",
            Some(format!("Bearer {}", "a".repeat(8_000))),
            "invalid_token",
        ),
    ];
    for (what, authorization, code) in token_cases {
        for request in [
            client.get(&read),
            client
                .post(&staff_path)
                .header("If-Match", "*")
                .json(&staff_commitment("T", &personnummer(7), false)),
        ] {
            let request = match &authorization {
                Some(value) => request.header("authorization", value),
                None => request,
            };
            tried += 1;
            let problem = refused(Case {
                what,
                request,
                statuses: &[401],
                code: None,
            })
            .await;
            assert!(
                problem["code"] == code || problem["code"] == "unauthenticated",
                "{what}: {problem}"
            );
        }
    }

    // Another organisation's provider: the case does not exist for it.
    for request in [
        client.get(&read).bearer_auth(&foreign),
        client
            .post(&staff_path)
            .bearer_auth(&foreign)
            .header("If-Match", "*")
            .json(&staff_commitment("F", &personnummer(7), false)),
        client
            .get(server.url(&format!("/v1/cases/{case}/history")))
            .bearer_auth(&foreign),
    ] {
        tried += 1;
        refused(Case {
            what: "another organisation's case",
            request,
            statuses: &[404],
            code: Some("not_found"),
        })
        .await;
    }

    // Slow clients, each beside requests from others that must still be served.
    let address = server.address().to_owned();
    let head = format!(
        "POST /v1/cases HTTP/1.1\r\nHost: anslut\r\nAuthorization: Bearer {provider}\r\n\
         Content-Type: application/json\r\nIdempotency-Key: slow-body\r\n\
         Content-Length: 1000\r\n\r\n"
    );
    let slow = [
        (
            "headers one byte a second",
            Vec::new(),
            b"POST /v1/cases HTTP/1.1\r\nHost: anslut\r\n".to_vec(),
            Duration::from_secs(1),
            HEADER_TIMEOUT,
        ),
        (
            "a body that stops after 13 bytes",
            [head.as_bytes(), b"{\"programme\":"].concat(),
            Vec::new(),
            Duration::from_millis(250),
            BODY_TIMEOUT,
        ),
        (
            "a body trickling a byte every 400 ms",
            head.clone().into_bytes(),
            vec![b' '; 1000],
            Duration::from_millis(400),
            BODY_TIMEOUT,
        ),
    ];
    let mut cut_off = Vec::new();
    for (what, first, then, pace, limit) in slow {
        tried += 1;
        let address = address.clone();
        let client = std::thread::spawn(move || slow_client(&address, &first, &then, pace));
        serves_others(&server, 5).await;
        let (status, after) = client.join().expect("the slow client");
        assert!(
            after < limit + MARGIN,
            "{what}: cut off after {after:?}, the limit is {limit:?}"
        );
        if let Some(status) = &status {
            assert!(status.contains(" 408"), "{what}: answered {status}");
        }
        cut_off.push(format!(
            "{what}: {after:.1?} ({})",
            status.unwrap_or("closed".into())
        ));
    }

    assert!(server.is_running(), "the server survived");
    assert!(server.is_ready().await, "and is ready");
    let lines = deployment.assert_logs_clean();
    eprintln!(
        "bad_input: {tried} bad requests refused without a 5xx; slow clients cut off: {}; \
         {lines} log lines clean; {:?}",
        cut_off.join("; "),
        started.elapsed()
    );
}

/// A token minted by `anslut token` with other settings: another key (another data
/// directory), audience or issuer, or a short life.
fn mint(deployment: &Deployment, env: &[(&str, &str)], ttl: &str) -> String {
    let output = deployment
        .command()
        .args([
            "token", "--role", "provider", "--region", REGION, "--org", ORG,
        ])
        .args(["--ttl", ttl])
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .expect("running anslut token");
    assert!(
        output.status.success(),
        "anslut token: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A fresh Idempotency-Key.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("bad-input-{}", NEXT.fetch_add(1, Ordering::SeqCst))
}
