//! Wiring: `Application::build(settings)` binds the listener (port 0 works), connects the
//! stores, loads keys, and builds the server; `run_until_stopped()` serves until SIGTERM/SIGINT.

use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context as _;
use secrecy::{ExposeSecret, SecretString};
use url::Url;
use vneid_core::{Clock, SystemClock};
use vneid_simulator::{SimClient, Simulator, SimulatorConfig};
use vneid_store::{Database, DbOptions, EphemeralOptions, SigningKeyRow};
use vneid_tokens::{generate_signing_key, random_token, KeyRecord, KeySet, MasterKey};
use vneid_upstream::{Upstream, UpstreamConfig};

use crate::clients::{Actor, ClientRegistry};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::state::{AppState, Client};
use crate::{admin, console, demo, directory, logout, oidc, ops, pages, telemetry, throttle};

/// The id of the built-in upstream in the embedded default.
pub const EMBEDDED_UPSTREAM: &str = "vneid";
/// The demo portal's client id.
pub const DEMO_CLIENT: &str = "demo";

pub struct Application {
    port: u16,
    issuer: String,
    server: Server,
    state: web::Data<AppState>,
}

/// The Content-Security-Policy of the gateway's own pages: no script at all, no framing.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self' https: http://127.0.0.1:* http://localhost:*; frame-ancestors 'none'; base-uri 'none'";

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.server.bind)
            .with_context(|| format!("server.bind: cannot listen on {}", settings.server.bind))?;
        Self::build_on(settings, clock, listener).await
    }

    /// Builds on a listener the caller bound already (tests that must know the port first).
    pub async fn build_on(
        mut settings: Settings,
        clock: Arc<dyn Clock>,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let issuer = match &settings.server.public_url {
            Some(u) => u.as_str().trim_end_matches('/').to_owned(),
            None => {
                let addr = listener.local_addr()?;
                let host = if addr.ip().is_unspecified() {
                    "127.0.0.1".to_owned()
                } else {
                    addr.ip().to_string()
                };
                format!("http://{host}:{port}")
            }
        };

        let db = connect_database(&settings, settings.database.max_connections).await?;
        if settings.database.url.starts_with("sqlite:") {
            // The embedded database migrates itself; a shared one is migrated by `gateway migrate`.
            db.migrate().await.context("migrating the database")?;
        }
        db.check_schema().await.context(
            "the database schema is not the one this build knows: run `gateway migrate`",
        )?;
        let master = load_master_key(&settings)?;
        let ephemeral = vneid_store::connect_ephemeral_with(
            &EphemeralOptions {
                url: settings.ephemeral.url.clone(),
                key_prefix: settings.ephemeral.key_prefix.clone(),
                timeout: settings.ephemeral.timeout,
                max_entries: settings.ephemeral.max_entries,
            },
            clock.clone(),
        )
        .await
        .context("ephemeral.url: cannot connect")?;
        let keys = ensure_keys(&db, &master, &settings, clock.now()).await?;

        // The embedded default: the simulator in this process is the upstream.
        let mut extra_clients = Vec::new();
        if settings.simulator.enabled && settings.upstreams.is_empty() {
            settings.upstreams.push(embedded_upstream(&issuer)?);
        }
        if settings.demo.enabled && !settings.clients.iter().any(|c| c.client_id == DEMO_CLIENT) {
            extra_clients.push(demo::client_settings(&issuer)?);
        }
        if !settings
            .clients
            .iter()
            .any(|c| c.client_id == console::CONSOLE_CLIENT)
        {
            extra_clients.push(console::client_settings(&issuer)?);
        }
        settings.clients.extend(extra_clients);

        let timeout = settings.server.upstream_timeout;
        let http = vneid_upstream::http_client(timeout);
        let mut upstreams = Vec::new();
        for u in &settings.upstreams {
            let redirect = Url::parse(&format!("{issuer}/login/{}/callback", u.id))?;
            upstreams.push(
                Upstream::new(u.clone(), redirect, http.clone())
                    .with_context(|| format!("upstreams[{}]", u.id))?,
            );
        }
        let simulator = if settings.simulator.enabled {
            Some(build_simulator(&settings, &issuer)?)
        } else {
            None
        };
        // Clients of the configuration file, then those of the database (`gateway clients add`,
        // the admin API); a client in the configuration file wins over one of the same id there.
        let clients = ClientRegistry::new(
            settings
                .clients
                .iter()
                .map(|c| Client::from_settings(c, &master)),
        );
        clients.reload(&db).await.context("reading the clients")?;

        let metrics = Metrics::new()?;
        let ephemeral_full = Arc::new(crate::ephemeral::FullSince::default());
        let ephemeral = crate::ephemeral::Counted::wrap(
            ephemeral,
            metrics.ephemeral_full.clone(),
            ephemeral_full.clone(),
            clock.clone(),
        );
        let limiter = crate::ratelimit::RateLimiter::new(
            ephemeral.clone(),
            settings.ephemeral.url.starts_with("memory:"),
            settings.limits.clone(),
            clock.clone(),
        );
        let state = web::Data::new(AppState {
            issuer: issuer.clone(),
            db,
            ephemeral,
            master,
            keys: RwLock::new(Arc::new(keys)),
            upstreams,
            clients,
            metrics,
            clock,
            ephemeral_full,
            revocation_refill: tokio::sync::Mutex::new(()),
            limiter,
            http,
            settings: settings.clone(),
        });
        spawn_key_reloader(state.clone());
        crate::revocation::spawn_pruner(state.clone(), Duration::from_secs(600));
        crate::ephemeral::spawn_housekeeping(state.clone(), Duration::from_secs(5));
        spawn_client_reloader(state.clone());
        directory::spawn_gauge_refresher(state.clone());

        let workers = if settings.server.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        } else {
            settings.server.workers
        };
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            let mut app = App::new()
                .app_data(app_state.clone())
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    crate::errors::PageError::bad_request("Yêu cầu không hợp lệ", e.to_string())
                        .into()
                }))
                .app_data(web::FormConfig::default().limit(64 * 1024))
                .app_data(web::PayloadConfig::new(64 * 1024))
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Content-Security-Policy", CSP))
                        .add(("X-Frame-Options", "DENY"))
                        .add(("Referrer-Policy", "no-referrer")),
                )
                .wrap(from_fn(ops::http_metrics))
                .wrap(tracing_actix_web::TracingLogger::<telemetry::GatewaySpan>::new())
                .wrap(from_fn(telemetry::request_id))
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(oidc::discovery),
                )
                .route("/jwks", web::get().to(oidc::jwks))
                .service(
                    web::resource("/authorize")
                        .wrap(from_fn(throttle::login_start))
                        .route(web::get().to(oidc::authorize)),
                )
                .route("/login/{upstream}/callback", web::get().to(oidc::callback))
                .service(
                    web::resource("/token")
                        .wrap(from_fn(throttle::token))
                        .route(web::post().to(oidc::token)),
                )
                .service(
                    web::resource("/introspect")
                        .wrap(from_fn(throttle::token))
                        .route(web::post().to(oidc::introspect)),
                )
                .service(
                    web::resource("/revoke")
                        .wrap(from_fn(throttle::token))
                        .route(web::post().to(oidc::revoke)),
                )
                .route("/logout", web::get().to(logout::logout))
                .route("/logout", web::post().to(logout::logout))
                .service(
                    web::resource("/userinfo")
                        .wrap(from_fn(throttle::userinfo))
                        .route(web::get().to(oidc::userinfo))
                        .route(web::post().to(oidc::userinfo)),
                )
                .route("/healthz", web::get().to(ops::healthz))
                .route("/healthz", web::head().to(ops::healthz))
                .route("/readyz", web::get().to(ops::readyz))
                .route("/readyz", web::head().to(ops::readyz))
                .route("/metrics", web::get().to(ops::metrics))
                .service(
                    web::scope("/admin/v1")
                        .configure(admin::routes)
                        .configure(directory::routes)
                        .default_service(web::to(admin::not_found)),
                )
                .configure(console::configure)
                .route("/", web::get().to(home));
            if let Some(sim) = &simulator {
                let sim = sim.clone();
                app = app.service(web::scope("/simulator").configure(move |c| sim.configure(c)));
            }
            if app_state.settings.demo.enabled {
                app = app.configure(demo::configure);
            }
            app.default_service(web::to(not_found))
        })
        .workers(workers)
        .shutdown_timeout(settings.server.shutdown_timeout.as_secs())
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            issuer,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until the server is stopped (SIGTERM/SIGINT: stop accepting, let in-flight
    /// requests finish within `server.shutdown_timeout`, return).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

async fn home(state: web::Data<AppState>) -> HttpResponse {
    let mut links = String::new();
    if state.settings.demo.enabled {
        links.push_str("<li><a href=\"/demo\">Cổng dịch vụ công thử nghiệm (demo)</a></li>");
    }
    if state.settings.simulator.enabled {
        links.push_str("<li><a href=\"/simulator/phone\">Điện thoại giả lập (nhận mã OTP, quét mã QR)</a></li>");
    }
    pages::html(
        actix_web::http::StatusCode::OK,
        "vneid-gateway",
        &format!(
            "<h1>Hệ thống xác thực tập trung</h1><p>Cổng xác thực VNeID cho Hệ thống Một cửa điện tử. \
Các cổng dịch vụ chuyển người dùng đến đây bằng OpenID Connect.</p><ul>{links}\
<li><a href=\"/.well-known/openid-configuration\">Cấu hình OpenID Connect</a></li></ul>"
        ),
    )
}

async fn not_found() -> HttpResponse {
    pages::error_page(
        actix_web::http::StatusCode::NOT_FOUND,
        "Không tìm thấy trang",
        "Địa chỉ bạn truy cập không tồn tại.",
    )
}

/// The master key: configured value, configured file, or (beside SQLite only) a file made now.
pub(crate) fn load_master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Some(k) = &settings.keys.master_key {
        return MasterKey::from_base64(k.expose_secret().trim())
            .map_err(|e| anyhow::anyhow!("keys.master_key: {e}"));
    }
    let path = settings
        .master_key_path()
        .context("keys.master_key_file: required")?;
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("keys.master_key_file: cannot read {}", path.display()))?;
        return MasterKey::from_base64(text.trim())
            .map_err(|e| anyhow::anyhow!("keys.master_key_file {}: {e}", path.display()));
    }
    if settings.keys.master_key_file.is_some() && !settings.database.url.starts_with("sqlite:") {
        anyhow::bail!("keys.master_key_file: {} does not exist", path.display());
    }
    let key = MasterKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
    write_secret_file(&path, &key.to_base64())?;
    tracing::warn!(
        path = %path.display(),
        "made a new master key; it encrypts the signing keys and personal ID numbers: back it up with the database"
    );
    Ok(key)
}

