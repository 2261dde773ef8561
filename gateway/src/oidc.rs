//! OpenID provider endpoints. Handlers parse, call one service function, render.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde_json::json;
use vneid_core::AssuranceLevel;

use crate::client_ip::ClientIp;
use crate::cookies;
use crate::errors::{OAuthError, PageError};
use crate::login::{self, AuthRequest, CallbackError, CallbackOutcome, StartError, SESSION_COOKIE};
use crate::pages;
use crate::params::Params;
use crate::state::AppState;
use crate::telemetry::RequestId;
use crate::token;

type Data = web::Data<AppState>;

fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

fn client_ip(req: &HttpRequest, state: &AppState) -> ClientIp {
    ClientIp::of(req, &state.settings.server.trusted_proxies)
}

fn redirect(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Scopes the gateway serves now (discovery must be truthful).
pub const SCOPES_SUPPORTED: [&str; 5] = [
    "openid",
    "profile",
    "personal_id",
    "account",
    "offline_access",
];

/// Either an error page (before the redirect URI is trusted) or a redirect with an error.
enum AuthorizeFailure {
    Page(PageError),
    Redirect(String),
}

/// Validates `/authorize` parameters in the order RFC 6749 §4.1.2.1 asks: client and
/// redirect URI first (errors there are shown, never redirected), then the rest (redirected).
/// Returns the request and the `idp_hint`, if any.
fn parse_authorize(
    state: &AppState,
    raw: &[u8],
) -> Result<(AuthRequest, Option<String>), AuthorizeFailure> {
    let bad = |m: &str| {
        AuthorizeFailure::Page(PageError::bad_request(
            "Yêu cầu đăng nhập không hợp lệ",
            m.to_owned(),
        ))
    };
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
        AuthorizeFailure::Redirect(login::error_redirect(state, req, error, d))
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
    // §3.3); the token response says which were granted.
    let mut scopes: Vec<String> = Vec::new();
    for s in requested {
        if client.scopes.iter().any(|c| c == s) && !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_owned());
        }
    }
    req.scopes = scopes;
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

/// `GET /authorize`
pub async fn authorize(req: HttpRequest, state: Data) -> HttpResponse {
    let raw = req.query_string().as_bytes().to_vec();
    let (auth, hint) = match parse_authorize(&state, &raw) {
        Ok(a) => a,
        Err(AuthorizeFailure::Page(e)) => return actix_web::ResponseError::error_response(&e),
        Err(AuthorizeFailure::Redirect(url)) => return redirect(&url),
    };

    // SSO: a live session that satisfies the request gets a code without a trip upstream.
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        match login::session(&state, cookie.value()).await {
            Ok(Some(session)) if login::session_satisfies(&session, &auth, state.clock.now()) => {
                let issued = async {
                    login::remember_client(&state, cookie.value(), &session, &auth.client_id)
                        .await?;
                    login::issue_code(&state, &auth, &session).await
                };
                return match issued.await {
                    Ok(url) => redirect(&url),
                    Err(e) => service_page_error(e),
                };
            }
            Ok(_) => {}
            Err(e) => return service_page_error(e),
        }
    }
    if auth.prompt_none {
        return redirect(&login::error_redirect(
            &state,
            &auth,
            "login_required",
            "no session satisfies the request",
        ));
    }

    let Some(client) = state.clients.get(&auth.client_id) else {
        return service_page_error(login::ServiceError::Internal("client vanished".into()));
    };
    let allowed = login::allowed_upstreams(&state, &client);
    let chosen = match hint {
        Some(h) => match allowed.iter().find(|u| u.id() == h) {
            Some(u) => u.id().to_owned(),
            None => {
                return redirect(&login::error_redirect(
                    &state,
                    &auth,
                    "invalid_request",
                    "idp_hint names no upstream this client may use",
                ))
            }
        },
        None if allowed.len() == 1 => allowed[0].id().to_owned(),
        None if allowed.is_empty() => {
            return redirect(&login::error_redirect(
                &state,
                &auth,
                "server_error",
                "no upstream is configured for this client",
            ))
        }
        None => {
            let query = String::from_utf8_lossy(&raw);
            let choices: Vec<(String, String)> = allowed
                .iter()
                .map(|u| {
                    (
                        format!("{}?{}&idp_hint={}", state.url("/authorize"), query, u.id()),
                        u.config()
                            .display_name
                            .clone()
                            .unwrap_or_else(|| u.id().to_owned()),
                    )
                })
                .collect();
            return pages::chooser_page(&choices);
        }
    };
    match login::start_upstream_login(&state, auth.clone(), &chosen).await {
        Ok(started) => {
            let mut res = redirect(&started.url);
            let _ = res.add_cookie(&cookies::binding(
                &state,
                &chosen,
                &started.upstream_state,
                started.binding,
            ));
            res
        }
        Err(StartError::UnknownUpstream) => redirect(&login::error_redirect(
            &state,
            &auth,
            "server_error",
            "unknown upstream",
        )),
        Err(StartError::Upstream) => actix_web::ResponseError::error_response(&PageError {
            status: StatusCode::BAD_GATEWAY,
            title: "Không kết nối được hệ thống xác thực".into(),
            message:
                "Hệ thống xác thực quốc gia đang không phản hồi. Vui lòng thử lại sau ít phút."
                    .into(),
        }),
        Err(StartError::Service(e)) => service_page_error(e),
    }
}

