//! Persistence of vneid-gateway.
//!
//! - [`Database`]: the durable store (people, upstream identities, signing keys, audit
//!   events) over SQLite now and Postgres next, with embedded, append-only migrations.
//! - [`Ephemeral`]: the ephemeral store (pending logins, codes, sessions, replay caches,
//!   rate limits) in memory now ([`MemoryEphemeral`]) and Redis next.
//!
//! Every failure is a [`StoreError`]; [`StoreError::is_unavailable`] tells the gateway to
//! answer 503.

mod db;
mod ephemeral;
mod error;

pub use db::{
    AuditEvent, AuditFilter, Database, LoginUpsert, PersonRecord, SigningKeyRow, AUDIT_LIST_MAX,
};
pub use ephemeral::{connect_ephemeral, Ephemeral, MemoryEphemeral, DEFAULT_MAX_ENTRIES};
pub use error::{BoxError, StoreError};