fn write_secret_file(path: &Path, content: &str) -> anyhow::Result<()> {
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        crate::files::create_private_dir(dir).map_err(anyhow::Error::msg)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut f, content.as_bytes())?;
    Ok(())
}

fn to_row(r: KeyRecord) -> SigningKeyRow {
    SigningKeyRow {
        kid: r.kid,
        alg: r.alg.as_str().to_owned(),
        created_at: r.created_at,
        activates_at: r.activates_at,
        retires_at: r.retires_at,
        private_key_sealed: r.private_key_sealed,
        public_jwk: r.public_jwk,
    }
}

fn from_row(r: SigningKeyRow) -> anyhow::Result<KeyRecord> {
    Ok(KeyRecord {
        alg: r
            .alg
            .parse()
            .map_err(|e| anyhow::anyhow!("signing key {}: {e}", r.kid))?,
        kid: r.kid,
        created_at: r.created_at,
        activates_at: r.activates_at,
        retires_at: r.retires_at,
        private_key_sealed: r.private_key_sealed,
        public_jwk: r.public_jwk,
    })
}

/// Loads the key set from the database.
pub async fn load_keys(
    db: &Database,
    master: &MasterKey,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Option<KeySet>> {
    let rows = db.list_signing_keys().await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let records = rows
        .into_iter()
        .map(from_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(
        KeySet::from_records(&records, master, now)
            .map_err(|e| anyhow::anyhow!("signing keys: {e}"))?,
    ))
}

/// Makes a new signing key and stores it; it signs `delay` after it is stored (and so
/// published), counted from after the key generation, which takes a noticeable time for RSA.
pub async fn add_signing_key(
    db: &Database,
    master: &MasterKey,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
    delay: chrono::Duration,
) -> anyhow::Result<(String, chrono::DateTime<chrono::Utc>)> {
    let alg = settings.tokens.signing_alg;
    let started = std::time::Instant::now();
    let key = tokio::task::spawn_blocking(move || generate_signing_key(alg, now))
        .await?
        .map_err(|e| anyhow::anyhow!("generating a signing key: {e}"))?;
    let stored_at = now + chrono::Duration::from_std(started.elapsed())?;
    // The very first key signs at once: there is nothing a portal could have cached.
    let activates_at = if delay.is_zero() {
        now
    } else {
        stored_at + delay
    };
    let record = master
        .seal_signing_key(&key, activates_at)
        .map_err(|e| anyhow::anyhow!("sealing the signing key: {e}"))?;
    let kid = record.kid.clone();
    db.insert_signing_key(&to_row(record)).await?;
    Ok((kid, activates_at))
}

async fn ensure_keys(
    db: &Database,
    master: &MasterKey,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<KeySet> {
    if let Some(k) = load_keys(db, master, now).await? {
        return Ok(k);
    }
    let (kid, _) = add_signing_key(db, master, settings, now, chrono::Duration::zero()).await?;
    tracing::info!(kid = %kid, alg = settings.tokens.signing_alg.as_str(), "made the first signing key");
    load_keys(db, master, now)
        .await?
        .context("the signing key just stored is not there")
}

/// Every replica re-reads the keys every `tokens.key_reload_interval`, and at the moment a
/// published key becomes the signing key or a retired one leaves the JWKS, so a rotation made
/// anywhere is picked up without a restart.
fn spawn_key_reloader(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        loop {
            let interval = state.settings.tokens.key_reload_interval;
            let now = state.clock.now();
            let wait = state
                .key_set()
                .next_transition()
                .and_then(|t| (t - now).to_std().ok())
                .map(|d| d.min(interval))
                .unwrap_or(interval);
            tokio::time::sleep(wait.max(Duration::from_millis(100))).await;
            match load_keys(&state.db, &state.master, state.clock.now()).await {
                Ok(Some(k)) => {
                    if let Ok(mut g) = state.keys.write() {
                        if g.signing_kid() != k.signing_kid() {
                            tracing::info!(kid = %k.signing_kid(), "signing with a new key");
                        }
                        *g = Arc::new(k);
                    }
                }
                Ok(None) => tracing::error!("no signing keys in the database"),
                Err(e) => {
                    tracing::warn!(error = %e, "reloading signing keys failed; keeping the current ones")
                }
            }
        }
    });
}

