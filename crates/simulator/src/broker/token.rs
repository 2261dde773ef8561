//! The back channel: client authentication, the code exchange (with PKCE), the signed ID token
//! and userinfo.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::error::OAuthError;
use super::secret::{ct_eq, random_token};
use super::store::{AccessGrant, SpentCode};
use super::{Broker, ACCESS_TOKEN_TTL, CODE_TTL, ID_TOKEN_TTL};
use crate::params::{self, Params};
use crate::SimClient;

/// The session-level `acr` the broker puts in ID tokens; it says nothing about the person's level.
const SESSION_ACR: &str = "LoA1";

/// The S256 PKCE challenge of `verifier`.
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43–128 unreserved characters.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl Broker {
    /// The client that authenticated with exactly one method (HTTP Basic or `client_secret_post`),
    /// its secret compared in constant time whether or not the client exists.
    fn authenticate(
        &self,
        p: &Params,
        authorization: Option<&[u8]>,
    ) -> Result<&SimClient, OAuthError> {
        let basic = match authorization {
            None => None,
            Some(h) => Some(parse_basic(h).ok_or_else(|| {
                OAuthError::invalid_client("malformed HTTP Basic client credentials")
            })?),
        };
        let (client_id, secret) = match (basic, p.get("client_secret")) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not both",
                ))
            }
            (Some((id, secret)), None) => {
                if p.get("client_id").is_some_and(|b| b != id) {
                    return Err(OAuthError::invalid_request(
                        "client_id in the body differs from the authenticated client",
                    ));
                }
                (id, secret)
            }
            (None, Some(secret)) => {
                let id = p.get("client_id").ok_or_else(|| {
                    OAuthError::invalid_client("client_id is required with client_secret_post")
                })?;
                (id.to_owned(), secret.to_owned())
            }
            (None, None) => {
                return Err(OAuthError::invalid_client(
                    "client authentication is required",
                ))
            }
        };
        let client = self.client(&client_id);
        let expected = client.map(|c| c.client_secret.as_bytes()).unwrap_or(b"");
        let ok = ct_eq(expected, secret.as_bytes());
        match client {
            Some(c) if ok => Ok(c),
            _ => {
                tracing::info!(client_id = %client_id, "token: client authentication failed");
                Err(OAuthError::invalid_client("client authentication failed"))
            }
        }
    }

    /// The code exchange. A code works once, for its client, redirect URI and PKCE verifier,
    /// within [`CODE_TTL`]; a replayed code revokes the access token it issued.
    pub(crate) fn token(
        &self,
        p: &Params,
        authorization: Option<&[u8]>,
    ) -> Result<Value, OAuthError> {
        let client = self.authenticate(p, authorization)?;
        match p.get("grant_type") {
            Some("authorization_code") => {}
            None => return Err(OAuthError::invalid_request("grant_type is required")),
            Some(_) => {
                return Err(OAuthError {
                    status: 400,
                    error: "unsupported_grant_type",
                    description: "only authorization_code is supported".to_owned(),
                })
            }
        }
        let code = p
            .get("code")
            .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let redirect_uri = p
            .get("redirect_uri")
            .ok_or_else(|| OAuthError::invalid_request("redirect_uri is required"))?;
        let now = self.now();
        let grant = {
            let mut store = self.store(now);
            let Some(grant) = store.codes.remove(code) else {
                let revoked = store
                    .spent
                    .get_mut(code)
                    .and_then(|s| s.access_token.take());
                if let Some(token) = revoked {
                    store.tokens.remove(&token);
                    tracing::warn!(
                        client_id = %client.client_id,
                        "authorization code replayed: the access token it issued is revoked"
                    );
                }
                return Err(OAuthError::invalid_grant(
                    "authorization code is invalid, expired or already used",
                ));
            };
            store.spent.insert(
                code.to_owned(),
                SpentCode {
                    at: now,
                    access_token: None,
                },
            );
            grant
        };
        if grant.req.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "authorization code was issued to another client",
            ));
        }
        if grant.req.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        if grant.issued + CODE_TTL <= now {
            return Err(OAuthError::invalid_grant("authorization code expired"));
        }
        match (&grant.req.code_challenge, p.get("code_verifier")) {
            (None, None) => {}
            (Some(challenge), Some(verifier)) => {
                if !valid_verifier(verifier)
                    || !ct_eq(s256(verifier).as_bytes(), challenge.as_bytes())
                {
                    return Err(OAuthError::invalid_grant("PKCE verification failed"));
                }
            }
            (Some(_), None) => {
                return Err(OAuthError::invalid_grant("code_verifier is required"));
            }
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier given but the authorization request had no code_challenge",
                ));
            }
        }
        let person = self.person(&grant.personal_id).ok_or_else(|| {
            tracing::error!("a code names a person who is not configured");
            OAuthError::server_error()
        })?;
        let mut claims = json!({
            "iss": self.issuer,
            "sub": person.sub,
            "aud": client.client_id,
            "iat": now.timestamp(),
            "exp": (now + ID_TOKEN_TTL).timestamp(),
            "acr": SESSION_ACR,
        });
        if let (Some(nonce), Some(obj)) = (&grant.req.nonce, claims.as_object_mut()) {
            obj.insert("nonce".to_owned(), Value::String(nonce.clone()));
        }
        let id_token = self.signer.sign(&claims).map_err(|e| {
            tracing::error!(error = %e, "ID token signing failed");
            OAuthError::server_error()
        })?;
        let access_token = random_token()?;
        {
            let mut store = self.store(now);
            store.tokens.insert(
                access_token.clone(),
                AccessGrant {
                    personal_id: grant.personal_id.clone(),
                    expires: now + ACCESS_TOKEN_TTL,
                },
            );
            if let Some(spent) = store.spent.get_mut(code) {
                spent.access_token = Some(access_token.clone());
            }
        }
        tracing::info!(client_id = %client.client_id, "tokens issued");
        Ok(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_TTL.num_seconds(),
            "id_token": id_token,
            "scope": "openid",
        }))
    }

    /// Userinfo for a Bearer `Authorization` header value; `None` when the token is missing,
    /// unknown or expired.
    pub(crate) fn userinfo(&self, authorization: Option<&[u8]>) -> Option<Value> {
        let header = std::str::from_utf8(authorization?).ok()?;
        let (scheme, token) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let token = token.trim();
        let personal_id = {
            let store = self.store(self.now());
            store.tokens.get(token)?.personal_id.clone()
        };
        let person = self.person(&personal_id)?;
        let mut out = Map::new();
        let mut put = |field: &str, v: Value| {
            out.insert(self.output_name(field), v);
        };
        put("sub", json!(person.sub));
        put("TechID", json!(person.tech_id));
        put("LoaiTaiKhoan", json!(person.account_type));
        // An organisation's fields, for the records that have them.
        for (field, value) in [
            ("MaSoDoanhNghiep", &person.enterprise_code),
            ("MaSoThue", &person.tax_code),
            ("TenDoanhNghiep", &person.organisation_name),
            ("NguoiDaiDien", &person.representative),
        ] {
            if let Some(v) = value {
                put(field, json!(v));
            }
        }
        put("HoVaTen", json!(person.full_name));
        put("SoDinhDanh", json!(person.personal_id));
        put("NgayThangNamSinh", json!(person.birth_date));
        put("loginIdp", json!(person.login_idp));
        if let Some(ial) = &person.ial {
            put("IAL", ial.clone());
        }
        put("loAs", json!(person.loas));
        put("userProfileUri", json!(format!("{}/profile", self.issuer)));
        put("logoutUri", json!(format!("{}/logout", self.issuer)));
        Some(Value::Object(out))
    }
}

/// `Basic base64(form-urlencoded id ":" form-urlencoded secret)` (RFC 6749 §2.3.1).
pub(super) fn parse_basic(header: &[u8]) -> Option<(String, String)> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, rest) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let id = String::from_utf8(params::decode(&decoded[..colon]).ok()?).ok()?;
    let secret = String::from_utf8(params::decode(&decoded[colon + 1..]).ok()?).ok()?;
    if id.is_empty() {
        return None;
    }
    Some((id, secret))
}
