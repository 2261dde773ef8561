#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{TimeZone, Utc};

use super::*;
use crate::{generate_signing_key, SigningAlg};

const HTU: &str = "https://id.example.gov.vn/token";

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

fn check() -> ProofCheck<'static> {
    ProofCheck {
        htm: "POST",
        htu: HTU,
        now: now(),
        max_age_secs: 60,
        access_token: None,
    }
}

fn proof(key: &SigningKey, edit: impl FnOnce(&mut ProofClaimsOut<'_>)) -> String {
    let mut c = ProofClaimsOut {
        htm: "POST",
        htu: HTU,
        iat: now().timestamp(),
        jti: "jti-1",
        access_token: None,
        nonce: None,
    };
    edit(&mut c);
    make_proof(key, &c).unwrap()
}

/// A proof with its header or claims replaced, signed again by `key`'s algorithm is not
/// possible from outside, so these are re-encoded with the original signature: what an attacker
/// who edits a proof in flight sends.
fn edited(proof: &str, part: usize, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut parts: Vec<String> = proof.split('.').map(str::to_owned).collect();
    let mut v: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[part]).unwrap()).unwrap();
    edit(&mut v);
    parts[part] = URL_SAFE_NO_PAD.encode(v.to_string());
    parts.join(".")
}

#[test]
fn a_proof_of_each_key_type_verifies_and_yields_the_keys_thumbprint() {
    for alg in [SigningAlg::ES256, SigningAlg::EdDSA, SigningAlg::RS256] {
        let key = generate_signing_key(alg, now()).unwrap();
        let verified = verify_dpop_proof(&proof(&key, |_| {}), &check()).unwrap();
        assert_eq!(verified.jkt, key.kid(), "{alg}");
        assert_eq!(verified.jti, "jti-1");
        assert_eq!(verified.nonce, None);
    }
}

#[test]
fn method_url_and_time_must_be_the_requests() {
    let key = generate_signing_key(SigningAlg::ES256, now()).unwrap();
    let wrong_method = proof(&key, |c| c.htm = "GET");
    assert!(matches!(
        verify_dpop_proof(&wrong_method, &check()),
        Err(TokenError::Claims(_))
    ));
    let wrong_url = proof(&key, |c| c.htu = "https://id.example.gov.vn/userinfo");
    assert!(matches!(
        verify_dpop_proof(&wrong_url, &check()),
        Err(TokenError::Claims(_))
    ));
    // Query and fragment are ignored.
    let with_query = proof(&key, |c| c.htu = "https://id.example.gov.vn/token?x=1#y");
    assert!(verify_dpop_proof(&with_query, &check()).is_ok());
    let too_old = proof(&key, |c| c.iat = now().timestamp() - 61);
    assert!(matches!(
        verify_dpop_proof(&too_old, &check()),
        Err(TokenError::Expired)
    ));
    let edge = proof(&key, |c| c.iat = now().timestamp() - 60);
    assert!(verify_dpop_proof(&edge, &check()).is_ok());
    let future = proof(&key, |c| {
        c.iat = now().timestamp() + MAX_FUTURE_SKEW_SECS + 1
    });
    assert!(matches!(
        verify_dpop_proof(&future, &check()),
        Err(TokenError::NotYetValid)
    ));
}

#[test]
fn an_access_token_needs_its_hash_in_the_proof() {
    let key = generate_signing_key(SigningAlg::ES256, now()).unwrap();
    let at_check = ProofCheck {
        access_token: Some("the-token"),
        ..check()
    };
    let without = proof(&key, |_| {});
    assert!(matches!(
        verify_dpop_proof(&without, &at_check),
        Err(TokenError::MissingClaim("ath"))
    ));
    let other = proof(&key, |c| c.access_token = Some("another-token"));
    assert!(matches!(
        verify_dpop_proof(&other, &at_check),
        Err(TokenError::Claims(_))
    ));
    let right = proof(&key, |c| c.access_token = Some("the-token"));
    assert!(verify_dpop_proof(&right, &at_check).is_ok());
}

#[test]
fn the_nonce_is_returned_for_the_caller_to_judge() {
    let key = generate_signing_key(SigningAlg::EdDSA, now()).unwrap();
    let p = proof(&key, |c| c.nonce = Some("n-1"));
    assert_eq!(
        verify_dpop_proof(&p, &check()).unwrap().nonce.as_deref(),
        Some("n-1")
    );
}

#[test]
fn edited_or_forged_proofs_are_refused() {
    let key = generate_signing_key(SigningAlg::ES256, now()).unwrap();
    let other = generate_signing_key(SigningAlg::ES256, now()).unwrap();
    let p = proof(&key, |_| {});
    // Claims changed after signing.
    let changed = edited(&p, 1, |c| {
        c["htu"] = "https://id.example.gov.vn/token".into()
    });
    let changed = edited(&changed, 1, |c| c["jti"] = "jti-2".into());
    assert!(matches!(
        verify_dpop_proof(&changed, &check()),
        Err(TokenError::BadSignature)
    ));
    // Another key swapped into the header: the signature no longer verifies.
    let swapped = edited(&p, 0, |h| {
        h["jwk"] = serde_json::to_value(&other.public_jwk().key).unwrap();
    });
    assert!(matches!(
        verify_dpop_proof(&swapped, &check()),
        Err(TokenError::BadSignature)
    ));
    // Wrong typ, alg none or HMAC, no jwk, a private jwk, a key that does not fit alg.
    let typ = edited(&p, 0, |h| h["typ"] = "JWT".into());
    assert!(matches!(
        verify_dpop_proof(&typ, &check()),
        Err(TokenError::WrongType { .. })
    ));
    for alg in ["none", "HS256", "ES384"] {
        let a = edited(&p, 0, |h| h["alg"] = alg.into());
        assert!(matches!(
            verify_dpop_proof(&a, &check()),
            Err(TokenError::WrongAlgorithm)
        ));
    }
    let no_jwk = edited(&p, 0, |h| {
        h.as_object_mut().unwrap().remove("jwk");
    });
    assert!(matches!(
        verify_dpop_proof(&no_jwk, &check()),
        Err(TokenError::MissingClaim("jwk"))
    ));
    let private = edited(&p, 0, |h| h["jwk"]["d"] = "AAAA".into());
    assert!(matches!(
        verify_dpop_proof(&private, &check()),
        Err(TokenError::Malformed(_))
    ));
    let misfit = edited(&p, 0, |h| h["alg"] = "EdDSA".into());
    assert!(matches!(
        verify_dpop_proof(&misfit, &check()),
        Err(TokenError::WrongAlgorithm)
    ));
}

#[test]
fn garbage_never_panics() {
    for input in [
        "",
        ".",
        "..",
        "a.b.c",
        "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.",
        &"A".repeat(MAX_PROOF_LEN + 1),
    ] {
        assert!(verify_dpop_proof(input, &check()).is_err(), "{input:?}");
    }
}

#[test]
fn missing_claims_are_named() {
    let key = generate_signing_key(SigningAlg::ES256, now()).unwrap();
    let p = proof(&key, |c| c.jti = "");
    assert!(matches!(
        verify_dpop_proof(&p, &check()),
        Err(TokenError::MissingClaim("jti"))
    ));
}

#[test]
fn the_rfc_9449_access_token_hash_example() {
    // RFC 9449 §7.1: the access token "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU" has the
    // ath "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo".
    assert_eq!(
        access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}
