//! `[[upstreams]]` configuration and its validation.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

/// One upstream login broker (`[[upstreams]]` in the gateway's config).
///
/// # Where the endpoints come from
///
/// `issuer` is **always required**: it is the value every ID token's `iss` is checked against,
/// and the base of discovery (`{issuer}/.well-known/openid-configuration`).
///
/// - Only `issuer` set: all four endpoints come from discovery (fetched lazily on first use,
///   cached for an hour). The discovery document's `issuer` must be this issuer, and ID tokens'
///   `iss` must then equal the *discovered* string exactly.
/// - `issuer` and some of the four `*_endpoint`/`jwks_uri` keys set: discovery still runs, and
///   each explicit key overrides the discovered value (e.g. a token endpoint reached over an
///   internal address).
/// - `issuer` and all four of `authorization_endpoint`, `token_endpoint`, `userinfo_endpoint`,
///   `jwks_uri` set: **no discovery at all**, for brokers that publish no discovery document.
///   `iss` is then checked against `issuer` as written; because a URL with an empty path is
///   stored as `https://host/`, `https://host` and `https://host/` are both accepted for such an
///   issuer (and only for such an issuer).
///
/// Plain `http://` is accepted for the issuer and every endpoint only on loopback hosts
/// (`127.0.0.0/8`, `::1`, `localhost`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// The gateway's name for this upstream: callback path `/login/{id}/callback`, metric label.
    /// ASCII letters, digits, `-` and `_`, at most 64 characters.
    pub id: String,
    /// The upstream's issuer identifier (required, see the type's documentation).
    pub issuer: Option<Url>,
    /// Overrides the discovered `authorization_endpoint`.
    pub authorization_endpoint: Option<Url>,
    /// Overrides the discovered `token_endpoint`.
    pub token_endpoint: Option<Url>,
    /// Overrides the discovered `userinfo_endpoint`.
    pub userinfo_endpoint: Option<Url>,
    /// Overrides the discovered `jwks_uri`.
    pub jwks_uri: Option<Url>,
    pub client_id: String,
    pub client_secret: secrecy::SecretString,
    /// How the client authenticates at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_method: ClientAuthMethod,
    /// Scopes asked for; must contain `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Userinfo field names.
    #[serde(default)]
    pub claims: ClaimNames,
    /// Which values of the account-type field (`claims.account_type`) mean which account type.
    #[serde(default)]
    pub account_types: AccountTypeValues,
    /// Shown on the gateway's chooser page.
    #[serde(default)]
    pub display_name: Option<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".to_owned()]
}

/// Client authentication at the token endpoint (OIDC Core 9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with the url-encoded client id and secret (RFC 6749 2.3.1).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// The userinfo field names the broker uses. Defaults are the national broker's.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimNames {
    /// The person's stable identifier at the upstream.
    pub subject: String,
    /// Personal ID number (số định danh cá nhân).
    pub personal_id: String,
    /// Full name.
    pub name: String,
    /// Birth date, parsed with `birthdate_format`.
    pub birthdate: String,
    /// A chrono format string (`%Y%m%d` = `yyyyMMdd`).
    pub birthdate_format: String,
    /// Identity assurance level (1 or 2).
    pub level: String,
    /// Which account system the person used (`BCA` = VNeID).
    pub login_idp: String,
    /// Account type (`1` = citizen).
    pub account_type: String,
    /// The national portal's technical id.
    pub tech_id: String,
    /// An organisation's identifier: the first of these fields that has a value (the enterprise
    /// code, else the tax code).
    pub organisation_id: Vec<String>,
    /// An organisation's name.
    pub organisation_name: String,
    /// An organisation's legal representative.
    pub organisation_representative: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            subject: "sub".to_owned(),
            personal_id: "SoDinhDanh".to_owned(),
            name: "HoVaTen".to_owned(),
            birthdate: "NgayThangNamSinh".to_owned(),
            birthdate_format: "%Y%m%d".to_owned(),
            level: "IAL".to_owned(),
            login_idp: "loginIdp".to_owned(),
            account_type: "LoaiTaiKhoan".to_owned(),
            tech_id: "TechID".to_owned(),
            organisation_id: vec!["MaSoDoanhNghiep".to_owned(), "MaSoThue".to_owned()],
            organisation_name: "TenDoanhNghiep".to_owned(),
            organisation_representative: "NguoiDaiDien".to_owned(),
        }
    }
}

