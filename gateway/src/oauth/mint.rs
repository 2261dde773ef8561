//! Minting a grant's tokens: the access token (RFC 9068) and the ID token, signed together.

use std::time::Duration;

use serde_json::{json, Value};
use vneid_tokens::{
    at_hash, AccessTokenClaims, Audience, Confirmation, IdTokenClaims, KeySet, TokenError,
    TYP_ACCESS_TOKEN, TYP_ID_TOKEN,
};

use super::claims;
use crate::clients::Client;
use crate::errors::OAuthError;
use crate::login::Authentication;
use crate::resources::Resources;
use crate::state::AppState;
use crate::subjects::subject_for;

/// What a grant is about, whichever way it was presented (code or refresh token): the login's
/// [`Authentication`] and the scopes granted.
pub(super) struct Grant {
    pub auth: Authentication,
    pub scopes: Vec<String>,
}

pub(super) fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Mints the access token and the ID token of a grant; returns the token response (without a
/// refresh token) and the access token's `jti`. The response's `scope` is the access token's.
pub(super) async fn mint(
    state: &AppState,
    client: &Client,
    grant: &Grant,
    nonce: Option<String>,
    jkt: Option<&str>,
) -> Result<(Value, String), OAuthError> {
    let now = state.clock.now().timestamp();
    let settings = &state.settings.tokens;
    let person = state
        .db
        .person(&grant.auth.person_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the person no longer exists"))?;
    // A client that stopped admitting this account type since the grant began.
    vneid_policy::account_type_admitted(&client.account_types, person.account_type)
        .map_err(|r| OAuthError::invalid_grant(r.description()))?;
    // One audience per access token (RFC 8707): the resource the grant is for, with its scopes
    // only, or the client itself.
    let (audience, access_scopes) =
        Resources(&state.settings.resources).access_view(&client.id, &grant.scopes);
    let scope = access_scopes.join(" ");
    let sub = subject_for(state, client, &grant.auth.person_id).await?;
    let jti = crate::secure::fresh_token(16).map_err(|e| {
        tracing::error!(error = %e, "no randomness");
        OAuthError::server_error()
    })?;
    let access = AccessTokenClaims {
        iss: state.issuer.clone(),
        exp: now + secs(settings.access_token_ttl),
        aud: Audience::One(audience),
        sub: sub.clone(),
        client_id: client.id.clone(),
        iat: now,
        jti: jti.clone(),
        scope: scope.clone(),
        auth_time: Some(grant.auth.auth_time),
        acr: Some(grant.auth.level.acr().to_owned()),
        sid: Some(grant.auth.sid.clone()),
        idp: Some(grant.auth.idp.clone()),
        login_idp: grant.auth.login_idp.clone(),
        act: None,
        cnf: Confirmation::of(jkt),
        account_type: Some(person.account_type.as_str().to_owned()),
    };
    let scopes: Vec<&str> = grant.scopes.iter().map(String::as_str).collect();
    let released = claims::released(
        state,
        &person,
        &scopes,
        grant.auth.level.number(),
        grant.auth.login_idp.as_deref(),
    )
    .await?;
    let id = IdTokenClaims {
        iss: state.issuer.clone(),
        sub,
        aud: client.id.clone(),
        exp: now + secs(settings.id_token_ttl),
        iat: now,
        auth_time: grant.auth.auth_time,
        nonce,
        acr: grant.auth.level.acr().to_owned(),
        amr: None,
        azp: Some(client.id.clone()),
        sid: grant.auth.sid.clone(),
        idp: grant.auth.idp.clone(),
        login_idp: grant.auth.login_idp.clone(),
        name: released.name,
        birthdate: released.birthdate,
        personal_id: released.personal_id,
        account: released.account,
        account_type: released.account_type,
        organisation: released.organisation,
        at_hash: None,
    };
    let (access_token, id_token) = sign_pair(state, access, id)?;
    Ok((
        json!({
            "access_token": access_token,
            "token_type": super::grants::token_type(jkt),
            "expires_in": secs(settings.access_token_ttl),
            "id_token": id_token,
            "scope": scope,
        }),
        jti,
    ))
}

/// Signs the access token and the ID token (with its `at_hash`) together.
fn sign_pair(
    state: &AppState,
    access: AccessTokenClaims,
    mut id: IdTokenClaims,
) -> Result<(String, String), OAuthError> {
    sign(state, move |keys| {
        let access_token = keys.sign(TYP_ACCESS_TOKEN, &access)?;
        id.at_hash = Some(at_hash(&access_token, keys.signing_alg()));
        let id_token = keys.sign(TYP_ID_TOKEN, &id)?;
        Ok((access_token, id_token))
    })
}

/// Runs `signing` with the current key set, inline on the request's worker: ES256 and EdDSA
/// sign in tens of microseconds, an RSA-2048 signature in about 0.25 ms (aws-lc-rs). Sending
/// RSA signatures to the blocking pool measured no faster (client_credentials with RS256 on 2
/// cores, `loadgen --mode client-credentials --users 16`: 3,968 against 4,022 tokens/s,
/// medians of 3, within the noise) and costs two thread hand-offs per token. Every token the token endpoint issues is signed here.
pub(crate) fn sign<T>(
    state: &AppState,
    signing: impl FnOnce(&KeySet) -> Result<T, TokenError>,
) -> Result<T, OAuthError> {
    signing(&state.key_set()).map_err(|e| {
        tracing::error!(error = %e, "signing failed");
        OAuthError::server_error()
    })
}
