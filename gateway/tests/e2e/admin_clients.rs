//! The admin API's clients resource (`/admin/v1/clients`), its bearer authentication, the
//! client registry reloaded at run time (pairwise subjects: `pairwise.rs`).
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::StatusCode;
use serde_json::{json, Value};
use vneid_e2e::*;

const ADMIN: &str = "ops-admin";
const ADMIN_SECRET: &str = "ops-admin-secret-0123456789-abcdefghijk";
const PII_ONLY: &str = "pii-reader";
const PII_ONLY_SECRET: &str = "pii-reader-secret-0123456789-abcdefghij";
pub(crate) const MACHINES: &str = r#"
[[clients]]
client_id = "ops-admin"
client_secret = "ops-admin-secret-0123456789-abcdefghijk"
grant_types = ["client_credentials"]
scopes = ["admin", "admin:pii"]

[[clients]]
client_id = "pii-reader"
client_secret = "pii-reader-secret-0123456789-abcdefghij"
grant_types = ["client_credentials"]
scopes = ["admin:pii"]
"#;

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn machine_token(gw: &str, id: &str, secret: &str) -> String {
    let res = http()
        .post(format!("{gw}/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "client_credentials for {id}");
    res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn admin_token(gw: &str) -> String {
    machine_token(gw, ADMIN, ADMIN_SECRET).await
}

fn clients_url(gw: &str) -> String {
    format!("{gw}/admin/v1/clients")
}

pub(crate) async fn create(gw: &str, token: &str, body: &Value) -> reqwest::Response {
    http()
        .post(clients_url(gw))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn www_authenticate(res: &reqwest::Response) -> String {
    res.headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A code for `client` (a fresh login, or SSO when the browser has a session) and the PKCE
/// verifier that goes with it.
async fn code_for(gw: &str, b: &reqwest::Client, client: &str) -> (String, String) {
    let p = pkce();
    let url =
        authorize_url(gw, &p, &[]).replace("client_id=portal&", &format!("client_id={client}&"));
    let res = b.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "authorize for {client}");
    let to = location(&res);
    let q = if to.starts_with(PORTAL_CB) {
        query(&to)
    } else {
        let callback = upstream_password_otp(b, &to, people::LEVEL2_CITIZEN).await;
        let Ended::Portal(q) = finish(b, &callback).await else {
            panic!("login for {client} refused")
        };
        q
    };
    (q["code"].clone(), p.verifier)
}

/// Logs in (or uses the session) as `client` and redeems the code with `secret`.
pub(crate) async fn tokens_for(gw: &str, b: &reqwest::Client, client: &str, secret: &str) -> Value {
    let (code, verifier) = code_for(gw, b, client).await;
    let res = http()
        .post(format!("{gw}/token"))
        .basic_auth(client, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", PORTAL_CB),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "token for {client}");
    res.json().await.unwrap()
}

/// Introspection as the operators' tool (scope `admin`), which may ask about any portal's token.
pub(crate) async fn introspect(gw: &str, token: &str) -> Value {
    http()
        .post(format!("{gw}/introspect"))
        .basic_auth("ops-admin", Some(ADMIN_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn audit(gw: &TestGateway, kind: &str) -> Vec<vneid_store::AuditEvent> {
    gw.app
        .db
        .list_audit(&vneid_store::AuditFilter {
            kind: Some(kind.into()),
            ..Default::default()
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn admin_api_needs_a_client_credentials_token_with_the_admin_scope() {
    let gw = spawn_embedded(MACHINES).await;
    let url = clients_url(&gw.url);

    // No token at all: a bare challenge (RFC 6750 §3.1), also for another scheme.
    let res = http().get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www_authenticate(&res), "Bearer realm=\"vneid-gateway\"");
    let res = http()
        .get(&url)
        .basic_auth(ADMIN, Some(ADMIN_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www_authenticate(&res), "Bearer realm=\"vneid-gateway\"");

    // A token that is not ours.
    let res = http()
        .get(&url)
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&res).contains("error=\"invalid_token\""));
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_token");

    // A machine token without `admin` (admin:pii alone is not enough).
    let pii_only = machine_token(&gw.url, PII_ONLY, PII_ONLY_SECRET).await;
    let res = http()
        .get(&url)
        .bearer_auth(&pii_only)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let challenge = www_authenticate(&res);
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"admin\""),
        "{challenge}"
    );
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "insufficient_scope"
    );

    // A person's access token, whatever its scopes.
    let person = tokens_for(&gw.url, &browser(), PORTAL, PORTAL_SECRET).await;
    let res = http()
        .get(&url)
        .bearer_auth(person["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(www_authenticate(&res).contains("insufficient_scope"));

    // The admin token works; once revoked (RFC 7009) it does not.
    let admin = admin_token(&gw.url).await;
    let res = http().get(&url).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap(),
        "no-store"
    );
    let res = http()
        .get(format!("{}/admin/v1/nothing-here", gw.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "not_found");
    let res = http()
        .post(format!("{}/revoke", gw.url))
        .basic_auth(ADMIN, Some(ADMIN_SECRET))
        .form(&[("token", admin.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = http().get(&url).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&res).contains("invalid_token"));
}

#[actix_web::test]
async fn a_client_registered_through_the_admin_api_works_at_once_and_its_secret_is_shown_once() {
    let gw = spawn_embedded(MACHINES).await;
    let admin = admin_token(&gw.url).await;
    let res = create(
        &gw.url,
        &admin,
        &json!({
            "client_id": "new-portal",
            "name": "Cổng mới",
            "redirect_uris": [PORTAL_CB],
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "profile", "offline_access"],
        }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        location(&res),
        format!("{}/admin/v1/clients/new-portal", gw.url)
    );
    assert_eq!(res.headers()["cache-control"], "no-store");
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["source"], "database");
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(created["subject_type"], "public");
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43, "256 bits");

    // Usable at once on this replica: a full login, code and refresh token.
    let t = tokens_for(&gw.url, &browser(), "new-portal", &secret).await;
    assert!(t["refresh_token"].is_string() && t["id_token"].is_string());

    // Listed and shown without a secret or its hash.
    let res = http()
        .get(clients_url(&gw.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains(&secret)
            && !text.contains("hmac-sha256")
            && !text.contains("\"client_secret\""),
        "{text}"
    );
    let list: Value = serde_json::from_str(&text).unwrap();
    let by_id = |id: &str| {
        list["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} listed"))
    };
    assert_eq!(by_id("new-portal")["source"], "database");
    assert_eq!(by_id(PORTAL)["source"], "config");
    let res = http()
        .get(format!("{}/new-portal", clients_url(&gw.url)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let one: Value = res.json().await.unwrap();
    assert_eq!(one["name"], "Cổng mới");
    assert!(one.get("client_secret").is_none());

    // Audited, with who did it.
    let added = audit(&gw, "client_added").await;
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].client_id.as_deref(), Some("new-portal"));
    assert_eq!(added[0].detail["via"], "admin");
    assert_eq!(added[0].detail["by"], ADMIN);

    // An id that exists, in the database or in the configuration file.
    for id in ["new-portal", PORTAL] {
        let res = create(
            &gw.url,
            &admin,
            &json!({"client_id": id, "redirect_uris": [PORTAL_CB]}),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "{id}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "client_exists");
    }

    // Removal: the token endpoint refuses the client, its refresh and access tokens are dead.
    let refresh = t["refresh_token"].as_str().unwrap();
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(introspect(&gw.url, refresh).await["active"], true);
    let res = http()
        .delete(format!("{}/new-portal", clients_url(&gw.url)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = http()
        .post(format!("{}/token", gw.url))
        .basic_auth("new-portal", Some(&secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    assert_eq!(introspect(&gw.url, refresh).await, json!({"active": false}));
    assert_eq!(introspect(&gw.url, access).await, json!({"active": false}));
    let res = http()
        .get(format!("{}/userinfo", gw.url))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = http()
        .get(format!("{}/new-portal", clients_url(&gw.url)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = http()
        .delete(format!("{}/new-portal", clients_url(&gw.url)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let removed = audit(&gw, "client_removed").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].detail["by"], ADMIN);
    assert_eq!(removed[0].detail["refresh_families_revoked"], 1);

    // A client of the configuration file is not the API's to remove.
    let res = http()
        .delete(format!("{}/{PORTAL}", clients_url(&gw.url)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"], "client_in_config");
    assert!(e["detail"].as_str().unwrap().contains("configuration file"));
}

#[actix_web::test]
async fn bad_registrations_get_a_json_error_naming_the_field() {
    let gw = spawn_embedded(MACHINES).await;
    let admin = admin_token(&gw.url).await;
    let cases = [
        (
            json!({"client_id": "x", "redirect_uris": ["http://portal.example/cb"]}),
            "invalid_redirect_uri",
            "redirect_uris[0]",
        ),
        (
            json!({"client_id": "x", "redirect_uris": ["not a url"]}),
            "invalid_redirect_uri",
            "redirect_uris[0]",
        ),
        (
            json!({"client_id": "x"}),
            "invalid_redirect_uri",
            "redirect_uris",
        ),
        (
            json!({"client_id": "x", "redirect_uris": [PORTAL_CB], "scopes": ["openid", "email"]}),
            "invalid_client_metadata",
            "scopes",
        ),
        (
            json!({"client_id": "x", "client_secret": "mine-mine-mine-mine-mine-mine-mine-mine"}),
            "invalid_client_metadata",
            "client_secret",
        ),
        (
            json!({"client_id": "x/y", "redirect_uris": [PORTAL_CB]}),
            "invalid_client_metadata",
            "client_id",
        ),
        (
            json!({"client_id": "x", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
            "grant_types",
        ),
        (
            json!({"client_id": "x", "token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"], "scopes": ["admin"]}),
            "invalid_client_metadata",
            "jwks",
        ),
        (
            json!({"client_id": "x", "subject_type": "pairwise", "redirect_uris": ["https://a.example/cb", "https://b.example/cb"]}),
            "invalid_client_metadata",
            "sector_identifier",
        ),
        (
            json!({"client_id": "x", "redirect_uris": [PORTAL_CB], "min_level": 5}),
            "invalid_client_metadata",
            "min_level",
        ),
        (
            json!({"client_id": "x", "redirect_uris": [PORTAL_CB], "favourite": true}),
            "invalid_client_metadata",
            "favourite",
        ),
    ];
    for (body, error, field) in cases {
        let res = create(&gw.url, &admin, &body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        let e: Value = res.json().await.unwrap();
        assert_eq!(e["error"], error, "{body}: {e}");
        assert_eq!(e["field"], field, "{body}: {e}");
    }
    // Not JSON, not an object, not declared JSON, too large.
    let post = |body: Vec<u8>, content_type: &'static str| {
        http()
            .post(clients_url(&gw.url))
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let res = post(b"{\"client_id\": ".to_vec(), "application/json")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let res = post(b"[1, 2]".to_vec(), "application/json").await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = post(b"client_id=x".to_vec(), "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let mut huge = b"{\"client_id\": \"x\", \"name\": \"".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 100 * 1024));
    huge.extend(b"\"}");
    let res = post(huge, "application/json").await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    // Nothing was stored, and the gateway still answers.
    assert!(gw.app.db.list_clients().await.unwrap().is_empty());
    assert!(audit(&gw, "client_added").await.is_empty());
    let res = http()
        .get(clients_url(&gw.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// Polls `/token` with client_credentials until it answers `want`.
async fn wait_for_token_status(gw: &str, id: &str, secret: &str, want: StatusCode) {
    eventually(&format!("{id}: /token answering {want}"), || async {
        let res = http()
            .post(format!("{gw}/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        (res.status() == want).then_some(())
    })
    .await;
}

#[actix_web::test]
async fn clients_added_or_removed_by_another_replica_are_served_after_the_reload_interval() {
    // The test polls /token with a client this gateway does not know yet: failed client
    // authentications, which must not lock the test out.
    let gw = spawn_embedded(&format!(
        "{MACHINES}\n[tokens]\nkey_reload_interval = \"1s\"\n[limits]\nclient_auth_failures = {{ requests = 0, per = \"1m\" }}\n"
    ))
    .await;
    // Another replica (or `gateway clients add`) writes to the shared database: a connection
    // of its own, nothing said to this gateway.
    let other = vneid_store::Database::connect(&gw.app.settings.database.url, 2)
        .await
        .unwrap();
    let secret = "elsewhere-secret-0123456789-abcdefghijklmnop";
    other
        .insert_client(&vneid_store::ClientRow {
            client_id: "elsewhere".into(),
            name: None,
            secret_hash: Some(gw.app.master.hash_client_secret(secret)),
            token_endpoint_auth_method: "client_secret_basic".into(),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["admin".into()],
            min_level: None,
            upstreams: vec![],
            jwks: None,
            subject_type: "public".into(),
            sector_identifier: None,
            created_at: chrono::Utc::now(),
            previous_secret: None,
            account_types: None,
            require_pushed_authorization_requests: false,
            dpop_bound_access_tokens: false,
            profile: "standard".into(),
        })
        .await
        .unwrap();
    wait_for_token_status(&gw.url, "elsewhere", secret, StatusCode::OK).await;
    // Its admin token works, and it shows in the list.
    let token = machine_token(&gw.url, "elsewhere", secret).await;
    let res = http()
        .get(format!("{}/elsewhere", clients_url(&gw.url)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["source"], "database");

    assert!(other.delete_client("elsewhere").await.unwrap());
    wait_for_token_status(&gw.url, "elsewhere", secret, StatusCode::UNAUTHORIZED).await;
    // Its token died with it.
    let res = http()
        .get(clients_url(&gw.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    other.close().await;
}
