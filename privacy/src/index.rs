//! Finding data subjects without scanning the log: the staff index (personnummer and region
//! → a random subject id), the regions each subject is named in, and the record of lookups.
//!
//! **One subject per person and region.** Each region is its own controller of what its
//! cases record, so a person named in two regions' cases is two data subjects, with two keys:
//! each region forgets its own, and only its own. A staff member's subject id is random; the
//! API finds it again through `subject_index`, keyed by an HMAC of the region and the
//! personnummer under the server's subject key (computed by the API; this crate stores it as
//! an opaque string). Forgetting deletes the index row with the key, so afterwards nothing —
//! not the subject key, not `lookup` — leads from the personnummer to the id the log keeps.
//!
//! **Old subject ids.** Events written before this index named a staff member by an HMAC of
//! the personnummer alone, the same in every region. They still read; the API finds such a
//! subject from the personnummer (the caller passes the old id, `legacy`) while its key lives
//! and a region of the caller names it, and moves it into the index on first use.
//!
//! **Regions.** `subject_regions` holds each (subject, region) a command named it in,
//! written before the command's events (an unrecorded command leaves a row that names no
//! event, which gives nobody anything: a random id and the caller's own region), and once,
//! for older events, by [`SubjectKeys::backfill_regions`].

use std::collections::BTreeSet;

use domain::ids::DataSubjectId;
use uuid::Uuid;

use crate::codec::subjects_in;
use crate::error::PrivacyError;
use crate::keys::{Db, SubjectKeys};

/// The name under which the one-time backfill of `subject_regions` is recorded as done.
const BACKFILL_JOB: &str = "subject_regions_backfill";
/// Events read at a time by the backfill.
const BACKFILL_PAGE: i64 = 1000;

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn parse_subject(text: &str) -> Result<DataSubjectId, PrivacyError> {
    Uuid::parse_str(text)
        .map(DataSubjectId::from_uuid)
        .map_err(|_| PrivacyError::Corrupt("a data subject id in the index".into()))
}

impl SubjectKeys {
    /// The subject of the staff member whose index key in this region is `lookup`: the
    /// indexed one, else the old-scheme id `legacy` when the region names it and its key
    /// lives, else a new random id. Two instances creating at once agree (the insert does
    /// nothing when a row exists; both read back the winner).
    pub async fn staff_subject(
        &self,
        lookup: &str,
        legacy: DataSubjectId,
        region: &str,
    ) -> Result<DataSubjectId, PrivacyError> {
        if let Some(found) = self.indexed(lookup).await? {
            return Ok(found);
        }
        let candidate = if self.legacy_in(legacy, region).await? {
            legacy
        } else {
            DataSubjectId::from_uuid(Uuid::new_v4())
        };
        let insert = "INSERT INTO subject_index (lookup, subject, created_at) VALUES ($1, $2, $3) \
                      ON CONFLICT (lookup) DO NOTHING";
        let subject = candidate.to_string();
        match self.db() {
            Db::Postgres(pool) => {
                sqlx::query(insert)
                    .bind(lookup)
                    .bind(&subject)
                    .bind(now_micros())
                    .execute(pool)
                    .await?;
            }
            Db::Sqlite(pool) => {
                sqlx::query(insert)
                    .bind(lookup)
                    .bind(&subject)
                    .bind(now_micros())
                    .execute(pool)
                    .await?;
            }
        }
        self.indexed(lookup).await?.ok_or_else(|| {
            PrivacyError::Key("the data subject was forgotten while it was being indexed".into())
        })
    }

    /// The subject of the staff member whose index key in this region is `lookup`, if this
    /// region names one that is not forgotten; never creates one.
    pub async fn find_staff_subject(
        &self,
        lookup: &str,
        legacy: DataSubjectId,
        region: &str,
    ) -> Result<Option<DataSubjectId>, PrivacyError> {
        if let Some(found) = self.indexed(lookup).await? {
            let named = self.regions_of(found).await?.contains(region);
            return Ok(named.then_some(found));
        }
        Ok(self.legacy_in(legacy, region).await?.then_some(legacy))
    }

    /// Whether an old-scheme subject is named in `region` and still has its key.
    async fn legacy_in(&self, legacy: DataSubjectId, region: &str) -> Result<bool, PrivacyError> {
        Ok(self.regions_of(legacy).await?.contains(region) && self.has_key(legacy).await?)
    }

