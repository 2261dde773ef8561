//! vneid-gateway: the identity-federation gateway in front of the national login broker.
//! `main.rs` only parses the command line; everything else is here so tests can build the real
//! application on port 0.

pub mod admin;
pub mod audit;
pub mod cli;
pub mod client_ip;
pub mod clients;
pub mod config;
pub mod cookies;
pub mod demo;
pub mod directory;
pub mod ephemeral;
pub mod errors;
pub mod files;
pub mod forward_auth;
pub mod http;
pub mod login;
pub mod metrics;
pub mod oauth;
pub mod pages;
pub mod params;
pub mod ratelimit;
pub mod resources;
pub mod revocation;
pub mod secure;
pub mod startup;
pub mod state;
pub mod subjects;
pub mod telemetry;
pub mod upstream_health;

/// The package version and a hash of every source this build was made from (see `build.rs`):
/// `gateway --version` prints both.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const BUILD_ID: &str = env!("VNEID_BUILD_ID");
/// `VERSION (build BUILD_ID)`, what `gateway --version` prints after the name.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (build ",
    env!("VNEID_BUILD_ID"),
    ")"
);

pub use config::Settings;
pub use startup::Application;
