//! Logout (OpenID RP-Initiated Logout 1.0 and Back-Channel Logout 1.0): which requests may end
//! this browser's session, and ending it — the session, every refresh and access token of it
//! (durably), an audit event, and a logout token to every portal of the session.

use std::time::Duration;

use actix_web::web;
use vneid_store::AuditEvent;
use vneid_tokens::{IdTokenClaims, LogoutTokenClaims, TYP_ID_TOKEN, TYP_LOGOUT_TOKEN};

use super::session::{self, Session};
use crate::clients::Client;
use crate::errors::ServiceError;
use crate::params::Params;
use crate::state::AppState;

/// A validated logout request.
pub struct LogoutRequest {
    pub client_id: Option<String>,
    /// Where to send the browser afterwards (`post_logout_redirect_uri` with `state`).
    pub redirect: Option<String>,
    pub hint: Option<IdTokenClaims>,
}

/// Domain of the keyed hash that makes the confirmation form's CSRF token from the session
/// cookie: only a page this gateway showed to this browser can confirm.
const NS_LOGOUT_CSRF: &str = "logout_csrf";

/// How a logout request is answered.
pub enum LogoutOutcome {
    /// Ask the person; the confirmation form carries this token.
    Confirm { csrf: String },
    /// Ended (or nothing to end: no session in this browser): go to `redirect`, or show that
    /// the person is logged out.
    Done,
}

/// Checks `id_token_hint`, `client_id` and `post_logout_redirect_uri` (exact match against the
/// client's registered list). Errors are shown, never redirected.
pub fn parse(state: &AppState, p: &Params) -> Result<LogoutRequest, String> {
    let hint = match p.get("id_token_hint") {
        Some(h) => Some(
            state
                .key_set()
                .verify_ignoring_expiry::<IdTokenClaims>(h, TYP_ID_TOKEN, &state.issuer)
                .map_err(|_| "id_token_hint không phải ID token do hệ thống này cấp.".to_owned())?,
        ),
        None => None,
    };
    let client_id = match (hint.as_ref().map(|h| h.aud.as_str()), p.get("client_id")) {
        (Some(a), Some(c)) if a != c => {
            return Err("client_id không khớp với id_token_hint.".into());
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
                .ok_or_else(|| {
                    "Cần id_token_hint hoặc client_id để quay lại ứng dụng.".to_owned()
                })?;
            if !client.post_logout_redirect_uris.iter().any(|r| r == uri) {
                return Err(
                    "Địa chỉ quay lại sau khi đăng xuất (post_logout_redirect_uri) chưa được đăng ký."
                        .into(),
                );
            }
            let mut params = Vec::new();
            if let Some(s) = p.get("state") {
                params.push(("state", s));
            }
            Some(super::redirect_with(uri, &params))
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
pub async fn hint_matches(state: &AppState, hint: &IdTokenClaims, session: &Session) -> bool {
    if !crate::secure::constant_time_eq(hint.sid.as_bytes(), session.auth.sid.as_bytes()) {
        return false;
    }
    let Some(client) = state.clients.get(&hint.aud) else {
        return false;
    };
    matches!(
        crate::subjects::subject_for(state, &client, &session.auth.person_id).await,
        Ok(sub) if sub == hint.sub
    )
}

/// Ends this browser's session if the request may: a portal's `id_token_hint` about this very
/// session, or the person's confirmation (`confirmed_csrf`: the token posted back by the
/// confirmation form). Otherwise the person is asked. Without a session there is nothing to end.
pub async fn logout(
    state: &web::Data<AppState>,
    request: &LogoutRequest,
    cookie: Option<&str>,
    confirmed_csrf: Option<&str>,
    request_id: &str,
) -> Result<LogoutOutcome, ServiceError> {
    let Some(cookie) = cookie else {
        return Ok(LogoutOutcome::Done);
    };
    let Some(session) = session::get(state, cookie).await? else {
        return Ok(LogoutOutcome::Done);
    };
    let by_hint = match &request.hint {
        Some(h) => hint_matches(state, h, &session).await,
        None => false,
    };
    let expected = state.master.lookup_hash(NS_LOGOUT_CSRF, cookie);
    let by_form = confirmed_csrf
        .is_some_and(|t| crate::secure::constant_time_eq(t.as_bytes(), expected.as_bytes()));
    if !(by_hint || by_form) {
        return Ok(LogoutOutcome::Confirm { csrf: expected });
    }
    end(state, cookie, request.client_id.as_deref(), request_id).await?;
    Ok(LogoutOutcome::Done)
}

/// Ends the SSO session behind `cookie`: the session itself, every refresh token and access
/// token of it (durably), an audit event, and back-channel logout to the session's portals.
async fn end(
    state: &web::Data<AppState>,
    cookie: &str,
    client_id: Option<&str>,
    request_id: &str,
) -> Result<(), ServiceError> {
    let Some(session) = session::end(state, cookie).await? else {
        // Ended meanwhile (another tab): nothing left to do.
        return Ok(());
    };
    session::mark_ended(state, &session.auth.sid).await;
    let mut event = AuditEvent::new("logout", "success")
        .at(state.clock.now())
        .request_id(request_id)
        .person_id(&session.auth.person_id)
        .detail(serde_json::json!({ "clients": session.clients }));
    if let Some(c) = client_id {
        event = event.client_id(c);
    }
    state.db.append_audit(&event).await?;
    state
        .db
        .revoke_refresh_families_by_sid(&session.auth.sid, "logout", state.clock.now())
        .await?;
    crate::revocation::revoke_grant(state, "*", &session.auth.sid, "logout").await?;
    notify_backchannel(state.clone(), session);
    Ok(())
}

/// Sends a logout token to every portal of the session that registered a back-channel logout
/// URI, in the background, with three attempts each (0.5 s and 2 s apart).
pub fn notify_backchannel(state: web::Data<AppState>, session: Session) {
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
    let jti = crate::secure::fresh_token(16).map_err(|e| e.to_string())?;
    // The `sub` this portal knows the person by (pairwise or not).
    let sub = crate::subjects::subject_for(state, client, &session.auth.person_id)
        .await
        .map_err(|e| e.to_string())?;
    let claims = LogoutTokenClaims::new(
        state.issuer.clone(),
        client.id.clone(),
        sub,
        session.auth.sid.clone(),
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
