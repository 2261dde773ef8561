//! Pushed authorization requests (RFC 9126): a request checked at `POST /par` is kept in the
//! ephemeral store for `tokens.par_ttl` under a fresh reference, and the `request_uri` that names
//! it is taken once at `/authorize`, only by the client that pushed it.

use serde::{Deserialize, Serialize};

use super::{from_json, to_json, ttl, AuthRequest};
use crate::errors::ServiceError;
use crate::state::AppState;

/// Ephemeral namespace of pushed requests (keyed by a keyed hash of client and reference).
pub const NS_PAR: &str = "par";
/// What every `request_uri` the gateway hands out starts with (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Shown when a `request_uri` is unknown, expired, already used or another client's: there is
/// no request to trust, so no redirect URI either.
pub const GONE_PAGE: &str = "Yêu cầu đăng nhập đã hết hạn hoặc đã được dùng (request_uri). \
Vui lòng quay lại trang của cơ quan và đăng nhập lại.";

/// What is kept for a pushed request.
#[derive(Debug, Serialize, Deserialize)]
struct Pushed {
    request: AuthRequest,
    idp_hint: Option<String>,
}

/// Why a `request_uri` gives no request.
pub enum TakeError {
    /// Unknown, expired, already taken, or pushed by another client.
    Gone,
    Service(ServiceError),
}

/// The store key of `reference` pushed by `client_id`: another client's look-up misses (and so
/// cannot spend it), and the reference itself is never stored.
fn key(state: &AppState, client_id: &str, reference: &str) -> String {
    state
        .master
        .lookup_hash(NS_PAR, &format!("{client_id}\n{reference}"))
}

/// Keeps a checked request for `tokens.par_ttl` and returns its `request_uri` and lifetime in
/// seconds.
pub async fn push(
    state: &AppState,
    request: AuthRequest,
    idp_hint: Option<String>,
) -> Result<(String, u64), ServiceError> {
    let reference = crate::secure::fresh_token(32)?;
    let lifetime = ttl(state.settings.tokens.par_ttl);
    let key = key(state, &request.client_id, &reference);
    let value = to_json(&Pushed { request, idp_hint })?;
    state.ephemeral.put(NS_PAR, &key, &value, lifetime).await?;
    Ok((
        format!("{REQUEST_URI_PREFIX}{reference}"),
        lifetime.as_secs(),
    ))
}

/// Takes the request `request_uri` names for `client_id` (atomically: of two uses, one gets it).
pub async fn take(
    state: &AppState,
    client_id: &str,
    request_uri: &str,
) -> Result<(AuthRequest, Option<String>), TakeError> {
    let reference = request_uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .filter(|r| !r.is_empty())
        .ok_or(TakeError::Gone)?;
    let raw = state
        .ephemeral
        .take(NS_PAR, &key(state, client_id, reference))
        .await
        .map_err(|e| TakeError::Service(e.into()))?
        .ok_or(TakeError::Gone)?;
    let pushed: Pushed = from_json(&raw).map_err(TakeError::Service)?;
    // The key already binds the client; a request of another client is refused all the same.
    if pushed.request.client_id != client_id {
        return Err(TakeError::Gone);
    }
    Ok((pushed.request, pushed.idp_hint))
}
