//! Test infrastructure for this crate and the ones that build on it (feature `testing`):
//! a throwaway database per test, on PostgreSQL or SQLite.
//!
//! ```no_run
//! # async fn example() {
//! use store::testing::TestDatabase;
//! let db = TestDatabase::postgres().await; // or TestDatabase::sqlite()
//! let store = db.store().await;            // connected and migrated
//! # }
//! ```
//!
//! PostgreSQL databases are created with a random name on the server named by
//! `ANSLUT_TEST_DATABASE_URL` (default [`DEFAULT_ADMIN_URL`]) and dropped when the
//! [`TestDatabase`] is dropped, also when the test panics. Tests can therefore run in
//! parallel. A server that does not answer is a failure, never a silent skip.

use std::path::PathBuf;

use sqlx::{Connection, Executor, PgConnection, SqliteConnection};

use crate::{EventStore, StoreOptions};

/// The admin URL used when `ANSLUT_TEST_DATABASE_URL` is not set.
/// Instantiates each test function `module::test(TestDatabase)` twice, in a `postgres` and an
/// `sqlite` module, so that every database-touching crate runs its suite on both backends:
///
/// ```ignore
/// store::on_both_backends!(appends::a_stale_append_conflicts, reads::reads_are_ordered);
/// ```
#[macro_export]
macro_rules! on_both_backends {
    ($($module:ident :: $test:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$module::$test($crate::testing::TestDatabase::postgres().await).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$module::$test($crate::testing::TestDatabase::sqlite()).await;
                }
            )*
        }
    };
}

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

enum Kind {
    Postgres {
        admin_url: String,
        name: String,
    },
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
}

/// A database that exists for one test.
pub struct TestDatabase {
    url: String,
    kind: Kind,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn admin_url() -> String {
    std::env::var("ANSLUT_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

impl TestDatabase {
    /// A fresh, empty PostgreSQL database.
    ///
    /// # Panics
    /// When the server does not answer, with a message saying how to get one.
    pub async fn postgres() -> Self {
        let admin_url = admin_url();
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "PostgreSQL is not reachable at {admin_url} ({error}). Run the tests through \
                 scripts/test, which finds or starts a server, or set ANSLUT_TEST_DATABASE_URL \
                 to the admin URL of one."
                )
            });
        let name = format!("anslut_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap_or_else(|error| panic!("creating test database {name}: {error}"));
        drop(admin.close().await);
        Self {
            url: dbkit::with_database(&admin_url, &name),
            kind: Kind::Postgres { admin_url, name },
        }
    }

    /// A fresh SQLite file in its own temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let path = dir.path().join("events.db");
        Self {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            kind: Kind::Sqlite { _dir: dir, path },
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.kind, Kind::Postgres { .. })
    }

    /// A store on this database with the given options, migrated.
    pub async fn store_with(&self, options: StoreOptions) -> EventStore {
        let store = EventStore::connect(&self.url, options)
            .await
            .expect("connecting to the test database");
        store.migrate().await.expect("migrating the test database");
        store
    }

    /// A store on this database with default options, migrated.
    pub async fn store(&self) -> EventStore {
        self.store_with(StoreOptions::default()).await
    }

    /// Runs raw SQL on a connection of its own, past the store: for tests that play the
    /// part of someone with direct database access.
    pub async fn execute(&self, sql: &str) -> Result<(), sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match &self.kind {
            Kind::Postgres { .. } => {
                let mut conn = PgConnection::connect(&self.url).await?;
                conn.execute(sql).await?;
                conn.close().await
            }
            Kind::Sqlite { .. } => {
                let mut conn = SqliteConnection::connect(&self.url).await?;
                conn.execute(sql).await?;
                conn.close().await
            }
        }
    }

    /// Switches off the append-only triggers on `events` and `commands`, as a table owner
    /// could.
    pub async fn disable_append_only_guard(&self) {
        let sql = if self.is_postgres() {
            "ALTER TABLE events DISABLE TRIGGER USER; ALTER TABLE commands DISABLE TRIGGER USER;"
        } else {
            "DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete; \
             DROP TRIGGER commands_no_update; DROP TRIGGER commands_no_delete;"
        };
        self.execute(sql)
            .await
            .expect("disabling the append-only guard");
    }

    /// Where the SQLite file is, for SQLite databases.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &self.kind {
            Kind::Sqlite { path, .. } => Some(path),
            Kind::Postgres { .. } => None,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Kind::Postgres { admin_url, name } = &self.kind else {
            return; // the TempDir removes the SQLite file
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop cannot be async, and may run inside a runtime that must not be blocked on: drop
        // the database from a thread with a runtime of its own, and wait for it.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await?;
                admin.close().await
            })?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "could not drop a test database"),
            Err(_) => tracing::warn!("dropping a test database panicked"),
        }
    }
}

/// A database's refusal with an error code (`57P01`: admin shutdown, `23505`: a unique
/// violation, SQLite's `5`: busy, ...), as a driver reports it: for tests of how each layer
/// classifies database errors without making a real server refuse.
pub fn refused(code: &'static str) -> sqlx::Error {
    sqlx::Error::Database(Box::new(Refusal(code)))
}

#[derive(Debug)]
struct Refusal(&'static str);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the database refused with {}", self.0)
    }
}

impl std::error::Error for Refusal {}

impl sqlx::error::DatabaseError for Refusal {
    fn message(&self) -> &'static str {
        "refused"
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(std::borrow::Cow::Borrowed(self.0))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}
