//! Backups that are proven: `gateway backup` copies the embedded SQLite database while logins
//! run, `gateway restore` refuses a database a gateway serves and puts the copy in place of
//! another, and a gateway started on the restored database finds every person, link, client,
//! key and audit event that existed before the backup began, with the audit chain intact.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;
use vneid_e2e::*;

use crate::binary::run_gateway;
use crate::directory::{admin_token, extra, import, oss_login, DIRECTORY};

/// A configuration on the embedded SQLite database in `dir` (whatever backend the suite runs
/// on: backup and restore are the embedded database's), with the master key file there.
fn sqlite_config(dir: &Path) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"

[database]
url = "sqlite://{db}"

[keys]
master_key_file = "{key}"

[log]
filter = "warn"

[simulator]
enabled = true

[[clients]]
client_id = "{PORTAL}"
client_secret = "{PORTAL_SECRET}"
redirect_uris = ["{PORTAL_CB}"]
scopes = ["openid", "profile", "personal_id"]
min_level = 2
{extra}
"#,
        db = dir.join("gateway.db").display(),
        key = dir.join("master.key").display(),
        extra = extra(),
    )
}

/// What identifies each kept thing in a database file, one set per kind.
async fn inventory(db: &Path) -> Vec<(&'static str, BTreeSet<String>)> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let mut out = Vec::new();
    for (kind, sql) in [
        ("people", "SELECT id FROM people"),
        (
            "links",
            "SELECT username || '→' || person_id FROM account_links",
        ),
        ("clients", "SELECT client_id FROM clients"),
        ("keys", "SELECT kid FROM signing_keys"),
        (
            "audit events",
            "SELECT CAST(id AS TEXT) || ':' || hash FROM audit_events",
        ),
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
        out.push((kind, rows.into_iter().collect()));
    }
    pool.close().await;
    out
}

fn gateway(config: &Path, args: &[&str]) -> (bool, String, String) {
    run_gateway(config, args)
}

