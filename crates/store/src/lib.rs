//! Persistence of vneid-gateway.
//!
//! - [`Database`]: the durable store (people, upstream identities, signing keys, audit
//!   events, refresh-token families, clients, the account directory and its links to people:
//!   [`DirectoryAccount`], [`AccountLink`]; revocations that outlive the ephemeral store:
//!   [`Revocation`]) over SQLite or PostgreSQL (chosen by the URL's scheme), with embedded,
//!   append-only migrations; [`DbOptions`] says how to open it.
//! - [`Ephemeral`]: the ephemeral store (pending logins, codes, sessions, replay caches,
//!   rate limits) in memory ([`MemoryEphemeral`]) or in Redis ([`RedisEphemeral`]).
//!
//! Every failure is a [`StoreError`]; [`StoreError::is_unavailable`] tells the gateway to
//! answer 503.

mod db;
mod ephemeral;
mod error;

pub use db::{
    AccountLink, DirectoryAccount, LinkConflict, LoginStatRow, LoginStats, ReadinessRow,
    UnitCounts, UpsertCounts, ACCOUNT_ACTIVE, ACCOUNT_INACTIVE, DIRECTORY_LIST_MAX,
};
pub use db::{
    AuditCheckpoint, AuditEvent, AuditFilter, ChainBreak, ChainReport, CheckpointClaim,
    AUDIT_GENESIS,
};
pub use db::{
    ClientRow, Contents, NewRefreshFamily, PreviousSecret, RefreshFamily, RefreshTokenRecord,
    Revocation, RotateOutcome,
};
pub use db::{
    Database, DbOptions, GroupCommitStats, LoginUpsert, PersonRecord, SchemaCheck, SigningKeyRow,
    AUDIT_LIST_MAX,
};
pub use ephemeral::{
    connect_ephemeral, connect_ephemeral_with, Ephemeral, EphemeralOptions, MemoryEphemeral,
    RedisEphemeral, DEFAULT_KEY_PREFIX, DEFAULT_MAX_ENTRIES, DEFAULT_TIMEOUT,
};
pub use error::{BoxError, StoreError};
