//! Forward-auth for legacy apps that cannot speak OpenID Connect (`[[protected_apps]]`): their
//! reverse proxy (nginx `auth_request`, Traefik `ForwardAuth`, Caddy `forward_auth`) asks
//! `{prefix}/auth` before every request, and sends people without a session to
//! `{prefix}/start`. Each app is a built-in client of this gateway (its id, redirect URI
//! `{url}{prefix}/callback`, its `min_level`), so a login through it follows the same policy,
//! pages, refusals, SSO session and audit trail as any portal's.
//!
//! - [`session`]: the login in progress at an app and the app session, in the ephemeral store;
//! - [`assertion`]: the signed assertion and the plain headers `/auth` answers with;
//! - [`cache`]: the in-process cache that keeps `/auth` off the signer and the store;
//! - [`flow`]: starting a login, its callback, logout;
//! - [`http`]: the handlers and their routes.
//!
//! Which app a request is for: the `Host` header (nginx: `proxy_set_header Host $server_name`)
//! matched against the apps' `url` (host, and the port when the header names one) together with
//! the path's prefix; when no app has that host, `X-Forwarded-Host` (what Traefik and Caddy send
//! to an auth server). Unknown hosts get 404.

pub mod assertion;
pub mod cache;
pub mod flow;
pub mod http;
pub mod session;

use actix_web::HttpRequest;
use prometheus::IntCounter;
use url::Url;
use vneid_core::AssuranceLevel;

use crate::config::{ClientAuthMethod, ClientSettings, ProtectedAppSettings, Settings};
use crate::state::AppState;

/// One protected app, ready to serve.
pub struct App {
    pub settings: ProtectedAppSettings,
    pub id: String,
    /// Its place among the apps (its cache).
    pub index: usize,
    /// Shown on pages.
    pub name: String,
    /// `scheme://host[:port]`.
    pub origin: String,
    /// The host in lower case (IPv6 in brackets) and the port, explicit or the scheme's.
    host: String,
    port: u16,
    pub prefix: String,
    pub min_level: AssuranceLevel,
    /// Its cookies are `Secure` (an https app).
    pub secure: bool,
    /// The app session cookie's name.
    pub cookie_name: String,
    /// `vneid_forward_auth_total{app, result}` in the order of
    /// [`crate::metrics::FORWARD_AUTH_RESULTS`].
    counters: Vec<IntCounter>,
}

/// The outcome of one `/auth` check, for the metric.
#[derive(Debug, Clone, Copy)]
pub enum Counted {
    Allowed = 0,
    Unauthenticated = 1,
    Level = 2,
    Error = 3,
}

impl App {
    fn new(index: usize, s: &ProtectedAppSettings, state: &AppState) -> Self {
        let counters = crate::metrics::FORWARD_AUTH_RESULTS
            .iter()
            .map(|r| {
                state
                    .metrics
                    .forward_auth
                    .with_label_values(&[s.id.as_str(), r])
            })
            .collect();
        Self {
            id: s.id.clone(),
            index,
            name: s.name.clone().unwrap_or_else(|| s.id.clone()),
            origin: s.origin(),
            host: s.url.host_str().unwrap_or("").to_ascii_lowercase(),
            port: s.url.port_or_known_default().unwrap_or(0),
            prefix: s.path_prefix.clone(),
            min_level: s
                .min_level
                .unwrap_or(state.settings.policy.default_min_level),
            secure: s.url.scheme() == "https",
            cookie_name: crate::cookies::app::session_name(&s.id),
            counters,
            settings: s.clone(),
        }
    }

    /// Counts one `/auth` outcome.
    pub fn count(&self, what: Counted) {
        if let Some(c) = self.counters.get(what as usize) {
            c.inc();
        }
    }

    /// Whether a `Host` (or `X-Forwarded-Host`) value names this app's host.
    fn serves_host(&self, value: &str) -> bool {
        match split_host_port(value) {
            Some((host, port)) => {
                host.eq_ignore_ascii_case(&self.host) && port.is_none_or(|p| p == self.port)
            }
            None => false,
        }
    }

    /// The path of the app's callback (the login binding cookie is sent only there).
    pub fn callback_path(&self) -> String {
        format!("{}/callback", self.prefix)
    }

    /// `{url}{prefix}/start?rd=…`: where a person without a session goes.
    pub fn login_url(&self, rd: &str) -> String {
        let rd: String = url::form_urlencoded::byte_serialize(rd.as_bytes()).collect();
        format!("{}{}/start?rd={rd}", self.origin, self.prefix)
    }
}

