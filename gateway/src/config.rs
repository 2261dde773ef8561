//! Settings: one TOML file, every key overridable by `GATEWAY__SECTION__KEY` environment
//! variables, validated once with the bad key named. With no file the embedded default runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use url::Url;
use vneid_core::AssuranceLevel;
use vneid_policy::PolicyConfig;
use vneid_tokens::SigningAlg;
use vneid_upstream::UpstreamConfig;

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
    pub limits: crate::ratelimit::LimitSettings,
    #[serde(default)]
    pub upstreams: Vec<UpstreamConfig>,
    #[serde(default)]
    pub clients: Vec<ClientSettings>,
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
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://data/gateway.db".into(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(3),
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
}

impl Default for EphemeralSettings {
    fn default() -> Self {
        Self {
            url: "memory://".into(),
            key_prefix: "vneid:".into(),
            timeout: Duration::from_secs(2),
            max_entries: DEFAULT_MAX_ENTRIES,
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
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            console_users: Vec::new(),
            gauge_refresh_interval: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed with a key from the client's registered `jwks` (RFC 7523).
    PrivateKeyJwt,
    None,
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }
}

/// What a client gets as `sub` (OpenID Connect Core §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SubjectType {
    /// The gateway's stable person id, the same for every client.
    #[default]
    Public,
    /// A per-sector identifier (§8.1): clients of different sectors cannot correlate people.
    Pairwise,
}

impl SubjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Pairwise => "pairwise",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "public" => Ok(Self::Public),
            "pairwise" => Ok(Self::Pairwise),
            other => Err(format!("{other:?}: use \"public\" or \"pairwise\"")),
        }
    }
}

/// A downstream portal (`[[clients]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    pub client_id: String,
    /// Absent: a public client (PKCE required, `token_endpoint_auth_method = "none"`).
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<ClientAuthMethod>,
    /// Exact-match redirect URIs; required with the `authorization_code` grant.
    #[serde(default)]
    pub redirect_uris: Vec<Url>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<Url>,
    #[serde(default)]
    pub backchannel_logout_uri: Option<Url>,
    #[serde(default = "default_grants")]
    pub grant_types: Vec<String>,
    #[serde(default = "default_client_scopes")]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub min_level: Option<AssuranceLevel>,
    /// Upstreams this client may use; empty = all.
    #[serde(default)]
    pub upstreams: Vec<String>,
    /// Shown on pages ("Quay lại …").
    #[serde(default)]
    pub name: Option<String>,
    /// The client's public keys (a JWKS as JSON text) for `private_key_jwt`.
    #[serde(default)]
    pub jwks: Option<String>,
    /// `public` (default): `sub` is the person id; `pairwise`: a per-sector `sub`.
    #[serde(default)]
    pub subject_type: SubjectType,
    /// The sector of a pairwise client, a host name; absent: the host of its redirect URIs
    /// (required when they span several hosts). Clients of one sector see the same `sub`.
    #[serde(default)]
    pub sector_identifier: Option<String>,
}

fn default_grants() -> Vec<String> {
    vec!["authorization_code".into()]
}

fn default_client_scopes() -> Vec<String> {
    ["openid", "profile"].map(String::from).to_vec()
}

/// Scopes the gateway knows.
pub const KNOWN_SCOPES: [&str; 7] = [
    "openid",
    "profile",
    "personal_id",
    "account",
    "offline_access",
    "admin",
    "admin:pii",
];

/// Scopes about a person: they make no sense for a machine client (`client_credentials`).
pub const PERSON_SCOPES: [&str; 5] = [
    "openid",
    "profile",
    "personal_id",
    "account",
    "offline_access",
];

/// Grant types the token endpoint serves.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// A configuration error naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Parses `30s`, `10m`, `8h`, `2d` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (use 30s, 10m, 8h or 2d)"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "ms" => return Ok(Duration::from_millis(n)),
        _ => return Err(format!("{s:?} is not a duration (use 30s, 10m, 8h or 2d)")),
    };
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

pub(crate) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Secs(n) => Ok(Duration::from_secs(n)),
        Raw::Text(s) => parse_duration(&s).map_err(serde::de::Error::custom),
    }
}

