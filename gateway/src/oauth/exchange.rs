//! Token exchange (RFC 8693): a portal trades the access token a person's login gave it for a
//! short-lived one to an API resource, to call that API on the person's behalf.
//!
//! - The subject token is a live access token this gateway issued to the calling portal, about
//!   a person (a login, not `client_credentials`).
//! - The target is one API resource (`resource=` or `audience=`) the portal holds scopes of.
//! - The new token keeps the person's `sub`, level, `sid` and login, names the portal in `act`
//!   (never nested: the subject token is the portal's own, so no earlier actor exists),
//!   carries scopes no wider than the portal's registration for that resource nor the subject
//!   token's own grant, and never outlives the subject token. Revoking the login's grant (logout,
//!   a replayed code, a reused refresh token, a revoked refresh token) ends it too: it carries
//!   the same client and `sid`.

use std::time::Duration;

use actix_web::http::StatusCode;
use serde_json::{json, Value};
use vneid_tokens::{AccessTokenClaims, Actor, Audience, Confirmation, TYP_ACCESS_TOKEN};

use super::live_access_token;
use super::mint::{secs, sign};
use crate::clients::Client;
use crate::config::ResourceSettings;
use crate::errors::OAuthError;
use crate::params::Params;
use crate::resources::Resources;
use crate::state::AppState;

/// The one token type exchanged and issued (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The longest an exchanged token lives (shorter when `tokens.access_token_ttl` is, or when the
/// subject token ends sooner): it is made for one call to one API.
pub const EXCHANGED_TOKEN_TTL: Duration = Duration::from_secs(300);

