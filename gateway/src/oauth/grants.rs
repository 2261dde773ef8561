//! `/token`'s grants: `authorization_code` (with PKCE), `refresh_token` (rotation, reuse
//! detection, the two-tabs grace window) and `client_credentials`.

use std::time::Duration;

use actix_web::http::StatusCode;
use base64::Engine as _;
use serde_json::{json, Value};
use vneid_store::{AuditEvent, NewRefreshFamily, RotateOutcome};
use vneid_tokens::{AccessTokenClaims, Audience, Confirmation, TYP_ACCESS_TOKEN};

use super::dpop::{self, At, ProofRequest};
use super::mint::{mint, secs, Grant};
use super::{authenticate_client, NS_REFRESH};
use crate::client_ip::ClientIp;
use crate::clients::Client;
use crate::config::{GRANT_TYPES, PERSON_SCOPES, TOKEN_EXCHANGE};
use crate::errors::OAuthError;
use crate::login::codes::{self, Redeemed};
use crate::login::Authentication;
use crate::params::Params;
use crate::resources::Resources;
use crate::revocation::revoke_grant;
use crate::state::AppState;

/// Ephemeral namespace of the answer to a refresh, kept for the grace window.
pub const NS_REFRESH_GRACE: &str = "refresh_grace";

/// Verifies a PKCE S256 `code_verifier` against the stored challenge, in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    if verifier.len() < 43
        || verifier.len() > 128
        || !verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        return false;
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    crate::secure::constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

/// `POST /token`
pub async fn token(
    state: &AppState,
    authorization: Option<&str>,
    p: &Params,
    from: &ClientIp,
    request_id: &str,
    proof: Option<&str>,
) -> Result<Value, OAuthError> {
    // The proof is judged before the client authenticates: a client told to fetch a nonce
    // (`use_dpop_nonce`) retries with the same code and a fresh assertion, having spent nothing.
    let htu = state.url("/token");
    let proof_request = ProofRequest {
        proof,
        method: "POST",
        htu: &htu,
    };
    let checked = dpop::check(state, &proof_request, None, At::AuthorizationServer)?;
    let client = authenticate_client(state, authorization, p, from).await?;
    let grant = p
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    if !GRANT_TYPES.contains(&grant) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("supported: {}", GRANT_TYPES.join(", ")),
        ));
    }
    if !client.has_grant(grant) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            format!("this client may not use the {grant} grant"),
        ));
    }
    let jkt = match checked {
        Some(proof) => {
            dpop::allowed_for(state, &client, &proof)?;
            dpop::remember(state, &proof, At::AuthorizationServer).await?;
            Some(proof.jkt)
        }
        None if client.requires_dpop() => {
            return Err(dpop::refused(
                state,
                "missing",
                OAuthError::invalid_dpop_proof(
                    At::AuthorizationServer,
                    "this client's access tokens are DPoP-bound: send a DPoP proof",
                ),
            ))
        }
        None => None,
    };
    let jkt = jkt.as_deref();
    match grant {
        "client_credentials" => client_credentials(state, &client, p, jkt).await,
        TOKEN_EXCHANGE => super::exchange::token_exchange(state, &client, p, jkt).await,
        "refresh_token" => refresh(state, &client, p, request_id, jkt).await,
        _ => authorization_code(state, &client, p, request_id, jkt).await,
    }
}

/// `token_type` of a token response: `DPoP` for a token bound to a key (RFC 9449 §5).
pub(super) fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() {
        "DPoP"
    } else {
        "Bearer"
    }
}

