//! Separate database roles: an owner role migrates (`ANSLUT_DATABASE__MIGRATE_URL`), the
//! operator grants the application role what `docs/sql/grant-application-role.sql` grants,
//! and `anslut serve` runs as the application role. Commands, reads, the read models, the
//! webhooks and the audit tree all work; changing or removing an event through the
//! application role is refused by PostgreSQL's privileges, before the append-only trigger is
//! ever reached.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tests::Deployment;

use crate::pg_client::{admin_url, database_name, psql, psql_ok, with_user};

const REGION: &str = "jamtland-harjedalen";
const ORG: &str = "556677-8899";

/// Login roles that exist for one test (roles are cluster-wide): created with unique names,
/// dropped when this is dropped, after the test's database (declare it first).
struct Roles {
    names: Vec<String>,
    password: String,
}

impl Roles {
    fn create(names: &[&str]) -> Self {
        let password = format!("pw{}", unique());
        for name in names {
            psql_ok(
                &admin_url(),
                &format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'"),
            );
        }
        Self {
            names: names.iter().map(|name| (*name).to_owned()).collect(),
            password,
        }
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        for name in &self.names {
            let output = psql(&admin_url(), &format!("DROP ROLE IF EXISTS {name}"));
            if !output.status.success() {
                eprintln!(
                    "could not drop the role {name}: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    }
}

/// A suffix no other test run uses at the same time.
fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    format!("{}_{nanos:x}", std::process::id())
}

fn assert_success(output: &std::process::Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The error psql printed for `sql`, which must have failed.
fn refused(url: &str, sql: &str) -> String {
    let output = psql(url, sql);
    assert!(!output.status.success(), "{sql} was allowed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn application() -> Value {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_role_reads_and_appends_the_log_and_can_change_none_of_it() {
    let suffix = unique();
    let (owner, app) = (
        format!("anslut_owner_{suffix}"),
        format!("anslut_app_{suffix}"),
    );
    let roles = Roles::create(&[&owner, &app]);
    let deployment = Deployment::postgres().await;
    let database = database_name(deployment.database_url());
    // As docs/operations.md says: the owner role owns the database, and so its public schema.
    psql_ok(
        &admin_url(),
        &format!("ALTER DATABASE {database} OWNER TO {owner}"),
    );
    let owner_url = with_user(deployment.database_url(), &owner, &roles.password);
    let app_url = with_user(deployment.database_url(), &app, &roles.password);
    let as_app = [
        ("DATABASE_URL", app_url.as_str()),
        ("ANSLUT_DATABASE__MIGRATE_URL", owner_url.as_str()),
    ];

    // Before the grants the application role cannot even start.
    let migrated = deployment
        .command()
        .arg("migrate")
        .envs(as_app)
        .output()
        .expect("running anslut migrate");
    assert_success(&migrated, "anslut migrate as the owner");
    let grants = crate::pg_client::program("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-v"])
        .arg(format!("app_role={app}"))
        .arg("-d")
        .arg(&owner_url)
        .arg("-f")
        .arg(tests::workspace().join("docs/sql/grant-application-role.sql"))
        .output()
        .expect("running psql");
    assert_success(&grants, "the grants");
    let tables_of_owner = psql_ok(
        &owner_url,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' \
         AND tablename IN ('events', 'commands', 'audit_nodes', 'audit_checkpoints') \
         AND tableowner = current_user",
    );
    assert_eq!(tables_of_owner, "4", "the owner role owns the log's tables");

    let server = deployment.serve_with("app", &as_app).await;
    let client = server.client();
    let provider = deployment.token("provider", REGION, Some(ORG));
    let officer = deployment.token("officer", REGION, None);
    let region_it = deployment.token("region_it", REGION, None);

    // Webhooks: a subscription, whose outbox the projector fills.
    let subscribed = client
        .post(server.url("/v1/webhooks/subscriptions"))
        .bearer_auth(&region_it)
        .json(&json!({"url": "http://127.0.0.1:9/hook", "event_types": ["se.anslut.connection_case.*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        subscribed.status(),
        201,
        "{}",
        subscribed.text().await.unwrap()
    );
    let subscription: Value = subscribed.json().await.unwrap();
    let subscription_id = subscription["subscription"]["subscription_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Commands.
    let submitted = client
        .post(server.url("/v1/cases"))
        .bearer_auth(&provider)
        .header("Idempotency-Key", "roles-submit")
        .json(&application())
        .send()
        .await
        .unwrap();
    assert_eq!(
        submitted.status(),
        201,
        "{}",
        submitted.text().await.unwrap()
    );
    let submitted: Value = submitted.json().await.unwrap();
    let case = submitted["case_id"].as_str().unwrap().to_owned();
    let approved = client
        .post(server.url(&format!("/v1/cases/{case}/approve-application")))
        .bearer_auth(&officer)
        .header("Idempotency-Key", "roles-approve")
        .header("If-Match", "*")
        .json(&json!({"reason": "Complete."}))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 200, "{}", approved.text().await.unwrap());
    let approved: Value = approved.json().await.unwrap();
    let position = approved["position"]
        .as_u64()
        .expect("the command's position");

    // Reads: the case itself, and the read models (waiting for the command's position).
    let read = client
        .get(server.url(&format!("/v1/cases/{case}")))
        .bearer_auth(&officer)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let listed: Value = client
        .get(server.url(&format!("/v1/cases?min_position={position}")))
        .bearer_auth(&officer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["case_id"], case, "{listed}");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let deliveries: Value = client
            .get(server.url(&format!(
                "/v1/webhooks/subscriptions/{subscription_id}/deliveries"
            )))
            .bearer_auth(&region_it)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if deliveries["deliveries"]
            .as_array()
            .is_some_and(|items| items.len() == 2)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the outbox holds both events: {deliveries}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The audit tree and the read models, through the application role.
    let audit = |args: &[&str]| {
        deployment
            .command()
            .args(args)
            .envs(as_app)
            .env("RUST_LOG", "warn")
            .output()
            .expect("running anslut")
    };
    assert_success(&audit(&["audit", "checkpoint"]), "anslut audit checkpoint");
    let verified = assert_success(&audit(&["audit", "verify"]), "anslut audit verify");
    assert!(verified.starts_with("intact"), "{verified}");
    assert_success(
        &audit(&["projections", "verify"]),
        "anslut projections verify",
    );

    // The application role can neither change nor remove an event, nor get around the
    // trigger: PostgreSQL refuses on privileges ("permission denied"), not the trigger's
    // "append-only" message.
    for sql in [
        "UPDATE events SET event_type = 'Forged' WHERE position = 1",
        "DELETE FROM events",
        "TRUNCATE events",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_nodes SET hash = hash",
    ] {
        let error = refused(&app_url, sql);
        assert!(
            error.contains("permission denied for table"),
            "{sql}: {error}"
        );
    }
    let error = refused(
        &app_url,
        "ALTER TABLE events DISABLE TRIGGER events_append_only",
    );
    assert!(error.contains("must be owner of table events"), "{error}");
    // The owner may; the trigger still refuses it.
    let error = refused(
        &owner_url,
        "UPDATE events SET event_type = 'Forged' WHERE position = 1",
    );
    assert!(error.contains("append-only"), "{error}");
    // What the application role can do: read and append the log.
    assert_eq!(psql_ok(&app_url, "SELECT count(*) FROM events"), "2");

    drop(server);
    drop(deployment);
    drop(roles);
}
