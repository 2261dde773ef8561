//! The ephemeral store as the gateway uses it: every write a full store refuses is counted in
//! `vneid_ephemeral_full_total` and remembered for `/readyz` (the request itself is answered
//! 503 by the error mapping).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus::IntCounter;
use vneid_store::{Ephemeral, StoreError};

/// When the store last refused a write because it was full (unix seconds; 0: never).
#[derive(Debug, Default)]
pub struct FullSince(AtomicI64);

impl FullSince {
    /// The last refusal, if there was one.
    pub fn last(&self) -> Option<i64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|t| *t > 0)
    }
}

pub struct Counted {
    inner: Arc<dyn Ephemeral>,
    full: IntCounter,
    last_full: Arc<FullSince>,
    clock: Arc<dyn vneid_core::Clock>,
}

impl Counted {
    pub fn wrap(
        inner: Arc<dyn Ephemeral>,
        full: IntCounter,
        last_full: Arc<FullSince>,
        clock: Arc<dyn vneid_core::Clock>,
    ) -> Arc<dyn Ephemeral> {
        Arc::new(Self {
            inner,
            full,
            last_full,
            clock,
        })
    }

    fn count<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if r.as_ref().is_err_and(StoreError::is_full) {
            self.full.inc();
            self.last_full
                .0
                .store(self.clock.now().timestamp(), Ordering::Relaxed);
        }
        r
    }
}

#[async_trait::async_trait]
impl Ephemeral for Counted {
    async fn put(&self, ns: &str, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        self.count(self.inner.put(ns, key, value, ttl).await)
    }

    async fn put_if_absent(
        &self,
        ns: &str,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.count(self.inner.put_if_absent(ns, key, value, ttl).await)
    }

    async fn get(&self, ns: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.get(ns, key).await
    }

    async fn take(&self, ns: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.take(ns, key).await
    }

    async fn delete(&self, ns: &str, key: &str) -> Result<(), StoreError> {
        self.inner.delete(ns, key).await
    }

    async fn incr(&self, ns: &str, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        self.count(self.inner.incr(ns, key, ttl).await)
    }

    async fn get_many(&self, keys: &[(&str, &str)]) -> Result<Vec<Option<String>>, StoreError> {
        self.inner.get_many(keys).await
    }

    fn entries(&self) -> Option<usize> {
        self.inner.entries()
    }

    async fn purge_expired(&self) {
        self.inner.purge_expired().await;
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}
