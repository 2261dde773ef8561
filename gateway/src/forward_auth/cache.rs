//! The in-process cache that lets `{prefix}/auth` answer every request of a legacy app without
//! signing or asking the store each time.
//!
//! Per app, a map from the session cookie's value to the last answer: the signed assertion
//! and headers, the session's level and `sid`, and when the store last confirmed the session.
//! An entry is served as it is while the store confirmed it less than [`REVALIDATE`] seconds
//! ago and its assertion has at least [`RESIGN_BELOW`] seconds left. Otherwise one request
//! re-reads the session (and whether its SSO session was logged out) in one round trip, and
//! signs a new assertion only when the old one nears its end; requests arriving meanwhile keep
//! being served the previous answer for up to another [`REVALIDATE`] seconds. So a logout on
//! another replica (or at the gateway) takes effect here within about `REVALIDATE` seconds,
//! and at once on the replica that served it. Only live sessions are cached: an unknown cookie
//! is looked up in the store every time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use vneid_core::AssuranceLevel;

use super::assertion::{self, Answer};
use super::{session, App};
use crate::errors::ServiceError;
use crate::state::AppState;

/// Seconds after which a cached session is confirmed again against the store.
pub const REVALIDATE: i64 = 5;
/// An assertion with fewer seconds than this left is signed again.
pub const RESIGN_BELOW: i64 = 30;
/// Entries not confirmed for this long are dropped at the next purge.
const STALE_AFTER: i64 = 120;
/// How often (seconds) a write purges stale entries.
const PURGE_EVERY: i64 = 30;
/// Most sessions cached per app; past it, answers are served without being cached.
const MAX_ENTRIES: usize = 100_000;

/// The last answer for one session.
pub struct Entry {
    /// `None` when the session's level is below the app's `min_level` (nothing is signed).
    pub answer: Option<Arc<Answer>>,
    pub level: AssuranceLevel,
    sid: String,
    /// When the store last confirmed the session (unix seconds).
    checked: i64,
    /// One request at a time confirms a stale entry.
    refreshing: AtomicBool,
}

/// One app's sessions.
struct Shard {
    map: RwLock<HashMap<Box<str>, Arc<Entry>>>,
    /// When its stale entries were last dropped (unix seconds).
    last_purge: AtomicI64,
}

/// One shard per app (by its index).
pub struct Cache {
    shards: Vec<Shard>,
}

/// The verdict on one `/auth` request.
pub enum Verdict {
    Allowed(Arc<Answer>),
    /// No live session of this app behind the cookie.
    Unauthenticated,
    /// A live session whose level is below the app's `min_level`.
    Level,
}

/// Whether `cookie` can be a session cookie value at all (43 base64url characters): anything
/// else is refused without a look-up.
fn plausible(cookie: &str) -> bool {
    cookie.len() == 43
        && cookie
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Cache {
    pub fn new(apps: usize) -> Self {
        Self {
            shards: (0..apps)
                .map(|_| Shard {
                    map: RwLock::new(HashMap::new()),
                    last_purge: AtomicI64::new(0),
                })
                .collect(),
        }
    }

    fn get(&self, app: usize, cookie: &str) -> Option<Arc<Entry>> {
        let shard = self.shards.get(app)?;
        let guard = shard
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.get(cookie).cloned()
    }

    fn put(&self, app: usize, cookie: &str, entry: Arc<Entry>, now: i64) {
        let Some(shard) = self.shards.get(app) else {
            return;
        };
        let last = shard.last_purge.load(Ordering::Relaxed);
        let mut guard = shard
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now - last >= PURGE_EVERY || guard.len() >= MAX_ENTRIES {
            guard.retain(|_, e| now - e.checked < STALE_AFTER);
            shard.last_purge.store(now, Ordering::Relaxed);
        }
        if guard.len() < MAX_ENTRIES || guard.contains_key(cookie) {
            guard.insert(cookie.into(), entry);
        }
    }

    /// Forgets the session behind `cookie` (logged out on this replica).
    pub fn remove(&self, app: usize, cookie: &str) {
        if let Some(shard) = self.shards.get(app) {
            shard
                .map
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(cookie);
        }
    }

    /// The verdict on a request of `app` carrying `cookie`.
    pub async fn check(
        &self,
        state: &AppState,
        app: &App,
        cookie: Option<&str>,
    ) -> Result<Verdict, ServiceError> {
        let Some(cookie) = cookie.filter(|c| plausible(c)) else {
            return Ok(Verdict::Unauthenticated);
        };
        let now = state.clock.now().timestamp();
        let cached = self.get(app.index, cookie);
        if let Some(e) = &cached {
            let left = e.answer.as_ref().map_or(i64::MAX, |a| a.exp - now);
            if now - e.checked < REVALIDATE && left >= RESIGN_BELOW {
                return Ok(verdict(app, e));
            }
            // Another request is confirming it: serve what we have while it is still recent.
            if e.refreshing.swap(true, Ordering::AcqRel)
                && now - e.checked < 2 * REVALIDATE
                && left > 5
            {
                return Ok(verdict(app, e));
            }
        }
        match refresh(state, app, cookie, cached.as_deref(), now).await {
            Ok(Some(entry)) => {
                let entry = Arc::new(entry);
                self.put(app.index, cookie, entry.clone(), now);
                Ok(verdict(app, &entry))
            }
            Ok(None) => {
                if cached.is_some() {
                    self.remove(app.index, cookie);
                }
                Ok(Verdict::Unauthenticated)
            }
            Err(e) => {
                if let Some(c) = &cached {
                    c.refreshing.store(false, Ordering::Release);
                }
                Err(e)
            }
        }
    }
}

fn verdict(app: &App, e: &Entry) -> Verdict {
    match &e.answer {
        Some(a) if e.level >= app.min_level => Verdict::Allowed(a.clone()),
        _ => Verdict::Level,
    }
}

/// Confirms the session against the store and signs a new assertion when the old one nears its
/// end (or the session changed level). `None`: the session is gone.
async fn refresh(
    state: &AppState,
    app: &App,
    cookie: &str,
    old: Option<&Entry>,
    now: i64,
) -> Result<Option<Entry>, ServiceError> {
    let known_sid = old.map(|e| e.sid.as_str());
    let Some(session) = session::live(state, &app.id, cookie, known_sid).await? else {
        return Ok(None);
    };
    let answer = if session.level < app.min_level {
        None
    } else {
        match old.and_then(|e| e.answer.clone().filter(|_| e.level == session.level)) {
            Some(a) if a.exp - now >= RESIGN_BELOW => Some(a),
            _ => Some(Arc::new(assertion::answer(state, app, &session, now)?)),
        }
    };
    Ok(Some(Entry {
        answer,
        level: session.level,
        sid: session.sid,
        checked: now,
        refreshing: AtomicBool::new(false),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_cookie_shaped_values_are_looked_up() {
        assert!(super::plausible(&"a".repeat(43)));
        assert!(!super::plausible(&"a".repeat(44)));
        assert!(!super::plausible(&format!("{}=", "a".repeat(42))));
        assert!(!super::plausible(""));
    }
}
