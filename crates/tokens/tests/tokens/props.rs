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
}
