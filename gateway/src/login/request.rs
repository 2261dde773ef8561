//! The portal's authorization request (`GET /authorize`, or pushed to `POST /par`), checked in
//! the order RFC 6749 §4.1.2.1 asks: client and redirect URI first (errors there are shown, never
//! redirected), then everything else (errors redirected to the portal). [`check`] is the one set
//! of checks both endpoints apply; at `/par` its refusals become JSON OAuth errors.

use vneid_core::AssuranceLevel;

use super::AuthRequest;
use crate::clients::Client;
use crate::errors::ServiceError;
use crate::params::Params;
use crate::resources::Resources;
use crate::state::AppState;

/// Why an authorization request is refused.
pub enum Invalid {
    /// Shown to the person (in Vietnamese): the client or its redirect URI cannot be trusted
    /// (or a pushed request is gone), so nothing may be sent there.
    Page(String),
    /// Sent back to the portal's redirect URI (an error with `state` and `iss`).
    Redirect(String),
    /// The store failed while taking a pushed request.
    Failed(ServiceError),
}

/// Why an authorization request's parameters are refused, before it is decided how to say so
/// (at `/authorize` a page or a redirect, at `/par` a JSON OAuth error).
pub enum Refused {
    /// The redirect URI cannot be trusted: nothing may be sent to it. `page` is the Vietnamese
    /// explanation for a person, `description` the OAuth one for a portal.
    Untrusted {
        page: &'static str,
        description: &'static str,
    },
    /// Anything else, once client and redirect URI are known good.
    Request {
        req: Box<AuthRequest>,
        error: &'static str,
        description: String,
    },
}

/// How the parameters arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// In the URL of `/authorize`.
    FrontChannel,
    /// Pushed by the authenticated client to `/par` (RFC 9126).
    Pushed,
}

/// Validates `/authorize` parameters in the order RFC 6749 §4.1.2.1 asks: client and
/// redirect URI first (errors there are shown, never redirected), then the rest (redirected).
/// A `request_uri` from `/par` (RFC 9126 §4) stands for the whole request: it is taken once,
/// only by the client that pushed it, and every other parameter beside it is ignored.
/// Returns the request and the `idp_hint`, if any.
pub async fn parse(state: &AppState, raw: &[u8]) -> Result<(AuthRequest, Option<String>), Invalid> {
    let bad = |m: &str| Invalid::Page(m.to_owned());
    let p = Params::parse(raw).map_err(|e| bad(&format!("Tham số không hợp lệ ({e}).")))?;
    let client_id = p
        .get("client_id")
        .ok_or_else(|| bad("Thiếu mã ứng dụng (client_id)."))?;
    let client = state
        .clients
        .get(client_id)
        .ok_or_else(|| bad("Ứng dụng (client_id) chưa được đăng ký với hệ thống."))?;
    if let Some(request_uri) = p.get("request_uri") {
        return super::par::take(state, &client.id, request_uri)
            .await
            .map_err(|e| match e {
                super::par::TakeError::Gone => bad(super::par::GONE_PAGE),
                super::par::TakeError::Service(e) => Invalid::Failed(e),
            })
            // The chooser's links add `idp_hint` to a request that named none.
            .map(|(req, hint)| (req, hint.or_else(|| p.get("idp_hint").map(str::to_owned))))
            // Checked when pushed (RFC 9126 §4 lets that stand); only a redirect URI removed
            // from the client since then is looked at again.
            .and_then(|(req, hint)| {
                if client.has_redirect_uri(&req.redirect_uri) {
                    Ok((req, hint))
                } else {
                    Err(bad(super::par::GONE_PAGE))
                }
            });
    }
    check(state, &client, &p, Via::FrontChannel).map_err(|e| match e {
        Refused::Untrusted { page, .. } => bad(page),
        Refused::Request {
            req,
            error,
            description,
        } => Invalid::Redirect(super::error_redirect(state, &req, error, &description)),
    })
}

