//! Client authentication at `/token`, `/introspect` and `/revoke` (RFC 6749 §2.3): HTTP Basic,
//! `client_secret_post`, `private_key_jwt` (RFC 7523, each assertion `jti` once), or `none` for a
//! public client — the registered method only, one per request — and failures counted per
//! client id and address.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use vneid_tokens::verify_client_assertion;

use crate::client_ip::ClientIp;
use crate::clients::Client;
use crate::config::ClientAuthMethod;
use crate::errors::OAuthError;
use crate::params::Params;
use crate::ratelimit::Limit;
use crate::state::AppState;

/// `client_assertion_type` of RFC 7523 client assertions.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Ephemeral namespace of seen client-assertion `jti`s.
pub const NS_ASSERTION_JTI: &str = "assertion_jti";

/// Authenticates the client of a token, introspection or revocation request (see
/// [`authenticate`]), counting failures per claimed client id *and* client address: past
/// `limits.client_auth_failures` that pair gets 429 until the window ends, while the same
/// client from any other address is served as usual.
pub async fn authenticate_client(
    state: &AppState,
    authorization: Option<&str>,
    p: &Params,
    from: &ClientIp,
) -> Result<Arc<Client>, OAuthError> {
    let who = claimed_client_id(authorization, p).map(|id| {
        let id: String = id.chars().take(128).collect();
        format!("{id}:{}", from.limit_key())
    });
    if let Some(who) = &who {
        if let Err(limited) = state
            .limiter
            .exceeded(Limit::ClientAuthFailures, who)
            .await?
        {
            state
                .metrics
                .rate_limited
                .with_label_values(&[Limit::ClientAuthFailures.name()])
                .inc();
            return Err(OAuthError::too_many_requests(limited.retry_after));
        }
    }
    let mut result = authenticate(state, authorization, p).await;
    // RFC 6749 §5.2: the challenge answers a client that tried the `Authorization` header
    // (whatever its scheme); one that authenticated in the body (a secret, an assertion) gets
    // none, which RP libraries would otherwise take for a challenge to answer.
    if let Err(e) = &mut result {
        if e.error == "invalid_client" && authorization.is_none() {
            e.www_authenticate = None;
        }
    }
    if let (Err(e), Some(who)) = (&result, &who) {
        if e.error == "invalid_client" {
            if let Err(e) = state.limiter.hit(Limit::ClientAuthFailures, who).await {
                tracing::warn!(error = %e, "counting a failed client authentication failed");
            }
        }
    }
    result
}

/// `Authorization: Basic` credentials: id and secret, each form-urlencoded before the Basic
/// encoding (RFC 6749 §2.3.1).
fn basic_credentials(authorization: Option<&str>) -> Result<Option<(String, String)>, OAuthError> {
    let Some(h) = authorization else {
        return Ok(None);
    };
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "unsupported authorization scheme",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
    Ok(Some((
        crate::params::decode(id.as_bytes()),
        crate::params::decode(secret.as_bytes()),
    )))
}

/// The client a request says it is (Basic, `client_id`, or an assertion's `sub`), before any
/// of it is verified: only used to count failures and to name the client in the access line.
pub fn claimed_client_id(authorization: Option<&str>, p: &Params) -> Option<String> {
    if let Ok(Some((id, _))) = basic_credentials(authorization) {
        return Some(id);
    }
    if let Some(id) = p.get("client_id") {
        return Some(id.to_owned());
    }
    let assertion = p.get("client_assertion")?;
    let claims = unverified_claims(assertion)?;
    claims["sub"].as_str().map(str::to_owned)
}

/// The payload of a JWT, decoded without any check (to find which client it names).
fn unverified_claims(jwt: &str) -> Option<Value> {
    unverified_part(jwt, 1)
}

