//! The attack suite, part 4, with the real binary: private database files whatever the umask,
//! the simulator kept away from production backends, and logs without single-use values.
use std::process::{Command, Stdio};

use vneid_e2e::services::free_port;
use vneid_e2e::*;

use crate::binary::gateway_bin;

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `gateway serve` under `umask 000`, in `dir`, until `/healthz` answers.
fn serve_with_open_umask(dir: &std::path::Path, port: u16) -> std::process::Child {
    Command::new("sh")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" serve")
        .arg(gateway_bin())
        .current_dir(dir)
        .env("GATEWAY__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[cfg(unix)]
#[actix_web::test]
async fn the_embedded_database_and_master_key_are_private_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = serve_with_open_umask(dir.path(), port);
    eventually("the gateway answering /healthz", || async {
        let r = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    let data = dir.path().join("data");
    assert_eq!(mode(&data), 0o700, "data/");
    for name in [
        "gateway.db",
        "gateway.db-wal",
        "gateway.db-shm",
        "master.key",
    ] {
        let path = data.join(name);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{name}");
        } else {
            assert!(name.ends_with("-shm"), "{name} exists after a start");
        }
    }
    let _ = child.kill();
    let _ = child.wait();

    // A database others can read (left by an older version, or copied carelessly) stops the
    // start, naming the file.
    use std::os::unix::fs::PermissionsExt;
    let db = data.join("gateway.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(gateway_bin())
        .arg("serve")
        .current_dir(dir.path())
        .env(
            "GATEWAY__SERVER__BIND",
            format!("127.0.0.1:{}", free_port()),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("data/gateway.db") && err.contains("readable by other users"),
        "{err}"
    );
}

#[test]
fn the_simulator_refuses_to_run_beside_production_backends() {
    let dir = tempfile::tempdir().unwrap();
    let key = ensure_master_key(dir.path());
    let write = |extra: &str| {
        let path = dir.path().join("g.toml");
        std::fs::write(
            &path,
            format!(
                "[database]\nurl = \"postgres://gw@db.internal/gw\"\n[ephemeral]\nurl = \"redis://cache.internal\"\n\
[keys]\nmaster_key_file = \"{}\"\n[simulator]\nenabled = true\n{extra}",
                key.display()
            ),
        )
        .unwrap();
        Command::new(gateway_bin())
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .unwrap()
    };
    let out = write("");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("simulator.enabled") && err.contains("allow_with_production_backends"),
        "{err}"
    );
    let out = write("allow_with_production_backends = true\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// On Postgres + Redis (where the simulator runs only because the test allows it) every
/// simulator page says so; on the embedded default none does.
#[actix_web::test]
async fn a_simulator_beside_production_backends_warns_on_every_page() {
    let gw = spawn_embedded("").await;
    for path in ["/simulator/phone", "/simulator/"] {
        let page = reqwest::get(format!("{}{path}", gw.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            page.contains("CẢNH BÁO: trình giả lập đang chạy cùng hệ thống thật"),
            postgres_backend(),
            "{path}"
        );
    }
}

/// Upstream codes and states are single-use secrets: a whole login at info level (the
/// production default) must not write them, nor the portal's `state` and `nonce`.
#[actix_web::test]
async fn logs_never_carry_the_upstream_code_or_state() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log_path = dir.path().join("gateway.log");
    let cfg = format!(
        "[server]\nbind = \"127.0.0.1:{port}\"\n[database]\nurl = \"sqlite://{db}\"\n[log]\nformat = \"json\"\nfilter = \"info\"\n[simulator]\nenabled = true\n\
[[clients]]\nclient_id = \"{PORTAL}\"\nclient_secret = \"{PORTAL_SECRET}\"\nredirect_uris = [\"{PORTAL_CB}\"]\nscopes = [\"openid\", \"profile\", \"personal_id\"]\n",
        db = dir.path().join("g.db").display()
    );
    let cfg_path = dir.path().join("g.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(gateway_bin())
        .args(["serve", "--config"])
        .arg(&cfg_path)
        .env_remove("RUST_LOG")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let gw = format!("http://127.0.0.1:{port}");
    eventually("the gateway answering /healthz", || async {
        let r = reqwest::get(format!("{gw}/healthz")).await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    let b = browser();
    let p = pkce();
    let res = b.get(authorize_url(&gw, &p, &[])).send().await.unwrap();
    let callback = upstream_password_otp(&b, &location(&res), people::LEVEL2_CITIZEN).await;
    let upstream = query(&callback);
    let Ended::Portal(q) = finish(&b, &callback).await else {
        panic!("login")
    };
    let tokens: serde_json::Value = exchange(&gw, &q["code"], &p.verifier)
        .await
        .json()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        text.contains("login admitted"),
        "the login was logged:\n{text}"
    );
    for (what, secret) in [
        ("upstream code", upstream["code"].as_str()),
        ("upstream state", upstream["state"].as_str()),
        ("portal code", q["code"].as_str()),
        ("portal nonce", "n-456"),
        ("PKCE challenge", p.challenge.as_str()),
        ("access token", tokens["access_token"].as_str().unwrap()),
    ] {
        assert!(
            !text.contains(secret),
            "the log carries the {what}:\n{text}"
        );
    }
}
