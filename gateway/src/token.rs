//! The token service: client authentication, the authorization-code grant, userinfo.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Map, Value};
use vneid_store::{AuditEvent, NewRefreshFamily, RotateOutcome};
use vneid_tokens::{
    at_hash, verify_client_assertion, AccessTokenClaims, Audience, IdTokenClaims, TYP_ACCESS_TOKEN,
    TYP_ID_TOKEN,
};

use actix_web::http::StatusCode;

use crate::client_ip::ClientIp;
use crate::clients::{person_for_subject, subject_for};
use crate::config::{ClientAuthMethod, GRANT_TYPES, PERSON_SCOPES};
use crate::errors::OAuthError;
use crate::login::{CodeData, NS_CODE, NS_CODE_USED};
use crate::params::Params;
use crate::ratelimit::Limit;
use crate::revocation::{self, Revoked};
use crate::state::{AppState, Client};

/// Ephemeral namespace of the answer to a refresh, kept for the grace window.
pub const NS_REFRESH_GRACE: &str = "refresh_grace";
/// Domain of the keyed hash of refresh tokens.
pub const NS_REFRESH: &str = "refresh";

/// `client_assertion_type` of RFC 7523 client assertions.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Ephemeral namespace of seen client-assertion `jti`s.
pub const NS_ASSERTION_JTI: &str = "assertion_jti";

/// Authenticates the client of a token, introspection or revocation request (see
/// [`authenticate`]), counting failures per claimed client id *and* client address: past
/// `limits.client_auth_failures` that pair gets 429 until the window ends, while the same
/// client from any other address is served as usual.
pub async fn authenticate_client(
    state: &AppState,
    authorization: Option<&str>,
    p: &Params,
    from: &ClientIp,
) -> Result<Arc<Client>, OAuthError> {
    let who = claimed_client_id(authorization, p).map(|id| {
        let id: String = id.chars().take(128).collect();
        format!("{id}:{}", from.limit_key())
    });
    if let Some(who) = &who {
        if let Err(limited) = state
            .limiter
            .exceeded(Limit::ClientAuthFailures, who)
            .await?
        {
            state
                .metrics
                .rate_limited
                .with_label_values(&[Limit::ClientAuthFailures.name()])
                .inc();
            return Err(OAuthError::too_many_requests(limited.retry_after));
        }
    }
    let result = authenticate(state, authorization, p).await;
    if let (Err(e), Some(who)) = (&result, &who) {
        if e.error == "invalid_client" {
            if let Err(e) = state.limiter.hit(Limit::ClientAuthFailures, who).await {
                tracing::warn!(error = %e, "counting a failed client authentication failed");
            }
        }
    }
    result
}

/// `Authorization: Basic` credentials: id and secret, each form-urlencoded before the Basic
/// encoding (RFC 6749 §2.3.1).
fn basic_credentials(authorization: Option<&str>) -> Result<Option<(String, String)>, OAuthError> {
    let Some(h) = authorization else {
        return Ok(None);
    };
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "unsupported authorization scheme",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
    Ok(Some((
        crate::params::decode(id.as_bytes()),
        crate::params::decode(secret.as_bytes()),
    )))
}

/// The client a request says it is (Basic, `client_id`, or an assertion's `sub`), before any
/// of it is verified: only used to count failures.
fn claimed_client_id(authorization: Option<&str>, p: &Params) -> Option<String> {
    if let Ok(Some((id, _))) = basic_credentials(authorization) {
        return Some(id);
    }
    if let Some(id) = p.get("client_id") {
        return Some(id.to_owned());
    }
    let assertion = p.get("client_assertion")?;
    let claims = unverified_claims(assertion)?;
    claims["sub"].as_str().map(str::to_owned)
}

