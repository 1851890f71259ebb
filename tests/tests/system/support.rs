//! What the reliability scenarios share: the application a provider submits, valid
//! personnummer for staff commitments, a command's answer read as events, and polling.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use store::{EventStore, StreamRef};
use tests::Server;

pub const REGION: &str = "jamtland-harjedalen";
pub const ORG: &str = "556677-8899";
/// Another organisation in the same region.
pub const OTHER_ORG: &str = "559900-0006";
/// The projections every instance runs.
pub const PROJECTIONS: usize = 7;

/// The environment of a server under a test's write load: the per-caller command rate limit
/// off, since these tests measure what the store and the server promise under load and
/// outages, not the limit (which `api/tests/api/edge.rs` tests). On a fast machine a test's
/// writers, all one caller, would otherwise reach it and get 429s.
pub const UNDER_LOAD: &[(&str, &str)] = &[("ANSLUT_LIMITS__COMMANDS_PER_SECOND", "0")];

/// A complete application for a unit of [`ORG`].
pub fn application() -> Value {
    json!({
        "programme": "jamtland-halsoval",
        "unit_name": "Östersundshälsan Vårdcentral",
        "org_number": ORG,
        "service_packages": ["vardutbud-bas", "stodapplikationer"],
        "workstations": 12,
        "listed_patients": 4200,
        "contacts": [
            {"role": "it_contact", "name": "Karin Lindqvist", "email": "karin.lindqvist@ostersundshalsan.se"},
            {"role": "system_administrator", "name": "Jonas Ek", "email": "jonas.ek@ostersundshalsan.se"}
        ],
        "requested_go_live": "2099-01-15",
        "call_measurement_system": "Telia Touchpoint"
    })
}

/// The `n`th of a family of valid personnummer, `YYYYMMDD-NNNN` (born in the 1970s and
/// 1980s, with a correct Luhn check digit).
pub fn personnummer(n: usize) -> String {
    let year = 70 + n % 20;
    let month = 1 + (n / 20) % 12;
    let day = 1 + (n / 240) % 28;
    let serial = 100 + (n * 37) % 900;
    let nine = format!("{year:02}{month:02}{day:02}{serial:03}");
    let sum: u32 = nine
        .bytes()
        .enumerate()
        .map(|(i, digit)| {
            let product = u32::from(digit - b'0') * if i % 2 == 0 { 2 } else { 1 };
            product / 10 + product % 10
        })
        .sum();
    let check = (10 - sum % 10) % 10;
    format!("19{}-{}{check}", &nine[..6], &nine[6..])
}

/// The body of a staff commitment for `personnummer`, sent without the dash when `compact`.
pub fn staff_commitment(hsa_suffix: &str, personnummer: &str, compact: bool) -> Value {
    let today = chrono::Utc::now().date_naive().to_string();
    let personnummer = if compact {
        personnummer.replace('-', "")
    } else {
        personnummer.to_owned()
    };
    json!({
        "hsa_id": format!("SE5566778899-{hsa_suffix}"),
        "name": "Per Olsson",
        "personnummer": personnummer,
        "kind": "responsibility_commitment",
        "signed_on": today,
    })
}

/// A command's answer: its case, and its events as (stream version, type).
pub fn recorded_events(answer: &Value) -> (String, Vec<(u64, String)>) {
    let events = answer["events"]
        .as_array()
        .expect("the recorded events")
        .iter()
        .map(|event| {
            (
                event["version"].as_u64().expect("a version"),
                event["type"].as_str().expect("a type").to_owned(),
            )
        })
        .collect();
    (
        answer["case_id"].as_str().expect("a case id").to_owned(),
        events,
    )
}

/// A case's stream as stored: (version, type) of each event.
pub async fn stored_events(store: &EventStore, case: &str) -> Vec<(u64, String)> {
    store
        .read_stream(
            &StreamRef::new("connection_case", case.to_owned()),
            0,
            10_000,
        )
        .await
        .expect("reading the case's stream")
        .into_iter()
        .map(|event| (event.version, event.event_type))
        .collect()
}

/// Checks that the log holds exactly what was acknowledged: each case's stream is the events
/// its acknowledgements named, once each, and the log's head is their number (no event without
/// an acknowledgement). `acks` are (case, events) as [`recorded_events`] reads answers.
/// Returns how many cases and events that is.
pub async fn assert_the_log_is_what_was_acknowledged(
    store: &EventStore,
    acks: &[(String, Vec<(u64, String)>)],
) -> (usize, u64) {
    let mut by_case: std::collections::BTreeMap<&str, Vec<(u64, String)>> =
        std::collections::BTreeMap::new();
    for (case, events) in acks {
        by_case
            .entry(case.as_str())
            .or_default()
            .extend(events.iter().cloned());
    }
    let mut acknowledged = 0;
    for (case, acked) in &mut by_case {
        acked.sort();
        assert_eq!(&stored_events(store, case).await, acked, "case {case}");
        acknowledged += acked.len() as u64;
    }
    let head = store.head().await.expect("the log's head").get();
    assert_eq!(head, acknowledged, "no event without an acknowledgement");
    (by_case.len(), head)
}

/// Polls until `done`, at most `within`; how long it took.
pub async fn until<F: Future<Output = bool>>(
    within: Duration,
    what: &str,
    mut done: impl FnMut() -> F,
) -> Duration {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    started.elapsed()
}

/// The projections' checkpoints as this instance reports them.
pub async fn checkpoints(server: &Server) -> Vec<u64> {
    server
        .metric("anslut_projection_checkpoint")
        .await
        .into_values()
        .map(|value| value.parse().expect("a position"))
        .collect()
}

/// Waits until this instance has projected the whole log, then checks the read models
/// against a rebuild from scratch (`anslut projections verify`).
pub async fn assert_projections_converge(
    deployment: &tests::Deployment,
    server: &Server,
    head: u64,
) -> Duration {
    let caught_up = until(
        Duration::from_secs(30),
        "the read models reach the head",
        || async { checkpoints(server).await == vec![head; PROJECTIONS] },
    )
    .await;
    let verified = deployment.anslut(&["projections", "verify"]);
    assert!(
        verified.status.success(),
        "anslut projections verify:\n{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    caught_up
}

/// The server parses every personnummer the scenarios send (a wrong check digit would be a
/// 400): this only pins the format and that the family does not repeat.
#[test]
fn the_personnummer_family_is_distinct_and_well_formed() {
    let all: std::collections::BTreeSet<String> = (0..500).map(personnummer).collect();
    assert_eq!(all.len(), 500);
    assert!(all.iter().all(|p| p.len() == 13 && p.as_bytes()[8] == b'-'));
    assert_eq!(personnummer(0), "19700101-1001");
}
