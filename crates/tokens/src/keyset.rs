//! The key set in force at a given time: which keys are published in the JWKS, which one
//! signs, and signing and verifying our own tokens.

use aws_lc_rs::rand::SystemRandom;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::TokenError;
use crate::keys::{JwkKey, KeyRecord, PublicJwk, SigningAlg, SigningKey};
use crate::master::MasterKey;

/// `typ` of ID tokens.
pub const TYP_ID_TOKEN: &str = "JWT";
/// `typ` of access tokens (RFC 9068).
pub const TYP_ACCESS_TOKEN: &str = "at+jwt";
/// `typ` of back-channel logout tokens (OIDC Back-Channel Logout 1.0).
pub const TYP_LOGOUT_TOKEN: &str = "logout+jwt";
/// `typ` of forward-auth assertions, the JWT a protected app's proxy passes to the app.
pub const TYP_APP_ASSERTION: &str = "vneid-assertion+jwt";

/// The keys in force at one moment, built once from the stored records and shared (behind an
/// `Arc`) by every request until the next rotation.
///
/// Only keys whose private key opens under the master key are published or trusted: the clear
/// `public_jwk` column is checked, never believed, so a row written into the database by
/// someone without the master key cannot make the gateway accept a forged token.
///
/// Signing uses the key pair aws-lc-rs parsed once when the set was built; verification goes through
/// `jsonwebtoken` with decoding keys built once from the public components, so every test that
/// signs and verifies also checks our JWS encoding against an independent implementation.
pub struct KeySet {
    signer: SigningKey,
    rng: SystemRandom,
    published: Vec<Published>,
    jwks: serde_json::Value,
    /// `jwks` serialised once, for `/jwks`.
    jwks_json: String,
    next_transition: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("signing_kid", &self.signer.kid())
            .field("signing_alg", &self.signer.alg())
            .field(
                "published",
                &self
                    .published
                    .iter()
                    .map(|p| p.jwk.kid.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("next_transition", &self.next_transition)
            .finish()
    }
}

struct Published {
    jwk: PublicJwk,
    decoding: DecodingKey,
}

impl KeySet {
    /// Builds the key set in force at `now`.
    ///
    /// - Published: every record not retired (`retires_at` absent or after `now`), including
    ///   keys not active yet, so relying parties learn them before they sign anything.
    /// - Signing: among the published, the newest whose `activates_at` is at or before `now`
    ///   (newest by `activates_at`, then `created_at`). None → [`TokenError::NoActiveSigningKey`].
    ///
    /// Every published record is opened and checked ([`MasterKey::open_signing_key`]); one that
    /// fails makes the whole call fail, naming its kid. A kid seen twice is refused too.
    pub fn from_records(
        records: &[KeyRecord],
        master: &MasterKey,
        now: DateTime<Utc>,
    ) -> Result<KeySet, TokenError> {
        let mut live: Vec<(&KeyRecord, SigningKey)> = Vec::new();
        for record in records {
            if record.retires_at.is_some_and(|retires| retires <= now) {
                continue;
            }
            if live.iter().any(|(seen, _)| seen.kid == record.kid) {
                return Err(TokenError::InvalidKey {
                    kid: record.kid.clone(),
                    reason: "two records have this kid".to_owned(),
                });
            }
            live.push((record, master.open_signing_key(record)?));
        }
        // Newest first: the JWKS lists them in that order and the signer is the first active.
        live.sort_by(|(a, _), (b, _)| {
            (b.activates_at, b.created_at, &b.kid).cmp(&(a.activates_at, a.created_at, &a.kid))
        });

        let signing_index = live
            .iter()
            .position(|(record, _)| record.activates_at <= now)
            .ok_or(TokenError::NoActiveSigningKey(now))?;

        let mut published = Vec::with_capacity(live.len());
        for (_, key) in &live {
            let jwk = key.public_jwk().clone();
            let decoding = decoding_key(&jwk.key).map_err(|reason| TokenError::InvalidKey {
                kid: jwk.kid.clone(),
                reason,
            })?;
            published.push(Published { jwk, decoding });
        }
        let signer = live.swap_remove(signing_index).1;
        let jwks = serde_json::json!({
            "keys": published.iter().map(|p| p.jwk.to_json()).collect::<Vec<_>>(),
        });
        let jwks_json = jwks.to_string();

        let next_transition = records
            .iter()
            .flat_map(|r| [Some(r.activates_at), r.retires_at])
            .flatten()
            .filter(|at| *at > now)
            .min();

        tracing::debug!(
            signing_kid = %signer.kid(),
            signing_alg = %signer.alg(),
            published = published.len(),
            "key set built"
        );
        Ok(KeySet {
            signer,
            rng: SystemRandom::new(),
            published,
            jwks,
            jwks_json,
            next_transition,
        })
    }

    /// The JWKS document: `{"keys": [...]}` with every published key, newest first.
    pub fn jwks(&self) -> serde_json::Value {
        self.jwks.clone()
    }

    /// [`KeySet::jwks`] as JSON text, serialised once when the set was built.
    pub fn jwks_json(&self) -> &str {
        &self.jwks_json
    }

    /// The kid tokens are signed with now.
    pub fn signing_kid(&self) -> &str {
        self.signer.kid()
    }

