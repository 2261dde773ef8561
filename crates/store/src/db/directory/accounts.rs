//! The accounts of the directory: batched upserts with their duplicate flags and dry runs,
//! lookups, listing and counting.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};

use super::matching::{deactivate_unlisted, fill_username_keys, rename, stored_versions};
use super::{
    account_columns, account_from_row, count_from_db, decode_account, AccountDbRow,
    DirectoryAccount, UpsertCounts, ACCOUNT_COLUMN_NAMES, DIRECTORY_LIST_MAX,
};
use crate::db::{to_date_text, to_unix, Database, Tx};
use crate::StoreError;

/// `personal_id_status` of an account whose number passed validation and no other account holds.
const STATUS_VALID: &str = "valid";
/// `personal_id_status` of an account whose valid number another account holds too.
const STATUS_DUPLICATE: &str = "duplicate";
/// `personal_id_status` of an account without a number.
const STATUS_MISSING: &str = "missing";
/// `personal_id_status` of an account whose number failed validation.
const STATUS_INVALID: &str = "invalid";

/// Accounts written by one multi-row `INSERT`. Each takes [`ACCOUNT_COLUMN_NAMES`]`.len()` bind
/// parameters: 17,000 per statement, under SQLite's limit (32,766) and Postgres' (65,535).
pub(super) const UPSERT_BATCH: usize = 1000;
const _: () = assert!(UPSERT_BATCH * (ACCOUNT_COLUMN_NAMES.len() + 1) <= 32_766);

/// `status` of an account the latest import of its unit listed (or that no sync has left out).
pub const ACCOUNT_ACTIVE: &str = "active";
/// `status` of an account a sync import of its unit no longer listed: kept with its link for
/// the audit trail, never linked at login, never released in the `account` claim.
pub const ACCOUNT_INACTIVE: &str = "inactive";

/// `ON CONFLICT` clause of the account upsert: every imported column is replaced; `created_at`
/// is kept.
const ACCOUNT_UPSERT_TAIL: &str = " ON CONFLICT (username) DO UPDATE SET \
     full_name = excluded.full_name, unit_code = excluded.unit_code, \
     unit_name = excluded.unit_name, kind = excluded.kind, \
     personal_id_hash = excluded.personal_id_hash, \
     personal_id_sealed = excluded.personal_id_sealed, \
     personal_id_masked = excluded.personal_id_masked, \
     personal_id_status = excluded.personal_id_status, \
     personal_id_problem = excluded.personal_id_problem, \
     birth_date = excluded.birth_date, phone = excluded.phone, email = excluded.email, \
     status = excluded.status, content_hash = excluded.content_hash, \
     updated_at = excluded.updated_at, username_key = excluded.username_key";

