use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;
use vneid_core::{Clock, FixedClock};
use vneid_store::{
    connect_ephemeral, connect_ephemeral_with, Ephemeral, EphemeralOptions, MemoryEphemeral,
    StoreError,
};

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        DateTime::from_timestamp(1_750_000_000, 0).unwrap(),
    ))
}

fn store(clock: &Arc<FixedClock>) -> MemoryEphemeral {
    MemoryEphemeral::new(clock.clone() as Arc<dyn Clock>)
}

const MIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn values_vanish_the_moment_the_clock_passes_their_ttl() {
    let clock = clock();
    let s = store(&clock);
    s.put("code", "c1", "v1", MIN).await.unwrap();
    clock.advance(chrono::Duration::seconds(59));
    assert_eq!(s.get("code", "c1").await.unwrap().as_deref(), Some("v1"));
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(s.get("code", "c1").await.unwrap(), None);
    assert_eq!(s.take("code", "c1").await.unwrap(), None);
    assert!(s.is_empty(), "expired value purged when touched");
}

#[tokio::test]
async fn put_replaces_the_value_and_its_ttl() {
    let clock = clock();
    let s = store(&clock);
    s.put("session", "s", "old", Duration::from_secs(10))
        .await
        .unwrap();
    s.put("session", "s", "new", MIN).await.unwrap();
    clock.advance(chrono::Duration::seconds(30));
    assert_eq!(s.get("session", "s").await.unwrap().as_deref(), Some("new"));
    assert_eq!(s.len(), 1);
}

#[tokio::test]
async fn namespaces_keep_keys_apart() {
    let clock = clock();
    let s = store(&clock);
    s.put("ab", "c", "1", MIN).await.unwrap();
    s.put("a", "bc", "2", MIN).await.unwrap();
    assert_eq!(s.get("ab", "c").await.unwrap().as_deref(), Some("1"));
    assert_eq!(s.get("a", "bc").await.unwrap().as_deref(), Some("2"));
    assert_eq!(s.get("state", "c").await.unwrap(), None);
}

