//! Authorization codes: issued at the end of a login (or from the SSO session), redeemed once at
//! `/token`, and — when presented again — everything they issued is revoked (RFC 6749 §4.1.2,
//! RFC 9700 §4.5). A code is kept only under its keyed hash.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use vneid_store::{AuditEvent, StoreError};

use super::{from_json, redirect_with, to_json, ttl, AuthRequest, Authentication};
use crate::errors::ServiceError;
use crate::revocation::{self, Revoked};
use crate::state::AppState;

/// Ephemeral namespaces: live codes, and what a redeemed code issued.
pub const NS_CODE: &str = "code";
const NS_CODE_USED: &str = "code_used";

/// What an authorization code stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeData {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    /// The DPoP key the code is bound to (`dpop_jkt` of the authorization request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    #[serde(flatten)]
    pub auth: Authentication,
}

/// Issues a code for `auth` and returns the redirect to the portal (with `state` and RFC 9207
/// `iss`).
pub async fn issue(
    state: &AppState,
    req: &AuthRequest,
    auth: &Authentication,
) -> Result<String, ServiceError> {
    let code = crate::secure::fresh_token(32)?;
    // A FAPI 2.0 client's codes live at most 60 s.
    let configured = state.settings.tokens.code_ttl;
    let lifetime = state
        .clients
        .get(&req.client_id)
        .map_or(configured, |c| c.code_ttl(configured));
    let data = CodeData {
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        scopes: req.scopes.clone(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        dpop_jkt: req.dpop_jkt.clone(),
        auth: auth.clone(),
    };
    state
        .ephemeral
        .put(
            NS_CODE,
            &state.master.lookup_hash(NS_CODE, &code),
            &to_json(&data)?,
            ttl(lifetime),
        )
        .await?;
    let mut p = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        p.push(("state", s));
    }
    p.push(("iss", &state.issuer));
    Ok(redirect_with(&req.redirect_uri, &p))
}

/// A code presented for redemption.
pub enum Redeemed {
    /// Live, and now spent.
    Live { key: String, data: Box<CodeData> },
    /// Unknown, expired or already spent; its key, to check for a replay.
    Gone { key: String },
}

/// Takes the code (atomically: of two concurrent redemptions one gets it).
pub async fn redeem(state: &AppState, code: &str) -> Result<Redeemed, ServiceError> {
    let key = state.master.lookup_hash(NS_CODE, code);
    Ok(match state.ephemeral.take(NS_CODE, &key).await? {
        Some(raw) => Redeemed::Live {
            data: Box::new(from_json(&raw)?),
            key,
        },
        None => Redeemed::Gone { key },
    })
}

/// What a redeemed code issued, kept under the code's hash so that a replay can revoke it.
#[derive(Serialize, Deserialize)]
pub struct Issued {
    /// The access token's `jti`.
    pub jti: String,
    /// The session: every access token of the client in it is revoked on a replay.
    pub sid: String,
    /// The refresh-token family, if one was issued.
    pub family_id: Option<String>,
}

/// Remembers what the code under `key` issued, for as long as a replay is looked for: while the
/// access token lives (and at least as long as the code could have been used).
pub async fn remember_issued(state: &AppState, key: &str, issued: &Issued) {
    let t = &state.settings.tokens;
    let keep = t
        .access_token_ttl
        .max(t.code_ttl)
        .max(Duration::from_secs(1));
    if let Ok(value) = serde_json::to_string(issued) {
        if let Err(e) = state.ephemeral.put(NS_CODE_USED, key, &value, keep).await {
            tracing::warn!(error = %e, "could not remember what a code issued; a replay of it would revoke nothing");
        }
    }
}

/// A code that is not (or no longer) there was presented by `client_id`. When it was redeemed
/// before, everything it issued is revoked — the access tokens of the client in that session and
/// the refresh-token family — and an audit event `code_replay` written.
pub async fn revoke_replayed(
    state: &AppState,
    key: &str,
    client_id: &str,
    request_id: &str,
) -> Result<bool, StoreError> {
    let issued = match state.ephemeral.take(NS_CODE_USED, key).await? {
        Some(raw) => serde_json::from_str::<Issued>(&raw).ok(),
        None => None,
    };
    let Some(issued) = issued else {
        return Ok(false);
    };
    let what = [
        Revoked::Token { jti: &issued.jti },
        Revoked::Grant {
            client: client_id,
            sid: &issued.sid,
        },
    ];
    if let Err(e) =
        revocation::revoke(state, &what, "code_replay", revocation::grant_until(state)).await
    {
        tracing::error!(error = %e, "could not revoke after code replay");
    }
    if let Some(family) = &issued.family_id {
        if let Err(e) = state
            .db
            .revoke_refresh_family(family, "code_replay", state.clock.now())
            .await
        {
            tracing::error!(error = %e, "could not revoke the refresh tokens after code replay");
        }
    }
    tracing::warn!(client_id = %client_id, "authorization code replayed; its tokens are revoked");
    let _ = state
        .db
        .append_audit(
            &AuditEvent::new("code_replay", "revoked")
                .at(state.clock.now())
                .client_id(client_id)
                .request_id(request_id)
                .detail(
                    serde_json::json!({ "refresh_family_revoked": issued.family_id.is_some() }),
                ),
        )
        .await;
    Ok(true)
}
