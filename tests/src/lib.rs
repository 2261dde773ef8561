//! Helpers for the end-to-end tests: start the real gateway (port 0, fresh SQLite in a temp dir)
//! and the real simulator, and drive logins over HTTP like a browser that keeps cookies and
//! follows no redirects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::sync::Arc;

use base64::Engine as _;
use reqwest::header::LOCATION;
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;
use vneid_core::SystemClock;
use vneid_gateway::{Application, Settings};

pub const PORTAL: &str = "portal";
pub const PORTAL_SECRET: &str = "portal-secret-0123456789-abcdefghijklmnop";
pub const PORTAL_CB: &str = "http://127.0.0.1:9/cb";
pub const PASSWORD: &str = "matkhau123";

/// People of the simulator's built-in fixture.
pub mod people {
    pub const LEVEL2_CITIZEN: &str = "052090000123";
    pub const LEVEL1_CITIZEN: &str = "052195004567";
    pub const LEVEL2_OFFICER: &str = "052085007890";
    pub const VNPOST: &str = "052178001122";
    pub const OLD_PORTAL: &str = "052065003344";
    pub const NO_IAL: &str = "052301005566";
    pub const UNKNOWN_PROVINCE: &str = "003090000789";
    pub const ELEVEN_DIGITS: &str = "05219200345";
    pub const BIRTH_YEAR_MISMATCH: &str = "052090004455";
    pub const IAL_NOT_INTEGER: &str = "052192006677";
    /// An organisation's account (`LoaiTaiKhoan` "2"), IAL 2.
    pub const ORGANISATION: &str = "052080008899";
    /// An account type the gateway does not know (`LoaiTaiKhoan` "3").
    pub const UNKNOWN_ACCOUNT_TYPE: &str = "052091007788";
}

pub struct TestGateway {
    pub url: String,
    pub app: actix_web::web::Data<vneid_gateway::state::AppState>,
    pub dir: tempfile::TempDir,
}

