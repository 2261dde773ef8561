//! The HTTP layer: every handler parses the request, calls one service, and renders its outcome
//! — a redirect, a page ([`pages`]), or JSON. Errors become answers in [`crate::errors`].
//!
//! - [`authorize`]: `/authorize` and the upstream callback;
//! - [`token`]: `/token`, `/introspect`, `/revoke`, `/par`; [`userinfo`]; [`logout`];
//! - [`discovery`]: the OpenID configuration and the JWKS;
//! - [`ops`]: health, readiness, metrics; [`throttle`]: the rate limits in front of routes.

pub mod authorize;
pub mod discovery;
pub mod logout;
pub mod ops;
pub mod throttle;
pub mod token;
pub mod userinfo;

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};

use crate::client_ip::ClientIp;
use crate::errors::{OAuthError, ProofAt, TokenScheme};
use crate::state::AppState;
use crate::telemetry::RequestId;

/// The request id of `req` (set by the request-id middleware before anything else runs).
pub fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// The client address of `req` ([`ClientIp`]).
pub fn client_ip(req: &HttpRequest, state: &AppState) -> ClientIp {
    ClientIp::of(req, &state.settings.server.trusted_proxies)
}

/// A `302` to `location`, never cached.
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// An answer carrying tokens or personal data: never cached.
pub(crate) fn no_store(mut b: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    b
}

/// The token of an `Authorization: Bearer …` header (RFC 6750 §2.1), if there is one.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    access_token(req).and_then(|(scheme, t)| (scheme == TokenScheme::Bearer).then_some(t))
}

/// The access token of an `Authorization: Bearer …` (RFC 6750 §2.1) or `Authorization: DPoP …`
/// (RFC 9449 §7.1) header, with its scheme.
pub fn access_token(req: &HttpRequest) -> Option<(TokenScheme, &str)> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    let token = Some(rest.trim()).filter(|t| !t.is_empty())?;
    if scheme.eq_ignore_ascii_case("bearer") {
        Some((TokenScheme::Bearer, token))
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Some((TokenScheme::Dpop, token))
    } else {
        None
    }
}

/// The request's one `DPoP` header (RFC 9449 §4.3: more than one is refused).
pub fn dpop_proof(req: &HttpRequest, at: ProofAt) -> Result<Option<&str>, OAuthError> {
    let mut values = req.headers().get_all("dpop");
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let refuse = |d: &str| OAuthError::invalid_dpop_proof(at, d);
    if values.next().is_some() {
        return Err(refuse("send one DPoP header, not several"));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| refuse("the DPoP header is not a JWT"))
}

/// Adds the current `DPoP-Nonce` to an answer to a request that sent a proof (RFC 9449 §8.2:
/// the client keeps the freshest nonce for its next proof).
pub(crate) fn with_nonce(
    mut b: actix_web::HttpResponseBuilder,
    state: &AppState,
    proof: Option<&str>,
) -> actix_web::HttpResponseBuilder {
    if proof.is_some() && state.settings.dpop.require_nonce {
        b.insert_header(("DPoP-Nonce", crate::oauth::dpop::current_nonce(state)));
    }
    b
}
