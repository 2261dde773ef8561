//! `[[protected_apps]]`: a legacy application that cannot speak OpenID Connect, put behind the
//! gateway by its reverse proxy's forward-auth (nginx `auth_request`, Traefik `ForwardAuth`,
//! Caddy `forward_auth`), and the rules one such app must follow.

use std::time::Duration;

use serde::Deserialize;
use url::Url;
use vneid_core::AssuranceLevel;

use super::duration::de_duration;
use super::validate::check_https;
use super::ConfigError;

/// The claims a protected app may receive besides `sub`: the ones a portal's scopes release
/// (`name`, `birthdate` with `profile`, `personal_id`, `account`), see `oauth/claims.rs`.
pub const APP_CLAIMS: [&str; 4] = ["name", "birthdate", "personal_id", "account"];

/// Shortest and longest `session_ttl`.
pub const MIN_APP_SESSION: Duration = Duration::from_secs(60);
pub const MAX_APP_SESSION: Duration = Duration::from_secs(24 * 3600);

/// The first path segments the gateway serves itself: a `path_prefix` may not start with one.
const GATEWAY_SEGMENTS: [&str; 16] = [
    ".well-known",
    "jwks",
    "branding",
    "authorize",
    "login",
    "token",
    "introspect",
    "revoke",
    "logout",
    "userinfo",
    "healthz",
    "readyz",
    "metrics",
    "admin",
    "demo",
    "simulator",
];

/// One protected application (`[[protected_apps]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectedAppSettings {
    /// Also the id of the client the gateway registers for it (its `aud`).
    pub id: String,
    /// The app's public origin (`https://motcua.example.gov.vn`); the gateway's paths live
    /// under it, below `path_prefix`.
    pub url: Url,
    /// The path the reverse proxy sends to the gateway on the app's host.
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    /// Absent: `policy.default_min_level`.
    #[serde(default)]
    pub min_level: Option<AssuranceLevel>,
    /// What the app receives besides `sub` (see [`APP_CLAIMS`]).
    #[serde(default)]
    pub claims: Vec<String>,
    /// How long an app session lasts (absolute, from the login).
    #[serde(default = "default_session_ttl", deserialize_with = "de_duration")]
    pub session_ttl: Duration,
    /// Shown on pages; absent: the id.
    #[serde(default)]
    pub name: Option<String>,
}

fn default_prefix() -> String {
    "/.vneid".into()
}

fn default_session_ttl() -> Duration {
    Duration::from_secs(8 * 3600)
}

impl ProtectedAppSettings {
    /// The origin as written in the answers: `scheme://host[:port]`, no trailing slash.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    /// The app's callback, the redirect URI of its client.
    pub fn callback_url(&self) -> String {
        format!("{}{}/callback", self.origin(), self.path_prefix)
    }

    /// Where the gateway's end-session endpoint sends the browser back to.
    pub fn logout_url(&self) -> String {
        format!("{}{}/logout", self.origin(), self.path_prefix)
    }