fn service_page_error(e: login::ServiceError) -> HttpResponse {
    let page = match e {
        login::ServiceError::Store(s) => PageError::from_store(s),
        login::ServiceError::Internal(m) => {
            tracing::error!(error = %m, "internal error");
            PageError::internal()
        }
    };
    actix_web::ResponseError::error_response(&page)
}

/// `GET /login/{upstream}/callback`
pub async fn callback(req: HttpRequest, path: web::Path<String>, state: Data) -> HttpResponse {
    let bad_state = || {
        actix_web::ResponseError::error_response(&PageError::bad_request(
            "Phiên đăng nhập không hợp lệ",
            "Phiên đăng nhập đã hết hạn hoặc không hợp lệ. Vui lòng quay lại trang của cơ quan và đăng nhập lại.",
        ))
    };
    let Ok(p) = Params::parse(req.query_string().as_bytes()) else {
        return bad_state();
    };
    let Some(upstream_state) = p.get("state") else {
        return bad_state();
    };
    let upstream = path.into_inner();
    let binding = req.cookie(&cookies::binding_name(upstream_state));
    let request_id = request_id(&req);
    let outcome = login::finish_login(
        &state,
        &login::Callback {
            upstream: &upstream,
            upstream_state,
            code: p.get("code"),
            error: p.get("error"),
            binding: binding.as_ref().map(|c| c.value()),
            request_id: &request_id,
        },
    )
    .await;
    let mut res = match outcome {
        Ok(CallbackOutcome::Admitted { redirect: url, cookie }) => {
            let mut res = redirect(&url);
            let _ = res.add_cookie(&cookies::session(&state, cookie));
            res
        }
        Ok(CallbackOutcome::Refused { refusal, back, portal }) => {
            pages::refusal_page(&refusal, Some(&back), &portal)
        }
        Ok(CallbackOutcome::UpstreamDenied { redirect: url }) => redirect(&url),
        Ok(CallbackOutcome::UpstreamFailed { back, portal }) => pages::html(
            StatusCode::BAD_GATEWAY,
            "Không hoàn tất được đăng nhập",
            &format!(
                "<h1>Không hoàn tất được đăng nhập</h1><p>Hệ thống xác thực quốc gia không trả về thông tin hợp lệ. \
Vui lòng thử lại sau ít phút.</p><p><a class=\"button secondary\" href=\"{}\">Quay lại {}</a></p>",
                pages::escape(&back),
                pages::escape(&portal)
            ),
        ),
        Err(CallbackError::UnknownState) => bad_state(),
        Err(CallbackError::OtherBrowser) => {
            actix_web::ResponseError::error_response(&PageError::bad_request(
                "Phiên đăng nhập không khớp với trình duyệt",
                "Lượt đăng nhập này không được bắt đầu trên trình duyệt bạn đang dùng, nên hệ thống \
không hoàn tất đăng nhập. Nếu bạn vừa nhấn vào một đường liên kết lạ, hãy đóng trang này. \
Để đăng nhập, hãy quay lại trang của cơ quan và bấm Đăng nhập.",
            ))
        }
        Err(CallbackError::Service(e)) => service_page_error(e),
    };
    if binding.is_some() {
        let _ = res.add_cookie(&cookies::binding_removal(&state, &upstream, upstream_state));
    }
    res
}

