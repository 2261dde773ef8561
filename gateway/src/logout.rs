//! Logout: OpenID RP-Initiated Logout 1.0 at `/logout`, and Back-Channel Logout 1.0 tokens
//! POSTed to every portal that took part in the session.

use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use vneid_store::AuditEvent;
use vneid_tokens::{IdTokenClaims, LogoutTokenClaims, TYP_ID_TOKEN, TYP_LOGOUT_TOKEN};

use crate::errors::PageError;
use crate::login::{self, Session, SESSION_COOKIE};
use crate::pages::{escape, html};
use crate::params::Params;
use crate::state::{AppState, Client};
use crate::telemetry::RequestId;

type Data = web::Data<AppState>;

/// A validated logout request.
struct LogoutRequest {
    client_id: Option<String>,
    redirect: Option<String>,
    hint: Option<IdTokenClaims>,
}

fn bad(message: &str) -> PageError {
    PageError::bad_request("Yêu cầu đăng xuất không hợp lệ", message)
}

/// Domain of the keyed hash that makes the confirmation form's CSRF token from the session
/// cookie: only a page this gateway showed to this browser can confirm.
const NS_LOGOUT_CSRF: &str = "logout_csrf";

/// Checks `id_token_hint`, `client_id` and `post_logout_redirect_uri` (exact match against the
/// client's registered list). Errors are shown, never redirected.
fn parse(state: &AppState, p: &Params) -> Result<LogoutRequest, PageError> {
    let hint = match p.get("id_token_hint") {
        Some(h) => Some(
            state
                .key_set()
                .verify_ignoring_expiry::<IdTokenClaims>(h, TYP_ID_TOKEN, &state.issuer)
                .map_err(|_| bad("id_token_hint không phải ID token do hệ thống này cấp."))?,
        ),
        None => None,
    };
    let client_id = match (hint.as_ref().map(|h| h.aud.as_str()), p.get("client_id")) {
        (Some(a), Some(c)) if a != c => {
            return Err(bad("client_id không khớp với id_token_hint."));
        }
        (Some(a), _) => Some(a.to_owned()),
        (None, c) => c.map(str::to_owned),
    };
    let redirect = match p.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let client = client_id
                .as_deref()
                .and_then(|c| state.clients.get(c))
                .ok_or_else(|| bad("Cần id_token_hint hoặc client_id để quay lại ứng dụng."))?;
            if !client.post_logout_redirect_uris.iter().any(|r| r == uri) {
                return Err(bad(
                    "Địa chỉ quay lại sau khi đăng xuất (post_logout_redirect_uri) chưa được đăng ký.",
                ));
            }
            let mut params = Vec::new();
            if let Some(s) = p.get("state") {
                params.push(("state", s));
            }
            Some(login::redirect_with(uri, &params))
        }
    };
    Ok(LogoutRequest {
        client_id,
        redirect,
        hint,
    })
}

/// Whether the portal's `id_token_hint` is about this browser's session: same `sid`, and the
/// `sub` that portal knows this session's person by.
async fn hint_matches(state: &AppState, hint: &IdTokenClaims, session: &Session) -> bool {
    if !login::constant_time_eq(hint.sid.as_bytes(), session.sid.as_bytes()) {
        return false;
    }
    let Some(client) = state.clients.get(&hint.aud) else {
        return false;
    };
    matches!(
        crate::clients::subject_for(state, &client, &session.person_id).await,
        Ok(sub) if sub == hint.sub
    )
}

