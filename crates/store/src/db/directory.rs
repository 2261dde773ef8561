//! The one-stop-shop account directory (imported from the units' spreadsheets), the links
//! between its accounts and people, the conflicts that kept a login from being linked, and the
//! aggregates the readiness and login reports are made of.
//!
//! Personal ID numbers are never stored in clear here: an account keeps a keyed hash (only of a
//! number that passed validation, for matching), the number sealed with the master key (as it
//! was given, valid or not) and a masked form for reports.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{from_date_text, from_unix, to_date_text, to_unix, Database, Tx};
use crate::StoreError;

/// The most rows one listing call returns ([`Database::list_directory_accounts`],
/// [`Database::list_account_links`], [`Database::list_link_conflicts`]), whatever it asks for.
pub const DIRECTORY_LIST_MAX: u32 = 1000;

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
const UPSERT_BATCH: usize = 1000;
const _: () = assert!(UPSERT_BATCH * ACCOUNT_COLUMN_NAMES.len() <= 32_766);

/// A one-stop-shop account, as stored or as given to [`Database::upsert_directory_accounts`].
///
/// Its `Debug` output leaves out the personal data (name, hash, sealed number, birth date,
/// phone, e-mail); the masked number is shown.
#[derive(Clone, PartialEq, Eq)]
pub struct DirectoryAccount {
    /// The account's login name at the one-stop shop; the key of the directory.
    pub username: String,
    pub full_name: String,
    /// The unit (department, district, commune) the account belongs to.
    pub unit_code: String,
    pub unit_name: String,
    /// `staff`, `citizen` or `organisation`.
    pub kind: String,
    /// Keyed hash of the personal ID number (`MasterKey::lookup_hash("personal_id", digits)`);
    /// only for a number that passed validation.
    pub personal_id_hash: Option<String>,
    /// The number as it was given (valid or not), sealed with aad `b"personal_id"`; `None`
    /// when missing.
    pub personal_id_sealed: Option<Vec<u8>>,
    /// The number masked for reports read without `admin:pii`.
    pub personal_id_masked: Option<String>,
    /// `valid`, `missing`, `invalid` or `duplicate`. On input: `valid` (with a hash), `missing`
    /// or `invalid` (without one); `duplicate` is computed by the store.
    pub personal_id_status: String,
    /// Why the number is invalid (e.g. `unknown_province`, `birth_year_mismatch`).
    pub personal_id_problem: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// `active` (an import sets it).
    pub status: String,
    /// Keyed hash of the canonical imported row: equal to the stored one means unchanged.
    pub content_hash: String,
    /// When the account was first imported (ignored on input). Whole seconds.
    pub created_at: DateTime<Utc>,
    /// When its imported content last changed (ignored on input). A change of
    /// `personal_id_status` caused by another account does not move it. Whole seconds.
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for DirectoryAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryAccount")
            .field("username", &self.username)
            .field("full_name", &"[redacted]")
            .field("unit_code", &self.unit_code)
            .field("unit_name", &self.unit_name)
            .field("kind", &self.kind)
            .field(
                "personal_id_hash",
                &self.personal_id_hash.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "personal_id_sealed",
                &self.personal_id_sealed.as_ref().map(|_| "[sealed]"),
            )
            .field("personal_id_masked", &self.personal_id_masked)
            .field("personal_id_status", &self.personal_id_status)
            .field("personal_id_problem", &self.personal_id_problem)
            .field(
                "birth_date",
                &self.birth_date.as_ref().map(|_| "[redacted]"),
            )
            .field("phone", &self.phone.as_ref().map(|_| "[redacted]"))
            .field("email", &self.email.as_ref().map(|_| "[redacted]"))
            .field("status", &self.status)
            .field("content_hash", &self.content_hash)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// What [`Database::upsert_directory_accounts`] did (or, on a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpsertCounts {
    /// Accounts that were not stored before.
    pub created: u64,
    /// Stored accounts whose content hash changed (they were rewritten).
    pub updated: u64,
    /// Stored accounts with the same content hash (not written at all).
    pub unchanged: u64,
    /// Every username (input or already stored) that holds a personal-ID hash the upsert
    /// touched (an input row's hash, or the previous hash of an updated row) and is flagged
    /// `duplicate` after the upsert, sorted.
    pub duplicates: Vec<String>,
}

