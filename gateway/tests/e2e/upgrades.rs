//! Rolling upgrades: a replica of this build starts and serves on a database that a newer
//! build has already migrated further (on SQLite and on Postgres, whichever the suite runs on),
//! and says so on `/metrics`.

use reqwest::StatusCode;
use vneid_e2e::*;

/// Adds a migration row as a newer build's `gateway migrate` would.
async fn record_a_newer_migration(url: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (9001, 'a newer build', TRUE, X'00', 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (9001, 'a newer build', TRUE, '\\x00'::bytea, 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
    }
}

#[actix_web::test]
async fn a_database_a_newer_build_migrated_starts_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = base_config(dir.path(), "[simulator]\nenabled = true\n").await;
    let settings = settings_from(&cfg, dir.path());
    // The newer build migrates the database as `gateway migrate` does (private files).
    let db = vneid_gateway::startup::store::connect_database(&settings, 2)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    record_a_newer_migration(&settings.database.url).await;
    db.close().await;

    let gw = start(settings, dir, None).await;
    let ready = reqwest::get(format!("{}/readyz", gw.url)).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(metric_value(&gw.url, "vneid_schema_ahead ").await, 1.0);
    let b = browser();
    let p = pkce();
    let Ended::Portal(q) =
        login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await
    else {
        panic!("the login did not reach the portal")
    };
    let res = exchange(&gw.url, &q["code"], &p.verifier).await;
    assert_eq!(res.status(), StatusCode::OK, "tokens on the newer schema");
}

/// A statement stuck in the database (a slow trigger on Postgres, another writer holding the
/// lock on SQLite) ends within `database.statement_timeout` and the person gets the Vietnamese
/// 503 page, not a hang; once it is gone, logins go through again.
#[actix_web::test]
async fn a_stuck_database_ends_a_login_with_the_503_page_within_the_statement_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = base_config(dir.path(), "[simulator]\nenabled = true\n").await;
    ensure_master_key(dir.path());
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, cfg).unwrap();
    let mut env = test_env();
    env.push((
        "GATEWAY__DATABASE__STATEMENT_TIMEOUT".into(),
        "300ms".into(),
    ));
    let settings = vneid_gateway::config::Settings::load(Some(&path), env).unwrap();
    assert_eq!(
        settings.database.statement_timeout,
        std::time::Duration::from_millis(300)
    );
    let url = settings.database.url.clone();
    let gw = start(settings, dir, None).await;

    let sqlite = url.starts_with("sqlite:");
    let mut holder = None;
    if sqlite {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .unwrap();
        holder = Some((pool, conn));
    } else {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        for sql in [
            "CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$",
            "CREATE TRIGGER stall BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION stall()",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
    }
    let b = browser();
    let p = pkce();
    let started = std::time::Instant::now();
    let ended = login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await;
    let Ended::Page(status, html) = ended else {
        panic!("a login went through a stuck database")
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{html}");
    assert!(html.contains("lang=\"vi\""), "{html}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));

    if let Some((pool, mut conn)) = holder.take() {
        sqlx::query("ROLLBACK").execute(&mut *conn).await.unwrap();
        drop(conn);
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query("DROP TRIGGER stall ON audit_events")
            .execute(&pool)
            .await
            .unwrap();
    }
    let p = pkce();
    let again = login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await;
    assert!(
        matches!(again, Ended::Portal(_)),
        "the gateway serves again"
    );
}