/// `client_credentials` (RFC 6749 §4.4): an access token for the client itself, `sub` = its
/// client id, scopes limited to the client's list (person scopes never apply). No scope asked:
/// every scope the client has. With `resource=` (RFC 8707) the token is for that API and
/// carries its scopes only (no scope asked: every one of them the client has).
async fn client_credentials(
    state: &AppState,
    client: &Client,
    p: &Params,
    jkt: Option<&str>,
) -> Result<Value, OAuthError> {
    let resources = Resources(&state.settings.resources);
    let resource = resources.requested(p)?;
    let machine: Vec<String> = client
        .scopes
        .iter()
        .filter(|s| !PERSON_SCOPES.contains(&s.as_str()))
        .cloned()
        .collect();
    let granted: Vec<String> = match (p.get("scope"), resource) {
        (None, None) => machine
            .into_iter()
            .filter(|s| resources.owner(s).is_none())
            .collect(),
        (None, Some(_)) => resources.select(&machine, &[], resource, true)?,
        (Some(asked), _) => {
            let asked: Vec<&str> = asked.split_ascii_whitespace().collect();
            if let (Some(r), Some(other)) = (
                resource,
                asked.iter().find(|s| resources.owner(s).is_none()),
            ) {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    format!(
                        "scope {other:?} is not a scope of the resource {:?}",
                        r.audience
                    ),
                ));
            }
            resources.select(&machine, &asked, resource, true)?
        }
    };
    let (audience, granted) = resources.access_view(&client.id, &granted);
    let now = state.clock.now().timestamp();
    let ttl = secs(state.settings.tokens.access_token_ttl);
    let jti = crate::secure::fresh_token(16).map_err(|_| OAuthError::server_error())?;
    let scope = granted.join(" ");
    let claims = AccessTokenClaims {
        iss: state.issuer.clone(),
        exp: now + ttl,
        aud: Audience::One(audience),
        sub: client.id.clone(),
        client_id: client.id.clone(),
        iat: now,
        jti,
        scope: scope.clone(),
        auth_time: None,
        acr: None,
        sid: None,
        idp: None,
        login_idp: None,
        act: None,
        cnf: Confirmation::of(jkt),
        account_type: None,
    };
    let token = super::mint::sign(state, |keys| keys.sign(TYP_ACCESS_TOKEN, &claims))?;
    state
        .metrics
        .tokens_issued
        .with_label_values(&["client_credentials"])
        .inc();
    Ok(json!({
        "access_token": token,
        "token_type": token_type(jkt),
        "expires_in": ttl,
        "scope": scope,
    }))
}

async fn authorization_code(
    state: &AppState,
    client: &Client,
    p: &Params,
    request_id: &str,
    jkt: Option<&str>,
) -> Result<Value, OAuthError> {
    let code = p
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let (key, data) = match codes::redeem(state, code).await? {
        Redeemed::Live { key, data } => (key, *data),
        Redeemed::Gone { key } => {
            codes::revoke_replayed(state, &key, &client.id, request_id).await?;
            return Err(OAuthError::invalid_grant(
                "the code is unknown, expired or already used",
            ));
        }
    };
    if data.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if p.get("redirect_uri") != Some(data.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&data.code_challenge, p.get("code_verifier")) {
        (Some(ch), Some(v)) if pkce_matches(v, ch) => {}
        (Some(_), Some(_)) => return Err(OAuthError::invalid_grant("PKCE verification failed")),
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent but no code_challenge was in the authorization request",
            ))
        }
        (None, None) => {}
    }
    // A code bound to a key (`dpop_jkt`, RFC 9449 §10) is redeemed only with a proof by it.
    if let Some(bound) = &data.dpop_jkt {
        if jkt != Some(bound.as_str()) {
            return Err(dpop::refused(
                state,
                "wrong_key",
                OAuthError::invalid_grant(
                    "the code is bound to another DPoP key (dpop_jkt): prove that key",
                ),
            ));
        }
    }

    same_resource(state, p, &data.scopes)?;
    let grant = Grant {
        auth: data.auth,
        scopes: data.scopes,
    };
    let (mut response, jti) = mint(state, client, &grant, data.nonce, jkt).await?;
    let mut family_id = None;
    if client.has_grant("refresh_token") {
        let token = crate::secure::fresh_token(32).map_err(|_| OAuthError::server_error())?;
        let now = state.clock.now();
        let family = NewRefreshFamily {
            family_id: crate::secure::fresh_token(16).map_err(|_| OAuthError::server_error())?,
            client_id: client.id.clone(),
            person_id: grant.auth.person_id.clone(),
            scopes: grant.scopes.clone(),
            sid: grant.auth.sid.clone(),
            auth_time: chrono::DateTime::from_timestamp(grant.auth.auth_time, 0).unwrap_or(now),
            level: grant.auth.level.number(),
            idp: grant.auth.idp.clone(),
            login_idp: grant.auth.login_idp.clone(),
            // RFC 9449 §5: a public client's refresh tokens are bound to its key; a
            // confidential client proves itself at every refresh anyway.
            dpop_jkt: jkt.filter(|_| client.is_public()).map(str::to_owned),
            created_at: now,
            expires_at: now
                + chrono::Duration::from_std(state.settings.tokens.refresh_token_ttl)
                    .unwrap_or(chrono::Duration::hours(8)),
        };
        state
            .db
            .create_refresh_family(&family, &state.master.lookup_hash(NS_REFRESH, &token))
            .await?;
        family_id = Some(family.family_id);
        response["refresh_token"] = json!(token);
    }
    // Remember what this code issued, so that a replay revokes all of it.
    codes::remember_issued(
        state,
        &key,
        &codes::Issued {
            jti,
            sid: grant.auth.sid.clone(),
            family_id,
        },
    )
    .await;
    state
        .metrics
        .tokens_issued
        .with_label_values(&["authorization_code"])
        .inc();
    Ok(response)
}

