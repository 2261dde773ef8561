//! DPoP (RFC 9449) at the gateway: the proof a client sends with a token request (`/token`,
//! `/par`), and the proof that must go with a DPoP-bound access token at a resource
//! (`/userinfo`, the admin API). The proof itself is checked by
//! [`vneid_tokens::verify_dpop_proof`]; here is what needs the gateway's state: the server
//! nonce (`DPoP-Nonce`, §8) and the `jti` replay cache (§11.1).
//!
//! The nonce needs no storage: it is a keyed hash of the current rotation window
//! (`dpop.nonce_rotation`) under the master key, so every replica hands out and accepts the
//! same values. The current and the previous window's nonces are accepted.

use std::time::Duration;

use vneid_tokens::{
    verify_dpop_proof, AccessTokenClaims, DpopProof, MasterKey, ProofCheck, TokenError,
};

use super::live_access_token;
pub use crate::errors::ProofAt as At;
use crate::errors::{OAuthError, TokenScheme};
use crate::state::AppState;

/// Ephemeral namespace of the `jti` of proofs already seen.
pub const NS_DPOP_JTI: &str = "dpop_jti";
/// Hash domain of the server nonce.
const NONCE_DOMAIN: &str = "dpop_nonce";
/// Seconds of clock skew added to how long a `jti` is remembered.
const SKEW_SECS: u64 = 5;

/// A request's DPoP proof (the one `DPoP` header, if any) and what it was sent to.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    pub proof: Option<&'a str>,
    /// `POST`, `GET`.
    pub method: &'a str,
    /// The URL the request was sent to, without query (`{issuer}/token`).
    pub htu: &'a str,
}

/// The nonce of the current rotation window: what `DPoP-Nonce` carries.
pub fn current_nonce(state: &AppState) -> String {
    let (now, rotation) = nonce_clock(state);
    nonce_of_window(&state.master, window(now, rotation))
}

fn nonce_clock(state: &AppState) -> (i64, Duration) {
    (
        state.clock.now().timestamp(),
        state.settings.dpop.nonce_rotation,
    )
}

fn window(now: i64, rotation: Duration) -> i64 {
    let rotation = i64::try_from(rotation.as_secs().max(1)).unwrap_or(i64::MAX);
    now.div_euclid(rotation)
}

fn nonce_of_window(master: &MasterKey, window: i64) -> String {
    let mut hash = master.lookup_hash(NONCE_DOMAIN, &window.to_string());
    hash.truncate(32);
    hash
}

/// Whether `nonce` is the current window's or the previous one's.
fn nonce_is_current(master: &MasterKey, now: i64, rotation: Duration, nonce: &str) -> bool {
    let w = window(now, rotation);
    [w, w - 1].into_iter().any(|w| {
        crate::secure::constant_time_eq(nonce.as_bytes(), nonce_of_window(master, w).as_bytes())
    })
}

/// Checks the proof of `request`, if one was sent, without remembering it: signature, method,
/// URL, age, `ath` for `access_token`, and the nonce. `Ok(None)`: no proof.
pub fn check(
    state: &AppState,
    request: &ProofRequest<'_>,
    access_token: Option<&str>,
    at: At,
) -> Result<Option<DpopProof>, OAuthError> {
    let Some(proof) = request.proof else {
        return Ok(None);
    };
    let verified = verify_dpop_proof(
        proof,
        &ProofCheck {
            htm: request.method,
            htu: request.htu,
            now: state.clock.now(),
            max_age_secs: i64::try_from(state.settings.dpop.proof_max_age.as_secs()).unwrap_or(60),
            access_token,
        },
    )
    .map_err(|e| {
        let reason = if matches!(e, TokenError::Expired) {
            "too_old"
        } else {
            "invalid"
        };
        refused(
            state,
            reason,
            OAuthError::invalid_dpop_proof(at, describe(&e)),
        )
    })?;
    if state.settings.dpop.require_nonce
        && !verified.nonce.as_deref().is_some_and(|n| {
            let (now, rotation) = nonce_clock(state);
            nonce_is_current(&state.master, now, rotation, n)
        })
    {
        return Err(refused(
            state,
            "nonce_needed",
            OAuthError::use_dpop_nonce(at, current_nonce(state)),
        ));
    }
    Ok(Some(verified))
}

/// Remembers a checked proof's `jti` for as long as the proof could be accepted; a proof seen
/// before is refused (RFC 9449 §11.1). Keyed by the proof's key too, so that one client cannot
/// block another's `jti`.
pub async fn remember(state: &AppState, proof: &DpopProof, at: At) -> Result<(), OAuthError> {
    let ttl = state.settings.dpop.proof_max_age + Duration::from_secs(2 * SKEW_SECS);
    let key = state
        .master
        .lookup_hash(NS_DPOP_JTI, &format!("{}:{}", proof.jkt, proof.jti));
    let first = state
        .ephemeral
        .put_if_absent(NS_DPOP_JTI, &key, "1", ttl)
        .await?;
    if !first {
        return Err(refused(
            state,
            "replayed",
            OAuthError::invalid_dpop_proof(
                at,
                "the proof was used before (its jti was seen): make a new proof for each request",
            ),
        ));
    }
    Ok(())
}

