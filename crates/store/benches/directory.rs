//! Speed of the directory import (`Database::upsert_directory_accounts`) on SQLite and Postgres.
//!
//! `cargo bench -p vneid-store --bench directory` imports 100,000 synthetic accounts (2% of them
//! sharing a personal-ID hash with another, 5% without a number) into a fresh database, then
//! imports the same rows again (all unchanged), then again with 10% of them changed, and prints
//! the seconds and rows per second of each, the median of `BENCH_RUNS` runs (default 3).
//! `BENCH_ONLY=sqlite` or `BENCH_ONLY=postgres` runs one backend; `BENCH_ROWS` changes the
//! number of rows. SQLite is a file in a temp dir opened by `Database::connect` (WAL,
//! synchronous FULL); Postgres is a fresh database (made and dropped per run) on the server at
//! `VNEID_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`). A
//! benchmark, not a test: nothing here fails on a time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::time::Instant;

use chrono::{NaiveDate, Utc};
use vneid_store::{Database, DirectoryAccount, UpsertCounts};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `n` accounts of realistic sizes: rows `100k` and `100k + 1` share a number (2%), every
/// twentieth has none (5%).
fn synthetic_rows(n: usize) -> Vec<DirectoryAccount> {
    let now = Utc::now();
    (0..n)
        .map(|i| {
            let hash = match i % 100 {
                0 | 1 => Some(format!("{:0>43}", format!("shared{}", i / 100))),
                7 | 27 | 47 | 67 | 87 => None,
                _ => Some(format!("{i:0>43}")),
            };
            DirectoryAccount {
                username: format!("canbo.{i:07}"),
                full_name: format!("Nguyễn Văn Cán Bộ {i}"),
                unit_code: format!("UNIT-{:03}", i % 700),
                unit_name: format!("UBND xã số {} huyện Mẫu", i % 700),
                kind: if i % 10 == 0 { "citizen" } else { "staff" }.into(),
                personal_id_sealed: Some(vec![0xA5; 40]),
                personal_id_masked: Some("001*******45".into()),
                personal_id_status: if hash.is_some() { "valid" } else { "missing" }.into(),
                personal_id_hash: hash,
                personal_id_problem: None,
                birth_date: NaiveDate::from_ymd_opt(1970 + (i % 40) as i32, 1 + (i % 12) as u32, 1),
                phone: Some(format!("09{i:08}")),
                email: Some(format!("canbo.{i}@example.gov.vn")),
                status: "active".into(),
                content_hash: format!("{:0>43}", format!("content{i}")),
                created_at: now,
                updated_at: now,
            }
        })
        .collect()
}

/// A fresh, empty database on one backend for one run; dropped with `drop_database`.
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
        let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
        let slash = base
            .rfind('/')
            .expect("VNEID_TEST_POSTGRES_URL ends with /DATABASE");
        let mut url = format!("{}/{name}", &base[..slash]);
        if !query.is_empty() {
            url = format!("{url}?{query}");
        }
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

/// One timed import; checks the counts it is expected to give.
async fn timed(
    db: &Database,
    rows: &[DirectoryAccount],
    expect: (u64, u64, u64),
    duplicates: usize,
) -> f64 {
    let start = Instant::now();
    let counts: UpsertCounts = db
        .upsert_directory_accounts(rows, Utc::now(), false, true)
        .await
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(
        (counts.created, counts.updated, counts.unchanged),
        expect,
        "unexpected counts"
    );
    assert_eq!(counts.duplicates.len(), duplicates);
    secs
}

/// First import, re-import (unchanged), import with 10% changed: seconds of each.
async fn run(backend: &str, rows: &[DirectoryAccount], changed: &[DirectoryAccount]) -> [f64; 3] {
    let (bench_db, url) = BenchDb::new(backend).await;
    let db = Database::connect(&url, 4).await.unwrap();
    db.migrate().await.unwrap();
    let n = rows.len() as u64;
    let dups = rows
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 100 < 2 && (i / 100) * 100 + 1 < rows.len())
        .count();
    let first = timed(&db, rows, (n, 0, 0), dups).await;
    let again = timed(&db, rows, (0, 0, n), dups).await;
    let tenth = changed
        .iter()
        .zip(rows)
        .filter(|(c, r)| c.content_hash != r.content_hash)
        .count() as u64;
    let partly = timed(&db, changed, (0, tenth, n - tenth), dups).await;
    assert_eq!(db.count_directory_accounts().await.unwrap(), n);
    db.close().await;
    bench_db.drop_database().await;
    [first, again, partly]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let runs = env_usize("BENCH_RUNS", 3).max(1);
    let n = env_usize("BENCH_ROWS", 100_000).max(1);
    let rows = synthetic_rows(n);
    let changed: Vec<DirectoryAccount> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut r = r.clone();
            if i % 10 == 3 {
                r.phone = Some(format!("08{i:08}"));
                r.content_hash = format!("{:0>43}", format!("changed{i}"));
            }
            r
        })
        .collect();
    rt.block_on(async {
        println!(
            "vneid-store directory import: {n} rows, median of {runs} run(s), each on a fresh database"
        );
        for backend in ["sqlite", "postgres"] {
            if !(only.is_empty() || only == backend) {
                continue;
            }
            let mut results: [Vec<f64>; 3] = Default::default();
            for _ in 0..runs {
                let secs = run(backend, &rows, &changed).await;
                for (all, s) in results.iter_mut().zip(secs) {
                    all.push(s);
                }
            }
            for (what, secs) in [
                "first import (all created)",
                "re-import (all unchanged)",
                "re-import (10% updated)",
            ]
            .iter()
            .zip(results)
            {
                let spread = format!(
                    "min {:.2}, max {:.2}",
                    secs.iter().copied().fold(f64::INFINITY, f64::min),
                    secs.iter().copied().fold(0.0, f64::max)
                );
                let m = median(secs);
                println!(
                    "{backend:<8} {what:<28} {m:>7.2} s  {:>9.0} rows/s  ({spread})",
                    n as f64 / m
                );
            }
        }
    });
}
