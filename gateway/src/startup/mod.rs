//! Wiring: `Application::build(settings)` binds the listener (port 0 works), opens the stores,
//! loads the keys, and builds the server; `run_until_stopped()` serves until SIGTERM/SIGINT.
//!
//! - [`store`]: the database (migrated or checked), the master key, the ephemeral store;
//! - [`keys`]: signing keys, rotation, their reload;
//! - [`embedded`]: the simulator as the upstream and the built-in clients;
//! - [`routes`]: the route table;
//! - [`tasks`]: every replica's background work.

pub mod embedded;
pub mod keys;
pub mod routes;
pub mod store;
pub mod tasks;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, HttpServer};
use anyhow::Context as _;
use vneid_core::{Clock, SystemClock};

use crate::config::Settings;
use crate::state::AppState;

pub use embedded::EMBEDDED_UPSTREAM;
pub use keys::{load_keys, rotate, Rotation};
pub use routes::CSP;

pub struct Application {
    port: u16,
    /// The port of `server.management_bind`, when set.
    management_port: Option<u16>,
    issuer: String,
    server: Server,
    state: web::Data<AppState>,
    /// The embedded database's lock, held shared while this gateway runs
    /// ([`crate::files::hold_sqlite`]).
    _database_hold: Option<std::fs::File>,
}

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
        let issuer = issuer(&settings, &listener)?;
        let management = match &settings.server.management_bind {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .with_context(|| format!("server.management_bind: cannot listen on {addr}"))?,
            ),
            None => None,
        };
        let surface = routes::Surface {
            management: management
                .as_ref()
                .map(TcpListener::local_addr)
                .transpose()?,
        };
        let (db, master, schema) =
            store::open(&settings, settings.database.max_connections).await?;
        let database_hold =
            crate::files::hold_sqlite(&settings.database.url, crate::files::Hold::Serving)
                .map_err(anyhow::Error::msg)?;
        let ephemeral = store::open_ephemeral(&settings, clock.clone()).await?;
        let keys = keys::ensure_keys(&db, &master, &settings, clock.now()).await?;
        embedded::add_builtins(&mut settings, &issuer)?;
        let (upstreams, http) = embedded::upstreams(&settings, &issuer)?;
        let simulator = embedded::simulator(&settings, &issuer)?;
        let state = web::Data::new(
            AppState::new(crate::state::Parts {
                settings: settings.clone(),
                issuer: issuer.clone(),
                db,
                ephemeral,
                master,
                keys,
                upstreams,
                clock,
                http,
            })
            .await?,
        );
        state
            .metrics
            .schema_ahead
            .set(i64::try_from(schema.ahead.len()).unwrap_or(i64::MAX));
        tasks::spawn_all(&state);
        let forward_auth = web::Data::new(crate::forward_auth::ForwardAuth::new(&state));

        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            n => n,
        };
        let branding = web::Data::new(Arc::new(
            crate::pages::branding::Branding::load(&settings.branding)
                .map_err(anyhow::Error::msg)?,
        ));
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            routes::app(
                app_state.clone(),
                forward_auth.clone(),
                simulator.clone(),
                surface,
                branding.clone(),
            )
        })
        .workers(workers)
        .shutdown_timeout(settings.server.shutdown_timeout.as_secs())
        .listen(listener)?;
        let management_port = match management {
            Some(l) => {
                let port = l.local_addr()?.port();
                server = server.listen(l)?;
                Some(port)
            }
            None => None,
        };
        let server = server.run();
        Ok(Self {
            port,
            management_port,
            issuer,
            server,
            state,
            _database_hold: database_hold,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `server.management_bind` (known after binding, e.g. to port 0).
    pub fn management_port(&self) -> Option<u16> {
        self.management_port
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

/// The issuer: `server.public_url` without a trailing slash, or `http://` + the bound address
/// (development only).
fn issuer(settings: &Settings, listener: &TcpListener) -> anyhow::Result<String> {
    if let Some(u) = &settings.server.public_url {
        return Ok(u.as_str().trim_end_matches('/').to_owned());
    }
    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    Ok(format!("http://{host}:{}", addr.port()))
}