/// A directory account linked to a person: one account to one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountLink {
    pub username: String,
    /// `people.id`.
    pub person_id: String,
    /// Assurance level of the login (or admin decision) that made the link.
    pub level: u8,
    /// The account system of that login (`"BCA"` = VNeID).
    pub login_idp: Option<String>,
    /// `login` or `admin`.
    pub via: String,
    /// Whole seconds.
    pub created_at: DateTime<Utc>,
}

/// The latest reason a person's login could not be linked automatically, for the admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkConflict {
    pub person_id: String,
    /// `duplicate_personal_id`, `several_accounts`, `staff_requires_vneid_level_2` or
    /// `account_linked_to_another_person`.
    pub reason: String,
    /// The accounts involved.
    pub usernames: Vec<String>,
    /// Whole seconds.
    pub at: DateTime<Utc>,
}

/// The readiness counts of one unit ([`Database::readiness_unit_counts`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitCounts {
    pub unit_code: String,
    pub unit_name: String,
    pub accounts: u64,
    pub staff: u64,
    pub staff_valid_personal_id: u64,
    pub staff_missing_personal_id: u64,
    pub staff_invalid_personal_id: u64,
    pub staff_duplicate_personal_id: u64,
    pub staff_linked: u64,
}

/// One account with its link, if any: a row of the readiness report. Its `Debug` output leaves
/// out the name and the sealed number.
#[derive(Clone, PartialEq, Eq)]
pub struct ReadinessRow {
    pub username: String,
    pub full_name: String,
    pub unit_code: String,
    pub unit_name: String,
    pub kind: String,
    pub status: String,
    pub personal_id_status: String,
    pub personal_id_problem: Option<String>,
    pub personal_id_masked: Option<String>,
    pub personal_id_sealed: Option<Vec<u8>>,
    /// The link's level; `None`: not linked.
    pub linked_level: Option<u8>,
    pub linked_login_idp: Option<String>,
}

impl std::fmt::Debug for ReadinessRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadinessRow")
            .field("username", &self.username)
            .field("full_name", &"[redacted]")
            .field("unit_code", &self.unit_code)
            .field("unit_name", &self.unit_name)
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("personal_id_status", &self.personal_id_status)
            .field("personal_id_problem", &self.personal_id_problem)
            .field("personal_id_masked", &self.personal_id_masked)
            .field(
                "personal_id_sealed",
                &self.personal_id_sealed.as_ref().map(|_| "[sealed]"),
            )
            .field("linked_level", &self.linked_level)
            .field("linked_login_idp", &self.linked_login_idp)
            .finish()
    }
}

/// Login events of one day, account system, level and outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginStatRow {
    /// The calendar day at the requested UTC offset.
    pub day: NaiveDate,
    /// `None`: the event named no account system (e.g. the upstream failed first).
    pub login_idp: Option<String>,
    /// `None`: refused before a level was known.
    pub level: Option<u8>,
    /// The event's outcome (`success`, `denied`, `error`, …).
    pub outcome: String,
    /// Events.
    pub logins: u64,
    /// Distinct people among them (events without a person are not counted).
    pub people: u64,
}

/// What [`Database::login_stats`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginStats {
    /// Sorted by day, login_idp, level, outcome (`None` first).
    pub rows: Vec<LoginStatRow>,
    /// Distinct people with at least one successful login, per day (days without one are
    /// absent), by day.
    pub people_per_day: Vec<(NaiveDate, u64)>,
    /// Distinct people with at least one successful login over the whole range (not the sum
    /// of `people_per_day`: a person seen on two days counts once).
    pub people_total: u64,
}

/// The columns of `directory_accounts` every query returns, in this order ([`AccountDbRow`]).
const ACCOUNT_COLUMN_NAMES: [&str; 17] = [
    "username",
    "full_name",
    "unit_code",
    "unit_name",
    "kind",
    "personal_id_hash",
    "personal_id_sealed",
    "personal_id_masked",
    "personal_id_status",
    "personal_id_problem",
    "birth_date",
    "phone",
    "email",
    "status",
    "content_hash",
    "created_at",
    "updated_at",
];

