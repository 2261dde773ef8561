//! The command line. Each group of commands has its file: `serve` (serve, migrate,
//! check-config, the simulator alone), `manage` (keys, clients, the directory, reports) and
//! `audit` (the audit trail), `backup` (backup and restore of the embedded database).

mod audit;
mod backup;
mod manage;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::Settings;

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
    /// Copy the embedded SQLite database to a new file while the gateway serves (consistent,
    /// checked). The master key is not in it: keep it apart.
    Backup {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The backup file to write (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Put a backup in place of the embedded SQLite database (refused while a gateway serves
    /// it; the database it replaces is kept beside it).
    Restore {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The backup file to restore.
        #[arg(long)]
        from: PathBuf,
    },
    /// The tamper-evident audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Run the national-broker simulator alone.
    Simulator(SimulatorArgs),
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
    Add(AddClient),
    /// List the clients of the configuration file, the built-in ones and those of the database
    /// (no secrets).
    List {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Give a client of the database a new secret, printed once; the previous one keeps working
    /// for `admin.secret_rotation_grace` (24 h by default).
    RotateSecret {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The client_id.
        #[arg(long)]
        id: String,
    },
    /// Remove a client of the database: its refresh tokens are revoked and its access tokens
    /// stop working. Clients of the configuration file and built-in ones are refused.
    Remove {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The client_id.
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Import accounts from a spreadsheet export (CSV; `.json` files as JSON). Rows that
    /// cannot be accounts are listed by line; nothing is written when there are any, unless
    /// --allow-partial. Exits non-zero when the file was refused.
    Import(ImportFile),
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Which units' staff can log in through VNeID, and who is not ready yet.
    Readiness(ReadinessReport),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and check the signed checkpoints; fails naming the first event that
    /// was edited, deleted or moved.
    Verify {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Start at this seq (its link to the one before is taken on trust); default: the start
        /// of the chain, or the latest pruning checkpoint.
        #[arg(long)]
        from: Option<i64>,
    },
    /// Print events as JSON lines, oldest first, with their chain fields (seq, prev_hash, hash).
    Export {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// From this date (YYYY-MM-DD, Vietnam time) or RFC 3339 time.
        #[arg(long)]
        from: Option<String>,
        /// To this date (included) or RFC 3339 time (excluded).
        #[arg(long)]
        to: Option<String>,
        /// Only events of this kind (login, link, client_registered, …).
        #[arg(long)]
        kind: Option<String>,
    },
    /// Sign the chain's head now (the server does it every audit.checkpoint_every).
    Checkpoint {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Delete events older than audit.retain behind a signed checkpoint (the server does it
    /// daily).
    Prune {
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

#[derive(Debug, Args)]
pub struct AddClient {
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The client_id.
    #[arg(long)]
    pub id: String,
    /// Shown on pages ("Quay lại …").
    #[arg(long)]
    pub name: Option<String>,
    /// Exact redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<url::Url>,
    /// Exact post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<url::Url>,
    #[arg(long = "backchannel-logout-uri")]
    pub backchannel_logout_uri: Option<url::Url>,
    /// authorization_code (default), refresh_token, client_credentials (repeatable).
    #[arg(long = "grant")]
    pub grant_types: Vec<String>,
    /// Scopes (repeatable; default openid profile).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// 1 or 2 (default: policy.default_min_level).
    #[arg(long = "min-level")]
    pub min_level: Option<u8>,
    /// The account types the portal admits: citizen, organisation (repeatable; default both).
    #[arg(long = "account-type")]
    pub account_types: Vec<String>,
    /// Its authorization requests must come through `/par` (RFC 9126): a plain `/authorize`
    /// is refused.
    #[arg(long = "require-par")]
    pub require_par: bool,
    /// Its access tokens must be DPoP-bound (RFC 9449): a token request without a proof is
    /// refused.
    #[arg(long = "dpop-bound")]
    pub dpop_bound: bool,
    /// `standard` (default) or `fapi2` (the FAPI 2.0 Security Profile: needs --jwks).
    #[arg(long, default_value = "standard")]
    pub profile: String,
    /// A file with the client's public keys (a JWKS): the client authenticates with
    /// private_key_jwt, and has no secret.
    #[arg(long)]
    pub jwks: Option<PathBuf>,
    /// A public client (no secret; PKCE required).
    #[arg(long)]
    pub public: bool,
    /// `public` (the person id is the `sub`, default) or `pairwise` (a per-sector `sub`).
    #[arg(long = "subject-type", default_value = "public")]
    pub subject_type: String,
    /// The sector of a pairwise client (a host name); default: the host of its redirect
    /// URIs.
    #[arg(long = "sector-identifier")]
    pub sector_identifier: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportFile {
    /// The file: header `username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email`.
    pub file: PathBuf,
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Write nothing; report what would happen.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the good rows even when some rows are rejected.
    #[arg(long)]
    pub allow_partial: bool,
    /// The file is the whole list of each unit it names: their accounts it does not list
    /// become inactive (kept with their links, never linked at login or released in the
    /// `account` claim); units it does not name are untouched. With --dry-run: lists them.
    #[arg(long)]
    pub sync: bool,
    /// Print the whole report as JSON (as the admin API returns it).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReadinessReport {
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// json (default) or csv (one line per unit, for a spreadsheet).
    #[arg(long, default_value = "json")]
    pub format: String,
    /// Show personal ID numbers in clear (default: masked).
    #[arg(long)]
    pub pii: bool,
}

#[derive(Debug, Args)]
pub struct SimulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub bind: String,
    /// The simulator's public base URL (default: http://BIND).
    #[arg(long)]
    pub issuer: Option<String>,
    /// A registered client: CLIENT_ID:SECRET:REDIRECT_URI (repeatable).
    #[arg(long = "client", value_name = "ID:SECRET:REDIRECT_URI")]
    pub clients: Vec<String>,
    /// People fixture (TOML); default: the built-in people.
    #[arg(long)]
    pub people: Option<PathBuf>,
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
        Command::Serve { config } => serve::serve(config),
        Command::Migrate { config } => serve::migrate(config),
        Command::CheckConfig { config } => serve::check_config(config),
        Command::Simulator(args) => serve::simulator(args),
        Command::Keys {
            command: KeysCommand::Rotate { config },
        } => manage::rotate_keys(config),
        Command::Clients {
            command: ClientsCommand::Add(args),
        } => manage::add_client(args),
        Command::Clients {
            command: ClientsCommand::List { config },
        } => manage::list_clients(config),
        Command::Clients {
            command: ClientsCommand::Remove { config, id },
        } => manage::remove_client(config, &id),
        Command::Clients {
            command: ClientsCommand::RotateSecret { config, id },
        } => manage::rotate_secret(config, &id),
        Command::Directory {
            command: DirectoryCommand::Import(args),
        } => manage::import_directory(args),
        Command::Report {
            command: ReportCommand::Readiness(args),
        } => manage::readiness(args),
        Command::Audit { command } => audit::run(command),
        Command::Backup { config, to } => backup::backup(config, &to),
        Command::Restore { config, from } => backup::restore(config, &from),
    }
}
