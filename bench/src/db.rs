//! The benchmark's throwaway databases on the PostgreSQL server `scripts/bench` found or
//! started, and what that server is configured with.
//!
//! Every database is named `<prefix>_<case>`; `bench cleanup --prefix P` drops whatever a run
//! left behind (`scripts/bench` calls it on every exit, also after a failure or Ctrl-C), and a
//! run drops its own databases when it ends normally.

use serde::Serialize;
use sqlx::{Connection, Executor, PgConnection, Row};

use crate::error::{Context, Failure, Result};

/// The server, and the prefix of the databases this run creates on it.
#[derive(Debug, Clone)]
pub struct Server {
    admin_url: String,
    prefix: String,
}

/// What the server runs and how durable its commits are.
#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    pub version: String,
    /// The settings that decide what a commit costs, as `SHOW` prints them.
    pub settings: Vec<(String, String)>,
}

/// Settings printed in the header: durability first.
const SETTINGS: [&str; 7] = [
    "synchronous_commit",
    "fsync",
    "wal_sync_method",
    "full_page_writes",
    "commit_delay",
    "shared_buffers",
    "max_connections",
];

impl Server {
    /// `prefix` names this run's databases: lowercase letters, digits and `_` only.
    pub fn new(admin_url: &str, prefix: &str) -> Result<Self> {
        let valid = !prefix.is_empty()
            && prefix.len() <= 40
            && prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(Failure::new(
                "naming the databases",
                format!(
                    "the prefix {prefix:?} must be 1-40 of a-z, 0-9 and _, starting with a letter"
                ),
            ));
        }
        Ok(Self {
            admin_url: admin_url.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    async fn admin(&self) -> Result<PgConnection> {
        PgConnection::connect(&self.admin_url)
            .await
            .context("connecting to the PostgreSQL server (ANSLUT_TEST_DATABASE_URL)")
    }

    /// Creates the empty database `<prefix>_<case>` with durable commits whatever the
    /// server's default, and returns its URL.
    pub async fn create(&self, case: &str) -> Result<String> {
        let name = format!("{}_{case}", self.prefix);
        let mut admin = self.admin().await?;
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
            format!("ALTER DATABASE {name} SET synchronous_commit = on"),
        ] {
            admin
                .execute(sqlx::AssertSqlSafe(sql))
                .await
                .context(format_args!("creating the database {name}"))?;
        }
        drop(admin.close().await);
        Ok(dbkit::with_database(&self.admin_url, &name))
    }

    /// Drops every database of this run's prefix; returns their names.
    pub async fn drop_all(&self) -> Result<Vec<String>> {
        let mut admin = self.admin().await?;
        let names: Vec<String> = sqlx::query(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname",
        )
        .bind(format!("{}_", self.prefix))
        .fetch_all(&mut admin)
        .await
        .context("listing the benchmark's databases")?
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect();
        for name in &names {
            admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await
                .context(format_args!("dropping the database {name}"))?;
        }
        drop(admin.close().await);
        Ok(names)
    }

    /// The server's version and durability settings.
    pub async fn info(&self) -> Result<ServerInfo> {
        let mut admin = self.admin().await?;
        let version: String = sqlx::query_scalar("SELECT version()")
            .fetch_one(&mut admin)
            .await
            .context("asking the server's version")?;
        let mut settings = Vec::new();
        for name in SETTINGS {
            let value: String = sqlx::query_scalar("SELECT current_setting($1)")
                .bind(name)
                .fetch_one(&mut admin)
                .await
                .context(format_args!("reading the setting {name}"))?;
            settings.push((name.to_owned(), value));
        }
        drop(admin.close().await);
        Ok(ServerInfo { version, settings })
    }
}

#[cfg(test)]
mod tests {
    use super::Server;

    #[test]
    fn prefixes_that_could_break_the_sql_are_refused() {
        let url = "postgres://h/postgres";
        assert!(Server::new(url, "anslut_bench_1").is_ok());
        for bad in ["", "1abc", "a-b", "a;drop", "Ab"] {
            assert!(Server::new(url, bad).is_err(), "{bad:?}");
        }
    }
}
