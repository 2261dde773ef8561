//! The master key and what it is used for: sealing data at rest (AES-256-GCM), lookup hashes of
//! personal ID numbers, client-secret hashes, and the OS random tokens.

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::{aead, hkdf, hmac};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretBox};

use crate::error::CryptoError;

/// Length of the master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;

/// Smallest number of random bytes [`random_token`] accepts (128 bits).
pub const MIN_TOKEN_BYTES: usize = 16;

/// First byte of everything [`MasterKey::seal`] produces.
const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = aead::NONCE_LEN;
const TAG_LEN: usize = 16;

/// HKDF salt: fixed, names the application and the derivation scheme.
const HKDF_SALT: &[u8] = b"vneid-gateway/master-key/v1";
const INFO_AEAD: &[u8] = b"vneid-gateway/aead/aes-256-gcm/v1";
const INFO_LOOKUP: &[u8] = b"vneid-gateway/lookup-hash/hmac-sha256/v1";
const INFO_CLIENT_SECRET: &[u8] = b"vneid-gateway/client-secret/hmac-sha256/v1";
const INFO_AUDIT: &[u8] = b"vneid-gateway/audit-checkpoint/hmac-sha256/v1";

/// Prefix of a stored client-secret hash, so that a later scheme can be told apart.
const CLIENT_SECRET_PREFIX: &str = "hmac-sha256$";

/// Hash domain and AEAD associated data of personal ID numbers (stored values depend on it:
/// never change it).
const PERSONAL_ID_CONTEXT: &str = "personal_id";

/// Hash domain and AEAD associated data of organisations (their identifier's lookup hash and
/// their sealed facts): a namespace of its own, so an organisation's enterprise or tax code is
/// never looked up as a personal ID number, nor one as the other (never change it).
const ORGANISATION_CONTEXT: &str = "organisation";