/// The form body and `Authorization` header of a client-authenticated POST (token,
/// introspection, revocation).
fn client_form(req: &HttpRequest, body: &[u8]) -> Result<(Params, Option<String>), OAuthError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let p = Params::parse(body).map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}").to_owned());
    Ok((p, authorization))
}

fn no_store(mut b: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    b
}

/// `POST /token`
pub async fn token(
    req: HttpRequest,
    body: web::Bytes,
    state: Data,
) -> Result<HttpResponse, OAuthError> {
    let (p, authorization) = client_form(&req, &body)?;
    let from = client_ip(&req, &state);
    let response = token::token(
        &state,
        authorization.as_deref(),
        &p,
        &from,
        &request_id(&req),
    )
    .await?;
    Ok(no_store(HttpResponse::Ok()).json(response))
}

/// `POST /introspect` (RFC 7662)
pub async fn introspect(
    req: HttpRequest,
    body: web::Bytes,
    state: Data,
) -> Result<HttpResponse, OAuthError> {
    let (p, authorization) = client_form(&req, &body)?;
    let from = client_ip(&req, &state);
    let response = token::introspect(&state, authorization.as_deref(), &p, &from).await?;
    Ok(no_store(HttpResponse::Ok()).json(response))
}

/// `POST /revoke` (RFC 7009)
pub async fn revoke(
    req: HttpRequest,
    body: web::Bytes,
    state: Data,
) -> Result<HttpResponse, OAuthError> {
    let (p, authorization) = client_form(&req, &body)?;
    let from = client_ip(&req, &state);
    token::revoke(&state, authorization.as_deref(), &p, &from).await?;
    Ok(no_store(HttpResponse::Ok()).finish())
}

/// The token of an `Authorization: Bearer …` header (RFC 6750 §2.1), if there is one.
pub(crate) fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    Some(rest.trim()).filter(|t| scheme.eq_ignore_ascii_case("bearer") && !t.is_empty())
}

/// `GET|POST /userinfo`
pub async fn userinfo(req: HttpRequest, state: Data) -> Result<HttpResponse, OAuthError> {
    let Some(bearer) = bearer_token(&req) else {
        return Err(OAuthError::bearer_required());
    };
    let claims = token::userinfo(&state, bearer).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(claims))
}

/// `GET /.well-known/openid-configuration`
fn cache_control(state: &AppState) -> String {
    format!(
        "public, max-age={}",
        state.settings.tokens.jwks_max_age.as_secs()
    )
}

pub async fn discovery(state: Data) -> HttpResponse {
    let alg = state.settings.tokens.signing_alg.as_str();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, cache_control(&state)))
        .json(json!({
            "issuer": state.issuer,
            "authorization_endpoint": state.url("/authorize"),
            "token_endpoint": state.url("/token"),
            "userinfo_endpoint": state.url("/userinfo"),
            "jwks_uri": state.url("/jwks"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "end_session_endpoint": state.url("/logout"),
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
            "frontchannel_logout_supported": false,
            "introspection_endpoint": state.url("/introspect"),
            "revocation_endpoint": state.url("/revoke"),
            "grant_types_supported": crate::config::GRANT_TYPES,
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": [alg],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "RS512", "PS256", "ES256", "EdDSA"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": SCOPES_SUPPORTED,
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid", "idp", "login_idp", "name", "birthdate", "personal_id", "account"],
            "acr_values_supported": [AssuranceLevel::Level1.acr(), AssuranceLevel::Level2.acr()],
            "prompt_values_supported": ["none", "login"],
            "authorization_response_iss_parameter_supported": true,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "ui_locales_supported": ["vi"],
        }))
}

/// `GET /jwks`
pub async fn jwks(state: Data) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, cache_control(&state)))
        .json(state.key_set().jwks())
}
