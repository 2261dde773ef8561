//! The Redis ephemeral store against real Redis servers.
//!
//! - The shared Redis at `VNEID_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`): every test
//!   uses a random key prefix and TTLs of at most a minute, and never touches another key.
//! - Redis servers of the tests' own (`redis-server` children on free ports, killed when the
//!   test ends): outages (pause, SIGSTOP, kill and restart), the Unix socket, a 3-node cluster.
//!
//! Without a usable Redis these tests fail, unless `VNEID_TEST_SKIP_REDIS=1`.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use vneid_store::{
    connect_ephemeral_with, Ephemeral, EphemeralOptions, MemoryEphemeral, RedisEphemeral,
    StoreError,
};

use crate::redis_support::{
    chain, clock, no_hang, open, own_cluster, random_prefix, raw, shared, shared_url, skip,
    until_gone, OwnRedis,
};

const MIN: Duration = Duration::from_secs(60);
/// Short TTLs, in real time: long enough that a value is certainly still there on the very
/// next command of a loaded machine; expiry is then awaited, never assumed after a fixed sleep.
const SHORT: Duration = Duration::from_secs(2);

/// The behaviour every ephemeral store shares, in real time: run on the shared Redis (one test
/// per rule below), on a Redis Cluster and on the memory store with the system clock.
mod behaviour {
    use super::*;

    pub async fn values_expire_after_their_ttl(s: &dyn Ephemeral) {
        s.put("code", "c1", "v1", SHORT).await.unwrap();
        assert_eq!(s.get("code", "c1").await.unwrap().as_deref(), Some("v1"));
        until_gone(s, "code", "c1").await;
        assert_eq!(s.take("code", "c1").await.unwrap(), None);
    }

    pub async fn put_replaces_the_value_and_its_ttl(s: &dyn Ephemeral) {
        s.put("session", "s", "old", SHORT).await.unwrap();
        s.put("session", "s", "new", MIN).await.unwrap();
        tokio::time::sleep(SHORT + Duration::from_millis(100)).await;
        assert_eq!(s.get("session", "s").await.unwrap().as_deref(), Some("new"));
        s.delete("session", "s").await.unwrap();
    }

    pub async fn namespaces_keep_keys_apart(s: &dyn Ephemeral) {
        let pairs = [
            ("ab", "c"),
            ("a", "bc"),
            ("a:b", "c"),
            ("a", "b:c"),
            ("a%3Ab", "c"),
            ("", "a:b:c"),
        ];
        for (i, (ns, key)) in pairs.iter().enumerate() {
            s.put(ns, key, &i.to_string(), MIN).await.unwrap();
        }
        for (i, (ns, key)) in pairs.iter().enumerate() {
            assert_eq!(
                s.take(ns, key).await.unwrap().as_deref(),
                Some(i.to_string().as_str()),
                "({ns:?}, {key:?})"
            );
        }
        assert_eq!(s.get("state", "c").await.unwrap(), None);
    }

    pub async fn take_returns_the_value_once_and_delete_removes_it(s: &dyn Ephemeral) {
        s.put("code", "c", "v", MIN).await.unwrap();
        assert_eq!(s.take("code", "c").await.unwrap().as_deref(), Some("v"));
        assert_eq!(s.take("code", "c").await.unwrap(), None);
        s.put("code", "d", "v", MIN).await.unwrap();
        s.delete("code", "d").await.unwrap();
        s.delete("code", "d").await.unwrap();
        assert_eq!(s.get("code", "d").await.unwrap(), None);
    }