/// `[upstreams.account_types]`: the values of the account-type field that mean a citizen's and
/// an organisation's account. Matched exactly (a JSON number is matched as its digits). Any
/// other value, or no value, is refused at login (fail closed).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AccountTypeValues {
    pub citizen: Vec<String>,
    pub organisation: Vec<String>,
}

impl Default for AccountTypeValues {
    fn default() -> Self {
        Self {
            citizen: vec!["1".to_owned()],
            organisation: vec!["2".to_owned()],
        }
    }
}

impl AccountTypeValues {
    /// The account type a raw value of the account-type field means, if any.
    pub fn account_type(&self, raw: &str) -> Option<vneid_core::AccountType> {
        use vneid_core::AccountType;
        if self.citizen.iter().any(|v| v == raw) {
            Some(AccountType::Citizen)
        } else if self.organisation.iter().any(|v| v == raw) {
            Some(AccountType::Organisation)
        } else {
            None
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        for (key, values) in [
            ("citizen", &self.citizen),
            ("organisation", &self.organisation),
        ] {
            if let Some(bad) = values
                .iter()
                .find(|v| v.trim().is_empty() || v.trim() != *v)
            {
                return Err((
                    key,
                    format!("{bad:?}: a value is not empty and has no surrounding spaces"),
                ));
            }
        }
        if self.citizen.is_empty() {
            return Err((
                "citizen",
                "must list at least one value (citizens could not log in)".to_owned(),
            ));
        }
        if let Some(both) = self.citizen.iter().find(|v| self.organisation.contains(v)) {
            return Err((
                "organisation",
                format!("{both:?} is also listed under citizen"),
            ));
        }
        Ok(())
    }
}

impl UpstreamConfig {
    /// Checks the whole entry once at start-up; the error names the bad key, e.g.
    /// `upstreams[dvcqg].issuer: must be https:// except on loopback`.
    pub fn validate(&self) -> Result<(), String> {
        let id = &self.id;
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "upstreams[{id}].id: must be 1 to 64 ASCII letters, digits, '-' or '_'"
            ));
        }
        let key = |k: &str| format!("upstreams[{id}].{k}");

        match &self.issuer {
            None => {
                return Err(format!(
                    "{}: required (the expected `iss` of ID tokens and the discovery base)",
                    key("issuer")
                ))
            }
            Some(issuer) => {
                check_url(issuer).map_err(|e| format!("{}: {e}", key("issuer")))?;
                if issuer.query().is_some() || issuer.fragment().is_some() {
                    return Err(format!(
                        "{}: an issuer has no query or fragment",
                        key("issuer")
                    ));
                }
            }
        }
        for (name, url) in [
            ("authorization_endpoint", &self.authorization_endpoint),
            ("token_endpoint", &self.token_endpoint),
            ("userinfo_endpoint", &self.userinfo_endpoint),
            ("jwks_uri", &self.jwks_uri),
        ] {
            if let Some(url) = url {
                check_url(url).map_err(|e| format!("{}: {e}", key(name)))?;
            }
        }
        if self.client_id.trim().is_empty() {
            return Err(format!("{}: must not be empty", key("client_id")));
        }
        if secrecy::ExposeSecret::expose_secret(&self.client_secret).is_empty() {
            return Err(format!("{}: must not be empty", key("client_secret")));
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err(format!("{}: must contain \"openid\"", key("scopes")));
        }
        if let Some(bad) = self
            .scopes
            .iter()
            .find(|s| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c == '"'))
        {
            return Err(format!("{}: invalid scope {bad:?}", key("scopes")));
        }
        if matches!(&self.display_name, Some(d) if d.trim().is_empty()) {
            return Err(format!(
                "{}: must not be empty when set",
                key("display_name")
            ));
        }
        self.claims
            .validate()
            .map_err(|(field, e)| format!("{}: {e}", key(&format!("claims.{field}"))))?;
        self.account_types
            .validate()
            .map_err(|(field, e)| format!("{}: {e}", key(&format!("account_types.{field}"))))
    }

    /// True when all four endpoints are configured, so no discovery document is fetched.
    pub fn is_explicit(&self) -> bool {
        self.authorization_endpoint.is_some()
            && self.token_endpoint.is_some()
            && self.userinfo_endpoint.is_some()
            && self.jwks_uri.is_some()
    }
}

