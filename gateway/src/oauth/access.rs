//! Access tokens once issued: whether one is live (signature, expiry, a registered client,
//! not revoked), introspection (RFC 7662), revocation (RFC 7009) and userinfo.

use serde_json::{json, Map, Value};
use vneid_tokens::{AccessTokenClaims, TYP_ACCESS_TOKEN};

use super::{authenticate_client, claims, may_be_refresh_token, NS_REFRESH};
use crate::client_ip::ClientIp;
use crate::clients::Client;
use crate::errors::OAuthError;
use crate::params::Params;
use crate::resources::Resources;
use crate::revocation::{self, Revoked};
use crate::state::AppState;
use crate::subjects::{person_for_subject, subject_for};

/// A gateway access token that is valid now, not revoked, and of a client still registered;
/// or `None`.
pub async fn live_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<AccessTokenClaims>, OAuthError> {
    let Ok(claims) = state.key_set().verify::<AccessTokenClaims>(
        token,
        TYP_ACCESS_TOKEN,
        &state.issuer,
        state.clock.now(),
    ) else {
        return Ok(None);
    };
    // A removed client's tokens end with it.
    if state.clients.get(&claims.client_id).is_none() {
        return Ok(None);
    }
    let mut what = vec![Revoked::Token { jti: &claims.jti }];
    if let Some(sid) = &claims.sid {
        what.push(Revoked::Grant {
            client: &claims.client_id,
            sid,
        });
        what.push(Revoked::Grant { client: "*", sid });
    }
    if revocation::is_revoked(state, &what).await? {
        return Ok(None);
    }
    Ok(Some(claims))
}

/// Whether `caller` may learn about a token issued to `owner` for `audience` (RFC 7662 §2.1,
/// §4: the server decides who may ask): the client it was issued to, the API it is for (a
/// client holding a scope of that resource), or an operator's tool (scope `admin`). Anyone
/// else learns nothing, so a portal cannot read another portal's (pairwise) `sub`.
fn may_introspect(state: &AppState, caller: &Client, owner: &str, audience: Option<&str>) -> bool {
    if caller.id == owner
        || caller
            .scopes
            .iter()
            .any(|s| s == crate::config::ADMIN_SCOPE)
    {
        return true;
    }
    let resources = Resources(&state.settings.resources);
    audience
        .and_then(|a| resources.by_audience(a))
        .is_some_and(|r| caller.scopes.iter().any(|s| r.scopes.contains(s)))
}

/// `POST /introspect` (RFC 7662). Any confidential client may ask about the tokens
/// [`may_introspect`] lets it see; anything else — unknown, expired, revoked, not ours, not its
/// business — is `{"active": false}`. Members without a value are left out.
pub async fn introspect(
    state: &AppState,
    authorization: Option<&str>,
    p: &Params,
    from: &ClientIp,
) -> Result<Value, OAuthError> {
    let client = authenticate_client(state, authorization, p, from).await?;
    if client.is_public() {
        return Err(OAuthError::invalid_client(
            "public clients cannot introspect",
        ));
    }
    let token = p
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let record = if may_be_refresh_token(token) {
        state
            .db
            .refresh_token(&state.master.lookup_hash(NS_REFRESH, token))
            .await?
    } else {
        None
    };
    if let Some(record) = record {
        let f = &record.family;
        // The family's client must still be registered; `sub` is the one that client sees.
        let owner = state.clients.get(&f.client_id);
        let answer = match owner {
            Some(owner)
                if record.is_active(state.clock.now())
                    && may_introspect(state, &client, &f.client_id, None) =>
            {
                json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": f.scopes.join(" "),
                "client_id": f.client_id,
                "sub": subject_for(state, &owner, &f.person_id)
                    .await?,
                "iss": state.issuer,
                "exp": f.expires_at.timestamp(),
                "iat": record.created_at.timestamp(),
                "cnf": f.dpop_jkt.as_ref().map(|jkt| json!({"jkt": jkt})),
                })
            }
            _ => json!({"active": false}),
        };
        return Ok(without_nulls(answer));
    }
    let live = live_access_token(state, token).await?.filter(|c| {
        let audience = match &c.aud {
            vneid_tokens::Audience::One(a) => Some(a.as_str()),
            vneid_tokens::Audience::Many(_) => None,
        };
        may_introspect(state, &client, &c.client_id, audience)
    });
    let answer = match live {
        Some(c) => json!({
            "active": true,
            "scope": c.scope,
            "client_id": c.client_id,
            "sub": c.sub,
            "aud": c.aud,
            "iss": c.iss,
            "exp": c.exp,
            "iat": c.iat,
            "jti": c.jti,
            "token_type": super::grants::token_type(c.cnf.as_ref().map(|k| k.jkt.as_str())),
            "cnf": c.cnf,
            "acr": c.acr,
            "auth_time": c.auth_time,
            "act": c.act,
        }),
        None => json!({"active": false}),
    };
    Ok(without_nulls(answer))
}