impl Database {
    /// Upserts `rows` by username in ONE transaction and returns what changed.
    ///
    /// - An account not stored yet is inserted (`created`); a stored one whose `content_hash`
    ///   differs is rewritten (`updated`; `created_at` kept, `updated_at = at`); one with the
    ///   same `content_hash` is `unchanged` and not written at all (`updated_at` untouched).
    /// - Then `personal_id_status` is recomputed, in the same transaction, for every personal-ID
    ///   hash touched (the input rows' hashes and the previous hashes of updated rows, so the
    ///   other holders of a number an account gave up are re-evaluated): a hash held by more
    ///   than one account makes every holder `duplicate`, a hash held by one account makes it
    ///   `valid`. (The rule is applied to the whole directory in a few set-based statements;
    ///   hashes the upsert did not touch already follow it.) Accounts without a hash
    ///   (`missing`, `invalid`) keep their status. Such a status change does not move
    ///   `updated_at`.
    /// - Usernames compare case-insensitively ([`vneid_core::username_key`]): a row matches the
    ///   stored account with the same key (the active one, else the latest), which takes the
    ///   row's spelling (its link follows). A stored `inactive` account listed again is
    ///   rewritten `active` (`reactivated`).
    /// - `sync`: in every unit the rows name, the active accounts the rows do not name become
    ///   `inactive` (`deactivated`), never deleted; units the rows do not name are untouched.
    /// - `commit == false` is a dry run: the same work, the exact counts, then a rollback.
    ///
    /// Fast on large imports: accounts are read and written a thousand at a time (one
    /// multi-row `INSERT … ON CONFLICT (username) DO UPDATE` per batch). Imports are
    /// serialised: on SQLite the transaction takes the write lock first, on Postgres it locks
    /// `directory_accounts` against other writers (readers and links are not blocked), so two
    /// concurrent imports cannot both miss a duplicate.
    ///
    /// [`StoreError::Invalid`] (nothing written) when a username appears twice in `rows`, or
    /// a row's status does not match its hash (a hash needs `valid`, or `duplicate`; no hash
    /// needs `missing` or `invalid`).
    #[tracing::instrument(skip_all, fields(rows = rows.len(), commit = commit))]
    pub async fn upsert_directory_accounts(
        &self,
        rows: &[DirectoryAccount],
        at: DateTime<Utc>,
        sync: bool,
        commit: bool,
    ) -> Result<UpsertCounts, StoreError> {
        check_upsert_input(rows)?;
        let at = to_unix(at);
        let mut tx = Tx::begin(&self.pool).await?;
        lock_directory(&mut tx).await?;
        fill_username_keys(&mut tx, at).await?;

        let mut counts = UpsertCounts::default();
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let inactive_exist: bool = on_tx!(&mut tx, |c| {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM directory_accounts WHERE status <> 'active')",
            )
            .fetch_one(c)
            .await?
        });
        for chunk in rows.chunks(UPSERT_BATCH) {
            let stored = stored_versions(&mut tx, chunk, inactive_exist).await?;
            let mut write = Vec::with_capacity(chunk.len());
            for row in chunk {
                if let Some(hash) = &row.personal_id_hash {
                    touched.insert(hash.clone());
                }
                let Some(was) = stored.get(&vneid_core::username_key(&row.username)) else {
                    counts.created += 1;
                    write.push(row);
                    continue;
                };
                let active = was.status == ACCOUNT_ACTIVE;
                if active && was.username == row.username && was.content_hash == row.content_hash {
                    counts.unchanged += 1;
                    continue;
                }
                if active {
                    counts.updated += 1;
                } else {
                    counts.reactivated += 1;
                }
                if let Some(previous) = &was.personal_id_hash {
                    touched.insert(previous.clone());
                }
                if was.username != row.username {
                    rename(&mut tx, &was.username, &row.username).await?;
                }
                write.push(row);
            }
            if !write.is_empty() {
                write_accounts(&mut tx, &write, at).await?;
            }
        }
        if sync {
            counts.deactivated = deactivate_unlisted(&mut tx, rows, at, &mut touched).await?;
        }
        let written = counts.created + counts.updated + counts.reactivated;
        if written + counts.deactivated.len() as u64 >= ANALYZE_AFTER {
            analyze(&mut tx).await?;
        }
        counts.duplicates = recompute_duplicates(&mut tx, &touched).await?;

        if commit {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        tracing::debug!(
            created = counts.created,
            updated = counts.updated,
            unchanged = counts.unchanged,
            reactivated = counts.reactivated,
            deactivated = counts.deactivated.len(),
            duplicates = counts.duplicates.len(),
            "directory upsert"
        );
        Ok(counts)
    }

    /// The account with this username, compared case-insensitively (the active one when
    /// accounts differ only by case), if any.
    pub async fn directory_account(
        &self,
        username: &str,
    ) -> Result<Option<DirectoryAccount>, StoreError> {
        // Each branch on an index: the active account of the key, the others of the key, the
        // exact name of a row whose key is not filled yet.
        let columns = account_columns("");
        let sql = format!(
            "SELECT * FROM ( \
             SELECT {columns}, 0 AS rank FROM directory_accounts \
             WHERE status = 'active' AND username_key = $1 \
             UNION ALL SELECT {columns}, 1 AS rank FROM directory_accounts \
             WHERE status <> 'active' AND username_key = $1 \
             UNION ALL SELECT {columns}, 2 AS rank FROM directory_accounts \
             WHERE username_key IS NULL AND username = $2) AS found \
             ORDER BY rank, updated_at DESC LIMIT 1"
        );
        let row: Option<AccountDbRow> = on_pool!(&self.pool, |pool| {
            sqlx::query(&sql)
                .bind(vneid_core::username_key(username))
                .bind(username)
                .fetch_optional(pool)
                .await?
                .map(|r| decode_account(&r, 0))
                .transpose()?
        });
        row.map(account_from_row).transpose()
    }

    /// Accounts holding this personal-ID hash (any status), sorted by username.
    pub async fn directory_accounts_by_personal_id_hash(
        &self,
        hash: &str,
    ) -> Result<Vec<DirectoryAccount>, StoreError> {
        let sql = format!(
            "SELECT {} FROM directory_accounts WHERE personal_id_hash = $1 ORDER BY username",
            account_columns("")
        );
        let rows: Vec<AccountDbRow> = on_pool!(&self.pool, |pool| {
            sqlx::query(&sql)
                .bind(hash)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| decode_account(r, 0))
                .collect::<Result<_, _>>()?
        });
        rows.into_iter().map(account_from_row).collect()
    }

    /// Accounts by username (byte order on both backends), those after `after` (exclusive),
    /// of unit `unit_code` when given; at most `limit`, capped at [`DIRECTORY_LIST_MAX`].
    pub async fn list_directory_accounts(
        &self,
        unit_code: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DirectoryAccount>, StoreError> {
        let limit = i64::from(limit.min(DIRECTORY_LIST_MAX));
        let rows: Vec<AccountDbRow> = on_pool!(&self.pool, |pool| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {} FROM directory_accounts WHERE 1 = 1",
                account_columns("")
            ));
            if let Some(unit_code) = unit_code {
                qb.push(" AND unit_code = ").push_bind(unit_code);
            }
            if let Some(after) = after {
                qb.push(" AND username > ").push_bind(after);
            }
            qb.push(" ORDER BY username LIMIT ").push_bind(limit);
            qb.build()
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| decode_account(r, 0))
                .collect::<Result<_, _>>()?
        });
        rows.into_iter().map(account_from_row).collect()
    }

    /// How many accounts the directory holds.
    pub async fn count_directory_accounts(&self) -> Result<u64, StoreError> {
        let n: i64 = on_pool!(&self.pool, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM directory_accounts")
                .fetch_one(pool)
                .await?
        });
        count_from_db(n)
    }
}

