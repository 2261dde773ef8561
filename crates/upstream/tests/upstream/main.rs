//! Integration tests of vneid-upstream. A small OIDC provider (`provider`) is started on
//! 127.0.0.1 port 0 in each test; it signs ID tokens with the `rsa` crate (not jsonwebtoken, so
//! the crate is not checked against itself) and can be told to misbehave in the ways the real
//! simulator cannot.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

mod account_types;
mod config;
mod flow;
mod id_token;
mod mapping;
mod provider;
