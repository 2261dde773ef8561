//! The durable store: people, upstream identities, signing keys, audit events, refresh-token
//! families, clients, the one-stop-shop account directory and its links to people, durable
//! revocations.
//!
//! Two backends behind one [`Database`] API, chosen by the URL's scheme: SQLite (`sqlite:`) and
//! PostgreSQL (`postgres://` or `postgresql://`). The SQL is written once and runs on both
//! unchanged: `$N` placeholders (SQLite accepts them), `INSERT … ON CONFLICT … DO NOTHING`,
//! `RETURNING`, TEXT ids, timestamps as INTEGER/BIGINT unix seconds, dates as TEXT
//! `YYYY-MM-DD`, ciphertext as BLOB/BYTEA. [`on_pool!`] writes a query once and type-checks it
//! once per backend; [`on_tx!`] does the same inside a transaction ([`Tx`]).

/// Evaluates `$body` with `$p` bound to the concrete pool (`&SqlitePool` or `&PgPool`) of
/// `$pool` (a `&Pool`). The body is written once and compiled once per backend, so one piece of
/// SQL serves both without a dynamic driver.
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            $crate::db::Pool::Sqlite($p) => $body,
            $crate::db::Pool::Postgres($p) => $body,
        }
    };
}

/// Evaluates `$body` with `$c` bound to the connection of `$tx` (a `&mut Tx`): `&mut
/// SqliteConnection` or `&mut PgConnection`, like [`on_pool!`] for a transaction.
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

mod audit;
mod backup;
mod clients;
mod directory;
mod group;
mod keys;
mod migrations;
mod organisations;
mod people;
mod refresh;
mod revocations;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Postgres, Sqlite, Transaction};

use crate::StoreError;

pub use audit::{
    AuditCheckpoint, AuditEvent, AuditFilter, ChainBreak, ChainReport, CheckpointClaim,
    AUDIT_LIST_MAX, GENESIS as AUDIT_GENESIS,
};
pub use backup::Contents;
pub use clients::{ClientRow, PreviousSecret};
pub use directory::{
    AccountLink, DirectoryAccount, LinkConflict, LoginStatRow, LoginStats, ReadinessRow,
    UnitCounts, UpsertCounts, ACCOUNT_ACTIVE, ACCOUNT_INACTIVE, DIRECTORY_LIST_MAX,
};
pub use group::GroupCommitStats;
pub use keys::SigningKeyRow;
pub use people::{LoginUpsert, PersonRecord};
pub use refresh::{NewRefreshFamily, RefreshFamily, RefreshTokenRecord, RotateOutcome};
pub use revocations::Revocation;

/// How long a pooled Postgres connection may live before it is replaced, so that connections
/// follow a fail-over (a DNS name that now points elsewhere) and server-side memory is returned.
const PG_MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// How long a Postgres connection may sit idle in the pool before it is closed.
const PG_IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// `application_name` of the gateway's Postgres sessions (visible in `pg_stat_activity`) unless
/// the URL sets one.
const PG_APPLICATION_NAME: &str = "vneid-gateway";

/// How to open the durable store.
///
/// `Debug` shows the URL's scheme only: a Postgres URL may carry a password.
#[derive(Clone, PartialEq, Eq)]
pub struct DbOptions {
    /// `sqlite://FILE`, `sqlite::memory:`, `postgres://…` or `postgresql://…`.
    pub url: String,
    /// The most connections the pool opens (at least 1; an in-memory SQLite database always
    /// uses exactly one).
    pub max_connections: u32,
    /// How long an operation waits for a pooled connection, including opening a new one (TCP
    /// connect, start-up and authentication, retried while the server refuses connections).
    /// Past it the operation fails as [`StoreError::Unavailable`]. Must be more than zero.
    pub acquire_timeout: Duration,
    /// The longest one statement may run: Postgres cancels it (`statement_timeout` of every
    /// pooled connection), SQLite stops waiting for another writer (its busy timeout). Either
    /// way the operation fails as [`StoreError::Unavailable`], so a stuck query cannot hold a
    /// pooled connection for long. Zero: no limit on Postgres. Migrations run without it.
    pub statement_timeout: Duration,
}