/// The payload of a JWT, decoded without any check (to find which client it names).
fn unverified_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Authenticates the client of a token, introspection or revocation request (RFC 6749 §2.3):
/// HTTP Basic with form-urlencoded id and secret, `client_secret_post`, `private_key_jwt`
/// (RFC 7523, `jti` single use), or `none` for a public client. The method must be the one
/// registered, and only one may be used.
async fn authenticate(
    state: &AppState,
    authorization: Option<&str>,
    p: &Params,
) -> Result<Arc<Client>, OAuthError> {
    let basic = basic_credentials(authorization)?;
    let assertion = match (p.get("client_assertion_type"), p.get("client_assertion")) {
        (Some(JWT_BEARER), Some(a)) => Some(a),
        (None, None) => None,
        _ => {
            return Err(OAuthError::invalid_client(format!(
                "client_assertion_type must be {JWT_BEARER}, with a client_assertion"
            )))
        }
    };
    let methods = usize::from(basic.is_some())
        + usize::from(p.has("client_secret"))
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "use one client authentication method, not two",
        ));
    }
    if let Some(assertion) = assertion {
        return authenticate_assertion(state, assertion, p.get("client_id")).await;
    }
    let (client_id, secret, method) = match &basic {
        Some((id, s)) => {
            if let Some(body_id) = p.get("client_id") {
                if body_id != id {
                    return Err(OAuthError::invalid_client(
                        "client_id does not match the credentials",
                    ));
                }
            }
            (
                id.as_str(),
                Some(s.as_str()),
                ClientAuthMethod::ClientSecretBasic,
            )
        }
        None => match (p.get("client_id"), p.get("client_secret")) {
            (Some(id), Some(s)) => (id, Some(s), ClientAuthMethod::ClientSecretPost),
            (Some(id), None) => (id, None, ClientAuthMethod::None),
            (None, _) => {
                return Err(OAuthError::invalid_client(
                    "client authentication is required",
                ))
            }
        },
    };
    let client = state
        .clients
        .get(client_id)
        .ok_or_else(|| OAuthError::invalid_client("unknown client or wrong credentials"))?;
    if client.auth_method != method {
        return Err(OAuthError::invalid_client(format!(
            "this client authenticates with {}",
            client.auth_method.as_str()
        )));
    }
    match (&client.secret_hash, secret) {
        (None, None) => Ok(client),
        (Some(hash), Some(s)) if state.master.verify_client_secret(s, hash) => Ok(client),
        _ => Err(OAuthError::invalid_client(
            "unknown client or wrong credentials",
        )),
    }
}

/// `private_key_jwt`: the assertion names the client (`iss`/`sub`), is signed by one of its
/// registered keys, is meant for us, and its `jti` has not been seen before.
async fn authenticate_assertion(
    state: &AppState,
    assertion: &str,
    client_id: Option<&str>,
) -> Result<Arc<Client>, OAuthError> {
    let bad = |why: &str| OAuthError::invalid_client(format!("client assertion: {why}"));
    // Find the client named inside the assertion before trusting anything in it.
    let unverified = unverified_claims(assertion).ok_or_else(|| bad("not a JWT"))?;
    let named = unverified["sub"].as_str().ok_or_else(|| bad("no sub"))?;
    if client_id.is_some_and(|c| c != named) {
        return Err(bad("client_id does not match the assertion"));
    }
    let client = state
        .clients
        .get(named)
        .ok_or_else(|| bad("unknown client"))?;
    if client.auth_method != ClientAuthMethod::PrivateKeyJwt {
        return Err(bad("this client does not use private_key_jwt"));
    }
    let jwks = client
        .jwks
        .as_deref()
        .ok_or_else(|| bad("no registered keys"))?;
    let token_endpoint = state.url("/token");
    let now = state.clock.now();
    let claims = verify_client_assertion(
        jwks,
        assertion,
        &client.id,
        &[token_endpoint.as_str(), state.issuer.as_str()],
        now,
    )
    .map_err(|e| bad(&e.to_string()))?;
    let ttl = Duration::from_secs((claims.exp - now.timestamp()).max(1).unsigned_abs());
    let first = state
        .ephemeral
        .put_if_absent(
            NS_ASSERTION_JTI,
            &format!("{}:{}", client.id, claims.jti),
            "1",
            ttl,
        )
        .await?;
    if !first {
        return Err(bad("jti was used before"));
    }
    Ok(client)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

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
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    crate::login::constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

/// `POST /token`
pub async fn token(
    state: &AppState,
    authorization: Option<&str>,
    p: &Params,
    from: &ClientIp,
    request_id: &str,
) -> Result<Value, OAuthError> {
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
    match grant {
        "client_credentials" => client_credentials(state, &client, p).await,
        "refresh_token" => refresh(state, &client, p, request_id).await,
        _ => authorization_code(state, &client, p, request_id).await,
    }
}

/// `client_credentials` (RFC 6749 §4.4): an access token for the client itself, `sub` = its
/// client id, scopes limited to the client's list (person scopes never apply). No scope asked:
/// every scope the client has.
async fn client_credentials(
    state: &AppState,
    client: &Client,
    p: &Params,
) -> Result<Value, OAuthError> {
    let machine: Vec<&str> = client
        .scopes
        .iter()
        .map(String::as_str)
        .filter(|s| !PERSON_SCOPES.contains(s))
        .collect();
    let granted: Vec<&str> = match p.get("scope") {
        None => machine.clone(),
        Some(asked) => {
            let asked: Vec<&str> = asked.split_ascii_whitespace().collect();
            if let Some(bad) = asked.iter().find(|s| !machine.contains(s)) {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    format!("scope {bad:?} is not granted to this client"),
                ));
            }
            asked
        }
    };
    let now = state.clock.now().timestamp();
    let ttl = secs(state.settings.tokens.access_token_ttl);
    let jti = crate::login::fresh_token(16).map_err(|_| OAuthError::server_error())?;
    let scope = granted.join(" ");
    let claims = AccessTokenClaims {
        iss: state.issuer.clone(),
        exp: now + ttl,
        aud: Audience::One(client.id.clone()),
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
    };
    let keys = state.key_set();
    let token = actix_web::web::block(move || keys.sign(TYP_ACCESS_TOKEN, &claims))
        .await
        .map_err(|_| OAuthError::server_error())?
        .map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            OAuthError::server_error()
        })?;
    state
        .metrics
        .tokens_issued
        .with_label_values(&["client_credentials"])
        .inc();
    Ok(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": scope,
    }))
}

