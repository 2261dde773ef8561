//! The one-stop-shop account directory (imported from the units' spreadsheets), the links
//! between its accounts and people, the conflicts that kept a login from being linked, and the
//! aggregates the readiness and login reports are made of.
//!
//! Personal ID numbers are never stored in clear here: an account keeps a keyed hash (only of a
//! number that passed validation, for matching), the number sealed with the master key (as it
//! was given, valid or not) and a masked form for reports.
//!
//! This module holds the row types and the helpers its parts share (column lists, row
//! decoding); `accounts` holds the batched upserts with their duplicate flags and dry runs,
//! lookups and listing; `matching` how an import's rows meet stored accounts (case-insensitive
//! usernames, renames, deactivation by a sync); `links` the account links and link conflicts; `reports` the readiness
//! rows, the per-unit counts for the gauges and the login statistics.

mod accounts;
mod links;
mod matching;
mod reports;

pub use accounts::{ACCOUNT_ACTIVE, ACCOUNT_INACTIVE};
pub(crate) use matching::fill_username_keys;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{column_list, from_date_text, from_unix};
use crate::StoreError;

/// The most rows one listing call returns
/// ([`Database::list_directory_accounts`](crate::Database::list_directory_accounts),
/// [`Database::list_account_links`](crate::Database::list_account_links),
/// [`Database::list_link_conflicts`](crate::Database::list_link_conflicts)), whatever it asks
/// for.
pub const DIRECTORY_LIST_MAX: u32 = 1000;

/// A one-stop-shop account, as stored or as given to
/// [`Database::upsert_directory_accounts`](crate::Database::upsert_directory_accounts).
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
    /// Keyed hash of the personal ID number (`MasterKey::personal_id_hash`);
    /// only for a number that passed validation.
    pub personal_id_hash: Option<String>,
    /// The number as it was given (valid or not), sealed by `MasterKey::seal_personal_id`; `None`
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
    /// `active` (an import sets it) or `inactive` (a sync import of its unit left it out:
    /// never linked at login, never released in the `account` claim).
    pub status: String,
    /// Keyed hash of the canonical imported row: equal to the stored one means unchanged.
    pub content_hash: String,
    /// When the account was first imported (ignored on input). Whole seconds.
    pub created_at: DateTime<Utc>,
    /// When its imported content last changed (ignored on input). A change of
    /// `personal_id_status` caused by another account does not move it. Whole seconds.
    pub updated_at: DateTime<Utc>,
}

impl DirectoryAccount {
    /// Listed by the latest import of its unit: may be linked and released.
    pub fn is_active(&self) -> bool {
        self.status == accounts::ACCOUNT_ACTIVE
    }
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

/// What [`Database::upsert_directory_accounts`](crate::Database::upsert_directory_accounts) did
/// (or, on a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpsertCounts {
    /// Accounts that were not stored before.
    pub created: u64,
    /// Stored accounts whose content hash changed (they were rewritten).
    pub updated: u64,
    /// Stored accounts with the same content hash (not written at all).
    pub unchanged: u64,
    /// Stored inactive accounts listed again, made active.
    pub reactivated: u64,
    /// Active accounts a sync made inactive (units the rows name, usernames they do not),
    /// sorted.
    pub deactivated: Vec<String>,
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

/// The readiness counts of one unit
/// ([`Database::readiness_unit_counts`](crate::Database::readiness_unit_counts)).
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

/// What [`Database::login_stats`](crate::Database::login_stats) returns.
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
    column_list(&ACCOUNT_COLUMN_NAMES, prefix)
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

/// [`LINK_COLUMN_NAMES`] as a select list, each prefixed with `prefix` (`""` or `"l."`).
fn link_columns(prefix: &str) -> String {
    column_list(&LINK_COLUMN_NAMES, prefix)
}

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

fn count_from_db(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative count {n}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid staff account with every personal field set, for the unit tests of the
    /// directory's modules.
    pub(super) fn account() -> DirectoryAccount {
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
}
