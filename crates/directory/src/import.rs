//! Importing a parsed spreadsheet into the durable store: sealing and hashing personal ID
//! numbers, the all-or-nothing rule, dry runs, and the report the CLI and the admin API return.

use chrono::{DateTime, Utc};
use serde::Serialize;
use vneid_store::{Database, DirectoryAccount, StoreError};
use vneid_tokens::MasterKey;

use crate::parse::{ImportRow, Parsed, PersonalIdCheck, Rejection};

/// The lookup-hash domain of an imported row's content (for idempotent re-imports).
const ROW_DOMAIN: &str = "directory_row";

/// How an import behaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Write nothing; report what would happen.
    pub dry_run: bool,
    /// Write the good rows even when some rows are rejected.
    pub allow_partial: bool,
    /// The file is the whole list of each unit it names: their accounts it does not list
    /// become inactive (never deleted; units it does not name are untouched).
    pub sync: bool,
}

/// An account imported with a personal ID number the unit must fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlaggedAccount {
    /// The line of the file (CSV) or the position in the array (JSON), from 1.
    pub line: usize,
    pub username: String,
    /// Why the number is invalid (`format`, `unknown_province`, …); absent for `missing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Accounts whose personal ID number cannot be used for linking.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Flagged {
    pub missing: Vec<FlaggedAccount>,
    pub invalid: Vec<FlaggedAccount>,
    /// Every holder of a number held by more than one account, in this file or already stored.
    pub duplicate: Vec<String>,
}

/// What an import did (or, for a dry run or a refused file, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub dry_run: bool,
    /// Whether anything was written.
    pub written: bool,
    /// Data rows in the file.
    pub rows: usize,
    /// Rows that can be accounts.
    pub accepted: usize,
    /// Rows rejected (a row may have several problems, each in `rejected`).
    pub rejected_rows: usize,
    /// Every problem of every rejected row, by line.
    pub rejected: Vec<Rejection>,
    /// Among the accepted rows: new accounts, changed accounts, accounts already so.
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Inactive accounts the file lists again, made active.
    pub reactivated: u64,
    /// With `sync`: accounts of the file's units it does not list, made inactive (or, on a dry
    /// run, that would be), sorted.
    pub deactivated: Vec<String>,
    pub flagged: Flagged,
}

impl ImportReport {
    /// True when the file was refused: rows were rejected and `allow_partial` was not given.
    pub fn refused(&self) -> bool {
        !self.rejected.is_empty() && !self.written && !self.dry_run
    }
}

/// Why an import failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot seal a personal ID number: {0}")]
    Crypto(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Imports `parsed` (see [`crate::parse`]): every accepted row is upserted by username in one
/// transaction. When rows were rejected nothing is written unless `allow_partial`; a dry run
/// never writes. In every case the counts are exact: a refused or dry-run import runs the same
/// transaction and rolls it back.
pub async fn import(
    db: &Database,
    master: &MasterKey,
    parsed: &Parsed,
    options: ImportOptions,
    at: DateTime<Utc>,
) -> Result<ImportReport, ImportError> {
    let accounts = parsed
        .rows
        .iter()
        .map(|row| to_account(master, row, at))
        .collect::<Result<Vec<_>, _>>()?;
    let commit = !options.dry_run && (parsed.rejected.is_empty() || options.allow_partial);
    let counts = db
        .upsert_directory_accounts(&accounts, at, options.sync, commit)
        .await?;
    let mut flagged = Flagged {
        duplicate: counts.duplicates.clone(),
        ..Flagged::default()
    };
    for row in &parsed.rows {
        let entry = |problem: Option<String>| FlaggedAccount {
            line: row.line,
            username: row.username.clone(),
            problem,
        };
        match &row.personal_id {
            PersonalIdCheck::Missing => flagged.missing.push(entry(None)),
            PersonalIdCheck::Invalid { problem, .. } => {
                flagged.invalid.push(entry(Some(problem.to_string())))
            }
            PersonalIdCheck::Valid(_) => {}
        }
    }
    Ok(ImportReport {
        dry_run: options.dry_run,
        written: commit,
        rows: parsed.total_rows,
        accepted: parsed.rows.len(),
        rejected_rows: parsed.rejected_rows(),
        rejected: parsed.rejected.clone(),
        created: counts.created,
        updated: counts.updated,
        unchanged: counts.unchanged,
        reactivated: counts.reactivated,
        deactivated: counts.deactivated,
        flagged,
    })
}

/// The stored form of an accepted row: the number sealed as given, hashed only when valid,
/// masked for reports; a keyed hash of the whole row decides whether a re-import changes it.
fn to_account(
    master: &MasterKey,
    row: &ImportRow,
    at: DateTime<Utc>,
) -> Result<DirectoryAccount, ImportError> {
    let raw = row.personal_id.raw();
    let (hash, problem) = match &row.personal_id {
        PersonalIdCheck::Valid(pid) => (Some(master.personal_id_hash(pid.expose())), None),
        PersonalIdCheck::Invalid { problem, .. } => (None, Some(problem.to_string())),
        PersonalIdCheck::Missing => (None, None),
    };
    let sealed = raw
        .map(|r| master.seal_personal_id(r))
        .transpose()
        .map_err(|e| ImportError::Crypto(e.to_string()))?;
    let birth_date = row.birth_date;
    // Every imported field, in a fixed order, as JSON: unambiguous whatever the values hold.
    let canonical = serde_json::json!([
        row.username,
        row.full_name,
        row.unit_code,
        row.unit_name,
        row.kind.as_str(),
        raw,
        birth_date.map(|d| d.to_string()),
        row.phone,
        row.email,
    ])
    .to_string();
    Ok(DirectoryAccount {
        username: row.username.clone(),
        full_name: row.full_name.clone(),
        unit_code: row.unit_code.clone(),
        unit_name: row.unit_name.clone(),
        kind: row.kind.as_str().to_owned(),
        personal_id_hash: hash,
        personal_id_sealed: sealed,
        personal_id_masked: raw.map(vneid_core::mask),
        personal_id_status: row.personal_id.status().to_owned(),
        personal_id_problem: problem,
        birth_date,
        phone: row.phone.clone(),
        email: row.email.clone(),
        status: "active".to_owned(),
        content_hash: master.lookup_hash(ROW_DOMAIN, &canonical),
        created_at: at,
        updated_at: at,
    })
}
