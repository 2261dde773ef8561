//! The schema migrations, embedded in the binary.
//!
//! The SQL lives in `crates/store/migrations/<backend>/NNNN_description.sql`, plain and
//! append-only. Each file is listed here once with `include_str!`, which also makes cargo rebuild
//! when a file changes; a test checks that this list and the folder agree, so a migration cannot
//! be added to the folder and forgotten here.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// One embedded migration: version, description, SQL.
pub(crate) type Embedded = (i64, &'static str, &'static str);

/// SQLite migrations, in version order. Append only.
pub(crate) const SQLITE: &[Embedded] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "refresh_families_and_clients",
        include_str!("../../migrations/sqlite/0002_refresh_families_and_clients.sql"),
    ),
    (
        3,
        "directory_and_pairwise",
        include_str!("../../migrations/sqlite/0003_directory_and_pairwise.sql"),
    ),
    (
        4,
        "revocations",
        include_str!("../../migrations/sqlite/0004_revocations.sql"),
    ),
    (
        5,
        "client_secret_rotation",
        include_str!("../../migrations/sqlite/0005_client_secret_rotation.sql"),
    ),
    (
        6,
        "audit_chain",
        include_str!("../../migrations/sqlite/0006_audit_chain.sql"),
    ),
    (
        7,
        "directory_sync",
        include_str!("../../migrations/sqlite/0007_directory_sync.sql"),
    ),
    (
        8,
        "account_types",
        include_str!("../../migrations/sqlite/0008_account_types.sql"),
    ),
    (
        9,
        "client_require_par",
        include_str!("../../migrations/sqlite/0009_client_require_par.sql"),
    ),
    (
        10,
        "dpop_and_profiles",
        include_str!("../../migrations/sqlite/0010_dpop_and_profiles.sql"),
    ),
];

/// Postgres migrations, in version order, the twins of [`SQLITE`] (same versions, same
/// descriptions, the same schema in Postgres types). Append only.
pub(crate) const POSTGRES: &[Embedded] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "refresh_families_and_clients",
        include_str!("../../migrations/postgres/0002_refresh_families_and_clients.sql"),
    ),
    (
        3,
        "directory_and_pairwise",
        include_str!("../../migrations/postgres/0003_directory_and_pairwise.sql"),
    ),
    (
        4,
        "revocations",
        include_str!("../../migrations/postgres/0004_revocations.sql"),
    ),
    (
        5,
        "client_secret_rotation",
        include_str!("../../migrations/postgres/0005_client_secret_rotation.sql"),
    ),
    (
        6,
        "audit_chain",
        include_str!("../../migrations/postgres/0006_audit_chain.sql"),
    ),
    (
        7,
        "directory_sync",
        include_str!("../../migrations/postgres/0007_directory_sync.sql"),
    ),
    (
        8,
        "account_types",
        include_str!("../../migrations/postgres/0008_account_types.sql"),
    ),
    (
        9,
        "client_require_par",
        include_str!("../../migrations/postgres/0009_client_require_par.sql"),
    ),
    (
        10,
        "dpop_and_profiles",
        include_str!("../../migrations/postgres/0010_dpop_and_profiles.sql"),
    ),
];

#[derive(Debug)]
struct EmbeddedSource(&'static [Embedded]);

impl<'s> MigrationSource<'s> for EmbeddedSource {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// The migrator for one backend's embedded migrations.
pub(crate) async fn migrator(list: &'static [Embedded]) -> Result<Migrator, crate::StoreError> {
    Ok(Migrator::new(EmbeddedSource(list)).await?)
}

#[cfg(test)]
mod tests {
    use super::{Embedded, POSTGRES, SQLITE};

    /// The folder `migrations/<backend>` holds exactly the files of `list`, in order, with the
    /// same SQL.
    fn folder_and_list_agree(
        backend: &str,
        list: &[Embedded],
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut files: Vec<String> = std::fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        files.retain(|f| f.ends_with(".sql"));
        files.sort();
        let embedded: Vec<String> = list
            .iter()
            .map(|&(v, d, _)| format!("{v:04}_{d}.sql"))
            .collect();
        assert_eq!(files, embedded, "{backend}");
        let sql_on_disk: Vec<String> = files
            .iter()
            .map(|f| std::fs::read_to_string(dir.join(f)))
            .collect::<Result<_, _>>()?;
        let sql_embedded: Vec<&str> = list.iter().map(|&(_, _, s)| s).collect();
        assert_eq!(sql_on_disk, sql_embedded, "{backend}");
        Ok(())
    }

    #[test]
    fn every_sqlite_migration_file_is_embedded_in_order() -> Result<(), Box<dyn std::error::Error>>
    {
        folder_and_list_agree("sqlite", SQLITE)
    }

    #[test]
    fn every_postgres_migration_file_is_embedded_in_order() -> Result<(), Box<dyn std::error::Error>>
    {
        folder_and_list_agree("postgres", POSTGRES)
    }

    #[test]
    fn both_backends_have_the_same_migration_versions() {
        let versions = |list: &[Embedded]| -> Vec<(i64, &str)> {
            list.iter().map(|&(v, d, _)| (v, d)).collect()
        };
        assert_eq!(versions(SQLITE), versions(POSTGRES));
    }
}