fn invalid_target(d: impl Into<String>) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_target", d)
}

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`
pub(super) async fn token_exchange(
    state: &AppState,
    client: &Client,
    p: &Params,
    jkt: Option<&str>,
) -> Result<Value, OAuthError> {
    let subject_token = p
        .get("subject_token")
        .ok_or_else(|| OAuthError::invalid_request("subject_token is required"))?;
    match p.get("subject_token_type") {
        Some(ACCESS_TOKEN_TYPE) => {}
        None => {
            return Err(OAuthError::invalid_request(
                "subject_token_type is required",
            ))
        }
        Some(other) => {
            return Err(OAuthError::invalid_request(format!(
                "subject_token_type {other:?} is not supported (only {ACCESS_TOKEN_TYPE})"
            )))
        }
    }
    if let Some(t) = p.get("requested_token_type") {
        if t != ACCESS_TOKEN_TYPE {
            return Err(OAuthError::invalid_request(format!(
                "requested_token_type {t:?} is not supported (only {ACCESS_TOKEN_TYPE})"
            )));
        }
    }
    if p.has("actor_token") || p.has("actor_token_type") {
        return Err(OAuthError::invalid_request(
            "actor_token is not supported: the authenticated client is the actor",
        ));
    }
    let target = target(Resources(&state.settings.resources), p)?;
    let subject = live_access_token(state, subject_token)
        .await?
        .ok_or_else(|| {
            OAuthError::invalid_request("the subject_token is invalid, expired or revoked")
        })?;
    if subject.client_id != client.id {
        return Err(OAuthError::invalid_request(
            "the subject_token was issued to another client",
        ));
    }
    // A bound subject token is exchanged only by the holder of its key (RFC 9449 §5: the
    // exchange request's proof).
    if let Some(cnf) = &subject.cnf {
        if jkt != Some(cnf.jkt.as_str()) {
            return Err(super::dpop::refused(
                state,
                "wrong_key",
                OAuthError::invalid_request(
                    "the subject_token is DPoP-bound: send a DPoP proof signed by its key",
                ),
            ));
        }
    }
    if subject.sid.is_none() {
        return Err(OAuthError::invalid_request(
            "the subject_token is not about a person (a client_credentials token acts for no one)",
        ));
    }
    let scopes = scopes(client, &subject, target, p.get("scope"))?;

    let now = state.clock.now().timestamp();
    let ttl = secs(
        state
            .settings
            .tokens
            .access_token_ttl
            .min(EXCHANGED_TOKEN_TTL),
    )
    .min(subject.exp - now)
    .max(1);
    let jti = crate::secure::fresh_token(16).map_err(|_| OAuthError::server_error())?;
    let scope = scopes.join(" ");
    let claims = AccessTokenClaims {
        iss: state.issuer.clone(),
        exp: now + ttl,
        aud: Audience::One(target.audience.clone()),
        sub: subject.sub.clone(),
        client_id: client.id.clone(),
        iat: now,
        jti,
        scope: scope.clone(),
        auth_time: subject.auth_time,
        acr: subject.acr.clone(),
        sid: subject.sid.clone(),
        idp: subject.idp.clone(),
        login_idp: subject.login_idp.clone(),
        account_type: subject.account_type.clone(),
        // The subject token is this portal's own, so the portal is the one actor, however
        // often its tokens were exchanged.
        act: Some(Actor {
            sub: client.id.clone(),
            act: None,
        }),
        // Bound to the key of this request's proof, if it sent one.
        cnf: Confirmation::of(jkt),
    };
    let token = sign(state, |keys| keys.sign(TYP_ACCESS_TOKEN, &claims))?;
    state
        .metrics
        .tokens_issued
        .with_label_values(&["token_exchange"])
        .inc();
    tracing::info!(client_id = %client.id, resource = %target.id, "token exchanged");
    Ok(json!({
        "access_token": token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": super::grants::token_type(jkt),
        "expires_in": ttl,
        "scope": scope,
    }))
}

/// The one API resource an exchange names, by `resource=` (its audience) or `audience=` (its
/// audience or id); both may be sent if they name the same one.
fn target<'a>(resources: Resources<'a>, p: &Params) -> Result<&'a ResourceSettings, OAuthError> {
    if p.repeated("audience") {
        return Err(invalid_target(
            "one audience per request: an access token has exactly one",
        ));
    }
    let by_resource = resources.requested(p)?;
    let by_audience = match p.get("audience") {
        None => None,
        Some(a) => Some(
            resources
                .by_name(a)
                .ok_or_else(|| invalid_target(format!("unknown audience {a:?}")))?,
        ),
    };
    match (by_resource, by_audience) {
        (Some(r), Some(a)) if r.id != a.id => {
            Err(invalid_target("resource and audience name different APIs"))
        }
        (Some(r), _) | (None, Some(r)) => Ok(r),
        (None, None) => Err(invalid_target(
            "name the API to call with resource= (or audience=)",
        )),
    }
}

/// The exchanged token's scopes: those of the target the portal holds, narrowed to the subject
/// token's when that token was itself for a resource, narrowed again to `asked`.
fn scopes(
    client: &Client,
    subject: &AccessTokenClaims,
    target: &ResourceSettings,
    asked: Option<&str>,
) -> Result<Vec<String>, OAuthError> {
    let mut allowed: Vec<String> = client
        .scopes
        .iter()
        .filter(|s| target.scopes.contains(s))
        .cloned()
        .collect();
    if allowed.is_empty() {
        return Err(invalid_target(format!(
            "this client may not call the resource {:?}",
            target.audience
        )));
    }
    if !subject.is_for_client() {
        allowed.retain(|s| subject.has_scope(s));
        if allowed.is_empty() {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                format!(
                    "the subject_token's grant does not reach the resource {:?}",
                    target.audience
                ),
            ));
        }
    }
    let Some(asked) = asked else {
        return Ok(allowed);
    };
    let asked: Vec<String> = asked.split_ascii_whitespace().map(str::to_owned).collect();
    if let Some(bad) = asked.iter().find(|s| !allowed.contains(s)) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!("scope {bad:?} is beyond what this exchange may grant"),
        ));
    }
    Ok(asked)
}