/// Every replica re-reads the database clients every `tokens.key_reload_interval`, so a client
/// added or removed on another replica or with `gateway clients add` is served (or refused)
/// without a restart. A replica where the change was made through the admin API reloads at once.
fn spawn_client_reloader(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        loop {
            let interval = state.settings.tokens.key_reload_interval;
            tokio::time::sleep(interval.max(Duration::from_millis(100))).await;
            if let Err(e) = state.clients.reload(&state.db).await {
                tracing::warn!(error = %e, "reloading the clients failed; keeping the current ones");
            }
        }
    });
}

fn embedded_upstream(issuer: &str) -> anyhow::Result<UpstreamConfig> {
    let secret = random_token(32).map_err(|e| anyhow::anyhow!("{e}"))?;
    let toml = format!(
        "id = \"{EMBEDDED_UPSTREAM}\"\nissuer = \"{issuer}/simulator\"\nclient_id = \"gateway\"\nclient_secret = \"{secret}\"\ndisplay_name = \"Tài khoản định danh điện tử VNeID (giả lập)\"\n"
    );
    Ok(toml::from_str(&toml)?)
}

fn build_simulator(settings: &Settings, issuer: &str) -> anyhow::Result<Simulator> {
    let people = match &settings.simulator.people_file {
        Some(p) => vneid_simulator::load_people(p)
            .map_err(|e| anyhow::anyhow!("simulator.people_file: {e}"))?,
        None => vneid_simulator::default_people(),
    };
    let clients = settings
        .upstreams
        .iter()
        .map(|u| SimClient {
            client_id: u.client_id.clone(),
            client_secret: u.client_secret.expose_secret().to_owned(),
            redirect_uris: vec![format!("{issuer}/login/{}/callback", u.id)],
        })
        .collect();
    let simulator = Simulator::new(SimulatorConfig {
        issuer: format!("{issuer}/simulator"),
        clients,
        people,
        field_names: settings.simulator.field_names.clone(),
    })
    .map_err(|e| anyhow::anyhow!("simulator: {e}"))?;
    if !settings.uses_production_backends() {
        return Ok(simulator);
    }
    // Only with simulator.allow_with_production_backends (validation refuses it otherwise).
    tracing::warn!(
        "the national-broker simulator is mounted at /simulator beside Postgres or Redis: \
anyone can approve any QR login and read every OTP there; never do this in production"
    );
    Ok(simulator.with_warning(
        "CẢNH BÁO: trình giả lập đang chạy cùng hệ thống thật (Postgres/Redis). Bất kỳ ai cũng \
có thể duyệt đăng nhập và đọc mã OTP tại đây. Chỉ dùng để kiểm thử.",
    ))
}

