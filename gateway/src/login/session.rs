//! The SSO session: kept in the ephemeral store under the keyed hash of its cookie's value, so a
//! leaked store gives no usable cookie.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{from_json, to_json, ttl, AuthRequest, Authentication};
use crate::errors::ServiceError;
use crate::state::AppState;

/// Ephemeral namespace of sessions.
pub const NS_SESSION: &str = "session";

/// Ephemeral namespace of SSO sessions that ended, by `sid`, kept while an app session opened
/// in one may live: forward-auth (`crate::forward_auth`) ends those too.
pub const NS_SESSION_ENDED: &str = "session_ended";

/// The SSO session, keyed by the hash of the cookie value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    #[serde(flatten)]
    pub auth: Authentication,
    /// Every portal that received a code in this session (back-channel logout tells them).
    pub clients: Vec<String>,
}

/// Opens a session for `auth` with its first portal; returns the cookie value (256 random
/// bits), which only the browser keeps.
pub async fn open(
    state: &AppState,
    auth: &Authentication,
    client_id: &str,
) -> Result<(String, Session), ServiceError> {
    let cookie = crate::secure::fresh_token(32)?;
    let session = Session {
        auth: auth.clone(),
        clients: vec![client_id.to_owned()],
    };
    state
        .ephemeral
        .put(
            NS_SESSION,
            &state.master.lookup_hash(NS_SESSION, &cookie),
            &to_json(&session)?,
            ttl(state.settings.tokens.session_ttl),
        )
        .await?;
    Ok((cookie, session))
}

/// The SSO session behind a cookie value, if it is alive.
pub async fn get(state: &AppState, cookie: &str) -> Result<Option<Session>, ServiceError> {
    let key = state.master.lookup_hash(NS_SESSION, cookie);
    match state.ephemeral.get(NS_SESSION, &key).await? {
        Some(s) => Ok(Some(from_json(&s)?)),
        None => Ok(None),
    }
}

/// Ends the SSO session behind a cookie value and returns it.
pub async fn end(state: &AppState, cookie: &str) -> Result<Option<Session>, ServiceError> {
    let key = state.master.lookup_hash(NS_SESSION, cookie);
    match state.ephemeral.take(NS_SESSION, &key).await? {
        Some(s) => Ok(Some(from_json(&s)?)),
        None => Ok(None),
    }
}

/// Remembers that the session `sid` ended, when protected apps are configured (their sessions
/// opened in it end too, see `crate::forward_auth`), for the longest app session's lifetime.
pub async fn mark_ended(state: &AppState, sid: &str) {
    let Some(keep) = state
        .settings
        .protected_apps
        .iter()
        .map(|a| a.session_ttl)
        .max()
    else {
        return;
    };
    if let Err(e) = state.ephemeral.put(NS_SESSION_ENDED, sid, "1", keep).await {
        tracing::warn!(error = %e, "could not remember an ended session; its app sessions live on until they expire");
    }
}

/// Records that `client_id` received a code in this session (back-channel logout tells every
/// such portal). The session keeps its original end.
pub async fn remember_client(
    state: &AppState,
    cookie: &str,
    session: &Session,
    client_id: &str,
) -> Result<(), ServiceError> {
    if session.clients.iter().any(|c| c == client_id) {
        return Ok(());
    }
    let mut s = session.clone();
    s.clients.push(client_id.to_owned());
    let lived = state.clock.now().timestamp() - session.auth.auth_time;
    let left = i64::try_from(state.settings.tokens.session_ttl.as_secs())
        .unwrap_or(i64::MAX)
        .saturating_sub(lived)
        .max(1);
    state
        .ephemeral
        .put(
            NS_SESSION,
            &state.master.lookup_hash(NS_SESSION, cookie),
            &to_json(&s)?,
            Duration::from_secs(left.unsigned_abs()),
        )
        .await?;
    Ok(())
}

/// Whether an existing session satisfies a request without a new upstream login.
pub fn satisfies(session: &Session, req: &AuthRequest, now: DateTime<Utc>) -> bool {
    if req.prompt_login || session.auth.level < req.required_level {
        return false;
    }
    match req.max_age {
        Some(max) => now.timestamp() - session.auth.auth_time <= max,
        None => true,
    }
}
