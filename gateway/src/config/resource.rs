//! `[[resources]]`: the APIs behind the portals (RFC 8707 resource indicators). A resource is an
//! audience (the URI a portal names with `resource=`) and the scopes that only it understands.

use serde::Deserialize;
use url::Url;

use super::client::KNOWN_SCOPES;
use super::ConfigError;

/// An API resource (`[[resources]]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ResourceSettings {
    /// A short name (logs, metrics, `audience=` at token exchange).
    pub id: String,
    /// The `aud` of its access tokens and the value of `resource=`: an absolute URI.
    pub audience: String,
    /// Scopes of this resource only; a client may hold them, a token carries them only with
    /// this audience.
    pub scopes: Vec<String>,
}

/// A scope token as RFC 6749 §3.3 defines it, kept to what reads well in a configuration file.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'_' | b'-' | b'/'))
}

/// The rules of `[[resources]]`: unique ids, audiences and scopes; an audience is an absolute
/// URI without a fragment (RFC 8707 §2) and is no client's id (a client's own tokens carry its
/// id as `aud`); a resource scope is no scope of the gateway's own.
pub(super) fn check(
    resources: &[ResourceSettings],
    client_ids: &[&str],
) -> Result<(), ConfigError> {
    let mut seen_scopes: Vec<&str> = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        let key = format!("resources[{i}]");
        if r.id.is_empty()
            || !r
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(ConfigError::new(
                format!("{key}.id"),
                "letters, digits, '.', '-' and '_' only",
            ));
        }
        if resources[..i].iter().any(|o| o.id == r.id) {
            return Err(ConfigError::new(
                format!("{key}.id"),
                format!("duplicate resource id {:?}", r.id),
            ));
        }
        check_audience(&format!("{key}.audience"), &r.audience)?;
        if resources[..i].iter().any(|o| o.audience == r.audience) {
            return Err(ConfigError::new(
                format!("{key}.audience"),
                format!("{:?} is the audience of another resource", r.audience),
            ));
        }
        if client_ids.contains(&r.audience.as_str()) {
            return Err(ConfigError::new(
                format!("{key}.audience"),
                format!(
                    "{:?} is a client_id: a resource's audience must differ from every client's",
                    r.audience
                ),
            ));
        }
        if r.scopes.is_empty() {
            return Err(ConfigError::new(
                format!("{key}.scopes"),
                "at least one scope is required",
            ));
        }
        for s in &r.scopes {
            if !is_scope_token(s) {
                return Err(ConfigError::new(
                    format!("{key}.scopes"),
                    format!("{s:?}: a scope is 1 to 64 letters, digits or . : _ - /"),
                ));
            }
            if KNOWN_SCOPES.contains(&s.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.scopes"),
                    format!("{s:?} is a scope of the gateway itself"),
                ));
            }
            if seen_scopes.contains(&s.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.scopes"),
                    format!("{s:?} is listed twice (a scope belongs to one resource)"),
                ));
            }
            seen_scopes.push(s);
        }
    }
    Ok(())
}

/// An audience is an absolute `https://` URI (plain `http://` on loopback), without a
/// fragment, written in its normal form so that `resource=` compares as plain text.
fn check_audience(key: &str, audience: &str) -> Result<(), ConfigError> {
    let url = Url::parse(audience)
        .map_err(|e| ConfigError::new(key, format!("{audience:?} is not an absolute URI: {e}")))?;
    super::validate::check_https(key, &url)?;
    if url.fragment().is_some() {
        return Err(ConfigError::new(key, "must not carry a fragment"));
    }
    let normal = url.as_str();
    if normal != audience && normal.trim_end_matches('/') != audience {
        return Err(ConfigError::new(
            key,
            format!("write it in its normal form, {normal:?}"),
        ));
    }
    Ok(())
}