/// [`ACCOUNT_COLUMN_NAMES`] as a select list, each prefixed with `prefix` (`""` or `"a."`).
fn account_columns(prefix: &str) -> String {
    ACCOUNT_COLUMN_NAMES
        .iter()
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns of `account_links` every query returns, in this order ([`LinkDbRow`]).
const LINK_COLUMN_NAMES: [&str; 6] = [
    "username",
    "person_id",
    "level",
    "login_idp",
    "via",
    "created_at",
];

fn link_columns(prefix: &str) -> String {
    LINK_COLUMN_NAMES
        .iter()
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

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
     updated_at = excluded.updated_at";

/// One `directory_accounts` row as read ([`ACCOUNT_COLUMN_NAMES`]). A tuple cannot hold 17
/// columns (sqlx decodes tuples of at most 16), hence a struct filled by [`decode_account`].
struct AccountDbRow {
    username: String,
    full_name: String,
    unit_code: String,
    unit_name: String,
    kind: String,
    personal_id_hash: Option<String>,
    personal_id_sealed: Option<Vec<u8>>,
    personal_id_masked: Option<String>,
    personal_id_status: String,
    personal_id_problem: Option<String>,
    birth_date: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    status: String,
    content_hash: String,
    created_at: i64,
    updated_at: i64,
}

/// Reads [`ACCOUNT_COLUMN_NAMES`] from `row`, starting at column `first`, on either backend.
fn decode_account<'r, R>(row: &'r R, first: usize) -> Result<AccountDbRow, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(AccountDbRow {
        username: row.try_get(first)?,
        full_name: row.try_get(first + 1)?,
        unit_code: row.try_get(first + 2)?,
        unit_name: row.try_get(first + 3)?,
        kind: row.try_get(first + 4)?,
        personal_id_hash: row.try_get(first + 5)?,
        personal_id_sealed: row.try_get(first + 6)?,
        personal_id_masked: row.try_get(first + 7)?,
        personal_id_status: row.try_get(first + 8)?,
        personal_id_problem: row.try_get(first + 9)?,
        birth_date: row.try_get(first + 10)?,
        phone: row.try_get(first + 11)?,
        email: row.try_get(first + 12)?,
        status: row.try_get(first + 13)?,
        content_hash: row.try_get(first + 14)?,
        created_at: row.try_get(first + 15)?,
        updated_at: row.try_get(first + 16)?,
    })
}

fn account_from_row(row: AccountDbRow) -> Result<DirectoryAccount, StoreError> {
    Ok(DirectoryAccount {
        username: row.username,
        full_name: row.full_name,
        unit_code: row.unit_code,
        unit_name: row.unit_name,
        kind: row.kind,
        personal_id_hash: row.personal_id_hash,
        personal_id_sealed: row.personal_id_sealed,
        personal_id_masked: row.personal_id_masked,
        personal_id_status: row.personal_id_status,
        personal_id_problem: row.personal_id_problem,
        birth_date: row
            .birth_date
            .as_deref()
            .map(|d| from_date_text(d, "directory_accounts.birth_date"))
            .transpose()?,
        phone: row.phone,
        email: row.email,
        status: row.status,
        content_hash: row.content_hash,
        created_at: from_unix(row.created_at, "directory_accounts.created_at")?,
        updated_at: from_unix(row.updated_at, "directory_accounts.updated_at")?,
    })
}

type LinkDbRow = (
    String,         // username
    String,         // person_id
    i64,            // level
    Option<String>, // login_idp
    String,         // via
    i64,            // created_at
);

/// Reads [`LINK_COLUMN_NAMES`] from `row`, starting at column `first`, on either backend.
fn decode_link<'r, R>(row: &'r R, first: usize) -> Result<LinkDbRow, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok((
        row.try_get(first)?,
        row.try_get(first + 1)?,
        row.try_get(first + 2)?,
        row.try_get(first + 3)?,
        row.try_get(first + 4)?,
        row.try_get(first + 5)?,
    ))
}

fn level_from_db(level: i64, column: &str) -> Result<u8, StoreError> {
    u8::try_from(level).map_err(|_| StoreError::Corrupt(format!("{column}: level {level}")))
}

fn link_from_row(row: LinkDbRow) -> Result<AccountLink, StoreError> {
    let (username, person_id, level, login_idp, via, created_at) = row;
    Ok(AccountLink {
        username,
        person_id,
        level: level_from_db(level, "account_links.level")?,
        login_idp,
        via,
        created_at: from_unix(created_at, "account_links.created_at")?,
    })
}

type ConflictDbRow = (String, String, String, i64);

fn conflict_from_row(row: ConflictDbRow) -> Result<LinkConflict, StoreError> {
    let (person_id, reason, usernames, at) = row;
    Ok(LinkConflict {
        person_id,
        reason,
        usernames: serde_json::from_str(&usernames).map_err(|_| {
            StoreError::Corrupt("link_conflicts.usernames is not a JSON array of strings".into())
        })?,
        at: from_unix(at, "link_conflicts.at")?,
    })
}

