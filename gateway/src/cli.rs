//! The command line: `serve`, `migrate`, `keys rotate`, `simulator`, `check-config`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::startup::{self, Application};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(name = "gateway", version, about = "VNeID identity-federation gateway")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve. With no --config: the embedded default (SQLite under ./data, simulator, demo).
    Serve {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Apply database migrations.
    Migrate {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Run the national-broker simulator alone.
    Simulator {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        bind: String,
        /// The simulator's public base URL (default: http://BIND).
        #[arg(long)]
        issuer: Option<String>,
        /// A registered client: CLIENT_ID:SECRET:REDIRECT_URI (repeatable).
        #[arg(long = "client", value_name = "ID:SECRET:REDIRECT_URI")]
        clients: Vec<String>,
        /// People fixture (TOML); default: the built-in people.
        #[arg(long)]
        people: Option<PathBuf>,
    },
    /// Load and validate the configuration, then exit.
    CheckConfig {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key; the old ones stay published.
    Rotate {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn load(config: Option<&PathBuf>) -> Result<Settings, String> {
    Settings::load(config.map(PathBuf::as_path), std::env::vars())
        .map_err(|e| format!("configuration error: {e}"))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

pub fn main(cli: Cli) -> ExitCode {
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve { config } => {
            let settings = load(config.as_ref())?;
            telemetry::init(&settings.log);
            let embedded = config.is_none();
            actix_web::rt::System::new().block_on(async move {
                let app = Application::build(settings).await.map_err(|e| format!("{e:#}"))?;
                let url = app.issuer().to_owned();
                if embedded {
                    println!("vneid-gateway is running (embedded default: SQLite in ./data, simulator, demo portal).");
                    println!("  Demo portal:      {url}/demo");
                    println!("  Simulator phone:  {url}/simulator/phone   (OTP codes and QR approvals)");
                    println!("  OIDC discovery:   {url}/.well-known/openid-configuration");
                } else {
                    println!("vneid-gateway is running at {url}");
                }
                tracing::info!(issuer = %url, "serving");
                app.run_until_stopped().await.map_err(|e| e.to_string())
            })
        }
        Command::Migrate { config } => {
            let settings = load(config.as_ref())?;
            telemetry::init(&settings.log);
            runtime()?.block_on(async {
                let db = vneid_store::Database::connect_with(&vneid_store::DbOptions {
                    url: settings.database.url.clone(),
                    max_connections: 2,
                    acquire_timeout: settings.database.acquire_timeout,
                })
                .await
                .map_err(|e| format!("database.url: {e}"))?;
                db.migrate()
                    .await
                    .map_err(|e| format!("migration failed: {e}"))?;
                println!("migrations applied ({})", db.backend());
                Ok(())
            })
        }
        Command::Keys {
            command: KeysCommand::Rotate { config },
        } => {
            let settings = load(config.as_ref())?;
            telemetry::init(&settings.log);
            runtime()?.block_on(async {
                let r = startup::rotate_keys(&settings)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                println!(
                    "new signing key {} is published now and signs from {}",
                    r.kid,
                    r.activates_at.to_rfc3339()
                );
                for (kid, at) in &r.retiring {
                    println!(
                        "key {kid} signs until then and leaves the JWKS at {}",
                        at.to_rfc3339()
                    );
                }
                Ok(())
            })
        }
        Command::Simulator {
            bind,
            issuer,
            clients,
            people,
        } => {
            telemetry::init(&crate::config::LogSettings {
                format: crate::config::LogFormat::Pretty,
                filter: "info".into(),
            });
            let listener =
                std::net::TcpListener::bind(&bind).map_err(|e| format!("--bind {bind}: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            let issuer = issuer.unwrap_or_else(|| format!("http://{addr}"));
            let mut sim_clients = Vec::new();
            for c in &clients {
                let mut parts = c.splitn(3, ':');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(id), Some(secret), Some(uri)) if !id.is_empty() && !uri.is_empty() => {
                        sim_clients.push(vneid_simulator::SimClient {
                            client_id: id.into(),
                            client_secret: secret.into(),
                            redirect_uris: vec![uri.into()],
                        })
                    }
                    _ => {
                        return Err(format!(
                            "--client {c:?}: expected CLIENT_ID:SECRET:REDIRECT_URI"
                        ))
                    }
                }
            }
            let people = match people {
                Some(p) => {
                    vneid_simulator::load_people(&p).map_err(|e| format!("--people: {e}"))?
                }
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
        Command::CheckConfig { config } => {
            let s = load(config.as_ref())?;
            println!(
                "configuration is valid: {} upstream(s), {} client(s), database {}, ephemeral {}",
                s.upstreams.len(),
                s.clients.len(),
                s.database.url.split('@').next_back().unwrap_or(""),
                s.ephemeral.url.split('@').next_back().unwrap_or("")
            );
            Ok(())
        }
    }
}
