use chrono::{DateTime, NaiveDate, Utc};
use tempfile::TempDir;
use vneid_store::{Database, LoginUpsert};

/// A fresh, migrated SQLite database in its own temp dir (kept alive by the returned guard).
pub async fn migrated_db() -> (TempDir, Database) {
    let (dir, db) = empty_db().await;
    db.migrate().await.expect("migrate");
    (dir, db)
}

/// A fresh SQLite database file with no schema.
pub async fn empty_db() -> (TempDir, Database) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::connect(&sqlite_url(&dir), 8)
        .await
        .expect("connect");
    (dir, db)
}

pub fn sqlite_url(dir: &TempDir) -> String {
    format!("sqlite://{}/gateway.db", dir.path().display())
}

/// A second, raw connection pool to the same file, for checks the API does not offer.
pub async fn raw(dir: &TempDir) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&sqlite_url(dir))
        .await
        .expect("raw connect")
}

pub fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000 + secs, 0).expect("timestamp")
}

pub fn login(upstream: &str, subject: &str, hash: Option<&str>) -> LoginUpsert {
    LoginUpsert {
        upstream: upstream.into(),
        subject: subject.into(),
        personal_id_hash: hash.map(Into::into),
        personal_id_sealed: hash.map(|h| format!("sealed:{h}").into_bytes()),
        name: Some("Nguyễn Văn An".into()),
        birthdate: NaiveDate::from_ymd_opt(1990, 5, 17),
        login_idp: Some("BCA".into()),
        level: 2,
        at: t(0),
    }
}

pub async fn count(pool: &sqlx::SqlitePool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .expect("count")
}
