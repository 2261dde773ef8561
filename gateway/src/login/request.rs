//! The portal's authorization request (`GET /authorize`), checked in the order RFC 6749
//! §4.1.2.1 asks: client and redirect URI first (errors there are shown, never redirected), then
//! everything else (errors redirected to the portal).

use vneid_core::AssuranceLevel;

use super::AuthRequest;
use crate::params::Params;
use crate::resources::Resources;
use crate::state::AppState;

/// Why an authorization request is refused.
pub enum Invalid {
    /// Shown to the person (in Vietnamese): the client or its redirect URI cannot be trusted,
    /// so nothing may be sent there.
    Page(String),
    /// Sent back to the portal's redirect URI (an error with `state` and `iss`).
    Redirect(String),
}

/// Validates `/authorize` parameters in the order RFC 6749 §4.1.2.1 asks: client and
/// redirect URI first (errors there are shown, never redirected), then the rest (redirected).
/// Returns the request and the `idp_hint`, if any.
pub fn parse(state: &AppState, raw: &[u8]) -> Result<(AuthRequest, Option<String>), Invalid> {
    let bad = |m: &str| Invalid::Page(m.to_owned());
    let p = Params::parse(raw).map_err(|e| bad(&format!("Tham số không hợp lệ ({e}).")))?;
    let client_id = p
        .get("client_id")
        .ok_or_else(|| bad("Thiếu mã ứng dụng (client_id)."))?;
    let client = state
        .clients
        .get(client_id)
        .ok_or_else(|| bad("Ứng dụng (client_id) chưa được đăng ký với hệ thống."))?;
    let redirect_uri = p
        .get("redirect_uri")
        .ok_or_else(|| bad("Thiếu địa chỉ quay lại (redirect_uri)."))?;
    if !client.has_redirect_uri(redirect_uri) {
        return Err(bad(
            "Địa chỉ quay lại (redirect_uri) không khớp với địa chỉ đã đăng ký của ứng dụng.",
        ));
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
    };
    let fail = |req: &AuthRequest, error: &str, d: &str| {
        Invalid::Redirect(super::error_redirect(state, req, error, d))
    };
    if !client.has_grant("authorization_code") {
        return Err(fail(
            &req,
            "unauthorized_client",
            "this client may not use the authorization code flow",
        ));
    }
    if p.has("request") || p.has("request_uri") {
        return Err(fail(
            &req,
            "request_not_supported",
            "request objects are not supported",
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
        .requested(&p)
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
        (None, None) if client.is_public() => {
            return Err(fail(
                &req,
                "invalid_request",
                "PKCE (code_challenge with S256) is required for public clients",
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
    req.required_level = vneid_policy::required_level(
        &state.settings.policy,
        client.min_level,
        p.get("acr_values"),
    );
    Ok((req, p.get("idp_hint").map(str::to_owned)))
}