/// A gateway access token that is valid now, not revoked, and of a client still registered;
/// or `None`.
pub(crate) async fn live_access_token(
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

/// `POST /introspect` (RFC 7662). Any confidential client may ask; anything unknown, expired,
/// revoked or not ours is `{"active": false}`.
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
    if let Some(record) = state
        .db
        .refresh_token(&state.master.lookup_hash(NS_REFRESH, token))
        .await?
    {
        let f = &record.family;
        // The family's client must still be registered; `sub` is the one that client sees.
        let owner = state.clients.get(&f.client_id);
        return Ok(match owner {
            Some(owner) if record.is_active(state.clock.now()) => json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": f.scopes.join(" "),
                "client_id": f.client_id,
                "sub": subject_for(state, &owner, &f.person_id)
                    .await?,
                "iss": state.issuer,
                "exp": f.expires_at.timestamp(),
                "iat": record.created_at.timestamp(),
            }),
            _ => json!({"active": false}),
        });
    }
    Ok(match live_access_token(state, token).await? {
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
            "token_type": "Bearer",
            "acr": c.acr,
            "auth_time": c.auth_time,
        }),
        None => json!({"active": false}),
    })
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
    let family = state
        .db
        .refresh_family_by_token(&state.master.lookup_hash(NS_REFRESH, token))
        .await?;
    if let Some(f) = family {
        if f.client_id == client.id {
            state
                .db
                .revoke_refresh_family(&f.family_id, "revoked", state.clock.now())
                .await?;
            revoke_grant(state, &f.client_id, &f.sid, "revoked").await?;
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

async fn authorization_code(
    state: &AppState,
    client: &Client,
    p: &Params,
    request_id: &str,
) -> Result<Value, OAuthError> {
    let code = p
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let key = state.master.lookup_hash(NS_CODE, code);
    let taken = state.ephemeral.take(NS_CODE, &key).await?;
    let Some(raw) = taken else {
        return Err(replayed_code(state, &key, client, request_id).await);
    };
    let data: CodeData = serde_json::from_str(&raw).map_err(|e| {
        tracing::error!(error = %e, "stored code unreadable");
        OAuthError::server_error()
    })?;
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

    let grant = Grant {
        person_id: data.person_id,
        scopes: data.scopes,
        auth_time: data.auth_time,
        level: data.level,
        sid: data.sid,
        idp: data.idp,
        login_idp: data.login_idp,
    };
    let (mut response, jti) = mint(state, client, &grant, data.nonce).await?;
    let mut family_id = None;
    if client.has_grant("refresh_token") {
        let token = crate::login::fresh_token(32).map_err(|_| OAuthError::server_error())?;
        let now = state.clock.now();
        let family = NewRefreshFamily {
            family_id: crate::login::fresh_token(16).map_err(|_| OAuthError::server_error())?,
            client_id: client.id.clone(),
            person_id: grant.person_id.clone(),
            scopes: grant.scopes.clone(),
            sid: grant.sid.clone(),
            auth_time: chrono::DateTime::from_timestamp(grant.auth_time, 0).unwrap_or(now),
            level: grant.level.number(),
            idp: grant.idp.clone(),
            login_idp: grant.login_idp.clone(),
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
    let used = UsedCode {
        jti,
        sid: grant.sid.clone(),
        family_id,
    };
    if let Ok(used) = serde_json::to_string(&used) {
        let _ = state
            .ephemeral
            .put(
                NS_CODE_USED,
                &key,
                &used,
                // A replay is looked for as long as the access token lives (and at least as long
                // as the code could have been used).
                state
                    .settings
                    .tokens
                    .access_token_ttl
                    .max(state.settings.tokens.code_ttl),
            )
            .await;
    }
    state
        .metrics
        .tokens_issued
        .with_label_values(&["authorization_code"])
        .inc();
    Ok(response)
}

/// What a redeemed code issued, kept under the code's hash so that a replay can revoke it.
#[derive(serde::Serialize, serde::Deserialize)]
struct UsedCode {
    /// The access token's `jti`.
    jti: String,
    /// The session: every access token of this client in it is revoked on a replay.
    sid: String,
    /// The refresh-token family, if one was issued.
    family_id: Option<String>,
}

/// What a grant is about, whichever way it was presented (code or refresh token).
struct Grant {
    person_id: String,
    scopes: Vec<String>,
    auth_time: i64,
    level: vneid_core::AssuranceLevel,
    sid: String,
    idp: String,
    login_idp: Option<String>,
}

/// Mints the access token and the ID token of a grant; returns the token response (without a
/// refresh token) and the access token's `jti`.
async fn mint(
    state: &AppState,
    client: &Client,
    grant: &Grant,
    nonce: Option<String>,
) -> Result<(Value, String), OAuthError> {
    let now = state.clock.now().timestamp();
    let settings = &state.settings.tokens;
    let person = state
        .db
        .person(&grant.person_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the person no longer exists"))?;
    let scope = grant.scopes.join(" ");
    let sub = subject_for(state, client, &grant.person_id).await?;
    let jti = crate::login::fresh_token(16).map_err(|e| {
        tracing::error!(error = %e, "no randomness");
        OAuthError::server_error()
    })?;
    let access = AccessTokenClaims {
        iss: state.issuer.clone(),
        exp: now + secs(settings.access_token_ttl),
        aud: Audience::One(client.id.clone()),
        sub: sub.clone(),
        client_id: client.id.clone(),
        iat: now,
        jti: jti.clone(),
        scope: scope.clone(),
        auth_time: Some(grant.auth_time),
        acr: Some(grant.level.acr().to_owned()),
        sid: Some(grant.sid.clone()),
        idp: Some(grant.idp.clone()),
        login_idp: grant.login_idp.clone(),
    };
    let has = |s: &str| grant.scopes.iter().any(|x| x == s);
    let id = IdTokenClaims {
        iss: state.issuer.clone(),
        sub,
        aud: client.id.clone(),
        exp: now + secs(settings.id_token_ttl),
        iat: now,
        auth_time: grant.auth_time,
        nonce,
        acr: grant.level.acr().to_owned(),
        amr: None,
        azp: Some(client.id.clone()),
        sid: grant.sid.clone(),
        idp: grant.idp.clone(),
        login_idp: grant.login_idp.clone(),
        name: if has("profile") {
            person.name.clone()
        } else {
            None
        },
        birthdate: if has("profile") {
            person.birthdate.map(|d| d.format("%Y-%m-%d").to_string())
        } else {
            None
        },
        personal_id: if has("personal_id") {
            open_personal_id(state, &person)
        } else {
            None
        },
        account: if has("account") {
            account_claim(
                state,
                &person.id,
                grant.level.number(),
                grant.login_idp.as_deref(),
            )
            .await?
        } else {
            None
        },
        at_hash: None,
    };
    let (access_token, id_token) = sign_pair(state, access, id).await?;
    Ok((
        json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": secs(settings.access_token_ttl),
            "id_token": id_token,
            "scope": scope,
        }),
        jti,
    ))
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
) -> Result<Value, OAuthError> {
    let presented = p
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let old_hash = state.master.lookup_hash(NS_REFRESH, presented);
    let new_token = crate::login::fresh_token(32).map_err(|_| OAuthError::server_error())?;
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
    // A narrower scope may be asked (RFC 6749 §6), never a wider one.
    let scopes = match p.get("scope") {
        None => family.scopes.clone(),
        Some(asked) => {
            let asked: Vec<String> = asked.split_ascii_whitespace().map(str::to_owned).collect();
            if asked.iter().any(|s| !family.scopes.contains(s)) {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "a refresh cannot widen the scope",
                ));
            }
            asked
        }
    };
    let level = vneid_core::AssuranceLevel::from_number(i64::from(family.level))
        .map_err(|_| OAuthError::server_error())?;
    let grant = Grant {
        person_id: family.person_id,
        scopes,
        auth_time: family.auth_time.timestamp(),
        level,
        sid: family.sid,
        idp: family.idp,
        login_idp: family.login_idp,
    };
    let (mut response, _) = mint(state, client, &grant, None).await?;
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

/// Makes every access token of a grant (client + session) inactive at introspection and
/// userinfo until it would have expired anyway, durably. `client_id` `*` means every client.
pub async fn revoke_grant(
    state: &AppState,
    client_id: &str,
    sid: &str,
    reason: &str,
) -> Result<(), vneid_store::StoreError> {
    revocation::revoke(
        state,
        &[Revoked::Grant {
            client: client_id,
            sid,
        }],
        reason,
        revocation::grant_until(state),
    )
    .await
}

/// Signs the access token and the ID token (with its `at_hash`) on the blocking pool: two
/// RSA-2048 signatures are about 2 ms of CPU, too long to hold an async worker.
async fn sign_pair(
    state: &AppState,
    access: AccessTokenClaims,
    mut id: IdTokenClaims,
) -> Result<(String, String), OAuthError> {
    let keys = state.key_set();
    let signed = actix_web::web::block(move || {
        let access_token = keys.sign(TYP_ACCESS_TOKEN, &access)?;
        id.at_hash = Some(at_hash(&access_token, keys.signing_alg()));
        let id_token = keys.sign(TYP_ID_TOKEN, &id)?;
        Ok::<_, vneid_tokens::TokenError>((access_token, id_token))
    })
    .await;
    match signed {
        Ok(Ok(pair)) => Ok(pair),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "signing failed");
            Err(OAuthError::server_error())
        }
        Err(e) => {
            tracing::error!(error = %e, "signing task failed");
            Err(OAuthError::server_error())
        }
    }
}

