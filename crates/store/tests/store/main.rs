//! Integration tests of vneid-store: one binary, real SQLite files in temp dirs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
mod ephemeral;
mod helpers;
mod keys;
mod people;
mod schema;
