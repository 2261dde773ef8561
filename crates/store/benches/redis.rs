//! Throughput of the Redis ephemeral store: put+take pairs (a code issued, then redeemed) on
//! fresh keys over the one shared multiplexed connection.
//!
//! `cargo bench -p vneid-store --bench redis` runs against `VNEID_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`) under a random key prefix (every key it writes it also takes) and
//! prints pairs per second, the median of 5 runs, with 1 and 8 concurrent tasks. A benchmark,
//! not a test: nothing here fails on a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use vneid_core::{Clock, SystemClock};
use vneid_store::{connect_ephemeral_with, Ephemeral, EphemeralOptions};

const RUNS: usize = 5;
const TTL: Duration = Duration::from_secs(300);
/// Pairs per run, shared out among the tasks.
const PAIRS: usize = 20_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `tasks` tasks each doing `per_task` put+take pairs on fresh keys; returns pairs per second.
async fn put_take(store: &Arc<dyn Ephemeral>, run: usize, tasks: usize, per_task: usize) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    let k = format!("key-{run}-{t}-{i:08}");
                    store
                        .put("code", &k, "payload-of-a-typical-size-0123456789", TTL)
                        .await
                        .unwrap();
                    let v = store.take("code", &k).await.unwrap();
                    assert!(v.is_some());
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    (tasks * per_task) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url =
        std::env::var("VNEID_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    rt.block_on(async {
        let opts = EphemeralOptions {
            url,
            key_prefix: format!("vneid-bench-{}:", uuid::Uuid::new_v4().simple()),
            timeout: Duration::from_secs(2),
            ..EphemeralOptions::default()
        };
        let store = connect_ephemeral_with(&opts, Arc::new(SystemClock) as Arc<dyn Clock>)
            .await
            .expect("a Redis at VNEID_TEST_REDIS_URL");
        println!(
            "vneid-store Redis benchmark ({}; median of {RUNS} runs of {PAIRS} pairs; \
             2 tokio workers)",
            store.backend()
        );
        // Warm up the connection and Redis's allocator.
        put_take(&store, usize::MAX, 1, 1000).await;
        for tasks in [1, 8] {
            let mut rates = Vec::new();
            for run in 0..RUNS {
                rates.push(put_take(&store, run, tasks, PAIRS / tasks).await);
            }
            let (min, max) = (
                rates.iter().copied().fold(f64::INFINITY, f64::min),
                rates.iter().copied().fold(0.0, f64::max),
            );
            println!(
                "{:<40} {:>10.0} pairs/s  (min {min:.0}, max {max:.0})",
                format!("redis put+take, {tasks} task(s)"),
                median(rates),
            );
        }
    });
}
