//! The login service: `/authorize` starts a login at an upstream (or reuses the SSO session),
//! `/login/{upstream}/callback` finishes it — policy, person, audit, session, code.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;
use vneid_core::{AssuranceLevel, UpstreamIdentity};
use vneid_policy::{Admitted, Refusal};
use vneid_store::{AuditEvent, LoginUpsert, StoreError};
use vneid_tokens::random_token;
use vneid_upstream::PendingUpstream;

use crate::state::{AppState, Client};

pub const NS_LOGIN: &str = "login";
pub const NS_CODE: &str = "code";
pub const NS_CODE_USED: &str = "code_used";
pub const NS_SESSION: &str = "session";
pub const SESSION_COOKIE: &str = crate::cookies::SESSION;
/// Domain of the keyed hash of a login-binding cookie's value.
const NS_LOGIN_BINDING: &str = "login_binding";

/// A validated authorization request, ready to be served.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub scopes: Vec<String>,
    pub required_level: AssuranceLevel,
    pub prompt_login: bool,
    pub prompt_none: bool,
    pub max_age: Option<i64>,
}

/// Kept in the ephemeral store while the person is at the upstream, keyed by the upstream
/// `state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub request: AuthRequest,
    pub upstream: String,
    pub upstream_pending: PendingUpstream,
    /// Keyed hash of the binding cookie set in the browser that started the login: the callback
    /// is accepted only from that browser (no login CSRF, no session swap).
    pub binding_hash: String,
}

/// The SSO session, keyed by the hash of the cookie value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The public session id (`sid` claim); not the cookie value.
    pub sid: String,
    pub person_id: String,
    pub auth_time: i64,
    pub level: AssuranceLevel,
    pub idp: String,
    pub login_idp: Option<String>,
    pub clients: Vec<String>,
}

/// What an authorization code stands for, keyed by the hash of the code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeData {
    pub client_id: String,
    pub redirect_uri: String,
    pub person_id: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub level: AssuranceLevel,
    pub sid: String,
    pub idp: String,
    pub login_idp: Option<String>,
}

/// Service failures that are not the person's or the portal's doing.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

/// Builds `redirect_uri?k=v…` keeping any query the registered URI already has.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

/// The redirect for an authorization error, with `state` and RFC 9207 `iss`.
pub fn error_redirect(
    state: &AppState,
    req: &AuthRequest,
    error: &str,
    description: &str,
) -> String {
    let mut p = vec![("error", error), ("error_description", description)];
    if let Some(s) = &req.state {
        p.push(("state", s));
    }
    p.push(("iss", &state.issuer));
    redirect_with(&req.redirect_uri, &p)
}

/// Compares two byte strings without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn ttl(d: Duration) -> Duration {
    d.max(Duration::from_secs(1))
}

/// A fresh random value from the OS CSPRNG (`bytes` × 8 bits), base64url.
pub fn fresh_token(bytes: usize) -> Result<String, ServiceError> {
    random_token(bytes).map_err(|e| ServiceError::Internal(e.to_string()))
}

fn to_json<T: Serialize>(v: &T) -> Result<String, ServiceError> {
    serde_json::to_string(v).map_err(|e| ServiceError::Internal(e.to_string()))
}

fn from_json<T: for<'a> Deserialize<'a>>(s: &str) -> Result<T, ServiceError> {
    serde_json::from_str(s).map_err(|e| ServiceError::Internal(e.to_string()))
}

/// Which upstreams a client may use, in configuration order.
pub fn allowed_upstreams<'a>(
    state: &'a AppState,
    client: &Client,
) -> Vec<&'a vneid_upstream::Upstream> {
    state
        .upstreams
        .iter()
        .filter(|u| client.upstreams.is_empty() || client.upstreams.iter().any(|x| x == u.id()))
        .collect()
}

/// A login sent to an upstream: where the browser goes, and the binding cookie it must carry
/// back to the callback.
pub struct StartedLogin {
    pub url: String,
    pub upstream_state: String,
    pub binding: String,
}

