//! How an import's rows meet the stored accounts: usernames compare by their folded key
//! ([`vneid_core::username_key`]), the active account of a key first; a respelled account is
//! renamed (its link follows); keys are filled where missing, reconciling accounts that differ
//! only by case; a sync makes the accounts its units no longer list inactive.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::accounts::{ACCOUNT_ACTIVE, ACCOUNT_INACTIVE, UPSERT_BATCH};
use super::DirectoryAccount;
use crate::db::Tx;
use crate::StoreError;

/// A stored account as an import compares it with a row.
pub(super) struct Stored {
    pub username: String,
    pub content_hash: String,
    pub personal_id_hash: Option<String>,
    pub status: String,
}

/// `username_key → stored account` for the rows of `chunk` already stored: the active account
/// of each key, else its latest (keys are filled by [`fill_username_keys`] first).
///
/// In steps that each use an index the planner can trust without statistics (a first import
/// into an empty table has none): the rows' exact usernames (the primary key: nearly every row
/// of a re-import), then the keys still missing among active accounts (a unique index), then,
/// only when `inactive_exist`, among the others (a small partial index).
pub(super) async fn stored_versions(
    tx: &mut Tx,
    chunk: &[DirectoryAccount],
    inactive_exist: bool,
) -> Result<HashMap<String, Stored>, StoreError> {
    const COLUMNS: &str =
        "SELECT username_key, username, content_hash, personal_id_hash, status, updated_at \
         FROM directory_accounts WHERE ";
    let keys: Vec<String> = chunk
        .iter()
        .map(|r| vneid_core::username_key(&r.username))
        .collect();
    let mut found: HashMap<String, (Stored, i64)> = HashMap::with_capacity(chunk.len());
    let names: Vec<&str> = chunk.iter().map(|r| r.username.as_str()).collect();
    keep_latest(
        &mut found,
        select_in(tx, COLUMNS, "username IN (", &names).await?,
    );
    for (done, clause) in [
        (false, "status = 'active' AND username_key IN ("),
        (!inactive_exist, "status <> 'active' AND username_key IN ("),
    ] {
        let missing: Vec<&str> = keys
            .iter()
            .filter(|k| {
                found
                    .get(*k)
                    .is_none_or(|(s, _)| s.status != ACCOUNT_ACTIVE)
            })
            .map(String::as_str)
            .collect();
        if done || missing.is_empty() {
            continue;
        }
        keep_latest(&mut found, select_in(tx, COLUMNS, clause, &missing).await?);
    }
    Ok(found.into_iter().map(|(k, (s, _))| (k, s)).collect())
}

type StoredRow = (Option<String>, String, String, Option<String>, String, i64);

/// `select` followed by `clause`, the bound `values` and `)`.
async fn select_in(
    tx: &mut Tx,
    select: &str,
    clause: &str,
    values: &[&str],
) -> Result<Vec<StoredRow>, StoreError> {
    Ok(on_tx!(tx, |c| {
        let mut qb = sqlx::QueryBuilder::new(select);
        qb.push(clause);
        let mut list = qb.separated(", ");
        for v in values {
            list.push_bind(*v);
        }
        list.push_unseparated(")");
        qb.build_query_as().fetch_all(c).await?
    }))
}

/// Adds `rows` to `found` by key, keeping per key the active account, else the latest.
fn keep_latest(found: &mut HashMap<String, (Stored, i64)>, rows: Vec<StoredRow>) {
    for (key, username, content_hash, personal_id_hash, status, updated_at) in rows {
        let key = key.unwrap_or_else(|| vneid_core::username_key(&username));
        let candidate = Stored {
            username,
            content_hash,
            personal_id_hash,
            status,
        };
        let rank = |s: &Stored, at: i64| (s.status == ACCOUNT_ACTIVE, at);
        match found.get(&key) {
            Some((kept, at)) if rank(kept, *at) >= rank(&candidate, updated_at) => {}
            _ => {
                found.insert(key, (candidate, updated_at));
            }
        }
    }
}

/// Gives the stored account `from` the spelling `to` (its link follows: ON UPDATE CASCADE).
pub(super) async fn rename(tx: &mut Tx, from: &str, to: &str) -> Result<(), StoreError> {
    on_tx!(tx, |c| {
        sqlx::query("UPDATE directory_accounts SET username = $1 WHERE username = $2")
            .bind(to)
            .bind(from)
            .execute(c)
            .await?;
    });
    Ok(())
}

