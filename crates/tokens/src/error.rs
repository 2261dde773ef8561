//! Error types of this crate: one for the symmetric primitives, one for tokens and keys.

/// Failure of a symmetric operation under the [`MasterKey`](crate::MasterKey) or of the OS
/// random number generator.
///
/// The messages never include key material, plaintext or the sealed bytes.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The master key text is not base64 of exactly 32 bytes.
    #[error("the master key must be exactly 32 bytes, base64-encoded")]
    InvalidMasterKey,
    /// The sealed bytes are too short, were tampered with, were sealed under another master key
    /// or with other associated data. Deliberately one variant: the caller learns nothing more.
    #[error("sealed data could not be opened (malformed, tampered, wrong key or wrong context)")]
    Open,
    /// The sealed bytes start with a format version this build does not know.
    #[error("sealed data has unknown format version {0}")]
    UnknownVersion(u8),
    /// A random token shorter than 128 bits was asked for.
    #[error("a random token needs at least {min} random bytes, {asked} were asked for")]
    TokenTooShort {
        /// The minimum number of random bytes.
        min: usize,
        /// What the caller asked for.
        asked: usize,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng,
    /// An internal primitive refused its input (for instance a plaintext larger than AES-GCM
    /// allows). Not expected in practice.
    #[error("a cryptographic primitive failed: {0}")]
    Primitive(&'static str),
}

/// Failure to make, load, sign or verify with signing keys and tokens.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A symmetric operation failed (opening a sealed private key, random numbers).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Generating a new signing key failed.
    #[error("generating a {alg} signing key failed: {reason}")]
    KeyGeneration {
        /// The algorithm of the key being generated.
        alg: crate::SigningAlg,
        /// Why.
        reason: String,
    },
    /// A stored key record does not hold a usable key, or its fields disagree with the sealed
    /// private key (kid, algorithm or public JWK): treated as tampering.
    #[error("signing key {kid} is unusable: {reason}")]
    InvalidKey {
        /// The record's key id.
        kid: String,
        /// Why.
        reason: String,
    },
    /// No key record is activated and not retired at the given time.
    #[error("no signing key is active at {0}")]
    NoActiveSigningKey(chrono::DateTime<chrono::Utc>),
    /// The claims could not be serialized, or the verified claims do not have the expected shape.
    #[error("token claims: {0}")]
    Claims(String),
    /// Signing failed inside the JWT library.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The token is not a well-formed JWS compact serialization, or its header is unreadable.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The token names no key id, or one that is not published in this key set.
    #[error("token is signed with an unknown key")]
    UnknownKey,
    /// The header's `typ` is not the one expected here (for instance an ID token presented as an
    /// access token).
    #[error("token type {found:?} where {expected:?} was expected")]
    WrongType {
        /// The `typ` the caller expected.
        expected: String,
        /// The `typ` in the header, if any.
        found: Option<String>,
    },
    /// The header's `alg` is not the algorithm of the key named by `kid`.
    #[error("token algorithm does not match its key")]
    WrongAlgorithm,
    /// The signature does not verify under the key named by `kid`.
    #[error("token signature is invalid")]
    BadSignature,
    /// The `iss` claim is missing or is not this issuer.
    #[error("token issuer is not this issuer")]
    WrongIssuer,
    /// A claim the check needs is missing or has the wrong type.
    #[error("token claim {0} is missing or not of the right type")]
    MissingClaim(&'static str),
    /// `exp` is at or before `now`.
    #[error("token has expired")]
    Expired,
    /// `nbf` is after `now`.
    #[error("token is not valid yet")]
    NotYetValid,
}
