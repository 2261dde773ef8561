//! What only Postgres has: a server that can go away, be restarted, or terminate sessions, and
//! several processes migrating at once. Plus one check that both schemas say the same thing.

use std::time::{Duration, Instant};

use vneid_store::{AuditEvent, AuditFilter, Database, DbOptions, StoreError};

use crate::helpers::{admin_connection, login, migrated_db, skip_postgres, Backend, Raw, TestDb};

/// Returns early from a Postgres-only test when `VNEID_TEST_SKIP_POSTGRES=1`.
macro_rules! require_postgres {
    () => {
        if skip_postgres() {
            eprintln!("skipped: VNEID_TEST_SKIP_POSTGRES=1");
            return;
        }
    };
}

/// Pids of the server sessions of the gateway's pool on this database (not the test's raw or
/// admin connections: those have no `application_name`).
async fn gateway_pids(admin: &mut sqlx::PgConnection) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'vneid-gateway' ORDER BY pid",
    )
    .fetch_all(admin)
    .await
    .unwrap()
}

/// Waits until the sessions `pids` have ended (a terminated backend takes a moment to exit).
async fn wait_until_gone(admin: &mut sqlx::PgConnection, pids: &[i32]) {
    for _ in 0..100 {
        let alive: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = ANY($1)")
                .bind(pids)
                .fetch_one(&mut *admin)
                .await
                .unwrap();
        if alive == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("terminated sessions {pids:?} are still there after 5 s");
}

/// Runs `n` logins at once, so the pool opens several connections and keeps them idle.
async fn warm_up(db: &Database, n: usize) {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let db = db.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                db.upsert_person_on_login(&login("dvcqg", &format!("warm-{i}"), None))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
}

/// The pool tests every idle connection with a round trip before handing it out
/// (`test_before_acquire`), so connections whose server sessions were terminated while idle
/// (a Postgres restart, a fail-over, an administrator) are dropped and replaced: the first
/// query after the outage succeeds, with no error for the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_replaces_idle_connections_whose_sessions_were_terminated() {
    require_postgres!();
    let (test_db, db) = migrated_db(Backend::Postgres).await;
    warm_up(&db, 4).await;
    let mut admin = admin_connection(&test_db.url).await;
    let before = gateway_pids(&mut admin).await;
    assert!(!before.is_empty());

    // What an operator (or a restart) does: end every other session on the database.
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(terminated.len() >= before.len(), "{terminated:?}");
    wait_until_gone(&mut admin, &before).await;

    db.ping()
        .await
        .expect("the first query after the outage succeeds");
    let p = db
        .upsert_person_on_login(&login("dvcqg", "after", Some("hash-after")))
        .await
        .expect("writes work again");
    assert!(db.person(&p.id).await.unwrap().is_some());
    let after = gateway_pids(&mut admin).await;
    assert!(
        after.iter().all(|pid| !before.contains(pid)),
        "before {before:?}, after {after:?}"
    );
}

/// A session terminated while it is in use (here: a login waiting on a row lock inside its
/// transaction) fails that one operation as Unavailable (the gateway answers 503; the
/// transaction was rolled back by the server). The broken connection is not returned to the
/// pool, and the next login succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_terminated_mid_transaction_fails_that_operation_as_unavailable_then_recovers() {
    require_postgres!();
    let (test_db, db) = migrated_db(Backend::Postgres).await;
    db.upsert_person_on_login(&login("dvcqg", "sub-1", Some("hash-1")))
        .await
        .unwrap();

    // Another session locks the identity row, so the next login of it waits inside its
    // transaction.
    use sqlx::Connection as _;
    let mut locker = sqlx::PgConnection::connect(&test_db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("SELECT 1 FROM upstream_identities WHERE subject = 'sub-1' FOR UPDATE")
        .execute(&mut locker)
        .await
        .unwrap();
    let waiting = {
        let db = db.clone();
        tokio::spawn(async move {
            db.upsert_person_on_login(&login("dvcqg", "sub-1", Some("hash-1")))
                .await
        })
    };
    let mut admin = admin_connection(&test_db.url).await;
    let mut blocked = 0_i64;
    for _ in 0..100 {
        blocked = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'vneid-gateway' AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        if blocked > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(blocked, 1, "the login never waited on the lock");

    let pids = gateway_pids(&mut admin).await;
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'vneid-gateway'",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    let err = waiting
        .await
        .unwrap()
        .expect_err("its session was terminated");
    assert!(err.is_unavailable(), "{err:?}");
    wait_until_gone(&mut admin, &pids).await;
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();

    let again = db
        .upsert_person_on_login(&login("dvcqg", "sub-1", Some("hash-1")))
        .await
        .expect("the next login succeeds on a fresh connection");
    assert!(!again.created);
}

#[tokio::test]
async fn an_unreachable_postgres_is_unavailable_within_about_the_acquire_timeout() {
    // Nothing listens on port 1: every connection attempt is refused, and the pool retries
    // with back-off until the acquire timeout. Needs no Postgres, so it never skips.
    let timeout = Duration::from_millis(500);
    let start = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        Database::connect_with(&DbOptions {
            url: "postgres://gw:s3cret@127.0.0.1:1/gateway".into(),
            max_connections: 2,
            acquire_timeout: timeout,
            statement_timeout: DbOptions::DEFAULT_STATEMENT_TIMEOUT,
        }),
    )
    .await
    .expect("the acquire timeout ends the attempt instead of a hang")
    .expect_err("nothing listens there");
    assert!(err.is_unavailable(), "{err:?}");
    // A lower bound only (a slow machine can make it longer, never shorter): the pool kept
    // retrying instead of giving up on the first refusal.
    let took = start.elapsed();
    assert!(took >= timeout / 2, "gave up after {took:?}");
    let chain = error_chain(&err);
    assert!(!chain.contains("s3cret"), "{chain}");
}