/// Standard alphabet, padding optional: master key files written by hand or by other tools.
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const LENIENT_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The gateway's 32-byte master key.
///
/// It is never used directly: HKDF-SHA256 derives an independent subkey per purpose
/// (AES-256-GCM sealing, lookup hashes, client-secret hashes), so that, for instance, a lookup
/// hash can never be confused with a MAC over a client secret.
///
/// `Debug` prints `[redacted]`. Not `Clone`: share it behind an `Arc`.
pub struct MasterKey {
    raw: SecretBox<[u8; MASTER_KEY_LEN]>,
    aead: aead::LessSafeKey,
    lookup: hmac::Key,
    client_secret: hmac::Key,
    audit: hmac::Key,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// Makes a new master key from the OS random number generator.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut raw = [0u8; MASTER_KEY_LEN];
        SystemRandom::new()
            .fill(&mut raw)
            .map_err(|_| CryptoError::Rng)?;
        let key = Self::from_bytes(&raw);
        secrecy::zeroize::Zeroize::zeroize(&mut raw);
        key
    }

    /// Reads a master key from base64 (standard or URL-safe alphabet, padding optional,
    /// surrounding whitespace such as a file's final newline ignored). It must decode to exactly
    /// 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let mut bytes = LENIENT_STANDARD
            .decode(text)
            .or_else(|_| LENIENT_URL_SAFE.decode(text))
            .map_err(|_| CryptoError::InvalidMasterKey)?;
        let result = <[u8; MASTER_KEY_LEN]>::try_from(bytes.as_slice())
            .map_err(|_| CryptoError::InvalidMasterKey)
            .and_then(|raw| Self::from_bytes(&raw));
        secrecy::zeroize::Zeroize::zeroize(&mut bytes);
        result
    }

    /// The key as standard base64 with padding (44 characters): what goes into the key file.
    /// This is the secret itself; write it only to a file readable by the gateway alone.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.raw.expose_secret())
    }

    fn from_bytes(raw: &[u8; MASTER_KEY_LEN]) -> Result<Self, CryptoError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(raw);
        let aead_key: aead::UnboundKey = prk
            .expand(&[INFO_AEAD], &aead::AES_256_GCM)
            .map_err(|_| CryptoError::Primitive("hkdf expand"))?
            .into();
        let lookup: hmac::Key = prk
            .expand(&[INFO_LOOKUP], hmac::HMAC_SHA256)
            .map_err(|_| CryptoError::Primitive("hkdf expand"))?
            .into();
        let client_secret: hmac::Key = prk
            .expand(&[INFO_CLIENT_SECRET], hmac::HMAC_SHA256)
            .map_err(|_| CryptoError::Primitive("hkdf expand"))?
            .into();
        let audit: hmac::Key = prk
            .expand(&[INFO_AUDIT], hmac::HMAC_SHA256)
            .map_err(|_| CryptoError::Primitive("hkdf expand"))?
            .into();
        Ok(Self {
            raw: SecretBox::new(Box::new(*raw)),
            aead: aead::LessSafeKey::new(aead_key),
            lookup,
            client_secret,
            audit,
        })
    }

    /// Encrypts and authenticates `plaintext`, binding it to `aad` (associated data that must be
    /// given again to open it: a record id, a column name…).
    ///
    /// AES-256-GCM with a fresh random 96-bit nonce. Output: version byte (1) ‖ nonce (12) ‖
    /// ciphertext ‖ tag (16), i.e. 29 bytes longer than the plaintext. The version byte is also
    /// authenticated. Random nonces are safe far beyond this gateway's volume (the usual bound
    /// is 2^32 messages per key).
    ///
    /// Fails only if the OS random number generator fails.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CryptoError::Rng)?;

        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        let mut in_out = plaintext.to_vec();
        self.aead
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(full_aad(SEAL_VERSION, aad)),
                &mut in_out,
            )
            .map_err(|_| CryptoError::Primitive("aes-gcm seal"))?;
        out.extend_from_slice(&in_out);
        Ok(out)
    }

    /// Opens what [`seal`](Self::seal) produced with the same master key and the same `aad`.
    ///
    /// Any short, truncated, tampered input, another master key or another `aad` gives
    /// [`CryptoError::Open`]; an unknown first byte gives [`CryptoError::UnknownVersion`].
    /// Never panics, whatever the input.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (&version, rest) = sealed.split_first().ok_or(CryptoError::Open)?;
        if version != SEAL_VERSION {
            return Err(CryptoError::UnknownVersion(version));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext_len = self
            .aead
            .open_in_place(nonce, aead::Aad::from(full_aad(version, aad)), &mut in_out)
            .map_err(|_| CryptoError::Open)?
            .len();
        in_out.truncate(plaintext_len);
        Ok(in_out)
    }

    /// A deterministic keyed hash to find a record by a value without decrypting anything, e.g.
    /// a person by personal ID number.
    ///
    /// HMAC-SHA256(lookup subkey, `domain` ‖ 0x00 ‖ `value`), as 64 lowercase hex digits (safe
    /// in any column collation). `domain` separates uses (`"personal_id"`, …) and must not
    /// contain a NUL byte; it is meant to be a constant in code. Normalise `value` before
    /// calling (a validated `PersonalId`'s digits).
    pub fn lookup_hash(&self, domain: &str, value: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.lookup);
        ctx.update(domain.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        hex(ctx.sign().as_ref())
    }

    /// The lookup hash of a personal ID number (its 12 digits, already validated): how people
    /// and one-stop-shop accounts are matched without decrypting anything. The one place the
    /// hash domain of personal ID numbers is named.
    pub fn personal_id_hash(&self, digits: &str) -> String {
        self.lookup_hash(PERSONAL_ID_CONTEXT, digits)
    }

    /// Seals a personal ID number for storage (as given: a spreadsheet's raw text or the
    /// upstream's digits). The one place their associated data is named.
    pub fn seal_personal_id(&self, number: &str) -> Result<Vec<u8>, CryptoError> {
        self.seal(number.as_bytes(), PERSONAL_ID_CONTEXT.as_bytes())
    }

    /// Opens what [`MasterKey::seal_personal_id`] sealed. Anything else (another key, other
    /// associated data, bytes that are not UTF-8) is [`CryptoError::Open`].
    pub fn open_personal_id(&self, sealed: &[u8]) -> Result<String, CryptoError> {
        let bytes = self.open(sealed, PERSONAL_ID_CONTEXT.as_bytes())?;
        String::from_utf8(bytes).map_err(|_| CryptoError::Open)
    }

    /// The lookup hash of an organisation's identifier (enterprise or tax code, exactly as the
    /// upstream sent it), in the organisations' own domain: how another upstream account of the
    /// same organisation finds it. The one place that domain is named.
    pub fn organisation_key(&self, id: &str) -> String {
        self.lookup_hash(ORGANISATION_CONTEXT, id)
    }

    /// Seals an organisation's identifier, name and representative for storage (a household
    /// business's tax code is its owner's personal ID number; the representative is a person).
    pub fn seal_organisation(
        &self,
        facts: &vneid_core::OrganisationFacts,
    ) -> Result<Vec<u8>, CryptoError> {
        let json =
            serde_json::to_vec(facts).map_err(|_| CryptoError::Primitive("organisation json"))?;
        self.seal(&json, ORGANISATION_CONTEXT.as_bytes())
    }

    /// Opens what [`MasterKey::seal_organisation`] sealed; anything else is
    /// [`CryptoError::Open`].
    pub fn open_organisation(
        &self,
        sealed: &[u8],
    ) -> Result<vneid_core::OrganisationFacts, CryptoError> {
        let bytes = self.open(sealed, ORGANISATION_CONTEXT.as_bytes())?;
        serde_json::from_slice(&bytes).map_err(|_| CryptoError::Open)
    }

    /// The stored form of a client secret: `hmac-sha256$` followed by the base64url (no padding)
    /// HMAC-SHA256 of the secret under the client-secret subkey.
    ///
    /// A keyed fast hash is right here because the gateway makes every client secret with at
    /// least 256 random bits (see DESIGN.md, "Data rules"): there is nothing to brute-force, and
    /// a slow password KDF on every token request would cap throughput.
    pub fn hash_client_secret(&self, secret: &str) -> String {
        let tag = hmac::sign(&self.client_secret, secret.as_bytes());
        format!(
            "{CLIENT_SECRET_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// Whether `secret` matches a value made by [`hash_client_secret`](Self::hash_client_secret)
    /// with this master key. Compares in constant time; a malformed `stored` value is `false`.
    pub fn verify_client_secret(&self, secret: &str, stored: &str) -> bool {
        let Some(encoded) = stored.strip_prefix(CLIENT_SECRET_PREFIX) else {
            return false;
        };
        let Ok(tag) = URL_SAFE_NO_PAD.decode(encoded) else {
            return false;
        };
        hmac::verify(&self.client_secret, secret.as_bytes(), &tag).is_ok()
    }

    /// The signature of an audit-trail checkpoint's `message`: `hmac-sha256$` and the base64url
    /// (no padding) HMAC-SHA256 under the audit subkey. Only a holder of the master key can make
    /// one, so someone who can write the database but not read the key cannot rewrite the
    /// audit trail's hash chain and sign the result.
    pub fn sign_audit_checkpoint(&self, message: &[u8]) -> String {
        let tag = hmac::sign(&self.audit, message);
        format!(
            "{CLIENT_SECRET_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// Whether `signature` was made by [`sign_audit_checkpoint`](Self::sign_audit_checkpoint)
    /// over `message` with this master key (constant-time comparison).
    pub fn verify_audit_checkpoint(&self, message: &[u8], signature: &str) -> bool {
        let Some(encoded) = signature.strip_prefix(CLIENT_SECRET_PREFIX) else {
            return false;
        };
        let Ok(tag) = URL_SAFE_NO_PAD.decode(encoded) else {
            return false;
        };
        hmac::verify(&self.audit, message, &tag).is_ok()
    }
}

/// The associated data actually given to AES-GCM: the format version, then the caller's.
fn full_aad(version: u8, aad: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(1 + aad.len());
    full.push(version);
    full.extend_from_slice(aad);
    full
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// `bytes` random bytes from the OS random number generator, base64url without padding
/// (`bytes * 4 / 3` characters, rounded up): authorization codes, refresh tokens, session ids,
/// client secrets, `jti`s.
///
/// At least [`MIN_TOKEN_BYTES`] (128 bits) are required, since every such value protects
/// something; 32 is the usual choice. Fails if fewer are asked for or if the OS random number
/// generator fails.
pub fn random_token(bytes: usize) -> Result<String, CryptoError> {
    if bytes < MIN_TOKEN_BYTES {
        return Err(CryptoError::TokenTooShort {
            min: MIN_TOKEN_BYTES,
            asked: bytes,
        });
    }
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| CryptoError::Rng)?;
    Ok(URL_SAFE_NO_PAD.encode(&buf))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32]))
            .unwrap()
    }

    #[test]
    fn base64_round_trip_keeps_the_key() {
        let original = MasterKey::generate().unwrap();
        let text = original.to_base64();
        assert_eq!(text.len(), 44);
        let again = MasterKey::from_base64(&format!("  {text}\n")).unwrap();
        assert_eq!(again.to_base64(), text);
        let sealed = original.seal(b"x", b"aad").unwrap();
        assert_eq!(again.open(&sealed, b"aad").unwrap(), b"x");
    }

    #[test]
    fn master_key_accepts_unpadded_and_url_safe_base64() {
        let raw = [0xfbu8; 32];
        let standard = base64::engine::general_purpose::STANDARD_NO_PAD.encode(raw);
        let url_safe = URL_SAFE_NO_PAD.encode(raw);
        assert_ne!(standard, url_safe);
        assert_eq!(
            MasterKey::from_base64(&standard).unwrap().to_base64(),
            MasterKey::from_base64(&url_safe).unwrap().to_base64()
        );
    }

    #[test]
    fn master_key_of_wrong_length_or_not_base64_is_refused() {
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 31]);
        let long = base64::engine::general_purpose::STANDARD.encode([1u8; 33]);
        for bad in ["", "not base64!", short.as_str(), long.as_str()] {
            assert_eq!(
                MasterKey::from_base64(bad).unwrap_err(),
                CryptoError::InvalidMasterKey,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_of_master_key_is_redacted() {
        let master = key(7);
        let printed = format!("{master:?}");
        assert_eq!(printed, "MasterKey([redacted])");
        assert!(!printed.contains(&master.to_base64()));
    }

    #[test]
    fn sealed_layout_is_version_nonce_ciphertext_tag() {
        let sealed = key(1).seal(b"hello", b"").unwrap();
        assert_eq!(sealed.len(), 1 + 12 + 5 + 16);
        assert_eq!(sealed[0], 1);
    }

    #[test]
    fn sealing_twice_gives_different_bytes() {
        let master = key(1);
        let a = master.seal(b"052012345678", b"people.personal_id").unwrap();
        let b = master.seal(b"052012345678", b"people.personal_id").unwrap();
        assert_ne!(a, b, "fresh nonce each time");
    }

    #[test]
    fn unknown_version_byte_is_reported_as_such() {
        let master = key(1);
        let mut sealed = master.seal(b"x", b"").unwrap();
        sealed[0] = 2;
        assert_eq!(
            master.open(&sealed, b"").unwrap_err(),
            CryptoError::UnknownVersion(2)
        );
    }

    #[test]
    fn subkeys_differ_per_purpose() {
        let master = key(3);
        let lookup = master.lookup_hash("client_secret", "s3cret");
        let secret = master.hash_client_secret("s3cret");
        assert!(!secret.contains(&lookup));
        let tag = hmac::sign(&master.lookup, b"s3cret");
        assert_ne!(
            secret.trim_start_matches(CLIENT_SECRET_PREFIX),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        );
    }

    #[test]
    fn lookup_hash_is_64_lowercase_hex_digits() {
        let hash = key(5).lookup_hash("personal_id", "052012345678");
        assert_eq!(hash.len(), 64);
        assert!(hash
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    }

    #[test]
    fn personal_id_numbers_keep_their_stored_form() {
        let master = key(6);
        // Values already in databases were written with these literals: they must still match.
        assert_eq!(
            master.personal_id_hash("052012345678"),
            master.lookup_hash("personal_id", "052012345678")
        );
        let old = master.seal(b"052012345678", b"personal_id").unwrap();
        assert_eq!(master.open_personal_id(&old).unwrap(), "052012345678");
        let sealed = master.seal_personal_id(" 0520-1234 5678").unwrap();
        assert_eq!(master.open_personal_id(&sealed).unwrap(), " 0520-1234 5678");
    }

    #[test]
    fn other_seals_do_not_open_as_personal_id_numbers() {
        let master = key(7);
        let other = master.seal(b"052012345678", b"refresh_grace").unwrap();
        assert_eq!(master.open_personal_id(&other), Err(CryptoError::Open));
        let foreign = key(8).seal_personal_id("052012345678").unwrap();
        assert_eq!(master.open_personal_id(&foreign), Err(CryptoError::Open));
        let not_text = master.seal(&[0xff, 0xfe], b"personal_id").unwrap();
        assert_eq!(master.open_personal_id(&not_text), Err(CryptoError::Open));
    }

    #[test]
    fn organisations_have_a_namespace_of_their_own() {
        let master = key(9);
        // A tax code that is also a valid personal ID number (a household business's) never
        // hashes to that number's personal ID hash.
        assert_ne!(
            master.organisation_key("052090000123"),
            master.personal_id_hash("052090000123")
        );
        assert_eq!(
            master.organisation_key("4100123456"),
            master.lookup_hash("organisation", "4100123456")
        );
        let facts = vneid_core::OrganisationFacts {
            id: Some("4100123456".into()),
            name: Some("Công ty TNHH Thương mại Quy Nhơn".into()),
            representative: Some("Trần Văn Đức".into()),
        };
        let sealed = master.seal_organisation(&facts).unwrap();
        assert_eq!(master.open_organisation(&sealed).unwrap(), facts);
        assert_eq!(master.open_personal_id(&sealed), Err(CryptoError::Open));
        let pid = master.seal_personal_id("052090000123").unwrap();
        assert!(master.open_organisation(&pid).is_err());
    }

    #[test]
    fn audit_checkpoint_signatures_need_the_same_key_and_message() {
        let sig = key(1).sign_audit_checkpoint(b"[1,2]");
        assert!(sig.starts_with("hmac-sha256$"));
        assert!(key(1).verify_audit_checkpoint(b"[1,2]", &sig));
        assert!(!key(1).verify_audit_checkpoint(b"[1,3]", &sig));
        assert!(!key(2).verify_audit_checkpoint(b"[1,2]", &sig));
        // The audit subkey is not the client-secret subkey.
        assert!(!key(1).verify_client_secret("[1,2]", &sig));
        assert!(!key(1).verify_audit_checkpoint(b"[1,2]", "hmac-sha256$!!"));
    }

    #[test]
    fn random_token_below_128_bits_is_refused() {
        assert_eq!(
            random_token(15).unwrap_err(),
            CryptoError::TokenTooShort { min: 16, asked: 15 }
        );
        assert_eq!(random_token(16).unwrap().len(), 22);
    }

    #[test]
    fn hex_matches_known_value() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
}
