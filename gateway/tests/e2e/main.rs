//! End-to-end: the real gateway, the real simulator, HTTP only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

mod account_types;
mod admin_clients;
mod admin_patch;
mod admin_problems;
mod attacks;
mod attacks_durable;
mod attacks_limits;
mod attacks_process;
mod audit;
mod backup;
mod bad_input;
mod binary;
mod branding;
mod console;
mod demo;
mod directory;
mod directory_sync;
mod dpop;
mod dpop_refresh;
mod fapi2;
mod forward_auth;
mod introspection;
mod loadgen;
mod login;
mod logout;
mod logs;
mod openapi;
mod pairwise;
mod par;
mod process;
mod provider;
mod readiness;
mod refresh;
mod refusals;
mod resources;
mod scale;
mod tls_stores;
mod upgrades;
mod upstream_config;