#[tokio::test]
async fn a_malformed_postgres_url_is_a_configuration_error_that_does_not_echo_it() {
    let err = Database::connect("postgres://gw:s3cret@db:notaport/gateway", 2)
        .await
        .expect_err("bad port");
    assert!(matches!(err, StoreError::Config(_)), "{err:?}");
    assert!(!error_chain(&err).contains("s3cret"));
    assert!(!format!("{err:?}").contains("s3cret"));
}

#[tokio::test]
async fn a_zero_acquire_timeout_is_a_configuration_error() {
    let err = Database::connect_with(&DbOptions {
        acquire_timeout: Duration::ZERO,
        ..DbOptions::new("postgres://127.0.0.1:1/gateway", 2)
    })
    .await
    .expect_err("zero timeout");
    assert!(matches!(err, StoreError::Config(_)), "{err:?}");
}

#[tokio::test]
async fn postgresql_scheme_is_accepted_too() {
    require_postgres!();
    let test_db = TestDb::new(Backend::Postgres).await;
    let url = test_db.url.replacen("postgres://", "postgresql://", 1);
    let db = Database::connect(&url, 2).await.unwrap();
    assert_eq!(db.backend(), "postgres");
    db.migrate().await.unwrap();
    db.check_schema().await.unwrap();
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_migrating_at_once_all_succeed() {
    require_postgres!();
    let test_db = TestDb::new(Backend::Postgres).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = test_db.url.clone();
        tasks.push(tokio::spawn(async move {
            let db = Database::connect(&url, 2).await?;
            db.migrate().await?;
            db.check_schema().await?;
            db.close().await;
            Ok::<_, StoreError>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().expect("every replica migrates");
    }
}

#[tokio::test]
async fn audit_events_cannot_be_truncated() {
    require_postgres!();
    let (test_db, db) = migrated_db(Backend::Postgres).await;
    db.append_audit(&AuditEvent::new("login", "success"))
        .await
        .unwrap();
    let raw = test_db.raw().await;
    let err = raw
        .execute("TRUNCATE audit_events")
        .await
        .expect_err("append-only");
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(
        db.list_audit(&AuditFilter::default()).await.unwrap().len(),
        1
    );
}

/// `table.column:notnull`, indexes and triggers, from each backend's catalogue.
async fn schema_of(raw: &Raw) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (columns, indexes, triggers) = match raw {
        Raw::Sqlite(_) => (
            "SELECT m.name || '.' || p.name || ':' || p.\"notnull\" FROM sqlite_master m \
             JOIN pragma_table_info(m.name) p WHERE m.type = 'table' \
             AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
            "SELECT name FROM sqlite_master WHERE type = 'index' \
             AND name NOT LIKE 'sqlite_autoindex_%'",
            "SELECT name FROM sqlite_master WHERE type = 'trigger'",
        ),
        Raw::Postgres(_) => (
            "SELECT table_name || '.' || column_name || ':' || \
             (CASE is_nullable WHEN 'NO' THEN 1 ELSE 0 END)::text \
             FROM information_schema.columns WHERE table_schema = current_schema() \
             AND table_name <> '_sqlx_migrations'",
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() \
             AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'",
            "SELECT DISTINCT trigger_name::text FROM information_schema.triggers \
             WHERE trigger_schema = current_schema()",
        ),
    };
    let mut out = (
        raw.fetch_strings(columns).await,
        raw.fetch_strings(indexes).await,
        raw.fetch_strings(triggers).await,
    );
    out.0.sort();
    out.1.sort();
    out.2.sort();
    out
}

#[tokio::test]
async fn both_backends_have_the_same_tables_columns_indexes_and_triggers() {
    require_postgres!();
    let (sqlite, _db1) = migrated_db(Backend::Sqlite).await;
    let (postgres, _db2) = migrated_db(Backend::Postgres).await;
    let (s_columns, s_indexes, s_triggers) = schema_of(&sqlite.raw().await).await;
    let (p_columns, p_indexes, mut p_triggers) = schema_of(&postgres.raw().await).await;
    assert_eq!(s_columns, p_columns);
    assert_eq!(s_indexes, p_indexes);
    // Postgres also refuses TRUNCATE, which SQLite does not have.
    p_triggers.retain(|t| t != "audit_events_no_truncate");
    assert_eq!(s_triggers, p_triggers);
    assert!(s_columns.contains(&"audit_events.detail:1".to_string()));
    // Migrations 0002 and 0004 on both.
    for column in [
        "refresh_families.revoked_at:0",
        "refresh_families.person_id:1",
        "refresh_tokens.replaced_by:0",
        "refresh_tokens.family_id:1",
        "clients.jwks:0",
        "clients.redirect_uris:1",
        // Migration 0004.
        "revocations.key:1",
        "revocations.reason:1",
        "revocations.created_at:1",
        "revocations.expires_at:1",
        // Migration 0008.
        "people.account_type:0",
        "people.organisation_key:0",
        "people.organisation_sealed:0",
        "clients.account_types:0",
        // Migration 0009.
        "clients.require_pushed_authorization_requests:1",
        // Migration 0010.
        "refresh_families.dpop_jkt:0",
        "clients.dpop_bound_access_tokens:1",
        "clients.profile:1",
    ] {
        assert!(s_columns.contains(&column.to_string()), "{column}");
    }
    for index in [
        "refresh_families_sid",
        "refresh_families_expires_at",
        "refresh_tokens_family_id",
        "revocations_expires_at",
        "people_organisation_key_unique",
    ] {
        assert!(s_indexes.contains(&index.to_string()), "{index}");
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
