//! The login service. A login's life, file by file:
//!
//! 1. [`request`]: the portal's `/authorize` parameters, checked (client and redirect URI first);
//!    or the request the portal pushed to `/par` beforehand, taken once ([`par`]).
//! 2. [`authorize`]: a live SSO session that is enough gets a code at once ([`session`],
//!    [`codes`]); otherwise the person is sent to an upstream ([`upstream`]), with the pending
//!    login kept under the upstream `state` and bound to this browser by a cookie.
//! 3. [`callback`]: the upstream returns; the code is exchanged, the policy decides, the person is
//!    found or created and linked to their one-stop-shop account, a session opens and a code is
//!    issued — or the refusal is shown.
//! 4. The portal redeems the code at `/token` ([`codes::redeem`], in [`crate::oauth`]).
//! 5. [`logout`]: the session ends, its tokens are revoked, the portals are told.
//!
//! What a login established — who, when, how strongly, through which account system — travels
//! as one [`Authentication`] from the session through the code to the grant and the tokens.

pub mod authorize;
pub mod callback;
pub mod codes;
pub mod logout;
pub mod par;
pub mod request;
pub mod session;
pub mod upstream;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;
use vneid_core::AssuranceLevel;

use vneid_upstream::PendingUpstream;

use crate::errors::ServiceError;
use crate::state::AppState;

pub use crate::cookies::SESSION as SESSION_COOKIE;
pub use codes::NS_CODE;

/// Ephemeral namespace of pending logins (keyed by the upstream `state`).
pub const NS_LOGIN: &str = "login";

/// What a login established about the person: carried unchanged from the SSO session through
/// the code and the grant into every token (and, flat, into the refresh-token family).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authentication {
    /// The public session id (`sid` claim); not the cookie value.
    pub sid: String,
    /// The gateway's person id.
    pub person_id: String,
    /// When the person logged in upstream (unix seconds).
    pub auth_time: i64,
    pub level: AssuranceLevel,
    /// The upstream (`idp` claim).
    pub idp: String,
    /// The account system the person used (`login_idp` claim).
    pub login_idp: Option<String>,
}

/// A validated authorization request, ready to be served.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub scopes: Vec<String>,
    pub required_level: AssuranceLevel,
    pub prompt_login: bool,
    pub prompt_none: bool,
    pub max_age: Option<i64>,
    /// The thumbprint of the DPoP key the code is bound to (RFC 9449 §10: `dpop_jkt`, or the
    /// key of a proof sent to `/par`); the token request must prove that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

/// Kept in the ephemeral store while the person is at the upstream, keyed by the upstream
/// `state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub request: AuthRequest,
    pub upstream: String,
    pub upstream_pending: PendingUpstream,
    /// Keyed hash of the binding cookie set in the browser that started the login: the callback
    /// is accepted only from that browser (no login CSRF, no session swap).
    pub binding_hash: String,
}

/// Builds `redirect_uri?k=v…` keeping any query the registered URI already has.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    // Nothing to add: the registered URI exactly, without a stray `?`.
    if params.is_empty() {
        return redirect_uri.to_owned();
    }
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

/// The redirect for an authorization error, with `state` and RFC 9207 `iss`.
pub fn error_redirect(
    state: &AppState,
    req: &AuthRequest,
    error: &str,
    description: &str,
) -> String {
    let mut p = vec![("error", error), ("error_description", description)];
    if let Some(s) = &req.state {
        p.push(("state", s));
    }
    p.push(("iss", &state.issuer));
    redirect_with(&req.redirect_uri, &p)
}

pub(crate) fn ttl(d: Duration) -> Duration {
    d.max(Duration::from_secs(1))
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<String, ServiceError> {
    serde_json::to_string(v).map_err(|e| ServiceError::Internal(e.to_string()))
}

pub(crate) fn from_json<T: for<'a> Deserialize<'a>>(s: &str) -> Result<T, ServiceError> {
    serde_json::from_str(s).map_err(|e| ServiceError::Internal(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn redirect_keeps_existing_query_and_encodes() {
        assert_eq!(
            redirect_with(
                "https://p.example/cb?x=1",
                &[("code", "a b"), ("state", "s&t")]
            ),
            "https://p.example/cb?x=1&code=a+b&state=s%26t"
        );
    }
}