    pub async fn take_is_single_use_under_fifty_concurrent_tasks(s: Arc<dyn Ephemeral>) {
        for round in 0..20 {
            let key = format!("the-code-{round}");
            s.put("code", &key, "grant", MIN).await.unwrap();
            let barrier = Arc::new(tokio::sync::Barrier::new(50));
            let tasks: Vec<_> = (0..50)
                .map(|_| {
                    let s = s.clone();
                    let barrier = barrier.clone();
                    let key = key.clone();
                    tokio::spawn(async move {
                        barrier.wait().await;
                        s.take("code", &key).await
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

    pub async fn put_if_absent_refuses_a_live_key_and_accepts_an_expired_one(s: &dyn Ephemeral) {
        assert!(s.put_if_absent("jti", "j1", "1", SHORT).await.unwrap());
        assert!(!s.put_if_absent("jti", "j1", "2", MIN).await.unwrap());
        assert_eq!(s.get("jti", "j1").await.unwrap().as_deref(), Some("1"));
        until_gone(s, "jti", "j1").await;
        assert!(s.put_if_absent("jti", "j1", "3", MIN).await.unwrap());
        assert_eq!(s.take("jti", "j1").await.unwrap().as_deref(), Some("3"));
    }

    pub async fn put_if_absent_admits_exactly_one_of_fifty_concurrent_writers(
        s: Arc<dyn Ephemeral>,
    ) {
        let barrier = Arc::new(tokio::sync::Barrier::new(50));
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let s = s.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    s.put_if_absent("jti", "j", &i.to_string(), MIN).await
                })
            })
            .collect();
        let mut stored = 0;
        for task in tasks {
            if task.await.unwrap().unwrap() {
                stored += 1;
            }
        }
        assert_eq!(stored, 1);
        s.delete("jti", "j").await.unwrap();
    }

    /// That the window starts at the first increment and is not moved by later ones is shown
    /// with PTTL on Redis (`incr_sets_the_expiry_once_in_the_same_step`) and with a fixed clock
    /// on the memory store; here, in real time, only that counting restarts after the window.
    pub async fn incr_counts_within_the_window_set_by_the_first_increment(s: &dyn Ephemeral) {
        assert_eq!(s.incr("rl", "ip", SHORT).await.unwrap(), 1);
        assert_eq!(s.incr("rl", "ip", SHORT).await.unwrap(), 2);
        assert_eq!(s.incr("rl", "ip", SHORT).await.unwrap(), 3);
        assert_eq!(s.get("rl", "ip").await.unwrap().as_deref(), Some("3"));
        until_gone(s, "rl", "ip").await;
        assert_eq!(s.incr("rl", "ip", SHORT).await.unwrap(), 1);
        assert_eq!(s.get("rl", "ip").await.unwrap().as_deref(), Some("1"));
        s.delete("rl", "ip").await.unwrap();
    }

    pub async fn incr_on_a_value_that_is_not_a_counter_is_refused(s: &dyn Ephemeral) {
        s.put("rl", "k", "not a number", MIN).await.unwrap();
        let err = s.incr("rl", "k", MIN).await.expect_err("not a counter");
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        assert!(!err.is_unavailable());
        assert_eq!(
            s.take("rl", "k").await.unwrap().as_deref(),
            Some("not a number")
        );
    }

    pub async fn extreme_ttls_are_accepted(s: &dyn Ephemeral) {
        s.put("k", "tiny", "v", Duration::from_nanos(1))
            .await
            .unwrap();
        assert!(s
            .put_if_absent("k", "tiny2", "v", Duration::ZERO)
            .await
            .unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(s.get("k", "tiny").await.unwrap(), None);
        assert_eq!(s.get("k", "tiny2").await.unwrap(), None);
        s.put("k", "forever", "v", Duration::MAX).await.unwrap();
        assert_eq!(s.incr("k", "n", Duration::MAX).await.unwrap(), 1);
        assert_eq!(s.take("k", "forever").await.unwrap().as_deref(), Some("v"));
        s.delete("k", "n").await.unwrap();
    }

    pub async fn values_round_trip_unchanged(s: &dyn Ephemeral) {
        let big = "x".repeat(256 * 1024);
        for value in [
            "",
            "Nguyễn Văn An — 052*******81",
            "{\"a\":[1,2]}",
            big.as_str(),
        ] {
            s.put("v", "k", value, MIN).await.unwrap();
            assert_eq!(s.take("v", "k").await.unwrap().as_deref(), Some(value));
        }
    }

    /// Every rule above, one after the other.
    pub async fn all(s: Arc<dyn Ephemeral>) {
        values_expire_after_their_ttl(s.as_ref()).await;
        put_replaces_the_value_and_its_ttl(s.as_ref()).await;
        namespaces_keep_keys_apart(s.as_ref()).await;
        take_returns_the_value_once_and_delete_removes_it(s.as_ref()).await;
        take_is_single_use_under_fifty_concurrent_tasks(s.clone()).await;
        put_if_absent_refuses_a_live_key_and_accepts_an_expired_one(s.as_ref()).await;
        put_if_absent_admits_exactly_one_of_fifty_concurrent_writers(s.clone()).await;
        incr_counts_within_the_window_set_by_the_first_increment(s.as_ref()).await;
        incr_on_a_value_that_is_not_a_counter_is_refused(s.as_ref()).await;
        extreme_ttls_are_accepted(s.as_ref()).await;
        values_round_trip_unchanged(s.as_ref()).await;
    }
}

/// One test per behaviour rule, on the shared Redis.
macro_rules! on_shared_redis {
    ($($rule:ident: $arg:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $rule() {
            let Some(s) = shared().await else { return };
            on_shared_redis!(@call $rule, s, $arg);
        }
    )*};
    (@call $rule:ident, $s:ident, arc) => { behaviour::$rule($s).await };
    (@call $rule:ident, $s:ident, dyn) => { behaviour::$rule($s.as_ref()).await };
}

mod shared_redis {
    use super::*;

    on_shared_redis! {
        values_expire_after_their_ttl: dyn,
        put_replaces_the_value_and_its_ttl: dyn,
        namespaces_keep_keys_apart: dyn,
        take_returns_the_value_once_and_delete_removes_it: dyn,
        take_is_single_use_under_fifty_concurrent_tasks: arc,
        put_if_absent_refuses_a_live_key_and_accepts_an_expired_one: dyn,
        put_if_absent_admits_exactly_one_of_fifty_concurrent_writers: arc,
        incr_counts_within_the_window_set_by_the_first_increment: dyn,
        incr_on_a_value_that_is_not_a_counter_is_refused: dyn,
        extreme_ttls_are_accepted: dyn,
        values_round_trip_unchanged: dyn,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_passes_the_same_behaviour_in_real_time() {
    behaviour::all(Arc::new(MemoryEphemeral::new(clock()))).await;
}

#[tokio::test]
async fn keys_are_prefix_ns_colon_key_with_the_ttl_in_milliseconds() {
    if skip() {
        return;
    }
    let prefix = random_prefix();
    let s = open(&shared_url(), &prefix, Duration::from_secs(2)).await;
    assert_eq!(s.backend(), "redis");
    s.ping().await.unwrap();
    s.put("code", "abc", "v", MIN).await.unwrap();
    s.put("odd:ns%", "k", "w", MIN).await.unwrap();
    // Only keys of this test's own prefix are looked at: the shared Redis is not ours.
    let mut r = raw(&shared_url()).await;
    let exists = |key: String| {
        let mut r = r.clone();
        async move {
            redis::cmd("EXISTS")
                .arg(key)
                .query_async::<i64>(&mut r)
                .await
                .unwrap()
        }
    };
    assert_eq!(exists(format!("{prefix}code:abc")).await, 1);
    assert_eq!(exists(format!("{prefix}odd%3Ans%25:k")).await, 1);
    assert_eq!(exists(format!("{prefix}odd:ns%:k")).await, 0);
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}code:abc"))
        .query_async(&mut r)
        .await
        .unwrap();
    assert!(pttl > 59_000 && pttl <= 60_000, "{pttl}");

    // Another prefix is another store, on the same Redis.
    let other = open(&shared_url(), &random_prefix(), Duration::from_secs(2)).await;
    assert_eq!(other.get("code", "abc").await.unwrap(), None);
    assert!(other.put_if_absent("code", "abc", "x", MIN).await.unwrap());
    assert_eq!(s.take("code", "abc").await.unwrap().as_deref(), Some("v"));
    assert_eq!(
        other.take("code", "abc").await.unwrap().as_deref(),
        Some("x")
    );
    s.delete("odd:ns%", "k").await.unwrap();
}

#[tokio::test]
async fn incr_sets_the_expiry_once_in_the_same_step() {
    if skip() {
        return;
    }
    let prefix = random_prefix();
    let s = open(&shared_url(), &prefix, Duration::from_secs(2)).await;
    let mut r = raw(&shared_url()).await;
    let key = format!("{prefix}rl:ip");
    let pttl = |r: &mut redis::aio::MultiplexedConnection| {
        let mut r = r.clone();
        let key = key.clone();
        async move {
            redis::cmd("PTTL")
                .arg(&key)
                .query_async::<i64>(&mut r)
                .await
                .unwrap()
        }
    };
    assert_eq!(s.incr("rl", "ip", MIN).await.unwrap(), 1);
    let first = pttl(&mut r).await;
    assert!(first > 59_000 && first <= 60_000, "{first}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.incr("rl", "ip", MIN).await.unwrap(), 2);
    let second = pttl(&mut r).await;
    assert!(
        second <= first - 150,
        "the window moved: {first} then {second}"
    );
    s.delete("rl", "ip").await.unwrap();
}

#[tokio::test]
async fn connection_errors_name_the_setting_and_address_but_never_the_password() {
    // Nothing listens on port 1 of the loopback: refused at once.
    let err = connect_ephemeral_with(
        &EphemeralOptions {
            url: "redis://:s3cret@127.0.0.1:1/0".into(),
            key_prefix: "p:".into(),
            timeout: Duration::from_millis(500),
            ..EphemeralOptions::default()
        },
        clock(),
    )
    .await
    .err()
    .expect("nothing listens there");
    assert!(err.is_unavailable(), "{err:?}");
    let text = chain(&err);
    assert!(
        text.contains("ephemeral.url") && text.contains("127.0.0.1:1"),
        "{text}"
    );
    assert!(!text.contains("s3cret") && !format!("{err:?}").contains("s3cret"));

    for (url, want_unsupported) in [
        ("rediss+unix:///run/redis.sock?pass=s3cret", true),
        ("redis+sentinel://:s3cret@s:26379/mymaster", true),
        ("rediss://:s3cret@cache:6380/#insecure", false),
        ("rediss+cluster://:s3cret@a:1,,b:2", false),
        ("redis://:s3cret@cache:notaport", false),
        ("redis+cluster://:s3cret@a:7000,,b:7001", false),
        ("redis+cluster://:s3cret@a:7000/3", false),
        ("redis://:s3cret@cache:6379/?protocol=resp9", false),
    ] {
        let err = connect_ephemeral_with(&EphemeralOptions::new(url), clock())
            .await
            .err()
            .unwrap_or_else(|| panic!("{url} opened"));
        let text = chain(&err);
        if want_unsupported {
            assert!(matches!(err, StoreError::Unsupported(_)), "{url}: {err:?}");
        } else {
            assert!(matches!(err, StoreError::Config(_)), "{url}: {err:?}");
        }
        assert!(text.contains("ephemeral.url"), "{url}: {text}");
        assert!(!text.contains("s3cret"), "{url}: {text}");
    }
    let err = connect_ephemeral_with(&EphemeralOptions::new("rediss+unix:///x.sock"), clock())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("TLS"), "{err}");

    let err = connect_ephemeral_with(
        &EphemeralOptions {
            timeout: Duration::ZERO,
            ..EphemeralOptions::new("redis://127.0.0.1:1")
        },
        clock(),
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(err, StoreError::Config(_)), "{err:?}");
    assert!(!format!("{:?}", EphemeralOptions::new("redis://:s3cret@h")).contains("s3cret"));
}

#[tokio::test]
async fn a_server_that_accepts_but_never_answers_fails_the_start_within_the_timeout() {
    // The kernel completes the handshake; nobody ever reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    // It never answers, so only the connect timeout can end the attempt.
    let timeout = Duration::from_millis(400);
    let err = no_hang(
        "connecting to a silent server",
        RedisEphemeral::connect(&EphemeralOptions {
            url: format!("redis://127.0.0.1:{port}"),
            key_prefix: "p:".into(),
            timeout,
            ..EphemeralOptions::default()
        }),
    )
    .await
    .expect_err("no answer");
    assert!(err.is_unavailable(), "{err:?}");
    drop(silent);
}

/// `op` fails with `Unavailable` instead of hanging. Called while the server cannot answer, so
/// the store's own timeout (or the refused connection) is what ended it.
async fn assert_unavailable<T: std::fmt::Debug>(
    what: &str,
    op: impl std::future::Future<Output = Result<T, StoreError>>,
) {
    match no_hang(what, op).await {
        Err(e) if e.is_unavailable() => {}
        other => panic!("{what}: expected Unavailable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_redis_gives_unavailable_within_the_timeout_then_serves_again() {
    let Some(server) = OwnRedis::start(&[]).await else {
        return;
    };
    let timeout = Duration::from_millis(400);
    let s = open(&server.url(), &random_prefix(), timeout).await;
    s.put("code", "c", "v", MIN).await.unwrap();

    let mut admin = raw(&server.url()).await;
    // Paused for far longer than the three commands below can take on a loaded machine (each
    // ends at the 400 ms timeout), so they can only end through the store's timeout. Redis 7.0
    // holds even CLIENT UNPAUSE until the pause ends, so the test waits that out.
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(10_000)
        .arg("ALL")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_unavailable("get while paused", s.get("code", "c")).await;
    assert_unavailable("put while paused", s.put("code", "d", "w", MIN)).await;
    assert_unavailable("ping while paused", s.ping()).await;

    // Until the pause ends every command is Unavailable; the first one after it is answered,
    // and the timed-out commands' late answers are not mistaken for it.
    no_hang("the end of the pause", async {
        loop {
            match s.get("code", "c").await {
                Ok(v) => break assert_eq!(v.as_deref(), Some("v")),
                Err(e) => assert!(e.is_unavailable(), "{e:?}"),
            }
        }
    })
    .await;
    s.put("code", "e", "x", MIN).await.unwrap();
    assert_eq!(s.take("code", "e").await.unwrap().as_deref(), Some("x"));
    assert_eq!(s.take("code", "c").await.unwrap().as_deref(), Some("v"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_redis_gives_unavailable_within_the_timeout_then_serves_again() {
    let Some(server) = OwnRedis::start(&[]).await else {
        return;
    };
    let timeout = Duration::from_millis(400);
    let s = open(&server.url(), &random_prefix(), timeout).await;
    s.put("code", "c", "v", MIN).await.unwrap();

    server.signal("STOP");
    assert_unavailable("get while stopped", s.get("code", "c")).await;
    assert_unavailable("incr while stopped", s.incr("rl", "k", MIN)).await;
    // Many callers at once: each is answered through the timeout, none hangs.
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.take("code", &i.to_string()).await })
        })
        .collect();
    for t in tasks {
        assert!(no_hang("a take while stopped", t)
            .await
            .unwrap()
            .unwrap_err()
            .is_unavailable());
    }

    server.signal("CONT");
    assert_eq!(s.get("code", "c").await.unwrap().as_deref(), Some("v"));
    s.put("code", "d", "w", MIN).await.unwrap();
    assert_eq!(s.take("code", "d").await.unwrap().as_deref(), Some("w"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_gives_unavailable_and_a_restarted_one_is_used_again() {
    let Some(mut server) = OwnRedis::start(&[]).await else {
        return;
    };
    let timeout = Duration::from_millis(400);
    let s = open(&server.url(), &random_prefix(), timeout).await;
    s.put("code", "c", "v", MIN).await.unwrap();

    server.kill();
    assert_unavailable("get after kill", s.get("code", "c")).await;
    assert_unavailable("put after kill", s.put("code", "c", "v", MIN)).await;
    assert_unavailable("ping after kill", s.ping()).await;

    // Back on the same port (empty: it keeps nothing): the very next command succeeds.
    server.restart().await;
    assert_eq!(s.get("code", "c").await.unwrap(), None);
    s.put("code", "c", "v2", MIN).await.unwrap();
    assert_eq!(s.take("code", "c").await.unwrap().as_deref(), Some("v2"));

    // Killed and restarted while nobody used the store: RESP3 tells the connection it closed,
    // so it is already back when the next command comes.
    server.restart().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    s.put("code", "d", "w", MIN).await.unwrap();
    assert_eq!(s.take("code", "d").await.unwrap().as_deref(), Some("w"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_resp2_a_restarted_redis_is_used_again_without_a_restart_of_ours() {
    let Some(mut server) = OwnRedis::start(&[]).await else {
        return;
    };
    let timeout = Duration::from_millis(400);
    let s = open(
        &format!("{}/?protocol=resp2", server.url()),
        &random_prefix(),
        timeout,
    )
    .await;
    s.put("code", "c", "v", MIN).await.unwrap();
    server.restart().await;
    // RESP2 hears of the closed connection only when a command fails on it: that one command
    // may fail (Unavailable, at once); the following ones succeed.
    let mut failures = 0;
    loop {
        match no_hang("a put after the restart", s.put("code", "d", "w", MIN)).await {
            Ok(()) => break,
            Err(e) => {
                assert!(e.is_unavailable(), "{e:?}");
                failures += 1;
            }
        }
        assert!(failures <= 2, "still failing after {failures} commands");
    }
    assert_eq!(s.take("code", "d").await.unwrap().as_deref(), Some("w"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unix_socket_redis_works_the_same() {
    let Some(server) = OwnRedis::start(&[]).await else {
        return;
    };
    let s = open(
        &format!("redis+unix://{}", server.socket()),
        &random_prefix(),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(s.backend(), "redis");
    s.put("code", "c", "v", MIN).await.unwrap();
    assert_eq!(s.take("code", "c").await.unwrap().as_deref(), Some("v"));
    assert_eq!(s.incr("rl", "k", MIN).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_protected_redis_takes_the_password_from_the_url() {
    let Some(server) = OwnRedis::start(&["--requirepass", "s3cret"]).await else {
        return;
    };
    let timeout = Duration::from_secs(2);
    let url = format!("redis://:s3cret@127.0.0.1:{}", server.port);
    let s = open(&url, &random_prefix(), timeout).await;
    s.put("code", "c", "v", MIN).await.unwrap();
    assert_eq!(s.take("code", "c").await.unwrap().as_deref(), Some("v"));

    let wrong = format!("redis://:n0t-the-pw@127.0.0.1:{}", server.port);
    let err = RedisEphemeral::connect(&EphemeralOptions {
        url: wrong,
        key_prefix: "p:".into(),
        timeout,
        ..EphemeralOptions::default()
    })
    .await
    .expect_err("wrong password");
    let text = chain(&err);
    assert!(text.contains("ephemeral.url"), "{text}");
    assert!(!text.contains("n0t-the-pw"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_passes_the_same_behaviour() {
    let Some(nodes) = own_cluster().await else {
        return;
    };
    let url = format!(
        "redis+cluster://127.0.0.1:{},127.0.0.1:{}",
        nodes[0].port, nodes[1].port
    );
    let prefix = random_prefix();
    let s = open(&url, &prefix, Duration::from_secs(2)).await;
    assert_eq!(s.backend(), "redis-cluster");
    s.ping().await.unwrap();
    behaviour::all(s.clone()).await;
    crate::get_many::on_a_cluster(s.as_ref(), &prefix, &nodes).await;

    // Keys spread over the nodes, each command going to the node that owns its key.
    for i in 0..30 {
        s.put("code", &i.to_string(), "v", MIN).await.unwrap();
    }
    let mut holding = 0;
    for n in &nodes {
        let mut c = raw(&n.url()).await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut c)
            .await
            .unwrap();
        if !keys.is_empty() {
            holding += 1;
        }
    }
    assert!(holding >= 2, "keys on {holding} node(s)");

    // One node stopped: commands on its keys fail within the timeout, the others still work,
    // and once it runs again every key is served.
    let timeout = Duration::from_millis(500);
    let quick = open(&url, &prefix, timeout).await;
    nodes[2].signal("STOP");
    let (mut served, mut unavailable) = (0, 0);
    for i in 0..30 {
        if served >= 3 && unavailable >= 3 {
            break;
        }
        match no_hang(
            "a get with one node stopped",
            quick.get("code", &i.to_string()),
        )
        .await
        {
            Ok(v) => {
                assert_eq!(v.as_deref(), Some("v"));
                served += 1;
            }
            Err(e) => {
                assert!(e.is_unavailable(), "{e:?}");
                unavailable += 1;
            }
        }
    }
    nodes[2].signal("CONT");
    assert!(
        served > 0 && unavailable > 0,
        "{served} served, {unavailable} not"
    );
    for i in 0..30 {
        assert_eq!(
            s.take("code", &i.to_string()).await.unwrap().as_deref(),
            Some("v")
        );
    }
}

/// `tls_ca_file` that cannot serve is a configuration error naming the setting, before any
/// connection is tried. (TLS against real servers: the gateway's `tls_stores` tests.)
#[tokio::test]
async fn a_redis_ca_file_that_cannot_serve_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("ca.pem");
    std::fs::write(
        &pem,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let not_pem = dir.path().join("ca.txt");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    for (url, ca, says) in [
        // A CA without TLS would be silently unused.
        ("redis://127.0.0.1:1", pem.clone(), "rediss://"),
        ("redis+cluster://127.0.0.1:1", pem, "rediss://"),
        (
            "rediss://127.0.0.1:1",
            dir.path().join("missing.pem"),
            "missing.pem",
        ),
        ("rediss://127.0.0.1:1", not_pem, "no PEM certificate"),
    ] {
        let opts = EphemeralOptions {
            tls_ca_file: Some(ca),
            ..EphemeralOptions::new(url)
        };
        let err = connect_ephemeral_with(&opts, clock())
            .await
            .err()
            .expect("refused");
        assert!(matches!(err, StoreError::Config(_)), "{url}: {err:?}");
        let text = err.to_string();
        assert!(
            text.contains("ephemeral.tls_ca_file") && text.contains(says),
            "{text}"
        );
    }
}