/// `host[:port]` → the host (a trailing dot dropped) and the port if named; `None` when the
/// value cannot be a host.
fn split_host_port(value: &str) -> Option<(&str, Option<u16>)> {
    let v = value.trim();
    let (host, port) = if v.starts_with('[') {
        let end = v.find(']')?;
        let (host, rest) = v.split_at(end + 1);
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match v.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (v, None),
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    Some((host, port))
}

/// Every protected app of this replica, and the `/auth` cache.
pub struct ForwardAuth {
    pub apps: Vec<App>,
    pub cache: cache::Cache,
}

impl ForwardAuth {
    pub fn new(state: &AppState) -> Self {
        let apps: Vec<App> = state
            .settings
            .protected_apps
            .iter()
            .enumerate()
            .map(|(i, s)| App::new(i, s, state))
            .collect();
        let cache = cache::Cache::new(apps.len());
        Self { apps, cache }
    }

    /// The distinct prefixes to route.
    pub fn prefixes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in &self.apps {
            if !out.contains(&a.prefix) {
                out.push(a.prefix.clone());
            }
        }
        out
    }

    /// The app a request under `prefix` is for (module docs), if any.
    pub fn app_for(&self, req: &HttpRequest, prefix: &str) -> Option<&App> {
        let under = |value: &str| {
            self.apps
                .iter()
                .find(|a| a.prefix == prefix && a.serves_host(value))
        };
        let headers = req.headers();
        let host = headers
            .get(actix_web::http::header::HOST)
            .and_then(|h| h.to_str().ok());
        if let Some(app) = host.and_then(under) {
            return Some(app);
        }
        headers
            .get("x-forwarded-host")
            .and_then(|h| h.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(under)
    }
}

/// The built-in client of a protected app: its id, redirect URI `{url}{prefix}/callback`, the
/// scopes that release its claims, its `min_level`, citizens only. Confidential; its secret is never used: the
/// app's callback spends its codes inside the gateway, checking PKCE itself.
pub fn client_settings(app: &ProtectedAppSettings) -> anyhow::Result<ClientSettings> {
    Ok(ClientSettings {
        client_id: app.id.clone(),
        client_secret: Some(crate::clients::new_client_secret()?),
        token_endpoint_auth_method: Some(ClientAuthMethod::ClientSecretBasic),
        redirect_uris: vec![Url::parse(&app.callback_url())?],
        post_logout_redirect_uris: vec![Url::parse(&app.logout_url())?],
        backchannel_logout_uri: None,
        grant_types: vec!["authorization_code".into()],
        scopes: app.scopes(),
        min_level: app.min_level,
        upstreams: vec![],
        name: Some(app.name.clone().unwrap_or_else(|| app.id.clone())),
        jwks: None,
        subject_type: Default::default(),
        sector_identifier: None,
        require_pushed_authorization_requests: None,
        dpop_bound_access_tokens: None,
        profile: Default::default(),
        // A legacy app takes X-Vneid-Sub for a person: organisation accounts are refused with
        // the citizens-only page.
        account_types: vec![vneid_core::AccountType::Citizen.as_str().to_owned()],
        builtin: true,
    })
}

/// The ids of the protected apps' clients, which the gateway adds itself.
pub fn client_ids(settings: &Settings) -> Vec<String> {
    settings
        .protected_apps
        .iter()
        .map(|a| a.id.clone())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::split_host_port;

    #[test]
    fn the_configuration_knows_the_builtin_client_ids() {
        assert_eq!(
            crate::config::BUILTIN_CLIENT_IDS,
            [
                crate::demo::DEMO_CLIENT,
                crate::admin::console::CONSOLE_CLIENT
            ]
        );
    }

    #[test]
    fn hosts_and_ports() {
        assert_eq!(
            split_host_port("motcua.example.gov.vn"),
            Some(("motcua.example.gov.vn", None))
        );
        assert_eq!(
            split_host_port("motcua.example.gov.vn.:443"),
            Some(("motcua.example.gov.vn", Some(443)))
        );
        assert_eq!(
            split_host_port("127.0.0.1:8081"),
            Some(("127.0.0.1", Some(8081)))
        );
        assert_eq!(split_host_port("[::1]:8081"), Some(("[::1]", Some(8081))));
        assert_eq!(split_host_port("[::1]"), Some(("[::1]", None)));
        assert_eq!(split_host_port("host:x"), None);
        assert_eq!(split_host_port("[::1]x"), None);
        assert_eq!(split_host_port(":80"), None);
        assert_eq!(split_host_port(""), None);
    }
}