    /// The scopes that release [`ProtectedAppSettings::claims`].
    pub fn scopes(&self) -> Vec<String> {
        let mut scopes = vec!["openid".to_owned()];
        for c in &self.claims {
            let scope = match c.as_str() {
                "name" | "birthdate" => "profile",
                other => other,
            };
            if !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_owned());
            }
        }
        scopes
    }

    /// The rules of one app, naming the bad key under `key` (`protected_apps[0]`).
    pub fn check(&self, key: &str) -> Result<(), ConfigError> {
        let at = |name: &str| format!("{key}.{name}");
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError::new(
                at("id"),
                "1 to 64 letters, digits, - and _ (it names the app's cookie)",
            ));
        }
        check_https(&at("url"), &self.url)?;
        if !matches!(self.url.path(), "" | "/")
            || self.url.query().is_some()
            || self.url.fragment().is_some()
            || !self.url.username().is_empty()
            || self.url.password().is_some()
        {
            return Err(ConfigError::new(
                at("url"),
                format!(
                    "{}: the app's origin only (scheme, host and port): no path, query, fragment or user",
                    self.url
                ),
            ));
        }
        check_prefix(&self.path_prefix).map_err(|m| ConfigError::new(at("path_prefix"), m))?;
        for (j, c) in self.claims.iter().enumerate() {
            if !APP_CLAIMS.contains(&c.as_str()) {
                return Err(ConfigError::new(
                    at(&format!("claims[{j}]")),
                    format!(
                        "{c:?} is not a claim the gateway releases to an app (known: {}; sub and acr are always sent)",
                        APP_CLAIMS.join(", ")
                    ),
                ));
            }
            if self.claims[..j].contains(c) {
                return Err(ConfigError::new(
                    at(&format!("claims[{j}]")),
                    format!("{c:?} is listed twice"),
                ));
            }
        }
        if self.session_ttl < MIN_APP_SESSION || self.session_ttl > MAX_APP_SESSION {
            return Err(ConfigError::new(
                at("session_ttl"),
                "must be between 1 minute and 24 hours",
            ));
        }
        Ok(())
    }
}

/// `/.vneid`: starts with `/`, one or more segments of letters, digits, `.`, `-`, `_`, `~`, no
/// trailing `/`, no `.` or `..` segment, and a first segment the gateway does not serve itself.
fn check_prefix(p: &str) -> Result<(), String> {
    let Some(rest) = p.strip_prefix('/') else {
        return Err(format!("{p:?} must start with /"));
    };
    if rest.is_empty() || p.len() > 100 {
        return Err(format!("{p:?}: 1 to 100 characters after the /"));
    }
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Err(format!("{p:?}: no trailing / and no empty segment (//)"));
        }
        if segment == "." || segment == ".." {
            return Err(format!("{p:?}: no . or .. segment"));
        }
        if !segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~'))
        {
            return Err(format!("{p:?}: letters, digits, . - _ ~ and / only"));
        }
    }
    let first = rest.split('/').next().unwrap_or("");
    if GATEWAY_SEGMENTS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(first))
    {
        return Err(format!(
            "{p:?} collides with the gateway's own routes (/{first}…); use e.g. \"/.vneid\""
        ));
    }
    Ok(())
}

