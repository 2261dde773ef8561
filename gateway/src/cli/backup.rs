//! `gateway backup --to FILE` and `gateway restore --from FILE`: the embedded SQLite database,
//! copied consistently while the gateway serves, and put back only where no gateway runs.

use std::path::{Path, PathBuf};

use super::{load, runtime};
use crate::config::Settings;
use crate::files::{self, with_suffix, Hold};
use crate::startup;

/// The database file of `settings`, which must be the embedded SQLite one.
fn sqlite_file(settings: &Settings, postgres_tool: &str) -> Result<PathBuf, String> {
    files::sqlite_path(&settings.database.url).ok_or_else(|| {
        format!(
            "database.url is not a SQLite file: back a Postgres database up and restore it with \
             {postgres_tool} (README, \"Backup and restore\")"
        )
    })
}

/// Opens the SQLite file at `path` and checks it is a whole database of this gateway: its
/// integrity, its schema (this build's, or a newer build's), that `master` (when given) opens
/// its signing keys, and what it holds.
async fn check_copy(
    path: &Path,
    master: Option<&vneid_tokens::MasterKey>,
) -> anyhow::Result<vneid_store::Contents> {
    let url = format!("sqlite://{}", path.display());
    let db = vneid_store::Database::connect(&url, 1).await?;
    let checked = async {
        db.check_integrity().await?;
        db.check_schema().await?;
        if let Some(master) = master {
            let now = vneid_core::Clock::now(&vneid_core::SystemClock);
            startup::keys::load_keys(&db, master, now)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                    "the master key does not open the signing keys in it ({e:#}): it is not the \
                     key kept with this backup"
                )
                })?;
        }
        anyhow::Ok(db.contents().await?)
    }
    .await;
    db.close().await;
    checked
}

/// `gateway backup --to FILE`.
pub fn backup(config: Option<PathBuf>, to: &Path) -> Result<(), String> {
    let settings = load(config.as_ref())?;
    sqlite_file(&settings, "pg_dump")?;
    if to.exists() {
        return Err(format!(
            "--to {}: the file exists; name a new one",
            to.display()
        ));
    }
    let contents = runtime()?
        .block_on(async {
            let (db, _) = startup::store::open_existing(&settings).await?;
            db.backup_into(to).await?;
            db.close().await;
            check_copy(to, None).await
        })
        .map_err(|e| format!("{e:#}"))?;
    println!("backup written to {}: {contents}", to.display());
    let key = settings
        .master_key_path()
        .map_or_else(|| "the master key".to_owned(), |p| p.display().to_string());
    println!(
        "the master key is not in the backup: keep a copy of {key} apart from it (without the \
         key, personal ID numbers and signing keys in the backup cannot be read)"
    );
    Ok(())
}

/// `gateway restore --from FILE`: refused while a gateway serves the database; the database it
/// replaces is kept beside it.
pub fn restore(config: Option<PathBuf>, from: &Path) -> Result<(), String> {
    let settings = load(config.as_ref())?;
    let target = sqlite_file(&settings, "pg_restore")?;
    if !from.is_file() {
        return Err(format!("--from {}: no such file", from.display()));
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            files::create_private_dir(dir)?;
        }
    }
    let _hold = files::hold_sqlite(&settings.database.url, Hold::Replacing)?;
    // The key that opens the backup must be in place first: without it a start would make a
    // new one, and the backup's signing keys and personal ID numbers could not be read.
    let has_key = settings.keys.master_key.is_some()
        || settings.master_key_path().is_some_and(|p| p.exists());
    if !has_key {
        return Err(format!(
            "no master key at {}: put the key kept with the backup there first (without it the \
             backup's signing keys and personal ID numbers cannot be read)",
            settings.master_key_path().map_or_else(
                || "keys.master_key_file".to_owned(),
                |p| p.display().to_string()
            )
        ));
    }
    let master = startup::store::load_master_key(&settings).map_err(|e| format!("{e:#}"))?;
    let incoming = with_suffix(&target, ".restoring");
    remove_database_files(&incoming)?;
    std::fs::copy(from, &incoming).map_err(|e| {
        format!(
            "cannot copy {} to {}: {e}",
            from.display(),
            incoming.display()
        )
    })?;
    files::make_private(&incoming)?;
    let checked = runtime()?.block_on(check_copy(&incoming, Some(&master)));
    let contents = match checked {
        Ok(c) => c,
        Err(e) => {
            let _ = remove_database_files(&incoming);
            return Err(format!(
                "--from {}: not a usable backup: {e:#}",
                from.display()
            ));
        }
    };
    let kept = if target.exists() {
        let stamp = vneid_core::Clock::now(&vneid_core::SystemClock).format("%Y%m%dT%H%M%SZ");
        let kept = with_suffix(&target, &format!(".before-restore-{stamp}"));
        // Its write-ahead log goes with it (it may hold commits not yet in the file); the
        // shared-memory index is rebuilt from the log when the file is opened.
        for suffix in ["", "-wal"] {
            let from = with_suffix(&target, suffix);
            if from.exists() {
                std::fs::rename(&from, with_suffix(&kept, suffix))
                    .map_err(|e| format!("cannot move {} aside: {e}", from.display()))?;
            }
        }
        Some(kept)
    } else {
        None
    };
    remove_file(&with_suffix(&target, "-wal"))?;
    remove_file(&with_suffix(&target, "-shm"))?;
    std::fs::rename(&incoming, &target).map_err(|e| {
        format!(
            "cannot put the backup in place of {}: {e}",
            target.display()
        )
    })?;
    println!(
        "restored {} from {}: {contents}",
        target.display(),
        from.display()
    );
    if let Some(kept) = kept {
        println!("the database it replaced is kept as {}", kept.display());
    }
    Ok(())
}

fn remove_file(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}

/// A SQLite database file and its `-wal` and `-shm` files.
fn remove_database_files(path: &Path) -> Result<(), String> {
    for suffix in ["", "-wal", "-shm"] {
        remove_file(&with_suffix(path, suffix))?;
    }
    Ok(())
}
