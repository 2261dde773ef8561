//! `statement_timeout`: a statement stuck on the server (Postgres: a slow trigger, as a lock or
//! a bad plan would be) or waiting for another writer (SQLite) ends as `Unavailable` within the
//! timeout, through the real pool, and the pool serves the next operation; migrations are not
//! bound by it.

use std::time::{Duration, Instant};

use vneid_store::{AuditEvent, Database, DbOptions};

use crate::helpers::{Backend, Raw, TestDb};
use crate::on_every_backend;

async fn store_with_timeout(test_db: &TestDb, timeout: Duration) -> Database {
    Database::connect_with(&DbOptions {
        statement_timeout: timeout,
        ..DbOptions::new(test_db.url.clone(), 2)
    })
    .await
    .unwrap()
}

async fn a_stuck_statement_ends_as_unavailable_within_the_statement_timeout(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    // Migrations run without the timeout, however short it is.
    let db = store_with_timeout(&test_db, Duration::from_millis(1)).await;
    db.migrate()
        .await
        .expect("migrations are not bound by statement_timeout");
    db.close().await;

    let db = store_with_timeout(&test_db, Duration::from_millis(300)).await;
    let raw = test_db.raw().await;
    // Something makes the next audit write hang far longer than the timeout.
    let mut holder = None;
    match &raw {
        Raw::Postgres(_) => {
            raw.execute(
                "CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$",
            )
            .await
            .unwrap();
            raw.execute(
                "CREATE TRIGGER stall BEFORE INSERT ON audit_events \
                 FOR EACH ROW EXECUTE FUNCTION stall()",
            )
            .await
            .unwrap();
        }
        Raw::Sqlite(pool) => {
            // Another writer holds the file's write lock.
            let mut conn = pool.acquire().await.unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut *conn)
                .await
                .unwrap();
            holder = Some(conn);
        }
    }
    let started = Instant::now();
    let err = db
        .append_audit(&AuditEvent::new("login", "success"))
        .await
        .expect_err("the write cannot finish");
    let took = started.elapsed();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");

    match &raw {
        Raw::Postgres(_) => {
            raw.execute("DROP TRIGGER stall ON audit_events")
                .await
                .unwrap();
        }
        Raw::Sqlite(_) => {
            let mut conn = holder.take().unwrap();
            sqlx::query("ROLLBACK").execute(&mut *conn).await.unwrap();
        }
    }
    // The pooled connection was not left stuck: the next write goes through.
    db.append_audit(&AuditEvent::new("login", "success"))
        .await
        .expect("the pool serves again");
}

on_every_backend! {
    a_stuck_statement_ends_as_unavailable_within_the_statement_timeout(flavor = "multi_thread", worker_threads = 2),
}