/// [`check`] then [`remember`]: the key thumbprint of the request's proof, if it sent one.
pub async fn verify(
    state: &AppState,
    request: &ProofRequest<'_>,
    access_token: Option<&str>,
    at: At,
) -> Result<Option<String>, OAuthError> {
    let Some(proof) = check(state, request, access_token, at)? else {
        return Ok(None);
    };
    remember(state, &proof, at).await?;
    Ok(Some(proof.jkt))
}

/// An access token as a resource request presents it (RFC 6750 `Bearer`, or RFC 9449 §7.1
/// `DPoP` with a proof).
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    pub scheme: TokenScheme,
    pub token: &'a str,
    pub proof: ProofRequest<'a>,
}

/// The live access token of a resource request, with its binding honoured: a DPoP-bound token
/// only with the `DPoP` scheme and a proof by its key (never as `Bearer`, §7.2), an unbound one
/// only as `Bearer`.
pub async fn presented_token(
    state: &AppState,
    presented: &Presented<'_>,
) -> Result<AccessTokenClaims, OAuthError> {
    let claims = live_access_token(state, presented.token)
        .await?
        .ok_or_else(|| {
            OAuthError::invalid_token_for(
                presented.scheme,
                "the access token is invalid, expired or revoked",
            )
        })?;
    match (&claims.cnf, presented.scheme) {
        (None, TokenScheme::Bearer) => Ok(claims),
        (None, TokenScheme::Dpop) => Err(OAuthError::invalid_token_for(
            TokenScheme::Dpop,
            "this access token is not DPoP-bound: send it as Bearer",
        )),
        (Some(_), TokenScheme::Bearer) => Err(refused(
            state,
            "bearer",
            OAuthError::invalid_token_for(
                TokenScheme::Dpop,
                "this access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof",
            ),
        )),
        (Some(cnf), TokenScheme::Dpop) => {
            let jkt = verify(state, &presented.proof, Some(presented.token), At::Resource)
                .await?
                .ok_or_else(|| {
                    refused(
                        state,
                        "missing",
                        OAuthError::invalid_dpop_proof(
                            At::Resource,
                            "a DPoP proof is required with a DPoP-bound access token",
                        ),
                    )
                })?;
            if !crate::secure::constant_time_eq(jkt.as_bytes(), cnf.jkt.as_bytes()) {
                return Err(refused(
                    state,
                    "wrong_key",
                    OAuthError::invalid_dpop_proof(
                        At::Resource,
                        "the proof is not signed by the key the access token is bound to",
                    ),
                ));
            }
            Ok(claims)
        }
    }
}

/// Refuses a proof whose algorithm the client's profile does not allow (FAPI 2.0: ES256, PS256,
/// EdDSA), once the client is known.
pub fn allowed_for(
    state: &AppState,
    client: &crate::clients::Client,
    proof: &DpopProof,
) -> Result<(), OAuthError> {
    if client.allows_alg(proof.alg) {
        return Ok(());
    }
    Err(refused(
        state,
        "invalid",
        OAuthError::invalid_dpop_proof(
            At::AuthorizationServer,
            format!(
                "alg {} is not allowed for this client (FAPI 2.0: ES256, PS256, EdDSA)",
                proof.alg
            ),
        ),
    ))
}

/// Counts a refusal in `vneid_dpop_refused_total{reason}` and returns its error.
pub fn refused(state: &AppState, reason: &'static str, e: OAuthError) -> OAuthError {
    state
        .metrics
        .dpop_refused
        .with_label_values(&[reason])
        .inc();
    e
}

/// A proof's refusal in words for `error_description` (never the proof itself).
fn describe(e: &TokenError) -> String {
    match e {
        TokenError::Expired => {
            "the proof is too old (iat): make a new proof for each request".into()
        }
        TokenError::NotYetValid => "the proof's iat is in the future".into(),
        other => format!("the DPoP proof is invalid: {other}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_lives_its_window_and_the_next_then_stops_working() {
        let master = MasterKey::from_base64(&"A".repeat(43)).unwrap();
        let rotation = Duration::from_secs(300);
        let t0 = 1_800_000_100;
        let nonce = nonce_of_window(&master, window(t0, rotation));
        assert_eq!(nonce.len(), 32);
        assert!(nonce_is_current(&master, t0, rotation, &nonce));
        assert!(nonce_is_current(&master, t0 + 300, rotation, &nonce));
        assert!(!nonce_is_current(&master, t0 + 600, rotation, &nonce));
        // The window after is another nonce; a nonce under another master key is not ours.
        assert_ne!(nonce, nonce_of_window(&master, window(t0 + 300, rotation)));
        let other = MasterKey::from_base64(&"Q".repeat(43)).unwrap();
        assert!(!nonce_is_current(&other, t0, rotation, &nonce));
        assert!(!nonce_is_current(&master, t0, rotation, ""));
    }
}
