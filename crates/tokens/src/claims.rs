//! The claims of the tokens the gateway issues, and `at_hash`.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::keys::SigningAlg;

/// Claims of an ID token (OpenID Connect Core §2, plus the gateway's own, DESIGN.md
/// "Provider side"). Sign with `typ` [`TYP_ID_TOKEN`](crate::TYP_ID_TOKEN).
///
/// `Debug` masks `personal_id` and hides `name` and `birthdate` (personal data, Decree
/// 13/2023), so the struct can appear in a log line.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// The issuer (the gateway's public URL).
    pub iss: String,
    /// The gateway's stable person id, never the personal ID number.
    pub sub: String,
    /// The client id.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// When the person authenticated upstream, seconds since the epoch. Always present.
    pub auth_time: i64,
    /// The `nonce` of the authorization request, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// `"urn:vneid:loa:1"` or `"urn:vneid:loa:2"` (`AssuranceLevel::acr`).
    pub acr: String,
    /// Authentication methods, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// Authorized party (the client id) when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// The SSO session id (for front/back-channel logout). Always present.
    pub sid: String,
    /// The upstream id the person logged in through (`[[upstreams]] id`).
    pub idp: String,
    /// The account system the person used upstream (`"BCA"` = VNeID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_idp: Option<String>,
    /// Full name; scope `profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Birth date `YYYY-MM-DD`; scope `profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthdate: Option<String>,
    /// The 12-digit personal ID number; only with scope `personal_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_id: Option<String>,
    /// The linked one-stop-shop account (`username`, `unit`); scope `account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<serde_json::Value>,
    /// `citizen` or `organisation`: whether the subject is a person at all. With `openid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_type: Option<String>,
    /// An organisation's `id`, `name` and `representative`; scope `organisation`, organisation
    /// accounts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<serde_json::Value>,
    /// [`at_hash`] of the access token issued alongside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
}

impl fmt::Debug for IdTokenClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |o: &Option<String>| o.as_ref().map(|_| "[redacted]");
        f.debug_struct("IdTokenClaims")
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("aud", &self.aud)
            .field("exp", &self.exp)
            .field("iat", &self.iat)
            .field("auth_time", &self.auth_time)
            .field("nonce", &self.nonce)
            .field("acr", &self.acr)
            .field("amr", &self.amr)
            .field("azp", &self.azp)
            .field("sid", &self.sid)
            .field("idp", &self.idp)
            .field("login_idp", &self.login_idp)
            .field("name", &redacted(&self.name))
            .field("birthdate", &redacted(&self.birthdate))
            .field(
                "personal_id",
                &self.personal_id.as_deref().map(vneid_core::mask),
            )
            .field("account", &self.account.as_ref().map(|_| "[redacted]"))
            .field("account_type", &self.account_type)
            .field(
                "organisation",
                &self.organisation.as_ref().map(|_| "[redacted]"),
            )
            .field("at_hash", &self.at_hash)
            .finish()
    }
}

/// `aud` of an access token: one audience or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience, serialized as a string.
    One(String),
    /// Several audiences, serialized as an array.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is one of them.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

/// Claims of a JWT access token (RFC 9068 §2.2). Sign with `typ`
/// [`TYP_ACCESS_TOKEN`](crate::TYP_ACCESS_TOKEN) (`at+jwt`). Carries no personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// The issuer.
    pub iss: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// The resource(s) the token is for.
    pub aud: Audience,
    /// The person's stable id, or the client id for `client_credentials`.
    pub sub: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Unique token id (for revocation and replay detection).
    pub jti: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// When the person authenticated; absent for `client_credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// `urn:vneid:loa:1|2`; absent for `client_credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The SSO session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The upstream id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// The account system used upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_idp: Option<String>,
    /// `citizen` or `organisation`; absent for `client_credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_type: Option<String>,
    /// Who acts on the person's behalf (RFC 8693 §4.1): present in a token made by token
    /// exchange, naming the portal that exchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// The key the token is bound to (RFC 9449 §6.1: `{"jkt": thumbprint}`): only a request
    /// with a DPoP proof signed by that key may use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// A token's confirmation claim (RFC 7800), here the DPoP key's thumbprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

