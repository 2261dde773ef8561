//! Downstream portals: a registered [`Client`] (from the configuration file or the database),
//! the [`ClientRegistry`] every replica keeps and reloads, and registering or removing one
//! ([`register`]).

mod register;
mod registry;
#[cfg(test)]
mod tests;

use secrecy::ExposeSecret;
use url::Url;
use vneid_core::{AccountType, AssuranceLevel};
use vneid_tokens::MasterKey;

use crate::config::{
    pairwise_sector, ClientAuthMethod, ClientProfile, ClientSettings, SubjectType,
};

pub use register::{
    database_client, new_client_secret, register_client, remove_client, rotate_secret,
    update_client, Actor, ChangeError, RegisterError,
};
pub use registry::ClientRegistry;

/// Where a client is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSource {
    /// `[[clients]]` in the configuration file.
    Config,
    /// The `clients` table (admin API, `gateway clients add`).
    Database,
    /// Made by the gateway itself: the demo portal's (`demo.enabled`) and the IT centre's page's.
    Builtin,
}

impl ClientSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Database => "database",
            Self::Builtin => "builtin",
        }
    }
}

/// A registered downstream portal, with its secret kept only as a keyed hash.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    /// During a secret rotation, the previous secret, accepted until its time.
    pub previous_secret: Option<vneid_store::PreviousSecret>,
    pub auth_method: ClientAuthMethod,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub min_level: Option<AssuranceLevel>,
    /// The account types this portal admits (`account_types`; both by default).
    pub account_types: Vec<AccountType>,
    pub upstreams: Vec<String>,
    pub grant_types: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    /// Public keys for `private_key_jwt` (JWKS JSON).
    pub jwks: Option<String>,
    pub subject_type: SubjectType,
    /// The `sector_identifier` as registered.
    pub sector_identifier: Option<String>,
    /// The sector whose pairwise `sub` this client gets; `None` for a public client.
    pub sector: Option<String>,
    /// `require_pushed_authorization_requests`: logins start only from a pushed request
    /// (`/par`). Set in the configuration file or stored with a database client; always with
    /// the `fapi2` profile.
    pub require_par: bool,
    /// `dpop_bound_access_tokens`: every token request carries a DPoP proof (RFC 9449); always
    /// with the `fapi2` profile.
    pub dpop_bound: bool,
    /// `fapi2`: the FAPI 2.0 Security Profile (`config/fapi2.rs`); its per-request rules are
    /// the methods below.
    pub profile: ClientProfile,
    pub source: ClientSource,
    /// When it was registered (database clients).
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Client {
    pub fn from_settings(c: &ClientSettings, master: &MasterKey) -> Self {
        Self {
            id: c.client_id.clone(),
            name: c.name.clone().unwrap_or_else(|| c.client_id.clone()),
            secret_hash: c
                .client_secret
                .as_ref()
                .map(|s| master.hash_client_secret(s.expose_secret())),
            previous_secret: None,
            auth_method: c.auth_method(),
            redirect_uris: c.redirect_uris.iter().map(Url::to_string).collect(),
            scopes: c.scopes.clone(),
            min_level: c.min_level,
            account_types: c.admitted_account_types(),
            upstreams: c.upstreams.clone(),
            grant_types: c.grant_types.clone(),
            post_logout_redirect_uris: c
                .post_logout_redirect_uris
                .iter()
                .map(Url::to_string)
                .collect(),
            backchannel_logout_uri: c.backchannel_logout_uri.as_ref().map(Url::to_string),
            jwks: c.jwks.clone(),
            subject_type: c.subject_type,
            sector_identifier: c.sector_identifier.clone(),
            sector: match c.subject_type {
                SubjectType::Public => None,
                SubjectType::Pairwise => pairwise_sector(
                    c.sector_identifier.as_deref(),
                    c.redirect_uris.iter().map(Url::as_str),
                ),
            },
            require_par: c.requires_par(),
            dpop_bound: c.dpop_bound(),
            profile: c.profile,
            source: if c.builtin {
                ClientSource::Builtin
            } else {
                ClientSource::Config
            },
            created_at: None,
        }
    }

    /// A client of the database (its secret is already a keyed hash).
    pub fn from_row(r: &vneid_store::ClientRow) -> Result<Self, String> {
        let auth_method = match r.token_endpoint_auth_method.as_str() {
            "client_secret_basic" => ClientAuthMethod::ClientSecretBasic,
            "client_secret_post" => ClientAuthMethod::ClientSecretPost,
            "private_key_jwt" => ClientAuthMethod::PrivateKeyJwt,
            "none" => ClientAuthMethod::None,
            other => return Err(format!("unknown token_endpoint_auth_method {other:?}")),
        };
        let min_level = match r.min_level {
            Some(n) => Some(AssuranceLevel::from_number(i64::from(n)).map_err(|e| e.to_string())?),
            None => None,
        };
        let subject_type =
            SubjectType::parse(&r.subject_type).map_err(|e| format!("subject_type {e}"))?;
        // NULL: a row of a build before account types, or one that admits both.
        let account_types = match &r.account_types {
            None => AccountType::ALL.to_vec(),
            Some(names) => names
                .iter()
                .map(|n| AccountType::parse(n).ok_or(format!("unknown account type {n:?}")))
                .collect::<Result<_, _>>()?,
        };
        let sector = match subject_type {
            SubjectType::Public => None,
            SubjectType::Pairwise => Some(
                pairwise_sector(
                    r.sector_identifier.as_deref(),
                    r.redirect_uris.iter().map(String::as_str),
                )
                .ok_or("a pairwise client without a sector")?,
            ),
        };
        Ok(Self {
            id: r.client_id.clone(),
            name: r.name.clone().unwrap_or_else(|| r.client_id.clone()),
            secret_hash: r.secret_hash.clone(),
            previous_secret: r.previous_secret.clone(),
            auth_method,
            redirect_uris: r.redirect_uris.clone(),
            scopes: r.scopes.clone(),
            min_level,
            account_types,
            upstreams: r.upstreams.clone(),
            grant_types: r.grant_types.clone(),
            post_logout_redirect_uris: r.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: r.backchannel_logout_uri.clone(),
            jwks: r.jwks.clone(),
            subject_type,
            sector_identifier: r.sector_identifier.clone(),
            sector,
            require_par: r.require_pushed_authorization_requests,
            dpop_bound: r.dpop_bound_access_tokens,
            profile: ClientProfile::parse(&r.profile).map_err(|e| format!("profile {e}"))?,
            source: ClientSource::Database,
            created_at: Some(r.created_at),
        })
    }

    pub fn is_public(&self) -> bool {
        self.auth_method == ClientAuthMethod::None
    }

    /// Whether every token of this client is bound to a DPoP key (its own setting, or the
    /// FAPI 2.0 profile).
    pub fn requires_dpop(&self) -> bool {
        self.dpop_bound || self.is_fapi2()
    }

    /// Whether its logins start only from a pushed request (its own setting, or the profile).
    pub fn requires_par(&self) -> bool {
        self.require_par || self.is_fapi2()
    }

    /// Whether its authorization requests carry PKCE (S256): public clients, and the profile
    /// (FAPI 2.0 Security Profile §5.3.2.2).
    pub fn requires_pkce(&self) -> bool {
        self.is_public() || self.is_fapi2()
    }

    /// How long its authorization codes live: `configured`, at most 60 s under the profile.
    pub fn code_ttl(&self, configured: std::time::Duration) -> std::time::Duration {
        if self.is_fapi2() {
            configured.min(crate::config::fapi2::MAX_CODE_TTL)
        } else {
            configured
        }
    }

    /// Whether it may sign a client assertion or a DPoP proof with `alg`: any algorithm the
    /// gateway verifies, only ES256, PS256 and EdDSA under the profile.
    pub fn allows_alg(&self, alg: &str) -> bool {
        !self.is_fapi2() || crate::config::fapi2::ALGS.contains(&alg)
    }

    fn is_fapi2(&self) -> bool {
        self.profile == ClientProfile::Fapi2
    }

    pub fn has_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    /// Exact string match, as OAuth 2.0 Security BCP asks.
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }
}