/// True for hosts where plain `http://` is allowed: loopback only.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn check_https(key: &str, url: &Url) -> Result<(), ConfigError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(ConfigError::new(
            key,
            format!("{url} must use https:// (plain http is allowed only on loopback addresses)"),
        )),
        other => Err(ConfigError::new(
            key,
            format!("{url}: scheme {other:?} is not allowed"),
        )),
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

    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.server.public_url {
            check_https("server.public_url", url)?;
            if url.query().is_some() || url.fragment().is_some() {
                return Err(ConfigError::new(
                    "server.public_url",
                    "must not carry a query or fragment",
                ));
            }
        }
        let db = &self.database.url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "database.url",
                format!("{db:?}: use sqlite://FILE or postgres://…"),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::new(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if self.ephemeral.max_entries == 0 {
            return Err(ConfigError::new(
                "ephemeral.max_entries",
                "must be at least 1",
            ));
        }
        self.limits
            .check()
            .map_err(|(key, message)| ConfigError::new(key, message))?;
        if self.simulator.enabled
            && self.uses_production_backends()
            && !self.simulator.allow_with_production_backends
        {
            return Err(ConfigError::new(
                "simulator.enabled",
                "the simulator lets anyone approve another person's QR login and read every OTP: \
it does not run beside Postgres or Redis (set simulator.allow_with_production_backends = true \
only for a test deployment)",
            ));
        }
        let t = &self.tokens;
        for (key, d) in [
            ("tokens.access_token_ttl", t.access_token_ttl),
            ("tokens.id_token_ttl", t.id_token_ttl),
            ("tokens.refresh_token_ttl", t.refresh_token_ttl),
            ("tokens.code_ttl", t.code_ttl),
            ("tokens.login_ttl", t.login_ttl),
            ("tokens.session_ttl", t.session_ttl),
            ("tokens.key_reload_interval", t.key_reload_interval),
            ("database.acquire_timeout", self.database.acquire_timeout),
            ("ephemeral.timeout", self.ephemeral.timeout),
            (
                "admin.gauge_refresh_interval",
                self.admin.gauge_refresh_interval,
            ),
        ] {
            if d.is_zero() {
                return Err(ConfigError::new(key, "must be longer than zero"));
            }
        }
        if t.key_prepublish <= t.jwks_max_age + t.key_reload_interval {
            return Err(ConfigError::new(
                "tokens.key_prepublish",
                format!(
                    "must be longer than tokens.jwks_max_age + tokens.key_reload_interval ({}s), \
or a portal holding a cached JWKS could meet a token signed by a key it has not seen",
                    (t.jwks_max_age + t.key_reload_interval).as_secs()
                ),
            ));
        }
        let mut ids = std::collections::HashSet::new();
        for (i, u) in self.upstreams.iter().enumerate() {
            let key = format!("upstreams[{i}]");
            if !ids.insert(u.id.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.id"),
                    format!("duplicate id {:?}", u.id),
                ));
            }
            if u.id.is_empty()
                || !u
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(ConfigError::new(
                    format!("{key}.id"),
                    "letters, digits, - and _ only (it is part of the callback path)",
                ));
            }
            u.validate().map_err(|m| ConfigError::new(key.clone(), m))?;
        }
        let mut cids = std::collections::HashSet::new();
        for (i, c) in self.clients.iter().enumerate() {
            let key = format!("clients[{i}]");
            if c.client_id.is_empty() || !cids.insert(c.client_id.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.client_id"),
                    format!("empty or duplicate client_id {:?}", c.client_id),
                ));
            }
            let browser_client = c.grant_types.iter().any(|g| g == "authorization_code");
            if browser_client && c.redirect_uris.is_empty() {
                return Err(ConfigError::new(
                    format!("{key}.redirect_uris"),
                    "at least one is required with the authorization_code grant",
                ));
            }
            for (j, u) in c.redirect_uris.iter().enumerate() {
                check_https(&format!("{key}.redirect_uris[{j}]"), u)?;
                if u.fragment().is_some() {
                    return Err(ConfigError::new(
                        format!("{key}.redirect_uris[{j}]"),
                        "must not carry a fragment",
                    ));
                }
            }
            for (j, u) in c.post_logout_redirect_uris.iter().enumerate() {
                check_https(&format!("{key}.post_logout_redirect_uris[{j}]"), u)?;
            }
            if let Some(u) = &c.backchannel_logout_uri {
                check_https(&format!("{key}.backchannel_logout_uri"), u)?;
            }
            for s in &c.scopes {
                if !KNOWN_SCOPES.contains(&s.as_str()) {
                    return Err(ConfigError::new(
                        format!("{key}.scopes"),
                        format!("unknown scope {s:?} (known: {})", KNOWN_SCOPES.join(", ")),
                    ));
                }
            }
            if browser_client && !c.scopes.iter().any(|s| s == "openid") {
                return Err(ConfigError::new(
                    format!("{key}.scopes"),
                    "must include \"openid\" with the authorization_code grant",
                ));
            }
            if c.grant_types.is_empty() {
                return Err(ConfigError::new(
                    format!("{key}.grant_types"),
                    "at least one is required",
                ));
            }
            for g in &c.grant_types {
                if !GRANT_TYPES.contains(&g.as_str()) {
                    return Err(ConfigError::new(
                        format!("{key}.grant_types"),
                        format!(
                            "{g:?} is not supported (supported: {})",
                            GRANT_TYPES.join(", ")
                        ),
                    ));
                }
                if g == "refresh_token" && !browser_client {
                    return Err(ConfigError::new(
                        format!("{key}.grant_types"),
                        "refresh_token goes with authorization_code",
                    ));
                }
                if g == "client_credentials" && c.auth_method() == ClientAuthMethod::None {
                    return Err(ConfigError::new(
                        format!("{key}.grant_types"),
                        "client_credentials needs a confidential client",
                    ));
                }
            }
            if c.auth_method() == ClientAuthMethod::PrivateKeyJwt {
                let ok = c
                    .jwks
                    .as_deref()
                    .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
                    .is_some_and(|v| v["keys"].as_array().is_some_and(|k| !k.is_empty()));
                if !ok {
                    return Err(ConfigError::new(
                        format!("{key}.jwks"),
                        "private_key_jwt needs the client's public keys as a JWKS ({\"keys\": [...]})",
                    ));
                }
            }
            match (&c.client_secret, c.auth_method()) {
                (None, ClientAuthMethod::None | ClientAuthMethod::PrivateKeyJwt) => {}
                (Some(_), ClientAuthMethod::PrivateKeyJwt) => {
                    return Err(ConfigError::new(
                        format!("{key}.client_secret"),
                        "a private_key_jwt client has no secret",
                    ))
                }
                (None, m) => {
                    return Err(ConfigError::new(
                        format!("{key}.client_secret"),
                        format!("required with token_endpoint_auth_method {:?}", m.as_str()),
                    ))
                }
                (Some(_), ClientAuthMethod::None) => {
                    return Err(ConfigError::new(
                        format!("{key}.client_secret"),
                        "a public client (token_endpoint_auth_method = \"none\") has no secret",
                    ))
                }
                (Some(s), _) if s.expose_secret().len() < 32 => {
                    return Err(ConfigError::new(
                        format!("{key}.client_secret"),
                        "must be at least 32 characters (use `openssl rand -base64 32`)",
                    ))
                }
                _ => {}
            }
            check_subject_type(&key, c, browser_client)?;
            for u in &c.upstreams {
                if !self.upstreams.iter().any(|x| &x.id == u) && !self.simulator.enabled {
                    return Err(ConfigError::new(
                        format!("{key}.upstreams"),
                        format!("no upstream with id {u:?}"),
                    ));
                }
            }
        }
        if self.upstreams.is_empty() && !self.simulator.enabled {
            return Err(ConfigError::new(
                "upstreams",
                "at least one [[upstreams]] is required (or [simulator] enabled = true)",
            ));
        }
        if self.keys.master_key.is_none()
            && self.keys.master_key_file.is_none()
            && !self.database.url.starts_with("sqlite:")
        {
            return Err(ConfigError::new(
                "keys.master_key_file",
                "required with a shared database: every replica must use the same master key",
            ));
        }
        Ok(())
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

