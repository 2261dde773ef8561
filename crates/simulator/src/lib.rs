//! A stand-in for the national login broker (Cổng Dịch vụ công quốc gia, xác thực) federating to
//! VNeID, for development and tests: OpenID Connect authorization-code flow with the broker's
//! userinfo fields, a Vietnamese login page (số định danh cá nhân + mật khẩu, then an SMS OTP),
//! QR login approved from a simulated phone page, and people read from a TOML fixture.
//!
//! It shares no code with the gateway's upstream or token crates: it signs its ID tokens with
//! its own few lines of RS256 and parses its own forms, so a bug on one
//! side cannot hide the same bug on the other.
//!
//! Mount it inside the gateway with
//! `web::scope("/simulator").configure(|c| sim.configure(c))`, or run it alone with
//! [`run_standalone`]. Everything is kept in memory; nothing survives a restart (the signing key
//! included).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod broker;
mod config;
mod error;
mod html;
mod http;
mod jws;
mod params;
mod people;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{web, App, HttpServer};
use vneid_core::{Clock, SystemClock};

pub use config::{SimClient, SimulatorConfig};
pub use error::SimulatorError;
pub use people::{default_people, load_people, Person};

/// The simulated broker. Cheap to clone: every clone shares the same state and signing key.
#[derive(Clone)]
pub struct Simulator {
    broker: Arc<broker::Broker>,
}

impl Simulator {
    /// Checks the configuration and generates an RSA-2048 signing key in memory (a fraction of
    /// a second in an optimised build; do it at start-up).
    pub fn new(config: SimulatorConfig) -> Result<Self, SimulatorError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// As [`Simulator::new`], with the clock that decides every expiry (tests move it instead of
    /// sleeping).
    pub fn with_clock(
        config: SimulatorConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SimulatorError> {
        Ok(Self {
            broker: Arc::new(broker::Broker::new(config, clock)?),
        })
    }

    /// Shows `text` in a banner at the top of every page (the gateway says so when the simulator
    /// runs beside production backends). Call it before the simulator is mounted.
    pub fn with_warning(mut self, text: impl Into<String>) -> Self {
        match Arc::get_mut(&mut self.broker) {
            Some(b) => b.warning = Some(text.into()),
            None => tracing::warn!("Simulator::with_warning after mounting: ignored"),
        }
        self
    }

    /// The issuer as used in tokens and URLs (any trailing slash removed).
    pub fn issuer(&self) -> &str {
        &self.broker.issuer
    }

    /// Registers every route relative to the mount point.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        http::configure(self.broker.clone(), cfg);
    }
}

/// Runs the simulator as its own server at the root path until the server is stopped.
pub async fn run_standalone(listener: TcpListener, config: SimulatorConfig) -> std::io::Result<()> {
    let sim = Simulator::new(config)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    serve(listener, sim).await
}

/// Runs an already built simulator as its own server at the root path.
pub async fn serve(listener: TcpListener, sim: Simulator) -> std::io::Result<()> {
    tracing::info!(issuer = %sim.issuer(), "simulator listening");
    let server = HttpServer::new(move || {
        let sim = sim.clone();
        App::new()
            .configure(|c| sim.configure(c))
            .default_service(web::to(http::not_found))
    })
    .workers(2)
    .listen(listener)?
    .run();
    server.await
}
