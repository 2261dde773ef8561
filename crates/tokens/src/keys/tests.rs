#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

use super::*;

/// RFC 7638 §3.1.
const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

#[test]
fn thumbprint_matches_rfc7638_example() {
    let key = JwkKey::Rsa {
        n: RFC7638_N.to_owned(),
        e: "AQAB".to_owned(),
    };
    assert_eq!(
        key.thumbprint(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn thumbprint_of_okp_key_matches_rfc8037_example() {
    // RFC 8037 §A.3.
    let key = JwkKey::Okp {
        crv: "Ed25519".to_owned(),
        x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".to_owned(),
    };
    assert_eq!(
        key.thumbprint(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
}

#[test]
fn signing_alg_uses_jose_names() {
    for (alg, name) in [
        (SigningAlg::RS256, "RS256"),
        (SigningAlg::ES256, "ES256"),
        (SigningAlg::EdDSA, "EdDSA"),
    ] {
        assert_eq!(serde_json::to_string(&alg).unwrap(), format!("\"{name}\""));
        assert_eq!(
            serde_json::from_str::<SigningAlg>(&format!("\"{name}\"")).unwrap(),
            alg
        );
        assert_eq!(name.parse::<SigningAlg>().unwrap(), alg);
        assert_eq!(alg.to_string(), name);
    }
    assert!("rs256".parse::<SigningAlg>().is_err());
    assert!("HS256".parse::<SigningAlg>().is_err());
}

#[test]
fn public_jwk_serializes_as_a_flat_jwk() {
    let jwk = PublicJwk {
        key: JwkKey::Ec {
            crv: "P-256".to_owned(),
            x: "xx".to_owned(),
            y: "yy".to_owned(),
        },
        use_: "sig".to_owned(),
        alg: SigningAlg::ES256,
        kid: "k1".to_owned(),
    };
    let expected = serde_json::json!({
        "kty": "EC", "crv": "P-256", "x": "xx", "y": "yy",
        "use": "sig", "alg": "ES256", "kid": "k1",
    });
    assert_eq!(serde_json::to_value(&jwk).unwrap(), expected);
    assert_eq!(jwk.to_json(), expected);
    let back: PublicJwk = serde_json::from_value(expected).unwrap();
    assert_eq!(back, jwk);
}

#[test]
fn debug_of_signing_key_hides_the_private_key() {
    let key = generate_signing_key(SigningAlg::EdDSA, Utc::now()).unwrap();
    let printed = format!("{key:?}");
    assert!(printed.contains("[redacted]"));
    assert!(printed.contains(key.kid()));
    let der = URL_SAFE_NO_PAD.encode(key.pkcs8_der());
    assert!(!printed.contains(&der));
}

#[test]
fn rsa_keys_are_2048_bit_with_exponent_65537() {
    let key = generate_signing_key(SigningAlg::RS256, Utc::now()).unwrap();
    match &key.public_jwk().key {
        JwkKey::Rsa { n, e } => {
            assert_eq!(e, "AQAB");
            assert_eq!(URL_SAFE_NO_PAD.decode(n).unwrap().len(), 256);
        }
        other => panic!("not an RSA key: {other:?}"),
    }
}
