use vneid_tokens::{KeySet, SigningAlg, TokenError, TYP_ACCESS_TOKEN};

use crate::helpers::{at, claims, jwks_kids, master_key, record, ISSUER};

#[test]
fn key_set_signs_with_the_newest_activated_key() {
    let master = master_key(4);
    let old = record(
        &master,
        SigningAlg::EdDSA,
        "2025-01-01T00:00:00Z",
        "2025-01-01T00:00:00Z",
    );
    let newer = record(
        &master,
        SigningAlg::EdDSA,
        "2025-02-01T00:00:00Z",
        "2025-02-02T00:00:00Z",
    );
    let now = at("2025-03-01T00:00:00Z");
    // Order of the records does not matter.
    for records in [[old.clone(), newer.clone()], [newer.clone(), old.clone()]] {
        let set = KeySet::from_records(&records, &master, now).unwrap();
        assert_eq!(set.signing_kid(), newer.kid);
        assert_eq!(
            jwks_kids(&set.jwks()),
            vec![newer.kid.clone(), old.kid.clone()]
        );
        // The text `/jwks` serves is the same document.
        let served: serde_json::Value = serde_json::from_str(set.jwks_json()).unwrap();
        assert_eq!(served, set.jwks());
    }
}

#[test]
fn key_not_yet_active_is_published_but_does_not_sign() {
    let master = master_key(4);
    let current = record(
        &master,
        SigningAlg::ES256,
        "2025-01-01T00:00:00Z",
        "2025-01-01T00:00:00Z",
    );
    let next = record(
        &master,
        SigningAlg::EdDSA,
        "2025-03-01T00:00:00Z",
        "2025-03-02T00:00:00Z",
    );
    let now = at("2025-03-01T12:00:00Z");
    let set = KeySet::from_records(&[current.clone(), next.clone()], &master, now).unwrap();

    assert_eq!(set.signing_kid(), current.kid);
    assert_eq!(set.signing_alg(), SigningAlg::ES256);
    assert!(jwks_kids(&set.jwks()).contains(&next.kid));
    assert_eq!(set.next_transition(), Some(at("2025-03-02T00:00:00Z")));

    let token = set
        .sign(TYP_ACCESS_TOKEN, &claims(at("2025-03-01T12:10:00Z")))
        .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(current.kid.as_str()));

    // Once its time comes, the next key signs, and tokens of the previous one still verify.
    let later = at("2025-03-02T00:00:00Z");
    let rotated = KeySet::from_records(&[current.clone(), next.clone()], &master, later).unwrap();
    assert_eq!(rotated.signing_kid(), next.kid);
    assert_eq!(rotated.signing_alg(), SigningAlg::EdDSA);
    let still: serde_json::Value = rotated
        .verify(&token, TYP_ACCESS_TOKEN, ISSUER, at("2025-03-01T12:05:00Z"))
        .unwrap();
    assert_eq!(still["sub"], "person-1");
}

#[test]
fn retired_key_leaves_the_jwks_and_no_longer_verifies() {
    let master = master_key(4);
    let mut old = record(
        &master,
        SigningAlg::EdDSA,
        "2025-01-01T00:00:00Z",
        "2025-01-01T00:00:00Z",
    );
    let new = record(
        &master,
        SigningAlg::EdDSA,
        "2025-02-01T00:00:00Z",
        "2025-02-01T00:00:00Z",
    );
    old.retires_at = Some(at("2025-03-01T00:00:00Z"));

    let before = at("2025-02-28T23:59:59Z");
    let signed_by_old = {
        // A set in which the old key still signs.
        let set = KeySet::from_records(&[old.clone()], &master, before).unwrap();
        set.sign(TYP_ACCESS_TOKEN, &claims(at("2025-12-31T00:00:00Z")))
            .unwrap()
    };
    let set = KeySet::from_records(&[old.clone(), new.clone()], &master, before).unwrap();
    assert_eq!(
        jwks_kids(&set.jwks()),
        vec![new.kid.clone(), old.kid.clone()]
    );
    assert_eq!(set.next_transition(), Some(at("2025-03-01T00:00:00Z")));

    // At retires_at exactly, the key is gone.
    let retired = at("2025-03-01T00:00:00Z");
    let set = KeySet::from_records(&[old.clone(), new.clone()], &master, retired).unwrap();
    assert_eq!(jwks_kids(&set.jwks()), vec![new.kid.clone()]);
    assert_eq!(set.next_transition(), None);
    assert!(matches!(
        set.verify::<serde_json::Value>(&signed_by_old, TYP_ACCESS_TOKEN, ISSUER, retired),
        Err(TokenError::UnknownKey)
    ));
}

