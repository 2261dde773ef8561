//! A load generator for the gateway: virtual users doing whole logins through the simulator's
//! real pages, or hammering `/token` (client credentials, refresh), `/introspect` and
//! `/userinfo`, for a measured window after a warm-up. It reports operations per second,
//! latency percentiles, errors and, for given process ids, the gateway's CPU time per operation
//! and peak memory. The `loadgen` binary is a thin command line over [`run`].
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod args;
mod dpop;
mod flow;
mod ops;
mod procfs;
mod report;
mod stats;

use std::time::Duration;

pub use args::{parse_args, ArgError, Parsed, USAGE};
pub use flow::Client;
pub(crate) use flow::{hidden, random_hex};
pub use procfs::{CpuSnapshot, ProcessMemory};
pub use report::{CpuReport, Report};
pub use stats::{ErrorLog, Latency};

/// What every virtual user does in a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Whole logins: `/authorize`, the simulator's password and OTP pages, the gateway's
    /// callback and the code exchange at `/token`.
    Login,
    /// `/token` with `grant_type=client_credentials` as the machine client.
    ClientCredentials,
    /// `/introspect` of an access token (client authentication of the portal).
    Introspect,
    /// `/userinfo` with an access token as Bearer.
    Userinfo,
    /// `/token` with `grant_type=refresh_token`; every user follows its own rotating chain.
    Refresh,
}

impl Mode {
    /// Every mode, in the order the benchmark runs them.
    pub const ALL: [Mode; 5] = [
        Mode::Login,
        Mode::ClientCredentials,
        Mode::Introspect,
        Mode::Userinfo,
        Mode::Refresh,
    ];

    /// The mode's name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Login => "login",
            Mode::ClientCredentials => "client-credentials",
            Mode::Introspect => "introspect",
            Mode::Userinfo => "userinfo",
            Mode::Refresh => "refresh",
        }
    }

    /// The mode named `name`, if any.
    pub fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether the mode drives logins (and so needs the portal client).
    pub fn needs_portal(self) -> bool {
        !matches!(self, Mode::ClientCredentials)
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Base URLs of the gateways (no trailing slash); users are spread over them round-robin.
    pub gateways: Vec<String>,
    /// What the users do.
    pub mode: Mode,
    /// Concurrent virtual users.
    pub users: usize,
    /// The measured window.
    pub duration: Duration,
    /// Time before the measured window whose operations are not counted.
    pub warmup: Duration,
    /// The confidential portal (id, secret) for logins, introspection, userinfo and refresh.
    pub client: Option<(String, String)>,
    /// The portal's registered redirect URI.
    pub redirect_uri: String,
    /// The machine client (id, secret) for client credentials.
    pub machine: Option<(String, String)>,
    /// The simulator person who logs in.
    pub person: String,
    /// That person's password at the simulator.
    pub password: String,
    /// Gateway process ids whose CPU time and memory are measured.
    pub pids: Vec<u32>,
    /// Token requests and `/userinfo` carry DPoP proofs (RFC 9449) of one ES256 key: the
    /// tokens are bound, and every request costs the gateway a proof verification.
    pub dpop: bool,
}

impl Options {
    /// Defaults for everything but the gateways and the clients.
    pub fn new(gateways: Vec<String>, mode: Mode) -> Self {
        Options {
            gateways,
            mode,
            users: 16,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            client: None,
            redirect_uri: crate::PORTAL_CB.into(),
            machine: None,
            person: crate::people::LEVEL2_CITIZEN.into(),
            password: crate::PASSWORD.into(),
            pids: Vec::new(),
            dpop: false,
        }
    }
}

/// Runs `options.users` virtual users for the warm-up and the measured window and reports on
/// the window. Failed operations are counted with their messages; only a run that cannot
/// start (no gateway, no HTTP client, an unreadable pid) is an `Err`.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    ops::run(options).await
}