impl ClaimNames {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        for (field, value) in [
            ("subject", &self.subject),
            ("personal_id", &self.personal_id),
            ("name", &self.name),
            ("birthdate", &self.birthdate),
            ("level", &self.level),
            ("login_idp", &self.login_idp),
            ("account_type", &self.account_type),
            ("tech_id", &self.tech_id),
            ("organisation_name", &self.organisation_name),
            (
                "organisation_representative",
                &self.organisation_representative,
            ),
        ] {
            if value.is_empty() {
                return Err((field, "must not be empty".to_owned()));
            }
        }
        if self.organisation_id.is_empty() || self.organisation_id.iter().any(String::is_empty) {
            return Err((
                "organisation_id",
                "must list at least one field name, none empty".to_owned(),
            ));
        }
        check_date_format(&self.birthdate_format).map_err(|e| ("birthdate_format", e))
    }
}

/// A chrono format must have no error items and must round-trip a date (so it names year,
/// month and day).
fn check_date_format(format: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    use std::fmt::Write;

    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return Err(format!("{format:?} is not a valid chrono format"));
    }
    let sample = chrono::NaiveDate::from_ymd_opt(1990, 5, 17)
        .ok_or_else(|| "internal: bad sample date".to_owned())?;
    let mut text = String::new();
    // Writing into a String, unlike `to_string()`, reports a formatting error instead of
    // panicking.
    write!(text, "{}", sample.format(format))
        .map_err(|_| format!("{format:?} is not a valid chrono format"))?;
    match chrono::NaiveDate::parse_from_str(&text, format) {
        Ok(d) if d == sample => Ok(()),
        _ => Err(format!(
            "{format:?} does not give a full date (year, month and day)"
        )),
    }
}

/// `https://`, or `http://` on a loopback host; no credentials in the URL.
pub(crate) fn check_url(url: &Url) -> Result<(), String> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".to_owned());
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        _ => Err("must be https:// except on loopback".to_owned()),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Whether `iss` names the configured issuer. Exact, except that an issuer with an empty path
/// (which `Url` always writes with a trailing `/`) also matches without it.
pub(crate) fn same_issuer(configured: &Url, iss: &str) -> bool {
    let c = configured.as_str();
    iss == c
        || (configured.path() == "/"
            && configured.query().is_none()
            && c.strip_suffix('/') == Some(iss))
}

/// The issuer as normally written: `https://host` rather than `https://host/`.
pub(crate) fn issuer_text(configured: &Url) -> String {
    let c = configured.as_str();
    if configured.path() == "/" {
        c.strip_suffix('/').unwrap_or(c).to_owned()
    } else {
        c.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn loopback_hosts_may_use_plain_http() {
        for ok in [
            "http://127.0.0.1:8080/x",
            "http://127.9.8.7/",
            "http://[::1]:9/",
            "http://localhost:1/",
            "http://LOCALHOST/",
            "https://broker.example/",
        ] {
            assert_eq!(check_url(&url(ok)), Ok(()), "{ok}");
        }
        for bad in [
            "http://broker.example/",
            "http://10.0.0.1/",
            "http://localhost.example/",
            "http://foo.localhost/",
            "ftp://127.0.0.1/",
            "https://user:pw@broker.example/",
        ] {
            assert!(check_url(&url(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn issuer_with_empty_path_matches_with_and_without_slash_only() {
        assert!(same_issuer(&url("https://a.example"), "https://a.example"));
        assert!(same_issuer(&url("https://a.example"), "https://a.example/"));
        assert!(same_issuer(
            &url("https://a.example/r/x"),
            "https://a.example/r/x"
        ));
        assert!(!same_issuer(
            &url("https://a.example/r/x"),
            "https://a.example/r/x/"
        ));
        assert!(!same_issuer(&url("https://a.example"), "https://b.example"));
        assert_eq!(issuer_text(&url("https://a.example")), "https://a.example");
        assert_eq!(
            issuer_text(&url("https://a.example/r/")),
            "https://a.example/r/"
        );
    }

    #[test]
    fn date_formats_must_give_a_full_date() {
        assert!(check_date_format("%Y%m%d").is_ok());
        assert!(check_date_format("%d/%m/%Y").is_ok());
        assert!(check_date_format("%Y-%m").is_err());
        assert!(check_date_format("%Q").is_err());
        assert!(check_date_format("").is_err());
    }
}
