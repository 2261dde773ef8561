//! A Redis at its `maxmemory`, on private `redis-server` children with `--maxmemory 2mb`.
//!
//! Under `noeviction` Redis refuses writes with `OOM`: the store reports
//! [`StoreError::Full`] (`is_full`, not `is_unavailable`) and goes on serving reads, takes and
//! deletes. Under an eviction policy Redis refuses nothing and drops live values instead, which
//! is why the gateway's Redis must run with `noeviction`: the second test pins that down.

use std::time::Duration;

use vneid_store::{Ephemeral, StoreError};

use crate::redis_support::{open, random_prefix, raw, OwnRedis};

const MIN: Duration = Duration::from_secs(60);
/// 8 KB per value: a 2 MB Redis (about 1 MB of it free at start) is full within a few hundred.
const VALUE_LEN: usize = 8 * 1024;
/// Far more writes than 2 MB can hold; a store still taking writes after these never fills.
const MAX_WRITES: usize = 5_000;

/// Puts 8 KB values under `("big", "0")`, `("big", "1")`, … until a write fails; the number
/// written and the error. Panics if none fails within [`MAX_WRITES`].
async fn fill(s: &dyn Ephemeral) -> (usize, StoreError) {
    let value = "x".repeat(VALUE_LEN);
    for i in 0..MAX_WRITES {
        if let Err(e) = s.put("big", &i.to_string(), &value, MIN).await {
            return (i, e);
        }
    }
    panic!("{MAX_WRITES} writes of {VALUE_LEN} bytes and the store is still not full");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_at_maxmemory_refuses_writes_as_full_and_still_serves_reads() {
    let Some(server) =
        OwnRedis::start(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"]).await
    else {
        return;
    };
    let s = open(&server.url(), &random_prefix(), Duration::from_secs(2)).await;
    s.put("code", "c", "grant", MIN).await.unwrap();
    s.put("code", "d", "grant-d", MIN).await.unwrap();

    let (written, err) = fill(s.as_ref()).await;
    assert!(written > 0, "the first write already failed: {err:?}");
    assert!(err.is_full(), "{err:?}");
    assert!(!err.is_unavailable(), "{err:?}");
    assert!(matches!(err, StoreError::Full { limit: 0 }), "{err:?}");
    assert!(err.to_string().contains("maxmemory"), "{err}");

    // Right after a refused write Redis may sit a few bytes under its limit again (the
    // refused command's buffer is freed) and take a small write. Lowering the limit under what
    // is used puts it firmly over, as after an operator shrank `maxmemory`: then every kind of
    // write is refused the same way, the INCR script's included.
    let mut admin = raw(&server.url()).await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("1500kb")
        .query_async(&mut admin)
        .await
        .unwrap();
    let e = s.put("code", "new", "v", MIN).await.unwrap_err();
    assert!(e.is_full(), "{e:?}");
    let e = s.put_if_absent("jti", "j", "1", MIN).await.unwrap_err();
    assert!(e.is_full(), "{e:?}");
    let e = s.incr("rl", "ip", MIN).await.unwrap_err();
    assert!(e.is_full(), "{e:?}");

    // Reads, takes, deletes and pings are still served.
    s.ping().await.unwrap();
    assert_eq!(s.get("code", "c").await.unwrap().as_deref(), Some("grant"));
    assert_eq!(
        s.get_many(&[("code", "c"), ("code", "none"), ("big", "0")])
            .await
            .unwrap()
            .iter()
            .map(Option::is_some)
            .collect::<Vec<_>>(),
        [true, false, true]
    );
    assert_eq!(
        s.take("code", "d").await.unwrap().as_deref(),
        Some("grant-d")
    );
    assert_eq!(s.take("code", "d").await.unwrap(), None);

    // Taking values out frees memory: writes succeed again.
    for i in 0..written {
        s.delete("big", &i.to_string()).await.unwrap();
    }
    s.put("code", "new", "v", MIN).await.unwrap();
    assert_eq!(s.incr("rl", "ip", MIN).await.unwrap(), 1);
    assert_eq!(s.take("code", "new").await.unwrap().as_deref(), Some("v"));
}

/// What the store is protected from by `noeviction`: with a `volatile-*` policy every value
/// of the store is a candidate (each has a TTL), so writes never fail and live values that
/// were never taken nor expired vanish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_volatile_lru_redis_drops_live_values_instead_of_refusing_writes() {
    let Some(server) =
        OwnRedis::start(&["--maxmemory", "2mb", "--maxmemory-policy", "volatile-lru"]).await
    else {
        return;
    };
    let s = open(&server.url(), &random_prefix(), Duration::from_secs(2)).await;
    let value = "x".repeat(VALUE_LEN);
    // Three times what fits: every write succeeds.
    let writes = 600;
    for i in 0..writes {
        s.put("big", &i.to_string(), &value, MIN).await.unwrap();
    }
    let keys: Vec<String> = (0..writes).map(|i| i.to_string()).collect();
    let pairs: Vec<(&str, &str)> = keys.iter().map(|k| ("big", k.as_str())).collect();
    let present = s
        .get_many(&pairs)
        .await
        .unwrap()
        .iter()
        .filter(|v| v.is_some())
        .count();
    assert!(
        present < writes / 2,
        "{present} of {writes} values left: Redis was expected to evict live values"
    );
}