/// `gateway clients add`: registers the client in the database exactly as the admin API does
/// ([`crate::clients::register_client`]) and returns its secret — the only time it is shown.
pub async fn add_client(
    settings: &Settings,
    client: crate::config::ClientSettings,
) -> anyhow::Result<Option<String>> {
    let db = connect_database(settings, 2).await?;
    db.check_schema()
        .await
        .context("run `gateway migrate` first")?;
    let master = load_master_key(settings)?;
    let actor = Actor {
        via: "cli",
        by: None,
        request_id: None,
    };
    let (_, secret) =
        crate::clients::register_client(settings, &db, &master, client, &actor, chrono::Utc::now())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(secret.map(|s| s.expose_secret().to_owned()))
}

/// `gateway clients list`: the clients of the configuration file and of the database.
pub async fn list_clients(settings: &Settings) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut out: Vec<(String, String, String)> = settings
        .clients
        .iter()
        .map(|c| {
            (
                c.client_id.clone(),
                "config".to_owned(),
                c.grant_types.join(","),
            )
        })
        .collect();
    let db = connect_database(settings, 2).await?;
    db.check_schema()
        .await
        .context("run `gateway migrate` first")?;
    for row in db.list_clients().await? {
        out.push((
            row.client_id,
            "database".to_owned(),
            row.grant_types.join(","),
        ));
    }
    Ok(out)
}