/// A code that is not (or no longer) there: expired, unknown, or used before. When used before,
/// everything it issued is revoked (RFC 6749 §4.1.2, RFC 9700 §4.5): the access token, every
/// access token of the client in that session, and the refresh-token family; and it is audited.
async fn replayed_code(
    state: &AppState,
    key: &str,
    client: &Client,
    request_id: &str,
) -> OAuthError {
    let used = match state.ephemeral.take(NS_CODE_USED, key).await {
        Ok(Some(raw)) => serde_json::from_str::<UsedCode>(&raw).ok(),
        _ => None,
    };
    if let Some(used) = used {
        if let Err(e) = revocation::revoke(
            state,
            &[
                Revoked::Token { jti: &used.jti },
                Revoked::Grant {
                    client: &client.id,
                    sid: &used.sid,
                },
            ],
            "code_replay",
            revocation::grant_until(state),
        )
        .await
        {
            tracing::error!(error = %e, "could not revoke after code replay");
        }
        if let Some(family) = &used.family_id {
            if let Err(e) = state
                .db
                .revoke_refresh_family(family, "code_replay", state.clock.now())
                .await
            {
                tracing::error!(error = %e, "could not revoke the refresh tokens after code replay");
            }
        }
        tracing::warn!(client_id = %client.id, "authorization code replayed; its tokens are revoked");
        let _ = state
            .db
            .append_audit(
                &AuditEvent::new("code_replay", "revoked")
                    .at(state.clock.now())
                    .client_id(&client.id)
                    .request_id(request_id)
                    .detail(json!({ "refresh_family_revoked": used.family_id.is_some() })),
            )
            .await;
    }
    OAuthError::invalid_grant("the code is unknown, expired or already used")
}

