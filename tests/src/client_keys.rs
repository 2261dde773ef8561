//! A `private_key_jwt` client's side (RFC 7523): a key pair made here, its public half as the
//! JWKS the gateway registers, and the client assertions it signs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::Engine as _;

/// An ES256 client key: the JWKS text to register (one key, `kid` "k1") and the signing key.
pub fn es256_client() -> (String, jsonwebtoken::EncodingKey) {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let point = pair.public_key().as_ref(); // 0x04 ‖ x ‖ y
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]), "kid": "k1", "alg": "ES256", "use": "sig"}]});
    (
        jwks.to_string(),
        jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()),
    )
}

/// A client assertion of `client` for `aud`, signed ES256 with `key` (`kid` "k1"), expiring
/// `exp_in` seconds from now.
pub fn assertion(
    key: &jsonwebtoken::EncodingKey,
    client: &str,
    aud: &str,
    jti: &str,
    exp_in: i64,
) -> String {
    let now = vneid_core::Clock::now(&vneid_core::SystemClock).timestamp();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    h.kid = Some("k1".into());
    jsonwebtoken::encode(
        &h,
        &serde_json::json!({"iss": client, "sub": client, "aud": aud, "jti": jti, "iat": now, "exp": now + exp_in}),
        key,
    )
    .unwrap()
}

/// The form fields that carry `assertion`.
pub fn assertion_fields(assertion: &str) -> [(&'static str, String); 2] {
    [
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
        ),
        ("client_assertion", assertion.to_owned()),
    ]
}
