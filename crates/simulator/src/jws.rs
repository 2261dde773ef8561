//! The simulator's own few lines of JWS: RS256 compact serialisation and a JWKS.
//!
//! Deliberately independent of the gateway's token code (no `jsonwebtoken`), so that a bug in one
//! cannot hide the same bug in the other.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::SimulatorError;

#[derive(Debug, thiserror::Error)]
#[error("cannot sign: {0}")]
pub(crate) struct SignError(String);

pub(crate) struct JwsSigner {
    key: KeyPair,
    rng: SystemRandom,
    kid: String,
    n: String,
    e: String,
}

impl JwsSigner {
    /// A fresh RSA-2048 key from the OS random generator (aws-lc-rs).
    pub(crate) fn generate() -> Result<Self, SimulatorError> {
        let key =
            KeyPair::generate(KeySize::Rsa2048).map_err(|e| SimulatorError::Key(e.to_string()))?;
        let public: PublicKeyComponents<Vec<u8>> = key.public_key().into();
        let n = URL_SAFE_NO_PAD.encode(&public.n);
        let e = URL_SAFE_NO_PAD.encode(&public.e);
        // RFC 7638 thumbprint: the required members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Ok(Self {
            key,
            rng: SystemRandom::new(),
            kid,
            n,
            e,
        })
    }

    #[cfg(test)]
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// `{"keys": [the public key]}`.
    pub(crate) fn jwks(&self) -> Value {
        json!({
            "keys": [{
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": self.kid,
                "n": self.n,
                "e": self.e,
            }]
        })
    }

    /// `base64url(header).base64url(claims).base64url(RSASSA-PKCS1-v1_5 SHA-256 signature)`.
    pub(crate) fn sign(&self, claims: &Value) -> Result<String, SignError> {
        let header = json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"});
        let header = serde_json::to_vec(&header).map_err(|e| SignError(e.to_string()))?;
        let claims = serde_json::to_vec(claims).map_err(|e| SignError(e.to_string()))?;
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|e| SignError(e.to_string()))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};

    #[test]
    fn signed_token_verifies_with_the_published_key_only() {
        let signer = JwsSigner::generate().unwrap();
        let token = signer.sign(&json!({"sub": "x", "n": 1})).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);

        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], signer.kid());

        let jwk = &signer.jwks()["keys"][0];
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256, "a 2048-bit modulus");
        let public = RsaPublicKeyComponents { n: &n, e: &e };
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(public
            .verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &sig)
            .is_ok());
        let tampered = format!("{}.{}x", parts[0], parts[1]);
        assert!(public
            .verify(&RSA_PKCS1_2048_8192_SHA256, tampered.as_bytes(), &sig)
            .is_err());
    }

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        let signer = JwsSigner::generate().unwrap();
        let jwk = &signer.jwks()["keys"][0];
        let canonical = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk["e"].as_str().unwrap(),
            jwk["n"].as_str().unwrap()
        );
        assert_eq!(
            signer.kid(),
            URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
        );
        assert_eq!(jwk["e"], "AQAB");
    }
}