#[tokio::test]
async fn take_returns_the_value_once_and_delete_removes_it() {
    let clock = clock();
    let s = store(&clock);
    s.put("code", "c", "v", MIN).await.unwrap();
    assert_eq!(s.take("code", "c").await.unwrap().as_deref(), Some("v"));
    assert_eq!(s.take("code", "c").await.unwrap(), None);
    s.put("code", "d", "v", MIN).await.unwrap();
    s.delete("code", "d").await.unwrap();
    s.delete("code", "d").await.unwrap();
    assert_eq!(s.get("code", "d").await.unwrap(), None);
    assert!(s.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn take_is_single_use_under_fifty_concurrent_tasks() {
    let clock = clock();
    for round in 0..20 {
        let s = Arc::new(store(&clock));
        s.put("code", "the-code", "grant", MIN).await.unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(50));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let s = s.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    s.take("code", "the-code").await
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            if task.await.unwrap().unwrap().is_some() {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

#[tokio::test]
async fn put_if_absent_refuses_a_live_key_and_accepts_an_expired_one() {
    let clock = clock();
    let s = store(&clock);
    assert!(s.put_if_absent("jti", "j1", "1", MIN).await.unwrap());
    assert!(!s.put_if_absent("jti", "j1", "2", MIN).await.unwrap());
    assert_eq!(s.get("jti", "j1").await.unwrap().as_deref(), Some("1"));
    clock.advance(chrono::Duration::seconds(60));
    assert!(s.put_if_absent("jti", "j1", "3", MIN).await.unwrap());
    assert_eq!(s.get("jti", "j1").await.unwrap().as_deref(), Some("3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn put_if_absent_admits_exactly_one_of_fifty_concurrent_writers() {
    let s = Arc::new(store(&clock()));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.put_if_absent("jti", "j", &i.to_string(), MIN).await })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            stored += 1;
        }
    }
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn incr_counts_within_the_window_set_by_the_first_increment() {
    let clock = clock();
    let s = store(&clock);
    assert_eq!(s.incr("rl", "ip", MIN).await.unwrap(), 1);
    clock.advance(chrono::Duration::seconds(30));
    assert_eq!(s.incr("rl", "ip", MIN).await.unwrap(), 2);
    clock.advance(chrono::Duration::seconds(29));
    // Later increments do not push the window out.
    assert_eq!(s.incr("rl", "ip", MIN).await.unwrap(), 3);
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(s.incr("rl", "ip", MIN).await.unwrap(), 1);
    assert_eq!(s.get("rl", "ip").await.unwrap().as_deref(), Some("1"));
}

#[tokio::test]
async fn incr_on_a_value_that_is_not_a_counter_is_refused() {
    let s = store(&clock());
    s.put("rl", "k", "not a number", MIN).await.unwrap();
    let err = s.incr("rl", "k", MIN).await.expect_err("not a counter");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[tokio::test]
async fn the_store_refuses_new_keys_beyond_its_bound_until_entries_expire() {
    let clock = clock();
    let s = MemoryEphemeral::with_limits(clock.clone() as Arc<dyn Clock>, 100, 4);
    for i in 0..100 {
        s.put("k", &i.to_string(), "v", MIN).await.unwrap();
    }
    let err = s.put("k", "one-more", "v", MIN).await.expect_err("full");
    assert!(matches!(err, StoreError::Full { limit: 100 }), "{err:?}");
    assert!(!err.is_unavailable());
    assert!(s.put_if_absent("k", "one-more", "v", MIN).await.is_err());
    assert!(s.incr("k", "one-more", MIN).await.is_err());
    // Existing keys can still be replaced, and freeing one makes room for one.
    s.put("k", "7", "v2", MIN).await.unwrap();
    assert_eq!(s.take("k", "7").await.unwrap().as_deref(), Some("v2"));
    s.put("k", "one-more", "v", MIN).await.unwrap();
    assert_eq!(s.len(), 100);
    // Once everything has expired the store takes new keys again.
    clock.advance(chrono::Duration::seconds(61));
    s.put("k", "after", "v", MIN).await.unwrap();
    s.sweep();
    assert_eq!(s.len(), 1);
}

#[tokio::test]
async fn expired_entries_are_swept_so_memory_does_not_grow_with_writes() {
    let clock = clock();
    let s = MemoryEphemeral::with_limits(clock.clone() as Arc<dyn Clock>, 1_000_000, 4);
    for i in 0..100_000 {
        s.put("state", &i.to_string(), "v", Duration::from_secs(1))
            .await
            .unwrap();
        if i % 1000 == 999 {
            clock.advance(chrono::Duration::seconds(2));
        }
    }
    // At most the last window's 1,000 writes are live at any sweep; each of the 4 shards holds
    // what its last sweep left plus at most max(1,024, that) writes since, so a few thousand
    // entries at most, far below the 100,000 written.
    assert!(s.len() <= 4 * (1024 + 1000), "len {}", s.len());
    s.sweep();
    assert_eq!(s.len(), 0);
}

#[tokio::test]
async fn connect_ephemeral_opens_memory_and_refuses_what_it_cannot_open() {
    let e = connect_ephemeral("memory://", clock() as Arc<dyn Clock>)
        .await
        .unwrap();
    assert_eq!(e.backend(), "memory");
    e.ping().await.unwrap();
    e.put("ns", "k", "v", MIN).await.unwrap();
    assert_eq!(e.take("ns", "k").await.unwrap().as_deref(), Some("v"));

    let err = connect_ephemeral("memory://somewhere", clock() as Arc<dyn Clock>)
        .await
        .err()
        .expect("memory takes no host");
    assert!(matches!(err, StoreError::Config(_)), "{err:?}");

    // Redis is opened for real (tests/store/redis.rs); nothing listens on port 1 of the loopback.
    let err = connect_ephemeral("redis://:s3cret@127.0.0.1:1/0", clock() as Arc<dyn Clock>)
        .await
        .err()
        .expect("nothing listens there");
    assert!(err.is_unavailable(), "{err:?}");
    assert!(!format!("{err} {:?}", std::error::Error::source(&err)).contains("s3cret"));
    let err = connect_ephemeral("rediss://:s3cret@127.0.0.1:1/0", clock() as Arc<dyn Clock>)
        .await
        .err()
        .expect("nothing listens there, over TLS either");
    assert!(err.is_unavailable(), "{err:?}");
    assert!(!format!("{err} {:?}", std::error::Error::source(&err)).contains("s3cret"));
    let err = connect_ephemeral("memcached://x", clock() as Arc<dyn Clock>)
        .await
        .err()
        .expect("unknown");
    assert!(matches!(err, StoreError::Unsupported(_)), "{err:?}");
}

#[tokio::test]
async fn a_tiny_ttl_still_lives_one_millisecond() {
    let clock = clock();
    let s = store(&clock);
    s.put("k", "k", "v", Duration::from_nanos(1)).await.unwrap();
    assert_eq!(s.get("k", "k").await.unwrap().as_deref(), Some("v"));
    clock.advance(chrono::Duration::milliseconds(1));
    assert_eq!(s.get("k", "k").await.unwrap(), None);
}

#[tokio::test]
async fn get_many_answers_in_order_and_purges_what_expired() {
    let clock = clock();
    let s = store(&clock);
    s.put("jti", "short", "1", Duration::from_secs(10))
        .await
        .unwrap();
    s.put("jti", "long", "2", MIN).await.unwrap();
    assert_eq!(
        s.get_many(&[("jti", "long"), ("jti", "none"), ("jti", "short")])
            .await
            .unwrap(),
        [Some("2".to_owned()), None, Some("1".to_owned())]
    );
    assert!(s.get_many(&[]).await.unwrap().is_empty());
    clock.advance(chrono::Duration::seconds(10));
    assert_eq!(
        s.get_many(&[("jti", "short"), ("jti", "long"), ("jti", "short")])
            .await
            .unwrap(),
        [None, Some("2".to_owned()), None]
    );
    assert_eq!(
        s.entries(),
        Some(1),
        "the expired entry was purged when read"
    );
}

#[tokio::test]
async fn max_entries_from_the_options_bounds_the_memory_store_until_purge_frees_room() {
    let clock = clock();
    let opts = EphemeralOptions {
        max_entries: 100,
        ..EphemeralOptions::default()
    };
    let s = connect_ephemeral_with(&opts, clock.clone() as Arc<dyn Clock>)
        .await
        .unwrap();
    for i in 0..100 {
        s.put("k", &i.to_string(), "v", MIN).await.unwrap();
    }
    assert_eq!(s.entries(), Some(100));
    let err = s.put("k", "101st", "v", MIN).await.expect_err("full");
    assert!(err.is_full(), "{err:?}");
    assert!(!err.is_unavailable());
    assert!(matches!(err, StoreError::Full { limit: 100 }), "{err:?}");
    assert!(s
        .put_if_absent("k", "101st", "v", MIN)
        .await
        .unwrap_err()
        .is_full());
    assert!(s.incr("k", "101st", MIN).await.unwrap_err().is_full());
    // Full, yet every value is still read.
    assert_eq!(s.get("k", "42").await.unwrap().as_deref(), Some("v"));

    clock.advance(chrono::Duration::seconds(60));
    assert_eq!(s.entries(), Some(100), "expired but not purged yet");
    s.purge_expired().await;
    assert_eq!(s.entries(), Some(0));
    s.put("k", "101st", "v", MIN).await.unwrap();
    assert_eq!(s.entries(), Some(1));
}

#[tokio::test]
async fn purge_expired_gives_the_memory_of_a_burst_back() {
    let clock = clock();
    let s = MemoryEphemeral::with_limits(clock.clone() as Arc<dyn Clock>, 1_000_000, 4);
    for i in 0..50_000 {
        s.put("state", &i.to_string(), "v", MIN).await.unwrap();
    }
    let grown = s.capacity();
    assert!(grown >= 50_000, "capacity {grown}");
    // Purging live entries frees nothing and keeps the room they use.
    s.purge_expired().await;
    assert_eq!(s.entries(), Some(50_000));
    assert_eq!(s.capacity(), grown);

    clock.advance(chrono::Duration::seconds(60));
    s.purge_expired().await;
    assert_eq!(s.entries(), Some(0));
    assert!(s.is_empty());
    assert!(
        s.capacity() < grown / 10,
        "capacity {} of {grown}",
        s.capacity()
    );

    // A store at its usual size keeps its room from one purge to the next: no reallocation
    // on every purge.
    for i in 0..3_000 {
        s.put("state", &i.to_string(), "v", MIN).await.unwrap();
    }
    s.purge_expired().await;
    let settled = s.capacity();
    s.purge_expired().await;
    assert_eq!(s.capacity(), settled);
    assert_eq!(s.entries(), Some(3_000));
}

#[tokio::test]
async fn a_bound_of_zero_entries_is_refused_as_configuration() {
    for url in ["memory://", "redis://127.0.0.1:1"] {
        let opts = EphemeralOptions {
            max_entries: 0,
            ..EphemeralOptions::new(url)
        };
        let err = connect_ephemeral_with(&opts, clock() as Arc<dyn Clock>)
            .await
            .err()
            .expect("max_entries 0");
        assert!(
            matches!(&err, StoreError::Config(m) if m == "ephemeral.max_entries must be at least 1"),
            "{url}: {err:?}"
        );
    }
    assert_eq!(EphemeralOptions::default().max_entries, 200_000);
    assert_eq!(vneid_store::DEFAULT_MAX_ENTRIES, 200_000);
}
