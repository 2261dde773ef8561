//! Integration tests of vneid-store: one binary, real databases.
//!
//! Every durable-store test runs on both backends (`sqlite::NAME` and `postgres::NAME`, see
//! [`on_every_backend!`]): SQLite files in temp dirs, and a fresh database per test on the
//! Postgres at `VNEID_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! An unreachable Postgres fails the Postgres variants; `VNEID_TEST_SKIP_POSTGRES=1` skips them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
mod audit_chain;
mod clients;
mod directory;
mod directory_sync;
mod ephemeral;
mod get_many;
mod group_commit;
mod helpers;
mod keys;
mod organisations;
mod people;
mod postgres;
mod redis;
mod redis_full;
mod redis_support;
mod refresh;
mod revocations;
mod schema;
mod timeouts;
