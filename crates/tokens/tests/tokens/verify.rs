use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::Duration;
use vneid_tokens::{
    AccessTokenClaims, Audience, KeySet, SigningAlg, TokenError, TYP_ACCESS_TOKEN, TYP_ID_TOKEN,
    TYP_LOGOUT_TOKEN,
};

use crate::helpers::{at, claims, master_key, record, ISSUER};

fn set_at(alg: SigningAlg, now: &str) -> KeySet {
    let master = master_key(6);
    let record = record(&master, alg, "2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z");
    KeySet::from_records(&[record], &master, at(now)).unwrap()
}

fn set() -> KeySet {
    set_at(SigningAlg::EdDSA, "2025-03-01T08:00:00Z")
}

fn verify(set: &KeySet, token: &str, typ: &str) -> Result<serde_json::Value, TokenError> {
    set.verify(token, typ, ISSUER, at("2025-03-01T08:00:00Z"))
}

fn valid_claims() -> serde_json::Value {
    claims(at("2025-03-01T08:10:00Z"))
}

#[test]
fn access_token_round_trips_with_at_jwt_type() {
    let set = set_at(SigningAlg::RS256, "2025-03-01T08:00:00Z");
    let now = at("2025-03-01T08:00:00Z");
    let claims = AccessTokenClaims {
        iss: ISSUER.into(),
        exp: (now + Duration::minutes(10)).timestamp(),
        aud: Audience::Many(vec!["portal".into(), "api".into()]),
        sub: "person-1".into(),
        client_id: "portal".into(),
        iat: now.timestamp(),
        jti: vneid_tokens::random_token(16).unwrap(),
        scope: "openid profile".into(),
        auth_time: Some(now.timestamp() - 30),
        acr: Some("urn:vneid:loa:2".into()),
        sid: Some("sid-1".into()),
        idp: Some("dvcqg".into()),
        login_idp: Some("BCA".into()),
        act: None,
        cnf: None,
        account_type: Some("citizen".into()),
    };
    let token = set.sign(TYP_ACCESS_TOKEN, &claims).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let back: AccessTokenClaims = set.verify(&token, TYP_ACCESS_TOKEN, ISSUER, now).unwrap();
    assert_eq!(back, claims);
}

#[test]
fn verify_rejects_a_token_of_another_type() {
    let set = set();
    let id_token = set.sign(TYP_ID_TOKEN, &valid_claims()).unwrap();
    assert!(matches!(
        verify(&set, &id_token, TYP_ACCESS_TOKEN),
        Err(TokenError::WrongType { found: Some(t), .. }) if t == "JWT"
    ));
    let logout = set.sign(TYP_LOGOUT_TOKEN, &valid_claims()).unwrap();
    assert!(matches!(
        verify(&set, &logout, TYP_ID_TOKEN),
        Err(TokenError::WrongType { .. })
    ));
    assert!(verify(&set, &logout, TYP_LOGOUT_TOKEN).is_ok());
}

#[test]
fn typ_is_compared_as_a_media_type() {
    let set = set();
    let token = set.sign("application/AT+JWT", &valid_claims()).unwrap();
    assert!(verify(&set, &token, TYP_ACCESS_TOKEN).is_ok());
    let token = set.sign("at+jwt", &valid_claims()).unwrap();
    assert!(verify(&set, &token, "application/at+jwt").is_ok());
}

#[test]
fn verify_rejects_another_issuer() {
    let set = set();
    let mut claims = valid_claims();
    claims["iss"] = "https://evil.example".into();
    let token = set.sign(TYP_ID_TOKEN, &claims).unwrap();
    assert!(matches!(
        verify(&set, &token, TYP_ID_TOKEN),
        Err(TokenError::WrongIssuer)
    ));
    claims.as_object_mut().unwrap().remove("iss");
    let token = set.sign(TYP_ID_TOKEN, &claims).unwrap();
    assert!(matches!(
        verify(&set, &token, TYP_ID_TOKEN),
        Err(TokenError::WrongIssuer)
    ));
}

#[test]
fn verify_rejects_an_expired_token_without_leeway() {
    let set = set();
    let exp = at("2025-03-01T08:00:00Z");
    let token = set.sign(TYP_ID_TOKEN, &claims(exp)).unwrap();
    let one_second_before = exp - Duration::seconds(1);
    assert!(set
        .verify::<serde_json::Value>(&token, TYP_ID_TOKEN, ISSUER, one_second_before)
        .is_ok());
    assert!(matches!(
        set.verify::<serde_json::Value>(&token, TYP_ID_TOKEN, ISSUER, exp),
        Err(TokenError::Expired)
    ));
}

