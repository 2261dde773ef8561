//! `[[clients]]`: a downstream portal's settings, their defaults (one home for the file, the
//! admin API and `gateway clients add`) and the rules one client must follow.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;
use vneid_core::{AccountType, AssuranceLevel};

use super::validate::check_https;
use super::ConfigError;

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

/// A rule set a client follows as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClientProfile {
    /// The gateway's own rules.
    #[default]
    Standard,
    /// The OpenID Foundation's FAPI 2.0 Security Profile.
    Fapi2,
}

impl ClientProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Fapi2 => "fapi2",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "standard" => Ok(Self::Standard),
            "fapi2" => Ok(Self::Fapi2),
            other => Err(format!("{other:?}: use \"standard\" or \"fapi2\"")),
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
    /// The account types this portal admits: `citizen`, `organisation` (default: both). A
    /// citizens' portal lists `["citizen"]`; organisations are then refused with a page.
    #[serde(default = "default_account_types")]
    pub account_types: Vec<String>,
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
    /// Only pushed authorization requests (RFC 9126, `POST /par`) start a login for this
    /// client: a plain `/authorize` with the parameters in the URL is refused. Absent: only
    /// with the `fapi2` profile ([`ClientSettings::requires_par`]).
    #[serde(default)]
    pub require_pushed_authorization_requests: Option<bool>,
    /// Access tokens only bound to a key the client holds (RFC 9449 DPoP): `/token` refuses a
    /// request without a DPoP proof. Absent: only with the `fapi2` profile
    /// ([`ClientSettings::dpop_bound`]).
    #[serde(default)]
    pub dpop_bound_access_tokens: Option<bool>,
    /// `fapi2`: the FAPI 2.0 Security Profile's rules, enforced at once (`config/fapi2.rs`).
    #[serde(default)]
    pub profile: ClientProfile,
    /// Made by the gateway itself (the demo portal's, the IT centre's page's), not written in
    /// the configuration file.
    #[serde(skip)]
    pub builtin: bool,
}

/// The grants of a client that names none (configuration file, admin API, `gateway clients
/// add`): the authorization code flow.
pub fn default_grants() -> Vec<String> {
    vec!["authorization_code".into()]
}

/// The scopes of a client that names none: `openid profile`.
pub fn default_client_scopes() -> Vec<String> {
    ["openid", "profile"].map(String::from).to_vec()
}

/// The scope every admin API call needs (and that lets an operator's tool introspect any token).
pub const ADMIN_SCOPE: &str = "admin";
/// The account types of a client that names none: both.
pub fn default_account_types() -> Vec<String> {
    AccountType::ALL.map(|t| t.as_str().to_owned()).to_vec()
}

/// Scopes the gateway knows.
pub const KNOWN_SCOPES: [&str; 8] = [
    "openid",
    "profile",
    "personal_id",
    "account",
    "organisation",
    "offline_access",
    "admin",
    "admin:pii",
];

/// Scopes about a person: they make no sense for a machine client (`client_credentials`).
pub const PERSON_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "personal_id",
    "account",
    "organisation",
    "offline_access",
];

/// RFC 8693 token exchange: a portal trades a person's access token for one to an API resource.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Grant types the token endpoint serves.
pub const GRANT_TYPES: [&str; 4] = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    TOKEN_EXCHANGE,
];

