//! Architecture invariant: the domain crate does no I/O and knows nothing of HTTP, SQL or
//! tokens. This test fails if a crate for any of those enters its normal dependency tree.
//! (tokio arrives through cqrs-es's `EventSink`, whose lock is tokio's; the domain itself
//! never spawns, sleeps or does I/O with it.)

use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "sqlx",
    "sqlx-core",
    "actix-web",
    "actix-http",
    "jsonwebtoken",
    "utoipa",
    "reqwest",
    "hyper",
    "axum",
    "tokio-postgres",
    "rusqlite",
    "libsqlite3-sys",
    "tracing-subscriber",
];

#[test]
fn the_domain_crate_depends_on_no_io_http_sql_or_token_crate() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--package",
            "domain",
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).expect("utf-8");
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"cqrs-es"), "the tree looks wrong: {tree}");
    let found: Vec<&&str> = FORBIDDEN.iter().filter(|f| crates.contains(f)).collect();
    assert!(
        found.is_empty(),
        "forbidden crates in domain's tree: {found:?}"
    );
}
