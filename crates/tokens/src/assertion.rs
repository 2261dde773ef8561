//! `private_key_jwt` client authentication (RFC 7523 §2.2, OpenID Connect Core §9): a client
//! proves itself with a JWT signed by a key it registered.

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::TokenError;

/// The claims the gateway needs from a client assertion after it was verified.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ClientAssertion {
    pub iss: String,
    pub sub: String,
    pub jti: String,
    pub exp: i64,
}

/// Longest lifetime accepted for an assertion, so the `jti` replay cache stays small.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 600;

const ALLOWED: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// Verifies a client assertion against the client's registered JWKS: an asymmetric signature
/// by one of its keys, `iss` = `sub` = the client id, `aud` one of `audiences` (the token
/// endpoint or the issuer), `exp` in the future but not more than ten minutes away, and a
/// `jti`. The caller must refuse a `jti` it has seen before (replay cache until `exp`).
pub fn verify_client_assertion(
    jwks_json: &str,
    assertion: &str,
    client_id: &str,
    audiences: &[&str],
    now: DateTime<Utc>,
) -> Result<ClientAssertion, TokenError> {
    let jwks: JwkSet = serde_json::from_str(jwks_json)
        .map_err(|e| TokenError::Malformed(format!("registered JWKS: {e}")))?;
    let header =
        jsonwebtoken::decode_header(assertion).map_err(|e| TokenError::Malformed(e.to_string()))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(TokenError::WrongAlgorithm);
    }
    let candidates: Vec<_> = match &header.kid {
        Some(kid) => jwks.find(kid).into_iter().collect(),
        None => jwks.keys.iter().collect(),
    };
    if candidates.is_empty() {
        return Err(TokenError::UnknownKey);
    }
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_audience(audiences);
    let mut last = TokenError::BadSignature;
    for jwk in candidates {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        match jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation) {
            Ok(data) => return check_claims(data.claims, client_id, now),
            Err(e) => {
                last = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                        TokenError::Claims("aud is not this server".into())
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
                    _ => TokenError::Malformed(e.to_string()),
                };
            }
        }
    }
    Err(last)
}

fn check_claims(
    claims: serde_json::Value,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<ClientAssertion, TokenError> {
    let c: ClientAssertion =
        serde_json::from_value(claims).map_err(|e| TokenError::Claims(e.to_string()))?;
    if c.iss != client_id || c.sub != client_id {
        return Err(TokenError::Claims(
            "iss and sub must be the client id".into(),
        ));
    }
    let now = now.timestamp();
    if c.exp <= now {
        return Err(TokenError::Expired);
    }
    if c.exp > now + MAX_ASSERTION_LIFETIME_SECS {
        return Err(TokenError::Claims("exp is too far in the future".into()));
    }
    if c.jti.is_empty() || c.jti.len() > 256 {
        return Err(TokenError::MissingClaim("jti"));
    }
    Ok(c)
}
