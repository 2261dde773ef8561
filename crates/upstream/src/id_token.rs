//! ID-token validation (OIDC Core 3.1.3.7), minus the key lookup, which is [`crate::jwks`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use url::Url;

use crate::config::same_issuer;
use crate::error::bounded;
use crate::UpstreamError;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub(crate) const LEEWAY_SECS: f64 = 60.0;

/// Asymmetric algorithms only: `none` and the HMAC family (keyed with the client secret, which
/// the gateway shares with every replica and the upstream) are refused.
const ACCEPTED: [(&str, Algorithm); 9] = [
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

fn refuse(reason: impl Into<String>) -> UpstreamError {
    UpstreamError::IdToken(reason.into())
}

/// The parts of the JOSE header that decide which key verifies the token.
#[derive(Debug)]
pub(crate) struct Header {
    pub alg: Algorithm,
    pub kid: Option<String>,
}

/// Reads the header without trusting it: only a compact JWS with an accepted `alg` and no
/// `crit` extensions goes on to signature verification.
pub(crate) fn header(token: &str) -> Result<Header, UpstreamError> {
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => return Err(refuse("encrypted (JWE) ID tokens are not supported")),
        _ => return Err(refuse("not a compact JWS")),
    }
    let raw = URL_SAFE_NO_PAD
        .decode(parts[0])
        .map_err(|_| refuse("header is not base64url"))?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&raw).map_err(|_| refuse("header is not a JSON object"))?;
    let alg = match header.get("alg") {
        Some(serde_json::Value::String(a)) => a.as_str(),
        _ => return Err(refuse("header has no alg")),
    };
    let alg = ACCEPTED
        .iter()
        .find(|(name, _)| *name == alg)
        .map(|(_, a)| *a)
        .ok_or_else(|| {
            if alg.eq_ignore_ascii_case("none") {
                refuse("unsigned ID token (alg none)")
            } else if alg.starts_with("HS") {
                refuse(format!(
                    "symmetric signature {} refused: only asymmetric algorithms are accepted",
                    bounded(alg, 16)
                ))
            } else {
                refuse(format!(
                    "signature algorithm {:?} not accepted",
                    bounded(alg, 16)
                ))
            }
        })?;
    if header.contains_key("crit") {
        return Err(refuse("critical header extensions are not understood"));
    }
    let kid = match header.get("kid") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(refuse("kid is not a string")),
    };
    Ok(Header { alg, kid })
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<f64>,
    nbf: Option<f64>,
    iat: Option<f64>,
    nonce: Option<String>,
    azp: Option<String>,
}

/// What the token says once every rule has passed.
#[derive(Debug)]
pub(crate) struct Verified {
    pub sub: String,
}

/// What the token must say.
pub(crate) struct Expected<'a> {
    /// The discovered issuer (exact), or the configured issuer when there was no discovery.
    pub issuer: ExpectedIssuer<'a>,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Seconds since the epoch.
    pub now: i64,
}

