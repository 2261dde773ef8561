//! The durable store: people, upstream identities, signing keys, audit events.
//!
//! SQLite now; Postgres comes behind the same [`Database`] API. The SQL is written to run on
//! both unchanged: `$N` placeholders (SQLite accepts them), `INSERT … ON CONFLICT … DO NOTHING`,
//! `RETURNING`, TEXT ids, timestamps as INTEGER/BIGINT unix seconds, dates as TEXT
//! `YYYY-MM-DD`, ciphertext as BLOB/BYTEA.

mod audit;
mod keys;
mod migrations;
mod people;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::StoreError;

pub use audit::{AuditEvent, AuditFilter, AUDIT_LIST_MAX};
pub use keys::SigningKeyRow;
pub use people::{LoginUpsert, PersonRecord};

/// How long a SQLite connection waits for another writer before giving up (then the operation
/// fails as [`StoreError::Unavailable`]).
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an operation waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The durable store. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
}

impl Database {
    /// Opens the database named by `url`.
    ///
    /// - `sqlite://data/gateway.db` or `sqlite:data/gateway.db` (relative to the working
    ///   directory; the parent directory and the file are created when missing): WAL journal,
    ///   foreign keys on, a busy timeout, synchronous FULL (a committed audit event survives a
    ///   power cut).
    /// - `sqlite::memory:`: a private in-memory database on one connection, for tests.
    /// - `postgres://…`: [`StoreError::Unsupported`] in this build.
    ///
    /// Nothing is written to the schema here: call [`Database::migrate`] or
    /// [`Database::check_schema`].
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let scheme = url.split_once(':').map_or(url, |(s, _)| s);
        match scheme {
            "sqlite" => Self::connect_sqlite(url, max_connections).await,
            "postgres" | "postgresql" => Err(StoreError::Unsupported(
                "postgres:// databases are not supported by this build yet".into(),
            )),
            other => Err(StoreError::Unsupported(format!(
                "unknown database URL scheme {other:?} (expected sqlite: or postgres:)"
            ))),
        }
    }

    async fn connect_sqlite(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("database.url: {e}")))?
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let pool = if sqlite_url_is_memory(url) {
            // Every connection to an in-memory database would otherwise see its own empty
            // database (or fight over a shared cache); one connection that never idles out
            // keeps it whole and alive for the pool's lifetime.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?
        } else {
            let path = options.get_filename().to_path_buf();
            if path.as_os_str().is_empty() {
                return Err(StoreError::Config(
                    "database.url: a sqlite URL needs a file path".into(),
                ));
            }
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                tokio::fs::create_dir_all(parent).await.map_err(|e| {
                    StoreError::Config(format!(
                        "database.url: cannot create directory {}: {e}",
                        parent.display()
                    ))
                })?;
            }
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
            SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?
        };
        Ok(Self {
            pool: Pool::Sqlite(pool),
        })
    }

    /// Applies every migration this build knows and the database lacks. Safe to run on every
    /// start and from several processes (the migrator takes a lock where the backend has one).
    #[tracing::instrument(skip(self), fields(backend = self.backend()))]
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                let migrator = migrations::migrator(migrations::SQLITE).await?;
                migrator.run(pool).await?;
            }
        }
        Ok(())
    }

    /// Succeeds only when the database carries exactly the migrations this build knows, all
    /// applied completely and unchanged. `serve` calls this and refuses to start otherwise.
    #[tracing::instrument(skip(self), fields(backend = self.backend()))]
    pub async fn check_schema(&self) -> Result<(), StoreError> {
        let (applied, known) = match &self.pool {
            Pool::Sqlite(pool) => {
                let has_table: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_one(pool)
                .await?;
                if has_table == 0 {
                    return Err(StoreError::Schema(
                        "the database has no schema; run `gateway migrate`".into(),
                    ));
                }
                let applied: Vec<(i64, Vec<u8>, bool)> = sqlx::query_as(
                    "SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version",
                )
                .fetch_all(pool)
                .await?;
                let known = migrations::migrator(migrations::SQLITE).await?;
                (applied, known)
            }
        };
        let known: BTreeMap<i64, &[u8]> = known
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| (m.version, m.checksum.as_ref()))
            .collect();
        let mut seen = Vec::with_capacity(applied.len());
        for (version, checksum, success) in &applied {
            if !success {
                return Err(StoreError::Schema(format!(
                    "migration {version} is partially applied"
                )));
            }
            match known.get(version) {
                None => {
                    return Err(StoreError::Schema(format!(
                        "the database has migration {version}, which this build does not know \
                         (was it migrated by a newer build?)"
                    )))
                }
                Some(expected) if *expected != checksum.as_slice() => {
                    return Err(StoreError::Schema(format!(
                        "migration {version} was changed after it was applied"
                    )))
                }
                Some(_) => seen.push(*version),
            }
        }
        let missing: Vec<String> = known
            .keys()
            .filter(|v| !seen.contains(v))
            .map(|v| v.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(StoreError::Schema(format!(
                "migrations not applied: {}; run `gateway migrate`",
                missing.join(", ")
            )));
        }
        Ok(())
    }

    /// A round trip to the database, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// `"sqlite"` (later also `"postgres"`), for logs, metrics and `/readyz`.
    pub fn backend(&self) -> &'static str {
        match &self.pool {
            Pool::Sqlite(_) => "sqlite",
        }
    }

    /// Closes every pooled connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
        }
    }
}

/// `sqlite::memory:`, `sqlite://:memory:` or `…?mode=memory`.
fn sqlite_url_is_memory(url: &str) -> bool {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:" || params.split('&').any(|p| p == "mode=memory")
}

/// Timestamps are stored as whole unix seconds: sub-second precision is dropped.
pub(crate) fn to_unix(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}

pub(crate) fn from_unix(secs: i64, column: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp(secs, 0)
        .ok_or_else(|| StoreError::Corrupt(format!("{column}: timestamp {secs} out of range")))
}

pub(crate) fn to_date_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub(crate) fn from_date_text(s: &str, column: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| StoreError::Corrupt(format!("{column}: not a YYYY-MM-DD date")))
}

#[cfg(test)]
mod tests {
    use super::sqlite_url_is_memory;

    #[test]
    fn memory_urls_are_recognised() {
        assert!(sqlite_url_is_memory("sqlite::memory:"));
        assert!(sqlite_url_is_memory("sqlite://:memory:"));
        assert!(sqlite_url_is_memory("sqlite://x.db?mode=memory"));
        assert!(!sqlite_url_is_memory("sqlite://data/gateway.db"));
        assert!(!sqlite_url_is_memory("sqlite:data/gateway.db?mode=rwc"));
    }
}
