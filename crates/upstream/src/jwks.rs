//! The upstream's signing keys: fetched lazily, cached, refetched on an unknown `kid` at most
//! once per [`FORCED_REFETCH_INTERVAL`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use crate::error::bounded;
use crate::http::fetch;
use crate::UpstreamError;

/// Keys are refetched after this long even when every `kid` is known.
const JWKS_TTL: Duration = Duration::from_secs(3600);

/// An unknown `kid` causes a refetch at most this often, so tokens naming random key ids cannot
/// drive the gateway to hammer the upstream.
pub(crate) const FORCED_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(crate) struct JwksCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    keys: Option<Cached>,
    last_forced: Option<Instant>,
    failure: Option<(Instant, UpstreamError)>,
}

struct Cached {
    uri: Url,
    at: Instant,
    keys: Arc<Vec<Jwk>>,
}

impl JwksCache {
    /// The keys that may verify a token with this `kid` and `alg`. On an unknown `kid`, one
    /// refetch (rate-limited) before giving up.
    pub async fn verification_keys(
        &self,
        http: &reqwest::Client,
        uri: &Url,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Vec<DecodingKey>, UpstreamError> {
        let asked = Instant::now();
        let mut state = self.state.lock().await;
        let keys = current(&mut state, http, uri, JWKS_TTL, asked).await?;
        let found = candidates(&keys, kid, alg);
        if !found.is_empty() {
            return Ok(found);
        }
        let no_key = || {
            UpstreamError::IdToken(format!(
                "no key in the upstream JWKS for kid {:?} and alg {alg:?}",
                kid.map(|k| bounded(k, 64))
            ))
        };
        // Someone else fetched while this request waited: nothing fresher to get.
        let fetched_since = state.keys.as_ref().is_some_and(|c| c.at >= asked);
        let allowed = state
            .last_forced
            .is_none_or(|t| t.elapsed() >= FORCED_REFETCH_INTERVAL);
        if fetched_since || !allowed {
            tracing::warn!(
                kid = ?kid.map(|k| bounded(k, 64)),
                "unknown key id; the JWKS was refetched moments ago, not again"
            );
            return Err(no_key());
        }
        tracing::info!(kid = ?kid.map(|k| bounded(k, 64)), "unknown key id; refetching the JWKS");
        state.last_forced = Some(Instant::now());
        let keys = refetch(&mut state, http, uri).await?;
        let found = candidates(&keys, kid, alg);
        if found.is_empty() {
            Err(no_key())
        } else {
            Ok(found)
        }
    }

    /// Makes sure keys no older than `max_age` can be had (readiness).
    pub async fn ensure_fresh(
        &self,
        http: &reqwest::Client,
        uri: &Url,
        max_age: Duration,
    ) -> Result<(), UpstreamError> {
        let asked = Instant::now();
        let mut state = self.state.lock().await;
        current(&mut state, http, uri, max_age, asked)
            .await
            .map(|_| ())
    }
}

async fn current(
    state: &mut State,
    http: &reqwest::Client,
    uri: &Url,
    max_age: Duration,
    asked: Instant,
) -> Result<Arc<Vec<Jwk>>, UpstreamError> {
    if let Some(c) = &state.keys {
        if &c.uri == uri && (c.at.elapsed() < max_age || c.at >= asked) {
            return Ok(c.keys.clone());
        }
    }
    // A fetch that failed while this request waited for the lock: its answer is this one's.
    if let Some((at, e)) = &state.failure {
        if *at >= asked {
            return Err(e.clone());
        }
    }
    refetch(state, http, uri).await
}

async fn refetch(
    state: &mut State,
    http: &reqwest::Client,
    uri: &Url,
) -> Result<Arc<Vec<Jwk>>, UpstreamError> {
    match fetch_jwks(http, uri).await {
        Ok(keys) => {
            let keys = Arc::new(keys);
            state.keys = Some(Cached {
                uri: uri.clone(),
                at: Instant::now(),
                keys: keys.clone(),
            });
            state.failure = None;
            Ok(keys)
        }
        Err(e) => {
            state.failure = Some((Instant::now(), e.clone()));
            Err(e)
        }
    }
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

#[tracing::instrument(name = "upstream.jwks", skip_all)]
async fn fetch_jwks(http: &reqwest::Client, uri: &Url) -> Result<Vec<Jwk>, UpstreamError> {
    let fetched = fetch(
        http.get(uri.clone()).header(
            reqwest::header::ACCEPT,
            "application/json, application/jwk-set+json",
        ),
        "jwks",
    )
    .await?;
    if !fetched.status.is_success() {
        return Err(UpstreamError::Jwks(format!(
            "HTTP status {}",
            fetched.status.as_u16()
        )));
    }
    let raw: RawSet = serde_json::from_slice(&fetched.body).map_err(|e| {
        UpstreamError::Jwks(format!("not a JWK set: {}", bounded(&e.to_string(), 200)))
    })?;
    // One key of a type this library does not know must not make the others unusable.
    let total = raw.keys.len();
    let keys: Vec<Jwk> = raw
        .keys
        .into_iter()
        .filter_map(|k| serde_json::from_value(k).ok())
        .collect();
    tracing::debug!(total, usable = keys.len(), "JWKS fetched");
    Ok(keys)
}

/// The names `alg` takes in a JWK.
fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
    }
}

/// Whether this key may verify a signature made with `alg`: its kind and curve fit the
/// algorithm, it is not an encryption key, and its own `alg`, when it has one, is `alg`.
fn fits(jwk: &Jwk, alg: Algorithm) -> bool {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return false;
    }
    if let Some(key_alg) = jwk.common.key_algorithm {
        let named = serde_json::to_value(key_alg).ok();
        if named.as_ref().and_then(|v| v.as_str()) != Some(alg_name(alg)) {
            return false;
        }
    }
    match (&jwk.algorithm, alg) {
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => true,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES384) => p.curve == EllipticCurve::P384,
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA) => {
            p.curve == EllipticCurve::Ed25519
        }
        _ => false,
    }
}

fn candidates(keys: &[Jwk], kid: Option<&str>, alg: Algorithm) -> Vec<DecodingKey> {
    keys.iter()
        .filter(|k| kid.is_none_or(|kid| k.common.key_id.as_deref() == Some(kid)))
        .filter(|k| fits(k, alg))
        .filter_map(|k| DecodingKey::from_jwk(k).ok())
        .collect()
}