/// Refuses an upsert that is a caller's bug: a username twice, or a status that does not go
/// with the presence of a hash.
fn check_upsert_input(rows: &[DirectoryAccount]) -> Result<(), StoreError> {
    let mut seen = HashSet::with_capacity(rows.len());
    for row in rows {
        if !seen.insert(row.username.as_str()) {
            return Err(StoreError::Invalid(format!(
                "directory account {:?} appears more than once in one upsert",
                row.username
            )));
        }
        let status = row.personal_id_status.as_str();
        let fits = match row.personal_id_hash {
            Some(_) => matches!(status, STATUS_VALID | STATUS_DUPLICATE),
            None => matches!(status, STATUS_MISSING | STATUS_INVALID),
        };
        if !fits {
            return Err(StoreError::Invalid(format!(
                "directory account {:?}: personal_id_status {status:?} {} a personal ID hash",
                row.username,
                if row.personal_id_hash.is_some() {
                    "with"
                } else {
                    "without"
                }
            )));
        }
    }
    Ok(())
}

/// The first statement of an import: serialises imports. On SQLite a write (that changes
/// nothing) takes the database's write lock up front; on Postgres the table is locked against
/// other writers (SHARE ROW EXCLUSIVE conflicts with itself and with row writes, not with reads
/// or with the key-share locks that foreign keys from `account_links` take).
async fn lock_directory(tx: &mut Tx) -> Result<(), StoreError> {
    match tx {
        Tx::Sqlite(t) => {
            sqlx::query("UPDATE directory_accounts SET updated_at = updated_at WHERE 1 = 0")
                .execute(&mut **t)
                .await?;
        }
        Tx::Postgres(t) => {
            sqlx::query("LOCK TABLE directory_accounts IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut **t)
                .await?;
        }
    }
    Ok(())
}

/// After an import that wrote this many accounts, Postgres' statistics of the table are renewed
/// in the import's transaction: the duplicate recount that follows (and the next import) is
/// planned on what the table now holds, not on an empty table's statistics.
const ANALYZE_AFTER: u64 = 1000;

/// `ANALYZE directory_accounts` on Postgres (it counts this transaction's own rows); SQLite's
/// plans do not need it.
async fn analyze(tx: &mut Tx) -> Result<(), StoreError> {
    if let Tx::Postgres(t) = tx {
        sqlx::query("ANALYZE directory_accounts")
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}

/// Inserts or rewrites `rows` (at most [`UPSERT_BATCH`]) with one statement; `at` is their
/// `updated_at`, and `created_at` of those that are new.
async fn write_accounts(
    tx: &mut Tx,
    rows: &[&DirectoryAccount],
    at: i64,
) -> Result<(), StoreError> {
    on_tx!(tx, |c| {
        let mut qb = sqlx::QueryBuilder::new(format!(
            "INSERT INTO directory_accounts ({}, username_key) ",
            account_columns("")
        ));
        qb.push_values(rows, |mut b, row| {
            b.push_bind(row.username.as_str())
                .push_bind(row.full_name.as_str())
                .push_bind(row.unit_code.as_str())
                .push_bind(row.unit_name.as_str())
                .push_bind(row.kind.as_str())
                .push_bind(row.personal_id_hash.as_deref())
                .push_bind(row.personal_id_sealed.as_deref())
                .push_bind(row.personal_id_masked.as_deref())
                .push_bind(row.personal_id_status.as_str())
                .push_bind(row.personal_id_problem.as_deref())
                .push_bind(row.birth_date.map(to_date_text))
                .push_bind(row.phone.as_deref())
                .push_bind(row.email.as_deref())
                .push_bind(row.status.as_str())
                .push_bind(row.content_hash.as_str())
                .push_bind(at)
                .push_bind(at)
                .push_bind(vneid_core::username_key(&row.username));
        });
        qb.push(ACCOUNT_UPSERT_TAIL);
        qb.build().execute(c).await?;
    });
    Ok(())
}

/// The personal-ID hashes held by more than one active account (among those whose status is
/// `valid` or `duplicate`: an account without a valid number holds none; an inactive account
/// no longer competes for its number).
const SHARED_HASHES: &str = "SELECT personal_id_hash FROM directory_accounts \
     WHERE personal_id_status IN ('valid', 'duplicate') AND personal_id_hash IS NOT NULL \
     AND status = 'active' \
     GROUP BY personal_id_hash HAVING COUNT(*) > 1";

/// Brings `valid` / `duplicate` in line with the number of holders of each hash, then returns
/// the `duplicate` holders of the `touched` hashes, sorted.
///
/// Done for the whole table with three set-based statements (an aggregate over
/// `directory_accounts`, a few tens of milliseconds for 100,000 accounts), not hash by hash:
/// a lookup of a thousand hashes at once is planned as a full scan by Postgres (which cannot
/// know that hashes are nearly unique before the table is analysed), a hundred times over for a
/// large import. As every import keeps the rule for the hashes it touches, the others are
/// already in line and left unwritten; only accounts whose status changes are written.
async fn recompute_duplicates(
    tx: &mut Tx,
    touched: &BTreeSet<String>,
) -> Result<Vec<String>, StoreError> {
    let flag = format!(
        "UPDATE directory_accounts SET personal_id_status = 'duplicate' \
         WHERE personal_id_status = 'valid' AND status = 'active' \
         AND personal_id_hash IN ({SHARED_HASHES})"
    );
    let unflag = format!(
        "UPDATE directory_accounts SET personal_id_status = 'valid' \
         WHERE personal_id_status = 'duplicate' AND personal_id_hash IS NOT NULL \
         AND (status <> 'active' OR personal_id_hash NOT IN ({SHARED_HASHES}))"
    );
    for sql in [&flag, &unflag] {
        on_tx!(tx, |c| {
            sqlx::query(sql).execute(c).await?;
        });
    }
    let flagged: Vec<(String, String)> = on_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT username, personal_id_hash FROM directory_accounts \
             WHERE personal_id_status = 'duplicate' AND personal_id_hash IS NOT NULL",
        )
        .fetch_all(c)
        .await?
    });
    let mut duplicates: Vec<String> = flagged
        .into_iter()
        .filter(|(_, hash)| touched.contains(hash))
        .map(|(username, _)| username)
        .collect();
    duplicates.sort();
    Ok(duplicates)
}

#[cfg(test)]
mod tests {
    use super::super::tests::account;
    use super::*;

    #[test]
    fn a_username_twice_in_one_upsert_is_refused() {
        let rows = [account(), account()];
        assert!(matches!(
            check_upsert_input(&rows),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn a_status_must_go_with_the_presence_of_a_hash() {
        let mut a = account();
        a.personal_id_status = "missing".into();
        assert!(check_upsert_input(&[a]).is_err());
        let mut b = account();
        b.personal_id_hash = None;
        assert!(check_upsert_input(&[b.clone()]).is_err());
        b.personal_id_status = "invalid".into();
        assert!(check_upsert_input(&[b]).is_ok());
        assert!(check_upsert_input(&[account()]).is_ok());
    }
}