    /// The algorithm tokens are signed with now.
    pub fn signing_alg(&self) -> SigningAlg {
        self.signer.alg()
    }

    /// The earliest future `activates_at` or `retires_at` among the records this set was built
    /// from: rebuild the set from the store at or after that time. `None`: nothing scheduled.
    pub fn next_transition(&self) -> Option<DateTime<Utc>> {
        self.next_transition
    }

    /// Signs `claims` as a JWS with header `alg`, `kid` and `typ` (use [`TYP_ID_TOKEN`],
    /// [`TYP_ACCESS_TOKEN`] or [`TYP_LOGOUT_TOKEN`]).
    ///
    /// RS256 signing costs about a millisecond of CPU: see the benchmark before calling it on
    /// an async worker.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, TokenError> {
        let header = serde_json::json!({
            "alg": self.signer.alg().as_str(),
            "kid": self.signer.kid(),
            "typ": typ,
        });
        let header = serde_json::to_vec(&header).map_err(|e| TokenError::Claims(e.to_string()))?;
        let claims = serde_json::to_vec(claims).map_err(|e| TokenError::Claims(e.to_string()))?;
        // RFC 7519 §7.2: the claims set is a JSON object.
        if claims.first() != Some(&b'{') {
            return Err(TokenError::Claims(
                "claims must serialize to a JSON object".to_owned(),
            ));
        }
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims));
        let signature = self.signer.sign_message(&self.rng, token.as_bytes())?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }

    /// Verifies one of our own tokens and returns its claims.
    ///
    /// Checks, in order: the header names a published kid; `alg` is that key's; `typ` is
    /// `expected_typ` (compared as a media type: case-insensitive, `application/` optional);
    /// the signature; `iss` equals `issuer`; `exp` is after `now` (no leeway: our own clock
    /// made it); `nbf`, if present, is not after `now`. The audience is the caller's to check
    /// (it differs per endpoint).
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        expected_typ: &str,
        issuer: &str,
        now: DateTime<Utc>,
    ) -> Result<T, TokenError> {
        self.verify_at(token, expected_typ, issuer, Some(now))
    }

    /// Like [`KeySet::verify`] but accepts an expired token: for `id_token_hint` at logout
    /// (OpenID RP-Initiated Logout 1.0 §2: "the OP need not be concerned with whether the ID
    /// Token has expired"). The signature must still be one of ours and `iss` ours.
    pub fn verify_ignoring_expiry<T: DeserializeOwned>(
        &self,
        token: &str,
        expected_typ: &str,
        issuer: &str,
    ) -> Result<T, TokenError> {
        self.verify_at(token, expected_typ, issuer, None)
    }

    fn verify_at<T: DeserializeOwned>(
        &self,
        token: &str,
        expected_typ: &str,
        issuer: &str,
        now: Option<DateTime<Utc>>,
    ) -> Result<T, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.published.iter().find(|p| p.jwk.kid == kid))
            .ok_or(TokenError::UnknownKey)?;
        let alg = key.jwk.alg.jwt_algorithm();
        if header.alg != alg {
            return Err(TokenError::WrongAlgorithm);
        }
        if !header
            .typ
            .as_deref()
            .is_some_and(|typ| same_media_type(typ, expected_typ))
        {
            return Err(TokenError::WrongType {
                expected: expected_typ.to_owned(),
                found: header.typ,
            });
        }

        let mut validation = Validation::new(alg);
        // Time, issuer and audience are checked below against the injected clock.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
                _ => TokenError::Malformed(e.to_string()),
            })?;
        let claims = data.claims;

        if claims.get("iss").and_then(|v| v.as_str()) != Some(issuer) {
            return Err(TokenError::WrongIssuer);
        }
        if let Some(now) = now {
            let now = now.timestamp();
            let exp = claims
                .get("exp")
                .and_then(|v| v.as_i64())
                .ok_or(TokenError::MissingClaim("exp"))?;
            if now >= exp {
                return Err(TokenError::Expired);
            }
            if let Some(nbf) = claims.get("nbf") {
                let nbf = nbf.as_i64().ok_or(TokenError::MissingClaim("nbf"))?;
                if now < nbf {
                    return Err(TokenError::NotYetValid);
                }
            }
        }
        serde_json::from_value(claims).map_err(|e| TokenError::Claims(e.to_string()))
    }
}

/// RFC 7515 §4.1.9: `typ` is a media type, compared case-insensitively, and `application/`
/// may be left out.
fn same_media_type(a: &str, b: &str) -> bool {
    const PREFIX: &str = "application/";
    fn short(t: &str) -> &str {
        match (t.get(..PREFIX.len()), t.get(PREFIX.len()..)) {
            (Some(prefix), Some(rest)) if prefix.eq_ignore_ascii_case(PREFIX) => rest,
            _ => t,
        }
    }
    short(a).eq_ignore_ascii_case(short(b))
}

fn decoding_key(key: &JwkKey) -> Result<DecodingKey, String> {
    match key {
        JwkKey::Rsa { n, e } => DecodingKey::from_rsa_components(n, e),
        JwkKey::Ec { x, y, .. } => DecodingKey::from_ec_components(x, y),
        JwkKey::Okp { x, .. } => DecodingKey::from_ed_components(x),
    }
    .map_err(|e| e.to_string())
}
