//! The `subject_keys` table, its cache, and forgetting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dbkit::{Durability, PoolPolicy};
use domain::ids::DataSubjectId;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use uuid::Uuid;

use crate::crypto::{DataKey, KeyEncryptionKey};
use crate::error::PrivacyError;

const MIGRATIONS_TABLE: &str = "_privacy_migrations";
static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Tuning of [`SubjectKeys`].
#[derive(Debug, Clone)]
pub struct KeyOptions {
    /// How long a key (or the knowledge that a subject has none) is served from memory
    /// before the table is asked again. A forget in this process evicts at once; this bounds
    /// how long another instance may still open a forgotten subject's data.
    pub cache_ttl: Duration,
    /// The most subjects kept in memory.
    pub cache_capacity: usize,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for KeyOptions {
    fn default() -> Self {
        Self {
            cache_ttl: Duration::from_secs(10),
            cache_capacity: 10_000,
            max_connections: 2,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

pub(crate) enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A cached answer: the subject's key, or that it has none (never had one, or forgotten).
struct Cached {
    key: Option<Arc<DataKey>>,
    at: Instant,
}

/// What the cache knows of a subject.
enum Lookup {
    /// Nothing fresh: ask the table.
    Unknown,
    /// The key, or that there is none.
    Known(Option<Arc<DataKey>>),
}

struct Inner {
    db: Db,
    kek: KeyEncryptionKey,
    options: KeyOptions,
    cache: Mutex<HashMap<Uuid, Cached>>,
}

/// The data subjects' keys: created on first use, cached briefly, destroyed by
/// [`SubjectKeys::forget`]. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct SubjectKeys {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SubjectKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubjectKeys")
            .field("postgres", &self.is_postgres())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl SubjectKeys {
    /// Connects to the store's database (its URL: `postgres://...`, or an SQLite path or
    /// `sqlite:` URL) and applies this crate's migrations (tracked in `_privacy_migrations`).
    pub async fn connect(
        url: &str,
        kek: KeyEncryptionKey,
        options: KeyOptions,
    ) -> Result<Self, PrivacyError> {
        let policy = PoolPolicy {
            // A new key is committed before the event it seals is appended, and in WAL mode
            // that event's durable commit syncs the whole log file, this key's frames with it:
            // so NORMAL loses no key an event needs, and spares a sync per new subject.
            durability: Durability::Normal,
            // A deleted key's bytes are overwritten with zeros in the file, not left in a free
            // page.
            secure_delete: true,
            ..PoolPolicy::new("the keys", options.max_connections, options.acquire_timeout)
        };
        let pools = dbkit::connect(url, &policy).await?;
        dbkit::migrate(&pools, &MIGRATIONS, &MIGRATIONS, MIGRATIONS_TABLE).await?;
        let db = match pools {
            dbkit::Db::Postgres(pools) => Db::Postgres(pools.write.clone()),
            // Keys are written once per new data subject and read through the cache: the
            // readers' pool serves both (SQLite's busy timeout queues the rare writes).
            dbkit::Db::Sqlite(pools) => Db::Sqlite(pools.read.clone()),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                kek,
                options,
                cache: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.inner.db, Db::Postgres(_))
    }

    /// Closes the key table's connections (at shutdown): later key operations fail as
    /// unavailable, and the store's appends and reads that need a key with them.
    pub async fn close(&self) {
        match &self.inner.db {
            Db::Postgres(pool) => pool.close().await,
            Db::Sqlite(pool) => pool.close().await,
        }
    }

    /// The codec to put into the store's options.
    pub fn codec(&self) -> crate::SubjectCodec {
        crate::SubjectCodec::new(self.clone())
    }

    /// Whether the subject has a key (has sealed data that can still be read).
    pub async fn has_key(&self, subject: DataSubjectId) -> Result<bool, PrivacyError> {
        Ok(self.select(*subject.as_uuid()).await?.is_some())
    }

    /// Destroys the subject's key, so that every value sealed with it reads as erased from
    /// now on, wherever it is stored, and its staff-index rows, so that no personnummer leads
    /// to it any more. Returns whether there was a key. Idempotent.
    ///
    /// The row is deleted, evicted from this process's cache, and the freed space is cleaned
    /// so that the wrapped key does not linger in the database's files: `VACUUM
    /// subject_keys` on PostgreSQL (the dead row version is removed), `secure_delete` and a
    /// WAL checkpoint on SQLite (the bytes are overwritten, and the WAL that still held the
    /// page is truncated). Copies outside the database (backups, PostgreSQL's WAL archive)
    /// keep the wrapped key until they expire; without the key-encryption key it opens
    /// nothing.
    pub async fn forget(&self, subject: DataSubjectId) -> Result<bool, PrivacyError> {
        // First the way from a personnummer to the subject, then the key.
        self.unindex(subject).await?;
        let uuid = *subject.as_uuid();
        let text = uuid.to_string();
        let deleted = match &self.inner.db {
            Db::Postgres(pool) => {
                let deleted = sqlx::query("DELETE FROM subject_keys WHERE subject = $1")
                    .bind(&text)
                    .execute(pool)
                    .await?
                    .rows_affected();
                // VACUUM refuses to run inside a transaction: the simple protocol, alone.
                sqlx::raw_sql("VACUUM subject_keys").execute(pool).await?;
                deleted
            }
            Db::Sqlite(pool) => {
                let deleted = sqlx::query("DELETE FROM subject_keys WHERE subject = $1")
                    .bind(&text)
                    .execute(pool)
                    .await?
                    .rows_affected();
                sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(pool)
                    .await?;
                deleted
            }
        };
        self.remember(uuid, None);
        Ok(deleted > 0)
    }

    /// The keys of `subjects` (or that they have none): fresh cache entries, the rest in one
    /// query per 500 subjects.
    pub(crate) async fn keys(
        &self,
        subjects: &[Uuid],
    ) -> Result<HashMap<Uuid, Option<Arc<DataKey>>>, PrivacyError> {
        let mut found = HashMap::with_capacity(subjects.len());
        let mut missing = Vec::new();
        for subject in subjects {
            match self.cached(*subject) {
                Lookup::Known(key) => {
                    found.insert(*subject, key);
                }
                Lookup::Unknown => missing.push(subject.to_string()),
            }
        }
        for chunk in missing.chunks(500) {
            let rows: Vec<(String, String, String)> = match &self.inner.db {
                Db::Postgres(pool) => {
                    sqlx::query_as(
                        "SELECT subject, key_id, wrapped_key FROM subject_keys \
                         WHERE subject = ANY($1)",
                    )
                    .bind(chunk)
                    .fetch_all(pool)
                    .await?
                }
                Db::Sqlite(pool) => {
                    let list = serde_json::to_string(chunk)
                        .map_err(|e| PrivacyError::Invalid(e.to_string()))?;
                    sqlx::query_as(
                        "SELECT subject, key_id, wrapped_key FROM subject_keys \
                         WHERE subject IN (SELECT value FROM json_each($1))",
                    )
                    .bind(list)
                    .fetch_all(pool)
                    .await?
                }
            };
            let mut keyed = HashMap::with_capacity(rows.len());
            for (subject, key_id, wrapped) in rows {
                let uuid = Uuid::parse_str(&subject)
                    .map_err(|_| PrivacyError::Corrupt("a subject_keys row's subject".into()))?;
                keyed.insert(
                    uuid,
                    Arc::new(self.inner.kek.unwrap(uuid, &key_id, &wrapped)?),
                );
            }
            for subject in chunk {
                let uuid = Uuid::parse_str(subject)
                    .map_err(|_| PrivacyError::Corrupt("a subject id".into()))?;
                let key = keyed.remove(&uuid);
                self.remember(uuid, key.clone());
                found.insert(uuid, key);
            }
        }
        Ok(found)
    }

    /// The subject's key, created if it has none. Two instances creating at once agree: the
    /// insert does nothing when a row exists, and both read back the one that won.
    pub(crate) async fn key_or_create(&self, subject: Uuid) -> Result<Arc<DataKey>, PrivacyError> {
        if let Lookup::Known(Some(key)) = self.cached(subject) {
            return Ok(key);
        }
        if let Some(key) = self.select(subject).await? {
            let key = Arc::new(key);
            self.remember(subject, Some(key.clone()));
            return Ok(key);
        }
        let fresh = DataKey::generate()?;
        let wrapped = self.inner.kek.wrap(subject, &fresh)?;
        let text = subject.to_string();
        let now = chrono::Utc::now().timestamp_micros();
        let insert = "INSERT INTO subject_keys (subject, key_id, wrapped_key, created_at) \
                      VALUES ($1, $2, $3, $4) ON CONFLICT (subject) DO NOTHING";
        match &self.inner.db {
            Db::Postgres(pool) => {
                sqlx::query(insert)
                    .bind(&text)
                    .bind(&fresh.id)
                    .bind(&wrapped)
                    .bind(now)
                    .execute(pool)
                    .await?;
            }
            Db::Sqlite(pool) => {
                sqlx::query(insert)
                    .bind(&text)
                    .bind(&fresh.id)
                    .bind(&wrapped)
                    .bind(now)
                    .execute(pool)
                    .await?;
            }
        }
        let key = self.select(subject).await?.map(Arc::new).ok_or_else(|| {
            PrivacyError::Key(format!(
                "the key of data subject {subject} was forgotten while it was being created"
            ))
        })?;
        self.remember(subject, Some(key.clone()));
        Ok(key)
    }

    async fn select(&self, subject: Uuid) -> Result<Option<DataKey>, PrivacyError> {
        let text = subject.to_string();
        let query = "SELECT key_id, wrapped_key FROM subject_keys WHERE subject = $1";
        let row: Option<(String, String)> = match &self.inner.db {
            Db::Postgres(pool) => {
                sqlx::query_as(query)
                    .bind(&text)
                    .fetch_optional(pool)
                    .await?
            }
            Db::Sqlite(pool) => {
                sqlx::query_as(query)
                    .bind(&text)
                    .fetch_optional(pool)
                    .await?
            }
        };
        row.map(|(key_id, wrapped)| self.inner.kek.unwrap(subject, &key_id, &wrapped))
            .transpose()
    }

    fn cached(&self, subject: Uuid) -> Lookup {
        let cache = self.inner.cache.lock().expect("key cache poisoned");
        cache
            .get(&subject)
            .filter(|c| c.at.elapsed() < self.inner.options.cache_ttl)
            .map_or(Lookup::Unknown, |c| Lookup::Known(c.key.clone()))
    }

    fn remember(&self, subject: Uuid, key: Option<Arc<DataKey>>) {
        let mut cache = self.inner.cache.lock().expect("key cache poisoned");
        if cache.len() >= self.inner.options.cache_capacity && !cache.contains_key(&subject) {
            let ttl = self.inner.options.cache_ttl;
            cache.retain(|_, c| c.at.elapsed() < ttl);
            if cache.len() >= self.inner.options.cache_capacity {
                cache.clear();
            }
        }
        cache.insert(
            subject,
            Cached {
                key,
                at: Instant::now(),
            },
        );
    }
}
