//! What every handler shares: settings, stores, keys, upstreams, clients, metrics, the clock.

use std::sync::{Arc, RwLock};

use vneid_core::Clock;
use vneid_store::{Database, Ephemeral};
use vneid_tokens::{KeySet, MasterKey};
use vneid_upstream::Upstream;

use crate::clients::{Client, ClientRegistry};
use crate::config::Settings;
use crate::metrics::Metrics;

pub struct AppState {
    pub settings: Settings,
    /// The issuer, without a trailing slash.
    pub issuer: String,
    pub db: Database,
    pub ephemeral: Arc<dyn Ephemeral>,
    pub master: MasterKey,
    pub keys: RwLock<Arc<KeySet>>,
    pub upstreams: Vec<Upstream>,
    /// Config and database clients; reloaded at run time.
    pub clients: ClientRegistry,
    pub metrics: Metrics,
    pub clock: Arc<dyn Clock>,
    /// When the ephemeral store last refused a write because it was full (for `/readyz`).
    pub ephemeral_full: Arc<crate::ephemeral::FullSince>,
    /// One refill of the revocation cache at a time (see [`crate::revocation`]).
    pub revocation_refill: tokio::sync::Mutex<()>,
    /// The rate limits of `[limits]`.
    pub limiter: crate::ratelimit::RateLimiter,
    /// For the demo portal's back-channel calls to this gateway.
    pub http: reqwest::Client,
    /// `/.well-known/openid-configuration`, built on the first request (nothing in it changes
    /// while the process runs).
    pub discovery_document: std::sync::OnceLock<actix_web::web::Bytes>,
}

/// What [`AppState::new`] is made of: the stores and keys opened by `startup`.
pub struct Parts {
    pub settings: Settings,
    pub issuer: String,
    pub db: Database,
    pub ephemeral: Arc<dyn Ephemeral>,
    pub master: MasterKey,
    pub keys: KeySet,
    pub upstreams: Vec<Upstream>,
    pub clock: Arc<dyn Clock>,
    pub http: reqwest::Client,
}

impl AppState {
    /// The state of a replica: the client registry (configuration clients, then the
    /// database's), metrics, the ephemeral store as the gateway uses it (full refusals
    /// counted), the rate limiter.
    pub async fn new(p: Parts) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        // A client in the configuration file wins over one of the same id in the database.
        let clients = ClientRegistry::new(
            p.settings
                .clients
                .iter()
                .map(|c| Client::from_settings(c, &p.master)),
        );
        clients.reload(&p.db).await.context("reading the clients")?;
        let metrics = Metrics::new()?;
        metrics.preregister(p.settings.upstreams.iter().map(|u| u.id.as_str()));
        metrics.preregister_apps(p.settings.protected_apps.iter().map(|a| a.id.as_str()));
        let ephemeral_full = Arc::new(crate::ephemeral::FullSince::default());
        let ephemeral = crate::ephemeral::Counted::wrap(
            p.ephemeral,
            metrics.ephemeral_full.clone(),
            ephemeral_full.clone(),
            p.clock.clone(),
        );
        let limiter = crate::ratelimit::RateLimiter::new(
            ephemeral.clone(),
            p.settings.ephemeral.url.starts_with("memory:"),
            p.settings.limits.clone(),
            p.clock.clone(),
        );
        Ok(Self {
            issuer: p.issuer,
            db: p.db,
            ephemeral,
            master: p.master,
            keys: RwLock::new(Arc::new(p.keys)),
            upstreams: p.upstreams,
            clients,
            metrics,
            clock: p.clock,
            ephemeral_full,
            revocation_refill: tokio::sync::Mutex::new(()),
            limiter,
            http: p.http,
            discovery_document: std::sync::OnceLock::new(),
            settings: p.settings,
        })
    }

    pub fn upstream(&self, id: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.id() == id)
    }

    pub fn key_set(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }
}