#[test]
fn verify_requires_exp() {
    let set = set();
    let mut claims = valid_claims();
    claims.as_object_mut().unwrap().remove("exp");
    let token = set.sign(TYP_ID_TOKEN, &claims).unwrap();
    assert!(matches!(
        verify(&set, &token, TYP_ID_TOKEN),
        Err(TokenError::MissingClaim("exp"))
    ));
}

#[test]
fn verify_rejects_a_token_used_before_nbf() {
    let set = set();
    let mut claims = valid_claims();
    claims["nbf"] = at("2025-03-01T08:00:01Z").timestamp().into();
    let token = set.sign(TYP_ID_TOKEN, &claims).unwrap();
    assert!(matches!(
        verify(&set, &token, TYP_ID_TOKEN),
        Err(TokenError::NotYetValid)
    ));
}

#[test]
fn verify_rejects_a_token_from_a_key_outside_the_set() {
    let ours = set();
    let theirs = set();
    assert_ne!(ours.signing_kid(), theirs.signing_kid());
    let token = theirs.sign(TYP_ID_TOKEN, &valid_claims()).unwrap();
    assert!(matches!(
        verify(&ours, &token, TYP_ID_TOKEN),
        Err(TokenError::UnknownKey)
    ));
}

#[test]
fn verify_rejects_a_token_without_kid() {
    let set = set();
    let token = set.sign(TYP_ID_TOKEN, &valid_claims()).unwrap();
    let forged = with_header(&token, &serde_json::json!({"alg": "EdDSA", "typ": "JWT"}));
    assert!(matches!(
        verify(&set, &forged, TYP_ID_TOKEN),
        Err(TokenError::UnknownKey)
    ));
}

/// A token signed by a key the attacker holds, naming one of our published kids.
#[test]
fn verify_rejects_a_token_signed_by_another_key_under_our_kid() {
    let set = set();
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(set.signing_kid().to_owned());
    let forged = jsonwebtoken::encode(
        &header,
        &valid_claims(),
        &jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref()),
    )
    .unwrap();
    assert!(matches!(
        verify(&set, &forged, TYP_ID_TOKEN),
        Err(TokenError::BadSignature)
    ));
}

#[test]
fn verify_rejects_a_changed_payload() {
    let set = set();
    let token = set.sign(TYP_ID_TOKEN, &valid_claims()).unwrap();
    let mut parts: Vec<&str> = token.split('.').collect();
    let mut claims = valid_claims();
    claims["sub"] = "someone-else".into();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    parts[1] = &payload;
    assert!(matches!(
        verify(&set, &parts.join("."), TYP_ID_TOKEN),
        Err(TokenError::BadSignature)
    ));
}

#[test]
fn verify_rejects_an_algorithm_other_than_the_keys() {
    let set = set();
    let token = set.sign(TYP_ID_TOKEN, &valid_claims()).unwrap();
    for alg in ["HS256", "RS256", "ES256"] {
        let forged = with_header(
            &token,
            &serde_json::json!({"alg": alg, "kid": set.signing_kid(), "typ": "JWT"}),
        );
        assert!(
            matches!(
                verify(&set, &forged, TYP_ID_TOKEN),
                Err(TokenError::WrongAlgorithm)
            ),
            "{alg}"
        );
    }
    let none = with_header(
        &token,
        &serde_json::json!({"alg": "none", "kid": set.signing_kid(), "typ": "JWT"}),
    );
    assert!(matches!(
        verify(&set, &none, TYP_ID_TOKEN),
        Err(TokenError::Malformed(_))
    ));
}

#[test]
fn verify_rejects_garbage() {
    let set = set();
    for garbage in [
        "",
        ".",
        "..",
        "a.b.c",
        "eyJhbGciOiJFZERTQSJ9",
        "not a token",
    ] {
        assert!(verify(&set, garbage, TYP_ID_TOKEN).is_err(), "{garbage:?}");
    }
}

#[test]
fn verify_reports_claims_of_the_wrong_shape() {
    let set = set();
    let token = set.sign(TYP_ACCESS_TOKEN, &valid_claims()).unwrap();
    // Valid token, but not an access token's claims (no client_id, scope, jti).
    assert!(matches!(
        set.verify::<AccessTokenClaims>(
            &token,
            TYP_ACCESS_TOKEN,
            ISSUER,
            at("2025-03-01T08:00:00Z")
        ),
        Err(TokenError::Claims(_))
    ));
}

#[test]
fn sign_refuses_claims_that_are_not_an_object() {
    let set = set();
    assert!(matches!(
        set.sign(TYP_ID_TOKEN, &"just a string"),
        Err(TokenError::Claims(_))
    ));
}

fn with_header(token: &str, header: &serde_json::Value) -> String {
    let rest = token.split_once('.').unwrap().1;
    format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap())
    )
}