/// Which backends the tests run on: `VNEID_TEST_BACKEND=postgres` for Postgres + Redis (CI runs
/// the suite on both), anything else for the embedded SQLite + memory.
pub fn postgres_backend() -> bool {
    std::env::var("VNEID_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

pub fn admin_postgres_url() -> String {
    std::env::var("VNEID_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("VNEID_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

static CLEANUP: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// A fresh, migrated Postgres database for one test.
pub async fn fresh_postgres_database() -> String {
    let url = empty_postgres_database().await;
    let db = vneid_store::Database::connect(&url, 2).await.unwrap();
    db.migrate().await.unwrap();
    db.close().await;
    url
}

/// A fresh, empty (unmigrated) Postgres database. Databases left by earlier runs of this suite
/// are dropped once per process.
pub async fn empty_postgres_database() -> String {
    use sqlx::Connection as _;
    let admin = admin_postgres_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("Postgres for the tests");
    CLEANUP
        .get_or_init(|| async {
            let mut c = sqlx::PgConnection::connect(&admin_postgres_url()).await.unwrap();
            let old: Vec<(String,)> = sqlx::query_as(
                "SELECT datname FROM pg_database WHERE datname LIKE 'vneid_e2e_%' \
                 AND datname NOT IN (SELECT datname FROM pg_stat_activity WHERE datname IS NOT NULL)",
            )
            .fetch_all(&mut c)
            .await
            .unwrap();
            for (name,) in old {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\"")).execute(&mut c).await;
            }
        })
        .await;
    let name = format!("vneid_e2e_{}", rand_hex());
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    let url = match admin.rfind('/') {
        Some(i) => format!("{}/{name}", &admin[..i]),
        None => panic!("VNEID_TEST_POSTGRES_URL must end with /DATABASE"),
    };
    url
}

/// The `[database]` and `[ephemeral]` sections for the backend under test.
pub async fn backend_sections(dir: &std::path::Path) -> String {
    if postgres_backend() {
        format!(
            "[database]\nurl = \"{}\"\n\n[ephemeral]\nurl = \"{}\"\nkey_prefix = \"e2e-{}:\"\n",
            fresh_postgres_database().await,
            redis_url(),
            rand_hex()
        )
    } else {
        format!(
            "[database]\nurl = \"sqlite://{}\"\n",
            dir.join("gateway.db").display()
        )
    }
}

/// The base configuration every test starts from: a portal client, the backend under test.
pub async fn base_config(dir: &std::path::Path, extra: &str) -> String {
    let backend = backend_sections(dir).await;
    format!(
        r#"
[server]
bind = "127.0.0.1:0"

{backend}

[keys]
master_key_file = "{key}"

[log]
format = "pretty"
filter = "warn"

[[clients]]
client_id = "{PORTAL}"
client_secret = "{PORTAL_SECRET}"
redirect_uris = ["{PORTAL_CB}"]
scopes = ["openid", "profile", "personal_id"]
min_level = 2
name = "Cổng dịch vụ công tỉnh"

[[clients]]
client_id = "public-app"
redirect_uris = ["http://127.0.0.1:9/app"]
scopes = ["openid", "profile"]
{extra}
"#,
        key = dir.join("master.key").display(),
    )
}

/// A shared database needs a master key made by the operator; make `dir/master.key` as they
/// would (`openssl rand -base64 32`).
pub fn ensure_master_key(dir: &std::path::Path) -> std::path::PathBuf {
    let key = dir.join("master.key");
    if !key.exists() {
        let mut b = [0u8; 32];
        aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut b).unwrap();
        std::fs::write(&key, base64::engine::general_purpose::STANDARD.encode(b)).unwrap();
    }
    key
}

/// The environment a test gateway gets: on Postgres + Redis the simulator must be allowed
/// beside them explicitly, as an operator of a test deployment would.
pub fn test_env() -> Vec<(String, String)> {
    if postgres_backend() {
        vec![(
            "GATEWAY__SIMULATOR__ALLOW_WITH_PRODUCTION_BACKENDS".into(),
            "true".into(),
        )]
    } else {
        Vec::new()
    }
}

pub fn settings_from(text: &str, dir: &std::path::Path) -> Settings {
    ensure_master_key(dir);
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    Settings::load(Some(&path), test_env()).unwrap()
}

/// The gateway with the simulator mounted in it at `/simulator` as its only upstream.
pub async fn spawn_embedded(extra: &str) -> TestGateway {
    let dir = tempfile::tempdir().unwrap();
    let cfg = base_config(dir.path(), &format!("[simulator]\nenabled = true\n{extra}")).await;
    let settings = settings_from(&cfg, dir.path());
    start(settings, dir, None).await
}

/// Starts a gateway on `listener` (or a fresh port-0 one).
pub async fn start(
    settings: Settings,
    dir: tempfile::TempDir,
    listener: Option<TcpListener>,
) -> TestGateway {
    let listener = listener.unwrap_or_else(|| TcpListener::bind("127.0.0.1:0").unwrap());
    let app = Application::build_on(settings, Arc::new(SystemClock), listener)
        .await
        .unwrap();
    let url = app.issuer().to_owned();
    let state = app.state();
    actix_web::rt::spawn(app.run_until_stopped());
    TestGateway {
        url,
        app: state,
        dir,
    }
}

/// A browser: keeps cookies, follows no redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location in a {} response", res.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

pub fn query(url: &str) -> std::collections::HashMap<String, String> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

pub fn pkce() -> Pkce {
    let verifier = format!(
        "verifier-{}-0123456789abcdefghijklmnopqrstuvwxyz",
        rand_hex()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
    );
    Pkce {
        verifier,
        challenge,
    }
}

pub fn rand_hex() -> String {
    load::random_hex().unwrap()
}

/// An authorization request of the test portal.
pub fn authorize_url(gw: &str, pkce: &Pkce, extra: &[(&str, &str)]) -> String {
    let mut u = Url::parse(&format!("{gw}/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", PORTAL)
        .append_pair("redirect_uri", PORTAL_CB)
        .append_pair("scope", "openid profile personal_id")
        .append_pair("state", "st-123")
        .append_pair("nonce", "n-456")
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        u.query_pairs_mut().append_pair(k, v);
    }
    u.to_string()
}

/// The value of the hidden form field `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    load::hidden(html, name).unwrap_or_else(|| panic!("no {name} in page:\n{html}"))
}

/// Where a login ended at the gateway's callback.
pub enum Ended {
    /// Redirected to the portal with these query parameters.
    Portal(std::collections::HashMap<String, String>),
    /// A page (refusal or error) with its status and HTML.
    Page(StatusCode, String),
}

