//! The embedded database's files hold names, birth dates, the audit trail and token hashes:
//! only the gateway's own user may read them, whatever the umask. The folder a new database is
//! made in is created 0700 and the database file 0600 (SQLite gives its `-wal` and `-shm` files
//! the database file's mode); an existing file that others may read stops the start, naming it.

use std::path::{Path, PathBuf};

/// The file of a `sqlite:` URL; `None` for an in-memory database or another scheme.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path.starts_with(':') {
        return None;
    }
    Some(PathBuf::from(path))
}

/// Makes the database's folder and file private before SQLite opens them, and refuses files
/// that others can already read.
pub fn secure_sqlite_files(url: &str) -> Result<(), String> {
    let Some(path) = sqlite_path(url) else {
        return Ok(());
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            create_private_dir(dir).map_err(|e| format!("database.url: {e}"))?;
        }
    }
    if path.exists() {
        for file in [
            path.clone(),
            with_suffix(&path, "-wal"),
            with_suffix(&path, "-shm"),
        ] {
            refuse_if_shared(&file)?;
        }
        return Ok(());
    }
    create_private_file(&path)
}

/// `path` with `suffix` appended to its file name (`gateway.db` → `gateway.db-wal`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Creates `dir` (and its parents) readable by the gateway's user only.
#[cfg(unix)]
pub fn create_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

#[cfg(not(unix))]
pub fn create_private_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        // Made meanwhile by another process: check it like any existing file.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => refuse_if_shared(path),
        Err(e) => Err(format!(
            "database.url: cannot create {}: {e}",
            path.display()
        )),
    }
}

#[cfg(not(unix))]
fn create_private_file(_path: &Path) -> Result<(), String> {
    Ok(())
}

/// An error naming `path` when its group or other users have any access to it.
#[cfg(unix)]
fn refuse_if_shared(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match std::fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o777,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(format!(
                "database.url: cannot inspect {}: {e}",
                path.display()
            ))
        }
    };
    if mode & 0o077 != 0 {
        return Err(format!(
            "database.url: {} is readable by other users (mode {mode:03o}); it holds personal \
data. Make it private (chmod 600 {}) and start again",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_if_shared(_path: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://data/gateway.db"),
            Some(PathBuf::from("data/gateway.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:/var/lib/g.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/g.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }

    #[test]
    fn a_new_database_gets_a_private_folder_and_file() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("data/gateway.db");
        secure_sqlite_files(&format!("sqlite://{}", db.display())).unwrap();
        assert_eq!(mode(&tmp.path().join("data")), 0o700);
        assert_eq!(mode(&db), 0o600);
    }

    #[test]
    fn an_existing_database_readable_by_others_is_refused_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("gateway.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = secure_sqlite_files(&format!("sqlite://{}", db.display())).unwrap_err();
        assert!(
            err.contains(&db.display().to_string()) && err.contains("644"),
            "{err}"
        );
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
        secure_sqlite_files(&format!("sqlite://{}", db.display())).unwrap();
        // A world-readable WAL beside a private database is refused too.
        let wal = tmp.path().join("gateway.db-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = secure_sqlite_files(&format!("sqlite://{}", db.display())).unwrap_err();
        assert!(err.contains("gateway.db-wal"), "{err}");
    }
}

/// How a process holds the embedded database ([`hold_sqlite`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// A serving gateway: held shared for as long as it runs.
    Serving,
    /// `gateway restore`: held alone, so no gateway serves the file it replaces.
    Replacing,
}

/// Locks `FILE.lock` beside the SQLite database of `url` (made 0600 when missing): shared while
/// a gateway serves, alone while `gateway restore` replaces the file. `None` for another
/// backend. The lock lasts as long as the returned file is open (the kernel drops it with the
/// process, however it ends). A separate file, because SQLite's own locks are on the database.
pub fn hold_sqlite(url: &str, hold: Hold) -> Result<Option<std::fs::File>, String> {
    let Some(path) = sqlite_path(url) else {
        return Ok(None);
    };
    let lock_path = with_suffix(&path, ".lock");
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    let locked = match hold {
        Hold::Serving => file.try_lock_shared(),
        Hold::Replacing => file.try_lock(),
    };
    match locked {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(match hold {
            Hold::Serving => format!(
                "{} is being replaced by `gateway restore`; start when it has finished",
                path.display()
            ),
            Hold::Replacing => format!(
                "{} is in use by a running gateway (it holds {}); stop it first",
                path.display(),
                lock_path.display()
            ),
        }),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(format!("cannot lock {}: {e}", lock_path.display()))
        }
    }
}

/// Makes an existing file readable and writable by the gateway's user only.
pub fn make_private(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot make {} private: {e}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
