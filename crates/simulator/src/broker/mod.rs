//! What the simulated broker decides: authorization requests, password + OTP and QR logins,
//! codes, tokens and userinfo. No HTTP here: handlers parse, call one function, render.
//!
//! Everything lives in memory behind one mutex ([`store`]); expired entries are dropped whenever
//! the store is touched. Time comes from an injected [`Clock`].
//!
//! Here: the [`Broker`], its construction from a checked configuration, discovery and keys. The
//! browser's flows are in [`login`] (password + OTP) and [`qr`] (QR approval, the phone), the
//! back channel in [`token`] (code exchange, ID token, userinfo).

mod error;
mod login;
mod qr;
mod secret;
mod store;
#[cfg(test)]
mod tests;
mod token;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use url::Url;
use vneid_core::Clock;

use crate::jws::JwsSigner;
use crate::people::Person;
use crate::{SimClient, SimulatorConfig, SimulatorError};
use store::Store;

pub(crate) use error::{OAuthError, PageError};
pub(crate) use login::{AuthorizeOutcome, LoginOutcome, LoginView, OtpOutcome, OtpView};
pub(crate) use qr::{QrContinue, QrStatus};
pub(crate) use store::{PendingQr, Sms};

/// A pending authorization (login page, OTP, QR) lives this long.
pub(crate) const PENDING_TTL: Duration = Duration::minutes(10);
/// Authorization codes must be exchanged within this time.
pub(crate) const CODE_TTL: Duration = Duration::seconds(60);
/// Spent codes are remembered this long, so a replay is recognised and what it issued revoked.
const SPENT_TTL: Duration = Duration::minutes(10);
pub(crate) const ACCESS_TOKEN_TTL: Duration = Duration::minutes(60);
pub(crate) const ID_TOKEN_TTL: Duration = Duration::minutes(5);
pub(crate) const MAX_OTP_FAILURES: u32 = 5;
pub(crate) const MAX_PASSWORD_FAILURES: u32 = 5;
/// Beyond this many live pending authorizations new ones are refused (memory bound).
const MAX_PENDING: usize = 10_000;
/// The phone keeps this many SMS.
const MAX_SMS: usize = 50;

/// Userinfo keys the broker sends, in the broker's spelling.
pub(crate) const USERINFO_FIELDS: [&str; 15] = [
    "sub",
    "TechID",
    "LoaiTaiKhoan",
    "MaSoDoanhNghiep",
    "MaSoThue",
    "TenDoanhNghiep",
    "NguoiDaiDien",
    "HoVaTen",
    "SoDinhDanh",
    "NgayThangNamSinh",
    "loginIdp",
    "IAL",
    "loAs",
    "userProfileUri",
    "logoutUri",
];

/// The simulated broker: its checked configuration, its signing key and its in-memory state.
pub(crate) struct Broker {
    pub(crate) issuer: String,
    pub(crate) issuer_origin: String,
    clients: Vec<SimClient>,
    pub(crate) people: Vec<Person>,
    field_names: BTreeMap<String, String>,
    signer: JwsSigner,
    clock: Arc<dyn Clock>,
    store: Mutex<Store>,
    /// Shown at the top of every page (see [`crate::Simulator::with_warning`]).
    pub(crate) warning: Option<String>,
}