/// `refresh_token` (RFC 6749 §6) with rotation: every use returns a new refresh token and the
/// old one is spent. A spent token presented again within `tokens.refresh_grace` (two tabs
/// refreshing at once) gets the same answer as the first use; later, it revokes the whole
/// family (the token leaked).
async fn refresh(
    state: &AppState,
    client: &Client,
    p: &Params,
    request_id: &str,
    jkt: Option<&str>,
) -> Result<Value, OAuthError> {
    let presented = p
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let old_hash = state.master.lookup_hash(NS_REFRESH, presented);
    // Refused before the rotation, so that a wrong parameter or key does not spend the token
    // (nor make the holder of a stolen token look like a reuse of it).
    if p.has("scope") || p.has("resource") || client.is_public() {
        if let Some(f) = state.db.refresh_family_by_token(&old_hash).await? {
            if f.client_id == client.id {
                narrowed(state, p, &f.scopes)?;
                same_key(state, f.dpop_jkt.as_deref(), jkt)?;
            }
        }
    }
    let new_token = crate::secure::fresh_token(32).map_err(|_| OAuthError::server_error())?;
    let new_hash = state.master.lookup_hash(NS_REFRESH, &new_token);
    let grace = state.settings.tokens.refresh_grace;
    let outcome = state
        .db
        .rotate_refresh_token(&old_hash, &new_hash, &client.id, state.clock.now(), grace)
        .await?;
    let family = match outcome {
        RotateOutcome::Rotated(f) => f,
        RotateOutcome::WithinGrace { .. } => return within_grace(state, &old_hash).await,
        RotateOutcome::Reused(f) => {
            if let Err(e) = revoke_grant(state, &f.client_id, &f.sid, "refresh_reuse").await {
                tracing::error!(error = %e, "could not revoke the access tokens of a reused family");
            }
            tracing::warn!(client_id = %client.id, family_id = %f.family_id, "refresh token reused: family revoked");
            let _ = state
                .db
                .append_audit(
                    &AuditEvent::new("refresh_reuse", "revoked")
                        .at(state.clock.now())
                        .client_id(&client.id)
                        .person_id(&f.person_id)
                        .request_id(request_id),
                )
                .await;
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used",
            ));
        }
        RotateOutcome::Invalid => {
            return Err(OAuthError::invalid_grant(
                "the refresh token is unknown, expired or revoked",
            ))
        }
    };
    let scopes = narrowed(state, p, &family.scopes)?;
    let level = vneid_core::AssuranceLevel::from_number(i64::from(family.level))
        .map_err(|_| OAuthError::server_error())?;
    let grant = Grant {
        auth: Authentication {
            sid: family.sid,
            person_id: family.person_id,
            auth_time: family.auth_time.timestamp(),
            level,
            idp: family.idp,
            login_idp: family.login_idp,
        },
        scopes,
    };
    same_key(state, family.dpop_jkt.as_deref(), jkt)?;
    let (mut response, _) = mint(state, client, &grant, None, jkt).await?;
    response["refresh_token"] = json!(new_token);
    // Keep the answer for the grace window, sealed: the same spent token sent again by a second
    // tab gets this very pair.
    let sealed = state
        .master
        .seal(response.to_string().as_bytes(), NS_REFRESH_GRACE.as_bytes())
        .map_err(|_| OAuthError::server_error())?;
    let _ = state
        .ephemeral
        .put(
            NS_REFRESH_GRACE,
            &old_hash,
            &base64::engine::general_purpose::STANDARD.encode(sealed),
            grace.max(Duration::from_secs(1)),
        )
        .await;
    state
        .metrics
        .tokens_issued
        .with_label_values(&["refresh_token"])
        .inc();
    Ok(response)
}

