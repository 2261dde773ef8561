//! `keys rotate`, `clients add|list|remove|rotate-secret`, `directory import`, `report readiness`.

use std::path::PathBuf;

use secrecy::ExposeSecret;

use super::{load, runtime, AddClient, ImportFile, ReadinessReport};
use crate::clients::Actor;
use crate::config::Settings;
use crate::startup;
use crate::telemetry;

/// `gateway keys rotate`.
pub fn rotate_keys(config: Option<PathBuf>) -> Result<(), String> {
    let settings = load(config.as_ref())?;
    telemetry::init(&settings.log);
    runtime()?.block_on(async {
        let r =
            startup::keys::rotate_keys(&settings, vneid_core::Clock::now(&vneid_core::SystemClock))
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

/// `gateway clients add`.
pub fn add_client(args: AddClient) -> Result<(), String> {
    let AddClient {
        config,
        id,
        name,
        redirect_uris,
        post_logout_redirect_uris,
        backchannel_logout_uri,
        grant_types,
        scopes,
        min_level,
        account_types,
        require_par,
        dpop_bound,
        profile,
        jwks,
        public,
        subject_type,
        sector_identifier,
    } = args;
    let settings = load(config.as_ref())?;
    let subject_type = crate::config::SubjectType::parse(&subject_type)
        .map_err(|e| format!("--subject-type {e}"))?;
    let profile =
        crate::config::ClientProfile::parse(&profile).map_err(|e| format!("--profile {e}"))?;
    let jwks = match jwks {
        Some(path) => Some(
            std::fs::read_to_string(&path)
                .map_err(|e| format!("--jwks {}: {e}", path.display()))?,
        ),
        None => None,
    };
    if public && jwks.is_some() {
        return Err("--public and --jwks: a public client has no keys to authenticate with".into());
    }
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
        } else if jwks.is_some() {
            crate::config::ClientAuthMethod::PrivateKeyJwt
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
        account_types: if account_types.is_empty() {
            crate::config::default_account_types()
        } else {
            account_types
        },
        upstreams: vec![],
        name,
        jwks,
        subject_type,
        sector_identifier,
        require_pushed_authorization_requests: require_par.then_some(true),
        dpop_bound_access_tokens: dpop_bound.then_some(true),
        profile,
        builtin: false,
    };
    let client_id = client.client_id.clone();
    runtime()?.block_on(async {
        let secret = add_client_to_database(&settings, client).await.map_err(|e| format!("{e:#}"))?;
        println!("client_id:     {client_id}");
        match secret {
            Some(s) => {
                println!("client_secret: {s}");
                println!("(the secret is shown this once; the gateway keeps only a keyed hash. Running gateways serve the client within tokens.key_reload_interval.)");
            }
            None if public => println!("(a public client: no secret; PKCE is required. Running gateways serve the client within tokens.key_reload_interval.)"),
            None => println!("(private_key_jwt: no secret; the client signs its assertions with a key of --jwks. Running gateways serve the client within tokens.key_reload_interval.)"),
        }
        Ok(())
    })
}

/// `gateway clients list`.
pub fn list_clients(config: Option<PathBuf>) -> Result<(), String> {
    let settings = load(config.as_ref())?;
    runtime()?.block_on(async {
        let rows = clients_of(&settings).await.map_err(|e| format!("{e:#}"))?;
        println!("{:<32} {:<9} grants", "client_id", "source");
        for (id, source, grants) in rows {
            println!("{id:<32} {source:<9} {grants}");
        }
        Ok(())
    })
}

/// Who changes clients from the command line, for the audit trail.
const CLI_ACTOR: Actor = Actor {
    via: "cli",
    by: None,
    request_id: None,
};

/// The database, the master key, and the registry of the configuration's clients, for the
/// commands that change a database client as the admin API does.
async fn client_store(
    settings: &Settings,
) -> Result<
    (
        vneid_store::Database,
        vneid_tokens::MasterKey,
        crate::clients::ClientRegistry,
    ),
    String,
> {
    let (db, master) = startup::store::open_existing(settings)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let registry = crate::clients::ClientRegistry::new(
        settings
            .clients
            .iter()
            .map(|c| crate::clients::Client::from_settings(c, &master)),
    );
    Ok((db, master, registry))
}

/// `gateway clients remove`: a client of the database, as `DELETE /admin/v1/clients/{id}` does
/// (running gateways stop serving it at their next reload).
pub fn remove_client(config: Option<PathBuf>, id: &str) -> Result<(), String> {
    use crate::clients::{remove_client, ChangeError};
    let settings = load(config.as_ref())?;
    if startup::embedded::builtin_client_ids(&settings)
        .iter()
        .any(|b| b == id)
    {
        return Err(format!(
            "--id {id}: a client built into the gateway (the demo portal's or the IT centre's \
             page's) cannot be removed; the demo client goes away with demo.enabled = false"
        ));
    }
    runtime()?.block_on(async {
        let (db, _, registry) = client_store(&settings).await?;
        let now = vneid_core::Clock::now(&vneid_core::SystemClock);
        match remove_client(&db, &registry, id, &CLI_ACTOR, now).await {
            Ok(revoked) => {
                println!("client {id} removed; {revoked} refresh-token families revoked");
                Ok(())
            }
            Err(ChangeError::InConfig) => Err(format!(
                "--id {id}: the client is a [[clients]] entry of the configuration file: remove it there"
            )),
            Err(ChangeError::NotFound) => Err(format!("--id {id}: no such client in the database")),
            Err(e) => Err(format!("--id {id}: {e}")),
        }
    })
}

/// `gateway clients rotate-secret`: as `POST /admin/v1/clients/{id}/secret` does.
pub fn rotate_secret(config: Option<PathBuf>, id: &str) -> Result<(), String> {
    use crate::clients::ChangeError;
    let settings = load(config.as_ref())?;
    if startup::embedded::builtin_client_ids(&settings)
        .iter()
        .any(|b| b == id)
    {
        return Err(format!(
            "--id {id}: a client built into the gateway has no secret to rotate"
        ));
    }
    runtime()?.block_on(async {
        let (db, master, registry) = client_store(&settings).await?;
        let now = vneid_core::Clock::now(&vneid_core::SystemClock);
        let grace = settings.admin.secret_rotation_grace;
        match crate::clients::rotate_secret(&db, &master, &registry, id, grace, &CLI_ACTOR, now)
            .await
        {
            Ok((secret, until)) => {
                println!("client_id:     {id}");
                println!("client_secret: {}", secret.expose_secret());
                match until {
                    Some(u) => println!("the previous secret works until {}", u.to_rfc3339()),
                    None => println!("the previous secret no longer works"),
                }
                println!("Store the new secret now: it is not shown again.");
                Ok(())
            }
            Err(ChangeError::InConfig) => Err(format!(
                "--id {id}: the client is a [[clients]] entry of the configuration file: change its client_secret there"
            )),
            Err(ChangeError::NotFound) => Err(format!("--id {id}: no such client in the database")),
            Err(e) => Err(format!("--id {id}: {e}")),
        }
    })
}

/// `gateway directory import`.
pub fn import_directory(args: ImportFile) -> Result<(), String> {
    let ImportFile {
        file,
        config,
        dry_run,
        allow_partial,
        sync,
        json,
    } = args;
    let settings = load(config.as_ref())?;
    let options = vneid_directory::import::ImportOptions {
        dry_run,
        allow_partial,
        sync,
    };
    let parsed = crate::directory::read_file(&file).map_err(|e| format!("{e:#}"))?;
    let report = runtime()?.block_on(async {
        let (db, master) = startup::store::open_existing(&settings).await?;
        crate::directory::import_parsed(&db, &master, &parsed, options).await
    });
    let report = report.map_err(|e| format!("{e:#}"))?;
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

/// `gateway report readiness`.
pub fn readiness(args: ReadinessReport) -> Result<(), String> {
    let ReadinessReport {
        config,
        format,
        pii,
    } = args;
    if format != "json" && format != "csv" {
        return Err(format!("--format {format:?}: expected json or csv"));
    }
    let settings = load(config.as_ref())?;
    let report = runtime()?.block_on(async {
        let (db, master) = startup::store::open_existing(&settings).await?;
        let now = vneid_core::Clock::now(&vneid_core::SystemClock);
        let idp = &settings.policy.vneid_login_idp;
        anyhow::Ok(crate::directory::readiness_report(&db, &master, idp, pii, now).await?)
    });
    let report = report.map_err(|e| format!("{e:#}"))?;
    if format == "csv" {
        print!("{}", vneid_directory::report::readiness_csv(&report));
    } else {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        println!("{text}");
    }
    Ok(())
}

/// `gateway clients add`: registers the client in the database exactly as the admin API does
/// ([`crate::clients::register_client`]) and returns its secret — the only time it is shown.
async fn add_client_to_database(
    settings: &Settings,
    client: crate::config::ClientSettings,
) -> anyhow::Result<Option<String>> {
    let (db, master) = startup::store::open_existing(settings).await?;
    let (_, secret) = crate::clients::register_client(
        settings,
        &db,
        &master,
        client,
        &CLI_ACTOR,
        vneid_core::Clock::now(&vneid_core::SystemClock),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(secret.map(|s| s.expose_secret().to_owned()))
}

/// `gateway clients list`: the clients of the configuration file and of the database.
async fn clients_of(settings: &Settings) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut out: Vec<(String, String, String)> = settings
        .clients
        .iter()
        .map(|c| {
            (
                c.client_id.clone(),
                "config".to_owned(),
                c.grant_types.join(","),
            )
        })
        .collect();
    for id in startup::embedded::builtin_client_ids(settings) {
        out.push((id, "builtin".to_owned(), "authorization_code".to_owned()));
    }
    let (db, _) = startup::store::open_existing(settings).await?;
    for row in db.list_clients().await? {
        out.push((
            row.client_id,
            "database".to_owned(),
            row.grant_types.join(","),
        ));
    }
    Ok(out)
}
