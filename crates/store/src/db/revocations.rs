//! Durable revocations: a revoked access token, grant or session stays revoked after the
//! ephemeral store is emptied (Redis flushed or failed over, the memory store restarted), until
//! the moment the revoked thing would have expired by itself.
//!
//! The gateway chooses the keys (e.g. `"jti:…"`, `"grant:…"`) and keeps a copy of the live rows
//! in its ephemeral store for speed; this table is the record that survives. Times are stored as
//! whole unix seconds: an expiry is rounded *up* and `now` down, so rounding can only make a
//! revocation last a little longer, never shorter than asked.

use chrono::{DateTime, Utc};

use super::{from_unix, to_unix, Database, Tx};
use crate::StoreError;

/// A live revocation, as [`Database::live_revocations`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The revoked thing, as the gateway named it.
    pub key: String,
    /// Why, as the first revocation of the key said (e.g. `"logout"`, `"revoked-by-client"`).
    pub reason: String,
    /// The revocation counts while `now < expires_at` (whole seconds).
    pub expires_at: DateTime<Utc>,
}

/// How many keys one `revoked_any` query carries at most: far above what a caller passes (a
/// token, its grant, its session), far below SQLite's and Postgres's limits on bound values.
const KEYS_PER_QUERY: usize = 500;

/// The upsert of one revocation: `$1` key, `$2` reason, `$3` now, `$4` expires_at.
///
/// On a key already there, `expires_at` becomes the later of the two, never the earlier. While
/// the stored revocation is still live, its `reason` and `created_at` are kept (the first
/// revocation is the one on record); a stored one that has already expired is replaced whole.
const UPSERT: &str = "INSERT INTO revocations (key, reason, created_at, expires_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (key) DO UPDATE SET \
     reason = CASE WHEN revocations.expires_at > excluded.created_at \
         THEN revocations.reason ELSE excluded.reason END, \
     created_at = CASE WHEN revocations.expires_at > excluded.created_at \
         THEN revocations.created_at ELSE excluded.created_at END, \
     expires_at = excluded.expires_at \
     WHERE revocations.expires_at < excluded.expires_at";

/// Unix seconds of `at`, rounded up: a revocation until 12:00:00.3 lasts until 12:00:01.
fn to_unix_ceil(at: DateTime<Utc>) -> i64 {
    let secs = to_unix(at);
    if at.timestamp_subsec_nanos() > 0 {
        secs.saturating_add(1)
    } else {
        secs
    }
}

impl Database {
    /// Records that `key` is revoked from `now` until `expires_at` (the moment the revoked
    /// thing would have expired anyway), for `reason`.
    ///
    /// Revoking a key that is already revoked never shortens its revocation: the stored
    /// `expires_at` becomes the later of the two. A revocation with `expires_at <= now` is
    /// stored but never counts (and is pruned by [`Database::prune_revocations`]).
    #[tracing::instrument(skip(self))]
    pub async fn insert_revocation(
        &self,
        key: &str,
        reason: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_pool!(&self.pool, |pool| {
            sqlx::query(UPSERT)
                .bind(key)
                .bind(reason)
                .bind(to_unix(now))
                .bind(to_unix_ceil(expires_at))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// [`Database::insert_revocation`] for each of `keys` (with the same reason and times), in
    /// one transaction: either every key is revoked or, on an error, none is. A key listed twice
    /// counts once; no keys, nothing written.
    ///
    /// The keys are written in sorted order, so two concurrent calls over overlapping keys lock
    /// their rows in the same order and cannot deadlock on Postgres.
    #[tracing::instrument(skip(self))]
    pub async fn insert_revocations(
        &self,
        keys: &[&str],
        reason: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut keys = keys.to_vec();
        keys.sort_unstable();
        keys.dedup();
        if keys.is_empty() {
            return Ok(());
        }
        let (now, expires_at) = (to_unix(now), to_unix_ceil(expires_at));
        // The first statement is a write: on SQLite it takes the write lock up front.
        let mut tx = Tx::begin(&self.pool).await?;
        for key in keys {
            on_tx!(&mut tx, |c| {
                sqlx::query(UPSERT)
                    .bind(key)
                    .bind(reason)
                    .bind(now)
                    .bind(expires_at)
                    .execute(c)
                    .await?;
            });
        }
        tx.commit().await
    }

    /// True when any of `keys` has a revocation that counts at `now` (`now < expires_at`).
    /// No keys: `false`, without a query. Otherwise one query (for more than 500 keys, one per
    /// 500), which reads the primary key only.
    #[tracing::instrument(skip(self), fields(keys = keys.len()))]
    pub async fn revoked_any(&self, keys: &[&str], now: DateTime<Utc>) -> Result<bool, StoreError> {
        let now = to_unix(now);
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let placeholders = (2..chunk.len() + 2)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT key FROM revocations WHERE expires_at > $1 AND key IN ({placeholders}) \
                 LIMIT 1"
            );
            let found: Option<String> = on_pool!(&self.pool, |pool| {
                let mut query = sqlx::query_scalar(&sql).bind(now);
                for key in chunk {
                    query = query.bind(*key);
                }
                query.fetch_optional(pool).await?
            });
            if found.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Every revocation that counts at `now` (`now < expires_at`), ordered by key: what an
    /// emptied cache is seeded again with.
    #[tracing::instrument(skip(self))]
    pub async fn live_revocations(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<Revocation>, StoreError> {
        let rows: Vec<(String, String, i64)> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT key, reason, expires_at FROM revocations WHERE expires_at > $1 \
                 ORDER BY key",
            )
            .bind(to_unix(now))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(key, reason, expires_at)| {
                Ok(Revocation {
                    key,
                    reason,
                    expires_at: from_unix(expires_at, "revocations.expires_at")?,
                })
            })
            .collect()
    }

    /// Deletes the revocations that no longer count at `now` (`expires_at <= now`); how many.
    /// Live ones are never touched.
    #[tracing::instrument(skip(self))]
    pub async fn prune_revocations(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let affected: u64 = on_pool!(&self.pool, |pool| {
            sqlx::query("DELETE FROM revocations WHERE expires_at <= $1")
                .bind(to_unix(now))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(affected)
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::to_unix_ceil;

    #[test]
    fn expiries_round_up_to_the_next_whole_second() {
        let whole = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        assert_eq!(to_unix_ceil(whole), 1_750_000_000);
        let later = DateTime::from_timestamp(1_750_000_000, 1).unwrap();
        assert_eq!(to_unix_ceil(later), 1_750_000_001);
    }
}