/// `subject_type` and `sector_identifier` of `[[clients]]` entry `key`.
fn check_subject_type(
    key: &str,
    c: &ClientSettings,
    browser_client: bool,
) -> Result<(), ConfigError> {
    match c.subject_type {
        SubjectType::Public => {
            if c.sector_identifier.is_some() {
                return Err(ConfigError::new(
                    format!("{key}.sector_identifier"),
                    "goes with subject_type = \"pairwise\"",
                ));
            }
        }
        SubjectType::Pairwise => {
            if !browser_client {
                return Err(ConfigError::new(
                    format!("{key}.subject_type"),
                    "pairwise goes with the authorization_code grant (a machine client's sub is its client_id)",
                ));
            }
            if let Some(s) = &c.sector_identifier {
                check_sector(s)
                    .map_err(|m| ConfigError::new(format!("{key}.sector_identifier"), m))?;
            } else if pairwise_sector(None, c.redirect_uris.iter().map(Url::as_str)).is_none() {
                return Err(ConfigError::new(
                    format!("{key}.sector_identifier"),
                    "required for a pairwise client whose redirect URIs span several hosts",
                ));
            }
        }
    }
    Ok(())
}

/// A sector identifier is a bare host name in its normal form (lower case, no scheme, port or
/// path), e.g. `dichvucong.binhdinh.gov.vn`.
pub fn check_sector(s: &str) -> Result<(), String> {
    match url::Host::parse(s) {
        Ok(h) if !s.is_empty() && h.to_string() == s => Ok(()),
        _ => Err(format!(
            "{s:?} is not a host name such as dichvucong.binhdinh.gov.vn (lower case, no scheme, port or path)"
        )),
    }
}

