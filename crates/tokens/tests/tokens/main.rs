//! Integration tests of vneid-tokens: one binary, a module per concern.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;
mod keyset;
mod lifecycle;
mod master;
mod props;
mod verify;
