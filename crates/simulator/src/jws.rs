//! The simulator's own few lines of JWS: RS256 compact serialisation and a JWKS.
//!
//! Deliberately independent of the gateway's token code (no `jsonwebtoken`), so that a bug in one
//! cannot hide the same bug in the other.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::SimulatorError;

#[derive(Debug, thiserror::Error)]
#[error("cannot sign: {0}")]
pub(crate) struct SignError(String);

pub(crate) struct JwsSigner {
    key: SigningKey<Sha256>,
    kid: String,
    n: String,
    e: String,
}

impl JwsSigner {
    /// A fresh RSA-2048 key from the OS random generator.
    pub(crate) fn generate() -> Result<Self, SimulatorError> {
        let private =
            RsaPrivateKey::new(&mut OsRng, 2048).map_err(|e| SimulatorError::Key(e.to_string()))?;
        Ok(Self::from_key(private))
    }

    pub(crate) fn from_key(private: RsaPrivateKey) -> Self {
        let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
        // RFC 7638 thumbprint: the required members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Self {
            key: SigningKey::<Sha256>::new(private),
            kid,
            n,
            e,
        }
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
        let signature = self
            .key
            .try_sign(signing_input.as_bytes())
            .map_err(|e| SignError(e.to_string()))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;
    use rsa::{BigUint, RsaPublicKey};

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
        let n =
            BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap());
        let e =
            BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap());
        let public = RsaPublicKey::new(n, e).unwrap();
        assert_eq!(public.n().bits(), 2048);
        let verifier = VerifyingKey::<Sha256>::new(public);
        let sig =
            Signature::try_from(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().as_slice()).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(verifier.verify(input.as_bytes(), &sig).is_ok());
        let tampered = format!("{}.{}x", parts[0], parts[1]);
        assert!(verifier.verify(tampered.as_bytes(), &sig).is_err());
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