impl DbOptions {
    /// The acquire timeout [`Database::connect`] uses.
    pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
    /// The statement timeout [`Database::connect`] uses.
    pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Options for `url` with `max_connections` and the default timeouts.
    pub fn new(url: impl Into<String>, max_connections: u32) -> Self {
        Self {
            url: url.into(),
            max_connections,
            acquire_timeout: Self::DEFAULT_ACQUIRE_TIMEOUT,
            statement_timeout: Self::DEFAULT_STATEMENT_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for DbOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbOptions")
            .field("url", &format_args!("{}:[redacted]", url_scheme(&self.url)))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// The durable store. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool,
    /// How a Postgres migration connects: like the pool, but without its statement timeout (a
    /// migration may rewrite a large table).
    migration_options: Option<PgConnectOptions>,
    /// The writer thread of a SQLite file's group commits ([`group`]).
    group: Option<group::GroupWriter>,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// What [`Database::check_schema`] found besides this build's own migrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaCheck {
    /// Versions of applied migrations newer than every one this build knows, in order.
    pub ahead: Vec<i64>,
}

/// The part of a database URL before the first `:`.
fn url_scheme(url: &str) -> &str {
    url.split_once(':').map_or("", |(s, _)| s)
}

impl Database {
    /// Opens the database named by `url` with at most `max_connections` connections and the
    /// default acquire timeout ([`DbOptions::DEFAULT_ACQUIRE_TIMEOUT`]). See
    /// [`Database::connect_with`].
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with(&DbOptions::new(url, max_connections)).await
    }

    /// Opens the database named by `opts.url`:
    ///
    /// - `sqlite://data/gateway.db` or `sqlite:data/gateway.db` (relative to the working
    ///   directory; the parent directory and the file are created when missing): WAL journal,
    ///   foreign keys on, a busy timeout, synchronous FULL (a committed audit event survives a
    ///   power cut).
    /// - `sqlite::memory:`: a private in-memory database on one connection, for tests.
    /// - `postgres://user:password@host:port/database?…` (or `postgresql://`): a pool of up to
    ///   `max_connections`. Every idle connection is tested with a round trip before it is
    ///   handed out and every connection is tested when it is given back, so connections that
    ///   died (the server restarted, an administrator terminated them, the network dropped them)
    ///   are discarded and replaced by the pool without help. Opening a connection (TCP, start-up,
    ///   authentication) is bounded by the acquire timeout, and a refused connection is retried
    ///   until then.
    ///
    /// One connection is opened before this returns, so a wrong URL or an unreachable server
    /// shows at start-up: [`StoreError::Unavailable`] when the server cannot be reached within
    /// the acquire timeout, [`StoreError::Config`] for a malformed URL,
    /// [`StoreError::Unsupported`] for another scheme. No error message carries the URL.
    ///
    /// Nothing is written to the schema here: call [`Database::migrate`] or
    /// [`Database::check_schema`].
    pub async fn connect_with(opts: &DbOptions) -> Result<Self, StoreError> {
        if opts.acquire_timeout.is_zero() {
            return Err(StoreError::Config(
                "database.acquire_timeout must be more than zero".into(),
            ));
        }
        match url_scheme(&opts.url) {
            "sqlite" => Self::connect_sqlite(opts).await,
            "postgres" | "postgresql" => Self::connect_postgres(opts).await,
            other => Err(StoreError::Unsupported(format!(
                "unknown database URL scheme {other:?} (expected sqlite: or postgres:)"
            ))),
        }
    }

    async fn connect_postgres(opts: &DbOptions) -> Result<Self, StoreError> {
        let mut options = PgConnectOptions::from_str(&opts.url)
            .map_err(|e| StoreError::Config(format!("database.url: {e}")))?;
        if options.get_application_name().is_none() {
            options = options.application_name(PG_APPLICATION_NAME);
        }
        let migration_options = options.clone();
        if !opts.statement_timeout.is_zero() {
            let ms = opts.statement_timeout.as_millis().to_string();
            options = options.options([("statement_timeout", ms.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(opts.acquire_timeout)
            // One round trip per checkout buys self-healing after an outage: a dead idle
            // connection is found here and replaced instead of failing the caller's query.
            .test_before_acquire(true)
            .idle_timeout(Some(PG_IDLE_TIMEOUT))
            .max_lifetime(Some(PG_MAX_LIFETIME))
            .connect_with(options)
            .await?;
        Ok(Self {
            pool: Pool::Postgres(pool),
            migration_options: Some(migration_options),
            group: None,
        })
    }

    async fn connect_sqlite(opts: &DbOptions) -> Result<Self, StoreError> {
        let url = opts.url.as_str();
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("database.url: {e}")))?
            .foreign_keys(true)
            .busy_timeout(opts.statement_timeout);
        let memory = sqlite_url_is_memory(url);
        let pool = if memory {
            // Every connection to an in-memory database would otherwise see its own empty
            // database (or fight over a shared cache); one connection that never idles out
            // keeps it whole and alive for the pool's lifetime.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(opts.acquire_timeout)
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
                .max_connections(opts.max_connections.max(1))
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(options)
                .await?
        };
        // An in-memory database (tests) commits each write on its own: there is no disk to wait
        // for.
        let group = if memory {
            None
        } else {
            Some(group::GroupWriter::start(pool.clone())?)
        };
        Ok(Self {
            pool: Pool::Sqlite(pool),
            migration_options: None,
            group,
        })
    }

    /// Applies every migration this build knows and the database lacks. Safe to run on every
    /// start, also on a database a newer build migrated further (its migrations are left as
    /// they are; [`Database::check_schema`] then says which). On Postgres also from several replicas at once: the migrator holds an advisory
    /// lock and runs each migration in a transaction. (A SQLite file has one gateway process.)
    #[tracing::instrument(skip(self), fields(backend = self.backend()))]
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut migrator = migrations::migrator(migrations::SQLITE).await?;
                migrator.set_ignore_missing(true).run(pool).await?;
            }
            Pool::Postgres(pool) => {
                let mut migrator = migrations::migrator(migrations::POSTGRES).await?;
                migrator.set_ignore_missing(true);
                match &self.migration_options {
                    Some(options) => {
                        // A pool of one without the statement timeout: the migrator's futures
                        // stay `Send` with a pool, and the data steps after them are as unbounded
                        // as the migrations they finish.
                        let unbounded = PgPoolOptions::new()
                            .max_connections(1)
                            .connect_with(options.clone())
                            .await?;
                        let ran = match migrator.run(&unbounded).await {
                            Ok(()) => {
                                fill_after_migrations(&Pool::Postgres(unbounded.clone())).await
                            }
                            Err(e) => Err(e.into()),
                        };
                        unbounded.close().await;
                        return ran;
                    }
                    None => migrator.run(pool).await?,
                }
            }
        }
        fill_after_migrations(&self.pool).await
    }