impl Confirmation {
    pub fn of(jkt: Option<&str>) -> Option<Self> {
        jkt.map(|j| Self { jkt: j.to_owned() })
    }
}

/// The `act` claim (RFC 8693 §4.1): the acting party, and who acted before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The acting client's id.
    pub sub: String,
    /// The actor before this one, if the token was exchanged more than once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

impl AccessTokenClaims {
    /// Whether the token is for its client itself (its `aud` is the client id), not for an API
    /// resource: only such a token opens `/userinfo` and the admin API.
    pub fn is_for_client(&self) -> bool {
        self.aud == Audience::One(self.client_id.clone())
    }

    /// The granted scopes, one by one.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split_ascii_whitespace()
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }
}

/// `at_hash` (OIDC Core §3.1.3.6; the same rule gives `c_hash` for a code): base64url, no
/// padding, of the left half of the hash of the ASCII access token, with the hash of the ID
/// token's `alg`.
///
/// RS256 and ES256 use SHA-256 (16 bytes kept). For EdDSA, whose name does not fix a hash, the
/// OpenID practice for Ed25519 (the curve's own hash, as OpenID Foundation certification and
/// common providers use) is SHA-512 (32 bytes kept).
pub fn at_hash(access_token: &str, alg: SigningAlg) -> String {
    let (algorithm, keep) = match alg {
        SigningAlg::RS256 | SigningAlg::ES256 => (&aws_lc_rs::digest::SHA256, 16),
        SigningAlg::EdDSA => (&aws_lc_rs::digest::SHA512, 32),
    };
    let digest = aws_lc_rs::digest::digest(algorithm, access_token.as_bytes());
    let bytes = digest.as_ref();
    URL_SAFE_NO_PAD.encode(bytes.get(..keep).unwrap_or(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// OpenID Connect Core 1.0, Appendix A.3: this access token and its `at_hash`.
    const OIDC_ACCESS_TOKEN: &str = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";

    #[test]
    fn at_hash_matches_oidc_core_appendix_a3_example() {
        assert_eq!(
            at_hash(OIDC_ACCESS_TOKEN, SigningAlg::RS256),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(
            at_hash(OIDC_ACCESS_TOKEN, SigningAlg::ES256),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn at_hash_for_eddsa_is_left_half_of_sha512() {
        // Computed independently (Python hashlib): base64url(sha512(token)[:32]).
        assert_eq!(
            at_hash(OIDC_ACCESS_TOKEN, SigningAlg::EdDSA),
            "q7nS86GgvvFaZkzALLWqJYaJIKw2wCDAVfCAsm5CrBM"
        );
    }

    fn id_claims() -> IdTokenClaims {
        IdTokenClaims {
            iss: "https://sso.example.gov.vn".into(),
            sub: "p-1".into(),
            aud: "portal".into(),
            exp: 1_700_000_600,
            iat: 1_700_000_000,
            auth_time: 1_699_999_990,
            nonce: None,
            acr: "urn:vneid:loa:2".into(),
            amr: None,
            azp: None,
            sid: "s-1".into(),
            idp: "dvcqg".into(),
            login_idp: Some("BCA".into()),
            name: Some("Nguyễn Văn A".into()),
            birthdate: Some("1990-01-02".into()),
            personal_id: Some("052090123481".into()),
            account: Some(serde_json::json!({"username": "nva", "unit": "UBND"})),
            account_type: Some("citizen".into()),
            organisation: None,
            at_hash: None,
        }
    }

    #[test]
    fn absent_optional_id_token_claims_are_left_out() {
        let value = serde_json::to_value(id_claims()).unwrap();
        let object = value.as_object().unwrap();
        for absent in ["nonce", "amr", "azp", "at_hash", "organisation"] {
            assert!(!object.contains_key(absent), "{absent}");
        }
        for present in ["auth_time", "sid", "idp", "acr", "login_idp", "personal_id"] {
            assert!(object.contains_key(present), "{present}");
        }
        let back: IdTokenClaims = serde_json::from_value(value).unwrap();
        assert_eq!(back, id_claims());
    }

    #[test]
    fn debug_of_id_token_claims_masks_personal_data() {
        let printed = format!("{:?}", id_claims());
        assert!(!printed.contains("052090123481"), "{printed}");
        assert!(printed.contains("052*******81"), "{printed}");
        assert!(!printed.contains("Nguyễn"), "{printed}");
        assert!(!printed.contains("1990-01-02"), "{printed}");
        assert!(!printed.contains("nva"), "{printed}");
    }

    #[test]
    fn access_token_audience_is_a_string_or_an_array() {
        let one: Audience = serde_json::from_str(r#""api""#).unwrap();
        assert_eq!(one, Audience::One("api".into()));
        assert!(one.contains("api") && !one.contains("other"));
        let many: Audience = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert_eq!(serde_json::to_string(&many).unwrap(), r#"["a","b"]"#);
        assert!(many.contains("b") && !many.contains("c"));
    }

    #[test]
    fn access_token_scopes_are_space_separated() {
        let claims = AccessTokenClaims {
            iss: "https://sso".into(),
            exp: 2,
            aud: Audience::One("portal".into()),
            sub: "p-1".into(),
            client_id: "portal".into(),
            iat: 1,
            jti: "j".into(),
            scope: "openid profile personal_id".into(),
            auth_time: None,
            acr: None,
            sid: None,
            idp: None,
            login_idp: None,
            act: None,
            cnf: None,
            account_type: None,
        };
        assert!(claims.has_scope("personal_id"));
        assert!(!claims.has_scope("account"));
        assert_eq!(claims.scopes().count(), 3);
        let value = serde_json::to_value(&claims).unwrap();
        assert!(value.get("auth_time").is_none());
        assert_eq!(value["aud"], "portal");
    }
}

/// The `events` member of a logout token (OpenID Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Claims of a back-channel logout token (OpenID Back-Channel Logout 1.0 §2.4). Sign with `typ`
/// [`TYP_LOGOUT_TOKEN`](crate::TYP_LOGOUT_TOKEN). It never carries a `nonce`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutTokenClaims {
    pub iss: String,
    /// The client being told.
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The person's `sub`, as in the ID tokens the client received.
    pub sub: String,
    /// The session that ended, as in the ID tokens' `sid`.
    pub sid: String,
    /// `{"http://schemas.openid.net/event/backchannel-logout": {}}`.
    pub events: serde_json::Value,
}

impl LogoutTokenClaims {
    pub fn new(iss: String, aud: String, sub: String, sid: String, jti: String, now: i64) -> Self {
        let mut events = serde_json::Map::new();
        events.insert(
            BACKCHANNEL_LOGOUT_EVENT.to_owned(),
            serde_json::Value::Object(serde_json::Map::new()),
        );
        Self {
            iss,
            aud,
            iat: now,
            exp: now + 120,
            jti,
            sub,
            sid,
            events: serde_json::Value::Object(events),
        }
    }
}

/// Claims of a forward-auth assertion: what a protected app's reverse proxy passes to the app
/// in `X-Vneid-Assertion` (README "Forward-auth"). Sign with `typ`
/// [`TYP_APP_ASSERTION`](crate::TYP_APP_ASSERTION); it lives a minute at most.
///
/// `Debug` masks `personal_id` and hides `name`, `birthdate` and `account`, as for ID tokens.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AppAssertionClaims {
    pub iss: String,
    /// The protected app's id.
    pub aud: String,
    /// The person as the app's client knows them.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    /// When the person authenticated upstream.
    pub auth_time: i64,
    /// `urn:vneid:loa:1` or `urn:vneid:loa:2`.
    pub acr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthdate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<serde_json::Value>,
}

impl fmt::Debug for AppAssertionClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |o: bool| o.then_some("[redacted]");
        f.debug_struct("AppAssertionClaims")
            .field("iss", &self.iss)
            .field("aud", &self.aud)
            .field("sub", &self.sub)
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .field("auth_time", &self.auth_time)
            .field("acr", &self.acr)
            .field("name", &redacted(self.name.is_some()))
            .field("birthdate", &redacted(self.birthdate.is_some()))
            .field(
                "personal_id",
                &self.personal_id.as_deref().map(vneid_core::mask),
            )
            .field("account", &redacted(self.account.is_some()))
            .finish()
    }
}
