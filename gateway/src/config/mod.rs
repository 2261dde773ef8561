//! Settings: one TOML file, every key overridable by `GATEWAY__SECTION__KEY` environment
//! variables, validated once with the bad key named. With no file the embedded default runs.

mod audit;
mod branding;
mod client;
mod dpop;
mod duration;
mod env;
pub mod fapi2;
mod protected_app;
mod resource;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;
use vneid_policy::PolicyConfig;
use vneid_tokens::SigningAlg;
use vneid_upstream::UpstreamConfig;

pub use audit::{AuditSettings, DEFAULT_RETAIN as DEFAULT_AUDIT_RETAIN};
pub use branding::{BrandingSettings, SupportSettings};
pub use client::{
    check_sector, default_account_types, default_client_scopes, default_grants, pairwise_sector,
    ClientAuthMethod, ClientProfile, ClientSettings, SubjectType, ADMIN_SCOPE, GRANT_TYPES,
    KNOWN_SCOPES, PERSON_SCOPES, TOKEN_EXCHANGE,
};
pub use dpop::DpopSettings;
pub(crate) use duration::de_duration;
pub use duration::parse_duration;
use env::{apply_env, locate};
pub use protected_app::{ProtectedAppSettings, APP_CLAIMS};
pub use resource::ResourceSettings;
pub use validate::{is_loopback, ConfigError, BUILTIN_CLIENT_IDS};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub ephemeral: EphemeralSettings,
    #[serde(default)]
    pub keys: KeySettings,
    #[serde(default)]
    pub tokens: TokenSettings,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub simulator: SimulatorSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub demo: DemoSettings,
    #[serde(default)]
    pub admin: AdminSettings,
    #[serde(default)]
    pub branding: BrandingSettings,
    #[serde(default)]
    pub audit: AuditSettings,
    /// DPoP proofs (RFC 9449): their window and the server nonce.
    #[serde(default)]
    pub dpop: DpopSettings,
    #[serde(default)]
    pub limits: crate::ratelimit::LimitSettings,
    #[serde(default)]
    pub upstreams: Vec<UpstreamConfig>,
    #[serde(default)]
    pub clients: Vec<ClientSettings>,
    /// API resources (RFC 8707) whose scopes clients may hold.
    #[serde(default)]
    pub resources: Vec<ResourceSettings>,
    /// Legacy apps behind forward-auth (`forward_auth`): each gets a built-in client.
    #[serde(default)]
    pub protected_apps: Vec<ProtectedAppSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub bind: String,
    /// The issuer and the base of every URL the gateway hands out. Absent: `http://` + the
    /// bound address (development only; replicas behind a load balancer must set it).
    pub public_url: Option<Url>,
    /// actix-web workers; 0 = one per core.
    pub workers: usize,
    /// How long in-flight requests get to finish on SIGTERM.
    #[serde(deserialize_with = "de_duration")]
    pub shutdown_timeout: Duration,
    /// Timeout of each outgoing HTTP call to an upstream.
    #[serde(deserialize_with = "de_duration")]
    pub upstream_timeout: Duration,
    /// Peers (CIDR) whose `X-Forwarded-For` is believed: the load balancers in front. Empty:
    /// the client address is always the peer's.
    pub trusted_proxies: Vec<crate::client_ip::IpNet>,
    /// A second address for operators: when set, `/metrics`, `/readyz` and `/admin/v1` are
    /// served there and no longer on `bind` (which keeps `/healthz`).
    pub management_bind: Option<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: None,
            workers: 0,
            shutdown_timeout: Duration::from_secs(30),
            upstream_timeout: Duration::from_secs(10),
            trusted_proxies: Vec::new(),
            management_bind: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a connection before it is answered 503.
    #[serde(deserialize_with = "de_duration")]
    pub acquire_timeout: Duration,
    /// The longest one statement may run before Postgres cancels it (and SQLite stops waiting
    /// for another writer); the request is then answered 503. `0s`: no limit on Postgres.
    #[serde(deserialize_with = "de_duration")]
    pub statement_timeout: Duration,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://data/gateway.db".into(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EphemeralSettings {
    pub url: String,
    /// Prefix of every key, so several deployments can share one Redis.
    pub key_prefix: String,
    /// Bound on each command; past it the request is answered 503.
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// The in-memory store's bound on entries (pending logins, codes, sessions, replay caches);
    /// when full, new logins are answered 503. About 700 bytes each.
    pub max_entries: usize,
    /// PEM file of a private CA that a `rediss://` Redis's certificate chains to (instead of
    /// the system's trust store).
    pub tls_ca_file: Option<PathBuf>,
}

impl Default for EphemeralSettings {
    fn default() -> Self {
        Self {
            url: "memory://".into(),
            key_prefix: "vneid:".into(),
            timeout: Duration::from_secs(2),
            max_entries: DEFAULT_MAX_ENTRIES,
            tls_ca_file: None,
        }
    }
}

