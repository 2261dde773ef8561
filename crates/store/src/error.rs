//! The one error type of the store.

/// A boxed error that can cross threads: the cause kept inside [`StoreError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong in the durable or the ephemeral store.
///
/// `Display` names the kind of failure only; the underlying cause is the error's `source()`, so
/// log the whole chain. No message here ever carries a connection URL (a Postgres or Redis URL
/// may hold a password) or a personal ID number.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database or ephemeral store cannot be reached or is overloaded right now (connection
    /// refused, pool timed out, database locked past the busy timeout, disk full). The gateway
    /// answers 503 and the operation may succeed later.
    #[error("the store is unavailable")]
    Unavailable(#[source] BoxError),

    /// The URL names a backend this build does not support (yet).
    #[error("unsupported store: {0}")]
    Unsupported(String),

    /// The store configuration is wrong (a malformed URL, an unusable path).
    #[error("bad store configuration: {0}")]
    Config(String),

    /// The database schema is not the one this build knows: not migrated, partly migrated,
    /// migrated by a newer build, or a migration was edited after it was applied.
    #[error("database schema: {0}")]
    Schema(String),

    /// The write contradicts what is stored (a duplicate key id; an upstream account that now
    /// reports another personal ID number than the one on record).
    #[error("conflict: {0}")]
    Conflict(String),

    /// The write refers to a row that does not exist (e.g. linking a directory account or a
    /// person that is not on record).
    #[error("not found: {0}")]
    NotFound(String),

    /// The value cannot be stored as given (a caller's bug, not a state of the store): e.g. a
    /// scope that contains a space, which the space-separated scope list cannot keep.
    #[error("cannot store this value: {0}")]
    Invalid(String),

    /// The ephemeral store cannot take another entry: the memory store holds its maximum of
    /// `limit` entries, or Redis refused the write at its `maxmemory` (`limit` is 0 then: Redis
    /// states no count). Reads, takes and deletes still work; writes succeed again once entries
    /// expire or are taken. Not [`StoreError::is_unavailable`]: see [`StoreError::is_full`].
    #[error("the ephemeral store is full ({})", full_limit(*.limit))]
    Full { limit: usize },

    /// A stored value could not be read back (an impossible timestamp, a non-numeric counter).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),

    /// Anything else: a bug or an unexpected database error.
    #[error("store error")]
    Other(#[source] BoxError),
}

/// What [`StoreError::Full`] says of its limit.
fn full_limit(limit: usize) -> String {
    if limit == 0 {
        "Redis is at its maxmemory".to_owned()
    } else {
        format!("{limit} entries")
    }
}

impl StoreError {
    /// True when the failure is about reaching the store, not about the request: answer 503.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// True when the ephemeral store refused a write because it is full ([`StoreError::Full`]:
    /// the memory store at its `max_entries`, Redis at its `maxmemory` under `noeviction`). The
    /// store still serves reads; the write may succeed once entries expire. Answer 503, and
    /// alert: a store that stays full is too small for the load, or under attack.
    pub fn is_full(&self) -> bool {
        matches!(self, StoreError::Full { .. })
    }

    pub(crate) fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Other(e) => e
                .downcast_ref::<sqlx::Error>()
                .and_then(|e| e.as_database_error())
                .is_some_and(|d| d.is_unique_violation()),
            _ => false,
        }
    }
}

impl StoreError {
    /// True when a foreign key refused the write (it names a row that does not exist).
    pub(crate) fn is_foreign_key_violation(&self) -> bool {
        match self {
            StoreError::Other(e) => e
                .downcast_ref::<sqlx::Error>()
                .and_then(|e| e.as_database_error())
                .is_some_and(|d| d.is_foreign_key_violation()),
            _ => false,
        }
    }
}

/// SQLite primary result codes that mean "the database cannot serve this now".
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;

fn database_is_unavailable(e: &(dyn sqlx::error::DatabaseError + 'static)) -> bool {
    if let Some(e) = e.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
        let primary = sqlx::error::DatabaseError::code(e)
            .and_then(|c| c.parse::<i32>().ok())
            .map(|c| c & 0xff);
        return matches!(
            primary,
            Some(SQLITE_BUSY | SQLITE_LOCKED | SQLITE_IOERR | SQLITE_FULL | SQLITE_CANTOPEN)
        );
    }
    if let Some(e) = e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let code = e.code();
        // 08: connection exception; 53: insufficient resources; 57P0x: operator intervention
        // (admin/crash shutdown, cannot connect now, database dropped, idle session timeout);
        // 57014: query_canceled, which is what `statement_timeout` raises.
        return code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P0")
            || code == "57014";
    }
    false
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        let unavailable = match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(d) => database_is_unavailable(d.as_ref()),
            sqlx::Error::Configuration(c) => {
                return StoreError::Config(c.to_string());
            }
            _ => false,
        };
        if unavailable {
            StoreError::Unavailable(Box::new(e))
        } else {
            StoreError::Other(Box::new(e))
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        use sqlx::migrate::MigrateError as M;
        match e {
            M::Execute(e) | M::ExecuteMigration(e, _) => StoreError::from(e),
            M::VersionMissing(v) => StoreError::Schema(format!(
                "the database has migration {v}, which this build does not know (a newer build migrated it)"
            )),
            M::VersionMismatch(v) => StoreError::Schema(format!(
                "migration {v} was changed after it was applied"
            )),
            M::Dirty(v) => StoreError::Schema(format!("migration {v} is partially applied")),
            other => StoreError::Schema(other.to_string()),
        }
    }
}
