//! DPoP proofs (RFC 9449 §4): a JWT the client signs for each request with a key it holds,
//! carrying the public key in its header. Verifying one yields the key's RFC 7638 thumbprint
//! (`jkt`), the value a bound token's `cnf.jkt` holds.
//!
//! What is checked here (§4.3): the JWS shape, `typ` `dpop+jwt`, an asymmetric `alg` the key
//! fits, a public `jwk` (no private members), the signature, `jti`, `htm` and `htu` (query and
//! fragment ignored), `iat` within the window, and `ath` when an access token goes with the
//! proof. The caller checks what needs state: the `jti` replay cache and the server's nonce.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use aws_lc_rs::rand::SystemRandom;

use crate::{JwkKey, SigningKey, TokenError};

/// The `typ` of a DPoP proof's header.
pub const TYP_DPOP_PROOF: &str = "dpop+jwt";

/// The algorithms accepted for proofs, as discovery lists them
/// (`dpop_signing_alg_values_supported`).
pub const DPOP_ALGS: [&str; 4] = ["ES256", "PS256", "EdDSA", "RS256"];

/// Longest proof accepted (an RSA-4096 key in the header is about 1 KB).
pub const MAX_PROOF_LEN: usize = 4096;

/// How far in the future a proof's `iat` may be (clock skew).
pub const MAX_FUTURE_SKEW_SECS: i64 = 5;

/// What the request a proof goes with looks like.
#[derive(Debug, Clone, Copy)]
pub struct ProofCheck<'a> {
    /// The request's method (`POST`, `GET`).
    pub htm: &'a str,
    /// The request's URL without query and fragment.
    pub htu: &'a str,
    pub now: DateTime<Utc>,
    /// How old a proof's `iat` may be.
    pub max_age_secs: i64,
    /// The access token sent with the proof (at a resource): the proof's `ath` must be its
    /// hash.
    pub access_token: Option<&'a str>,
}

/// A verified proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopProof {
    /// RFC 7638 thumbprint of the proof's key.
    pub jkt: String,
    /// The proof's `alg` (`ES256`, `PS256`, `EdDSA` or `RS256`).
    pub alg: &'static str,
    pub jti: String,
    pub iat: i64,
    /// The server nonce the proof carries, if any (the caller decides whether it is current).
    pub nonce: Option<String>,
}

#[derive(Deserialize)]
struct ProofHeader {
    typ: Option<String>,
    alg: String,
    jwk: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<i64>,
    ath: Option<String>,
    nonce: Option<String>,
}

/// Members of a private JWK that a proof's public key must not carry (RFC 9449 §4.3 item 7).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// The `ath` of an access token: base64url SHA-256 of its ASCII text (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Verifies one DPoP proof against the request it came with.
pub fn verify_dpop_proof(proof: &str, check: &ProofCheck<'_>) -> Result<DpopProof, TokenError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(TokenError::Malformed("the proof is too long".into()));
    }
    let header_b64 = proof
        .split('.')
        .next()
        .filter(|_| proof.split('.').count() == 3)
        .ok_or_else(|| TokenError::Malformed("not a compact JWS".into()))?;
    let header: ProofHeader = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| TokenError::Malformed("unreadable header".into()))?;
    if header.typ.as_deref() != Some(TYP_DPOP_PROOF) {
        return Err(TokenError::WrongType {
            expected: TYP_DPOP_PROOF.into(),
            found: header.typ,
        });
    }
    let (alg, alg_name) = match header.alg.as_str() {
        "ES256" => (Algorithm::ES256, "ES256"),
        "PS256" => (Algorithm::PS256, "PS256"),
        "EdDSA" => (Algorithm::EdDSA, "EdDSA"),
        "RS256" => (Algorithm::RS256, "RS256"),
        _ => return Err(TokenError::WrongAlgorithm),
    };
    let jwk_value = header.jwk.ok_or(TokenError::MissingClaim("jwk"))?;
    let key = public_key(&jwk_value, alg)?;
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk_value)
        .map_err(|e| TokenError::Malformed(format!("jwk: {e}")))?;
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| TokenError::Malformed(e.to_string()))?;
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<ProofClaims>(proof, &decoding, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
            _ => TokenError::Malformed(e.to_string()),
        })?
        .claims;
    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or(TokenError::MissingClaim("jti"))?;
    if claims.htm.as_deref() != Some(check.htm) {
        return Err(TokenError::Claims(format!(
            "htm is not {} (the request's method)",
            check.htm
        )));
    }
    let htu = claims.htu.ok_or(TokenError::MissingClaim("htu"))?;
    if without_query(&htu) != check.htu {
        return Err(TokenError::Claims(format!(
            "htu is not {} (the request's URL)",
            check.htu
        )));
    }
    let iat = claims.iat.ok_or(TokenError::MissingClaim("iat"))?;
    let now = check.now.timestamp();
    if iat > now + MAX_FUTURE_SKEW_SECS {
        return Err(TokenError::NotYetValid);
    }
    if iat < now - check.max_age_secs {
        return Err(TokenError::Expired);
    }
    if let Some(token) = check.access_token {
        let expected = access_token_hash(token);
        match claims.ath {
            Some(ath) if ath == expected => {}
            Some(_) => {
                return Err(TokenError::Claims(
                    "ath is not the hash of the access token".into(),
                ))
            }
            None => return Err(TokenError::MissingClaim("ath")),
        }
    }
    Ok(DpopProof {
        jkt: key.thumbprint(),
        alg: alg_name,
        jti,
        iat,
        nonce: claims.nonce,
    })
}