fn open_personal_id(state: &AppState, person: &vneid_store::PersonRecord) -> Option<String> {
    let sealed = person.personal_id_sealed.as_ref()?;
    match state.master.open(sealed, b"personal_id") {
        Ok(bytes) => String::from_utf8(bytes).ok(),
        Err(e) => {
            tracing::error!(error = %e, person_id = %person.id, "cannot open a sealed personal ID number");
            None
        }
    }
}

/// `/userinfo`: the claims the access token's scopes release.
pub async fn userinfo(state: &AppState, bearer: &str) -> Result<Value, OAuthError> {
    let claims = live_access_token(state, bearer).await?.ok_or_else(|| {
        OAuthError::invalid_token("the access token is invalid, expired or revoked")
    })?;
    if claims.sid.is_none() {
        return Err(OAuthError::invalid_token(
            "this access token is not about a person",
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
    if scopes.contains(&"profile") {
        if let Some(n) = &person.name {
            out.insert("name".into(), json!(n));
        }
        if let Some(b) = person.birthdate {
            out.insert("birthdate".into(), json!(b.format("%Y-%m-%d").to_string()));
        }
    }
    if scopes.contains(&"personal_id") {
        if let Some(pid) = open_personal_id(state, &person) {
            out.insert("personal_id".into(), json!(pid));
        }
    }
    if scopes.contains(&"account") {
        let level = claims
            .acr
            .as_deref()
            .and_then(|a| vneid_core::AssuranceLevel::from_acr(a).ok())
            .map_or(0, |l| l.number());
        if let Some(account) =
            account_claim(state, &person.id, level, claims.login_idp.as_deref()).await?
        {
            out.insert("account".into(), account);
        }
    }
    Ok(Value::Object(out))
}

/// The `account` claim (scope `account`): the one-stop-shop account linked to the person —
/// a staff account only to a grant made through VNeID at level 2.
async fn account_claim(
    state: &AppState,
    person_id: &str,
    level: u8,
    login_idp: Option<&str>,
) -> Result<Option<Value>, OAuthError> {
    let Some((_, account)) = state.db.account_link_by_person(person_id).await? else {
        return Ok(None);
    };
    if !vneid_directory::link::account_reachable(
        &account.kind,
        level,
        login_idp,
        &state.settings.policy.vneid_login_idp,
    ) {
        return Ok(None);
    }
    Ok(Some(json!({
        "username": account.username,
        "unit_code": account.unit_code,
        "unit_name": account.unit_name,
        "kind": account.kind,
    })))
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

    proptest::proptest! {
        /// The `Authorization` header and the client fields of a token request are attacker
        /// text: any value is a client id, an `invalid_client` error or nothing — never a panic.
        #[test]
        fn client_credentials_never_panic(
            header in "\\PC{0,200}",
            b64 in "[A-Za-z0-9+/=]{0,120}",
            assertion in "\\PC{0,300}",
            segment in "[A-Za-z0-9_-]{0,200}",
        ) {
            let _ = basic_credentials(Some(&header));
            let _ = basic_credentials(Some(&format!("Basic {b64}")));
            let form = serde_urlencoded::to_string([("client_assertion", assertion.as_str())]).unwrap();
            let p = Params::parse(form.as_bytes()).unwrap();
            let _ = claimed_client_id(None, &p);
            let _ = unverified_claims(&format!("x.{segment}.y"));
            let _ = pkce_matches(&assertion, &segment);
        }
    }
}
