//! The real binary, as a person runs it.
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::binary::{gateway_bin, GatewayProcess};

#[test]
fn gateway_serve_with_no_config_runs_the_embedded_default_and_prints_the_url() {
    let bin = gateway_bin();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(bin)
        .arg("serve")
        .current_dir(dir.path())
        .env("GATEWAY__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The banner is for the person at the terminal: stderr (stdout carries log lines only).
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
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
        let r = vneid_e2e::eventually("the demo page answering", || async {
            reqwest::get(&demo).await.ok()
        })
        .await;
        r.status().is_success() && r.text().await.unwrap().contains("Đăng nhập bằng VNeID")
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
    eventually("the new client served by the running gateway", || async {
        let res = browser().get(&url).send().await.unwrap();
        (res.status() == reqwest::StatusCode::FOUND).then_some(())
    })
    .await;
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

/// `gateway …` subcommands run in a directory of their own, as an operator would: with no
/// --config (the embedded default: SQLite under ./data) or, on the Postgres backend, with a
/// config naming a fresh, empty Postgres database and a master key file.
struct Cli {
    dir: tempfile::TempDir,
    config: Option<std::path::PathBuf>,
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Cli {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = if vneid_e2e::postgres_backend() {
            let key = vneid_e2e::ensure_master_key(dir.path());
            let path = dir.path().join("gateway.toml");
            std::fs::write(
                &path,
                format!(
                    "[database]\nurl = \"{}\"\n\n[keys]\nmaster_key_file = \"{}\"\n\n[log]\nfilter = \"warn\"\n\n[simulator]\nenabled = true\nallow_with_production_backends = true\n",
                    vneid_e2e::empty_postgres_database().await,
                    key.display()
                ),
            )
            .unwrap();
            Some(path)
        } else {
            None
        };
        Self { dir, config }
    }

    fn write(&self, name: &str, text: &str) -> String {
        std::fs::write(self.dir.path().join(name), text).unwrap();
        name.to_owned()
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(gateway_bin());
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("RUST_LOG", "warn");
        if let Some(c) = &self.config {
            cmd.arg("--config").arg(c);
        }
        let out = cmd.output().unwrap();
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert!(r.ok, "gateway {args:?} failed:\n{}\n{}", r.stdout, r.stderr);
        r
    }

    /// `gateway report readiness` (JSON).
    fn readiness(&self, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["report", "readiness"];
        args.extend_from_slice(extra);
        let r = self.ok(&args);
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
    }
}

/// A unit's export with three rows that cannot be accounts: lines 3 (no username), 5 (an
/// unknown kind) and 6 (a date that is not a date).
const BAD_CSV: &str = "\u{feff}username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email\r\n\
cuong.lv,Lê Văn Cường,UBND-P01,UBND phường Hải Châu 1,staff,052085007890,10/06/1985,0905000001,cuong@example.gov.vn\r\n\
,Không Tên,UBND-P01,UBND phường Hải Châu 1,staff,,,,\r\n\
an.nv,Nguyễn Văn An,CONGDAN,Công dân,citizen,052090000123,1990-01-15,,\r\n\
x.kind,Sai Loại,UBND-P01,UBND phường Hải Châu 1,boss,,,,\r\n\
ngay.sai,Ngày Sai,UBND-P02,\"UBND phường Thạch Thang, quận Hải Châu\",staff,,31/02/1990,,\r\n\
sai.so,Võ Văn Sai,UBND-P02,\"UBND phường Thạch Thang, quận Hải Châu\",staff,05208500789,,,\r\n";

#[actix_web::test]
async fn directory_import_refuses_a_file_with_rejected_rows_unless_allow_partial() {
    let cli = Cli::new().await;
    let file = cli.write("bad.csv", BAD_CSV);

    // Before `gateway migrate`: a clear message, nothing imported.
    let r = cli.run(&["directory", "import", &file]);
    assert!(!r.ok);
    assert!(r.stderr.contains("gateway migrate"), "{}", r.stderr);
    let r = cli.ok(&["migrate"]);
    let backend = if cli.config.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    assert!(
        r.stdout
            .contains(&format!("migrations applied ({backend})")),
        "{}",
        r.stdout
    );

    // Rejected rows: a non-zero exit, every row named by line, field and reason, nothing written.
    let r = cli.run(&["directory", "import", &file]);
    assert!(!r.ok, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("line 3: field username: username_missing: "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("line 5: field kind: kind_unknown: "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("line 6: field birth_date: birth_date_invalid: "),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("NOTHING WRITTEN"), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("bad.csv: 3 row(s) rejected, nothing written"),
        "{}",
        r.stderr
    );
    // The flagged number is shown masked, never in clear.
    assert!(r
        .stdout
        .contains("line 7: sai.so: personal ID number invalid (format)"));
    assert!(!r.stdout.contains("05208500789") && !r.stderr.contains("05208500789"));
    assert_eq!(
        cli.readiness(&[])["totals"]["accounts"],
        0,
        "nothing written"
    );

    // The same as JSON, as the admin API returns it.
    let r = cli.run(&["directory", "import", &file, "--json"]);
    assert!(!r.ok);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["written"], false);
    let rejected: Vec<(u64, &str, &str)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["field"].as_str().unwrap(),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        [
            (3, "username", "username_missing"),
            (5, "kind", "kind_unknown"),
            (6, "birth_date", "birth_date_invalid")
        ]
    );

    // --dry-run: exit 0, what would happen, nothing written.
    let r = cli.ok(&["directory", "import", &file, "--dry-run"]);
    assert!(
        r.stdout.contains(
            "6 rows: 3 accepted, 3 rejected (3 problem(s)); 3 new, 0 changed, 0 unchanged"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("dry run, nothing written"),
        "{}",
        r.stdout
    );
    assert_eq!(cli.readiness(&[])["totals"]["accounts"], 0, "dry run");

    // --allow-partial writes the good rows.
    let r = cli.ok(&["directory", "import", &file, "--allow-partial"]);
    assert!(
        r.stdout.contains("3 new, 0 changed, 0 unchanged"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.trim_end().ends_with("imported"), "{}", r.stdout);
    let report = cli.readiness(&[]);
    assert_eq!(report["totals"]["accounts"], 3);
    assert_eq!(report["totals"]["staff"], 2);

    // Again: nothing changes.
    let r = cli.ok(&["directory", "import", &file, "--allow-partial"]);
    assert!(
        r.stdout.contains("0 new, 0 changed, 3 unchanged"),
        "{}",
        r.stdout
    );
    assert_eq!(cli.readiness(&[])["totals"]["accounts"], 3);

    // A clean file of the same accounts: exit 0 without --allow-partial, still unchanged.
    let clean: String = BAD_CSV
        .split_inclusive("\r\n")
        .enumerate()
        .filter(|(i, _)| ![2, 4, 5].contains(i))
        .map(|(_, l)| l)
        .collect();
    let clean = cli.write("clean.csv", &clean);
    let r = cli.ok(&["directory", "import", &clean]);
    assert!(
        r.stdout.contains(
            "3 rows: 3 accepted, 0 rejected (0 problem(s)); 0 new, 0 changed, 3 unchanged"
        ),
        "{}",
        r.stdout
    );

    // --sync: UBND-P02 now lists another officer and not sai.so; --dry-run only says so.
    let p02 = cli.write(
        "p02.csv",
        "username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email\r\n\
         moi.nv,Nguyễn Văn Mới,UBND-P02,UBND phường Thạch Thang,staff,,,,\r\n",
    );
    let r = cli.ok(&["directory", "import", &p02, "--sync", "--dry-run"]);
    assert!(
        r.stdout
            .contains("no longer listed by their unit (inactive if written): sai.so")
            && r.stdout.contains("1 deactivated"),
        "{}",
        r.stdout
    );
    assert_eq!(cli.readiness(&[])["totals"]["staff_inactive"], 0);
    let r = cli.ok(&["directory", "import", &p02, "--sync"]);
    assert!(
        r.stdout
            .contains("no longer listed by their unit (inactive): sai.so"),
        "{}",
        r.stdout
    );
    let totals = cli.readiness(&[])["totals"].clone();
    assert_eq!(
        (
            totals["accounts"].as_u64(),
            totals["staff_inactive"].as_u64()
        ),
        (Some(3), Some(1))
    );

    // A file that is not there, or not an account list at all.
    let r = cli.run(&["directory", "import", "missing.csv"]);
    assert!(!r.ok);
    assert!(r.stderr.contains("missing.csv"), "{}", r.stderr);
    let junk = cli.write("junk.csv", "name;age\nAn;30\n");
    let r = cli.run(&["directory", "import", &junk]);
    assert!(!r.ok);
    assert!(r.stderr.contains("junk.csv"), "{}", r.stderr);
    assert_eq!(cli.readiness(&[])["totals"]["accounts"], 3);
}

#[actix_web::test]
async fn report_readiness_prints_json_or_csv_and_refuses_other_formats() {
    let cli = Cli::new().await;
    let file = cli.write("bad.csv", BAD_CSV);
    cli.ok(&["migrate"]);
    cli.ok(&["directory", "import", &file, "--allow-partial"]);

    // JSON: the numbers masked unless --pii.
    let report = cli.readiness(&[]);
    assert_eq!(
        report["totals"],
        serde_json::json!({"accounts": 3, "staff": 2, "staff_valid_personal_id": 1, "staff_missing_personal_id": 0,
               "staff_invalid_personal_id": 1, "staff_duplicate_personal_id": 0, "staff_linked": 0,
               "staff_inactive": 0})
    );
    let units: Vec<&str> = report["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["unit_code"].as_str().unwrap())
        .collect();
    assert_eq!(units, ["CONGDAN", "UBND-P01", "UBND-P02"]);
    let sai = &report["units"][2]["not_ready"][0];
    assert_eq!(
        (
            sai["username"].as_str(),
            sai["reason"].as_str(),
            sai["problem"].as_str()
        ),
        (Some("sai.so"), Some("personal_id_invalid"), Some("format"))
    );
    assert_eq!(sai["personal_id"], "052******89");
    let pii = cli.readiness(&["--pii"]);
    assert_eq!(
        pii["units"][2]["not_ready"][0]["personal_id"],
        "05208500789"
    );
    let explicit = cli.readiness(&["--format", "json"]);
    assert_eq!(explicit["totals"], report["totals"]);

    // CSV for a spreadsheet: a byte-order mark, the header, a line per unit, a TOTAL line.
    let r = cli.ok(&["report", "readiness", "--format", "csv"]);
    let lines: Vec<&str> = r
        .stdout
        .strip_prefix('\u{feff}')
        .unwrap_or_else(|| panic!("a byte-order mark first: {:?}", r.stdout))
        .split("\r\n")
        .collect();
    assert_eq!(
        lines,
        [
            "unit_code,unit_name,accounts,staff,staff_valid_personal_id,staff_missing_personal_id,staff_invalid_personal_id,staff_duplicate_personal_id,staff_linked,staff_inactive,not_ready",
            "CONGDAN,Công dân,1,0,0,0,0,0,0,0,",
            "UBND-P01,UBND phường Hải Châu 1,1,1,1,0,0,0,0,0,",
            "UBND-P02,\"UBND phường Thạch Thang, quận Hải Châu\",1,1,0,0,1,0,0,0,sai.so",
            "TOTAL,,3,2,1,0,1,0,0,0,",
            "",
        ]
    );

    // Anything else is refused with a message, and prints no report.
    let r = cli.run(&["report", "readiness", "--format", "xml"]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("--format \"xml\": expected json or csv"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}