/// The sector of a pairwise client (OpenID Connect Core §8.1): its `sector_identifier`, or the
/// one host all its redirect URIs share; `None` when neither applies.
pub fn pairwise_sector<'a>(
    sector_identifier: Option<&str>,
    redirect_uris: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    if let Some(s) = sector_identifier {
        return Some(s.to_owned());
    }
    let mut host: Option<String> = None;
    for u in redirect_uris {
        let h = Url::parse(u).ok()?.host_str()?.to_ascii_lowercase();
        match &host {
            Some(seen) if *seen != h => return None,
            Some(_) => {}
            None => host = Some(h),
        }
    }
    host
}

impl ClientSettings {
    pub fn auth_method(&self) -> ClientAuthMethod {
        self.token_endpoint_auth_method
            .unwrap_or(if self.client_secret.is_some() {
                ClientAuthMethod::ClientSecretBasic
            } else {
                ClientAuthMethod::None
            })
    }
}

fn locate(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return String::new();
    };
    let line = text
        .get(..span.start)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let snippet = text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or("")
        .trim();
    format!(" (at `{snippet}`)")
}

/// Applies `GATEWAY__SECTION__KEY=value` overrides. Path segments are lower-cased; a numeric
/// segment indexes an array of tables (`GATEWAY__UPSTREAMS__0__CLIENT_SECRET`). A value that
/// parses as a TOML value (number, boolean, array) is taken as such, anything else as a string.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("GATEWAY__"))
        .collect();
    vars.sort();
    for (name, value) in vars {
        let path: Vec<String> = name["GATEWAY__".len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::new(name, "empty path segment"));
        }
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .filter(|v| !matches!(v, toml::Value::Table(_)))
            .unwrap_or(toml::Value::String(value));
        set_path(table, &path, parsed).map_err(|m| ConfigError::new(name.clone(), m))?;
    }
    Ok(())
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("empty path")?;
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    match entry {
        toml::Value::Table(t) => set_path(t, rest, value),
        toml::Value::Array(items) => {
            let (idx, rest2) = rest.split_first().ok_or("missing array index")?;
            let i: usize = idx
                .parse()
                .map_err(|_| format!("{first} is a list: the next segment must be an index"))?;
            while items.len() <= i {
                items.push(toml::Value::Table(toml::Table::new()));
            }
            match &mut items[i] {
                toml::Value::Table(t) if !rest2.is_empty() => set_path(t, rest2, value),
                _ => Err(format!("cannot set {first}[{i}]")),
            }
        }
        _ => Err(format!("{first} is not a section")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(&path, text).unwrap();
        Settings::load(
            Some(&path),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    const MINIMAL: &str = r#"
[[upstreams]]
id = "dvcqg"
issuer = "https://xacthuc.dichvucong.gov.vn"
client_id = "c"
client_secret = "s"
"#;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("8h"), Ok(Duration::from_secs(8 * 3600)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("10y").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn unknown_key_is_named() {
        let e = load("[server]\nbnd = \"x\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("bnd"), "{e}");
    }

    #[test]
    fn env_overrides_file() {
        let s = load(
            MINIMAL,
            &[
                ("GATEWAY__TOKENS__ACCESS_TOKEN_TTL", "5m"),
                ("GATEWAY__DATABASE__MAX_CONNECTIONS", "3"),
                ("GATEWAY__UPSTREAMS__0__CLIENT_ID", "from-env"),
                ("OTHER", "ignored"),
            ],
        )
        .unwrap();
        assert_eq!(s.tokens.access_token_ttl, Duration::from_secs(300));
        assert_eq!(s.database.max_connections, 3);
        assert_eq!(s.upstreams[0].client_id, "from-env");
    }

    #[test]
    fn plain_http_is_refused_off_loopback() {
        let e = load(&MINIMAL.replace("https://xacthuc", "http://xacthuc"), &[]).unwrap_err();
        assert!(e.to_string().contains("upstreams[0]"), "{e}");
        let e = load(
            &format!("[server]\npublic_url = \"http://gateway.example\"\n{MINIMAL}"),
            &[],
        )
        .unwrap_err();
        assert_eq!(e.key, "server.public_url");
        assert!(load(
            &format!("[server]\npublic_url = \"http://127.0.0.1:9\"\n{MINIMAL}"),
            &[]
        )
        .is_ok());
    }

    #[test]
    fn client_rules_name_the_key() {
        let e = load(
            &format!("{MINIMAL}\n[[clients]]\nclient_id = \"p\"\nclient_secret = \"short\"\nredirect_uris = [\"https://p.example/cb\"]\n"),
            &[],
        )
        .unwrap_err();
        assert_eq!(e.key, "clients[0].client_secret");
        let e = load(
            &format!("{MINIMAL}\n[[clients]]\nclient_id = \"p\"\nredirect_uris = [\"https://p.example/cb\"]\nscopes = [\"openid\", \"email\"]\n"),
            &[],
        )
        .unwrap_err();
        assert_eq!(e.key, "clients[0].scopes");
    }

    #[test]
    fn pairwise_clients_need_one_sector() {
        let client = |extra: &str, uris: &str| {
            format!(
                "{MINIMAL}\n[[clients]]\nclient_id = \"p\"\nredirect_uris = [{uris}]\n{extra}\n"
            )
        };
        let one_host = "\"https://a.example/cb\", \"https://a.example/cb2\"";
        let two_hosts = "\"https://a.example/cb\", \"https://b.example/cb\"";
        let s = load(&client("subject_type = \"pairwise\"", one_host), &[]).unwrap();
        assert_eq!(s.clients[0].subject_type, SubjectType::Pairwise);
        let e = load(&client("subject_type = \"pairwise\"", two_hosts), &[]).unwrap_err();
        assert_eq!(e.key, "clients[0].sector_identifier");
        assert!(load(
            &client(
                "subject_type = \"pairwise\"\nsector_identifier = \"dichvucong.example\"",
                two_hosts
            ),
            &[]
        )
        .is_ok());
        for bad in [
            "https://x.example",
            "X.example",
            "x.example/path",
            "x.example:443",
            "",
        ] {
            let e = load(
                &client(
                    &format!("subject_type = \"pairwise\"\nsector_identifier = \"{bad}\""),
                    one_host,
                ),
                &[],
            )
            .unwrap_err();
            assert_eq!(e.key, "clients[0].sector_identifier", "{bad}");
        }
        let e = load(&client("sector_identifier = \"a.example\"", one_host), &[]).unwrap_err();
        assert_eq!(e.key, "clients[0].sector_identifier");
        let e = load(&client("subject_type = \"secret\"", one_host), &[]).unwrap_err();
        assert!(e.to_string().contains("secret"), "{e}");
        let machine = format!(
            "{MINIMAL}\n[[clients]]\nclient_id = \"m\"\nclient_secret = \"{}\"\ngrant_types = [\"client_credentials\"]\nscopes = [\"admin\"]\nsubject_type = \"pairwise\"\n",
            "s".repeat(32)
        );
        assert_eq!(
            load(&machine, &[]).unwrap_err().key,
            "clients[0].subject_type"
        );
    }

    #[test]
    fn pairwise_sector_is_the_one_redirect_host() {
        assert_eq!(
            pairwise_sector(None, ["https://A.example/x", "http://a.example:8080/y"]),
            Some("a.example".into())
        );
        assert_eq!(
            pairwise_sector(None, ["https://a.example/", "https://b.example/"]),
            None
        );
        assert_eq!(pairwise_sector(None, std::iter::empty()), None);
        assert_eq!(
            pairwise_sector(
                Some("s.example"),
                ["https://a.example/", "https://b.example/"]
            ),
            Some("s.example".into())
        );
    }

    #[test]
    fn the_example_configuration_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/gateway.example.toml");
        let s = Settings::load(Some(&path), Vec::new()).unwrap();
        assert!(s
            .clients
            .iter()
            .any(|c| c.subject_type == SubjectType::Pairwise));
    }

    #[test]
    fn postgres_requires_a_master_key() {
        let e = load(
            &format!("[database]\nurl = \"postgres://localhost/g\"\n{MINIMAL}"),
            &[],
        )
        .unwrap_err();
        assert_eq!(e.key, "keys.master_key_file");
    }

    #[test]
    fn no_file_is_the_embedded_default() {
        let s = Settings::load(None, Vec::new()).unwrap();
        assert!(s.simulator.enabled && s.demo.enabled);
        assert_eq!(s.database.url, "sqlite://data/gateway.db");
        assert_eq!(s.master_key_path(), Some(PathBuf::from("data/master.key")));
    }
}