/// The rules across apps: unique ids, none shared with a client (configured or built in),
/// and one app per host and prefix (the host and prefix of a request name its app).
pub fn check_apps(
    apps: &[ProtectedAppSettings],
    client_ids: &[&str],
    builtin_ids: &[&str],
) -> Result<(), ConfigError> {
    for (i, app) in apps.iter().enumerate() {
        let key = format!("protected_apps[{i}]");
        app.check(&key)?;
        let earlier = &apps[..i];
        if earlier.iter().any(|a| a.id == app.id) {
            return Err(ConfigError::new(
                format!("{key}.id"),
                format!("duplicate id {:?}", app.id),
            ));
        }
        if client_ids.contains(&app.id.as_str()) || builtin_ids.contains(&app.id.as_str()) {
            return Err(ConfigError::new(
                format!("{key}.id"),
                format!(
                    "{:?} is already a client id: the gateway registers a client of the app's id for it",
                    app.id
                ),
            ));
        }
        let host = app.url.host_str().unwrap_or("");
        if let Some(other) = earlier.iter().find(|a| {
            a.url.host_str().unwrap_or("").eq_ignore_ascii_case(host)
                && a.path_prefix == app.path_prefix
        }) {
            return Err(ConfigError::new(
                format!("{key}.path_prefix"),
                format!(
                    "{:?} on host {host} is already the prefix of {:?}: apps on one host need different prefixes",
                    app.path_prefix, other.id
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn app(extra: &str) -> ProtectedAppSettings {
        toml::from_str(&format!(
            "id = \"motcua-legacy\"\nurl = \"https://motcua.example.gov.vn\"\n{extra}"
        ))
        .unwrap()
    }

    fn err(a: &ProtectedAppSettings) -> String {
        a.check("protected_apps[0]").unwrap_err().to_string()
    }

    #[test]
    fn defaults_and_scopes() {
        let a = app("claims = [\"name\", \"account\", \"birthdate\"]");
        a.check("protected_apps[0]").unwrap();
        assert_eq!(a.path_prefix, "/.vneid");
        assert_eq!(a.session_ttl, Duration::from_secs(8 * 3600));
        assert_eq!(a.scopes(), ["openid", "profile", "account"]);
        assert_eq!(
            a.callback_url(),
            "https://motcua.example.gov.vn/.vneid/callback"
        );
    }

    #[test]
    fn each_rule_names_its_key() {
        for (extra, key) in [
            ("path_prefix = \"vneid\"", "protected_apps[0].path_prefix"),
            (
                "path_prefix = \"/.vneid/\"",
                "protected_apps[0].path_prefix",
            ),
            ("path_prefix = \"/\"", "protected_apps[0].path_prefix"),
            (
                "path_prefix = \"/login/x\"",
                "protected_apps[0].path_prefix",
            ),
            ("path_prefix = \"/Admin\"", "protected_apps[0].path_prefix"),
            ("path_prefix = \"/a/../b\"", "protected_apps[0].path_prefix"),
            ("path_prefix = \"/a b\"", "protected_apps[0].path_prefix"),
            ("claims = [\"email\"]", "protected_apps[0].claims[0]"),
            (
                "claims = [\"name\", \"name\"]",
                "protected_apps[0].claims[1]",
            ),
            ("session_ttl = \"10s\"", "protected_apps[0].session_ttl"),
            ("session_ttl = \"2d\"", "protected_apps[0].session_ttl"),
        ] {
            let e = err(&app(extra));
            assert!(e.starts_with(&format!("{key}: ")), "{extra}: {e}");
        }
        for url in [
            "http://motcua.example.gov.vn",
            "https://motcua.example.gov.vn/app",
            "https://motcua.example.gov.vn/?x=1",
            "https://u:p@motcua.example.gov.vn",
        ] {
            let a: ProtectedAppSettings =
                toml::from_str(&format!("id = \"a\"\nurl = \"{url}\"")).unwrap();
            assert!(err(&a).starts_with("protected_apps[0].url: "), "{url}");
        }
        let a: ProtectedAppSettings =
            toml::from_str("id = \"a b\"\nurl = \"https://x.example\"").unwrap();
        assert!(err(&a).starts_with("protected_apps[0].id: "));
        let a: ProtectedAppSettings =
            toml::from_str("id = \"a\"\nurl = \"http://127.0.0.1:8081\"").unwrap();
        a.check("protected_apps[0]").unwrap();
    }

    #[test]
    fn across_apps() {
        let a = app("");
        let e = check_apps(&[a.clone(), a.clone()], &[], &[]).unwrap_err();
        assert_eq!(e.key, "protected_apps[1].id");
        let e = check_apps(std::slice::from_ref(&a), &["motcua-legacy"], &[]).unwrap_err();
        assert_eq!(e.key, "protected_apps[0].id");
        let e = check_apps(std::slice::from_ref(&a), &[], &["motcua-legacy"]).unwrap_err();
        assert_eq!(e.key, "protected_apps[0].id");
        let mut b = app("");
        b.id = "other".into();
        let e = check_apps(&[a.clone(), b.clone()], &[], &[]).unwrap_err();
        assert_eq!(e.key, "protected_apps[1].path_prefix");
        b.path_prefix = "/.vneid-other".into();
        check_apps(&[a.clone(), b.clone()], &[], &[]).unwrap();
        // The same prefix on another host is another app.
        b.path_prefix = "/.vneid".into();
        b.url = Url::parse("https://hoso.example.gov.vn").unwrap();
        check_apps(&[a, b], &[], &[]).unwrap();
    }
}
