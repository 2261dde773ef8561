//! What forward-auth keeps in the ephemeral store: the login in progress at an app (under its
//! `state`, single use) and the app session (under the keyed hash of its cookie's value, so a
//! leaked store gives no usable cookie). The claims an app receives are sealed with the master
//! key inside the record: Redis never holds a name or a personal ID number in clear.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use vneid_core::AssuranceLevel;

use super::App;
use crate::errors::ServiceError;
use crate::login::session::NS_SESSION_ENDED;
use crate::login::{from_json, to_json};
use crate::state::AppState;

/// Ephemeral namespaces: logins in progress at an app, app sessions.
const NS_APP_LOGIN: &str = "app_login";
pub(super) const NS_APP_SESSION: &str = "app_session";

/// A login started at `{prefix}/start`, kept under its `state` until the callback.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingAppLogin {
    pub app: String,
    /// The same-origin path to go back to.
    pub rd: String,
    pub nonce: String,
    pub verifier: String,
    /// Keyed hash of the binding cookie's value: only the browser that started may finish.
    pub binding_hash: String,
}

/// The claims released to the app at login, sealed in the record (no `Debug`: personal data).
#[derive(Default, Clone, Serialize, Deserialize)]
pub struct AppClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthdate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<serde_json::Value>,
}

/// An app session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppSession {
    pub app: String,
    /// The person as the app's client knows them.
    pub sub: String,
    pub person_id: String,
    /// The gateway's SSO session it was opened in (a logout there ends it).
    pub sid: String,
    pub level: AssuranceLevel,
    pub auth_time: i64,
    /// The upstream the person logged in through (`idp`).
    pub idp: String,
    /// [`AppClaims`] as JSON, sealed with the master key (base64url).
    pub sealed_claims: String,
}

fn aad(app: &str) -> Vec<u8> {
    format!("vneid-app-session:{app}").into_bytes()
}

impl AppSession {
    /// A record for `app` holding `claims` sealed.
    pub fn new(
        state: &AppState,
        app: &App,
        auth: &crate::login::Authentication,
        sub: String,
        claims: &AppClaims,
    ) -> Result<Self, ServiceError> {
        use base64::Engine as _;
        let sealed = state
            .master
            .seal(to_json(claims)?.as_bytes(), &aad(&app.id))
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok(Self {
            app: app.id.clone(),
            sub,
            person_id: auth.person_id.clone(),
            sid: auth.sid.clone(),
            level: auth.level,
            auth_time: auth.auth_time,
            idp: auth.idp.clone(),
            sealed_claims: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed),
        })
    }

    /// The claims, opened.
    pub fn claims(&self, state: &AppState) -> Result<AppClaims, ServiceError> {
        use base64::Engine as _;
        let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.sealed_claims)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let clear = state
            .master
            .open(&sealed, &aad(&self.app))
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        serde_json::from_slice(&clear).map_err(|e| ServiceError::Internal(e.to_string()))
    }
}

pub async fn put_pending(
    state: &AppState,
    app_state: &str,
    pending: &PendingAppLogin,
) -> Result<(), ServiceError> {
    state
        .ephemeral
        .put(
            NS_APP_LOGIN,
            app_state,
            &to_json(pending)?,
            crate::login::ttl(state.settings.tokens.login_ttl),
        )
        .await?;
    Ok(())
}

/// Takes the login started under `app_state` (single use: a replayed state finds nothing).
pub async fn take_pending(
    state: &AppState,
    app_state: &str,
) -> Result<Option<PendingAppLogin>, ServiceError> {
    match state.ephemeral.take(NS_APP_LOGIN, app_state).await? {
        Some(raw) => Ok(Some(from_json(&raw)?)),
        None => Ok(None),
    }
}

/// The store key of the session behind a cookie value.
pub(super) fn key(state: &AppState, cookie: &str) -> String {
    state.master.lookup_hash(NS_APP_SESSION, cookie)
}

/// Opens an app session; returns the cookie value (256 random bits), which only the browser
/// keeps. Public for tests that need a session the login flow cannot make (one below an app's
/// `min_level` after a configuration change).
pub async fn open(
    state: &AppState,
    session: &AppSession,
    ttl: Duration,
) -> Result<String, ServiceError> {
    let cookie = crate::secure::fresh_token(32)?;
    state
        .ephemeral
        .put(
            NS_APP_SESSION,
            &key(state, &cookie),
            &to_json(session)?,
            crate::login::ttl(ttl),
        )
        .await?;
    Ok(cookie)
}

/// The live session of `app` behind `cookie`, unless it is gone, belongs to another app, or
/// its SSO session was logged out at the gateway. `known_sid`: the session's `sid` if known
/// already (one round trip to the store instead of two).
pub async fn live(
    state: &AppState,
    app: &str,
    cookie: &str,
    known_sid: Option<&str>,
) -> Result<Option<AppSession>, ServiceError> {
    let key = key(state, cookie);
    let (raw, ended) = match known_sid {
        Some(sid) => {
            let got = state
                .ephemeral
                .get_many(&[(NS_APP_SESSION, &key), (NS_SESSION_ENDED, sid)])
                .await?;
            let mut got = got.into_iter();
            (got.next().flatten(), got.next().flatten().is_some())
        }
        None => (state.ephemeral.get(NS_APP_SESSION, &key).await?, false),
    };
    let Some(raw) = raw else {
        return Ok(None);
    };
    let session: AppSession = from_json(&raw)?;
    if session.app != app {
        return Ok(None);
    }
    let ended = match known_sid {
        Some(sid) if sid == session.sid => ended,
        _ => state
            .ephemeral
            .get(NS_SESSION_ENDED, &session.sid)
            .await?
            .is_some(),
    };
    Ok((!ended).then_some(session))
}

/// Ends the session of `app` behind `cookie`; returns it if there was one.
pub async fn end(
    state: &AppState,
    app: &str,
    cookie: &str,
) -> Result<Option<AppSession>, ServiceError> {
    let Some(raw) = state
        .ephemeral
        .take(NS_APP_SESSION, &key(state, cookie))
        .await?
    else {
        return Ok(None);
    };
    let session: AppSession = from_json(&raw)?;
    Ok((session.app == app).then_some(session))
}