/// Sets `username_key` where it is missing (after the migration that added it, or on rows a
/// build before it inserted). Of active accounts that differ only by case, the latest stays
/// active and the others become inactive (kept, with their links), so one active account
/// holds each key. Reads the accounts once and writes in batches. Returns how many rows it
/// filled.
pub(crate) async fn fill_username_keys(tx: &mut Tx, at: i64) -> Result<u64, StoreError> {
    let missing: i64 = on_tx!(tx, |c| {
        sqlx::query_scalar("SELECT COUNT(*) FROM directory_accounts WHERE username_key IS NULL")
            .fetch_one(c)
            .await?
    });
    if missing == 0 {
        return Ok(0);
    }
    let all: Vec<(String, String, i64, Option<String>)> = on_tx!(tx, |c| {
        sqlx::query_as("SELECT username, status, updated_at, username_key FROM directory_accounts")
            .fetch_all(c)
            .await?
    });
    let mut active_by_key: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    let mut fill: Vec<(String, String)> = Vec::new();
    for (username, status, updated_at, key) in all {
        let computed = key
            .clone()
            .unwrap_or_else(|| vneid_core::username_key(&username));
        if status == ACCOUNT_ACTIVE {
            active_by_key
                .entry(computed.clone())
                .or_default()
                .push((updated_at, username.clone()));
        }
        if key.is_none() {
            fill.push((username, computed));
        }
    }
    let mut deactivate: Vec<String> = Vec::new();
    for mut holders in active_by_key.into_values().filter(|h| h.len() > 1) {
        holders.sort_by(|a, b| b.cmp(a));
        deactivate.extend(holders.into_iter().skip(1).map(|(_, u)| u));
    }
    for batch in deactivate.chunks(UPSERT_BATCH) {
        set_inactive(tx, batch, at).await?;
    }
    for batch in fill.chunks(UPSERT_BATCH) {
        on_tx!(tx, |c| {
            let mut qb = sqlx::QueryBuilder::new(
                "UPDATE directory_accounts SET username_key = v.column2 FROM (",
            );
            qb.push_values(batch, |mut b, (username, key)| {
                b.push_bind(username.as_str()).push_bind(key.as_str());
            });
            qb.push(") AS v WHERE directory_accounts.username = v.column1");
            qb.build().execute(c).await?;
        });
    }
    Ok(fill.len() as u64)
}

/// Makes the accounts `usernames` (at most [`UPSERT_BATCH`]) inactive.
async fn set_inactive(tx: &mut Tx, usernames: &[String], at: i64) -> Result<(), StoreError> {
    on_tx!(tx, |c| {
        let mut qb = sqlx::QueryBuilder::new("UPDATE directory_accounts SET status = ");
        qb.push_bind(ACCOUNT_INACTIVE)
            .push(", updated_at = ")
            .push_bind(at)
            .push(" WHERE username IN (");
        let mut list = qb.separated(", ");
        for u in usernames {
            list.push_bind(u.as_str());
        }
        list.push_unseparated(")");
        qb.build().execute(c).await?;
    });
    Ok(())
}

/// In every unit `rows` name, the active accounts `rows` do not name become inactive; their
/// personal-ID hashes join `touched` (their holders' duplicates are recounted). Returns their
/// usernames, sorted.
pub(super) async fn deactivate_unlisted(
    tx: &mut Tx,
    rows: &[DirectoryAccount],
    at: i64,
    touched: &mut BTreeSet<String>,
) -> Result<Vec<String>, StoreError> {
    let listed: HashSet<String> = rows
        .iter()
        .map(|r| vneid_core::username_key(&r.username))
        .collect();
    let units: BTreeSet<&str> = rows.iter().map(|r| r.unit_code.as_str()).collect();
    let mut gone: Vec<(String, Option<String>)> = Vec::new();
    for unit in units {
        let active: Vec<(String, Option<String>, Option<String>)> = on_tx!(tx, |c| {
            sqlx::query_as(
                "SELECT username, username_key, personal_id_hash FROM directory_accounts \
                 WHERE unit_code = $1 AND status = 'active'",
            )
            .bind(unit)
            .fetch_all(c)
            .await?
        });
        gone.extend(
            active
                .into_iter()
                .filter(|(u, key, _)| match key {
                    Some(k) => !listed.contains(k),
                    None => !listed.contains(&vneid_core::username_key(u)),
                })
                .map(|(u, _, hash)| (u, hash)),
        );
    }
    let mut usernames: Vec<String> = gone
        .into_iter()
        .map(|(u, hash)| {
            touched.extend(hash);
            u
        })
        .collect();
    usernames.sort();
    for batch in usernames.chunks(UPSERT_BATCH) {
        set_inactive(tx, batch, at).await?;
    }
    Ok(usernames)
}
