//! The in-memory ephemeral store: one process only (the embedded default, tests).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use vneid_core::Clock;

use super::{ttl_millis, Ephemeral};
use crate::StoreError;

/// The default bound on stored entries (live or expired but not yet purged): 200,000.
///
/// An entry costs roughly 700 bytes (its key, a value such as a pending login or a session, the
/// map's own overhead), so a full store holds about 140 MB. Set `ephemeral.max_entries` from the
/// memory the process may use.
pub const DEFAULT_MAX_ENTRIES: usize = 200_000;

/// Shards of the map, each behind its own lock. Measured (benches/ephemeral.rs, 2 cores):
/// put+take throughput is the same within noise for 1, 16 or 64 shards, but sweeping 1,000,000
/// expired entries holds one lock for ~400 ms with 1 shard, ~30 ms with 16, ~5 ms with 64.
pub(super) const DEFAULT_SHARDS: usize = 64;

/// A shard is swept of expired entries after `max(SWEEP_MIN_WRITES, entries left by its last
/// sweep)` writes: sweeping costs O(1) per write on average, and a shard never holds more than
/// about twice its live entries plus `SWEEP_MIN_WRITES`.
const SWEEP_MIN_WRITES: usize = 1024;

/// At most one sweep of every shard per this many milliseconds of clock time, when the store is
/// full (so a full store under attack does not sweep a million entries on every write).
const FULL_SWEEP_INTERVAL_MS: i64 = 1000;

/// [`Ephemeral::purge_expired`] shrinks a shard's map once its capacity exceeds twice its
/// entries by more than this many slots, down to room for twice its entries: a burst that
/// emptied out gives its memory back, while a shard at its usual size is not reallocated on
/// every purge.
const SHRINK_SLACK: usize = 1024;

struct Entry {
    value: String,
    /// Unix milliseconds; the entry is live while `now < expires_at`.
    expires_at: i64,
}

