//! The ephemeral store: pending logins, authorization codes, sessions, replay caches, rate-limit
//! counters. Every value expires; losing them all (a restart of the memory store) logs people
//! out but loses nothing durable.
//!
//! Two backends behind the same [`Ephemeral`] trait: [`MemoryEphemeral`] (one process: the
//! embedded default, tests) and [`RedisEphemeral`] (shared by every replica). The semantics are
//! Redis's: `put` = `SET PX`, `put_if_absent` = `SET NX PX`, `take` = `GETDEL`, `incr` = `INCR`
//! plus `PEXPIRE` on the first increment, `get_many` = `MGET`. TTLs are rounded up to whole
//! milliseconds (at least 1 ms).
//!
//! A store that cannot take another entry fails the write with [`StoreError::Full`] (see
//! [`StoreError::is_full`]): the memory store at its `max_entries`, Redis at its `maxmemory`
//! under the `noeviction` policy. Reads, takes and deletes still work then.

mod memory;
mod redis;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vneid_core::Clock;

use crate::StoreError;

pub use self::redis::RedisEphemeral;
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

    /// The live values of several `(ns, key)` pairs: one answer per pair, in the same order
    /// (`None` where nothing live is stored; a pair listed twice is answered twice). One round
    /// trip on Redis: `MGET` on a single node; on a cluster, the client splits it by hash slot,
    /// sends the parts to their nodes at once and puts the answers back in order. Each value is
    /// read atomically, not the whole set. No pairs: an empty answer without a round trip.
    async fn get_many(&self, keys: &[(&str, &str)]) -> Result<Vec<Option<String>>, StoreError>;

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

    /// `"memory"`, `"redis"` or `"redis-cluster"`, for logs, metrics and `/readyz`.
    fn backend(&self) -> &'static str;

    /// How many entries the store holds, counting expired ones not purged yet, when it knows
    /// without a round trip: the memory store does (a gauge for metrics, next to its
    /// `max_entries`); Redis answers `None` (ask Redis itself: `INFO keyspace`).
    fn entries(&self) -> Option<usize>;

    /// Purges expired entries now and gives the memory they held back. The memory store sweeps
    /// every shard and shrinks a shard's map that holds far more room than entries; the gateway
    /// calls this every few seconds. Redis expires keys by itself: nothing to do there.
    async fn purge_expired(&self);
}

/// The key prefix of [`EphemeralOptions::default`]: `"vneid:"`.
pub const DEFAULT_KEY_PREFIX: &str = "vneid:";

/// The command timeout of [`EphemeralOptions::default`]: 2 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// How to open the ephemeral store (`[ephemeral]` in the gateway's configuration).
#[derive(Clone)]
pub struct EphemeralOptions {
    /// `memory://`, `redis://[user:pass@]host[:port][/db]`, `redis+unix:///path.sock`,
    /// `redis+cluster://[user:pass@]host:port[,host:port…]`, or over TLS `rediss://…` and
    /// `rediss+cluster://…`. May hold a password: never logged.
    pub url: String,
    /// Put in front of every Redis key, so several gateways (and test runs) share one Redis
    /// without meeting each other's keys. Unused by the memory store. (On a cluster, a `{…}`
    /// hash tag here would put every key in one slot: leave braces out.)
    pub key_prefix: String,
    /// The longest any Redis command (and the first connection) may take; past it the
    /// operation fails with [`StoreError::Unavailable`]. Unused by the memory store.
    pub timeout: Duration,
    /// The most entries the memory store holds (live, or expired and not purged yet); a write
    /// of a new key beyond it fails with [`StoreError::Full`]. At least 1. Unused by Redis,
    /// whose bound is its own `maxmemory`.
    pub max_entries: usize,
    /// PEM file of the CA(s) a `rediss://` server's certificate must chain to, instead of the
    /// system's trust store (a private CA). Only with a TLS URL.
    pub tls_ca_file: Option<PathBuf>,
}

impl EphemeralOptions {
    /// `url` with the default prefix, timeout and bound.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }
}

impl Default for EphemeralOptions {
    /// `memory://`, prefix [`DEFAULT_KEY_PREFIX`], timeout [`DEFAULT_TIMEOUT`], bound
    /// [`DEFAULT_MAX_ENTRIES`].
    fn default() -> Self {
        Self {
            url: "memory://".into(),
            key_prefix: DEFAULT_KEY_PREFIX.into(),
            timeout: DEFAULT_TIMEOUT,
            max_entries: DEFAULT_MAX_ENTRIES,
            tls_ca_file: None,
        }
    }
}

impl std::fmt::Debug for EphemeralOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only the scheme: the rest of a Redis URL may carry a password.
        let scheme = self.url.split_once(':').map_or("?", |(s, _)| s);
        f.debug_struct("EphemeralOptions")
            .field("url", &format_args!("{scheme}://…"))
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("max_entries", &self.max_entries)
            .field("tls_ca_file", &self.tls_ca_file)
            .finish()
    }
}

/// Opens the ephemeral store named by `url` with the default key prefix, timeout and bound:
/// see [`connect_ephemeral_with`].
pub async fn connect_ephemeral(
    url: &str,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Ephemeral>, StoreError> {
    connect_ephemeral_with(&EphemeralOptions::new(url), clock).await
}

/// Opens the ephemeral store named by `opts.url`:
///
/// - `memory://`: a [`MemoryEphemeral`] bounded at `opts.max_entries`; `clock` decides its
///   expiry.
/// - `redis://`, `redis+unix://`, `redis+cluster://`, and over TLS `rediss://` and
///   `rediss+cluster://`: a [`RedisEphemeral`], connected before this returns. A Redis that
///   cannot be reached within `opts.timeout` is an error (the start fails, naming
///   `ephemeral.url` and the address); see [`RedisEphemeral::connect`].
/// - `rediss+unix://`, `redis+sentinel://` and anything else: [`StoreError::Unsupported`].
///
/// `opts.max_entries = 0` is refused with [`StoreError::Config`] whatever the backend (a store
/// that can hold nothing is a mistake in the configuration, even where Redis would ignore it).
/// No error message carries the URL, only its scheme or address: it may hold a password.
pub async fn connect_ephemeral_with(
    opts: &EphemeralOptions,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Ephemeral>, StoreError> {
    if opts.max_entries == 0 {
        return Err(StoreError::Config(
            "ephemeral.max_entries must be at least 1".into(),
        ));
    }
    let url = opts.url.as_str();
    let scheme = url.split_once(':').map_or(url, |(s, _)| s);
    match scheme {
        "memory" => {
            let rest = url.trim_start_matches("memory:").trim_start_matches("//");
            if !rest.is_empty() {
                return Err(StoreError::Config(
                    "ephemeral.url: memory:// takes no host, path or options".into(),
                ));
            }
            Ok(Arc::new(MemoryEphemeral::with_limits(
                clock,
                opts.max_entries,
                memory::DEFAULT_SHARDS,
            )))
        }
        s if s.starts_with("redis") => Ok(Arc::new(RedisEphemeral::connect(opts).await?)),
        other => Err(StoreError::Unsupported(format!(
            "unknown ephemeral store URL scheme {other:?} (expected memory:, redis:, \
             redis+unix:, redis+cluster:, rediss: or rediss+cluster:)"
        ))),
    }
}

/// Milliseconds of `ttl`, rounded up, at least 1, saturating.
pub(crate) fn ttl_millis(ttl: Duration) -> i64 {
    let ms = ttl.as_nanos().div_ceil(1_000_000).max(1);
    i64::try_from(ms).unwrap_or(i64::MAX)
}
