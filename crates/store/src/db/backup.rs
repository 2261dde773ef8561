//! Backups of the embedded SQLite database, and what a database holds (to check a backup or a
//! restore). Postgres has its own tools (`pg_dump`, `pg_restore`).

use std::path::Path;

use super::{Database, Pool};
use crate::StoreError;

/// How many rows of each kind a database holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contents {
    pub people: i64,
    pub links: i64,
    pub directory_accounts: i64,
    pub clients: i64,
    pub signing_keys: i64,
    pub audit_events: i64,
}

impl std::fmt::Display for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} people, {} links, {} directory accounts, {} database clients, {} signing keys, \
             {} audit events",
            self.people,
            self.links,
            self.directory_accounts,
            self.clients,
            self.signing_keys,
            self.audit_events
        )
    }
}

impl Database {
    /// Writes a consistent copy of this SQLite database to `to`, which must not exist (it is
    /// made empty and private first, then filled): `VACUUM INTO` reads one snapshot, so the
    /// gateway goes on serving and writing meanwhile. [`StoreError::Unsupported`] on Postgres.
    pub async fn backup_into(&self, to: &Path) -> Result<(), StoreError> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Err(StoreError::Unsupported(
                "a Postgres database is backed up with pg_dump".into(),
            ));
        };
        let target = to
            .to_str()
            .ok_or_else(|| StoreError::Config(format!("{} is not UTF-8", to.display())))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(to)
            .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", to.display())))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// `PRAGMA integrity_check` on SQLite (every page, index and constraint readable and
    /// consistent); nothing to do on Postgres.
    pub async fn check_integrity(&self) -> Result<(), StoreError> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Ok(());
        };
        let answer: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(pool)
            .await?;
        if answer.len() == 1 && answer[0] == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt(format!(
                "integrity check: {}",
                answer.join("; ")
            )))
        }
    }

    /// How many people, links, accounts, clients, keys and audit events this database holds.
    pub async fn contents(&self) -> Result<Contents, StoreError> {
        let row: (i64, i64, i64, i64, i64, i64) = on_pool!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM people), (SELECT COUNT(*) FROM account_links), \
                        (SELECT COUNT(*) FROM directory_accounts), (SELECT COUNT(*) FROM clients), \
                        (SELECT COUNT(*) FROM signing_keys), (SELECT COUNT(*) FROM audit_events)",
            )
            .fetch_one(pool)
            .await?
        });
        Ok(Contents {
            people: row.0,
            links: row.1,
            directory_accounts: row.2,
            clients: row.3,
            signing_keys: row.4,
            audit_events: row.5,
        })
    }
}
