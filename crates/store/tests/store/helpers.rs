use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row as _;
use tempfile::TempDir;
use vneid_store::{Database, LoginUpsert};

/// The durable backends every repository test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temp dir of its own.
    Sqlite,
    /// A database of its own on the Postgres at `VNEID_TEST_POSTGRES_URL`.
    Postgres,
}

/// Generates, for each `async fn NAME(backend: Backend)` listed, a `#[tokio::test]` per
/// backend: `sqlite::NAME` and `postgres::NAME`. Arguments in parentheses after a name go to
/// `#[tokio::test(...)]`.
///
/// The Postgres variants fail when Postgres cannot be reached (CI provides one); set
/// `VNEID_TEST_SKIP_POSTGRES=1` to skip them instead.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident $(($($arg:tt)*))?),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test $(($($arg)*))?]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test $(($($arg)*))?]
                async fn $name() {
                    if $crate::helpers::skip_postgres() {
                        eprintln!("skipped: VNEID_TEST_SKIP_POSTGRES=1");
                        return;
                    }
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// True when `VNEID_TEST_SKIP_POSTGRES=1`: the Postgres variants of the tests pass without
/// running. Otherwise an unreachable Postgres fails them.
pub fn skip_postgres() -> bool {
    std::env::var("VNEID_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

/// A URL of the Postgres server's maintenance database, where test databases are made.
pub fn admin_postgres_url() -> String {
    std::env::var("VNEID_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `admin` with its database name replaced by `database`.
pub fn postgres_url_for(admin: &str, database: &str) -> String {
    let (base, query) = admin.split_once('?').unwrap_or((admin, ""));
    let slash = base
        .rfind('/')
        .filter(|&i| i > "postgres://".len())
        .expect("VNEID_TEST_POSTGRES_URL must end with /DATABASE");
    let mut url = format!("{}/{database}", &base[..slash]);
    if !query.is_empty() {
        url = format!("{url}?{query}");
    }
    url
}

/// A fresh, empty database for one test: a SQLite file in a temp dir, or a Postgres database
/// `vneid_test_<random hex>`. Both go away when this is dropped (the Postgres one with
/// `DROP DATABASE … WITH (FORCE)`, even when the test panicked).
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    _dir: Option<TempDir>,
    postgres_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                Self {
                    backend,
                    url: format!("sqlite://{}/gateway.db", dir.path().display()),
                    _dir: Some(dir),
                    postgres_name: None,
                }
            }
            Backend::Postgres => {
                let name = format!("vneid_test_{}", uuid::Uuid::new_v4().simple());
                let admin = admin_postgres_url();
                let mut conn = admin_connection(&admin).await;
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut conn)
                    .await
                    .expect("CREATE DATABASE for a test");
                Self {
                    backend,
                    url: postgres_url_for(&admin, &name),
                    _dir: None,
                    postgres_name: Some(name),
                }
            }
        }
    }

    /// The store on this database.
    pub async fn connect(&self) -> Database {
        Database::connect(&self.url, 8).await.expect("connect")
    }

    /// A second, raw connection pool to the same database, for checks the API does not offer.
    pub async fn raw(&self) -> Raw {
        match self.backend {
            Backend::Sqlite => Raw::Sqlite(
                sqlx::SqlitePool::connect(&self.url)
                    .await
                    .expect("raw connect"),
            ),
            Backend::Postgres => {
                Raw::Postgres(sqlx::PgPool::connect(&self.url).await.expect("raw connect"))
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which must not be blocked on itself: drop the
        // database from a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                use sqlx::Connection as _;
                let mut conn = sqlx::PgConnection::connect(&admin_postgres_url()).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop a test database: {e}");
        }
    }
}

/// A connection to the admin database; fails the test with a clear message when Postgres is
/// unreachable (unless the Postgres tests are skipped, they never get here then).
pub async fn admin_connection(admin: &str) -> sqlx::PgConnection {
    use sqlx::Connection as _;
    match sqlx::PgConnection::connect(admin).await {
        Ok(conn) => conn,
        Err(e) => panic!(
            "Postgres for the store tests is unreachable ({e}); start one and point \
             VNEID_TEST_POSTGRES_URL at it (default postgres://postgres@127.0.0.1:5432/postgres), \
             or set VNEID_TEST_SKIP_POSTGRES=1 to skip the Postgres variants"
        ),
    }
}

/// A fresh, migrated database (kept alive by the returned guard).
pub async fn migrated_db(backend: Backend) -> (TestDb, Database) {
    let (test_db, db) = empty_db(backend).await;
    db.migrate().await.expect("migrate");
    (test_db, db)
}

/// A fresh database migrated as a build before migration `before` (e.g. `"0007"`) left it:
/// only the migrations whose file names sort before it. The store is not migrated further.
pub async fn migrated_before(backend: Backend, before: &str) -> (TestDb, Database, Raw) {
    let (test_db, db) = empty_db(backend).await;
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let previous = tempfile::tempdir().expect("tempdir");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder);
    for entry in std::fs::read_dir(dir).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name.as_str() < before {
            std::fs::copy(&path, previous.path().join(&name)).expect("copy");
        }
    }
    let migrator = sqlx::migrate::Migrator::new(previous.path())
        .await
        .expect("migrator");
    let raw = test_db.raw().await;
    match &raw {
        Raw::Sqlite(pool) => migrator.run(pool).await.expect("old migrations"),
        Raw::Postgres(pool) => migrator.run(pool).await.expect("old migrations"),
    }
    (test_db, db, raw)
}

/// A fresh database with no schema.
pub async fn empty_db(backend: Backend) -> (TestDb, Database) {
    let test_db = TestDb::new(backend).await;
    let db = test_db.connect().await;
    (test_db, db)
}

/// A raw pool on either backend, for SQL the store's API does not offer.
pub enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    /// Runs one statement; the number of rows it touched.
    pub async fn execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Raw::Sqlite(p) => sqlx::query(sql).execute(p).await?.rows_affected(),
            Raw::Postgres(p) => sqlx::query(sql).execute(p).await?.rows_affected(),
        })
    }

    /// The integer columns of the one row `sql` returns.
    pub async fn fetch_i64s(&self, sql: &str) -> Vec<i64> {
        match self {
            Raw::Sqlite(p) => {
                let row = sqlx::query(sql).fetch_one(p).await.expect(sql);
                (0..row.len()).map(|i| row.get::<i64, _>(i)).collect()
            }
            Raw::Postgres(p) => {
                let row = sqlx::query(sql).fetch_one(p).await.expect(sql);
                (0..row.len()).map(|i| row.get::<i64, _>(i)).collect()
            }
        }
    }

    /// The text column of every row `sql` returns.
    pub async fn fetch_strings(&self, sql: &str) -> Vec<String> {
        match self {
            Raw::Sqlite(p) => sqlx::query_scalar(sql).fetch_all(p).await.expect(sql),
            Raw::Postgres(p) => sqlx::query_scalar(sql).fetch_all(p).await.expect(sql),
        }
    }

    /// `sql` in the dialect of this backend: `X'00'` blob literals become `'\x00'::bytea`.
    pub fn dialect(&self, sql: &str) -> String {
        match self {
            Raw::Sqlite(_) => sql.to_owned(),
            Raw::Postgres(_) => sql.replace("X'00'", r"'\x00'::bytea"),
        }
    }
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
        account_type: vneid_core::AccountType::Citizen,
        organisation_key: None,
        organisation_sealed: None,
    }
}

pub async fn count(pool: &Raw, table: &str) -> i64 {
    pool.fetch_i64s(&format!("SELECT COUNT(*) FROM {table}"))
        .await[0]
}