#[test]
fn retired_key_never_signs_even_if_it_is_the_newest() {
    let master = master_key(4);
    let older = record(
        &master,
        SigningAlg::EdDSA,
        "2025-01-01T00:00:00Z",
        "2025-01-01T00:00:00Z",
    );
    let mut newest = record(
        &master,
        SigningAlg::EdDSA,
        "2025-02-01T00:00:00Z",
        "2025-02-01T00:00:00Z",
    );
    newest.retires_at = Some(at("2025-02-15T00:00:00Z")); // withdrawn, e.g. suspected leak
    let set = KeySet::from_records(
        &[older.clone(), newest],
        &master,
        at("2025-03-01T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(set.signing_kid(), older.kid);
    assert_eq!(jwks_kids(&set.jwks()), vec![older.kid]);
}

#[test]
fn key_set_without_an_activated_key_is_an_error() {
    let master = master_key(4);
    let future = record(
        &master,
        SigningAlg::EdDSA,
        "2025-01-01T00:00:00Z",
        "2025-06-01T00:00:00Z",
    );
    let now = at("2025-03-01T00:00:00Z");
    assert!(matches!(
        KeySet::from_records(&[future], &master, now),
        Err(TokenError::NoActiveSigningKey(t)) if t == now
    ));
    assert!(matches!(
        KeySet::from_records(&[], &master, now),
        Err(TokenError::NoActiveSigningKey(_))
    ));

    let mut retired = record(
        &master,
        SigningAlg::EdDSA,
        "2025-01-01T00:00:00Z",
        "2025-01-01T00:00:00Z",
    );
    retired.retires_at = Some(at("2025-02-01T00:00:00Z"));
    assert!(matches!(
        KeySet::from_records(&[retired], &master, now),
        Err(TokenError::NoActiveSigningKey(_))
    ));
}

#[test]
fn key_set_refuses_two_records_with_the_same_kid() {
    let master = master_key(4);
    let one = record(
        &master,
        SigningAlg::EdDSA,
        "2025-01-01T00:00:00Z",
        "2025-01-01T00:00:00Z",
    );
    let mut copy = one.clone();
    copy.activates_at = at("2025-01-02T00:00:00Z");
    assert!(matches!(
        KeySet::from_records(&[one, copy], &master, at("2025-03-01T00:00:00Z")),
        Err(TokenError::InvalidKey { .. })
    ));
}

#[test]
fn key_set_with_mixed_algorithms_publishes_each_with_its_alg() {
    let master = master_key(4);
    let rsa = record(
        &master,
        SigningAlg::RS256,
        "2025-01-01T00:00:00Z",
        "2025-01-01T00:00:00Z",
    );
    let ec = record(
        &master,
        SigningAlg::ES256,
        "2025-02-01T00:00:00Z",
        "2025-02-01T00:00:00Z",
    );
    let set = KeySet::from_records(
        &[rsa.clone(), ec.clone()],
        &master,
        at("2025-03-01T00:00:00Z"),
    )
    .unwrap();
    let jwks = set.jwks();
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    assert_eq!(jwks["keys"][1]["alg"], "RS256");
    assert_eq!(jwks["keys"][1]["kty"], "RSA");
    assert_eq!(set.signing_alg(), SigningAlg::ES256);
}

#[test]
fn key_set_and_master_key_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<KeySet>();
    shareable::<vneid_tokens::MasterKey>();
    shareable::<vneid_tokens::SigningKey>();
}
