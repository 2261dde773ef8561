//! The log as an operator's log shipper reads it: the binary's stdout in JSON, one object per
//! line, with tracing's own `level`, `timestamp`, `target` and message and nothing that shadows
//! them; one access line per request, without query strings.

use std::collections::HashMap;

use serde_json::Value;
use vneid_e2e::*;

use crate::binary::GatewayProcess;

/// The keys of one JSON object, in order, with repeats (serde_json keeps only the last).
fn keys_with_repeats(line: &str) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((k, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_str::<Keys>(line)
        .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"))
        .0
}

#[actix_web::test]
async fn every_log_line_is_one_json_object_and_every_request_has_an_access_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = services::free_port();
    let cfg = base_config(dir.path(), "[simulator]\nenabled = true\n")
        .await
        .replace(
            "bind = \"127.0.0.1:0\"",
            &format!("bind = \"127.0.0.1:{port}\""),
        )
        .replace(
            "format = \"pretty\"\nfilter = \"warn\"",
            "format = \"json\"\nfilter = \"info\"",
        );
    let log = dir.path().join("gateway.log");
    // On Postgres the operator makes the master key; SQLite would make one itself.
    ensure_master_key(dir.path());
    let mut gw = GatewayProcess::start_logging(&cfg, dir.path(), "logged", port, Some(&log)).await;

    // A whole login (the upstream's and the policy's lines), its code exchanged, refusals of
    // several kinds, a probe and a page that does not exist.
    let b = browser();
    let p = pkce();
    let authorize = authorize_url(&gw.url, &p, &[]);
    let Ended::Portal(q) = login(&b, &authorize, people::LEVEL2_CITIZEN).await else {
        panic!("the login reaches the portal");
    };
    let res = exchange(&gw.url, &q["code"], &p.verifier).await;
    assert_eq!(res.status(), 200);
    let res = exchange(&gw.url, &q["code"], &p.verifier).await;
    assert_eq!(res.status(), 400, "a code is single-use");
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{}/token", gw.url))
        .basic_auth(PORTAL, Some("wrong-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = http
        .get(format!("{}/nowhere?secret=hidden-query", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = http
        .get(format!("{}/admin/v1/clients", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = http
        .get(format!("{}/healthz", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    gw.terminate();

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 10, "{text}");
    let mut access = Vec::new();
    for line in &lines {
        let keys = keys_with_repeats(line);
        let mut seen = HashMap::new();
        for k in &keys {
            *seen.entry(k.as_str()).or_insert(0) += 1;
        }
        assert!(seen.values().all(|n| *n == 1), "a key repeated in {line}");
        let v: Value = serde_json::from_str(line).unwrap();
        let level = v["level"]
            .as_str()
            .unwrap_or_else(|| panic!("no level: {line}"));
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level),
            "{line}"
        );
        assert!(
            v["timestamp"].is_string() && v["target"].is_string(),
            "{line}"
        );
        assert!(
            !line.contains("hidden-query"),
            "a query string was logged: {line}"
        );
        assert!(
            !line.contains(people::LEVEL2_CITIZEN),
            "a personal ID number in the log: {line}"
        );
        if v["message"] == "request" {
            access.push(v);
        }
    }

    let find = |route: &str, status: u64| {
        access
            .iter()
            .find(|a| a["route"] == route && a["status"] == status)
            .unwrap_or_else(|| panic!("no access line for {route} {status}: {access:#?}"))
    };
    let token = find("/token", 200);
    assert_eq!(token["level"], "INFO");
    assert_eq!(token["method"], "POST");
    assert_eq!(token["client_id"], PORTAL);
    assert!(token["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(token["bytes"].as_i64().unwrap() > 100);
    assert!(!token["request_id"].as_str().unwrap().is_empty());
    assert_eq!(find("/token", 400)["error"], "invalid_grant");
    let denied = find("/token", 401);
    assert_eq!(denied["error"], "invalid_client");
    assert_eq!(denied["client_id"], PORTAL);
    assert_eq!(find("/authorize", 302)["client_id"], PORTAL);
    assert_eq!(find("unmatched", 404)["method"], "GET");
    // An admin API problem carries its machine code too.
    assert_eq!(find("/admin/v1/clients", 401)["error"], "invalid_request");
    assert!(
        access.iter().all(|a| a["route"] != "/healthz"),
        "probes are logged at debug only"
    );
    let callback = access
        .iter()
        .find(|a| a["route"].as_str().unwrap_or("").contains("callback"))
        .expect("the upstream callback's access line");
    assert_eq!(callback["status"], 302);
}

/// Right after a start, before any login: the process metrics, the build, and every labelled
/// counter that alerts divide or sum, at zero; `HEAD` answers on `/metrics` and the probes.
#[actix_web::test]
async fn metrics_exist_at_zero_from_the_start_with_process_and_build_information() {
    let gw = spawn_embedded("").await;
    let text = metrics(&gw.url).await;
    for line in [
        "vneid_logins_total{level=\"2\",login_idp=\"BCA\",outcome=\"success\",reason=\"\",upstream=\"vneid\"} 0",
        "vneid_logins_total{level=\"none\",login_idp=\"none\",outcome=\"refused\",reason=\"level_too_low\",upstream=\"vneid\"} 0",
        "vneid_logins_total{level=\"none\",login_idp=\"none\",outcome=\"error\",reason=\"upstream_error\",upstream=\"vneid\"} 0",
        "vneid_tokens_issued_total{grant=\"authorization_code\"} 0",
        "vneid_account_links_total{outcome=\"conflict\"} 0",
        "vneid_backchannel_logout_total{outcome=\"failed\"} 0",
        "vneid_rate_limited_total{limit=\"token\"} 0",
    ] {
        assert!(text.contains(line), "missing at start: {line}\n{text}");
    }
    assert!(
        text.contains(&format!(
            "vneid_build_info{{revision=\"{}\",version=\"{}\"}} 1",
            vneid_gateway::BUILD_ID,
            vneid_gateway::VERSION
        )),
        "{text}"
    );
    for name in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_max_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name}missing");
    }
    let http = reqwest::Client::new();
    for path in ["/metrics", "/healthz", "/readyz"] {
        let res = http.head(format!("{}{path}", gw.url)).send().await.unwrap();
        assert_eq!(res.status(), 200, "HEAD {path}");
    }
}
