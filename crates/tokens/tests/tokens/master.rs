use vneid_tokens::{random_token, CryptoError, MasterKey};

use crate::helpers::master_key;

#[test]
fn sealed_data_opens_with_the_same_key_and_aad() {
    let master = master_key(1);
    for plaintext in [&b""[..], b"052090123481", &[0xffu8; 10_000][..]] {
        let sealed = master.seal(plaintext, b"people/42/personal_id").unwrap();
        assert_eq!(
            master.open(&sealed, b"people/42/personal_id").unwrap(),
            plaintext
        );
    }
}

#[test]
fn tampering_with_any_byte_of_sealed_data_is_detected() {
    let master = master_key(1);
    let sealed = master.seal(b"052090123481", b"aad").unwrap();
    for i in 0..sealed.len() {
        let mut tampered = sealed.clone();
        tampered[i] ^= 0x01;
        let err = master.open(&tampered, b"aad").unwrap_err();
        if i == 0 {
            assert_eq!(err, CryptoError::UnknownVersion(0));
        } else {
            assert_eq!(err, CryptoError::Open, "byte {i}");
        }
    }
}

#[test]
fn sealed_data_does_not_open_with_another_aad() {
    let master = master_key(1);
    let sealed = master.seal(b"052090123481", b"people/42").unwrap();
    assert_eq!(
        master.open(&sealed, b"people/43").unwrap_err(),
        CryptoError::Open
    );
    assert_eq!(master.open(&sealed, b"").unwrap_err(), CryptoError::Open);
}

#[test]
fn sealed_data_does_not_open_with_another_master_key() {
    let sealed = master_key(1).seal(b"052090123481", b"aad").unwrap();
    assert_eq!(
        master_key(2).open(&sealed, b"aad").unwrap_err(),
        CryptoError::Open
    );
    let generated = MasterKey::generate().unwrap();
    assert_eq!(
        generated.open(&sealed, b"aad").unwrap_err(),
        CryptoError::Open
    );
}

#[test]
fn truncated_sealed_data_is_an_error_not_a_panic() {
    let master = master_key(1);
    let sealed = master.seal(b"052090123481", b"aad").unwrap();
    for len in 0..sealed.len() {
        assert!(master.open(&sealed[..len], b"aad").is_err(), "length {len}");
    }
    let mut extended = sealed.clone();
    extended.push(0);
    assert!(master.open(&extended, b"aad").is_err());
}

#[test]
fn lookup_hash_is_deterministic() {
    let a = master_key(1).lookup_hash("personal_id", "052090123481");
    let b = master_key(1).lookup_hash("personal_id", "052090123481");
    assert_eq!(a, b);
    assert_ne!(a, master_key(1).lookup_hash("personal_id", "052090123482"));
}

#[test]
fn lookup_hash_is_separated_by_domain() {
    let master = master_key(1);
    assert_ne!(
        master.lookup_hash("personal_id", "052090123481"),
        master.lookup_hash("phone", "052090123481")
    );
    // The NUL separator keeps (domain, value) pairs from running into each other.
    assert_ne!(master.lookup_hash("ab", "c"), master.lookup_hash("a", "bc"));
}

#[test]
fn lookup_hash_differs_across_master_keys() {
    assert_ne!(
        master_key(1).lookup_hash("personal_id", "052090123481"),
        master_key(2).lookup_hash("personal_id", "052090123481")
    );
}

#[test]
fn client_secret_verifies_only_against_its_own_hash() {
    let master = master_key(1);
    let secret = random_token(32).unwrap();
    let stored = master.hash_client_secret(&secret);
    assert!(stored.starts_with("hmac-sha256$"));
    assert!(!stored.contains(&secret));
    assert!(master.verify_client_secret(&secret, &stored));
    assert_eq!(stored, master.hash_client_secret(&secret), "deterministic");

    assert!(!master.verify_client_secret("wrong", &stored));
    assert!(!master.verify_client_secret(&secret[..secret.len() - 1], &stored));
    assert!(!master_key(2).verify_client_secret(&secret, &stored));
}

#[test]
fn malformed_stored_client_secret_hash_never_verifies() {
    let master = master_key(1);
    let stored = master.hash_client_secret("s");
    let no_prefix = stored.trim_start_matches("hmac-sha256$").to_owned();
    let truncated = stored[..stored.len() - 2].to_owned();
    let lookup = master.lookup_hash("client_secret", "s");
    for bad in [
        "",
        "hmac-sha256$",
        "hmac-sha256$!!!",
        "argon2$abc",
        no_prefix.as_str(),
        truncated.as_str(),
        lookup.as_str(),
    ] {
        assert!(!master.verify_client_secret("s", bad), "{bad:?}");
    }
}

#[test]
fn random_tokens_have_the_expected_length_and_are_unique() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..2_000 {
        let token = random_token(32).unwrap();
        assert_eq!(token.len(), 43);
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(seen.insert(token), "duplicate token");
    }
    assert_eq!(random_token(24).unwrap().len(), 32);
    assert_eq!(random_token(64).unwrap().len(), 86);
}

#[test]
fn random_token_refuses_fewer_than_128_bits() {
    assert!(matches!(
        random_token(8),
        Err(CryptoError::TokenTooShort { min: 16, asked: 8 })
    ));
}
