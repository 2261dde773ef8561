//! The provider side's cryptography of vneid-gateway.
//!
//! - [`MasterKey`]: the 32-byte key from the key file. Seals data at rest (AES-256-GCM: signing
//!   keys, personal ID numbers), makes lookup hashes (find a person by personal ID number
//!   without decrypting) and client-secret hashes; one HKDF subkey per purpose.
//! - [`random_token`]: OS-random, base64url values for codes, refresh tokens, session ids and
//!   client secrets.
//! - [`generate_signing_key`], [`SigningKey`], [`KeyRecord`]: RS256/ES256/EdDSA keys, their
//!   RFC 7638 kid and public JWK, and the sealed form the store persists.
//! - [`KeySet`]: the keys in force at a time: JWKS, the signing key, `sign` and `verify`.
//! - [`IdTokenClaims`], [`AccessTokenClaims`] (RFC 9068), [`at_hash`].
//! - [`verify_dpop_proof`]: DPoP proofs (RFC 9449) and the key thumbprint they bind tokens to.
//!
//! Nothing here does I/O or reads the clock: times are arguments.

mod assertion;
mod claims;
mod dpop;
mod error;
mod keys;
mod keyset;
mod master;

pub use assertion::{verify_client_assertion, ClientAssertion, MAX_ASSERTION_LIFETIME_SECS};
pub use claims::{
    at_hash, AccessTokenClaims, Actor, AppAssertionClaims, Audience, Confirmation, IdTokenClaims,
    LogoutTokenClaims, BACKCHANNEL_LOGOUT_EVENT,
};
pub use dpop::{
    access_token_hash, make_proof, verify_dpop_proof, DpopProof, ProofCheck, ProofClaimsOut,
    DPOP_ALGS, TYP_DPOP_PROOF,
};
pub use error::{CryptoError, TokenError};
pub use keys::{
    generate_signing_key, JwkKey, KeyRecord, PublicJwk, SigningAlg, SigningKey, UnknownSigningAlg,
};
pub use keyset::{KeySet, TYP_ACCESS_TOKEN, TYP_APP_ASSERTION, TYP_ID_TOKEN, TYP_LOGOUT_TOKEN};
pub use master::{random_token, MasterKey, MASTER_KEY_LEN, MIN_TOKEN_BYTES};
