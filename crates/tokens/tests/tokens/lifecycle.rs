use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use vneid_tokens::{
    at_hash, generate_signing_key, IdTokenClaims, KeySet, SigningAlg, TokenError, TYP_ID_TOKEN,
};

use crate::helpers::{at, jwks_kids, master_key, ISSUER};

#[test]
fn every_algorithm_survives_generate_seal_open_sign_verify() {
    let master = master_key(9);
    let now = at("2025-03-01T08:00:00Z");
    for alg in SigningAlg::ALL {
        let key = generate_signing_key(alg, now).unwrap();
        assert_eq!(key.alg(), alg);
        let record = master.seal_signing_key(&key, now).unwrap();
        assert_eq!(record.kid, key.kid());
        assert_eq!(record.alg, alg);
        assert_eq!(record.created_at, now);
        assert_eq!(record.retires_at, None);

        let opened = master.open_signing_key(&record).unwrap();
        assert_eq!(opened.kid(), key.kid());
        assert_eq!(opened.public_jwk(), key.public_jwk());

        let set = KeySet::from_records(&[record], &master, now).unwrap();
        assert_eq!(set.signing_kid(), key.kid());
        assert_eq!(set.signing_alg(), alg);
        let claims = IdTokenClaims {
            iss: ISSUER.into(),
            sub: "person-1".into(),
            aud: "portal".into(),
            exp: now.timestamp() + 600,
            iat: now.timestamp(),
            auth_time: now.timestamp() - 5,
            nonce: Some("n-0S6_WzA2Mj".into()),
            acr: "urn:vneid:loa:2".into(),
            amr: None,
            azp: None,
            sid: "sid-1".into(),
            idp: "dvcqg".into(),
            login_idp: Some("BCA".into()),
            name: None,
            birthdate: None,
            personal_id: None,
            account: None,
            account_type: None,
            organisation: None,
            at_hash: Some(at_hash("access-token", alg)),
        };
        let token = set.sign(TYP_ID_TOKEN, &claims).unwrap();

        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jwt_alg(alg));
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        assert_eq!(header.typ.as_deref(), Some("JWT"));

        let verified: IdTokenClaims = set.verify(&token, TYP_ID_TOKEN, ISSUER, now).unwrap();
        assert_eq!(verified, claims, "{alg}");
    }
}

fn jwt_alg(alg: SigningAlg) -> jsonwebtoken::Algorithm {
    match alg {
        SigningAlg::RS256 => jsonwebtoken::Algorithm::RS256,
        SigningAlg::ES256 => jsonwebtoken::Algorithm::ES256,
        SigningAlg::EdDSA => jsonwebtoken::Algorithm::EdDSA,
    }
}

/// RFC 7638 §3, computed here without the crate's own code: keep the required members, let
/// serde_json sort them (its map is ordered), print compactly, hash.
fn independent_thumbprint(jwk: &serde_json::Value) -> String {
    let required: &[&str] = match jwk["kty"].as_str().unwrap() {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        other => panic!("unexpected kty {other}"),
    };
    let canonical: serde_json::Map<String, serde_json::Value> = required
        .iter()
        .map(|m| ((*m).to_owned(), jwk[*m].clone()))
        .collect();
    let text = serde_json::Value::Object(canonical).to_string();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[test]
fn kid_is_the_rfc7638_thumbprint_of_the_published_jwk() {
    let master = master_key(9);
    let now = at("2025-03-01T08:00:00Z");
    for alg in SigningAlg::ALL {
        let key = generate_signing_key(alg, now).unwrap();
        let record = master.seal_signing_key(&key, now).unwrap();
        let set = KeySet::from_records(&[record], &master, now).unwrap();
        let jwks = set.jwks();
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["kid"], key.kid());
        assert_eq!(independent_thumbprint(jwk), key.kid(), "{alg}");
        assert_eq!(key.public_jwk().key.thumbprint(), key.kid());
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], alg.as_str());
        let (kty, crv) = match alg {
            SigningAlg::RS256 => ("RSA", None),
            SigningAlg::ES256 => ("EC", Some("P-256")),
            SigningAlg::EdDSA => ("OKP", Some("Ed25519")),
        };
        assert_eq!(jwk["kty"], kty);
        assert_eq!(jwk["crv"].as_str(), crv);
        // Public members only.
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(jwk.get(private).is_none(), "{alg} publishes {private}");
        }
        assert_eq!(jwks_kids(&jwks), vec![key.kid().to_owned()]);
    }
}

#[test]
fn sealed_key_does_not_open_under_another_kid() {
    let master = master_key(9);
    let now = at("2025-03-01T08:00:00Z");
    let mut record = master
        .seal_signing_key(&generate_signing_key(SigningAlg::EdDSA, now).unwrap(), now)
        .unwrap();
    record.kid = "some-other-kid".into();
    assert!(matches!(
        master.open_signing_key(&record),
        Err(TokenError::InvalidKey { .. })
    ));
}

#[test]
fn sealed_key_does_not_open_under_another_master_key() {
    let now = at("2025-03-01T08:00:00Z");
    let record = master_key(9)
        .seal_signing_key(&generate_signing_key(SigningAlg::ES256, now).unwrap(), now)
        .unwrap();
    assert!(matches!(
        master_key(10).open_signing_key(&record),
        Err(TokenError::InvalidKey { .. })
    ));
    assert!(KeySet::from_records(&[record], &master_key(10), now).is_err());
}

#[test]
fn record_whose_public_jwk_was_replaced_is_refused() {
    // Someone with database access but not the master key swaps in their own public key.
    let master = master_key(9);
    let now = at("2025-03-01T08:00:00Z");
    let ours = master
        .seal_signing_key(&generate_signing_key(SigningAlg::EdDSA, now).unwrap(), now)
        .unwrap();
    let theirs = generate_signing_key(SigningAlg::EdDSA, now).unwrap();
    let mut forged_jwk = theirs.public_jwk().clone();
    forged_jwk.kid = ours.kid.clone();
    let mut record = ours.clone();
    record.public_jwk = serde_json::to_string(&forged_jwk).unwrap();
    assert!(matches!(
        master.open_signing_key(&record),
        Err(TokenError::InvalidKey { .. })
    ));
    assert!(KeySet::from_records(&[record], &master, now).is_err());
}

#[test]
fn record_with_another_algorithm_is_refused() {
    let master = master_key(9);
    let now = at("2025-03-01T08:00:00Z");
    let mut record = master
        .seal_signing_key(&generate_signing_key(SigningAlg::ES256, now).unwrap(), now)
        .unwrap();
    record.alg = SigningAlg::EdDSA;
    assert!(matches!(
        master.open_signing_key(&record),
        Err(TokenError::InvalidKey { .. })
    ));
}

#[test]
fn key_record_round_trips_through_json() {
    let master = master_key(9);
    let now = at("2025-03-01T08:00:00Z");
    let record = master
        .seal_signing_key(&generate_signing_key(SigningAlg::EdDSA, now).unwrap(), now)
        .unwrap();
    let back: vneid_tokens::KeyRecord =
        serde_json::from_str(&serde_json::to_string(&record).unwrap()).unwrap();
    assert_eq!(back, record);
    let jwk: serde_json::Value = serde_json::from_str(&record.public_jwk).unwrap();
    assert_eq!(jwk["kid"], record.kid);
    assert!(matches!(jwk["kty"].as_str(), Some("OKP")));
}