/// A client's secret, made by the gateway: 256 random bits.
pub fn new_client_secret() -> anyhow::Result<SecretString> {
    crate::clients::new_client_secret().map_err(|e| anyhow::anyhow!("{e}"))
}

/// `gateway keys rotate`: adds a new key, active now; the old keys stay published.
pub async fn rotate_keys(settings: &Settings) -> anyhow::Result<Rotation> {
    let db = connect_database(settings, 2).await?;
    db.check_schema()
        .await
        .context("run `gateway migrate` first")?;
    let master = load_master_key(settings)?;
    rotate(&db, &master, settings, chrono::Utc::now()).await
}

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub kid: String,
    /// When the new key starts signing (now + `tokens.key_prepublish`).
    pub activates_at: chrono::DateTime<chrono::Utc>,
    /// Keys that stop being published, and when: after the last token they can sign expires.
    pub retiring: Vec<(String, chrono::DateTime<chrono::Utc>)>,
}

/// Adds a key that is published now and signs after the pre-publication delay; every key not
/// yet scheduled for retirement leaves the JWKS once the last token it may sign has expired.
pub async fn rotate(
    db: &Database,
    master: &MasterKey,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Rotation> {
    let t = &settings.tokens;
    let prepublish = chrono::Duration::from_std(t.key_prepublish)?;
    let longest = chrono::Duration::from_std(t.access_token_ttl.max(t.id_token_ttl))?;
    let (kid, activates_at) = add_signing_key(db, master, settings, now, prepublish).await?;
    // Old keys may sign until the new one activates; their tokens live `longest` after that,
    // plus a minute for clock skew between replicas.
    let retires_at = activates_at + longest + chrono::Duration::seconds(60);
    let mut retiring = Vec::new();
    for row in db.list_signing_keys().await? {
        if row.kid != kid && row.retires_at.is_none() {
            db.retire_signing_key(&row.kid, retires_at).await?;
            retiring.push((row.kid, retires_at));
        }
    }
    tracing::info!(kid = %kid, activates_at = %activates_at, "signing key rotated");
    Ok(Rotation {
        kid,
        activates_at,
        retiring,
    })
}

pub(crate) async fn connect_database(
    settings: &Settings,
    max_connections: u32,
) -> anyhow::Result<Database> {
    crate::files::secure_sqlite_files(&settings.database.url).map_err(anyhow::Error::msg)?;
    Database::connect_with(&DbOptions {
        url: settings.database.url.clone(),
        max_connections,
        acquire_timeout: settings.database.acquire_timeout,
    })
    .await
    .context("database.url: cannot connect")
}
