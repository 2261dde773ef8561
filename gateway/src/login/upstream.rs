//! Sending a person to an upstream: the pending login is kept under the upstream `state` for
//! `tokens.login_ttl`, bound to this browser by a secret whose keyed hash it carries.

use super::{to_json, ttl, AuthRequest, PendingLogin, NS_LOGIN};
use crate::clients::Client;
use crate::errors::ServiceError;
use crate::state::AppState;

/// Domain of the keyed hash of a login-binding cookie's value.
pub(super) const NS_LOGIN_BINDING: &str = "login_binding";

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
pub async fn start(
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
    let binding = crate::secure::fresh_token(32)?;
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