/// Goes from the upstream's authorize URL to the gateway's callback with password + OTP and
/// returns the callback URL.
pub async fn upstream_password_otp(
    b: &reqwest::Client,
    upstream_authorize: &str,
    who: &str,
) -> String {
    let page = b.get(upstream_authorize).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "upstream login page");
    let html = page.text().await.unwrap();
    assert!(html.contains("Đăng nhập"), "{html}");
    let request = hidden(&html, "request");
    let base = upstream_authorize
        .split("/oauth2/authorize")
        .next()
        .unwrap()
        .to_owned();
    let res = b
        .post(format!("{base}/login"))
        .form(&[
            ("request", request.as_str()),
            ("personal_id", who),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let html = res.text().await.unwrap();
    assert!(html.contains("Mã OTP"), "OTP page expected:\n{html}");
    let messages: Value = b
        .get(format!("{base}/phone/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let otp = messages
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["request"].as_str() == Some(request.as_str()))
        .unwrap_or_else(|| panic!("no OTP for the request in {messages}"))["otp"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = b
        .post(format!("{base}/otp"))
        .form(&[("request", request.as_str()), ("otp", otp.as_str())])
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_redirection(),
        "OTP accepted: {}",
        res.status()
    );
    location(&res)
}

/// A whole login of `who` through the embedded or standalone simulator, from the portal's
/// authorize URL to where the gateway sends the browser.
pub async fn login(b: &reqwest::Client, authorize: &str, who: &str) -> Ended {
    let res = b.get(authorize).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FOUND,
        "authorize redirects upstream: {}",
        res.text().await.unwrap_or_default()
    );
    let upstream = location(&res);
    let callback = upstream_password_otp(b, &upstream, who).await;
    finish(b, &callback).await
}

pub async fn finish(b: &reqwest::Client, callback: &str) -> Ended {
    let res = b.get(callback).send().await.unwrap();
    if res.status() == StatusCode::FOUND {
        let to = location(&res);
        assert!(
            to.starts_with(PORTAL_CB),
            "redirected to the portal, got {to}"
        );
        Ended::Portal(query(&to))
    } else {
        let status = res.status();
        Ended::Page(status, res.text().await.unwrap())
    }
}

/// Exchanges a code as the test portal (client_secret_basic).
pub async fn exchange(gw: &str, code: &str, verifier: &str) -> reqwest::Response {
    exchange_as(gw, (PORTAL, PORTAL_SECRET), code, verifier).await
}

/// Exchanges a code as `client` (id, secret; client_secret_basic).
pub async fn exchange_as(
    gw: &str,
    client: (&str, &str),
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{gw}/token"))
        .basic_auth(client.0, Some(client.1))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", PORTAL_CB),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
}

/// The gateway's `/metrics` text.
pub async fn metrics(gw: &str) -> String {
    reqwest::get(format!("{gw}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the first metric line starting with `line_start` (0 when there is none).
pub async fn metric_value(gw: &str, line_start: &str) -> f64 {
    metrics(gw)
        .await
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The latest audit events of `kind`, newest first.
pub async fn audit_of(gw: &TestGateway, kind: &str) -> Vec<vneid_store::AuditEvent> {
    gw.app
        .db
        .list_audit(&vneid_store::AuditFilter {
            kind: Some(kind.into()),
            limit: 50,
            ..vneid_store::AuditFilter::default()
        })
        .await
        .unwrap()
}

/// Verifies a JWT of the gateway against its published JWKS, as an RP would.
pub async fn verify(gw: &str, token: &str, audience: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(format!("{gw}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid published in the JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[audience]);
    v.set_issuer(&[gw]);
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .unwrap()
        .claims
}

pub mod client_keys;
pub mod pki;
pub mod services;

/// How long a test waits for something that must happen soon (a process answering, a reload,
/// a retried delivery) before calling it a hang. Generous on purpose: it detects what never
/// happens on a busy machine and measures nothing; no test asserts how fast anything was.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(90);

/// Calls `poll` every 100 ms until it gives a value; panics naming `what` after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut poll: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = poll().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still not after {PATIENCE:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `fut`, or a panic naming `what` if it has not finished after [`PATIENCE`] (a hang).
pub async fn without_hanging<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: hung for {PATIENCE:?}"),
    }
}

pub mod openapi;

pub mod load;