type ReadinessDbRow = (
    String,          // username
    String,          // full_name
    String,          // unit_code
    String,          // unit_name
    String,          // kind
    String,          // status
    String,          // personal_id_status
    Option<String>,  // personal_id_problem
    Option<String>,  // personal_id_masked
    Option<Vec<u8>>, // personal_id_sealed
    Option<i64>,     // account_links.level
    Option<String>,  // account_links.login_idp
);

/// The calendar day (days since 1970-01-01) of `at` at the UTC offset bound as `$3`: a floor
/// division written with `%` and `/`, which truncate towards zero alike on SQLite (INTEGER) and
/// Postgres (BIGINT), so that it is also right before 1970 (a negative dividend).
const DAY_EXPR: &str = "((at + $3) - (((at + $3) % 86400) + 86400) % 86400) / 86400";

/// One group of [`Database::login_stats`]: day index, login_idp, level, outcome, events, people.
type LoginStatDbRow = (i64, Option<String>, Option<i64>, String, i64, i64);

fn day_from_index(day: i64) -> Result<NaiveDate, StoreError> {
    let secs = day
        .checked_mul(86_400)
        .ok_or_else(|| StoreError::Corrupt(format!("audit_events.at: day {day} out of range")))?;
    Ok(from_unix(secs, "audit_events.at")?.date_naive())
}

