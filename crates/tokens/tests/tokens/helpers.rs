use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use vneid_tokens::{generate_signing_key, KeyRecord, MasterKey, SigningAlg};

pub const ISSUER: &str = "https://sso.binhdinh.example.gov.vn";

/// A master key made of one repeated byte: different bytes, different keys.
pub fn master_key(byte: u8) -> MasterKey {
    MasterKey::from_base64(&STANDARD.encode([byte; 32])).unwrap()
}

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

/// A fresh key of `alg`, created at `created`, signing from `activates`, sealed under `master`.
pub fn record(master: &MasterKey, alg: SigningAlg, created: &str, activates: &str) -> KeyRecord {
    let key = generate_signing_key(alg, at(created)).unwrap();
    master.seal_signing_key(&key, at(activates)).unwrap()
}

/// The `kid`s of a JWKS document, in order.
pub fn jwks_kids(jwks: &serde_json::Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Minimal claims with the checked members.
pub fn claims(exp: DateTime<Utc>) -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER,
        "sub": "person-1",
        "aud": "portal",
        "iat": exp.timestamp() - 600,
        "exp": exp.timestamp(),
    })
}