/// `key.name`, or `name` alone when `key` is empty (a client checked on its own, as the admin
/// API does: its errors name the request's fields).
pub(super) fn field(key: &str, name: &str) -> String {
    if key.is_empty() {
        name.to_owned()
    } else {
        format!("{key}.{name}")
    }
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

    /// Whether its logins start only from a pushed request: as set, or as its profile has it
    /// for a client of the code flow (a machine client has no authorization request to push).
    pub fn requires_par(&self) -> bool {
        self.require_pushed_authorization_requests.unwrap_or(
            self.profile == ClientProfile::Fapi2
                && self.grant_types.iter().any(|g| g == "authorization_code"),
        )
    }

    /// Whether its access tokens are DPoP-bound: as set, or as its profile has it.
    pub fn dpop_bound(&self) -> bool {
        self.dpop_bound_access_tokens
            .unwrap_or(self.profile == ClientProfile::Fapi2)
    }

    /// The account types this client admits, as [`ClientSettings::check`] accepted them (an
    /// unknown name, which `check` refuses, is left out).
    pub fn admitted_account_types(&self) -> Vec<AccountType> {
        AccountType::ALL
            .into_iter()
            .filter(|t| self.account_types.iter().any(|n| n == t.as_str()))
            .collect()
    }

    /// The rules of one client, naming the bad field under `key` (`clients[3]`, or `""` for a
    /// client checked on its own). `upstream_ids`: the configured upstreams a client may name
    /// (any name goes when the simulator is enabled, which serves every upstream);
    /// `resource_scopes`: the scopes of `[[resources]]`, which a client may hold too.
    pub fn check(
        &self,
        key: &str,
        upstream_ids: &[&str],
        resource_scopes: &[&str],
        simulator_enabled: bool,
    ) -> Result<(), ConfigError> {
        let browser_client = self.grant_types.iter().any(|g| g == "authorization_code");
        if browser_client && self.redirect_uris.is_empty() {
            return Err(ConfigError::new(
                field(key, "redirect_uris"),
                "at least one is required with the authorization_code grant",
            ));
        }
        for (j, u) in self.redirect_uris.iter().enumerate() {
            check_https(&field(key, &format!("redirect_uris[{j}]")), u)?;
            if u.fragment().is_some() {
                return Err(ConfigError::new(
                    field(key, &format!("redirect_uris[{j}]")),
                    "must not carry a fragment",
                ));
            }
        }
        for (j, u) in self.post_logout_redirect_uris.iter().enumerate() {
            check_https(&field(key, &format!("post_logout_redirect_uris[{j}]")), u)?;
        }
        if let Some(u) = &self.backchannel_logout_uri {
            check_https(&field(key, "backchannel_logout_uri"), u)?;
        }
        for s in &self.scopes {
            if !KNOWN_SCOPES.contains(&s.as_str()) && !resource_scopes.contains(&s.as_str()) {
                let mut known = KNOWN_SCOPES.to_vec();
                known.extend_from_slice(resource_scopes);
                return Err(ConfigError::new(
                    field(key, "scopes"),
                    format!("unknown scope {s:?} (known: {})", known.join(", ")),
                ));
            }
        }
        if browser_client && !self.scopes.iter().any(|s| s == "openid") {
            return Err(ConfigError::new(
                field(key, "scopes"),
                "must include \"openid\" with the authorization_code grant",
            ));
        }
        if self.grant_types.is_empty() {
            return Err(ConfigError::new(
                field(key, "grant_types"),
                "at least one is required",
            ));
        }
        for g in &self.grant_types {
            if !GRANT_TYPES.contains(&g.as_str()) {
                return Err(ConfigError::new(
                    field(key, "grant_types"),
                    format!(
                        "{g:?} is not supported (supported: {})",
                        GRANT_TYPES.join(", ")
                    ),
                ));
            }
            if g == "refresh_token" && !browser_client {
                return Err(ConfigError::new(
                    field(key, "grant_types"),
                    "refresh_token goes with authorization_code",
                ));
            }
            if (g == "client_credentials" || g == TOKEN_EXCHANGE)
                && self.auth_method() == ClientAuthMethod::None
            {
                return Err(ConfigError::new(
                    field(key, "grant_types"),
                    format!("{g} needs a confidential client"),
                ));
            }
        }
        if self.auth_method() == ClientAuthMethod::PrivateKeyJwt {
            let ok = self
                .jwks
                .as_deref()
                .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
                .is_some_and(|v| v["keys"].as_array().is_some_and(|k| !k.is_empty()));
            if !ok {
                return Err(ConfigError::new(
                    field(key, "jwks"),
                    "private_key_jwt needs the client's public keys as a JWKS ({\"keys\": [...]})",
                ));
            }
        }
        match (&self.client_secret, self.auth_method()) {
            (None, ClientAuthMethod::None | ClientAuthMethod::PrivateKeyJwt) => {}
            (Some(_), ClientAuthMethod::PrivateKeyJwt) => {
                return Err(ConfigError::new(
                    field(key, "client_secret"),
                    "a private_key_jwt client has no secret",
                ))
            }
            (None, m) => {
                return Err(ConfigError::new(
                    field(key, "client_secret"),
                    format!("required with token_endpoint_auth_method {:?}", m.as_str()),
                ))
            }
            (Some(_), ClientAuthMethod::None) => {
                return Err(ConfigError::new(
                    field(key, "client_secret"),
                    "a public client (token_endpoint_auth_method = \"none\") has no secret",
                ))
            }
            (Some(s), _) if s.expose_secret().len() < 32 => {
                return Err(ConfigError::new(
                    field(key, "client_secret"),
                    "must be at least 32 characters (use `openssl rand -base64 32`)",
                ))
            }
            _ => {}
        }
        if self.requires_par() && !browser_client {
            return Err(ConfigError::new(
                field(key, "require_pushed_authorization_requests"),
                "goes with the authorization_code grant",
            ));
        }
        check_subject_type(key, self, browser_client)?;
        if self.profile == ClientProfile::Fapi2 {
            super::fapi2::check(key, self)?;
        }
        check_account_types(key, &self.account_types)?;
        for u in &self.upstreams {
            if !upstream_ids.contains(&u.as_str()) && !simulator_enabled {
                return Err(ConfigError::new(
                    field(key, "upstreams"),
                    format!("no upstream with id {u:?}"),
                ));
            }
        }
        Ok(())
    }
}

/// `account_types` of `[[clients]]` entry `key`: at least one, each `citizen` or
/// `organisation`.
fn check_account_types(key: &str, names: &[String]) -> Result<(), ConfigError> {
    let known = || default_account_types().join(", ");
    if names.is_empty() {
        return Err(ConfigError::new(
            field(key, "account_types"),
            format!("at least one is required ({})", known()),
        ));
    }
    if let Some(bad) = names.iter().find(|n| AccountType::parse(n).is_none()) {
        return Err(ConfigError::new(
            field(key, "account_types"),
            format!("unknown account type {bad:?} (known: {})", known()),
        ));
    }
    Ok(())
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
                    field(key, "sector_identifier"),
                    "goes with subject_type = \"pairwise\"",
                ));
            }
        }
        SubjectType::Pairwise => {
            if !browser_client {
                return Err(ConfigError::new(
                    field(key, "subject_type"),
                    "pairwise goes with the authorization_code grant (a machine client's sub is its client_id)",
                ));
            }
            if let Some(s) = &c.sector_identifier {
                check_sector(s)
                    .map_err(|m| ConfigError::new(field(key, "sector_identifier"), m))?;
            } else if pairwise_sector(None, c.redirect_uris.iter().map(Url::as_str)).is_none() {
                return Err(ConfigError::new(
                    field(key, "sector_identifier"),
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
