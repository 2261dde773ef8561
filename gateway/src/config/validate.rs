//! The rules of the whole configuration, checked once at start with the bad key named.

use url::Url;

use super::Settings;

/// A configuration error naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The ids of the clients the gateway makes itself (`demo::DEMO_CLIENT`,
/// `admin::console::CONSOLE_CLIENT`): a protected app may not take one.
pub const BUILTIN_CLIENT_IDS: [&str; 2] = ["demo", "vneid-admin-console"];

/// True for hosts where plain `http://` is allowed: loopback only.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

pub(super) fn check_https(key: &str, url: &Url) -> Result<(), ConfigError> {
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
    /// The scopes of every `[[resources]]`: clients may hold them beside the gateway's own.
    pub fn resource_scopes(&self) -> Vec<&str> {
        self.resources
            .iter()
            .flat_map(|r| r.scopes.iter().map(String::as_str))
            .collect()
    }

    /// Every rule of the configuration; the error names the first bad key.
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
        // Port 0 (tests) gives each its own free port.
        if self.server.management_bind.as_deref() == Some(self.server.bind.as_str())
            && !self.server.bind.ends_with(":0")
        {
            return Err(ConfigError::new(
                "server.management_bind",
                "must be another address than server.bind (operators' routes move there)",
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
        self.dpop.check()?;
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
            ("tokens.par_ttl", t.par_ttl),
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
        let upstream_ids: Vec<&str> = self.upstreams.iter().map(|u| u.id.as_str()).collect();
        let client_ids: Vec<&str> = self.clients.iter().map(|c| c.client_id.as_str()).collect();
        super::resource::check(&self.resources, &client_ids)?;
        let resource_scopes = self.resource_scopes();
        for (i, c) in self.clients.iter().enumerate() {
            let key = format!("clients[{i}]");
            if c.client_id.is_empty() || !cids.insert(c.client_id.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.client_id"),
                    format!("empty or duplicate client_id {:?}", c.client_id),
                ));
            }
            c.check(
                &key,
                &upstream_ids,
                &resource_scopes,
                self.simulator.enabled,
            )?;
        }
        super::protected_app::check_apps(
            &self.protected_apps,
            &self
                .clients
                .iter()
                .map(|c| c.client_id.as_str())
                .collect::<Vec<_>>(),
            &BUILTIN_CLIENT_IDS,
        )?;
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
}