/// The JSON of part `n` of a JWT (0: the header, 1: the claims), not verified.
fn unverified_part(jwt: &str, n: usize) -> Option<Value> {
    let part = jwt.split('.').nth(n)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Authenticates the client of a token, introspection or revocation request (RFC 6749 §2.3):
/// HTTP Basic with form-urlencoded id and secret, `client_secret_post`, `private_key_jwt`
/// (RFC 7523, `jti` single use), or `none` for a public client. The method must be the one
/// registered, and only one may be used.
async fn authenticate(
    state: &AppState,
    authorization: Option<&str>,
    p: &Params,
) -> Result<Arc<Client>, OAuthError> {
    let basic = basic_credentials(authorization)?;
    let assertion = match (p.get("client_assertion_type"), p.get("client_assertion")) {
        (Some(JWT_BEARER), Some(a)) => Some(a),
        (None, None) => None,
        _ => {
            return Err(OAuthError::invalid_client(format!(
                "client_assertion_type must be {JWT_BEARER}, with a client_assertion"
            )))
        }
    };
    let methods = usize::from(basic.is_some())
        + usize::from(p.has("client_secret"))
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "use one client authentication method, not two",
        ));
    }
    if let Some(assertion) = assertion {
        return authenticate_assertion(state, assertion, p.get("client_id")).await;
    }
    let (client_id, secret, method) = match &basic {
        Some((id, s)) => {
            if let Some(body_id) = p.get("client_id") {
                if body_id != id {
                    return Err(OAuthError::invalid_client(
                        "client_id does not match the credentials",
                    ));
                }
            }
            (
                id.as_str(),
                Some(s.as_str()),
                ClientAuthMethod::ClientSecretBasic,
            )
        }
        None => match (p.get("client_id"), p.get("client_secret")) {
            (Some(id), Some(s)) => (id, Some(s), ClientAuthMethod::ClientSecretPost),
            (Some(id), None) => (id, None, ClientAuthMethod::None),
            (None, _) => {
                return Err(OAuthError::invalid_client(
                    "client authentication is required",
                ))
            }
        },
    };
    let client = state
        .clients
        .get(client_id)
        .ok_or_else(|| OAuthError::invalid_client("unknown client or wrong credentials"))?;
    if client.auth_method != method {
        return Err(OAuthError::invalid_client(format!(
            "this client authenticates with {}",
            client.auth_method.as_str()
        )));
    }
    // During a rotation the previous secret works until its time.
    let previous = client
        .previous_secret
        .as_ref()
        .filter(|p| state.clock.now() < p.until);
    match (&client.secret_hash, secret) {
        (None, None) => Ok(client),
        (Some(hash), Some(s)) if state.master.verify_client_secret(s, hash) => Ok(client),
        (Some(_), Some(s))
            if previous.is_some_and(|p| state.master.verify_client_secret(s, &p.hash)) =>
        {
            Ok(client)
        }
        _ => Err(OAuthError::invalid_client(
            "unknown client or wrong credentials",
        )),
    }
}

/// `private_key_jwt`: the assertion names the client (`iss`/`sub`), is signed by one of its
/// registered keys, is meant for us, and its `jti` has not been seen before.
async fn authenticate_assertion(
    state: &AppState,
    assertion: &str,
    client_id: Option<&str>,
) -> Result<Arc<Client>, OAuthError> {
    let bad = |why: &str| OAuthError::invalid_client(format!("client assertion: {why}"));
    // Find the client named inside the assertion before trusting anything in it.
    let unverified = unverified_claims(assertion).ok_or_else(|| bad("not a JWT"))?;
    let named = unverified["sub"].as_str().ok_or_else(|| bad("no sub"))?;
    if client_id.is_some_and(|c| c != named) {
        return Err(bad("client_id does not match the assertion"));
    }
    let client = state
        .clients
        .get(named)
        .ok_or_else(|| bad("unknown client"))?;
    if client.auth_method != ClientAuthMethod::PrivateKeyJwt {
        return Err(bad("this client does not use private_key_jwt"));
    }
    let alg = unverified_part(assertion, 0)
        .and_then(|h| h["alg"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if !client.allows_alg(&alg) {
        return Err(bad(&format!(
            "alg {:?} is not allowed for this client (FAPI 2.0: ES256, PS256, EdDSA)",
            alg.chars().take(16).collect::<String>()
        )));
    }
    let jwks = client
        .jwks
        .as_deref()
        .ok_or_else(|| bad("no registered keys"))?;
    // The audiences that name this server (RFC 7523 §3, RFC 9126 §2, FAPI 2.0 §5.3.2.1): the
    // issuer and every endpoint that authenticates clients, wherever the assertion is sent (a
    // client may reuse one audience; the `jti` is still single-use).
    let endpoints = ["/token", "/par", "/introspect", "/revoke"].map(|p| state.url(p));
    let mut audiences: Vec<&str> = endpoints.iter().map(String::as_str).collect();
    audiences.push(state.issuer.as_str());
    let now = state.clock.now();
    let claims = verify_client_assertion(jwks, assertion, &client.id, &audiences, now)
        .map_err(|e| bad(&e.to_string()))?;
    let ttl = Duration::from_secs((claims.exp - now.timestamp()).max(1).unsigned_abs());
    let first = state
        .ephemeral
        .put_if_absent(
            NS_ASSERTION_JTI,
            &format!("{}:{}", client.id, claims.jti),
            "1",
            ttl,
        )
        .await?;
    if !first {
        return Err(bad("jti was used before"));
    }
    Ok(client)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The `Authorization` header and the client fields of a token request are attacker
        /// text: any value is a client id, an `invalid_client` error or nothing — never a panic.
        #[test]
        fn client_credentials_never_panic(
            header in "\\PC{0,200}",
            b64 in "[A-Za-z0-9+/=]{0,120}",
            assertion in "\\PC{0,300}",
            segment in "[A-Za-z0-9_-]{0,200}",
        ) {
            let _ = basic_credentials(Some(&header));
            let _ = basic_credentials(Some(&format!("Basic {b64}")));
            let form = serde_urlencoded::to_string([("client_assertion", assertion.as_str())]).unwrap();
            let p = Params::parse(form.as_bytes()).unwrap();
            let _ = claimed_client_id(None, &p);
            let _ = unverified_claims(&format!("x.{segment}.y"));
        }
    }
}