/// The checks of an authorization request of `client` (known to be registered; at `/par`,
/// authenticated), the same whether its parameters came in the URL or were pushed.
pub fn check(
    state: &AppState,
    client: &Client,
    p: &Params,
    via: Via,
) -> Result<(AuthRequest, Option<String>), Refused> {
    let redirect_uri = p.get("redirect_uri").ok_or(Refused::Untrusted {
        page: "Thiếu địa chỉ quay lại (redirect_uri).",
        description: "redirect_uri is required",
    })?;
    if !client.has_redirect_uri(redirect_uri) {
        return Err(Refused::Untrusted {
            page: "Địa chỉ quay lại (redirect_uri) không khớp với địa chỉ đã đăng ký của ứng dụng.",
            description: "redirect_uri is not one registered for this client",
        });
    }
    let mut req = AuthRequest {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        state: p.get("state").map(str::to_owned),
        nonce: p.get("nonce").map(str::to_owned),
        code_challenge: None,
        scopes: Vec::new(),
        required_level: AssuranceLevel::Level2,
        prompt_login: false,
        prompt_none: false,
        max_age: None,
        dpop_jkt: None,
    };
    let fail = |req: &AuthRequest, error: &'static str, d: &str| Refused::Request {
        req: Box::new(req.clone()),
        error,
        description: d.to_owned(),
    };
    if !client.has_grant("authorization_code") {
        return Err(fail(
            &req,
            "unauthorized_client",
            "this client may not use the authorization code flow",
        ));
    }
    if via == Via::FrontChannel && client.requires_par() {
        return Err(fail(
            &req,
            "invalid_request",
            "pushed authorization request required",
        ));
    }
    if p.has("request") {
        return Err(fail(
            &req,
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if p.has("request_uri") {
        // Only at `/par`: at `/authorize` a `request_uri` is taken before these checks.
        return Err(fail(
            &req,
            "invalid_request",
            "request_uri is not allowed in a pushed authorization request",
        ));
    }
    match p.get("response_type") {
        Some("code") => {}
        None => return Err(fail(&req, "invalid_request", "response_type is required")),
        Some(_) => {
            return Err(fail(
                &req,
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
    }
    if let Some(mode) = p.get("response_mode") {
        if mode != "query" {
            return Err(fail(
                &req,
                "invalid_request",
                "only response_mode=query is supported",
            ));
        }
    }
    let requested: Vec<&str> = p
        .get("scope")
        .unwrap_or("")
        .split_ascii_whitespace()
        .collect();
    if !requested.contains(&"openid") {
        return Err(fail(&req, "invalid_scope", "scope must include openid"));
    }
    // Scopes the client may not have, or the gateway does not know, are left out (RFC 6749
    // §3.3); the token response says which were granted. A resource's scopes come only with
    // that resource named (RFC 8707), one per request.
    let resources = Resources(&state.settings.resources);
    req.scopes = resources
        .requested(p)
        .and_then(|resource| resources.select(&client.scopes, &requested, resource, false))
        .map_err(|e| fail(&req, e.code(), e.description()))?;
    match (p.get("code_challenge"), p.get("code_challenge_method")) {
        (Some(c), Some("S256")) => {
            if c.len() < 43
                || c.len() > 128
                || !c
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(fail(
                    &req,
                    "invalid_request",
                    "code_challenge is not a S256 challenge",
                ));
            }
            req.code_challenge = Some(c.to_owned());
        }
        (Some(_), _) => {
            return Err(fail(
                &req,
                "invalid_request",
                "code_challenge_method must be S256",
            ))
        }
        (None, Some(_)) => return Err(fail(&req, "invalid_request", "code_challenge is missing")),
        (None, None) if client.requires_pkce() => {
            return Err(fail(
                &req,
                "invalid_request",
                if client.is_public() {
                    "PKCE (code_challenge with S256) is required for public clients"
                } else {
                    "PKCE (code_challenge with S256) is required by the FAPI 2.0 profile"
                },
            ))
        }
        (None, None) => {}
    }
    if let Some(prompt) = p.get("prompt") {
        let values: Vec<&str> = prompt.split_ascii_whitespace().collect();
        if values.contains(&"none") && values.len() > 1 {
            return Err(fail(
                &req,
                "invalid_request",
                "prompt=none cannot be combined",
            ));
        }
        req.prompt_none = values.contains(&"none");
        req.prompt_login = values.contains(&"login");
    }
    if let Some(m) = p.get("max_age") {
        req.max_age = Some(m.parse::<u32>().map(i64::from).map_err(|_| {
            fail(
                &req,
                "invalid_request",
                "max_age must be a whole number of seconds",
            )
        })?);
    }
    if let Some(jkt) = p.get("dpop_jkt") {
        // A JWK SHA-256 thumbprint, base64url without padding (RFC 9449 §10).
        if jkt.len() != 43
            || !jkt
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(fail(
                &req,
                "invalid_request",
                "dpop_jkt is not a JWK SHA-256 thumbprint",
            ));
        }
        req.dpop_jkt = Some(jkt.to_owned());
    }
    req.required_level = vneid_policy::required_level(
        &state.settings.policy,
        client.min_level,
        p.get("acr_values"),
    );
    Ok((req, p.get("idp_hint").map(str::to_owned)))
}