    /// Succeeds when the database carries every migration this build knows, each applied
    /// completely and unchanged. Migrations newer than every one this build knows (a newer build
    /// migrated the database during a rolling upgrade) are tolerated and returned: migrations
    /// are expand/contract, so this build still runs on the schema they leave. An unknown
    /// migration among the known ones, a missing, failed or altered one is refused. `serve`
    /// calls this and refuses to start on an error.
    #[tracing::instrument(skip(self), fields(backend = self.backend()))]
    pub async fn check_schema(&self) -> Result<SchemaCheck, StoreError> {
        let (has_table, known) = match &self.pool {
            Pool::Sqlite(pool) => {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_one(pool)
                .await?;
                (n > 0, migrations::SQLITE)
            }
            Pool::Postgres(pool) => {
                // The migrator creates its table unqualified, i.e. in the first schema of the
                // search path; look it up the same way.
                let found: bool =
                    sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                        .fetch_one(pool)
                        .await?;
                (found, migrations::POSTGRES)
            }
        };
        if !has_table {
            return Err(StoreError::Schema(
                "the database has no schema; run `gateway migrate`".into(),
            ));
        }
        let applied: Vec<(i64, Vec<u8>, bool)> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version",
            )
            .fetch_all(pool)
            .await?
        });
        let known = migrations::migrator(known).await?;
        let known: BTreeMap<i64, &[u8]> = known
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| (m.version, m.checksum.as_ref()))
            .collect();
        let newest_known = known.keys().max().copied().unwrap_or(0);
        let mut seen = Vec::with_capacity(applied.len());
        let mut ahead = Vec::new();
        for (version, checksum, success) in &applied {
            if !success {
                return Err(StoreError::Schema(format!(
                    "migration {version} is partially applied"
                )));
            }
            match known.get(version) {
                None if *version > newest_known => ahead.push(*version),
                None => {
                    return Err(StoreError::Schema(format!(
                        "the database has migration {version}, which this build does not know \
                         although it knows later ones"
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
        if !ahead.is_empty() {
            tracing::warn!(
                ?ahead,
                newest_known,
                "the database has migrations of a newer build; running on its schema (rolling \
                 upgrade or rollback)"
            );
        }
        Ok(SchemaCheck { ahead })
    }

    /// A round trip to the database, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(&self.pool, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// `"sqlite"` or `"postgres"`, for logs, metrics and `/readyz`.
    pub fn backend(&self) -> &'static str {
        match &self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Closes every pooled connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        on_pool!(&self.pool, |pool| pool.close().await)
    }
}

/// The data steps that finish the migrations, run on the migrations' own connection.
async fn fill_after_migrations(pool: &Pool) -> Result<(), StoreError> {
    // Usernames compare by their folded key from 0007 on; fill it for the rows that lack it.
    let mut tx = Tx::begin(pool).await?;
    let now = to_unix(vneid_core::Clock::now(&vneid_core::SystemClock));
    let filled = directory::fill_username_keys(&mut tx, now).await?;
    tx.commit().await?;
    if filled > 0 {
        tracing::info!(
            filled,
            "directory usernames given their case-insensitive key"
        );
    }
    Ok(())
}

/// Postgres SQLSTATEs after which the whole transaction may simply be tried again:
/// `40001` serialization_failure and `40P01` deadlock_detected.
const PG_RETRYABLE: [&str; 2] = ["40001", "40P01"];

/// True when `e` means "a concurrent transaction got in the way; try again": a unique
/// constraint fired, or (Postgres) a serialization failure or a deadlock aborted us.
pub(crate) fn lost_a_race(e: &StoreError) -> bool {
    e.is_unique_violation() || was_aborted_for_concurrency(e)
}

/// True when Postgres aborted the transaction for a serialization failure or a deadlock: it was
/// rolled back and may simply be tried again.
pub(crate) fn was_aborted_for_concurrency(e: &StoreError) -> bool {
    let StoreError::Other(source) = e else {
        return false;
    };
    source
        .downcast_ref::<sqlx::Error>()
        .and_then(sqlx::Error::as_database_error)
        .and_then(|d| d.code())
        .is_some_and(|code| PG_RETRYABLE.contains(&code.as_ref()))
}

/// A transaction on either backend; [`on_tx!`] runs one piece of SQL on it. Dropping it without
/// [`Tx::commit`] rolls it back.
///
/// On SQLite, `begin` opens a deferred transaction: make its first statement a write, so that it
/// takes the write lock up front (waiting under the busy timeout) instead of upgrading a read
/// snapshot later, which SQLite refuses with SQLITE_BUSY whatever the timeout.
enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    async fn begin(pool: &Pool) -> Result<Self, StoreError> {
        Ok(match pool {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Rolls back now (dropping the transaction would too, but later, when the connection is
    /// next used).
    async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
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

/// `names` as an SQL select list, in order, separated by `, `, each prefixed with `prefix` (`""`,
/// or a table alias and a dot such as `"a."`). The one way the stores build a column list from
/// their `…_COLUMN_NAMES`.
fn column_list(names: &[&str], prefix: &str) -> String {
    names
        .iter()
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
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
    use super::{sqlite_url_is_memory, DbOptions};

    #[test]
    fn db_options_debug_output_hides_the_url() {
        let shown = format!("{:?}", DbOptions::new("postgres://gw:s3cret@db/gateway", 4));
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("db/gateway"), "{shown}");
        assert!(shown.contains("postgres:"), "{shown}");
    }

    #[test]
    fn memory_urls_are_recognised() {
        assert!(sqlite_url_is_memory("sqlite::memory:"));
        assert!(sqlite_url_is_memory("sqlite://:memory:"));
        assert!(sqlite_url_is_memory("sqlite://x.db?mode=memory"));
        assert!(!sqlite_url_is_memory("sqlite://data/gateway.db"));
        assert!(!sqlite_url_is_memory("sqlite:data/gateway.db?mode=rwc"));
    }
}