    async fn indexed(&self, lookup: &str) -> Result<Option<DataSubjectId>, PrivacyError> {
        let query = "SELECT subject FROM subject_index WHERE lookup = $1";
        let row: Option<(String,)> = match self.db() {
            Db::Postgres(pool) => {
                sqlx::query_as(query)
                    .bind(lookup)
                    .fetch_optional(pool)
                    .await?
            }
            Db::Sqlite(pool) => {
                sqlx::query_as(query)
                    .bind(lookup)
                    .fetch_optional(pool)
                    .await?
            }
        };
        row.map(|(subject,)| parse_subject(&subject)).transpose()
    }

    /// Records that `region`'s records name these subjects (before the events that do).
    pub async fn name_in_region(
        &self,
        subjects: &[DataSubjectId],
        region: &str,
    ) -> Result<(), PrivacyError> {
        let insert = "INSERT INTO subject_regions (subject, region) VALUES ($1, $2) \
                      ON CONFLICT (subject, region) DO NOTHING";
        for subject in subjects {
            let subject = subject.to_string();
            match self.db() {
                Db::Postgres(pool) => {
                    sqlx::query(insert)
                        .bind(&subject)
                        .bind(region)
                        .execute(pool)
                        .await?;
                }
                Db::Sqlite(pool) => {
                    sqlx::query(insert)
                        .bind(&subject)
                        .bind(region)
                        .execute(pool)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// The regions whose records name `subject`: who may forget it. An index lookup.
    pub async fn regions_of(
        &self,
        subject: DataSubjectId,
    ) -> Result<BTreeSet<String>, PrivacyError> {
        let query = "SELECT region FROM subject_regions WHERE subject = $1";
        let subject = subject.to_string();
        let rows: Vec<(String,)> = match self.db() {
            Db::Postgres(pool) => sqlx::query_as(query).bind(&subject).fetch_all(pool).await?,
            Db::Sqlite(pool) => sqlx::query_as(query).bind(&subject).fetch_all(pool).await?,
        };
        Ok(rows.into_iter().map(|(region,)| region).collect())
    }

    /// Deletes the subject's index rows (the link from a personnummer to it).
    pub(crate) async fn unindex(&self, subject: DataSubjectId) -> Result<u64, PrivacyError> {
        let delete = "DELETE FROM subject_index WHERE subject = $1";
        let subject = subject.to_string();
        Ok(match self.db() {
            Db::Postgres(pool) => sqlx::query(delete)
                .bind(&subject)
                .execute(pool)
                .await?
                .rows_affected(),
            Db::Sqlite(pool) => sqlx::query(delete)
                .bind(&subject)
                .execute(pool)
                .await?
                .rows_affected(),
        })
    }

    /// Records a lookup: who, where, when (`at`, microseconds since the epoch, by the
    /// caller's clock, the one [`SubjectKeys::lookups_since`] is asked with), and the subject
    /// found. Never the personnummer.
    pub async fn record_lookup(
        &self,
        at: i64,
        region: &str,
        actor_subject: &str,
        actor_role: &str,
        found: Option<DataSubjectId>,
    ) -> Result<(), PrivacyError> {
        let insert = "INSERT INTO subject_lookups (id, at, region, actor_subject, actor_role, found) \
                      VALUES ($1, $2, $3, $4, $5, $6)";
        let id = Uuid::now_v7().to_string();
        let found = found.map(|s| s.to_string());
        match self.db() {
            Db::Postgres(pool) => {
                sqlx::query(insert)
                    .bind(&id)
                    .bind(at)
                    .bind(region)
                    .bind(actor_subject)
                    .bind(actor_role)
                    .bind(&found)
                    .execute(pool)
                    .await?;
            }
            Db::Sqlite(pool) => {
                sqlx::query(insert)
                    .bind(&id)
                    .bind(at)
                    .bind(region)
                    .bind(actor_subject)
                    .bind(actor_role)
                    .bind(&found)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// How many lookups this caller made since `since` (microseconds since the epoch).
    pub async fn lookups_since(
        &self,
        region: &str,
        actor_subject: &str,
        since: i64,
    ) -> Result<u64, PrivacyError> {
        let query = "SELECT COUNT(*) FROM subject_lookups \
                     WHERE region = $1 AND actor_subject = $2 AND at >= $3";
        let (count,): (i64,) = match self.db() {
            Db::Postgres(pool) => {
                sqlx::query_as(query)
                    .bind(region)
                    .bind(actor_subject)
                    .bind(since)
                    .fetch_one(pool)
                    .await?
            }
            Db::Sqlite(pool) => {
                sqlx::query_as(query)
                    .bind(region)
                    .bind(actor_subject)
                    .bind(since)
                    .fetch_one(pool)
                    .await?
            }
        };
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The recorded lookups, oldest first: `(at in microseconds, region, actor subject,
    /// actor role, subject found)`. For operators and tests.
    pub async fn lookups(
        &self,
    ) -> Result<Vec<(i64, String, String, String, Option<String>)>, PrivacyError> {
        let query = "SELECT at, region, actor_subject, actor_role, found FROM subject_lookups \
                     ORDER BY at, id";
        Ok(match self.db() {
            Db::Postgres(pool) => sqlx::query_as(query).fetch_all(pool).await?,
            Db::Sqlite(pool) => sqlx::query_as(query).fetch_all(pool).await?,
        })
    }

    /// Fills `subject_regions` from the events written before it existed, once: every
    /// subject a stored payload names (subject ids are in clear beside sealed values), with
    /// the value of the event's metadata entry `region_entry` (the API's `tenant_region`).
    /// Reads the store's `events` table, a page at a time; returns the rows considered. A
    /// second call (or another instance's) finds the job done and does nothing.
    pub async fn backfill_regions(&self, region_entry: &str) -> Result<u64, PrivacyError> {
        if self.job_done(BACKFILL_JOB).await? {
            return Ok(0);
        }
        let query_pg = "SELECT position, payload::text, metadata::text FROM events \
                        WHERE position > $1 ORDER BY position LIMIT $2";
        let query_sqlite = "SELECT position, payload, metadata FROM events \
                            WHERE position > $1 ORDER BY position LIMIT $2";
        let mut after = 0_i64;
        let mut considered = 0_u64;
        loop {
            let rows: Vec<(i64, String, String)> = match self.db() {
                Db::Postgres(pool) => {
                    sqlx::query_as(query_pg)
                        .bind(after)
                        .bind(BACKFILL_PAGE)
                        .fetch_all(pool)
                        .await?
                }
                Db::Sqlite(pool) => {
                    sqlx::query_as(query_sqlite)
                        .bind(after)
                        .bind(BACKFILL_PAGE)
                        .fetch_all(pool)
                        .await?
                }
            };
            let full = i64::try_from(rows.len()).is_ok_and(|n| n == BACKFILL_PAGE);
            for (position, payload, metadata) in rows {
                after = position;
                let payload: serde_json::Value = serde_json::from_str(&payload)
                    .map_err(|e| PrivacyError::Corrupt(format!("event payload: {e}")))?;
                let subjects = subjects_in(&payload);
                if subjects.is_empty() {
                    continue;
                }
                let metadata: serde_json::Value = serde_json::from_str(&metadata)
                    .map_err(|e| PrivacyError::Corrupt(format!("event metadata: {e}")))?;
                let Some(region) = metadata.get(region_entry).and_then(|v| v.as_str()) else {
                    continue;
                };
                let subjects: Vec<DataSubjectId> =
                    subjects.into_iter().map(DataSubjectId::from_uuid).collect();
                considered += subjects.len() as u64;
                self.name_in_region(&subjects, region).await?;
            }
            if !full {
                break;
            }
        }
        self.mark_done(BACKFILL_JOB).await?;
        Ok(considered)
    }

    async fn job_done(&self, name: &str) -> Result<bool, PrivacyError> {
        let query = "SELECT name FROM subject_jobs WHERE name = $1";
        let row: Option<(String,)> = match self.db() {
            Db::Postgres(pool) => {
                sqlx::query_as(query)
                    .bind(name)
                    .fetch_optional(pool)
                    .await?
            }
            Db::Sqlite(pool) => {
                sqlx::query_as(query)
                    .bind(name)
                    .fetch_optional(pool)
                    .await?
            }
        };
        Ok(row.is_some())
    }

    async fn mark_done(&self, name: &str) -> Result<(), PrivacyError> {
        let insert = "INSERT INTO subject_jobs (name, done_at) VALUES ($1, $2) \
                      ON CONFLICT (name) DO NOTHING";
        match self.db() {
            Db::Postgres(pool) => {
                sqlx::query(insert)
                    .bind(name)
                    .bind(now_micros())
                    .execute(pool)
                    .await?;
            }
            Db::Sqlite(pool) => {
                sqlx::query(insert)
                    .bind(name)
                    .bind(now_micros())
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }
}
