use vneid_store::{Database, NewRefreshFamily, StoreError};

use crate::helpers::{empty_db, login, migrated_db, t, Backend, Raw};
use crate::on_every_backend;

async fn migrate_then_check_schema_succeeds(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    db.check_schema().await.expect("schema known after migrate");
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(db.backend(), expected);
    db.ping().await.expect("ping");
}

async fn migrate_twice_is_harmless(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    db.migrate().await.expect("second migrate");
    db.check_schema().await.expect("schema");
}

async fn check_schema_fails_on_an_empty_database(backend: Backend) {
    let (_dir, db) = empty_db(backend).await;
    let err = db.check_schema().await.expect_err("no schema");
    assert!(matches!(err, StoreError::Schema(_)), "{err:?}");
    assert!(!err.is_unavailable());
}

async fn check_schema_fails_when_a_known_migration_is_not_applied(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    let pool = dir.raw().await;
    pool.execute("DELETE FROM _sqlx_migrations WHERE version = 1")
        .await
        .unwrap();
    let err = db.check_schema().await.expect_err("missing migration");
    assert!(
        matches!(&err, StoreError::Schema(m) if m.contains("not applied")),
        "{err:?}"
    );
}

/// A rolling upgrade: a newer build migrated the database further. This build starts on it
/// (the migrations are expand/contract) and says which migrations are ahead; `migrate` leaves
/// them alone. An unknown migration among the ones it knows is still refused.
async fn check_schema_tolerates_a_newer_builds_migrations_and_refuses_an_unknown_older_one(
    backend: Backend,
) {
    let (dir, db) = migrated_db(backend).await;
    let pool = dir.raw().await;
    pool.execute(&pool.dialect(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, X'00', 0)",
    ))
    .await
    .unwrap();
    let check = db.check_schema().await.expect("a newer build's migration");
    assert_eq!(check.ahead, vec![9999]);
    db.migrate()
        .await
        .expect("migrate leaves the newer migration alone");
    assert_eq!(db.check_schema().await.unwrap().ahead, vec![9999]);
    pool.execute(&pool.dialect(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (0, 'unheard of', TRUE, X'00', 0)",
    ))
    .await
    .unwrap();
    let err = db
        .check_schema()
        .await
        .expect_err("unknown migration among known ones");
    assert!(
        matches!(&err, StoreError::Schema(m) if m.contains("migration 0") && m.contains("later ones")),
        "{err:?}"
    );
}

async fn check_schema_fails_when_an_applied_migration_was_edited(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    let pool = dir.raw().await;
    pool.execute(&pool.dialect("UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = 1"))
        .await
        .unwrap();
    let err = db.check_schema().await.expect_err("edited migration");
    assert!(
        matches!(&err, StoreError::Schema(m) if m.contains("changed")),
        "{err:?}"
    );
}

async fn check_schema_fails_on_a_partially_applied_migration(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    let pool = dir.raw().await;
    pool.execute("UPDATE _sqlx_migrations SET success = FALSE WHERE version = 1")
        .await
        .unwrap();
    let err = db.check_schema().await.expect_err("dirty migration");
    assert!(matches!(err, StoreError::Schema(_)), "{err:?}");
}

#[tokio::test]
async fn connect_creates_the_missing_parent_directories_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a/b/gateway.db");
    let db = Database::connect(&format!("sqlite://{}", file.display()), 2)
        .await
        .expect("connect creates the file");
    db.migrate().await.unwrap();
    assert!(file.exists());
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&raw_file(&file).await)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

async fn raw_file(file: &std::path::Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap()
}

#[tokio::test]
async fn in_memory_database_migrates_and_serves() {
    let db = Database::connect("sqlite::memory:", 4).await.unwrap();
    db.migrate().await.unwrap();
    db.check_schema().await.unwrap();
    let p = db
        .upsert_person_on_login(&crate::helpers::login("dvcqg", "s1", Some("h1")))
        .await
        .unwrap();
    assert!(db.person(&p.id).await.unwrap().is_some());
}

#[tokio::test]
async fn unknown_urls_are_unsupported_and_never_echo_the_url() {
    for url in [
        "mysql://gw:s3cret@db/gateway",
        "s3cret",
        "redis://:s3cret@db",
    ] {
        let err = Database::connect(url, 4).await.expect_err("unknown scheme");
        assert!(matches!(err, StoreError::Unsupported(_)), "{err:?}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}

/// A database as the previous build left it (migration 0001 only, with data in it) is
/// reported as not migrated, serves the tables the previous build uses, and upgrades in place:
/// 0002 only adds tables, so nothing of what was there changes.
async fn a_database_of_the_previous_build_upgrades_in_place_and_keeps_its_data(backend: Backend) {
    let (dir, db) = empty_db(backend).await;
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let previous = tempfile::tempdir().unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(folder)
            .join("0001_initial.sql"),
        previous.path().join("0001_initial.sql"),
    )
    .unwrap();
    let migrator = sqlx::migrate::Migrator::new(previous.path()).await.unwrap();
    match dir.raw().await {
        Raw::Sqlite(pool) => migrator.run(&pool).await.unwrap(),
        Raw::Postgres(pool) => migrator.run(&pool).await.unwrap(),
    }

    let err = db.check_schema().await.expect_err("0002 is missing");
    assert!(
        matches!(&err, StoreError::Schema(m) if m.contains("not applied: 2")),
        "{err:?}"
    );
    // A person and their identity as the previous build wrote them (this build's writes need
    // the columns of later migrations: it never serves a database it has not migrated).
    let raw = dir.raw().await;
    raw.execute(
        "INSERT INTO people (id, created_at, updated_at, personal_id_hash, name) \
         VALUES ('p-1', 0, 0, 'hash-1', 'Nguyễn Văn An')",
    )
    .await
    .unwrap();
    raw.execute(
        "INSERT INTO upstream_identities (upstream, subject, person_id, login_idp, level, \
         first_seen, last_login) VALUES ('dvcqg', 'sub-1', 'p-1', 'BCA', 2, 0, 0)",
    )
    .await
    .unwrap();

    db.migrate().await.unwrap();
    db.check_schema().await.unwrap();
    let again = db
        .upsert_person_on_login(&login("dvcqg", "sub-1", Some("hash-1")))
        .await
        .unwrap();
    assert_eq!(again.id, "p-1");
    assert!(!again.created);
    db.create_refresh_family(
        &NewRefreshFamily {
            family_id: "fam-1".into(),
            client_id: "portal".into(),
            person_id: again.id,
            scopes: vec!["openid".into()],
            sid: "sid-1".into(),
            auth_time: t(0),
            level: 2,
            idp: "dvcqg".into(),
            login_idp: Some("BCA".into()),
            dpop_jkt: None,
            created_at: t(0),
            expires_at: t(3600),
        },
        "h0",
    )
    .await
    .unwrap();
}

async fn a_closed_pool_is_reported_unavailable(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    db.close().await;
    let err = db.ping().await.expect_err("closed");
    assert!(err.is_unavailable(), "{err:?}");
}

on_every_backend! {
    migrate_then_check_schema_succeeds,
    migrate_twice_is_harmless,
    check_schema_fails_on_an_empty_database,
    check_schema_fails_when_a_known_migration_is_not_applied,
    check_schema_tolerates_a_newer_builds_migrations_and_refuses_an_unknown_older_one,
    check_schema_fails_when_an_applied_migration_was_edited,
    check_schema_fails_on_a_partially_applied_migration,
    a_database_of_the_previous_build_upgrades_in_place_and_keeps_its_data,
    a_closed_pool_is_reported_unavailable,
}
