//! The ephemeral store: pending logins, authorization codes, sessions, replay caches, rate-limit
//! counters. Every value expires; losing them all (a restart of the memory store) logs people
//! out but loses nothing durable.
//!
//! In memory now; Redis comes behind the same [`Ephemeral`] trait. The semantics are Redis's:
//! `put` = `SET PX`, `put_if_absent` = `SET NX PX`, `take` = `GETDEL`, `incr` = `INCR` plus
//! `PEXPIRE` on the first increment. TTLs are rounded up to whole milliseconds (at least 1 ms).

mod memory;

use std::sync::Arc;
use std::time::Duration;

use vneid_core::Clock;

use crate::StoreError;

pub use memory::{MemoryEphemeral, DEFAULT_MAX_ENTRIES};

/// Short-lived key/value storage. Keys live in namespaces (`ns`: "code", "state", "jti", …) so
/// that one kind of value can never be read as another.
#[async_trait::async_trait]
pub trait Ephemeral: Send + Sync + 'static {
    /// Stores `value` under `(ns, key)` for `ttl`, replacing any value there.
    async fn put(&self, ns: &str, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError>;

    /// Stores `value` only when `(ns, key)` holds no live value; returns whether it did.
    /// Replay caches: `false` means "seen before".
    async fn put_if_absent(
        &self,
        ns: &str,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// The live value under `(ns, key)`.
    async fn get(&self, ns: &str, key: &str) -> Result<Option<String>, StoreError>;

    /// Reads and removes the value atomically: of two concurrent takes exactly one gets it.
    /// Single-use values (state, codes, refresh tokens) are only ever read this way.
    async fn take(&self, ns: &str, key: &str) -> Result<Option<String>, StoreError>;

    /// Removes the value, if any.
    async fn delete(&self, ns: &str, key: &str) -> Result<(), StoreError>;

    /// Adds one to the counter under `(ns, key)` and returns the new count. A missing or
    /// expired counter starts at 1 and expires after `ttl`; later increments keep that expiry
    /// (a fixed window). A non-numeric value there is [`StoreError::Corrupt`].
    async fn incr(&self, ns: &str, key: &str, ttl: Duration) -> Result<u64, StoreError>;

    /// A round trip to the store, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// `"memory"` (later also `"redis"`), for logs, metrics and `/readyz`.
    fn backend(&self) -> &'static str;
}

/// Opens the ephemeral store named by `url`: `memory://` in this build; `redis://`,
/// `rediss://`, `redis+cluster://` and `redis+sentinel://` are [`StoreError::Unsupported`] for
/// now. `clock` decides expiry in the memory store.
pub async fn connect_ephemeral(
    url: &str,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Ephemeral>, StoreError> {
    // Only the scheme is ever echoed: a Redis URL may carry a password.
    let scheme = url.split_once(':').map_or(url, |(s, _)| s);
    match scheme {
        "memory" => {
            let rest = url.trim_start_matches("memory:").trim_start_matches("//");
            if !rest.is_empty() {
                return Err(StoreError::Config(
                    "ephemeral.url: memory:// takes no host, path or options".into(),
                ));
            }
            Ok(Arc::new(MemoryEphemeral::new(clock)))
        }
        "redis" | "rediss" | "redis+cluster" | "redis+sentinel" => Err(StoreError::Unsupported(
            format!("{scheme}:// ephemeral stores are not supported by this build yet"),
        )),
        other => Err(StoreError::Unsupported(format!(
            "unknown ephemeral store URL scheme {other:?} (expected memory: or redis:)"
        ))),
    }
}

/// Milliseconds of `ttl`, rounded up, at least 1, saturating.
pub(crate) fn ttl_millis(ttl: Duration) -> i64 {
    let ms = ttl.as_nanos().div_ceil(1_000_000).max(1);
    i64::try_from(ms).unwrap_or(i64::MAX)
}