/// A refresh of a family bound to a DPoP key proves that key (RFC 9449 §5).
fn same_key(state: &AppState, bound: Option<&str>, jkt: Option<&str>) -> Result<(), OAuthError> {
    match bound {
        Some(b) if jkt != Some(b) => Err(dpop::refused(
            state,
            "wrong_key",
            OAuthError::invalid_grant(
                "the refresh token is bound to another DPoP key: prove the key it was issued to",
            ),
        )),
        _ => Ok(()),
    }
}

/// The scopes of a refresh: the family's, or a narrower set asked with `scope` (RFC 6749 §6),
/// never a wider one; `resource`, when sent, must be the grant's (RFC 8707 §2.2).
fn narrowed(state: &AppState, p: &Params, family: &[String]) -> Result<Vec<String>, OAuthError> {
    same_resource(state, p, family)?;
    match p.get("scope") {
        None => Ok(family.to_vec()),
        Some(asked) => {
            let asked: Vec<String> = asked.split_ascii_whitespace().map(str::to_owned).collect();
            if asked.iter().any(|s| !family.contains(s)) {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "a refresh cannot widen the scope",
                ));
            }
            Ok(asked)
        }
    }
}

/// A `resource` sent at the token endpoint names the resource of the grant (RFC 8707 §2.2: the
/// authorization request fixed it; a token has one audience).
fn same_resource(state: &AppState, p: &Params, grant: &[String]) -> Result<(), OAuthError> {
    let resources = Resources(&state.settings.resources);
    let Some(asked) = resources.requested(p)? else {
        return Ok(());
    };
    match resources.of_grant(grant) {
        Some(r) if r.id == asked.id => Ok(()),
        _ => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            format!(
                "the grant is not for the resource {:?}: name it in the authorization request",
                asked.audience
            ),
        )),
    }
}

/// The answer given to the first use of a spent refresh token, if it is still kept. The first
/// request may still be signing: wait for it a little.
async fn within_grace(state: &AppState, old_hash: &str) -> Result<Value, OAuthError> {
    for _ in 0..20 {
        let kept = state.ephemeral.get(NS_REFRESH_GRACE, old_hash).await?;
        if let Some(b64) = kept {
            let opened = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .and_then(|b| state.master.open(&b, NS_REFRESH_GRACE.as_bytes()).ok())
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
            if let Some(v) = opened {
                return Ok(v);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(OAuthError::invalid_grant(
        "the refresh token was already used",
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        assert!(pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "short",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }
}
