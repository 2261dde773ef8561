//! The provider's token side: who the client is ([`client_auth`]), the grants of `/token`
//! ([`grants`]), minting the tokens ([`mint`]) and what they release ([`claims`]), and the life of
//! an access token once issued ([`access`]: liveness, introspection, revocation, userinfo).

mod access;
mod claims;
mod client_auth;
mod grants;
mod mint;

pub use access::{introspect, live_access_token, revoke, userinfo};
pub use client_auth::authenticate_client;
pub use grants::{pkce_matches, token};

/// Domain of the keyed hash of refresh tokens.
pub const NS_REFRESH: &str = "refresh";
