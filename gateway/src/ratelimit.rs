//! Rate limits per client address (`[limits]`), in fixed windows counted in the ephemeral store
//! so that every replica shares them (Redis `INCR` is atomic). With the in-memory store the
//! counters live in a store of their own, so that a flood of counters can never crowd out logins
//! and a store full of logins never stops the counting.
//!
//! A limit answers 429 with `Retry-After` (seconds until the window ends): an OAuth JSON body
//! on OAuth endpoints, a Vietnamese page on pages. Failed client authentications are counted per
//! client id *and* address, so a stranger guessing secrets locks out only themselves.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use vneid_core::Clock;
use vneid_store::{Ephemeral, MemoryEphemeral, StoreError};

use crate::config::de_duration;

/// `requests` per `per`; `requests = 0` switches the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub requests: u64,
    #[serde(deserialize_with = "de_duration")]
    pub per: Duration,
}

impl Rate {
    const fn per_minute(requests: u64) -> Self {
        Self {
            requests,
            per: Duration::from_secs(60),
        }
    }
}

/// `[limits]`: generous defaults, since many citizens share one carrier NAT address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// `/authorize` and every entry point that starts a login (`/demo/login`, `/admin/login`).
    pub authorize: Rate,
    /// `/token`, `/introspect`, `/revoke`.
    pub token: Rate,
    /// `/userinfo`.
    pub userinfo: Rate,
    /// Failed client authentications per client id and address.
    pub client_auth_failures: Rate,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            authorize: Rate::per_minute(300),
            token: Rate::per_minute(1200),
            userinfo: Rate::per_minute(2400),
            client_auth_failures: Rate {
                requests: 10,
                per: Duration::from_secs(15 * 60),
            },
        }
    }
}

impl LimitSettings {
    /// The key and message of the first limit that cannot work.
    pub fn check(&self) -> Result<(), (String, &'static str)> {
        for limit in Limit::ALL {
            let rate = self.rate(limit);
            if rate.requests > 0 && rate.per < Duration::from_secs(1) {
                return Err((
                    format!("limits.{}.per", limit.name()),
                    "must be at least 1s",
                ));
            }
        }
        Ok(())
    }

    fn rate(&self, limit: Limit) -> Rate {
        match limit {
            Limit::Authorize => self.authorize,
            Limit::Token => self.token,
            Limit::Userinfo => self.userinfo,
            Limit::ClientAuthFailures => self.client_auth_failures,
        }
    }
}

/// Which limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Authorize,
    Token,
    Userinfo,
    ClientAuthFailures,
}

impl Limit {
    pub const ALL: [Limit; 4] = [
        Limit::Authorize,
        Limit::Token,
        Limit::Userinfo,
        Limit::ClientAuthFailures,
    ];

    /// The key under `[limits]`, and the `limit` label of `vneid_rate_limited_total`.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Authorize => "authorize",
            Limit::Token => "token",
            Limit::Userinfo => "userinfo",
            Limit::ClientAuthFailures => "client_auth_failures",
        }
    }
}

/// Over the limit: retry after this many seconds (the end of the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: u64,
}

/// Ephemeral namespace of the counters.
const NS_RATE: &str = "rate";
/// The counters' own in-memory store (embedded default): distinct (limit, address, window)
/// counters it holds at most. Past that (a flood from more addresses than this within one
/// window) counting stops and requests pass: the bounded login store still protects memory.
const LOCAL_COUNTERS: usize = 200_000;

pub struct RateLimiter {
    counters: Arc<dyn Ephemeral>,
    settings: LimitSettings,
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    /// Counters in `shared` (Redis: every replica counts together), or in a store of their own
    /// when `shared` is the in-memory store of this one process.
    pub fn new(
        shared: Arc<dyn Ephemeral>,
        shared_is_memory: bool,
        settings: LimitSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let counters: Arc<dyn Ephemeral> = if shared_is_memory {
            Arc::new(MemoryEphemeral::with_limits(
                clock.clone(),
                LOCAL_COUNTERS,
                16,
            ))
        } else {
            shared
        };
        Self {
            counters,
            settings,
            clock,
        }
    }

    /// The current window of `rate`: its counter key suffix and the seconds until it ends.
    fn window(&self, rate: Rate) -> (u64, u64) {
        let now = u64::try_from(self.clock.now().timestamp()).unwrap_or(0);
        let per = rate.per.as_secs().max(1);
        let index = now / per;
        (index, (index + 1) * per - now)
    }

