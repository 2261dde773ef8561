//! Signing keys: generation, public JWK, RFC 7638 key id, and the sealed form kept in the
//! database.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::encoding::{AsDer as _, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};

use crate::error::{CryptoError, TokenError};
use crate::master::MasterKey;

/// Size of generated RSA keys.
const RSA_KEY_SIZE: KeySize = KeySize::Rsa2048;

/// A JWS signature algorithm the gateway signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, RSA-2048. The one every RP library supports.
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl SigningAlg {
    /// Every algorithm, in a stable order.
    pub const ALL: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];

    /// The JOSE name: `"RS256"`, `"ES256"` or `"EdDSA"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    pub(crate) fn jwt_algorithm(self) -> jsonwebtoken::Algorithm {
        match self {
            SigningAlg::RS256 => jsonwebtoken::Algorithm::RS256,
            SigningAlg::ES256 => jsonwebtoken::Algorithm::ES256,
            SigningAlg::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of `RS256`, `ES256`, `EdDSA` (exact case, as in JOSE).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signing algorithm {0:?}: expected RS256, ES256 or EdDSA")]
pub struct UnknownSigningAlg(pub String);

impl FromStr for SigningAlg {
    type Err = UnknownSigningAlg;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SigningAlg::ALL
            .into_iter()
            .find(|alg| alg.as_str() == s)
            .ok_or_else(|| UnknownSigningAlg(s.to_owned()))
    }
}

/// The key-type-specific members of a public JWK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kty")]
pub enum JwkKey {
    /// RFC 7518 §6.3: modulus and exponent, base64url big-endian without leading zeros.
    #[serde(rename = "RSA")]
    Rsa {
        /// Modulus.
        n: String,
        /// Public exponent.
        e: String,
    },
    /// RFC 7518 §6.2: curve and affine coordinates, base64url, 32 bytes each for P-256.
    #[serde(rename = "EC")]
    Ec {
        /// `"P-256"`.
        crv: String,
        /// x coordinate.
        x: String,
        /// y coordinate.
        y: String,
    },
    /// RFC 8037: octet key pair.
    #[serde(rename = "OKP")]
    Okp {
        /// `"Ed25519"`.
        crv: String,
        /// The 32-byte public key.
        x: String,
    },
}

impl JwkKey {
    /// The RFC 7638 JWK thumbprint: base64url (no padding) SHA-256 of the JSON object holding
    /// only the required members in lexicographic order, without whitespace (RFC 8037 §2 for
    /// `OKP`).
    pub fn thumbprint(&self) -> String {
        let canonical = match self {
            JwkKey::Rsa { n, e } => {
                format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, json_str(e), json_str(n))
            }
            JwkKey::Ec { crv, x, y } => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                json_str(crv),
                json_str(x),
                json_str(y)
            ),
            JwkKey::Okp { crv, x } => {
                format!(
                    r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
                    json_str(crv),
                    json_str(x)
                )
            }
        };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }
}

/// A JSON string literal. The members are base64url or fixed names, so this only matters if
/// someone feeds in something odd; `serde_json` gets the escaping right either way.
fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A public signing key as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// `kty` and the key material.
    #[serde(flatten)]
    pub key: JwkKey,
    /// Always `"sig"`.
    #[serde(rename = "use")]
    pub use_: String,
    /// The algorithm this key is used with.
    pub alg: SigningAlg,
    /// The RFC 7638 thumbprint of `key`.
    pub kid: String,
}

impl PublicJwk {
    /// The JWK as a JSON object (what goes into `{"keys": [...]}`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = match &self.key {
            JwkKey::Rsa { n, e } => serde_json::json!({ "kty": "RSA", "n": n, "e": e }),
            JwkKey::Ec { crv, x, y } => {
                serde_json::json!({ "kty": "EC", "crv": crv, "x": x, "y": y })
            }
            JwkKey::Okp { crv, x } => serde_json::json!({ "kty": "OKP", "crv": crv, "x": x }),
        };
        if let Some(map) = object.as_object_mut() {
            map.insert("use".into(), self.use_.clone().into());
            map.insert("alg".into(), self.alg.as_str().into());
            map.insert("kid".into(), self.kid.clone().into());
        }
        object
    }
}

