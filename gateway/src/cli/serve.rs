//! `serve`, `migrate`, `check-config`, and the simulator on its own.

use std::path::PathBuf;

use super::{load, runtime, SimulatorArgs};
use crate::startup::{self, Application};
use crate::telemetry;

/// `gateway serve [--config F]`: with no file, the embedded default.
pub fn serve(config: Option<PathBuf>) -> Result<(), String> {
    let settings = load(config.as_ref())?;
    telemetry::init(&settings.log);
    // jemalloc's background thread gives freed memory back to the system (after a flood's
    // pending logins expire) without waiting for the next allocation on the same thread.
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(error = %e, "jemalloc: no background thread; freed memory is returned later");
    }
    let embedded = config.is_none();
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await.map_err(|e| format!("{e:#}"))?;
        let url = app.issuer().to_owned();
        // For the person who started it, on stderr: stdout carries only log lines (JSON lines
        // for a log shipper).
        if embedded {
            eprintln!("vneid-gateway is running (embedded default: SQLite in ./data, simulator, demo portal).");
            eprintln!("  Demo portal:      {url}/demo");
            eprintln!("  Simulator phone:  {url}/simulator/phone   (OTP codes and QR approvals)");
            eprintln!("  OIDC discovery:   {url}/.well-known/openid-configuration");
        } else {
            eprintln!("vneid-gateway is running at {url}");
        }
        tracing::info!(issuer = %url, "serving");
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

/// `gateway migrate`: applies the migrations this build knows.
pub fn migrate(config: Option<PathBuf>) -> Result<(), String> {
    let settings = load(config.as_ref())?;
    telemetry::init(&settings.log);
    runtime()?.block_on(async {
        let db = startup::store::connect_database(&settings, 2)
            .await
            .map_err(|e| format!("{e:#}"))?;
        db.migrate()
            .await
            .map_err(|e| format!("migration failed: {e}"))?;
        println!("migrations applied ({})", db.backend());
        Ok(())
    })
}

/// `gateway check-config`: loads and validates the configuration.
pub fn check_config(config: Option<PathBuf>) -> Result<(), String> {
    let s = load(config.as_ref())?;
    println!(
        "configuration is valid: {} upstream(s), {} client(s), database {}, ephemeral {}",
        s.upstreams.len(),
        s.clients.len(),
        s.database.url.split('@').next_back().unwrap_or(""),
        s.ephemeral.url.split('@').next_back().unwrap_or("")
    );
    for a in &s.protected_apps {
        let level = a.min_level.unwrap_or(s.policy.default_min_level).number();
        println!(
            "protected app {}: {}{}/{{auth,start,callback,logout}}, level {level}, claims [{}], sessions of {}s",
            a.id,
            a.origin(),
            a.path_prefix,
            a.claims.join(", "),
            a.session_ttl.as_secs()
        );
    }
    Ok(())
}

/// `gateway simulator`: the national-broker simulator alone, as an upstream for another gateway.
pub fn simulator(args: SimulatorArgs) -> Result<(), String> {
    let SimulatorArgs {
        bind,
        issuer,
        clients,
        people,
    } = args;
    telemetry::init(&crate::config::LogSettings {
        format: crate::config::LogFormat::Pretty,
        filter: "info".into(),
    });
    let listener = std::net::TcpListener::bind(&bind).map_err(|e| format!("--bind {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let issuer = issuer.unwrap_or_else(|| format!("http://{addr}"));
    let mut sim_clients = Vec::new();
    for c in &clients {
        let mut parts = c.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(id), Some(secret), Some(uri)) if !id.is_empty() && !uri.is_empty() => sim_clients
                .push(vneid_simulator::SimClient {
                    client_id: id.into(),
                    client_secret: secret.into(),
                    redirect_uris: vec![uri.into()],
                }),
            _ => {
                return Err(format!(
                    "--client {c:?}: expected CLIENT_ID:SECRET:REDIRECT_URI"
                ))
            }
        }
    }
    let people = match people {
        Some(p) => vneid_simulator::load_people(&p).map_err(|e| format!("--people: {e}"))?,
        None => vneid_simulator::default_people(),
    };
    println!("simulator listening at {issuer}  (phone: {issuer}/phone)");
    actix_web::rt::System::new()
        .block_on(vneid_simulator::run_standalone(
            listener,
            vneid_simulator::SimulatorConfig {
                issuer,
                clients: sim_clients,
                people,
                field_names: Default::default(),
            },
        ))
        .map_err(|e| e.to_string())
}
