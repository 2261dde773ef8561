//! A database client changes in place: `PATCH /admin/v1/clients/{id}` (a JSON merge patch,
//! checked like a registration, its secret kept; what must not change is refused naming the
//! field) and `POST /admin/v1/clients/{id}/secret` (a new secret; the previous one works until
//! `admin.secret_rotation_grace` ends). Configuration and built-in clients are not the API's.

use reqwest::StatusCode;
use serde_json::{json, Value};
use vneid_e2e::*;
use vneid_store::AuditFilter;

use crate::directory::{admin_token, extra, ADMIN};

async fn send(
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn a_database_client_changes_in_place_and_keeps_its_secret() {
    let gw = spawn_embedded(&format!("[demo]\nenabled = true\n{}", extra())).await;
    let token = admin_token(&gw.url, "admin").await;
    let clients = format!("{}/admin/v1/clients", gw.url);
    use reqwest::Method;

    let (status, created) = send(
        Method::POST,
        clients.clone(),
        &token,
        Some(json!({"client_id": "cong-moi", "name": "Cổng cũ", "redirect_uris": ["http://127.0.0.1:9/cu"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["client_secret"].as_str().unwrap().to_owned();

    let (status, changed) = send(
        Method::PATCH,
        format!("{clients}/cong-moi"),
        &token,
        Some(json!({"name": "Cổng mới", "redirect_uris": ["http://127.0.0.1:9/moi"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["name"], "Cổng mới");
    assert_eq!(changed["redirect_uris"], json!(["http://127.0.0.1:9/moi"]));
    assert!(changed.get("client_secret").is_none(), "{changed}");
    let (_, got) = send(Method::GET, format!("{clients}/cong-moi"), &token, None).await;
    assert_eq!(got["redirect_uris"], changed["redirect_uris"]);

    // Served at once: the new redirect URI is accepted, the old one no longer.
    let authorize = |redirect: &str| {
        let p = pkce();
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", "cong-moi")
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "openid")
            .append_pair("state", "st")
            .append_pair("code_challenge", &p.challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        format!("{}/authorize?{query}", gw.url)
    };
    let res = browser()
        .get(authorize("http://127.0.0.1:9/moi"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "the new redirect URI");
    assert!(
        location(&res).contains("/simulator/"),
        "on to the broker: {}",
        location(&res)
    );
    let res = browser()
        .get(authorize("http://127.0.0.1:9/cu"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "the old redirect URI"
    );

    // The secret is the one shown at registration.
    let res = reqwest::Client::new()
        .post(format!("{}/introspect", gw.url))
        .basic_auth("cong-moi", Some(&secret))
        .form(&[("token", "anything")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let audit = gw.app.db.list_audit(&AuditFilter::default()).await.unwrap();
    let event = audit
        .iter()
        .find(|e| e.kind == "client_updated")
        .expect("client_updated audited");
    assert_eq!(event.detail["fields"], json!(["name", "redirect_uris"]));

    // What may not change, or is not valid, names its field.
    for (patch, field) in [
        (json!({"client_id": "other"}), "client_id"),
        (
            json!({"client_secret": "0123456789abcdef0123456789abcdef"}),
            "client_secret",
        ),
        (
            json!({"token_endpoint_auth_method": "none"}),
            "token_endpoint_auth_method",
        ),
        (json!({"subject_type": "pairwise"}), "subject_type"),
        (json!({"redirect_uris": ["not a url"]}), "redirect_uris[0]"),
        (json!({"surprise": 1}), "surprise"),
    ] {
        let (status, problem) = send(
            Method::PATCH,
            format!("{clients}/cong-moi"),
            &token,
            Some(patch.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}: {problem}");
        assert_eq!(problem["field"], field, "{patch}: {problem}");
    }

    // Not the API's to change.
    for (id, status, code) in [
        (ADMIN, StatusCode::CONFLICT, "client_in_config"),
        (
            "vneid-admin-console",
            StatusCode::CONFLICT,
            "client_builtin",
        ),
        ("nobody", StatusCode::NOT_FOUND, "not_found"),
    ] {
        let (got, problem) = send(
            Method::PATCH,
            format!("{clients}/{id}"),
            &token,
            Some(json!({"name": "x"})),
        )
        .await;
        assert_eq!(
            (got, problem["error"].as_str()),
            (status, Some(code)),
            "{id}"
        );
    }
}

/// `POST …/secret` as the client's secret: the client's introspection call, 200 or 401.
async fn introspect_with(gw: &str, id: &str, secret: &str) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{gw}/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", "anything")])
        .send()
        .await
        .unwrap()
        .status()
}

async fn register(gw: &str, token: &str, body: Value) -> Value {
    let (status, created) = send(
        reqwest::Method::POST,
        format!("{gw}/admin/v1/clients"),
        token,
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

#[actix_web::test]
async fn a_rotated_secret_works_at_once_and_the_previous_one_until_the_grace_ends() {
    // A grace of one second, to see it end.
    let gw = spawn_embedded(&format!(
        "[demo]\nenabled = true\n[admin]\nsecret_rotation_grace = \"1s\"\n{}",
        extra()
    ))
    .await;
    let token = admin_token(&gw.url, "admin").await;
    let created = register(
        &gw.url,
        &token,
        json!({"client_id": "xoay-vong", "redirect_uris": ["http://127.0.0.1:9/cb"]}),
    )
    .await;
    let old = created["client_secret"].as_str().unwrap().to_owned();

    let (status, rotated) = send(
        reqwest::Method::POST,
        format!("{}/admin/v1/clients/xoay-vong/secret", gw.url),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(
        rotated["previous_secret_valid_until"].is_string(),
        "{rotated}"
    );
    assert_eq!(
        introspect_with(&gw.url, "xoay-vong", &new).await,
        StatusCode::OK
    );
    assert_eq!(
        introspect_with(&gw.url, "xoay-vong", &old).await,
        StatusCode::OK,
        "the previous secret during the grace"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        introspect_with(&gw.url, "xoay-vong", &old).await,
        StatusCode::UNAUTHORIZED,
        "the previous secret after the grace"
    );
    assert_eq!(
        introspect_with(&gw.url, "xoay-vong", &new).await,
        StatusCode::OK
    );
    let audit = gw.app.db.list_audit(&AuditFilter::default()).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == "client_secret_rotated"));

    // Nothing to rotate, or not the API's to rotate.
    register(
        &gw.url,
        &token,
        json!({"client_id": "cong-cong-khai", "token_endpoint_auth_method": "none", "redirect_uris": ["http://127.0.0.1:9/app"]}),
    )
    .await;
    for (id, status, code) in [
        (
            "cong-cong-khai",
            StatusCode::CONFLICT,
            "client_has_no_secret",
        ),
        (ADMIN, StatusCode::CONFLICT, "client_in_config"),
        ("demo", StatusCode::CONFLICT, "client_builtin"),
        ("nobody", StatusCode::NOT_FOUND, "not_found"),
    ] {
        let (got, problem) = send(
            reqwest::Method::POST,
            format!("{}/admin/v1/clients/{id}/secret", gw.url),
            &token,
            None,
        )
        .await;
        assert_eq!(
            (got, problem["error"].as_str()),
            (status, Some(code)),
            "{id}"
        );
    }
}