/// The proof's public key, refused when it carries private members or does not fit `alg`.
fn public_key(jwk: &serde_json::Value, alg: Algorithm) -> Result<JwkKey, TokenError> {
    let members = jwk
        .as_object()
        .ok_or_else(|| TokenError::Malformed("jwk is not an object".into()))?;
    if PRIVATE_MEMBERS.iter().any(|m| members.contains_key(*m)) {
        return Err(TokenError::Malformed(
            "jwk carries a private key: send the public key only".into(),
        ));
    }
    let key: JwkKey = serde_json::from_value(jwk.clone())
        .map_err(|e| TokenError::Malformed(format!("jwk: {e}")))?;
    let fits = match (&key, alg) {
        (JwkKey::Ec { crv, .. }, Algorithm::ES256) => crv == "P-256",
        (JwkKey::Okp { crv, .. }, Algorithm::EdDSA) => crv == "Ed25519",
        (JwkKey::Rsa { n, .. }, Algorithm::PS256 | Algorithm::RS256) => {
            // At least 2048 bits (RFC 7518 §3.3).
            URL_SAFE_NO_PAD.decode(n).map_or(0, |b| b.len()) >= 256
        }
        _ => false,
    };
    if !fits {
        return Err(TokenError::WrongAlgorithm);
    }
    Ok(key)
}

/// What a client puts in a proof ([`make_proof`]).
#[derive(Debug, Clone, Default)]
pub struct ProofClaimsOut<'a> {
    pub htm: &'a str,
    pub htu: &'a str,
    pub iat: i64,
    pub jti: &'a str,
    /// The access token the proof goes with (its hash becomes `ath`).
    pub access_token: Option<&'a str>,
    pub nonce: Option<&'a str>,
}

/// Makes a DPoP proof signed by `key`, as a client does: the gateway's tests, load generator and
/// benchmarks use it to play the client.
pub fn make_proof(key: &SigningKey, c: &ProofClaimsOut<'_>) -> Result<String, TokenError> {
    let header = serde_json::json!({
        "typ": TYP_DPOP_PROOF,
        "alg": key.alg().as_str(),
        "jwk": key_json(&key.public_jwk().key),
    });
    let mut claims = serde_json::json!({"htm": c.htm, "htu": c.htu, "iat": c.iat, "jti": c.jti});
    if let Some(t) = c.access_token {
        claims["ath"] = access_token_hash(t).into();
    }
    if let Some(n) = c.nonce {
        claims["nonce"] = n.into();
    }
    let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = key.sign_message(&SystemRandom::new(), token.as_bytes())?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}

fn key_json(key: &JwkKey) -> serde_json::Value {
    serde_json::to_value(key).unwrap_or_default()
}

/// `htu` without its query and fragment (RFC 9449 §4.3 item 9).
fn without_query(htu: &str) -> &str {
    let end = htu.find(['?', '#']).unwrap_or(htu.len());
    &htu[..end]
}

#[cfg(test)]
#[path = "dpop_tests.rs"]
mod tests;
