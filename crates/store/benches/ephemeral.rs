//! Throughput of the memory ephemeral store and of a login's writes (the person upsert and its
//! audit event, `record_login`) on SQLite and Postgres.
//!
//! `cargo bench -p vneid-store --bench ephemeral` prints operations per second, the median of 5
//! runs each. `BENCH_ONLY=memory`, `BENCH_ONLY=sqlite` or `BENCH_ONLY=postgres` runs one part.
//! The Postgres part makes (and drops) a fresh database per run on the server at
//! `VNEID_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`). A
//! benchmark, not a test: nothing here fails on a time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use vneid_core::{Clock, FixedClock, SystemClock};
use vneid_store::{
    AuditEvent, Database, Ephemeral, LoginUpsert, MemoryEphemeral, DEFAULT_MAX_ENTRIES,
};

const RUNS: usize = 5;
const TTL: Duration = Duration::from_secs(300);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report(what: &str, rates: Vec<f64>, unit: &str) {
    let spread = format!(
        "min {:.0}, max {:.0}",
        rates.iter().copied().fold(f64::INFINITY, f64::min),
        rates.iter().copied().fold(0.0, f64::max)
    );
    println!("{what:<58} {:>12.0} {unit}  ({spread})", median(rates));
}

/// `tasks` tasks each doing `per_task` put+take pairs on fresh keys; returns pairs per second.
async fn memory_put_take(shards: usize, tasks: usize, per_task: usize) -> f64 {
    let store = Arc::new(MemoryEphemeral::with_limits(
        Arc::new(SystemClock) as Arc<dyn Clock>,
        DEFAULT_MAX_ENTRIES,
        shards,
    ));
    let keys: Arc<Vec<Vec<String>>> = Arc::new(
        (0..tasks)
            .map(|t| (0..per_task).map(|i| format!("key-{t}-{i:08}")).collect())
            .collect(),
    );
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let store = store.clone();
            let keys = keys.clone();
            tokio::spawn(async move {
                for k in &keys[t] {
                    store
                        .put("code", k, "payload-of-a-typical-size-0123456789", TTL)
                        .await
                        .unwrap();
                    let v = store.take("code", k).await.unwrap();
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

/// Fills a store to `n` entries, lets them all expire, and times one full sweep. Returns the
/// sweep's milliseconds: with `shards` locks, each is held about 1/shards of that.
async fn memory_sweep(shards: usize, n: usize) -> f64 {
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let store = MemoryEphemeral::with_limits(clock.clone() as Arc<dyn Clock>, n, shards);
    for i in 0..n {
        store
            .put(
                "state",
                &format!("key-{i:08}"),
                "payload-of-a-typical-size-0123456789",
                TTL,
            )
            .await
            .unwrap();
    }
    clock.advance(chrono::Duration::hours(1));
    let start = Instant::now();
    store.sweep();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    assert!(store.is_empty());
    ms
}

fn login(i: usize, run: usize) -> LoginUpsert {
    LoginUpsert {
        upstream: "dvcqg".into(),
        subject: format!("subject-{run}-{i}"),
        personal_id_hash: Some(format!("{:064x}", i * 7919 + run)),
        personal_id_sealed: Some(vec![7u8; 60]),
        name: Some("Nguyễn Văn An".into()),
        birthdate: NaiveDate::from_ymd_opt(1990, 5, 17),
        login_idp: Some("BCA".into()),
        level: 2,
        at: Utc::now(),
        account_type: vneid_core::AccountType::Citizen,
        organisation_key: None,
        organisation_sealed: None,
    }
}

/// A fresh, empty database on one backend for one run; dropped with the value.
enum BenchDb {
    /// The temp dir holding the file, kept until the run ends.
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        admin: String,
        name: String,
    },
}

impl BenchDb {
    async fn new(backend: &str) -> (Self, String) {
        if backend == "sqlite" {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/bench.db", dir.path().display());
            return (BenchDb::Sqlite { _dir: dir }, url);
        }
        use sqlx::Connection as _;
        let admin = std::env::var("VNEID_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("vneid_bench_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("Postgres for the benchmark (VNEID_TEST_POSTGRES_URL)");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .unwrap();
        let slash = admin
            .rfind('/')
            .expect("VNEID_TEST_POSTGRES_URL ends with /DATABASE");
        let url = format!("{}/{name}", &admin[..slash]);
        (BenchDb::Postgres { admin, name }, url)
    }

    async fn drop_database(self) {
        if let BenchDb::Postgres { admin, name } = self {
            use sqlx::Connection as _;
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// `tasks` tasks each doing `per_task` logins on `backend` (a pool of 8 connections); new
/// people on the first pass, the same identities again (known path) on the second. A login is
/// `record_login` (the person and its audit event, as the gateway's callback writes them).
/// Returns (new/s, known/s) and the writes per commit on SQLite (the group commit's batches).
async fn upserts(backend: &str, tasks: usize, per_task: usize, run: usize) -> (f64, f64, f64) {
    let (bench_db, url) = BenchDb::new(backend).await;
    let db = Arc::new(Database::connect(&url, 8).await.unwrap());
    db.migrate().await.unwrap();
    let mut rates = [0.0; 2];
    for rate in &mut rates {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let db = db.clone();
                tokio::spawn(async move {
                    for i in 0..per_task {
                        let event = AuditEvent::new("login", "success").level(2);
                        db.record_login(login(t * per_task + i, run), event)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        *rate = (tasks * per_task) as f64 / start.elapsed().as_secs_f64();
    }
    let per_commit = db
        .group_commit_stats()
        .map_or(1.0, |s| s.writes() as f64 / s.commits().max(1) as f64);
    db.close().await;
    bench_db.drop_database().await;
    (rates[0], rates[1], per_commit)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    rt.block_on(async {
        println!("vneid-store benchmarks (median of {RUNS} runs; 2 tokio workers)");
        let memory = if only.is_empty() || only == "memory" {
            &[
                (1, 1),
                (16, 1),
                (64, 1),
                (1, 2),
                (16, 2),
                (64, 2),
                (1, 8),
                (16, 8),
                (64, 8),
            ][..]
        } else {
            &[]
        };
        for &(shards, tasks) in memory {
            let per_task = 400_000 / tasks;
            let mut rates = Vec::new();
            for _ in 0..RUNS {
                rates.push(memory_put_take(shards, tasks, per_task).await);
            }
            report(
                &format!("memory put+take, {shards:>2} shard(s), {tasks} task(s)"),
                rates,
                "pairs/s",
            );
        }
        for &shards in if memory.is_empty() {
            &[][..]
        } else {
            &[1, 16, 64][..]
        } {
            let mut ms = Vec::new();
            for _ in 0..RUNS {
                ms.push(memory_sweep(shards, 1_000_000).await);
            }
            let total = median(ms);
            println!(
                "{:<58} {:>12.1} ms total, {:.1} ms per shard lock",
                format!("memory sweep of 1,000,000 expired entries, {shards:>2} shard(s)"),
                total,
                total / shards as f64
            );
        }
        for backend in ["sqlite", "postgres"] {
            if !(only.is_empty() || only == backend) {
                continue;
            }
            for tasks in [1, 8, 64] {
                let per_task = 4096 / tasks;
                let (mut new, mut known, mut batch) = (Vec::new(), Vec::new(), Vec::new());
                for run in 0..RUNS {
                    let (n, k, b) = upserts(backend, tasks, per_task, run).await;
                    new.push(n);
                    known.push(k);
                    batch.push(b);
                }
                let batch = median(batch);
                report(
                    &format!("{backend} record_login, new person, {tasks} task(s)"),
                    new,
                    "logins/s",
                );
                report(
                    &format!("{backend} record_login, known identity, {tasks} task(s)"),
                    known,
                    "logins/s",
                );
                println!("{:<58} {batch:>12.1} writes per commit", "");
            }
        }
    });
}
