use std::sync::OnceLock;

use proptest::prelude::*;
use vneid_tokens::{KeySet, MasterKey, SigningAlg, TYP_ID_TOKEN};

use crate::helpers::{at, master_key, record, ISSUER};

fn master() -> &'static MasterKey {
    static MASTER: OnceLock<MasterKey> = OnceLock::new();
    MASTER.get_or_init(|| master_key(11))
}

fn key_set() -> &'static KeySet {
    static SET: OnceLock<KeySet> = OnceLock::new();
    SET.get_or_init(|| {
        let r = record(
            master(),
            SigningAlg::ES256,
            "2025-01-01T00:00:00Z",
            "2025-01-01T00:00:00Z",
        );
        KeySet::from_records(&[r], master(), at("2025-03-01T00:00:00Z")).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn open_never_panics_on_arbitrary_bytes(
        sealed in proptest::collection::vec(any::<u8>(), 0..200),
        aad in proptest::collection::vec(any::<u8>(), 0..32),
    ) {
        // Arbitrary bytes never authenticate; the point is that nothing panics.
        prop_assert!(master().open(&sealed, &aad).is_err());
    }

    #[test]
    fn open_never_panics_on_version_one_bytes(
        rest in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let mut sealed = vec![1u8];
        sealed.extend(rest);
        prop_assert!(master().open(&sealed, b"").is_err());
    }

    #[test]
    fn seal_then_open_gives_back_the_plaintext(
        plaintext in proptest::collection::vec(any::<u8>(), 0..300),
        aad in proptest::collection::vec(any::<u8>(), 0..32),
    ) {
        let sealed = master().seal(&plaintext, &aad).unwrap();
        prop_assert_eq!(master().open(&sealed, &aad).unwrap(), plaintext);
    }

    #[test]
    fn verify_never_panics_on_arbitrary_text(token in "\\PC{0,300}") {
        let result = key_set().verify::<serde_json::Value>(
            &token, TYP_ID_TOKEN, ISSUER, at("2025-03-01T00:00:00Z"),
        );
        prop_assert!(result.is_err());
    }

    #[test]
    fn verify_never_panics_on_three_base64url_segments(
        a in "[A-Za-z0-9_-]{0,80}", b in "[A-Za-z0-9_-]{0,80}", c in "[A-Za-z0-9_-]{0,120}",
    ) {
        let token = format!("{a}.{b}.{c}");
        let result = key_set().verify::<serde_json::Value>(
            &token, TYP_ID_TOKEN, ISSUER, at("2025-03-01T00:00:00Z"),
        );
        prop_assert!(result.is_err());
    }

    /// A header segment that is valid base64url JSON of any shape: `alg`, `kid`, `typ` of every
    /// type and value, nested objects.
    #[test]
    fn verify_never_panics_on_arbitrary_json_headers(
        alg in prop_oneof![Just(serde_json::json!("RS256")), Just(serde_json::json!("none")), Just(serde_json::json!(7)), "\\PC{0,12}".prop_map(serde_json::Value::from)],
        kid in prop_oneof![Just(serde_json::Value::Null), "\\PC{0,40}".prop_map(serde_json::Value::from), Just(serde_json::json!({"a": [1]}))],
        typ in prop_oneof![Just(serde_json::json!("JWT")), Just(serde_json::json!("at+jwt")), "\\PC{0,20}".prop_map(serde_json::Value::from)],
        payload in "\\PC{0,200}",
        signature in "[A-Za-z0-9_-]{0,100}",
    ) {
        let header = serde_json::json!({"alg": alg, "kid": kid, "typ": typ});
        let token = format!("{}.{}.{signature}", b64(header.to_string()), b64(payload));
        for typ in [TYP_ID_TOKEN, "at+jwt", "logout+jwt"] {
            let result = key_set().verify::<serde_json::Value>(
                &token, typ, ISSUER, at("2025-03-01T00:00:00Z"),
            );
            prop_assert!(result.is_err());
            let result = key_set().verify_ignoring_expiry::<serde_json::Value>(&token, typ, ISSUER);
            prop_assert!(result.is_err());
        }
    }

    /// Client assertions (RFC 7523) come from anyone on the internet: any text, and any JSON in
    /// the header and claims, is refused without a panic — and so is any registered JWKS text.
    #[test]
    fn client_assertions_never_panic(
        header in prop_oneof![Just(r#"{"alg":"RS256","kid":"k1"}"#.to_owned()), Just(r#"{"alg":"ES256"}"#.to_owned()), "\\PC{0,60}"],
        claims in prop_oneof![
            Just(r#"{"iss":"c","sub":"c","aud":"https://gw.example/token","exp":9999999999,"jti":"j"}"#.to_owned()),
            Just(r#"{"iss":"c","sub":"c","aud":["a",{"b":1}],"exp":"soon","jti":7}"#.to_owned()),
            "\\PC{0,120}",
        ],
        signature in "[A-Za-z0-9_-]{0,90}",
        raw in "\\PC{0,200}",
        jwks in prop_oneof![
            Just(r#"{"keys":[{"kty":"RSA","kid":"k1","n":"AQAB","e":"AQAB"}]}"#.to_owned()),
            Just(r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}"#.to_owned()),
            Just(r#"{"keys":[]}"#.to_owned()),
            "\\PC{0,80}",
        ],
    ) {
        let assertion = format!("{}.{}.{signature}", b64(header), b64(claims));
        for a in [assertion.as_str(), raw.as_str()] {
            let result = vneid_tokens::verify_client_assertion(
                &jwks, a, "c", &["https://gw.example/token"], at("2025-03-01T00:00:00Z"),
            );
            prop_assert!(result.is_err());
        }
    }
}

fn b64(s: impl AsRef<[u8]>) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}
