//! The provider's token side: who the client is ([`client_auth`]), the key it holds ([`dpop`],
//! RFC 9449), pushed authorization
//! requests ([`par`]), the grants of `/token`
//! ([`grants`], token exchange in [`exchange`]), minting the tokens ([`mint`]) and what they release ([`claims`]), and the life of
//! an access token once issued ([`access`]: liveness, introspection, revocation, userinfo).

mod access;
mod claims;
mod client_auth;
pub mod dpop;
mod exchange;
mod grants;
mod mint;
mod par;

pub use access::{introspect, live_access_token, revoke, userinfo};
pub use claims::{released, Released};
pub use client_auth::{authenticate_client, claimed_client_id};
pub use exchange::{ACCESS_TOKEN_TYPE, EXCHANGED_TOKEN_TTL};
pub use grants::{pkce_matches, token};
pub use par::{push_request, PushedRequest};

/// Domain of the keyed hash of refresh tokens.
pub const NS_REFRESH: &str = "refresh";

/// Whether `token` may be one of our refresh tokens, which are opaque base64url and so never
/// hold a `.`. Access tokens are JWTs (three `.`-separated parts): introspecting or revoking
/// one needs no database look-up.
pub fn may_be_refresh_token(token: &str) -> bool {
    !token.contains('.')
}