impl Broker {
    /// Checks the configuration (the issuer is an http(s) URL without query or fragment; client
    /// ids unique; secrets and redirect URIs present and absolute; people unique; field renames
    /// known and not colliding) and generates the signing key. Errors name the key at fault.
    pub(crate) fn new(
        config: SimulatorConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SimulatorError> {
        let bad = |m: String| SimulatorError::Config(m);
        let issuer = config.issuer.trim_end_matches('/').to_owned();
        let issuer_url = Url::parse(&issuer).map_err(|e| bad(format!("issuer {issuer:?}: {e}")))?;
        if !matches!(issuer_url.scheme(), "http" | "https")
            || issuer_url.query().is_some()
            || issuer_url.fragment().is_some()
        {
            return Err(bad(format!(
                "issuer {issuer:?}: must be an http(s) URL without query or fragment"
            )));
        }
        let mut ids = BTreeSet::new();
        for (i, c) in config.clients.iter().enumerate() {
            if c.client_id.is_empty() || !ids.insert(c.client_id.as_str()) {
                return Err(bad(format!("clients[{i}].client_id: empty or repeated")));
            }
            if c.client_secret.is_empty() {
                return Err(bad(format!("clients[{i}].client_secret: empty")));
            }
            if c.redirect_uris.is_empty() {
                return Err(bad(format!("clients[{i}].redirect_uris: none given")));
            }
            for (j, u) in c.redirect_uris.iter().enumerate() {
                let parsed = Url::parse(u)
                    .map_err(|e| bad(format!("clients[{i}].redirect_uris[{j}] {u:?}: {e}")))?;
                if parsed.fragment().is_some() || parsed.cannot_be_a_base() {
                    return Err(bad(format!(
                        "clients[{i}].redirect_uris[{j}] {u:?}: must be an absolute URL without fragment"
                    )));
                }
            }
        }
        let mut people: Vec<Person> = Vec::with_capacity(config.people.len());
        for (i, p) in config.people.into_iter().enumerate() {
            if people.iter().any(|q| q.personal_id == p.personal_id) {
                return Err(bad(format!("people[{i}].personal_id: repeated")));
            }
            if p.personal_id.is_empty() || p.password.is_empty() {
                return Err(bad(format!(
                    "people[{i}]: personal_id and password are required"
                )));
            }
            people.push(p.complete());
        }
        let mut outputs = BTreeSet::new();
        for (from, to) in &config.field_names {
            if !USERINFO_FIELDS.contains(&from.as_str()) {
                return Err(bad(format!(
                    "field_names.{from}: not a userinfo field (known: {})",
                    USERINFO_FIELDS.join(", ")
                )));
            }
            if to.is_empty() {
                return Err(bad(format!("field_names.{from}: empty new name")));
            }
        }
        for f in USERINFO_FIELDS {
            let out = config.field_names.get(f).map(String::as_str).unwrap_or(f);
            if !outputs.insert(out.to_owned()) {
                return Err(bad(format!(
                    "field_names: two userinfo fields would both be called {out:?}"
                )));
            }
        }
        let signer = JwsSigner::generate()?;
        Ok(Self {
            issuer_origin: issuer_url.origin().ascii_serialization(),
            issuer,
            clients: config.clients,
            people,
            field_names: config.field_names,
            signer,
            clock,
            store: Mutex::new(Store::default()),
            warning: None,
        })
    }

    /// The injected clock's time.
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The store, purged of what has expired. A poisoned lock is taken over: every update
    /// leaves the maps consistent between statements.
    fn store(&self, now: DateTime<Utc>) -> MutexGuard<'_, Store> {
        let mut s = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.purge(now);
        s
    }

    /// The registered client `client_id`.
    fn client(&self, client_id: &str) -> Option<&SimClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// The configured person `personal_id`.
    fn person(&self, personal_id: &str) -> Option<&Person> {
        self.people.iter().find(|p| p.personal_id == personal_id)
    }

    // ---- discovery and keys -------------------------------------------------------------

    /// The OpenID Provider metadata, with the userinfo fields under their output names.
    pub(crate) fn discovery(&self) -> Value {
        let i = &self.issuer;
        let mut claims: Vec<String> = ["iss", "aud", "exp", "iat", "nonce", "acr"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        claims.extend(USERINFO_FIELDS.iter().map(|f| self.output_name(f)));
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/oauth2/authorize"),
            "token_endpoint": format!("{i}/oauth2/token"),
            "userinfo_endpoint": format!("{i}/oauth2/userinfo"),
            "jwks_uri": format!("{i}/jwks"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid"],
            "claims_supported": claims,
        })
    }

    /// The public signing key as a JWKS.
    pub(crate) fn jwks(&self) -> Value {
        self.signer.jwks()
    }

    /// The name a userinfo field is sent under (renamed by `field_names`, or its own).
    fn output_name(&self, field: &str) -> String {
        self.field_names
            .get(field)
            .cloned()
            .unwrap_or_else(|| field.to_owned())
    }
}