/// An introspection answer without the members that have no value.
fn without_nulls(mut answer: Value) -> Value {
    if let Some(members) = answer.as_object_mut() {
        members.retain(|_, v| !v.is_null());
    }
    answer
}

/// `POST /revoke` (RFC 7009). Revokes an access token issued to the calling client: it becomes
/// inactive at introspection and userinfo. Unknown tokens, and tokens of other clients, are
/// answered 200 as the RFC asks, and nothing happens.
pub async fn revoke(
    state: &AppState,
    authorization: Option<&str>,
    p: &Params,
    from: &ClientIp,
) -> Result<(), OAuthError> {
    let client = authenticate_client(state, authorization, p, from).await?;
    let token = p
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let family = if may_be_refresh_token(token) {
        state
            .db
            .refresh_family_by_token(&state.master.lookup_hash(NS_REFRESH, token))
            .await?
    } else {
        None
    };
    if let Some(f) = family {
        if f.client_id == client.id {
            state
                .db
                .revoke_refresh_family(&f.family_id, "revoked", state.clock.now())
                .await?;
            revocation::revoke_grant(state, &f.client_id, &f.sid, "revoked").await?;
        }
        return Ok(());
    }
    if let Some(c) = live_access_token(state, token).await? {
        if c.client_id == client.id {
            let until = chrono::DateTime::from_timestamp(c.exp, 0)
                .unwrap_or_else(|| revocation::grant_until(state));
            revocation::revoke(state, &[Revoked::Token { jti: &c.jti }], "revoked", until).await?;
        }
    }
    Ok(())
}

/// `/userinfo`: the claims the access token's scopes release.
pub async fn userinfo(
    state: &AppState,
    presented: &super::dpop::Presented<'_>,
) -> Result<Value, OAuthError> {
    let claims = super::dpop::presented_token(state, presented).await?;
    if claims.sid.is_none() {
        return Err(OAuthError::invalid_token(
            "this access token is not about a person",
        ));
    }
    if !claims.is_for_client() {
        return Err(OAuthError::invalid_token(
            "this access token is for an API resource, not for userinfo",
        ));
    }
    let person_id = person_for_subject(state, &claims.client_id, &claims.sub)
        .await?
        .ok_or_else(|| OAuthError::invalid_token("the person is unknown"))?;
    let person = state
        .db
        .person(&person_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_token("the person no longer exists"))?;
    let scopes: Vec<&str> = claims.scope.split_ascii_whitespace().collect();
    let level = claims
        .acr
        .as_deref()
        .and_then(|a| vneid_core::AssuranceLevel::from_acr(a).ok())
        .map_or(0, |l| l.number());
    let released =
        claims::released(state, &person, &scopes, level, claims.login_idp.as_deref()).await?;
    let mut out = Map::new();
    out.insert("sub".into(), json!(claims.sub));
    if let Some(acr) = &claims.acr {
        out.insert("acr".into(), json!(acr));
    }
    if let Some(idp) = &claims.idp {
        out.insert("idp".into(), json!(idp));
    }
    if let Some(l) = &claims.login_idp {
        out.insert("login_idp".into(), json!(l));
    }
    for (name, value) in [
        ("name", released.name.map(Value::from)),
        ("birthdate", released.birthdate.map(Value::from)),
        ("personal_id", released.personal_id.map(Value::from)),
        ("account", released.account),
        ("account_type", released.account_type.map(Value::from)),
        ("organisation", released.organisation),
    ] {
        if let Some(v) = value {
            out.insert(name.into(), v);
        }
    }
    Ok(Value::Object(out))
}