/// Starts a login at `upstream`: remembers the request, bound to a fresh browser secret, and
/// returns the upstream's URL.
pub async fn start_upstream_login(
    state: &AppState,
    request: AuthRequest,
    upstream_id: &str,
) -> Result<StartedLogin, StartError> {
    let upstream = state
        .upstream(upstream_id)
        .ok_or(StartError::UnknownUpstream)?;
    let auth = upstream
        .authorization_request(&[("ui_locales", "vi")])
        .await
        .map_err(|e| {
            tracing::warn!(upstream = upstream_id, error = %e, "upstream discovery failed");
            StartError::Upstream
        })?;
    let binding = fresh_token(32)?;
    let pending = PendingLogin {
        request,
        upstream: upstream_id.to_owned(),
        upstream_pending: auth.pending.clone(),
        binding_hash: state.master.lookup_hash(NS_LOGIN_BINDING, &binding),
    };
    state
        .ephemeral
        .put(
            NS_LOGIN,
            &auth.pending.state,
            &to_json(&pending)?,
            ttl(state.settings.tokens.login_ttl),
        )
        .await
        .map_err(ServiceError::from)?;
    Ok(StartedLogin {
        url: auth.url.to_string(),
        upstream_state: auth.pending.state.clone(),
        binding,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("unknown upstream")]
    UnknownUpstream,
    #[error("upstream unreachable")]
    Upstream,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// The SSO session behind a cookie value, if it is alive.
pub async fn session(state: &AppState, cookie: &str) -> Result<Option<Session>, ServiceError> {
    let key = state.master.lookup_hash(NS_SESSION, cookie);
    match state.ephemeral.get(NS_SESSION, &key).await? {
        Some(s) => Ok(Some(from_json(&s)?)),
        None => Ok(None),
    }
}

/// Ends the SSO session behind a cookie value and returns it.
pub async fn end_session(state: &AppState, cookie: &str) -> Result<Option<Session>, ServiceError> {
    let key = state.master.lookup_hash(NS_SESSION, cookie);
    match state.ephemeral.take(NS_SESSION, &key).await? {
        Some(s) => Ok(Some(from_json(&s)?)),
        None => Ok(None),
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
    let lived = state.clock.now().timestamp() - session.auth_time;
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
pub fn session_satisfies(session: &Session, req: &AuthRequest, now: DateTime<Utc>) -> bool {
    if req.prompt_login || session.level < req.required_level {
        return false;
    }
    match req.max_age {
        Some(max) => now.timestamp() - session.auth_time <= max,
        None => true,
    }
}

/// Issues a code for a session and returns the redirect to the portal.
pub async fn issue_code(
    state: &AppState,
    req: &AuthRequest,
    session: &Session,
) -> Result<String, ServiceError> {
    let code = fresh_token(32)?;
    let data = CodeData {
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        person_id: session.person_id.clone(),
        scopes: req.scopes.clone(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        auth_time: session.auth_time,
        level: session.level,
        sid: session.sid.clone(),
        idp: session.idp.clone(),
        login_idp: session.login_idp.clone(),
    };
    state
        .ephemeral
        .put(
            NS_CODE,
            &state.master.lookup_hash(NS_CODE, &code),
            &to_json(&data)?,
            ttl(state.settings.tokens.code_ttl),
        )
        .await?;
    let mut p = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        p.push(("state", s));
    }
    p.push(("iss", &state.issuer));
    Ok(redirect_with(&req.redirect_uri, &p))
}

/// How a callback ended.
pub enum CallbackOutcome {
    /// Admitted: go back to the portal with a code; set this SSO cookie.
    Admitted { redirect: String, cookie: String },
    /// Refused by policy: show why, link back with `error=access_denied`.
    Refused {
        refusal: Refusal,
        back: String,
        portal: String,
    },
    /// The person cancelled at the upstream or it reported an error: back to the portal.
    UpstreamDenied { redirect: String },
    /// The upstream failed (network, bad token): show a page, link back.
    UpstreamFailed { back: String, portal: String },
}

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// No pending login for this state: forged, replayed or expired.
    #[error("unknown or expired state")]
    UnknownState,
    /// The login was started in another browser (its binding cookie is missing or differs):
    /// someone is trying to finish their own login in this browser.
    #[error("the login was started in another browser")]
    OtherBrowser,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for CallbackError {
    fn from(e: StoreError) -> Self {
        Self::Service(ServiceError::Store(e))
    }
}

/// What came back to `/login/{upstream}/callback`.
pub struct Callback<'a> {
    pub upstream: &'a str,
    pub upstream_state: &'a str,
    pub code: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The value of the login's binding cookie in this browser, if any.
    pub binding: Option<&'a str>,
    pub request_id: &'a str,
}

/// Finishes a login at the callback. The pending login is taken (single use) before anything
/// else, so a state is spent even by a callback from the wrong browser.
pub async fn finish_login(
    state: &AppState,
    callback: &Callback<'_>,
) -> Result<CallbackOutcome, CallbackError> {
    let upstream_id = callback.upstream;
    let request_id = callback.request_id;
    let pending: PendingLogin = match state
        .ephemeral
        .take(NS_LOGIN, callback.upstream_state)
        .await?
    {
        Some(s) => from_json(&s)?,
        None => return Err(CallbackError::UnknownState),
    };
    if pending.upstream != upstream_id {
        return Err(CallbackError::UnknownState);
    }
    let bound = callback.binding.is_some_and(|b| {
        constant_time_eq(
            state.master.lookup_hash(NS_LOGIN_BINDING, b).as_bytes(),
            pending.binding_hash.as_bytes(),
        )
    });
    if !bound {
        let reason = "other_browser";
        state
            .metrics
            .login(upstream_id, None, None, "error", reason);
        state
            .db
            .append_audit(
                &AuditEvent::new("login", "error")
                    .at(state.clock.now())
                    .request_id(request_id)
                    .client_id(&pending.request.client_id)
                    .upstream(upstream_id)
                    .reason(reason),
            )
            .await?;
        tracing::warn!(
            upstream = upstream_id,
            client_id = %pending.request.client_id,
            "a login came back to a browser that did not start it; refused"
        );
        return Err(CallbackError::OtherBrowser);
    }
    let (code, upstream_error) = (callback.code, callback.error);
    let req = &pending.request;
    let portal = state
        .clients
        .get(&req.client_id)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| req.client_id.clone());
    let upstream = state
        .upstream(upstream_id)
        .ok_or(CallbackError::UnknownState)?;

    let audit = |outcome: &str| {
        AuditEvent::new("login", outcome)
            .at(state.clock.now())
            .request_id(request_id)
            .client_id(&req.client_id)
            .upstream(upstream_id)
    };

    let code = match (code, upstream_error) {
        (Some(c), None) => c,
        (_, err) => {
            let error = if err == Some("access_denied") {
                "access_denied"
            } else {
                "server_error"
            };
            let reason = format!(
                "upstream_{}",
                if error == "access_denied" {
                    "denied"
                } else {
                    "error"
                }
            );
            state
                .metrics
                .login(upstream_id, None, None, "error", &reason);
            state
                .db
                .append_audit(&audit("error").reason(&reason))
                .await?;
            return Ok(CallbackOutcome::UpstreamDenied {
                redirect: error_redirect(
                    state,
                    req,
                    error,
                    "the login was not completed at the upstream",
                ),
            });
        }
    };

    let started = std::time::Instant::now();
    let identity = match upstream.complete(code, &pending.upstream_pending).await {
        Ok(i) => {
            state
                .metrics
                .upstream_duration
                .with_label_values(&[upstream_id, "ok"])
                .observe(started.elapsed().as_secs_f64());
            i
        }
        Err(e) => {
            state
                .metrics
                .upstream_duration
                .with_label_values(&[upstream_id, e.code()])
                .observe(started.elapsed().as_secs_f64());
            tracing::warn!(upstream = upstream_id, error = %e, "upstream login failed");
            let reason = format!("upstream_{}", e.code());
            state
                .metrics
                .login(upstream_id, None, None, "error", &reason);
            state
                .db
                .append_audit(&audit("error").reason(&reason))
                .await?;
            return Ok(CallbackOutcome::UpstreamFailed {
                back: error_redirect(
                    state,
                    req,
                    "temporarily_unavailable",
                    "the upstream login failed",
                ),
                portal,
            });
        }
    };

    let now = state.clock.now();
    match vneid_policy::decide(
        &state.settings.policy,
        &identity,
        req.required_level,
        vneid_core::vietnam::date(now),
    ) {
        Err(refusal) => {
            refused(state, &identity, &refusal, audit("refused")).await?;
            let description = format!("{}: {}", refusal.code(), refusal.description());
            Ok(CallbackOutcome::Refused {
                back: error_redirect(state, req, "access_denied", &description),
                refusal,
                portal,
            })
        }
        Ok(admitted) => {
            let (redirect, cookie) =
                admit(state, req, &identity, &admitted, audit("success"), now).await?;
            Ok(CallbackOutcome::Admitted { redirect, cookie })
        }
    }
}

async fn refused(
    state: &AppState,
    identity: &UpstreamIdentity,
    refusal: &Refusal,
    event: AuditEvent,
) -> Result<(), StoreError> {
    let level = identity.level.valid().map(|l| l.number());
    state.metrics.login(
        &identity.upstream,
        identity.login_idp.as_deref(),
        level,
        "refused",
        refusal.code(),
    );
    let mut event = event
        .reason(refusal.code())
        .subject_masked(vneid_core::mask(
            identity.personal_id.as_deref().unwrap_or(""),
        ));
    if let Some(idp) = &identity.login_idp {
        event = event.login_idp(idp);
    }
    if let Some(l) = level {
        event = event.level(l);
    }
    tracing::info!(
        upstream = %identity.upstream,
        login_idp = identity.login_idp.as_deref().unwrap_or(""),
        reason = refusal.code(),
        personal_id = %vneid_core::mask(identity.personal_id.as_deref().unwrap_or("")),
        "login refused"
    );
    state.db.append_audit(&event).await.map(drop)
}

async fn admit(
    state: &AppState,
    req: &AuthRequest,
    identity: &UpstreamIdentity,
    admitted: &Admitted,
    event: AuditEvent,
    now: DateTime<Utc>,
) -> Result<(String, String), ServiceError> {
    let pid = admitted.personal_id.expose();
    let personal_id_hash = state.master.lookup_hash("personal_id", pid);
    let request_id = event.request_id.clone();
    let person = state
        .db
        .upsert_person_on_login(&LoginUpsert {
            upstream: identity.upstream.clone(),
            subject: identity.subject.clone(),
            personal_id_hash: Some(personal_id_hash.clone()),
            personal_id_sealed: Some(
                state
                    .master
                    .seal(pid.as_bytes(), b"personal_id")
                    .map_err(|e| ServiceError::Internal(e.to_string()))?,
            ),
            name: identity.name.clone(),
            birthdate: admitted.birthdate,
            login_idp: identity.login_idp.clone(),
            level: admitted.level.number(),
            at: now,
        })
        .await?;
    let mut event = event
        .person_id(&person.id)
        .level(admitted.level.number())
        .subject_masked(admitted.personal_id.masked());
    if let Some(idp) = &identity.login_idp {
        event = event.login_idp(idp);
    }
    state.db.append_audit(&event).await?;
    state.metrics.login(
        &identity.upstream,
        identity.login_idp.as_deref(),
        Some(admitted.level.number()),
        "success",
        "",
    );
    tracing::info!(
        upstream = %identity.upstream,
        person_id = %person.id,
        personal_id = %admitted.personal_id,
        level = admitted.level.number(),
        "login admitted"
    );
    let facts = vneid_directory::link::LoginFacts {
        person_id: &person.id,
        personal_id_hash: &personal_id_hash,
        level: admitted.level.number(),
        login_idp: identity.login_idp.as_deref(),
        vneid_login_idp: &state.settings.policy.vneid_login_idp,
        request_id: request_id.as_deref(),
        at: now,
    };
    link_account(state, &facts).await;

    let cookie = fresh_token(32)?;
    let session = Session {
        sid: fresh_token(16)?,
        person_id: person.id.clone(),
        auth_time: now.timestamp(),
        level: admitted.level,
        idp: identity.upstream.clone(),
        login_idp: identity.login_idp.clone(),
        clients: vec![req.client_id.clone()],
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
    let redirect = issue_code(state, req, &session).await?;
    Ok((redirect, cookie))
}

/// Links the person to their one-stop-shop account (see [`vneid_directory::link`]). The login
/// stands whatever happens here: a failure is logged, and the next login tries again.
async fn link_account(state: &AppState, facts: &vneid_directory::link::LoginFacts<'_>) {
    let person_id = facts.person_id;
    let outcome = match vneid_directory::link::link_on_login(&state.db, facts).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, person_id, "linking to the directory failed");
            state
                .metrics
                .account_links
                .with_label_values(&["error"])
                .inc();
            return;
        }
    };
    use vneid_directory::link::LinkOutcome;
    let label = match &outcome {
        LinkOutcome::Linked { username } => {
            tracing::info!(person_id, username = %username, "linked to the directory account");
            state.metrics.directory_changed();
            "linked"
        }
        LinkOutcome::AlreadyLinked { .. } => "already_linked",
        LinkOutcome::NoMatch => "no_match",
        LinkOutcome::Conflict { reason, .. } => {
            tracing::info!(
                person_id,
                reason = reason.as_str(),
                "directory link conflict recorded"
            );
            "conflict"
        }
    };
    state
        .metrics
        .account_links
        .with_label_values(&[label])
        .inc();
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn redirect_keeps_existing_query_and_encodes() {
        assert_eq!(
            redirect_with(
                "https://p.example/cb?x=1",
                &[("code", "a b"), ("state", "s&t")]
            ),
            "https://p.example/cb?x=1&code=a+b&state=s%26t"
        );
    }
}
