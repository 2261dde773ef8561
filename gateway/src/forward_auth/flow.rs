//! A login through a protected app and its logout, as services.
//!
//! - [`start`]: `{prefix}/start?rd=PATH` checks that `rd` is a path of the app itself, keeps
//!   the login (state, PKCE verifier, nonce, `rd`, the hash of a binding cookie) and sends the
//!   browser to `/authorize` as the app's client.
//! - [`finish`]: `{prefix}/callback` takes the login (single use), checks the binding cookie and
//!   `iss`, spends the code inside the gateway (its client, redirect URI, nonce and PKCE
//!   checked as `/token` would), opens the app session and goes back to `rd`.
//! - [`logout`]: ends the app session (and, asked, sends the browser to the gateway's logout).

use base64::Engine as _;
use serde_json::json;
use vneid_store::AuditEvent;
use vneid_tokens::{IdTokenClaims, TYP_ID_TOKEN};

use super::session::{self, AppClaims, AppSession, PendingAppLogin};
use super::{App, ForwardAuth};
use crate::errors::ServiceError;
use crate::login::codes::{self, Redeemed};
use crate::params::Params;
use crate::state::AppState;

/// Domain of the keyed hash that makes the logout confirmation's CSRF token from the app
/// session cookie.
const NS_APP_LOGOUT_CSRF: &str = "app_logout_csrf";