pub(crate) enum ExpectedIssuer<'a> {
    Exact(&'a str),
    Configured(&'a Url),
}

/// Verifies the signature with the first key that accepts it, then every claim rule.
pub(crate) fn verify(
    token: &str,
    header: &Header,
    keys: &[DecodingKey],
    expected: &Expected<'_>,
) -> Result<Verified, UpstreamError> {
    // jsonwebtoken checks only the signature and the alg here; every claim is checked below,
    // with the injected clock and with reasons that say which rule failed.
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;

    let mut last = None;
    let mut claims = None;
    for key in keys {
        match jsonwebtoken::decode::<Claims>(token, key, &validation) {
            Ok(data) => {
                claims = Some(data.claims);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let claims = match (claims, last) {
        (Some(c), _) => c,
        (None, Some(e)) => {
            use jsonwebtoken::errors::ErrorKind;
            return Err(match e.kind() {
                ErrorKind::InvalidSignature => refuse("signature does not verify"),
                ErrorKind::Json(_) => refuse("claims are malformed"),
                _ => refuse(format!("cannot be verified: {e}")),
            });
        }
        (None, None) => return Err(refuse("no key to verify it with")),
    };
    check_claims(claims, expected)
}

fn check_claims(claims: Claims, expected: &Expected<'_>) -> Result<Verified, UpstreamError> {
    let iss = claims.iss.ok_or_else(|| refuse("no iss"))?;
    let issuer_ok = match expected.issuer {
        ExpectedIssuer::Exact(want) => iss == want,
        ExpectedIssuer::Configured(url) => same_issuer(url, &iss),
    };
    if !issuer_ok {
        return Err(refuse(format!(
            "iss {:?} is not the upstream's issuer",
            bounded(&iss, 200)
        )));
    }

    let audiences = match claims.aud {
        Some(Audience::One(a)) => vec![a],
        Some(Audience::Many(a)) => a,
        None => Vec::new(),
    };
    if !audiences.iter().any(|a| a == expected.client_id) {
        return Err(refuse("aud does not contain our client_id"));
    }
    match claims.azp.as_deref() {
        Some(azp) if azp != expected.client_id => {
            return Err(refuse("azp is not our client_id"));
        }
        None if audiences.len() > 1 => {
            return Err(refuse("several audiences and no azp"));
        }
        _ => {}
    }

    let now = expected.now as f64;
    let exp = claims.exp.ok_or_else(|| refuse("no exp"))?;
    if now > exp + LEEWAY_SECS {
        return Err(refuse("expired"));
    }
    if claims.nbf.is_some_and(|nbf| now + LEEWAY_SECS < nbf) {
        return Err(refuse("not valid yet (nbf)"));
    }
    if claims.iat.is_some_and(|iat| now + LEEWAY_SECS < iat) {
        return Err(refuse("issued in the future (iat)"));
    }

    match claims.nonce.as_deref() {
        Some(n) if constant_time_eq(n.as_bytes(), expected.nonce.as_bytes()) => {}
        Some(_) => return Err(refuse("nonce is not the one sent")),
        None => return Err(refuse("no nonce")),
    }

    match claims.sub {
        Some(sub) if !sub.is_empty() => Ok(Verified { sub }),
        _ => Err(refuse("no sub")),
    }
}

/// Compares without an early exit, so the time taken does not tell how many leading bytes
/// matched. (The length is not secret.)
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn claims(v: serde_json::Value) -> Claims {
        serde_json::from_value(v).unwrap()
    }

    fn expected(now: i64) -> Expected<'static> {
        Expected {
            issuer: ExpectedIssuer::Exact("https://op.example"),
            client_id: "gw",
            nonce: "n-1",
            now,
        }
    }

    fn good() -> serde_json::Value {
        serde_json::json!({
            "iss": "https://op.example", "sub": "s-1", "aud": "gw",
            "exp": 1_000_000, "iat": 999_700, "nonce": "n-1"
        })
    }

    fn with(key: &str, value: serde_json::Value) -> Claims {
        let mut v = good();
        v[key] = value;
        claims(v)
    }

    #[test]
    fn exp_has_a_minute_of_leeway() {
        assert!(check_claims(claims(good()), &expected(1_000_060)).is_ok());
        assert!(check_claims(claims(good()), &expected(1_000_061)).is_err());
    }

    #[test]
    fn several_audiences_need_azp_equal_to_client_id() {
        let aud = serde_json::json!(["gw", "other"]);
        assert!(check_claims(with("aud", aud.clone()), &expected(999_800)).is_err());
        let mut v = good();
        v["aud"] = aud;
        v["azp"] = "gw".into();
        assert!(check_claims(claims(v.clone()), &expected(999_800)).is_ok());
        v["azp"] = "other".into();
        assert!(check_claims(claims(v), &expected(999_800)).is_err());
    }

    #[test]
    fn future_iat_and_nbf_are_refused() {
        assert!(check_claims(with("iat", 999_900.into()), &expected(999_800)).is_err());
        assert!(check_claims(with("nbf", 999_900.into()), &expected(999_800)).is_err());
        assert!(check_claims(with("nbf", 999_850.into()), &expected(999_800)).is_ok());
    }

    #[test]
    fn nonce_and_sub_are_required() {
        let mut v = good();
        v.as_object_mut().unwrap().remove("nonce");
        assert!(check_claims(claims(v), &expected(999_800)).is_err());
        assert!(check_claims(with("sub", "".into()), &expected(999_800)).is_err());
        assert!(check_claims(with("nonce", "n-2".into()), &expected(999_800)).is_err());
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn header_refuses_none_hs_and_jwe() {
        let enc = |h: &str| format!("{}.e30.", URL_SAFE_NO_PAD.encode(h));
        assert!(header(&enc(r#"{"alg":"none"}"#)).is_err());
        assert!(header(&enc(r#"{"alg":"HS256"}"#)).is_err());
        assert!(header(&enc(r#"{"alg":"RS256","crit":["x"]}"#)).is_err());
        assert!(header("a.b.c.d.e").is_err());
        let h = header(&enc(r#"{"alg":"RS256","kid":"k1"}"#)).unwrap();
        assert_eq!(h.alg, Algorithm::RS256);
        assert_eq!(h.kid.as_deref(), Some("k1"));
    }
}
