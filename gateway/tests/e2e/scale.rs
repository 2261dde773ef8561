//! Production backends: replicas sharing Postgres and Redis, key rotation while serving,
//! outages of Redis and Postgres, graceful shutdown.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use vneid_e2e::services::{free_port, PrivatePostgres, PrivateRedis};
use vneid_e2e::*;

use crate::binary::{gateway_bin, GatewayProcess};

/// A standalone simulator whose one client returns to `callback`.
fn spawn_simulator(callback: &str, secret: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let config = vneid_simulator::SimulatorConfig {
        issuer: url.clone(),
        clients: vec![vneid_simulator::SimClient {
            client_id: "gw".into(),
            client_secret: secret.into(),
            redirect_uris: vec![callback.into()],
        }],
        people: vneid_simulator::default_people(),
        field_names: Default::default(),
    };
    actix_web::rt::spawn(vneid_simulator::run_standalone(listener, config));
    url
}

fn upstream_section(sim: &str, secret: &str) -> String {
    format!("[[upstreams]]\nid = \"national\"\nissuer = \"{sim}\"\nclient_id = \"gw\"\nclient_secret = \"{secret}\"\n")
}

/// Two gateway processes share one Postgres database and one Redis: the browser's authorize
/// goes to one, the upstream callback to the other, the token request back to the first, and
/// userinfo to the second — as a load balancer without sticky sessions would send them.
#[actix_web::test]
async fn any_replica_serves_any_step_of_a_login() {
    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{port_a}");
    let secret = "replica-upstream-secret";
    let sim = spawn_simulator(&format!("{issuer}/login/national/callback"), secret);
    let db = fresh_postgres_database().await;
    let prefix = format!("replicas-{}:", rand_hex());
    let key = ensure_master_key(dir.path());
    let config = |port: u16| {
        format!(
            r#"
[server]
bind = "127.0.0.1:{port}"
public_url = "{issuer}"
[database]
url = "{db}"
[ephemeral]
url = "{redis}"
key_prefix = "{prefix}"
[keys]
master_key_file = "{key}"
[log]
filter = "warn"
[[clients]]
client_id = "{PORTAL}"
client_secret = "{PORTAL_SECRET}"
redirect_uris = ["{PORTAL_CB}"]
scopes = ["openid", "profile", "personal_id"]
{upstream}
"#,
            redis = redis_url(),
            key = key.display(),
            upstream = upstream_section(&sim, secret),
        )
    };
    let a = GatewayProcess::start(&config(port_a), dir.path(), "a", port_a).await;
    let _replica_b = GatewayProcess::start(&config(port_b), dir.path(), "b", port_b).await;
    let b_url = format!("http://127.0.0.1:{port_b}");

    // Both replicas publish the same keys (one signing key made by whichever started first).
    let jwks_a: Value = reqwest::get(format!("{}/jwks", a.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks_b: Value = reqwest::get(format!("{b_url}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks_a, jwks_b);

    let browser = browser();
    let p = pkce();
    let res = browser
        .get(authorize_url(&a.url, &p, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let callback = upstream_password_otp(&browser, &location(&res), people::LEVEL2_CITIZEN).await;
    assert!(callback.starts_with(&issuer));
    let on_b = callback.replacen(&issuer, &b_url, 1);
    let Ended::Portal(q) = finish(&browser, &on_b).await else {
        panic!("replica B finishes A's login")
    };
    assert_eq!(q["iss"], issuer, "both replicas are one issuer");

    let tokens: Value = exchange(&a.url, &q["code"], &p.verifier)
        .await
        .json()
        .await
        .unwrap();
    let id = verify(&issuer, tokens["id_token"].as_str().unwrap(), PORTAL).await;
    assert_eq!(id["personal_id"], people::LEVEL2_CITIZEN);
    let info = reqwest::Client::new()
        .get(format!("{b_url}/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::OK);
    assert_eq!(info.json::<Value>().await.unwrap()["sub"], id["sub"]);

    // The SSO session made on B is honoured by A.
    let res = browser
        .get(authorize_url(&a.url, &pkce(), &[]))
        .send()
        .await
        .unwrap();
    assert!(location(&res).starts_with(PORTAL_CB));
    // A code redeemed on A cannot be replayed on B.
    let again = exchange(&b_url, &q["code"], &p.verifier).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
}

/// Rotation while serving: the new key is in the JWKS for the pre-publication delay before any
/// token carries it, tokens signed before the rotation still verify, and the old key leaves the
/// JWKS only after every token it signed has expired.
#[actix_web::test]
async fn key_rotation_while_serving_never_signs_with_an_unpublished_key() {
    let extra = "[tokens]\nkey_prepublish = \"4s\"\njwks_max_age = \"1s\"\nkey_reload_interval = \"1s\"\naccess_token_ttl = \"30s\"\nid_token_ttl = \"30s\"\n";
    let dir = tempfile::tempdir().unwrap();
    let cfg = base_config(dir.path(), &format!("{extra}[simulator]\nenabled = true\n")).await;
    let settings = settings_from(&cfg, dir.path());
    let gw = start(settings, dir, None).await;
    let jwks_kids = |url: String| async move {
        let res = reqwest::get(format!("{url}/jwks")).await.unwrap();
        assert_eq!(res.headers()["cache-control"], "public, max-age=1");
        let v: Value = res.json().await.unwrap();
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let old_kids = jwks_kids(gw.url.clone()).await;
    assert_eq!(old_kids.len(), 1);

    // One real login; later codes come from the SSO session.
    let b = browser();
    let p = pkce();
    let Ended::Portal(q) =
        login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await
    else {
        panic!()
    };
    let before: Value = exchange(&gw.url, &q["code"], &p.verifier)
        .await
        .json()
        .await
        .unwrap();

    let rotated_at = chrono::Utc::now();
    let rotation =
        vneid_gateway::startup::rotate(&gw.app.db, &gw.app.master, &gw.app.settings, rotated_at)
            .await
            .unwrap();
    // The gateway's own schedule: the key is stored (published) at the rotation and signs only
    // after the pre-publication delay, counted from when it was stored (after its generation).
    assert!(
        rotation.activates_at - rotated_at >= chrono::Duration::seconds(4),
        "activates at {} for a rotation at {rotated_at}",
        rotation.activates_at
    );
    let audit = gw
        .app
        .db
        .list_audit(&vneid_store::AuditFilter {
            kind: Some("key_rotated".into()),
            ..vneid_store::AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].detail["kid"], rotation.kid.as_str());

    // Logins until the new key signs. Before each one, the JWKS as a portal would fetch it.
    // Nothing here measures time: the checks are the order of events and the gateway's own
    // timestamps (the token's `iat` against the key's activation).
    let deadline = Instant::now() + PATIENCE;
    let mut seen_published = false;
    loop {
        let published_now = jwks_kids(gw.url.clone()).await;
        seen_published |= published_now.contains(&rotation.kid);
        let p = pkce();
        let res = b.get(authorize_url(&gw.url, &p, &[])).send().await.unwrap();
        let code = query(&location(&res))["code"].clone();
        let t: Value = exchange(&gw.url, &code, &p.verifier)
            .await
            .json()
            .await
            .unwrap();
        let kid = jsonwebtoken::decode_header(t["id_token"].as_str().unwrap())
            .unwrap()
            .kid
            .unwrap();
        let at_kid = jsonwebtoken::decode_header(t["access_token"].as_str().unwrap())
            .unwrap()
            .kid
            .unwrap();
        assert_eq!(kid, at_kid);
        // Every token verifies against the JWKS as published right now.
        let claims = verify(&gw.url, t["id_token"].as_str().unwrap(), PORTAL).await;
        if kid == rotation.kid {
            assert!(
                seen_published,
                "signed with {kid} before any JWKS fetched ahead of the login held it"
            );
            let iat = claims["iat"].as_i64().unwrap();
            assert!(
                iat >= rotation.activates_at.timestamp(),
                "signed at {iat}, before the key's activation at {}",
                rotation.activates_at
            );
            break;
        }
        assert_eq!(
            kid, old_kids[0],
            "only the old key signs before the new one"
        );
        assert!(
            Instant::now() < deadline,
            "the new key never signed (published: {seen_published})"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // A token signed before the rotation still verifies.
    verify(&gw.url, before["id_token"].as_str().unwrap(), PORTAL).await;
    assert!(jwks_kids(gw.url.clone()).await.contains(&old_kids[0]));

    // Retirement: the old key is published until its last token can have expired, then not.
    let (old_kid, retires_at) = rotation.retiring[0].clone();
    assert_eq!(old_kid, old_kids[0]);
    assert!(retires_at >= rotation.activates_at + chrono::Duration::seconds(30));
    let keys_at = |t| vneid_gateway::startup::load_keys(&gw.app.db, &gw.app.master, t);
    let just_before = keys_at(retires_at - chrono::Duration::seconds(1))
        .await
        .unwrap()
        .unwrap();
    assert!(just_before.jwks().to_string().contains(&old_kid));
    assert_eq!(just_before.signing_kid(), rotation.kid);
    let after = keys_at(retires_at + chrono::Duration::seconds(1))
        .await
        .unwrap()
        .unwrap();
    assert!(!after.jwks().to_string().contains(&old_kid));
}

/// Redis and Postgres go away and come back: readiness says so, pages answer a Vietnamese 503
/// and OAuth endpoints a 503 JSON error within the configured timeouts, the gateway recovers by
/// itself, and every audit event written before the outage is still there after it.
#[actix_web::test]
async fn outages_of_redis_and_postgres_give_503_and_recover_without_losing_audit_events() {
    let mut redis = PrivateRedis::start();
    let pg = PrivatePostgres::start();
    let db_url = pg.url();
    {
        let db = vneid_store::Database::connect(&db_url, 1).await.unwrap();
        db.migrate().await.unwrap();
        db.close().await;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    let cfg = format!(
        r#"
[server]
bind = "127.0.0.1:0"
[database]
url = "{db_url}"
acquire_timeout = "1s"
[ephemeral]
url = "{redis}"
timeout = "1s"
[keys]
master_key_file = "{key}"
[log]
filter = "error"
[simulator]
enabled = true
allow_with_production_backends = true
[[clients]]
client_id = "{PORTAL}"
client_secret = "{PORTAL_SECRET}"
redirect_uris = ["{PORTAL_CB}"]
scopes = ["openid", "profile", "personal_id"]
"#,
        redis = redis.url(),
        key = key.display()
    );
    let settings = settings_from(&cfg, dir.path());
    let gw = start(settings, dir, None).await;
    let c = reqwest::Client::new();
    let ready = |url: String| async move {
        reqwest::get(format!("{url}/readyz"))
            .await
            .unwrap()
            .status()
    };

    // A login before the outages: its audit event must survive them.
    let b = browser();
    let p = pkce();
    let Ended::Portal(q) =
        login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await
    else {
        panic!()
    };
    assert_eq!(
        exchange(&gw.url, &q["code"], &p.verifier).await.status(),
        StatusCode::OK
    );
    let audit_before = gw
        .app
        .db
        .list_audit(&vneid_store::AuditFilter {
            kind: None,
            limit: 100,
            ..vneid_store::AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(!audit_before.is_empty());

    // --- Redis stops.
    redis.stop();
    // While Redis is down every answer must come from the gateway's own timeouts (1 s): a
    // request that waited for Redis would hang until the end of the test.
    without_hanging("answers while Redis is down", async {
        assert_eq!(ready(gw.url.clone()).await, StatusCode::SERVICE_UNAVAILABLE);
        let res = browser()
            .get(authorize_url(&gw.url, &pkce(), &[]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(res.text().await.unwrap().contains("tạm thời gián đoạn"));
        let res = c
            .post(format!("{}/token", gw.url))
            .basic_auth(PORTAL, Some(PORTAL_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", PORTAL_CB),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"],
            "temporarily_unavailable"
        );
    })
    .await;

    // --- Redis returns (empty: sessions and pending logins are gone, as after a cache crash).
    redis.resume();
    eventually("recovery from the Redis outage by itself", || async {
        (ready(gw.url.clone()).await == StatusCode::OK).then_some(())
    })
    .await;
    let b = browser();
    let p = pkce();
    let res = b.get(authorize_url(&gw.url, &p, &[])).send().await.unwrap();
    let callback = upstream_password_otp(&b, &location(&res), people::LEVEL2_CITIZEN).await;

    // --- Postgres stops in the middle of a login.
    pg.stop();
    without_hanging("answers while Postgres is down", async {
        assert_eq!(ready(gw.url.clone()).await, StatusCode::SERVICE_UNAVAILABLE);
        let res = b.get(&callback).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(res.text().await.unwrap().contains("tạm thời gián đoạn"));
    })
    .await;

    // --- Postgres returns.
    pg.resume();
    eventually("recovery from the Postgres outage by itself", || async {
        (ready(gw.url.clone()).await == StatusCode::OK).then_some(())
    })
    .await;
    let b = browser();
    let p = pkce();
    let Ended::Portal(q) =
        login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await
    else {
        panic!("logins work again")
    };
    assert_eq!(
        exchange(&gw.url, &q["code"], &p.verifier).await.status(),
        StatusCode::OK
    );
    let audit_after = gw
        .app
        .db
        .list_audit(&vneid_store::AuditFilter {
            kind: None,
            limit: 1000,
            ..vneid_store::AuditFilter::default()
        })
        .await
        .unwrap();
    for e in &audit_before {
        assert!(
            audit_after
                .iter()
                .any(|a| a.id == e.id && a.outcome == e.outcome),
            "audit event {:?} survived",
            e.id
        );
    }
    assert!(audit_after.len() > audit_before.len());
}

/// SIGTERM: the server stops accepting, lets the request in flight finish, and exits 0.
#[actix_web::test]
async fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    // An upstream that accepts connections and never answers: /authorize waits for discovery
    // until the upstream timeout, which makes a request that is in flight when SIGTERM comes.
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_url = format!("http://127.0.0.1:{}", hole.local_addr().unwrap().port());
    // Tells the test when the gateway has connected, i.e. when /authorize is in flight.
    let (connected, upstream_reached) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in hole.incoming().flatten() {
            held.push(s);
            let _ = connected.send(());
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = format!(
        r#"
[server]
bind = "127.0.0.1:{port}"
upstream_timeout = "5s"
shutdown_timeout = "20s"
[database]
url = "sqlite://{db}"
[log]
filter = "warn"
[[clients]]
client_id = "{PORTAL}"
client_secret = "{PORTAL_SECRET}"
redirect_uris = ["{PORTAL_CB}"]
{upstream}
"#,
        db = dir.path().join("g.db").display(),
        upstream = upstream_section(&hole_url, "s"),
    );
    let mut gw = GatewayProcess::start(&cfg, dir.path(), "gw", port).await;
    let url = authorize_url(&gw.url, &pkce(), &[]);
    let in_flight =
        tokio::spawn(async move { browser().get(url).send().await.map(|r| r.status()) });
    tokio::task::spawn_blocking(move || upstream_reached.recv())
        .await
        .unwrap()
        .expect("the gateway asks the upstream while /authorize is in flight");
    let status = tokio::task::spawn_blocking(move || {
        let s = gw.terminate();
        drop(gw);
        s
    });
    eventually("new connections refused after SIGTERM", || async {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .is_err()
            .then_some(())
    })
    .await;
    let answered = without_hanging("the in-flight request", in_flight)
        .await
        .unwrap()
        .expect("the in-flight request got its answer");
    assert_eq!(
        answered,
        StatusCode::SERVICE_UNAVAILABLE,
        "the upstream timed out: the 503 page, not a cut connection"
    );
    let exit = without_hanging("the exit after SIGTERM", status)
        .await
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}

/// `serve` refuses a shared database that `gateway migrate` has not prepared, naming the fix;
/// after `gateway migrate` it starts.
#[actix_web::test]
async fn serve_refuses_an_unmigrated_database_until_gateway_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let key = ensure_master_key(dir.path());
    let port = free_port();
    let cfg = format!(
        "[server]\nbind = \"127.0.0.1:{port}\"\n[database]\nurl = \"{db}\"\n[keys]\nmaster_key_file = \"{key}\"\n[simulator]\nenabled = true\nallow_with_production_backends = true\n",
        db = empty_postgres_database().await,
        key = key.display()
    );
    let path = dir.path().join("g.toml");
    std::fs::write(&path, &cfg).unwrap();
    let out = std::process::Command::new(gateway_bin())
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gateway migrate"), "{err}");
    let out = std::process::Command::new(gateway_bin())
        .args(["migrate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gw = GatewayProcess::start(&cfg, dir.path(), "after-migrate", port).await;
    assert_eq!(
        reqwest::get(format!("{}/readyz", gw.url))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}
