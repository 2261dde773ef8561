//! The HTTP layer: every handler parses the request, calls one service, and renders its outcome
//! — a redirect, a page ([`pages`]), or JSON. Errors become answers in [`crate::errors`].
//!
//! - [`authorize`]: `/authorize` and the upstream callback;
//! - [`token`]: `/token`, `/introspect`, `/revoke`; [`userinfo`]; [`logout`];
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
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    Some(rest.trim()).filter(|t| scheme.eq_ignore_ascii_case("bearer") && !t.is_empty())
}