impl Entry {
    fn live(&self, now: i64) -> bool {
        now < self.expires_at
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<String, Entry>,
    writes_since_sweep: usize,
    /// Entries left by the last sweep: the next sweep comes after as many writes (or
    /// `SWEEP_MIN_WRITES`, whichever is more).
    len_after_sweep: usize,
}

/// The in-memory [`Ephemeral`] store. Expiry follows the injected clock: a value is invisible
/// the moment its TTL has passed, and purged lazily (when touched) plus by a periodic sweep of
/// its shard. At most `max_entries` entries are held; a write of a new key beyond that fails
/// with [`StoreError::Full`] rather than growing without bound.
pub struct MemoryEphemeral {
    clock: Arc<dyn Clock>,
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    len: AtomicUsize,
    max_entries: usize,
    last_full_sweep: AtomicI64,
}

impl std::fmt::Debug for MemoryEphemeral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryEphemeral")
            .field("shards", &self.shards.len())
            .field("len", &self.len())
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

enum Write<'a> {
    Put(&'a str, i64),
    PutIfAbsent(&'a str, i64),
    Incr(i64),
}

enum Written {
    Done,
    Absent(bool),
    Count(u64),
}

impl MemoryEphemeral {
    /// A store bounded at [`DEFAULT_MAX_ENTRIES`].
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_limits(clock, DEFAULT_MAX_ENTRIES, DEFAULT_SHARDS)
    }

    /// A store bounded at `max_entries`, its map split into `shards` locks (at least 1).
    pub fn with_limits(clock: Arc<dyn Clock>, max_entries: usize, shards: usize) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| Mutex::new(Shard::default()))
            .collect();
        Self {
            clock,
            shards,
            hasher: RandomState::new(),
            len: AtomicUsize::new(0),
            max_entries,
            last_full_sweep: AtomicI64::new(i64::MIN),
        }
    }

    /// Entries held, counting expired ones not purged yet.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots the maps have room for without growing, summed over the shards: what the store's
    /// memory is sized by, whatever it holds now. Locks each shard in turn.
    pub fn capacity(&self) -> usize {
        self.shards.iter().map(|s| lock(s).map.capacity()).sum()
    }

    /// Purges every expired entry now (the maps keep their capacity; see
    /// [`Ephemeral::purge_expired`] to give memory back too).
    pub fn sweep(&self) {
        self.sweep_all(false);
    }

    /// Purges every expired entry now, one shard at a time; with `shrink`, also shrinks each
    /// swept map that has far more room than entries (see [`SHRINK_SLACK`]).
    fn sweep_all(&self, shrink: bool) {
        let now = self.now();
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            self.sweep_shard(&mut shard, now);
            let len = shard.map.len();
            if shrink && shard.map.capacity() > len.saturating_mul(2).saturating_add(SHRINK_SLACK) {
                shard.map.shrink_to(len.saturating_mul(2));
            }
        }
    }

    /// The live value of `full_key` at `now`; an expired one is purged on the way.
    fn get_at(&self, full_key: &str, now: i64) -> Option<String> {
        let mut shard = self.shard(full_key);
        match shard.map.get(full_key) {
            Some(e) if e.live(now) => Some(e.value.clone()),
            Some(_) => {
                shard.map.remove(full_key);
                self.len.fetch_sub(1, Ordering::Relaxed);
                None
            }
            None => None,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// The map key of `(ns, key)`: length-prefixed so no two pairs collide.
    fn full_key(ns: &str, key: &str) -> String {
        format!("{}:{ns}{key}", ns.len())
    }

    fn shard(&self, full_key: &str) -> MutexGuard<'_, Shard> {
        let n = self.shards.len();
        let i = if n == 1 {
            0
        } else {
            let h = self.hasher.hash_one(full_key) % u64::try_from(n).unwrap_or(u64::MAX);
            usize::try_from(h).unwrap_or(0)
        };
        lock(&self.shards[i])
    }

    fn sweep_shard(&self, shard: &mut Shard, now: i64) {
        let before = shard.map.len();
        shard.map.retain(|_, e| e.live(now));
        let removed = before - shard.map.len();
        self.len.fetch_sub(removed, Ordering::Relaxed);
        shard.writes_since_sweep = 0;
        shard.len_after_sweep = shard.map.len();
    }

    /// Counts one more write on `shard` and sweeps it when its turn has come.
    fn note_write(&self, shard: &mut Shard, now: i64) {
        shard.writes_since_sweep += 1;
        if shard.writes_since_sweep >= shard.len_after_sweep.max(SWEEP_MIN_WRITES) {
            self.sweep_shard(shard, now);
        }
    }

    /// Reserves room for one new entry, or says the store is full.
    fn reserve(&self) -> bool {
        self.len
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < self.max_entries).then_some(n + 1)
            })
            .is_ok()
    }

    fn write(&self, ns: &str, key: &str, op: Write<'_>) -> Result<Written, StoreError> {
        let full_key = Self::full_key(ns, key);
        let now = self.now();
        match self.write_once(&full_key, now, &op)? {
            Some(done) => Ok(done),
            None => {
                // Full: purge expired entries everywhere (at most once a second), then retry.
                let last = self.last_full_sweep.load(Ordering::Relaxed);
                let swept = now.saturating_sub(last) >= FULL_SWEEP_INTERVAL_MS
                    && self
                        .last_full_sweep
                        .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok();
                if swept {
                    self.sweep();
                }
                match self.write_once(&full_key, now, &op)? {
                    Some(done) => Ok(done),
                    None => {
                        if swept {
                            // Logged at most once a second, not once per refused write.
                            tracing::warn!(
                                limit = self.max_entries,
                                "memory ephemeral store is full of live entries"
                            );
                        }
                        Err(StoreError::Full {
                            limit: self.max_entries,
                        })
                    }
                }
            }
        }
    }

    /// One attempt at a write; `None` when a new entry was needed and there was no room.
    fn write_once(
        &self,
        full_key: &str,
        now: i64,
        op: &Write<'_>,
    ) -> Result<Option<Written>, StoreError> {
        let mut shard = self.shard(full_key);
        let existing = shard.map.get_mut(full_key);
        let live = existing.as_ref().is_some_and(|e| e.live(now));
        let result = match (op, existing) {
            // Replacing an entry (live or expired) needs no new room.
            (Write::Put(value, ttl), Some(e)) => {
                e.value = (*value).to_owned();
                e.expires_at = now.saturating_add(*ttl);
                Written::Done
            }
            (Write::PutIfAbsent(_, _), Some(_)) if live => Written::Absent(false),
            (Write::PutIfAbsent(value, ttl), Some(e)) => {
                e.value = (*value).to_owned();
                e.expires_at = now.saturating_add(*ttl);
                Written::Absent(true)
            }
            (Write::Incr(_), Some(e)) if live => {
                let n: u64 = e.value.parse().map_err(|_| {
                    StoreError::Corrupt("incr on a value that is not a counter".into())
                })?;
                let n = n.saturating_add(1);
                e.value = n.to_string();
                Written::Count(n)
            }
            (Write::Incr(ttl), Some(e)) => {
                e.value = "1".to_owned();
                e.expires_at = now.saturating_add(*ttl);
                Written::Count(1)
            }
            (op, None) => {
                if !self.reserve() {
                    self.sweep_shard(&mut shard, now);
                    if !self.reserve() {
                        return Ok(None);
                    }
                }
                let (value, ttl, result) = match op {
                    Write::Put(v, ttl) => ((*v).to_owned(), *ttl, Written::Done),
                    Write::PutIfAbsent(v, ttl) => ((*v).to_owned(), *ttl, Written::Absent(true)),
                    Write::Incr(ttl) => ("1".to_owned(), *ttl, Written::Count(1)),
                };
                shard.map.insert(
                    full_key.to_owned(),
                    Entry {
                        value,
                        expires_at: now.saturating_add(ttl),
                    },
                );
                result
            }
        };
        self.note_write(&mut shard, now);
        Ok(Some(result))
    }

    /// Removes `(ns, key)` and returns its value if it was live.
    fn remove(&self, ns: &str, key: &str) -> Option<String> {
        let full_key = Self::full_key(ns, key);
        let now = self.now();
        let mut shard = self.shard(&full_key);
        let removed = shard.map.remove(&full_key)?;
        self.len.fetch_sub(1, Ordering::Relaxed);
        removed.live(now).then_some(removed.value)
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // No code panics while holding a shard lock; if one ever did, the map is still consistent.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait::async_trait]
impl Ephemeral for MemoryEphemeral {
    async fn put(&self, ns: &str, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        self.write(ns, key, Write::Put(value, ttl_millis(ttl)))
            .map(|_| ())
    }

    async fn put_if_absent(
        &self,
        ns: &str,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        match self.write(ns, key, Write::PutIfAbsent(value, ttl_millis(ttl)))? {
            Written::Absent(stored) => Ok(stored),
            _ => Ok(false),
        }
    }

    async fn get(&self, ns: &str, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get_at(&Self::full_key(ns, key), self.now()))
    }

    /// One pass over `keys`, every value judged live at the same instant; each key's shard is
    /// locked only while that key is read.
    async fn get_many(&self, keys: &[(&str, &str)]) -> Result<Vec<Option<String>>, StoreError> {
        let now = self.now();
        Ok(keys
            .iter()
            .map(|(ns, key)| self.get_at(&Self::full_key(ns, key), now))
            .collect())
    }

    async fn take(&self, ns: &str, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.remove(ns, key))
    }

    async fn delete(&self, ns: &str, key: &str) -> Result<(), StoreError> {
        self.remove(ns, key);
        Ok(())
    }

    async fn incr(&self, ns: &str, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        match self.write(ns, key, Write::Incr(ttl_millis(ttl)))? {
            Written::Count(n) => Ok(n),
            _ => Err(StoreError::Other("incr wrote no counter".into())),
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }

    fn entries(&self) -> Option<usize> {
        Some(self.len())
    }

    /// Sweeps every shard now, then shrinks each map whose capacity is above twice its entries
    /// plus 1,024 down to room for twice its entries. One shard is locked at a time, so writes
    /// to the others go on meanwhile.
    async fn purge_expired(&self) {
        self.sweep_all(true);
    }
}