/// `GET|POST /logout` (OpenID RP-Initiated Logout 1.0). The browser's own session ends only when
/// a portal proves it asked — an `id_token_hint` about this very session — or when the person
/// confirms on the gateway's page, whose form carries a token bound to the session. Anything
/// else (a link on another site, another person's ID token) gets the confirmation page.
pub async fn logout(req: HttpRequest, body: web::Bytes, state: Data) -> HttpResponse {
    let is_post = req.method() == actix_web::http::Method::POST;
    let raw: Vec<u8> = if is_post {
        body.to_vec()
    } else {
        req.query_string().as_bytes().to_vec()
    };
    let p = match Params::parse(&raw) {
        Ok(p) => p,
        Err(e) => return actix_web::ResponseError::error_response(&bad(&e.to_string())),
    };
    let request = match parse(&state, &p) {
        Ok(r) => r,
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    let cookie = req.cookie(SESSION_COOKIE);
    let session = match &cookie {
        Some(c) => match login::session(&state, c.value()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "reading the session failed");
                return actix_web::ResponseError::error_response(&PageError::unavailable());
            }
        },
        None => None,
    };
    if let (Some(session), Some(cookie)) = (&session, &cookie) {
        let by_hint = match &request.hint {
            Some(h) => hint_matches(&state, h, session).await,
            None => false,
        };
        let expected = state.master.lookup_hash(NS_LOGOUT_CSRF, cookie.value());
        let by_form = is_post
            && p.get("confirm") == Some("yes")
            && p.get("csrf")
                .is_some_and(|t| login::constant_time_eq(t.as_bytes(), expected.as_bytes()));
        if !(by_hint || by_form) {
            return confirmation_page(&p, &request, &expected);
        }
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        if let Err(page) = end_session(
            &state,
            cookie.value(),
            request.client_id.as_deref(),
            &request_id,
        )
        .await
        {
            return actix_web::ResponseError::error_response(&page);
        }
    }
    // No session in this browser: nothing to end, and the portal gets its answer all the same.
    let mut res = match &request.redirect {
        Some(url) => HttpResponse::Found()
            .insert_header((header::LOCATION, url.as_str()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        None => html(
            StatusCode::OK,
            "Đã đăng xuất",
            "<h1>Bạn đã đăng xuất</h1><p>Phiên đăng nhập bằng tài khoản định danh điện tử VNeID trên hệ thống đã kết thúc. \
Để bảo vệ thông tin cá nhân, hãy đóng trình duyệt nếu bạn dùng máy tính chung.</p>",
        ),
    };
    if cookie.is_some() {
        let _ = res.add_cookie(&crate::cookies::session_removal(&state));
    }
    res
}

/// Ends the SSO session behind `cookie`: the session itself, every refresh token and access
/// token of it (durably), an audit event, and back-channel logout to the session's portals.
async fn end_session(
    state: &Data,
    cookie: &str,
    client_id: Option<&str>,
    request_id: &str,
) -> Result<(), PageError> {
    let ended = login::end_session(state, cookie).await.map_err(|e| {
        tracing::warn!(error = %e, "ending the session failed");
        PageError::unavailable()
    })?;
    let Some(session) = ended else {
        // Ended meanwhile (another tab): nothing left to do.
        return Ok(());
    };
    let mut event = AuditEvent::new("logout", "success")
        .at(state.clock.now())
        .request_id(request_id)
        .person_id(&session.person_id)
        .detail(serde_json::json!({ "clients": session.clients }));
    if let Some(c) = client_id {
        event = event.client_id(c);
    }
    state.db.append_audit(&event).await.map_err(|e| {
        tracing::warn!(error = %e, "audit of a logout failed");
        PageError::from_store(e)
    })?;
    state
        .db
        .revoke_refresh_families_by_sid(&session.sid, "logout", state.clock.now())
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "revoking refresh tokens at logout failed");
            PageError::from_store(e)
        })?;
    crate::token::revoke_grant(state, "*", &session.sid, "logout")
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "revoking the access tokens at logout failed");
            PageError::from_store(e)
        })?;
    notify_backchannel(state.clone(), session);
    Ok(())
}

fn confirmation_page(p: &Params, request: &LogoutRequest, csrf: &str) -> HttpResponse {
    let mut hidden: String = ["post_logout_redirect_uri", "state"]
        .iter()
        .filter_map(|k| {
            p.get(k).map(|v| {
                format!(
                    "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                    escape(v)
                )
            })
        })
        .collect();
    if let Some(c) = &request.client_id {
        hidden.push_str(&format!(
            "<input type=\"hidden\" name=\"client_id\" value=\"{}\">",
            escape(c)
        ));
    }
    html(
        StatusCode::OK,
        "Đăng xuất",
        &format!(
            "<h1>Bạn có muốn đăng xuất?</h1><p>Bạn sẽ đăng xuất khỏi hệ thống xác thực tập trung và các cổng dịch vụ công \
đã đăng nhập bằng phiên này.</p><form method=\"post\" action=\"/logout\">{hidden}\
<input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"confirm\" value=\"yes\">\
<button type=\"submit\">Đăng xuất</button></form>",
            escape(csrf)
        ),
    )
}

/// Sends a logout token to every portal of the session that registered a back-channel logout
/// URI, in the background, with three attempts each (0.5 s and 2 s apart).
pub fn notify_backchannel(state: Data, session: Session) {
    actix_web::rt::spawn(async move {
        for client_id in &session.clients {
            let Some(client) = state.clients.get(client_id) else {
                continue;
            };
            let Some(uri) = client.backchannel_logout_uri.clone() else {
                continue;
            };
            let outcome = match deliver(&state, &session, &client, &uri).await {
                Ok(()) => "delivered",
                Err(e) => {
                    tracing::warn!(client_id = %client_id, error = %e, "back-channel logout failed");
                    "failed"
                }
            };
            state
                .metrics
                .backchannel_logout
                .with_label_values(&[outcome])
                .inc();
        }
    });
}

async fn deliver(
    state: &AppState,
    session: &Session,
    client: &Client,
    uri: &str,
) -> Result<(), String> {
    let jti = login::fresh_token(16).map_err(|e| e.to_string())?;
    // The `sub` this portal knows the person by (pairwise or not).
    let sub = crate::clients::subject_for(state, client, &session.person_id)
        .await
        .map_err(|e| e.to_string())?;
    let claims = LogoutTokenClaims::new(
        state.issuer.clone(),
        client.id.clone(),
        sub,
        session.sid.clone(),
        jti,
        state.clock.now().timestamp(),
    );
    let token = state
        .key_set()
        .sign(TYP_LOGOUT_TOKEN, &claims)
        .map_err(|e| e.to_string())?;
    let mut last = String::new();
    for (attempt, pause) in [0u64, 500, 2000].into_iter().enumerate() {
        if pause > 0 {
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        match state
            .http
            .post(uri)
            .form(&[("logout_token", token.as_str())])
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("attempt {}: HTTP {}", attempt + 1, r.status()),
            Err(e) => last = format!("attempt {}: {e}", attempt + 1),
        }
    }
    Err(last)
}
