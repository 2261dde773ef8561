//! How the admin API says no: RFC 9457 problem details carrying the request id, 405 with
//! `Allow`, built-in clients listed as such and never removed — and the same rules on the
//! command line (`gateway clients list|remove`).

use reqwest::StatusCode;
use serde_json::Value;
use vneid_e2e::*;

use crate::binary::run_gateway;
use crate::directory::{admin_token, extra, ADMIN};

/// Sends `method path` with `X-Request-Id: id`; returns the status, the `Allow` header and the
/// problem, after checking its shape.
async fn problem(
    gw: &str,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    id: &str,
) -> (StatusCode, String, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{gw}{path}"))
        .header("X-Request-Id", id);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let allow = res
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(
        res.headers()["content-type"],
        "application/problem+json",
        "{path}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(body["request_id"], id, "{body}");
    assert_eq!(body["title"], status.canonical_reason().unwrap(), "{body}");
    let code = body["error"].as_str().unwrap();
    assert_eq!(body["type"], format!("urn:vneid-gateway:problem:{code}"));
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    (status, allow, body)
}

#[actix_web::test]
async fn admin_errors_are_problem_details_and_built_in_clients_stay() {
    let gw = spawn_embedded(&format!("[demo]\nenabled = true\n{}", extra())).await;
    let token = admin_token(&gw.url, "admin").await;
    use reqwest::Method;

    let (status, _, body) = problem(&gw.url, None, Method::GET, "/admin/v1/clients", "p-1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_request");
    let (status, _, body) = problem(
        &gw.url,
        Some(&token),
        Method::GET,
        "/admin/v1/clients/nobody",
        "p-2",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _, _) = problem(
        &gw.url,
        Some(&token),
        Method::GET,
        "/admin/v1/nothing-here",
        "p-3",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A method the resource does not answer: 405 naming those it does.
    for (method, path, allowed) in [
        (Method::PUT, "/admin/v1/clients/demo", "GET, PATCH, DELETE"),
        (Method::DELETE, "/admin/v1/clients", "GET, POST"),
        (Method::PATCH, "/admin/v1/links", "GET, POST"),
        (Method::GET, "/admin/v1/directory/import", "POST"),
    ] {
        let (status, allow, body) = problem(&gw.url, Some(&token), method, path, "p-4").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(allow, allowed, "{path}");
        assert_eq!(body["error"], "method_not_allowed");
    }

    // The demo portal's and the IT centre's page's clients are built in, and stay.
    let list: Value = reqwest::Client::new()
        .get(format!("{}/admin/v1/clients", gw.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let source = |id: &str| {
        list["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client_id"] == id)
            .map(|c| c["source"].clone())
    };
    assert_eq!(source("demo"), Some(Value::from("builtin")));
    assert_eq!(source("vneid-admin-console"), Some(Value::from("builtin")));
    assert_eq!(source(ADMIN), Some(Value::from("config")));
    for id in ["demo", "vneid-admin-console"] {
        let (status, _, body) = problem(
            &gw.url,
            Some(&token),
            Method::DELETE,
            &format!("/admin/v1/clients/{id}"),
            "p-5",
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["error"], "client_builtin");
        assert!(body["detail"]
            .as_str()
            .unwrap()
            .contains("built into the gateway"));
    }

    // The OAuth endpoints keep RFC 6749 bodies.
    let res = reqwest::Client::new()
        .post(format!("{}/token", gw.url))
        .basic_auth(ADMIN, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].is_string() && body.get("type").is_none());
}

#[test]
fn clients_list_shows_built_in_clients_and_remove_takes_only_database_clients() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[database]\nurl = \"sqlite://{}\"\n[log]\nfilter = \"warn\"\n[demo]\nenabled = true\n[simulator]\nenabled = true\n\
         [[clients]]\nclient_id = \"in-file\"\nredirect_uris = [\"{PORTAL_CB}\"]\n",
        dir.path().join("g.db").display()
    );
    let path = dir.path().join("g.toml");
    std::fs::write(&path, cfg).unwrap();
    let gateway = |args: &[&str]| run_gateway(&path, args);
    assert!(gateway(&["migrate"]).0);
    let (ok, _, err) = gateway(&[
        "clients",
        "add",
        "--id",
        "in-db",
        "--redirect-uri",
        PORTAL_CB,
    ]);
    assert!(ok, "{err}");
    let (ok, list, _) = gateway(&["clients", "list"]);
    assert!(ok);
    let source = |id: &str| {
        list.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_owned)
    };
    assert_eq!(source("demo").as_deref(), Some("builtin"), "{list}");
    assert_eq!(
        source("vneid-admin-console").as_deref(),
        Some("builtin"),
        "{list}"
    );
    assert_eq!(source("in-file").as_deref(), Some("config"), "{list}");
    assert_eq!(source("in-db").as_deref(), Some("database"), "{list}");

    let (ok, out, err) = gateway(&["clients", "rotate-secret", "--id", "in-db"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("client_secret: ") && out.contains("the previous secret works until"),
        "{out}"
    );
    let (ok, _, err) = gateway(&["clients", "rotate-secret", "--id", "in-file"]);
    assert!(!ok && err.contains("configuration file"), "{err}");

    for (id, says) in [
        ("demo", "built into the gateway"),
        ("in-file", "configuration file"),
        ("nobody", "no such client"),
    ] {
        let (ok, _, err) = gateway(&["clients", "remove", "--id", id]);
        assert!(!ok, "{id} removed");
        assert!(err.contains(says) && err.contains("--id"), "{id}: {err}");
    }
    let (ok, out, err) = gateway(&["clients", "remove", "--id", "in-db"]);
    assert!(ok, "{err}");
    assert!(out.contains("client in-db removed"), "{out}");
    let (_, list, _) = gateway(&["clients", "list"]);
    assert!(!list.contains("in-db"), "{list}");
}