/// A private signing key with its algorithm, key id and public JWK.
///
/// Holds the PKCS#8 DER (zeroed on drop, never printed) and the key pair parsed once by aws-lc-rs,
/// which signs. Made by [`generate_signing_key`] or [`MasterKey::open_signing_key`]. `Debug`
/// redacts the private key.
pub struct SigningKey {
    alg: SigningAlg,
    created_at: DateTime<Utc>,
    pkcs8: SecretSlice<u8>,
    pair: KeyPair,
    jwk: PublicJwk,
}

/// The private key parsed by aws-lc-rs: parsing checks the key and is not cheap (an RSA key's CRT
/// values, the public point of a P-256 or Ed25519 key), so it is done once per key.
enum KeyPair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.jwk.kid)
            .field("created_at", &self.created_at)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    /// The algorithm this key signs with.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The key id: the RFC 7638 thumbprint of the public JWK.
    pub fn kid(&self) -> &str {
        &self.jwk.kid
    }

    /// When the key was generated.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The public key as a JWK (`use` "sig", `alg`, `kid`).
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.jwk
    }

    /// PKCS#8 DER of the private key; crate-private so it only leaves sealed.
    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        self.pkcs8.expose_secret()
    }

    /// The raw JWS signature of `message` (RFC 7518 §3: PKCS#1 v1.5 SHA-256, fixed-length
    /// `r ‖ s` for ES256, Ed25519).
    pub(crate) fn sign_message(
        &self,
        rng: &SystemRandom,
        message: &[u8],
    ) -> Result<Vec<u8>, TokenError> {
        let failed = || TokenError::Signing(format!("{} signing failed", self.alg));
        match &self.pair {
            KeyPair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, rng, message, &mut signature)
                    .map_err(|_| failed())?;
                Ok(signature)
            }
            KeyPair::Ec(pair) => pair
                .sign(rng, message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| failed()),
            KeyPair::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    /// Parses and checks PKCS#8 DER for `alg` with aws-lc-rs, and derives the public JWK and kid.
    fn from_pkcs8(
        alg: SigningAlg,
        pkcs8: Vec<u8>,
        created_at: DateTime<Utc>,
    ) -> Result<Self, String> {
        let (pair, key) = parse_pkcs8(alg, &pkcs8)?;
        let kid = key.thumbprint();
        Ok(Self {
            alg,
            created_at,
            pkcs8: SecretSlice::from(pkcs8),
            pair,
            jwk: PublicJwk {
                key,
                use_: "sig".to_owned(),
                alg,
                kid,
            },
        })
    }
}

/// Parses the private key with aws-lc-rs (which checks it) and returns it with its public part.
fn parse_pkcs8(alg: SigningAlg, pkcs8: &[u8]) -> Result<(KeyPair, JwkKey), String> {
    match alg {
        SigningAlg::RS256 => {
            let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| format!("RSA key: {e}"))?;
            let public: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
            let key = JwkKey::Rsa {
                n: URL_SAFE_NO_PAD.encode(&public.n),
                e: URL_SAFE_NO_PAD.encode(&public.e),
            };
            Ok((KeyPair::Rsa(pair), key))
        }
        SigningAlg::ES256 => {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                .map_err(|e| format!("P-256 key: {e}"))?;
            // Uncompressed point: 0x04 ‖ x (32) ‖ y (32).
            let key = match pair.public_key().as_ref() {
                [0x04, xy @ ..] if xy.len() == 64 => {
                    let (x, y) = xy.split_at(32);
                    JwkKey::Ec {
                        crv: "P-256".to_owned(),
                        x: URL_SAFE_NO_PAD.encode(x),
                        y: URL_SAFE_NO_PAD.encode(y),
                    }
                }
                _ => return Err("P-256 key: unexpected public key encoding".to_owned()),
            };
            Ok((KeyPair::Ec(pair), key))
        }
        SigningAlg::EdDSA => {
            let pair =
                Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| format!("Ed25519 key: {e}"))?;
            let key = JwkKey::Okp {
                crv: "Ed25519".to_owned(),
                x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            };
            Ok((KeyPair::Ed(pair), key))
        }
    }
}