/// Why a step of the flow is refused (each is a Vietnamese page).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// `rd` is not a path of the app (another origin, `//host`, `/\host`, a scheme…).
    #[error("rd is not a path of the app")]
    BadReturn,
    /// No login for this state: forged, replayed or expired; or not this app's.
    #[error("unknown or expired state")]
    UnknownState,
    /// The login was started in another browser.
    #[error("the login was started in another browser")]
    OtherBrowser,
    /// The callback's code or `iss` is not what this login was given.
    #[error("{0}")]
    BadResponse(&'static str),
    /// A store did not answer (503).
    #[error("a store is unavailable")]
    Unavailable,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Whether `rd` is a path of the app itself: it starts with a single `/` (not `//` or `/\`,
/// which browsers read as another host), holds no backslash, no control character and no
/// space, and is at most 2,000 bytes. Nothing else is ever a place to go back to.
pub fn safe_return(rd: &str) -> bool {
    let b = rd.as_bytes();
    b.first() == Some(&b'/')
        && !matches!(b.get(1), Some(b'/' | b'\\'))
        && b.len() <= 2000
        && b.iter().all(|c| c.is_ascii_graphic() && *c != b'\\')
}

/// A started login: where to send the browser, and the binding cookie to set.
pub struct Started {
    pub location: String,
    pub app_state: String,
    pub binding: String,
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref())
}

/// `{prefix}/start`: an authorization request of the app's client, after `rd` is checked.
pub async fn start(state: &AppState, app: &App, rd: Option<&str>) -> Result<Started, FlowError> {
    let rd = rd.unwrap_or("/");
    if !safe_return(rd) {
        return Err(FlowError::BadReturn);
    }
    let app_state = crate::secure::fresh_token(16)?;
    let nonce = crate::secure::fresh_token(16)?;
    let verifier = crate::secure::fresh_token(32)?;
    let binding = crate::secure::fresh_token(32)?;
    let challenge = s256(&verifier);
    session::put_pending(
        state,
        &app_state,
        &PendingAppLogin {
            app: app.id.clone(),
            rd: rd.to_owned(),
            nonce: nonce.clone(),
            verifier,
            binding_hash: state.master.lookup_hash(NS_APP_BINDING, &binding),
        },
    )
    .await?;
    let mut u = url::Url::parse(&state.url("/authorize"))
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &app.id)
        .append_pair("redirect_uri", &app.settings.callback_url())
        .append_pair("scope", &app.settings.scopes().join(" "))
        .append_pair("state", &app_state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    Ok(Started {
        location: u.to_string(),
        app_state,
        binding,
    })
}

/// Domain of the keyed hash of a login's binding cookie.
const NS_APP_BINDING: &str = "app_login_binding";

/// How a callback ended.
pub enum Finished {
    /// Logged in: set this app session cookie, go to `location` (the app's origin + `rd`).
    LoggedIn { cookie: String, location: String },
    /// The gateway sent an error back (the person was refused, or cancelled): say so, and offer
    /// to try again at `retry`.
    Denied { error: String, retry: String },
}

/// `{prefix}/callback`: see the module documentation.
pub async fn finish(
    state: &AppState,
    app: &App,
    p: &Params,
    binding: Option<&str>,
    request_id: &str,
) -> Result<Finished, FlowError> {
    let app_state = p.get("state").ok_or(FlowError::UnknownState)?;
    let pending = session::take_pending(state, app_state)
        .await?
        .filter(|l| l.app == app.id)
        .ok_or(FlowError::UnknownState)?;
    let bound = binding.is_some_and(|b| {
        crate::secure::constant_time_eq(
            state.master.lookup_hash(NS_APP_BINDING, b).as_bytes(),
            pending.binding_hash.as_bytes(),
        )
    });
    if !bound {
        tracing::warn!(app = %app.id, "an app login came back to a browser that did not start it; refused");
        return Err(FlowError::OtherBrowser);
    }
    if p.get("iss") != Some(state.issuer.as_str()) {
        return Err(FlowError::BadResponse("iss"));
    }
    if let Some(error) = p.get("error") {
        return Ok(Finished::Denied {
            error: error.to_owned(),
            retry: app.login_url(&pending.rd),
        });
    }
    let code = p.get("code").ok_or(FlowError::BadResponse("code"))?;
    let Redeemed::Live { data, .. } = codes::redeem(state, code).await? else {
        return Err(FlowError::BadResponse("code"));
    };
    let challenge_ok = data
        .code_challenge
        .as_deref()
        .is_some_and(|c| crate::oauth::pkce_matches(&pending.verifier, c));
    if data.client_id != app.id
        || data.redirect_uri != app.settings.callback_url()
        || data.nonce.as_deref() != Some(pending.nonce.as_str())
        || !challenge_ok
    {
        return Err(FlowError::BadResponse("code"));
    }
    let auth = &data.auth;
    let person = state
        .db
        .person(&auth.person_id)
        .await
        .map_err(ServiceError::from)?
        .ok_or(FlowError::BadResponse("code"))?;
    let client = state.clients.get(&app.id).ok_or_else(|| {
        ServiceError::Internal(format!("the client of app {} is missing", app.id))
    })?;
    let sub = crate::subjects::subject_for(state, &client, &auth.person_id)
        .await
        .map_err(ServiceError::from)?;
    let scopes: Vec<&str> = data.scopes.iter().map(String::as_str).collect();
    let released = crate::oauth::released(
        state,
        &person,
        &scopes,
        auth.level.number(),
        auth.login_idp.as_deref(),
    )
    .await
    .map_err(|e| match e.status {
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE => FlowError::Unavailable,
        _ => ServiceError::Internal(format!("releasing an app's claims: {e}")).into(),
    })?;
    let claims = AppClaims {
        name: released.name,
        birthdate: released.birthdate,
        personal_id: released.personal_id,
        account: released.account,
    };
    let record = AppSession::new(state, app, auth, sub, &claims)?;
    let cookie = session::open(state, &record, app.settings.session_ttl).await?;
    let mut event = AuditEvent::new("app_login", "success")
        .at(state.clock.now())
        .request_id(request_id)
        .client_id(&app.id)
        .person_id(&auth.person_id)
        .upstream(&auth.idp)
        .level(auth.level.number())
        .detail(json!({ "sid": auth.sid }));
    if let Some(idp) = &auth.login_idp {
        event = event.login_idp(idp);
    }
    state
        .db
        .append_audit(&event)
        .await
        .map_err(ServiceError::from)?;
    Ok(Finished::LoggedIn {
        cookie,
        location: format!("{}{}", app.origin, pending.rd),
    })
}

/// The logout confirmation's CSRF token for the session behind `cookie`.
pub fn logout_csrf(state: &AppState, cookie: &str) -> String {
    state.master.lookup_hash(NS_APP_LOGOUT_CSRF, cookie)
}

/// Ends the app session behind `cookie` (the store, this replica's cache, an audit event
/// `app_logout`). With `sso`, returns where to end the gateway's SSO session too: its
/// end-session endpoint with an `id_token_hint` naming this session (so the gateway does not
/// ask again) and back to `{prefix}/logout`.
pub async fn logout(
    state: &AppState,
    fa: &ForwardAuth,
    app: &App,
    cookie: Option<&str>,
    sso: bool,
    request_id: &str,
) -> Result<Option<String>, ServiceError> {
    let mut ended = None;
    if let Some(cookie) = cookie {
        fa.cache.remove(app.index, cookie);
        ended = session::end(state, &app.id, cookie).await?;
    }
    if let Some(s) = &ended {
        state
            .db
            .append_audit(
                &AuditEvent::new("app_logout", "success")
                    .at(state.clock.now())
                    .request_id(request_id)
                    .client_id(&app.id)
                    .person_id(&s.person_id)
                    .detail(json!({ "sid": s.sid, "sso": sso })),
            )
            .await?;
    }
    if !sso {
        return Ok(None);
    }
    let mut u = url::Url::parse(&state.url("/logout"))
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    {
        let mut q = u.query_pairs_mut();
        match &ended {
            Some(s) => q.append_pair("id_token_hint", &hint(state, app, s)?),
            None => q.append_pair("client_id", &app.id),
        };
        q.append_pair("post_logout_redirect_uri", &app.settings.logout_url());
    }
    Ok(Some(u.to_string()))
}

/// An ID token of the app's client about the session that just ended, for the gateway's
/// end-session endpoint: it names the SSO session (`sid`) and the person (`sub`).
fn hint(state: &AppState, app: &App, s: &AppSession) -> Result<String, ServiceError> {
    let now = state.clock.now().timestamp();
    let claims = IdTokenClaims {
        iss: state.issuer.clone(),
        sub: s.sub.clone(),
        aud: app.id.clone(),
        exp: now + 300,
        iat: now,
        auth_time: s.auth_time,
        nonce: None,
        acr: s.level.acr().to_owned(),
        amr: None,
        azp: Some(app.id.clone()),
        sid: s.sid.clone(),
        idp: s.idp.clone(),
        login_idp: None,
        name: None,
        birthdate: None,
        personal_id: None,
        account: None,
        account_type: None,
        organisation: None,
        at_hash: None,
    };
    state
        .key_set()
        .sign(TYP_ID_TOKEN, &claims)
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::safe_return;

    #[test]
    fn only_paths_of_the_app_are_places_to_go_back_to() {
        for ok in [
            "/",
            "/hoso?id=1&x=2",
            "/a/b#frag",
            "/%2F%2Fevil.example",
            "/ti%E1%BA%BFng",
        ] {
            assert!(safe_return(ok), "{ok}");
        }
        for bad in [
            "",
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "evil.example",
            "/a\\b",
            "/a b",
            "/a\tb",
            "/a\r\nLocation: x",
            "javascript:alert(1)",
            "/tiếng",
        ] {
            assert!(!safe_return(bad), "{bad}");
        }
        assert!(!safe_return(&format!("/{}", "a".repeat(2000))));
    }
}
