//! PostgreSQL's client programs (`psql`, `pg_dump`, `pg_restore`) as an operator runs them,
//! for the tests of database roles and of backup and restore.
//!
//! `pg_dump` refuses a server newer than itself and may write what an older server cannot
//! read, so every program comes from `/usr/lib/postgresql/<major>/bin` of the server's own
//! major version (`SHOW server_version_num`), or else from the `PATH`.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The admin URL of the server the tests' databases live on (as `store::testing` uses it).
pub fn admin_url() -> String {
    std::env::var("ANSLUT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| store::testing::DEFAULT_ADMIN_URL.to_owned())
}

/// The server's major version, asked once with whichever `psql` there is.
fn server_major() -> u32 {
    static MAJOR: OnceLock<u32> = OnceLock::new();
    *MAJOR.get_or_init(|| {
        let any_psql = installed_majors()
            .last()
            .map_or_else(|| PathBuf::from("psql"), |major| bin(*major).join("psql"));
        let output = Command::new(&any_psql)
            .args(["-X", "-tA", "-c", "SHOW server_version_num", &admin_url()])
            .output()
            .unwrap_or_else(|error| panic!("running {}: {error}", any_psql.display()));
        assert!(
            output.status.success(),
            "asking the server's version: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let number: u32 = String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("server_version_num is a number");
        number / 10_000
    })
}

fn bin(major: u32) -> PathBuf {
    PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"))
}

fn installed_majors() -> Vec<u32> {
    let mut majors: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_string_lossy().parse().ok())
        .collect();
    majors.sort_unstable();
    majors
}

/// The client program `name` of the server's major version.
///
/// # Panics
/// When it is installed neither there nor on the `PATH`.
pub fn program(name: &str) -> Command {
    let path = bin(server_major()).join(name);
    if path.exists() {
        return Command::new(path);
    }
    let on_path = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        on_path,
        "{name} for PostgreSQL {} is installed neither in {} nor on the PATH",
        server_major(),
        bin(server_major()).display()
    );
    Command::new(name)
}

/// Runs SQL through `psql` on `url`, stopping at the first error.
pub fn psql(url: &str, sql: &str) -> Output {
    program("psql")
        .args([
            "-X",
            "-q",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .expect("running psql")
}

/// Like [`psql`], and the output when it succeeded.
///
/// # Panics
/// When the SQL fails.
pub fn psql_ok(url: &str, sql: &str) -> String {
    let output = psql(url, sql);
    assert!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// `url` with another user (and password), on the same host and database.
pub fn with_user(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let host_and_rest = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    format!("{scheme}://{user}:{password}@{host_and_rest}")
}

/// `url` with another database name.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(base, query)| (base, Some(query)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{database}", &base[..path]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The database name in `url`.
pub fn database_name(url: &str) -> String {
    let base = url.split('?').next().unwrap_or(url);
    base.rsplit('/').next().unwrap_or_default().to_owned()
}

#[test]
fn urls_change_their_user_and_database() {
    let url = "postgres://postgres@127.0.0.1:5432/anslut_test_1";
    assert_eq!(
        with_user(url, "app", "pw"),
        "postgres://app:pw@127.0.0.1:5432/anslut_test_1"
    );
    assert_eq!(
        with_database(url, "copy"),
        "postgres://postgres@127.0.0.1:5432/copy"
    );
    assert_eq!(database_name(url), "anslut_test_1");
}
