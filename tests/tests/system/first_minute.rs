//! A newcomer's first commands print what they are for and nothing else: `anslut token` is
//! captured into a shell variable (`OFFICER=$(anslut token ...)`), so its output is the token,
//! one line, with no log lines on the terminal, also on the first run, when it generates the
//! development key.

use std::process::Command;

use tests::anslut_binary;

#[test]
fn anslut_token_prints_only_the_token_even_when_it_makes_the_development_key() {
    let data = tempfile::tempdir().unwrap();
    for run in ["first, making the key", "second"] {
        let mut command = Command::new(anslut_binary());
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("ANSLUT_") || key == "RUST_LOG" || key == "DATABASE_URL" {
                command.env_remove(key);
            }
        }
        let output = command
            .args([
                "token",
                "--role",
                "officer",
                "--region",
                "jamtland-harjedalen",
            ])
            .env("ANSLUT_DATA_DIR", data.path())
            .output()
            .expect("running anslut token");
        assert!(output.status.success(), "{run}: {output:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{run}: {stdout}");
        assert_eq!(
            stdout.trim().split('.').count(),
            3,
            "{run}: a JWT: {stdout}"
        );
        assert!(
            output.stderr.is_empty(),
            "{run}: nothing else on the terminal: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
