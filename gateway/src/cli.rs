//! The command line: `serve`, `migrate`, `keys rotate`, `simulator`, `check-config`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::startup::{self, Application};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(name = "gateway", version = crate::LONG_VERSION, about = "VNeID identity-federation gateway")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
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
    /// Downstream portals registered in the database.
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// The one-stop-shop account directory.
    Directory {
        #[command(subcommand)]
        command: DirectoryCommand,
    },
    /// Reports for the IT centre.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
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
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum ClientsCommand {
    /// Register a client; its secret is printed once and kept only as a keyed hash.
    Add {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The client_id.
        #[arg(long)]
        id: String,
        /// Shown on pages ("Quay lại …").
        #[arg(long)]
        name: Option<String>,
        /// Exact redirect URI (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<url::Url>,
        /// Exact post-logout redirect URI (repeatable).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<url::Url>,
        #[arg(long = "backchannel-logout-uri")]
        backchannel_logout_uri: Option<url::Url>,
        /// authorization_code (default), refresh_token, client_credentials (repeatable).
        #[arg(long = "grant")]
        grant_types: Vec<String>,
        /// Scopes (repeatable; default openid profile).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// 1 or 2 (default: policy.default_min_level).
        #[arg(long = "min-level")]
        min_level: Option<u8>,
        /// A public client (no secret; PKCE required).
        #[arg(long)]
        public: bool,
        /// `public` (the person id is the `sub`, default) or `pairwise` (a per-sector `sub`).
        #[arg(long = "subject-type", default_value = "public")]
        subject_type: String,
        /// The sector of a pairwise client (a host name); default: the host of its redirect
        /// URIs.
        #[arg(long = "sector-identifier")]
        sector_identifier: Option<String>,
    },
    /// List the clients of the configuration file and of the database (no secrets).
    List {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Import accounts from a spreadsheet export (CSV; `.json` files as JSON). Rows that
    /// cannot be accounts are listed by line; nothing is written when there are any, unless
    /// --allow-partial. Exits non-zero when the file was refused.
    Import {
        /// The file: header `username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email`.
        file: PathBuf,
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Write nothing; report what would happen.
        #[arg(long)]
        dry_run: bool,
        /// Write the good rows even when some rows are rejected.
        #[arg(long)]
        allow_partial: bool,
        /// Print the whole report as JSON (as the admin API returns it).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Which units' staff can log in through VNeID, and who is not ready yet.
    Readiness {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// json (default) or csv (one line per unit, for a spreadsheet).
        #[arg(long, default_value = "json")]
        format: String,
        /// Show personal ID numbers in clear (default: masked).
        #[arg(long)]
        pii: bool,
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
                let db = startup::connect_database(&settings, 2)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
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
        Command::Clients {
            command:
                ClientsCommand::Add {
                    config,
                    id,
                    name,
                    redirect_uris,
                    post_logout_redirect_uris,
                    backchannel_logout_uri,
                    grant_types,
                    scopes,
                    min_level,
                    public,
                    subject_type,
                    sector_identifier,
                },
        } => {
            let settings = load(config.as_ref())?;
            let subject_type = crate::config::SubjectType::parse(&subject_type)
                .map_err(|e| format!("--subject-type {e}"))?;
            let min_level = match min_level {
                Some(n) => Some(
                    vneid_core::AssuranceLevel::from_number(i64::from(n))
                        .map_err(|e| format!("--min-level: {e}"))?,
                ),
                None => None,
            };
            let client = crate::config::ClientSettings {
                client_id: id,
                client_secret: None,
                token_endpoint_auth_method: Some(if public {
                    crate::config::ClientAuthMethod::None
                } else {
                    crate::config::ClientAuthMethod::ClientSecretBasic
                }),
                redirect_uris,
                post_logout_redirect_uris,
                backchannel_logout_uri,
                grant_types: if grant_types.is_empty() {
                    crate::config::default_grants()
                } else {
                    grant_types
                },
                scopes: if scopes.is_empty() {
                    crate::config::default_client_scopes()
                } else {
                    scopes
                },
                min_level,
                upstreams: vec![],
                name,
                jwks: None,
                subject_type,
                sector_identifier,
            };
            let client_id = client.client_id.clone();
            runtime()?.block_on(async {
                let secret = startup::add_client(&settings, client).await.map_err(|e| format!("{e:#}"))?;
                println!("client_id:     {client_id}");
                match secret {
                    Some(s) => {
                        println!("client_secret: {s}");
                        println!("(the secret is shown this once; the gateway keeps only a keyed hash. Running gateways serve the client within tokens.key_reload_interval.)");
                    }
                    None => println!("(a public client: no secret; PKCE is required. Running gateways serve the client within tokens.key_reload_interval.)"),
                }
                Ok(())
            })
        }
        Command::Clients {
            command: ClientsCommand::List { config },
        } => {
            let settings = load(config.as_ref())?;
            runtime()?.block_on(async {
                let rows = startup::list_clients(&settings)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                println!("{:<32} {:<9} grants", "client_id", "source");
                for (id, source, grants) in rows {
                    println!("{id:<32} {source:<9} {grants}");
                }
                Ok(())
            })
        }
        Command::Directory {
            command:
                DirectoryCommand::Import {
                    file,
                    config,
                    dry_run,
                    allow_partial,
                    json,
                },
        } => {
            let settings = load(config.as_ref())?;
            let options = vneid_directory::import::ImportOptions {
                dry_run,
                allow_partial,
            };
            let report = runtime()?.block_on(async {
                crate::directory::import_file(&settings, &file, options)
                    .await
                    .map_err(|e| format!("{e:#}"))
            })?;
            if json {
                let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
                println!("{text}");
            } else {
                print!("{}", crate::directory::import_summary(&report));
            }
            if report.refused() {
                return Err(format!(
                    "{}: {} row(s) rejected, nothing written",
                    file.display(),
                    report.rejected_rows
                ));
            }
            Ok(())
        }
        Command::Report {
            command:
                ReportCommand::Readiness {
                    config,
                    format,
                    pii,
                },
        } => {
            if format != "json" && format != "csv" {
                return Err(format!("--format {format:?}: expected json or csv"));
            }
            let settings = load(config.as_ref())?;
            let report = runtime()?.block_on(async {
                crate::directory::readiness_cli(&settings, pii)
                    .await
                    .map_err(|e| format!("{e:#}"))
            })?;
            if format == "csv" {
                print!("{}", vneid_directory::report::readiness_csv(&report));
            } else {
                let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
                println!("{text}");
            }
            Ok(())
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
