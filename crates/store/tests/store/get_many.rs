//! [`Ephemeral::get_many`] on every store, in real time: the shared Redis, the memory store
//! with the system clock, and (called from `a_redis_cluster_passes_the_same_behaviour`) a
//! 3-node Redis Cluster, where the keys of one call live in different slots and on different
//! nodes. That it is one `MGET` is checked on a Redis of the test's own (`INFO commandstats`).

use std::collections::BTreeSet;
use std::time::Duration;

use vneid_store::{Ephemeral, MemoryEphemeral};

use crate::redis_support::{clock, open, random_prefix, raw, shared, until_gone, OwnRedis};

const MIN: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_secs(2);

/// The rules, each a function of the store so that every backend runs the same ones.
pub(crate) mod behaviour {
    use super::*;

    pub(crate) async fn get_many_answers_each_pair_in_order_with_none_where_nothing_is_stored(
        s: &dyn Ephemeral,
    ) {
        s.put("jti", "a", "1", MIN).await.unwrap();
        s.put("grant", "a", "2", MIN).await.unwrap();
        s.put("odd:ns%", "a", "3", MIN).await.unwrap();
        s.put("v", "empty", "", MIN).await.unwrap();
        let got = s
            .get_many(&[
                ("grant", "a"),
                ("jti", "missing"),
                ("jti", "a"),
                ("odd:ns%", "a"),
                ("odd", "ns%:a"),
                ("v", "empty"),
                ("jti", "a"),
            ])
            .await
            .unwrap();
        assert_eq!(
            got,
            [
                Some("2".to_owned()),
                None,
                Some("1".to_owned()),
                Some("3".to_owned()),
                None,
                Some(String::new()),
                Some("1".to_owned()),
            ]
        );
        // Reading consumed nothing.
        assert_eq!(s.take("jti", "a").await.unwrap().as_deref(), Some("1"));
        for (ns, key) in [("grant", "a"), ("odd:ns%", "a"), ("v", "empty")] {
            s.delete(ns, key).await.unwrap();
        }
    }

    pub(crate) async fn get_many_of_no_pairs_is_empty(s: &dyn Ephemeral) {
        assert!(s.get_many(&[]).await.unwrap().is_empty());
    }

    pub(crate) async fn get_many_does_not_answer_expired_values(s: &dyn Ephemeral) {
        s.put("rev", "short", "x", SHORT).await.unwrap();
        s.put("rev", "long", "y", MIN).await.unwrap();
        assert_eq!(
            s.get_many(&[("rev", "short"), ("rev", "long")])
                .await
                .unwrap(),
            [Some("x".to_owned()), Some("y".to_owned())]
        );
        until_gone(s, "rev", "short").await;
        assert_eq!(
            s.get_many(&[("rev", "short"), ("rev", "long")])
                .await
                .unwrap(),
            [None, Some("y".to_owned())]
        );
        s.delete("rev", "long").await.unwrap();
    }

    /// Enough keys to land in many hash slots (and on every node of a cluster).
    pub(crate) async fn get_many_of_two_hundred_keys_answers_each_in_order(s: &dyn Ephemeral) {
        let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
        for (i, key) in keys.iter().enumerate() {
            if i % 3 != 0 {
                s.put("many", key, &format!("v{i}"), MIN).await.unwrap();
            }
        }
        let pairs: Vec<(&str, &str)> = keys.iter().map(|k| ("many", k.as_str())).collect();
        let got = s.get_many(&pairs).await.unwrap();
        let want: Vec<Option<String>> = (0..200)
            .map(|i| (i % 3 != 0).then(|| format!("v{i}")))
            .collect();
        assert_eq!(got, want);
        for key in &keys {
            s.delete("many", key).await.unwrap();
        }
    }

    /// Every rule above, one after the other.
    pub(crate) async fn all(s: &dyn Ephemeral) {
        get_many_answers_each_pair_in_order_with_none_where_nothing_is_stored(s).await;
        get_many_of_no_pairs_is_empty(s).await;
        get_many_does_not_answer_expired_values(s).await;
        get_many_of_two_hundred_keys_answers_each_in_order(s).await;
    }
}