#[actix_web::test]
async fn a_backup_under_load_restores_everything_that_existed_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    let settings = settings_from(&sqlite_config(dir.path()), dir.path());
    let gw = start(settings, tempfile::tempdir().unwrap(), None).await;

    // People, a link, a database client, keys and audit events.
    let admin = admin_token(&gw.url, "admin").await;
    let (status, _) = import(&gw.url, &admin, "", DIRECTORY, "text/csv").await;
    assert_eq!(status, StatusCode::OK);
    let id = oss_login(&gw.url, people::LEVEL2_CITIZEN).await.unwrap();
    assert_eq!(id["account"]["username"], "an.nv", "{id}");
    let res = reqwest::Client::new()
        .post(format!("{}/admin/v1/clients", gw.url))
        .bearer_auth(&admin)
        .json(&json!({"client_id": "cong-sao-luu", "redirect_uris": ["http://127.0.0.1:9/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    // Logins keep running through the backup.
    let running = Arc::new(AtomicBool::new(true));
    let logins = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..3 {
        let (url, running, logins) = (gw.url.clone(), running.clone(), logins.clone());
        load.push(actix_web::rt::spawn(async move {
            while running.load(Ordering::Relaxed) {
                let b = browser();
                let p = pkce();
                if let Ended::Portal(_) =
                    login(&b, &authorize_url(&url, &p, &[]), people::LEVEL2_CITIZEN).await
                {
                    logins.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    while logins.load(Ordering::Relaxed) < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = inventory(&dir.path().join("gateway.db")).await;
    let backup_file = dir.path().join("backup.db");
    let (cfg, file) = (config.clone(), backup_file.clone());
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        gateway(&cfg, &["backup", "--to", file.to_str().unwrap()])
    })
    .await
    .unwrap();
    let during = logins.load(Ordering::Relaxed);
    assert!(ok, "{err}");
    assert!(
        out.contains("backup written to") && out.contains("master key"),
        "{out}"
    );
    // Logins went on during the backup, then stop.
    while logins.load(Ordering::Relaxed) < during + 3 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    running.store(false, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&backup_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o077, 0, "the backup is private: {mode:o}");
    let (ok, _, err) = gateway(&config, &["backup", "--to", backup_file.to_str().unwrap()]);
    assert!(!ok && err.contains("exists"), "{err}");

    // Not over a database a gateway serves.
    let (ok, _, err) = gateway(
        &config,
        &["restore", "--from", backup_file.to_str().unwrap()],
    );
    assert!(!ok && err.contains("in use by a running gateway"), "{err}");

    // Into a fresh directory: first without the master key, then with another one, then with
    // the key kept apart from the backup.
    let fresh = tempfile::tempdir().unwrap();
    let fresh_config = fresh.path().join("gateway.toml");
    std::fs::write(&fresh_config, sqlite_config(fresh.path())).unwrap();
    let restore = || {
        gateway(
            &fresh_config,
            &["restore", "--from", backup_file.to_str().unwrap()],
        )
    };
    let (ok, _, err) = restore();
    assert!(!ok && err.contains("no master key"), "{err}");
    ensure_master_key(fresh.path());
    let (ok, _, err) = restore();
    assert!(
        !ok && err.contains("does not open the signing keys"),
        "{err}"
    );
    assert!(
        !fresh.path().join("gateway.db").exists(),
        "nothing was put in place"
    );
    std::fs::copy(
        dir.path().join("master.key"),
        fresh.path().join("master.key"),
    )
    .unwrap();
    let (ok, out, err) = restore();
    assert!(ok, "{err}");
    assert!(out.contains("restored") && out.contains("people"), "{out}");
    let (ok, out, err) = gateway(&fresh_config, &["audit", "verify"]);
    assert!(ok && out.contains("audit chain intact"), "{out}{err}");
    let restored_settings = settings_from(&sqlite_config(fresh.path()), fresh.path());
    let restored = start(restored_settings, tempfile::tempdir().unwrap(), None).await;
    let ready = reqwest::get(format!("{}/readyz", restored.url))
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let after = inventory(&fresh.path().join("gateway.db")).await;
    for ((kind, was), (_, is)) in before.iter().zip(&after) {
        assert!(!was.is_empty(), "the test made no {kind}");
        let lost: Vec<_> = was.difference(is).collect();
        assert!(lost.is_empty(), "{kind} lost in the restore: {lost:?}");
    }
    // The restored gateway knows the person, their account and the database client.
    let id = oss_login(&restored.url, people::LEVEL2_CITIZEN)
        .await
        .unwrap();
    assert_eq!(id["account"]["username"], "an.nv", "{id}");
    assert!(restored.app.clients.get("cong-sao-luu").is_some());
    drop(gw);
}

#[test]
fn restore_refuses_what_is_not_a_backup_and_backup_is_for_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, sqlite_config(dir.path())).unwrap();
    ensure_master_key(dir.path());
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "not a database").unwrap();
    let (ok, _, err) = gateway(&config, &["restore", "--from", junk.to_str().unwrap()]);
    assert!(!ok && err.contains("not a usable backup"), "{err}");
    assert!(
        !dir.path().join("gateway.db").exists(),
        "nothing was put in place"
    );
    let (ok, _, err) = gateway(&config, &["restore", "--from", "/no/such/file"]);
    assert!(!ok && err.contains("no such file"), "{err}");

    let pg = dir.path().join("pg.toml");
    std::fs::write(
        &pg,
        format!(
            "[database]\nurl = \"postgres://gw@127.0.0.1:1/gateway\"\n[keys]\n\
             master_key_file = \"{}\"\n[[upstreams]]\nid = \"x\"\n\
             issuer = \"https://x.example\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
            dir.path().join("master.key").display()
        ),
    )
    .unwrap();
    let (ok, _, err) = gateway(&pg, &["backup", "--to", "/tmp/x.db"]);
    assert!(!ok && err.contains("pg_dump"), "{err}");
}
