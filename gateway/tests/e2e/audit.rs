//! The audit trail from outside: `GET /admin/v1/audit` pages through it, every replica signs
//! the chain's head, and `gateway audit verify|export|checkpoint|prune` work on a real database
//! file — verify names the first event someone edited behind the gateway's back.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use vneid_e2e::*;

use crate::binary::run_gateway;
use crate::directory::{admin_token, extra};

async fn get(url: &str, token: Option<&str>) -> (StatusCode, String, Value) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, res.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn the_admin_api_pages_through_the_audit_trail_and_the_head_gets_signed() {
    let gw = spawn_embedded(&format!("[audit]\ncheckpoint_every = \"1s\"\n{}", extra())).await;
    let token = admin_token(&gw.url, "admin").await;
    for i in 0..3 {
        let res = reqwest::Client::new()
            .post(format!("{}/admin/v1/clients", gw.url))
            .bearer_auth(&token)
            .json(&json!({"client_id": format!("cong-{i}"), "redirect_uris": ["http://127.0.0.1:9/cb"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let audit = format!("{}/admin/v1/audit", gw.url);

    let (status, _, first) = get(&format!("{audit}?kind=client_added&limit=2"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let events = first["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["client_id"], "cong-2", "newest first: {first}");
    assert!(events[0]["hash"].as_str().unwrap().len() == 64);
    assert_eq!(events[0]["prev_hash"], events[1]["hash"]);
    assert_eq!(
        events[0]["seq"].as_i64().unwrap(),
        events[1]["seq"].as_i64().unwrap() + 1
    );
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, _, second) = get(
        &format!("{audit}?kind=client_added&limit=2&cursor={cursor}"),
        Some(&token),
    )
    .await;
    assert_eq!(second["events"].as_array().unwrap().len(), 1);
    assert_eq!(second["events"][0]["client_id"], "cong-0");
    assert!(second.get("next_cursor").is_none(), "{second}");

    // A period: today (Vietnam time) has them, tomorrow and an hour ago-to-a-minute-ago do not.
    let today = vneid_core::vietnam::date(chrono::Utc::now());
    let (_, _, day) = get(
        &format!("{audit}?kind=client_added&from={today}&to={today}"),
        Some(&token),
    )
    .await;
    assert_eq!(day["events"].as_array().unwrap().len(), 3, "{day}");
    let tomorrow = today.succ_opt().unwrap();
    let (_, _, none) = get(&format!("{audit}?from={tomorrow}"), Some(&token)).await;
    assert_eq!(none["events"], json!([]));
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let minute_ago = (chrono::Utc::now() - chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, _, none) = get(
        &format!("{audit}?from={hour_ago}&to={minute_ago}"),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{none}");
    assert_eq!(none["events"], json!([]));

    for (query, says) in [
        ("from=yesterday", "from must be a date"),
        ("to=262143-12-31", "to must be a date"),
        ("from=2026-12-03&to=2026-12-01", "from must be before to"),
        ("cursor=-3", "cursor"),
        ("limit=0", "limit must be between 1 and 1000"),
        ("limit=5000", "limit must be between 1 and 1000"),
        ("since=2026-01-01", "unknown field"),
    ] {
        let (status, kind, body) = get(&format!("{audit}?{query}"), Some(&token)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(kind, "application/problem+json", "{query}");
        assert!(
            body["detail"].as_str().unwrap().contains(says),
            "{query}: {body}"
        );
    }
    let (status, kind, _) = get(&audit, None).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::UNAUTHORIZED, "application/problem+json")
    );
    let res = reqwest::Client::new()
        .delete(&audit)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET");

    // The replica signs the head within checkpoint_every.
    let mut signed = Vec::new();
    for _ in 0..50 {
        signed = gw.app.db.audit_checkpoints().await.unwrap();
        if !signed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!signed.is_empty(), "no checkpoint was signed");
    let report = vneid_gateway::audit::verify(&gw.app.db, &gw.app.master, None)
        .await
        .unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.checkpoints as usize, signed.len());
    let metrics = reqwest::get(format!("{}/metrics", gw.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sample = |text: &str, line: &str| text.lines().any(|l| l == line);
    assert!(sample(&metrics, "vneid_audit_chain_broken 0"), "{metrics}");

    // Someone edits an event the last checkpoint does not cover yet: the replica's next check
    // finds it, signs nothing over it, and says so on /metrics.
    let res = reqwest::Client::new()
        .post(format!("{}/admin/v1/clients", gw.url))
        .bearer_auth(&token)
        .json(&json!({"client_id": "cong-9", "redirect_uris": ["http://127.0.0.1:9/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    tamper_last_event(&gw.app.settings.database.url).await;
    let (head, _) = gw.app.db.audit_head().await.unwrap();
    let covered = gw.app.db.audit_checkpoints().await.unwrap();
    if covered.iter().any(|c| c.claim.through_seq >= head) {
        // The replica signed the new event in the milliseconds before the edit: the edit is
        // then a rewrite behind a checkpoint, which the full walk names.
        eprintln!("the new event was signed before the edit; checking the full walk instead");
        let report = vneid_gateway::audit::verify(&gw.app.db, &gw.app.master, None)
            .await
            .unwrap();
        assert!(matches!(
            report.broken,
            Some(vneid_store::ChainBreak::Rewritten { .. })
        ));
        return;
    }
    let mut broken = String::new();
    for _ in 0..50 {
        broken = reqwest::get(format!("{}/metrics", gw.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if sample(&broken, "vneid_audit_chain_broken 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sample(&broken, "vneid_audit_chain_broken 1"), "{broken}");
    let signed = gw.app.db.audit_checkpoints().await.unwrap();
    assert!(
        signed.iter().all(|c| c.claim.through_seq < head),
        "a tampered event was signed"
    );
}

/// Changes the outcome of the last audit event with the database's own tools, as someone with
/// write access to it would.
async fn tamper_last_event(url: &str) {
    let update = "UPDATE audit_events SET outcome = 'denied' \
                  WHERE seq = (SELECT MAX(seq) FROM audit_events)";
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        for sql in ["DROP TRIGGER audit_events_no_update", update] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        for sql in ["ALTER TABLE audit_events DISABLE TRIGGER USER", update] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
    }
}

/// `gateway audit …` on a SQLite file, as an operator runs it.
#[test]
fn the_command_line_verifies_exports_signs_and_prunes_and_names_an_edited_event() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("g.db");
    let cfg = format!(
        "[database]\nurl = \"sqlite://{}\"\n[log]\nfilter = \"warn\"\n[simulator]\nenabled = true\n[audit]\nretain = \"2s\"\n",
        db_path.display()
    );
    let path = dir.path().join("g.toml");
    std::fs::write(&path, cfg).unwrap();
    let gateway = |args: &[&str]| run_gateway(&path, args);
    assert!(gateway(&["migrate"]).0);
    for id in ["cong-a", "cong-b", "cong-c"] {
        let (ok, _, err) = gateway(&["clients", "add", "--id", id, "--redirect-uri", PORTAL_CB]);
        assert!(ok, "{err}");
    }
    let (ok, out, err) = gateway(&["audit", "verify"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("audit chain intact: 3 events checked, seq 1 to 3"),
        "{out}"
    );

    let (ok, out, err) = gateway(&["audit", "export", "--kind", "client_added"]);
    assert!(ok, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["seq"], 1, "oldest first");
    assert_eq!(lines[2]["client_id"], "cong-c");
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
    let (ok, _, err) = gateway(&["audit", "export", "--from", "last week"]);
    assert!(!ok && err.contains("--from must be a date"), "{err}");

    let (ok, out, _) = gateway(&["audit", "checkpoint"]);
    assert!(ok && out.contains("the chain reached seq 3"), "{out}");
    let (ok, out, _) = gateway(&["audit", "checkpoint"]);
    assert!(ok && out.contains("already covers"), "{out}");

    // Someone with the file changes who was added, behind the gateway's back.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("sqlite://{}", db_path.display());
    let tamper = |sql: &'static str| {
        rt.block_on(async {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query("DROP TRIGGER IF EXISTS audit_events_no_update")
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        })
    };
    tamper("UPDATE audit_events SET client_id = 'cong-x' WHERE seq = 2");
    let (ok, _, err) = gateway(&["audit", "verify"]);
    assert!(!ok, "a tampered trail verified");
    assert!(
        err.contains("tampered") && err.contains("seq 2") && err.contains("edited"),
        "{err}"
    );
    tamper("UPDATE audit_events SET client_id = 'cong-b' WHERE seq = 2");
    assert!(gateway(&["audit", "verify"]).0);

    // retain = "2s": once they are old, prune deletes them behind a signed checkpoint.
    std::thread::sleep(Duration::from_millis(3100));
    let (ok, out, err) = gateway(&["audit", "prune"]);
    assert!(ok, "{err}");
    assert!(out.contains("3 events deleted"), "{out}");
    let (ok, _, err) = gateway(&[
        "clients",
        "add",
        "--id",
        "cong-d",
        "--redirect-uri",
        PORTAL_CB,
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = gateway(&["audit", "verify"]);
    assert!(ok, "{err}");
    assert!(out.contains("1 event checked, seq 4 to 4"), "{out}");
}
