//! One-stop-shop usernames compare case-insensitively: `CuongLV` and `cuonglv` are one account.
//! The one home of that rule: the import file's parser, the store's unique key and every
//! look-up by username fold with [`username_key`].

use unicode_normalization::UnicodeNormalization;

/// The form usernames are compared in: NFC (so that a precomposed and a decomposed `ư` are
/// equal), then lower case. ASCII stays ASCII.
pub fn username_key(username: &str) -> String {
    if username.is_ascii() {
        username.to_ascii_lowercase()
    } else {
        username.nfc().collect::<String>().to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::username_key;

    #[test]
    fn case_and_normal_form_do_not_matter() {
        assert_eq!(username_key("CuongLV"), "cuonglv");
        assert_eq!(username_key("cuonglv"), "cuonglv");
        // "Ư" precomposed, and U + combining horn.
        assert_eq!(
            username_key("TRƯỜNG"),
            username_key("tru\u{31b}o\u{31b}\u{300}ng")
        );
        assert_eq!(username_key("Đức.NV"), "đức.nv");
    }
}