/// One test per rule, on the shared Redis.
macro_rules! on_shared_redis {
    ($($rule:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $rule() {
            let Some(s) = shared().await else { return };
            behaviour::$rule(s.as_ref()).await;
        }
    )*};
}

mod shared_redis {
    use super::*;

    on_shared_redis! {
        get_many_answers_each_pair_in_order_with_none_where_nothing_is_stored,
        get_many_of_no_pairs_is_empty,
        get_many_does_not_answer_expired_values,
        get_many_of_two_hundred_keys_answers_each_in_order,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_answers_get_many_the_same_in_real_time() {
    behaviour::all(&MemoryEphemeral::new(clock())).await;
}

/// `commandstats` of one server: `(calls of MGET, calls of GET)` since the last reset.
async fn mget_and_get_calls(c: &mut redis::aio::MultiplexedConnection) -> (u64, u64) {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(c)
        .await
        .unwrap();
    let calls = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |n| n.parse().unwrap())
    };
    (calls("mget"), calls("get"))
}

async fn reset_stats(c: &mut redis::aio::MultiplexedConnection) {
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(c)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_many_is_one_mget_on_a_single_redis() {
    let Some(server) = OwnRedis::start(&[]).await else {
        return;
    };
    let s = open(&server.url(), &random_prefix(), Duration::from_secs(2)).await;
    for i in 0..50 {
        s.put("jti", &i.to_string(), "v", MIN).await.unwrap();
    }
    let keys: Vec<String> = (0..60).map(|i| i.to_string()).collect();
    let pairs: Vec<(&str, &str)> = keys.iter().map(|k| ("jti", k.as_str())).collect();
    let mut admin = raw(&server.url()).await;
    reset_stats(&mut admin).await;
    let got = s.get_many(&pairs).await.unwrap();
    assert_eq!(got.iter().filter(|v| v.is_some()).count(), 50);
    assert_eq!(mget_and_get_calls(&mut admin).await, (1, 0));
}

/// On a cluster: the answer of [`behaviour::all`], and the commands that made it: one `MGET`
/// per hash slot of the keys (a Redis Cluster refuses an `MGET` across slots), sent by the
/// cluster client to the slots' nodes at once, and no `GET`.
pub(crate) async fn on_a_cluster(s: &dyn Ephemeral, prefix: &str, nodes: &[OwnRedis]) {
    behaviour::all(s).await;

    let keys: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
    for key in &keys {
        s.put("jti", key, key, MIN).await.unwrap();
    }
    let mut admins = Vec::new();
    for n in nodes {
        admins.push(raw(&n.url()).await);
    }
    let mut slots = BTreeSet::new();
    for key in &keys {
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(format!("{prefix}jti:{key}"))
            .query_async(&mut admins[0])
            .await
            .unwrap();
        slots.insert(slot);
    }
    for admin in &mut admins {
        reset_stats(admin).await;
    }
    let pairs: Vec<(&str, &str)> = keys.iter().map(|k| ("jti", k.as_str())).collect();
    let got = s.get_many(&pairs).await.unwrap();
    assert_eq!(
        got,
        keys.iter().map(|k| Some(k.clone())).collect::<Vec<_>>()
    );
    let (mut mgets, mut gets, mut nodes_asked) = (0, 0, 0);
    for admin in &mut admins {
        let (m, g) = mget_and_get_calls(admin).await;
        mgets += m;
        gets += g;
        if m > 0 {
            nodes_asked += 1;
        }
    }
    assert_eq!(gets, 0);
    assert_eq!(mgets, u64::try_from(slots.len()).unwrap());
    assert!(nodes_asked >= 2, "the keys were on {nodes_asked} node(s)");
    for key in &keys {
        s.delete("jti", key).await.unwrap();
    }
}

#[tokio::test]
async fn redis_counts_no_entries_here_and_expires_them_by_itself() {
    let Some(s) = shared().await else { return };
    s.put("k", "k", "v", MIN).await.unwrap();
    assert_eq!(s.entries(), None);
    s.purge_expired().await;
    assert_eq!(s.take("k", "k").await.unwrap().as_deref(), Some("v"));
}
