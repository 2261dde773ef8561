//! Opening the stores: the database (made private and migrated when it is the embedded
//! SQLite file, checked against this build's schema otherwise), the master key beside it, and
//! the ephemeral store. `serve` and every command that touches the database go through here.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use secrecy::ExposeSecret;
use vneid_core::Clock;
use vneid_store::{Database, DbOptions, Ephemeral, EphemeralOptions, SchemaCheck};
use vneid_tokens::MasterKey;

use crate::config::Settings;

/// The database of `settings` with at most `max_connections`, its schema checked (an embedded
/// SQLite database is migrated first; a shared one is migrated by `gateway migrate` only), and
/// the master key.
/// What the check found besides this build's migrations (newer ones, during a rolling upgrade)
/// comes back too.
pub async fn open(
    settings: &Settings,
    max_connections: u32,
) -> anyhow::Result<(Database, MasterKey, SchemaCheck)> {
    let db = connect_database(settings, max_connections).await?;
    if settings.database.url.starts_with("sqlite:") {
        db.migrate().await.context("migrating the database")?;
    }
    let schema = db
        .check_schema()
        .await
        .context("the database schema is not the one this build knows: run `gateway migrate`")?;
    let master = load_master_key(settings)?;
    Ok((db, master, schema))
}

/// For the commands (`clients`, `keys`, `directory`, `report`): the database as it is — its
/// schema must already be this build's (`gateway migrate`) — and the master key.
pub async fn open_existing(settings: &Settings) -> anyhow::Result<(Database, MasterKey)> {
    let db = connect_database(settings, 2).await?;
    db.check_schema()
        .await
        .context("run `gateway migrate` first")?;
    let master = load_master_key(settings)?;
    Ok((db, master))
}

/// The ephemeral store of `settings`.
pub async fn open_ephemeral(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Arc<dyn Ephemeral>> {
    vneid_store::connect_ephemeral_with(
        &EphemeralOptions {
            url: settings.ephemeral.url.clone(),
            key_prefix: settings.ephemeral.key_prefix.clone(),
            timeout: settings.ephemeral.timeout,
            max_entries: settings.ephemeral.max_entries,
            tls_ca_file: settings.ephemeral.tls_ca_file.clone(),
        },
        clock,
    )
    .await
    .context("ephemeral.url: cannot connect")
}

/// The database of `settings`, nothing checked yet (for `gateway migrate`). An embedded
/// SQLite file is made private first ([`crate::files`]).
pub async fn connect_database(
    settings: &Settings,
    max_connections: u32,
) -> anyhow::Result<Database> {
    crate::files::secure_sqlite_files(&settings.database.url).map_err(anyhow::Error::msg)?;
    Database::connect_with(&DbOptions {
        url: settings.database.url.clone(),
        max_connections,
        acquire_timeout: settings.database.acquire_timeout,
        statement_timeout: settings.database.statement_timeout,
    })
    .await
    .context("database.url: cannot connect")
}

/// The master key: configured value, configured file, or (beside SQLite only) a file made now.
pub fn load_master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Some(k) = &settings.keys.master_key {
        return MasterKey::from_base64(k.expose_secret().trim())
            .map_err(|e| anyhow::anyhow!("keys.master_key: {e}"));
    }
    let path = settings
        .master_key_path()
        .context("keys.master_key_file: required")?;
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("keys.master_key_file: cannot read {}", path.display()))?;
        return MasterKey::from_base64(text.trim())
            .map_err(|e| anyhow::anyhow!("keys.master_key_file {}: {e}", path.display()));
    }
    if settings.keys.master_key_file.is_some() && !settings.database.url.starts_with("sqlite:") {
        anyhow::bail!("keys.master_key_file: {} does not exist", path.display());
    }
    let key = MasterKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
    write_secret_file(&path, &key.to_base64())?;
    tracing::warn!(
        path = %path.display(),
        "made a new master key; it encrypts the signing keys and personal ID numbers: back it up with the database"
    );
    Ok(key)
}

fn write_secret_file(path: &Path, content: &str) -> anyhow::Result<()> {
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        crate::files::create_private_dir(dir).map_err(anyhow::Error::msg)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut f, content.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// `ephemeral.tls_ca_file` reaches the store: a CA for a plain `redis://` URL is refused
    /// before any connection is tried, naming the setting.
    #[tokio::test]
    async fn the_redis_ca_file_reaches_the_store() {
        let mut settings = Settings::load(None, Vec::new()).unwrap();
        settings.ephemeral.url = "redis://127.0.0.1:1".into();
        settings.ephemeral.tls_ca_file = Some("/nonexistent/ca.pem".into());
        let err = open_ephemeral(&settings, Arc::new(vneid_core::SystemClock))
            .await
            .err()
            .expect("refused");
        assert!(
            format!("{err:#}").contains("ephemeral.tls_ca_file"),
            "{err:#}"
        );
    }
}
