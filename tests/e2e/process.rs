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