    fn key(limit: Limit, who: &str, index: u64) -> String {
        format!("{}:{who}:{index}", limit.name())
    }

    /// Counts one request of `who` against `limit`; `Err(Limited)` once past it.
    pub async fn hit(&self, limit: Limit, who: &str) -> Result<Result<(), Limited>, StoreError> {
        let rate = self.settings.rate(limit);
        if rate.requests == 0 {
            return Ok(Ok(()));
        }
        let (index, left) = self.window(rate);
        let count = match self
            .counters
            .incr(
                NS_RATE,
                &Self::key(limit, who, index),
                Duration::from_secs(left),
            )
            .await
        {
            Ok(n) => n,
            Err(e) if e.is_full() => {
                tracing::warn!(
                    limit = limit.name(),
                    "rate-limit counters are full; not counting"
                );
                return Ok(Ok(()));
            }
            Err(e) => return Err(e),
        };
        Ok(if count > rate.requests {
            Err(Limited { retry_after: left })
        } else {
            Ok(())
        })
    }

    /// Whether `who` is already past `limit`, without counting anything.
    pub async fn exceeded(
        &self,
        limit: Limit,
        who: &str,
    ) -> Result<Result<(), Limited>, StoreError> {
        let rate = self.settings.rate(limit);
        if rate.requests == 0 {
            return Ok(Ok(()));
        }
        let (index, left) = self.window(rate);
        let count = self
            .counters
            .get(NS_RATE, &Self::key(limit, who, index))
            .await?
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        Ok(if count >= rate.requests {
            Err(Limited { retry_after: left })
        } else {
            Ok(())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use vneid_core::FixedClock;

    fn limiter(clock: Arc<FixedClock>, settings: LimitSettings) -> RateLimiter {
        let shared: Arc<dyn Ephemeral> = Arc::new(MemoryEphemeral::new(clock.clone()));
        RateLimiter::new(shared, true, settings, clock)
    }

    #[actix_web::test]
    async fn requests_past_the_rate_wait_for_the_end_of_the_window() {
        let clock = Arc::new(FixedClock::new(
            Utc.timestamp_opt(1_800_000_010, 0).unwrap(),
        ));
        let settings = LimitSettings {
            authorize: Rate::per_minute(3),
            ..LimitSettings::default()
        };
        let l = limiter(clock.clone(), settings);
        for _ in 0..3 {
            assert_eq!(
                l.hit(Limit::Authorize, "198.51.100.7").await.unwrap(),
                Ok(())
            );
        }
        // 1_800_000_010 is 10 s into a minute: 50 s left.
        assert_eq!(
            l.hit(Limit::Authorize, "198.51.100.7").await.unwrap(),
            Err(Limited { retry_after: 50 })
        );
        // Another address has its own count.
        assert_eq!(
            l.hit(Limit::Authorize, "198.51.100.8").await.unwrap(),
            Ok(())
        );
        clock.advance(chrono::Duration::seconds(50));
        assert_eq!(
            l.hit(Limit::Authorize, "198.51.100.7").await.unwrap(),
            Ok(())
        );
    }

    #[actix_web::test]
    async fn exceeded_reads_without_counting_and_zero_switches_a_limit_off() {
        let clock = Arc::new(FixedClock::new(
            Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
        ));
        let settings = LimitSettings {
            token: Rate::per_minute(0),
            client_auth_failures: Rate {
                requests: 2,
                per: Duration::from_secs(900),
            },
            ..LimitSettings::default()
        };
        let l = limiter(clock, settings);
        let who = "portal:198.51.100.7";
        assert_eq!(
            l.exceeded(Limit::ClientAuthFailures, who).await.unwrap(),
            Ok(())
        );
        l.hit(Limit::ClientAuthFailures, who)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            l.exceeded(Limit::ClientAuthFailures, who).await.unwrap(),
            Ok(())
        );
        let _ = l.hit(Limit::ClientAuthFailures, who).await.unwrap();
        assert!(l
            .exceeded(Limit::ClientAuthFailures, who)
            .await
            .unwrap()
            .is_err());
        for _ in 0..10_000 {
            assert_eq!(l.hit(Limit::Token, "x").await.unwrap(), Ok(()));
        }
    }
}
