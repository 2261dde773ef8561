//! The real binary, as a person runs it.
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use vneid_e2e::gateway_bin;

#[test]
fn gateway_serve_with_no_config_runs_the_embedded_default_and_prints_the_url() {
    let bin = gateway_bin();
    assert!(bin.exists(), "build the binary first: {}", bin.display());
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(&bin)
        .arg("serve")
        .current_dir(dir.path())
        .env("GATEWAY__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut demo = None;
    for _ in 0..20 {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(i) = line.find("http://") {
            if line.contains("/demo") {
                demo = Some(line[i..].trim().to_owned());
                break;
            }
        }
    }
    let demo = demo.expect("the demo URL is printed");
    assert_eq!(demo, format!("http://127.0.0.1:{port}/demo"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ok = rt.block_on(async {
        for _ in 0..50 {
            if let Ok(r) = reqwest::get(&demo).await {
                return r.status().is_success()
                    && r.text().await.unwrap().contains("Đăng nhập bằng VNeID");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });
    assert!(
        dir.path().join("data/gateway.db").exists(),
        "SQLite under ./data"
    );
    assert!(
        dir.path().join("data/master.key").exists(),
        "a local master key beside it"
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok, "the demo portal answers");
}

#[test]
fn check_config_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[upstreams]]\nid = \"dvcqg\"\nissuer = \"http://xacthuc.example\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
    )
    .unwrap();
    let out = Command::new(gateway_bin())
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("upstreams[0]") && err.contains("https"),
        "{err}"
    );

    std::fs::write(&path, "[server]\nbnid = \"x\"\n").unwrap();
    let out = Command::new(gateway_bin())
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bnid"));

    let out = Command::new(gateway_bin())
        .args(["check-config"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[actix_web::test]
async fn clients_add_registers_a_portal_whose_secret_is_shown_once_and_works() {
    use vneid_e2e::*;
    let dir = tempfile::tempdir().unwrap();
    let port = vneid_e2e::services::free_port();
    let cfg = format!(
        "[server]\nbind = \"127.0.0.1:{port}\"\n[database]\nurl = \"sqlite://{}\"\n[log]\nfilter = \"warn\"\n[simulator]\nenabled = true\n",
        dir.path().join("g.db").display()
    );
    let path = dir.path().join("g.toml");
    std::fs::write(&path, &cfg).unwrap();
    // The database must exist and be migrated first.
    let out = Command::new(gateway_bin())
        .args(["migrate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let add = |id: &str| {
        Command::new(gateway_bin())
            .args(["clients", "add", "--config"])
            .arg(&path)
            .args([
                "--id",
                id,
                "--redirect-uri",
                PORTAL_CB,
                "--scope",
                "openid",
                "--scope",
                "profile",
                "--grant",
                "authorization_code",
                "--grant",
                "refresh_token",
            ])
            .output()
            .unwrap()
    };
    let out = add("cli-portal");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .expect("the secret is printed")
        .trim()
        .to_owned();
    assert!(secret.len() >= 43, "256 bits");
    // Not stored in clear anywhere in the database file.
    let db_bytes = std::fs::read(dir.path().join("g.db")).unwrap();
    assert!(!db_bytes
        .windows(secret.len())
        .any(|w| w == secret.as_bytes()));
    let again = add("cli-portal");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already"));
    let out = Command::new(gateway_bin())
        .args(["clients", "list", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("cli-portal"));

    let gw = GatewayProcess::start(&cfg, dir.path(), "served", port).await;
    let b = browser();
    let p = pkce();
    let url = authorize_url(&gw.url, &p, &[])
        .replace("client_id=portal&", "client_id=cli-portal&")
        .replace("+personal_id", "");
    let res = b.get(&url).send().await.unwrap();
    let callback = upstream_password_otp(&b, &location(&res), people::LEVEL2_CITIZEN).await;
    let Ended::Portal(q) = finish(&b, &callback).await else {
        panic!()
    };
    let res = reqwest::Client::new()
        .post(format!("{}/token", gw.url))
        .basic_auth("cli-portal", Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", PORTAL_CB),
            ("code_verifier", &p.verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let t: serde_json::Value = res.json().await.unwrap();
    assert!(t["refresh_token"].is_string());
}

#[actix_web::test]
async fn clients_add_while_serving_is_picked_up_without_a_restart() {
    use vneid_e2e::*;
    let dir = tempfile::tempdir().unwrap();
    let port = vneid_e2e::services::free_port();
    let cfg = format!(
        "[server]\nbind = \"127.0.0.1:{port}\"\n[database]\nurl = \"sqlite://{}\"\n[log]\nfilter = \"warn\"\n[simulator]\nenabled = true\n[tokens]\nkey_reload_interval = \"1s\"\n",
        dir.path().join("g.db").display()
    );
    let gw = GatewayProcess::start(&cfg, dir.path(), "served", port).await;
    let path = dir.path().join("served.toml");
    let add = |extra: &[&str]| {
        Command::new(gateway_bin())
            .args(["clients", "add", "--config"])
            .arg(&path)
            .args(["--id", "cli-pairwise", "--redirect-uri", PORTAL_CB])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = add(&["--subject-type", "secret"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--subject-type"));
    let out = add(&[
        "--subject-type",
        "pairwise",
        "--sector-identifier",
        "cli.example",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The running gateway serves it within the reload interval: /authorize goes upstream
    // instead of showing the unknown-client page.
    let p = pkce();
    let url =
        authorize_url(&gw.url, &p, &[]).replace("client_id=portal&", "client_id=cli-pairwise&");
    let start = std::time::Instant::now();
    loop {
        let res = browser().get(&url).send().await.unwrap();
        if res.status() == reqwest::StatusCode::FOUND {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "not served after 15 s: {}",
            res.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rows = {
        let db = vneid_store::Database::connect(
            &format!("sqlite://{}", dir.path().join("g.db").display()),
            1,
        )
        .await
        .unwrap();
        db.list_clients().await.unwrap()
    };
    assert_eq!(rows[0].subject_type, "pairwise");
    assert_eq!(rows[0].sector_identifier.as_deref(), Some("cli.example"));
}