fn count_from_db(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative count {n}")))
}

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
        commit: bool,
    ) -> Result<UpsertCounts, StoreError> {
        check_upsert_input(rows)?;
        let at = to_unix(at);
        let mut tx = Tx::begin(&self.pool).await?;
        lock_directory(&mut tx).await?;

        let mut counts = UpsertCounts::default();
        let mut touched: BTreeSet<String> = BTreeSet::new();
        for chunk in rows.chunks(UPSERT_BATCH) {
            let stored = stored_versions(&mut tx, chunk).await?;
            let mut write = Vec::with_capacity(chunk.len());
            for row in chunk {
                if let Some(hash) = &row.personal_id_hash {
                    touched.insert(hash.clone());
                }
                match stored.get(row.username.as_str()) {
                    None => {
                        counts.created += 1;
                        write.push(row);
                    }
                    Some((content_hash, _)) if *content_hash == row.content_hash => {
                        counts.unchanged += 1;
                    }
                    Some((_, previous_hash)) => {
                        counts.updated += 1;
                        if let Some(previous) = previous_hash {
                            touched.insert(previous.clone());
                        }
                        write.push(row);
                    }
                }
            }
            if !write.is_empty() {
                write_accounts(&mut tx, &write, at).await?;
            }
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
            duplicates = counts.duplicates.len(),
            "directory upsert"
        );
        Ok(counts)
    }

    /// The account with this username, if any.
    pub async fn directory_account(
        &self,
        username: &str,
    ) -> Result<Option<DirectoryAccount>, StoreError> {
        let sql = format!(
            "SELECT {} FROM directory_accounts WHERE username = $1",
            account_columns("")
        );
        let row: Option<AccountDbRow> = on_pool!(&self.pool, |pool| {
            sqlx::query(&sql)
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

    /// Links a directory account to a person.
    ///
    /// [`StoreError::Conflict`] when the account or the person is already linked (the message
    /// says which); [`StoreError::NotFound`] when the account or the person does not exist;
    /// [`StoreError::Invalid`] when `via` is neither `login` nor `admin`.
    #[tracing::instrument(skip_all, fields(username = %link.username, person_id = %link.person_id))]
    pub async fn create_account_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        if !matches!(link.via.as_str(), "login" | "admin") {
            return Err(StoreError::Invalid(format!(
                "account link via {:?} (expected login or admin)",
                link.via
            )));
        }
        let inserted: Result<(), StoreError> = on_pool!(&self.pool, |pool| {
            sqlx::query(
                "INSERT INTO account_links (username, person_id, level, login_idp, via, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&link.username)
            .bind(&link.person_id)
            .bind(i64::from(link.level))
            .bind(link.login_idp.as_deref())
            .bind(&link.via)
            .bind(to_unix(link.created_at))
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(StoreError::from)
        });
        match inserted {
            Err(e) if e.is_unique_violation() => Err(self.explain_link_conflict(link).await?),
            Err(e) if e.is_foreign_key_violation() => Err(self
                .explain_missing(&link.username, &link.person_id)
                .await?),
            other => other,
        }
    }

    /// Which side of a refused link is already linked, as a [`StoreError::Conflict`].
    async fn explain_link_conflict(&self, link: &AccountLink) -> Result<StoreError, StoreError> {
        if let Some(existing) = self.account_link_by_username(&link.username).await? {
            if existing.person_id == link.person_id {
                return Ok(StoreError::Conflict(format!(
                    "directory account {:?} is already linked to this person",
                    link.username
                )));
            }
            return Ok(StoreError::Conflict(format!(
                "directory account {:?} is already linked to another person",
                link.username
            )));
        }
        let other: Option<String> = on_pool!(&self.pool, |pool| {
            sqlx::query_scalar("SELECT username FROM account_links WHERE person_id = $1")
                .bind(&link.person_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(StoreError::Conflict(match other {
            Some(other) => format!(
                "person {} is already linked to directory account {other:?}",
                link.person_id
            ),
            None => "the account or the person is already linked".into(),
        }))
    }

    /// Which row a write refused by a foreign key lacks, as a [`StoreError::NotFound`].
    async fn explain_missing(
        &self,
        username: &str,
        person_id: &str,
    ) -> Result<StoreError, StoreError> {
        let (account, person): (i64, i64) = on_pool!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM directory_accounts WHERE username = $1), \
                        (SELECT COUNT(*) FROM people WHERE id = $2)",
            )
            .bind(username)
            .bind(person_id)
            .fetch_one(pool)
            .await?
        });
        Ok(StoreError::NotFound(if account == 0 {
            format!("no directory account {username:?}")
        } else if person == 0 {
            format!("no person {person_id}")
        } else {
            "the directory account or the person does not exist".into()
        }))
    }

    /// Removes and returns the link of this username, if any.
    #[tracing::instrument(skip(self))]
    pub async fn remove_account_link(
        &self,
        username: &str,
    ) -> Result<Option<AccountLink>, StoreError> {
        let sql = format!(
            "DELETE FROM account_links WHERE username = $1 RETURNING {}",
            link_columns("")
        );
        let row: Option<LinkDbRow> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql)
                .bind(username)
                .fetch_optional(pool)
                .await?
        });
        row.map(link_from_row).transpose()
    }

    /// The link of this person with its account, if any.
    pub async fn account_link_by_person(
        &self,
        person_id: &str,
    ) -> Result<Option<(AccountLink, DirectoryAccount)>, StoreError> {
        let sql = format!(
            "SELECT {}, {} FROM account_links l \
             JOIN directory_accounts a ON a.username = l.username WHERE l.person_id = $1",
            link_columns("l."),
            account_columns("a.")
        );
        let row: Option<(LinkDbRow, AccountDbRow)> = on_pool!(&self.pool, |pool| {
            match sqlx::query(&sql)
                .bind(person_id)
                .fetch_optional(pool)
                .await?
            {
                Some(r) => Some((
                    decode_link(&r, 0)?,
                    decode_account(&r, LINK_COLUMN_NAMES.len())?,
                )),
                None => None,
            }
        });
        row.map(|(link, account)| Ok((link_from_row(link)?, account_from_row(account)?)))
            .transpose()
    }

    /// The link of this username, if any.
    pub async fn account_link_by_username(
        &self,
        username: &str,
    ) -> Result<Option<AccountLink>, StoreError> {
        let sql = format!(
            "SELECT {} FROM account_links WHERE username = $1",
            link_columns("")
        );
        let row: Option<LinkDbRow> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql)
                .bind(username)
                .fetch_optional(pool)
                .await?
        });
        row.map(link_from_row).transpose()
    }

    /// Links by username (byte order), those after `after` (exclusive); at most `limit`,
    /// capped at [`DIRECTORY_LIST_MAX`].
    pub async fn list_account_links(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccountLink>, StoreError> {
        let limit = i64::from(limit.min(DIRECTORY_LIST_MAX));
        let columns = link_columns("");
        let rows: Vec<LinkDbRow> = on_pool!(&self.pool, |pool| {
            match after {
                Some(after) => {
                    let sql = format!(
                        "SELECT {columns} FROM account_links WHERE username > $1 \
                         ORDER BY username LIMIT $2"
                    );
                    sqlx::query_as(&sql)
                        .bind(after)
                        .bind(limit)
                        .fetch_all(pool)
                        .await?
                }
                None => {
                    let sql =
                        format!("SELECT {columns} FROM account_links ORDER BY username LIMIT $1");
                    sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?
                }
            }
        });
        rows.into_iter().map(link_from_row).collect()
    }

    /// Records why this person could not be linked, replacing what was recorded for them.
    /// [`StoreError::NotFound`] when the person does not exist.
    #[tracing::instrument(skip_all, fields(person_id = %c.person_id, reason = %c.reason))]
    pub async fn record_link_conflict(&self, c: &LinkConflict) -> Result<(), StoreError> {
        let usernames =
            serde_json::to_string(&c.usernames).map_err(|e| StoreError::Other(Box::new(e)))?;
        let result: Result<(), StoreError> = on_pool!(&self.pool, |pool| {
            sqlx::query(
                "INSERT INTO link_conflicts (person_id, reason, usernames, at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (person_id) DO UPDATE SET \
                 reason = excluded.reason, usernames = excluded.usernames, at = excluded.at",
            )
            .bind(&c.person_id)
            .bind(&c.reason)
            .bind(&usernames)
            .bind(to_unix(c.at))
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(StoreError::from)
        });
        match result {
            Err(e) if e.is_foreign_key_violation() => {
                Err(StoreError::NotFound(format!("no person {}", c.person_id)))
            }
            other => other,
        }
    }

    /// Forgets the link conflict of this person (e.g. once linked). Nothing to forget is fine.
    #[tracing::instrument(skip(self))]
    pub async fn clear_link_conflict(&self, person_id: &str) -> Result<(), StoreError> {
        on_pool!(&self.pool, |pool| {
            sqlx::query("DELETE FROM link_conflicts WHERE person_id = $1")
                .bind(person_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Link conflicts, newest first (then by person id); at most `limit`, capped at
    /// [`DIRECTORY_LIST_MAX`].
    pub async fn list_link_conflicts(&self, limit: u32) -> Result<Vec<LinkConflict>, StoreError> {
        let limit = i64::from(limit.min(DIRECTORY_LIST_MAX));
        let rows: Vec<ConflictDbRow> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT person_id, reason, usernames, at FROM link_conflicts \
                 ORDER BY at DESC, person_id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(conflict_from_row).collect()
    }

    /// The readiness counts of every unit, computed in SQL (one row per unit, by unit code):
    /// what the per-unit gauges need, without reading every account. `staff_linked` counts
    /// staff linked at level 2 through `vneid_login_idp`.
    pub async fn readiness_unit_counts(
        &self,
        vneid_login_idp: &str,
    ) -> Result<Vec<UnitCounts>, StoreError> {
        type Row = (String, String, i64, i64, i64, i64, i64, i64, i64);
        let rows: Vec<Row> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT a.unit_code, MAX(a.unit_name), COUNT(*), \
                 SUM(CASE WHEN a.kind = 'staff' THEN 1 ELSE 0 END), \
                 SUM(CASE WHEN a.kind = 'staff' AND a.personal_id_status = 'valid' THEN 1 ELSE 0 END), \
                 SUM(CASE WHEN a.kind = 'staff' AND a.personal_id_status = 'missing' THEN 1 ELSE 0 END), \
                 SUM(CASE WHEN a.kind = 'staff' AND a.personal_id_status = 'invalid' THEN 1 ELSE 0 END), \
                 SUM(CASE WHEN a.kind = 'staff' AND a.personal_id_status = 'duplicate' THEN 1 ELSE 0 END), \
                 SUM(CASE WHEN a.kind = 'staff' AND l.level >= 2 AND l.login_idp = $1 THEN 1 ELSE 0 END) \
                 FROM directory_accounts a LEFT JOIN account_links l ON l.username = a.username \
                 GROUP BY a.unit_code ORDER BY a.unit_code",
            )
            .bind(vneid_login_idp)
            .fetch_all(pool)
            .await?
        });
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(rows
            .into_iter()
            .map(|(unit_code, unit_name, a, s, v, m, i, d, l)| UnitCounts {
                unit_code,
                unit_name,
                accounts: n(a),
                staff: n(s),
                staff_valid_personal_id: n(v),
                staff_missing_personal_id: n(m),
                staff_invalid_personal_id: n(i),
                staff_duplicate_personal_id: n(d),
                staff_linked: n(l),
            })
            .collect())
    }

    /// Every account with its link, if any, ordered by unit_code then username (byte order):
    /// the readiness report's input.
    pub async fn readiness_rows(&self) -> Result<Vec<ReadinessRow>, StoreError> {
        let rows: Vec<ReadinessDbRow> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT a.username, a.full_name, a.unit_code, a.unit_name, a.kind, a.status, \
                 a.personal_id_status, a.personal_id_problem, a.personal_id_masked, \
                 a.personal_id_sealed, l.level, l.login_idp \
                 FROM directory_accounts a LEFT JOIN account_links l ON l.username = a.username \
                 ORDER BY a.unit_code, a.username",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| {
                let (
                    username,
                    full_name,
                    unit_code,
                    unit_name,
                    kind,
                    status,
                    personal_id_status,
                    personal_id_problem,
                    personal_id_masked,
                    personal_id_sealed,
                    level,
                    linked_login_idp,
                ) = row;
                Ok(ReadinessRow {
                    username,
                    full_name,
                    unit_code,
                    unit_name,
                    kind,
                    status,
                    personal_id_status,
                    personal_id_problem,
                    personal_id_masked,
                    personal_id_sealed,
                    linked_level: level
                        .map(|l| level_from_db(l, "account_links.level"))
                        .transpose()?,
                    linked_login_idp,
                })
            })
            .collect()
    }

    /// Login statistics from the audit events of kind `login` with `from <= at < to`,
    /// aggregated in SQL:
    ///
    /// - `rows`: events and distinct people per calendar day at `utc_offset_secs` (Vietnam:
    ///   25200), `login_idp`, `level` and `outcome` (either may be `None`: a refusal before the
    ///   level was known, an upstream failure);
    /// - `people_per_day`: distinct people with a **successful** login (outcome `success`),
    ///   per day;
    /// - `people_total`: distinct people with a successful login over the whole range.
    ///
    /// The three are read in one transaction (a consistent snapshot on both backends).
    #[tracing::instrument(skip(self))]
    pub async fn login_stats(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        utc_offset_secs: i64,
    ) -> Result<LoginStats, StoreError> {
        let (from, to) = (to_unix(from), to_unix(to));
        let mut tx = Tx::begin(&self.pool).await?;
        if let Tx::Postgres(t) = &mut tx {
            // One snapshot for the three statements (READ COMMITTED would take one each).
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut **t)
                .await?;
        }
        let grouped_sql = format!(
            "SELECT day, login_idp, level, outcome, COUNT(*), COUNT(DISTINCT person_id) \
             FROM (SELECT {DAY_EXPR} AS day, login_idp, level, outcome, person_id \
                   FROM audit_events WHERE kind = 'login' AND at >= $1 AND at < $2) e \
             GROUP BY day, login_idp, level, outcome"
        );
        let grouped: Vec<LoginStatDbRow> = on_tx!(&mut tx, |c| {
            sqlx::query_as(&grouped_sql)
                .bind(from)
                .bind(to)
                .bind(utc_offset_secs)
                .fetch_all(c)
                .await?
        });
        let per_day_sql = format!(
            "SELECT day, COUNT(DISTINCT person_id) \
             FROM (SELECT {DAY_EXPR} AS day, person_id FROM audit_events \
                   WHERE kind = 'login' AND outcome = 'success' AND person_id IS NOT NULL \
                   AND at >= $1 AND at < $2) e \
             GROUP BY day ORDER BY day"
        );
        let per_day: Vec<(i64, i64)> = on_tx!(&mut tx, |c| {
            sqlx::query_as(&per_day_sql)
                .bind(from)
                .bind(to)
                .bind(utc_offset_secs)
                .fetch_all(c)
                .await?
        });
        let total: i64 = on_tx!(&mut tx, |c| {
            sqlx::query_scalar(
                "SELECT COUNT(DISTINCT person_id) FROM audit_events \
                 WHERE kind = 'login' AND outcome = 'success' AND at >= $1 AND at < $2",
            )
            .bind(from)
            .bind(to)
            .fetch_one(c)
            .await?
        });
        tx.commit().await?;

        let mut rows = grouped
            .into_iter()
            .map(|(day, login_idp, level, outcome, logins, people)| {
                Ok(LoginStatRow {
                    day: day_from_index(day)?,
                    login_idp,
                    level: level
                        .map(|l| level_from_db(l, "audit_events.level"))
                        .transpose()?,
                    outcome,
                    logins: count_from_db(logins)?,
                    people: count_from_db(people)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Sorted here, not in SQL: the backends put NULLs at opposite ends.
        rows.sort_by(|a, b| {
            (a.day, &a.login_idp, a.level, &a.outcome).cmp(&(
                b.day,
                &b.login_idp,
                b.level,
                &b.outcome,
            ))
        });
        let people_per_day = per_day
            .into_iter()
            .map(|(day, n)| Ok((day_from_index(day)?, count_from_db(n)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(LoginStats {
            rows,
            people_per_day,
            people_total: count_from_db(total)?,
        })
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

/// `username → (content_hash, personal_id_hash)` of the accounts of `chunk` already stored.
async fn stored_versions(
    tx: &mut Tx,
    chunk: &[DirectoryAccount],
) -> Result<HashMap<String, (String, Option<String>)>, StoreError> {
    let rows: Vec<(String, String, Option<String>)> = on_tx!(tx, |c| {
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT username, content_hash, personal_id_hash FROM directory_accounts \
             WHERE username IN (",
        );
        let mut list = qb.separated(", ");
        for row in chunk {
            list.push_bind(row.username.as_str());
        }
        list.push_unseparated(")");
        qb.build_query_as().fetch_all(c).await?
    });
    Ok(rows
        .into_iter()
        .map(|(username, content, hash)| (username, (content, hash)))
        .collect())
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
            "INSERT INTO directory_accounts ({}) ",
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
                .push_bind(at);
        });
        qb.push(ACCOUNT_UPSERT_TAIL);
        qb.build().execute(c).await?;
    });
    Ok(())
}

/// The personal-ID hashes held by more than one account (among those whose status is `valid`
/// or `duplicate`: an account without a valid number holds none).
const SHARED_HASHES: &str = "SELECT personal_id_hash FROM directory_accounts \
     WHERE personal_id_status IN ('valid', 'duplicate') AND personal_id_hash IS NOT NULL \
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
         WHERE personal_id_status = 'valid' AND personal_id_hash IN ({SHARED_HASHES})"
    );
    let unflag = format!(
        "UPDATE directory_accounts SET personal_id_status = 'valid' \
         WHERE personal_id_status = 'duplicate' AND personal_id_hash IS NOT NULL \
         AND personal_id_hash NOT IN ({SHARED_HASHES})"
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
    use super::*;

    fn account() -> DirectoryAccount {
        DirectoryAccount {
            username: "mot.cua.01".into(),
            full_name: "Nguyễn Thị Hoa".into(),
            unit_code: "UBND-HN".into(),
            unit_name: "UBND Hà Nội".into(),
            kind: "staff".into(),
            personal_id_hash: Some("hmac:abcdef".into()),
            personal_id_sealed: Some(b"sealed-bytes".to_vec()),
            personal_id_masked: Some("001*******45".into()),
            personal_id_status: "valid".into(),
            personal_id_problem: None,
            birth_date: NaiveDate::from_ymd_opt(1985, 3, 9),
            phone: Some("0912345678".into()),
            email: Some("hoa@example.vn".into()),
            status: "active".into(),
            content_hash: "content".into(),
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn account_debug_output_hides_personal_data() {
        let shown = format!("{:?}", account());
        for secret in [
            "Nguyễn",
            "hmac:abcdef",
            "115, 101", // the sealed bytes as a list
            "1985",
            "0912345678",
            "hoa@example.vn",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("mot.cua.01"), "{shown}");
        assert!(shown.contains("001*******45"), "{shown}");
    }

    #[test]
    fn readiness_debug_output_hides_the_sealed_number() {
        let a = account();
        let row = ReadinessRow {
            username: a.username,
            full_name: a.full_name,
            unit_code: a.unit_code,
            unit_name: a.unit_name,
            kind: a.kind,
            status: a.status,
            personal_id_status: a.personal_id_status,
            personal_id_problem: None,
            personal_id_masked: a.personal_id_masked,
            personal_id_sealed: a.personal_id_sealed,
            linked_level: Some(2),
            linked_login_idp: Some("BCA".into()),
        };
        let shown = format!("{row:?}");
        assert!(!shown.contains("115, 101"), "{shown}");
        assert!(!shown.contains("Nguyễn"), "{shown}");
        assert!(shown.contains("[sealed]"), "{shown}");
    }

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

    #[test]
    fn days_count_from_the_epoch() {
        assert_eq!(
            day_from_index(0).unwrap(),
            NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
        );
        assert_eq!(
            day_from_index(-1).unwrap(),
            NaiveDate::from_ymd_opt(1969, 12, 31).unwrap()
        );
        assert_eq!(
            day_from_index(20_254).unwrap(),
            NaiveDate::from_ymd_opt(2025, 6, 15).unwrap()
        );
    }
}