/// `ephemeral.max_entries` by default: 200,000 entries, about 140 MB when full.
pub const DEFAULT_MAX_ENTRIES: usize = 200_000;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// File holding the base64 master key. Beside SQLite a missing file is created.
    pub master_key_file: Option<PathBuf>,
    /// The master key itself (base64), for environments that pass secrets as variables
    /// (`GATEWAY__KEYS__MASTER_KEY`). Wins over the file.
    pub master_key: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    pub signing_alg: SigningAlg,
    #[serde(deserialize_with = "de_duration")]
    pub access_token_ttl: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub id_token_ttl: Duration,
    /// Absolute lifetime of a refresh-token family (the login it came from).
    #[serde(deserialize_with = "de_duration")]
    pub refresh_token_ttl: Duration,
    /// A spent refresh token sent again within this window (two tabs refreshing at once) gets
    /// the same new pair instead of revoking the family.
    #[serde(deserialize_with = "de_duration")]
    pub refresh_grace: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub code_ttl: Duration,
    /// How long a pushed authorization request (`/par`, RFC 9126) may wait for its
    /// `/authorize`: the `expires_in` of its `request_uri`.
    #[serde(deserialize_with = "de_duration")]
    pub par_ttl: Duration,
    /// How long a login may stay at the upstream before it is forgotten.
    #[serde(deserialize_with = "de_duration")]
    pub login_ttl: Duration,
    /// SSO session lifetime.
    #[serde(deserialize_with = "de_duration")]
    pub session_ttl: Duration,
    /// A key made by `gateway keys rotate` is published at once but signs only after this
    /// delay, so no portal holding a cached JWKS meets an unknown `kid`. Must exceed
    /// `jwks_max_age` + `key_reload_interval`.
    #[serde(deserialize_with = "de_duration")]
    pub key_prepublish: Duration,
    /// `Cache-Control: max-age` of the JWKS and discovery documents.
    #[serde(deserialize_with = "de_duration")]
    pub jwks_max_age: Duration,
    /// How often every replica re-reads the signing keys and the database clients.
    #[serde(deserialize_with = "de_duration")]
    pub key_reload_interval: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            signing_alg: SigningAlg::RS256,
            access_token_ttl: Duration::from_secs(600),
            id_token_ttl: Duration::from_secs(600),
            refresh_token_ttl: Duration::from_secs(8 * 3600),
            refresh_grace: Duration::from_secs(10),
            code_ttl: Duration::from_secs(60),
            par_ttl: Duration::from_secs(60),
            login_ttl: Duration::from_secs(600),
            session_ttl: Duration::from_secs(8 * 3600),
            key_prepublish: Duration::from_secs(600),
            jwks_max_age: Duration::from_secs(300),
            key_reload_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorSettings {
    /// Mount the national-broker simulator at `/simulator` and register every configured
    /// upstream's client with it.
    pub enabled: bool,
    /// People fixture (TOML); absent: the built-in people.
    pub people_file: Option<PathBuf>,
    /// Rename the simulator's userinfo fields (to try other field names).
    pub field_names: BTreeMap<String, String>,
    /// The simulator lets anyone approve any QR login and read every OTP: it refuses to run
    /// beside Postgres or Redis (a real deployment) unless this is set, and then warns.
    pub allow_with_production_backends: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON lines, for production log shippers.
    #[default]
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `RUST_LOG` syntax; the `RUST_LOG` variable wins.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            filter: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DemoSettings {
    /// Serve the demo portal at `/demo` (a client `demo` is registered for it).
    pub enabled: bool,
}

/// The IT centre's pages under `/admin` and the directory gauges.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// One-stop-shop usernames (staff accounts of the directory) whose people may open the
    /// pages under `/admin` after logging in through VNeID at level 2.
    pub console_users: Vec<String>,
    /// How often each replica recomputes the per-unit readiness gauges of `/metrics` (they are
    /// also recomputed after every admin-API import and link change on the replica that made
    /// it, and within about 10 s of links made at login there).
    #[serde(deserialize_with = "de_duration")]
    pub gauge_refresh_interval: Duration,
    /// After a client's secret is rotated, how long the previous one keeps working (so the
    /// portal can switch without an outage); `0s` ends it at once.
    #[serde(deserialize_with = "de_duration")]
    pub secret_rotation_grace: Duration,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            console_users: Vec::new(),
            gauge_refresh_interval: Duration::from_secs(300),
            secret_rotation_grace: Duration::from_secs(24 * 3600),
        }
    }
}

impl Settings {
    /// Reads the file (if any), applies `GATEWAY__…` variables from `env`, parses and validates.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new(path.display().to_string(), format!("cannot read: {e}"))
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::new(path.display().to_string(), e.to_string()))?
            }
            None => toml::Table::new(),
        };
        apply_env(&mut table, env)?;
        let text = toml::to_string(&table)
            .map_err(|e| ConfigError::new("configuration", e.to_string()))?;
        let mut settings: Settings = toml::from_str(&text).map_err(|e| {
            ConfigError::new(
                file.map(|p| p.display().to_string())
                    .unwrap_or_else(|| "environment".into()),
                e.message().to_owned() + &locate(&text, e.span()),
            )
        })?;
        if file.is_none() && settings.upstreams.is_empty() {
            settings.apply_embedded_default();
        }
        settings.validate()?;
        Ok(settings)
    }

    /// The embedded default: the simulator as the only upstream, and the demo portal.
    fn apply_embedded_default(&mut self) {
        self.simulator.enabled = true;
        self.demo.enabled = true;
        if self.log.format == LogFormat::Json
            && std::io::IsTerminal::is_terminal(&std::io::stdout())
        {
            self.log.format = LogFormat::Pretty;
        }
    }

    /// Postgres or Redis: the backends of a real deployment.
    pub fn uses_production_backends(&self) -> bool {
        !self.database.url.starts_with("sqlite:") || !self.ephemeral.url.starts_with("memory:")
    }

    /// Where the master key lives when none is configured: beside the SQLite file.
    pub fn master_key_path(&self) -> Option<PathBuf> {
        if let Some(p) = &self.keys.master_key_file {
            return Some(p.clone());
        }
        let path = self.database.url.strip_prefix("sqlite://")?;
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() || path.starts_with(':') {
            return None;
        }
        Some(
            Path::new(path)
                .parent()
                .unwrap_or(Path::new("."))
                .join("master.key"),
        )
    }
}