/// Generates a new signing key, created at `now`.
///
/// aws-lc-rs generates every key (RSA-2048 with public exponent 65537, P-256, Ed25519) from the
/// OS random number generator, as PKCS#8 DER, and parses it back, which checks it. RSA
/// generation takes tens to hundreds of milliseconds: call it from a blocking context
/// (`spawn_blocking`, the CLI).
pub fn generate_signing_key(alg: SigningAlg, now: DateTime<Utc>) -> Result<SigningKey, TokenError> {
    let rng = SystemRandom::new();
    let failed = |reason: String| TokenError::KeyGeneration { alg, reason };
    let pkcs8 = match alg {
        SigningAlg::RS256 => generate_rsa_pkcs8()?,
        SigningAlg::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| TokenError::Crypto(CryptoError::Rng))?
            .as_ref()
            .to_vec(),
        SigningAlg::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| TokenError::Crypto(CryptoError::Rng))?
            .as_ref()
            .to_vec(),
    };
    SigningKey::from_pkcs8(alg, pkcs8, now).map_err(failed)
}

fn generate_rsa_pkcs8() -> Result<Vec<u8>, TokenError> {
    let failed = |reason: String| TokenError::KeyGeneration {
        alg: SigningAlg::RS256,
        reason,
    };
    let pair = RsaKeyPair::generate(RSA_KEY_SIZE).map_err(|e| failed(e.to_string()))?;
    let der: Pkcs8V1Der<'static> = pair.as_der().map_err(|e| failed(e.to_string()))?;
    Ok(der.as_ref().to_vec())
}

/// A signing key as persisted by the store: the private key sealed under the master key with
/// the kid as associated data, the public JWK in clear for reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// Algorithm the key signs with.
    pub alg: SigningAlg,
    /// When the key was generated.
    pub created_at: DateTime<Utc>,
    /// From when the key signs. A key is published as soon as it exists, so a new key can be
    /// given a future `activates_at` to let relying parties refresh their JWKS cache first.
    pub activates_at: DateTime<Utc>,
    /// From when the key is no longer published (and so no longer verifies anything).
    pub retires_at: Option<DateTime<Utc>>,
    /// [`MasterKey::seal`] of the PKCS#8 DER, associated data = `kid`.
    pub private_key_sealed: Vec<u8>,
    /// The public JWK as JSON. Not trusted on load: it must equal the one derived from the
    /// sealed private key.
    pub public_jwk: String,
}

impl MasterKey {
    /// Seals `key` into the record the store persists, signing from `activates_at`, with no
    /// retirement date.
    pub fn seal_signing_key(
        &self,
        key: &SigningKey,
        activates_at: DateTime<Utc>,
    ) -> Result<KeyRecord, TokenError> {
        let public_jwk = serde_json::to_string(key.public_jwk())
            .map_err(|e| TokenError::Claims(format!("public JWK: {e}")))?;
        Ok(KeyRecord {
            kid: key.kid().to_owned(),
            alg: key.alg(),
            created_at: key.created_at(),
            activates_at,
            retires_at: None,
            private_key_sealed: self.seal(key.pkcs8_der(), key.kid().as_bytes())?,
            public_jwk,
        })
    }

    /// Opens a stored record back into a [`SigningKey`].
    ///
    /// Fails if the sealed key does not open under this master key with the record's kid, does
    /// not parse as a key for the record's algorithm, is not the key the kid names (RFC 7638),
    /// or if the stored public JWK is not that key's: a record edited in the database is
    /// refused, not half-trusted.
    pub fn open_signing_key(&self, record: &KeyRecord) -> Result<SigningKey, TokenError> {
        let invalid = |reason: String| TokenError::InvalidKey {
            kid: record.kid.clone(),
            reason,
        };
        let pkcs8 = self
            .open(&record.private_key_sealed, record.kid.as_bytes())
            .map_err(|e| invalid(e.to_string()))?;
        let key = SigningKey::from_pkcs8(record.alg, pkcs8, record.created_at).map_err(invalid)?;
        if key.kid() != record.kid {
            return Err(invalid(
                "kid is not the thumbprint of the sealed key".to_owned(),
            ));
        }
        let stored: PublicJwk = serde_json::from_str(&record.public_jwk)
            .map_err(|e| invalid(format!("stored public JWK: {e}")))?;
        if &stored != key.public_jwk() {
            return Err(invalid(
                "stored public JWK is not the sealed key's".to_owned(),
            ));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests;
