//! API resources (RFC 8707) and token exchange (RFC 8693), through the real gateway and the
//! real simulator: one audience per access token, a resource's scopes only with that resource,
//! `client_credentials` for an API, and a portal calling an API on the person's behalf.

use reqwest::StatusCode;
use serde_json::Value;
use url::Url;
use vneid_e2e::*;

pub(crate) const HOSO: &str = "https://hoso.example.gov.vn/api";
const PAY: &str = "https://thanhtoan.example.gov.vn";
pub(crate) const API_PORTAL: &str = "api-portal";
pub(crate) const API_SECRET: &str = "api-portal-secret-0123456789-abcdefghijk";
pub(crate) const WORKER: &str = "hoso-worker";
pub(crate) const WORKER_SECRET: &str = "hoso-worker-secret-0123456789-abcdefghij";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

pub(crate) const EXTRA: &str = r#"
[[resources]]
id = "hoso-api"
audience = "https://hoso.example.gov.vn/api"
scopes = ["hoso.read", "hoso.write"]

[[resources]]
id = "thanhtoan"
audience = "https://thanhtoan.example.gov.vn"
scopes = ["pay"]

[[clients]]
client_id = "api-portal"
client_secret = "api-portal-secret-0123456789-abcdefghijk"
redirect_uris = ["http://127.0.0.1:9/cb"]
grant_types = ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"]
scopes = ["openid", "profile", "offline_access", "hoso.read"]

[[clients]]
client_id = "hoso-worker"
client_secret = "hoso-worker-secret-0123456789-abcdefghij"
grant_types = ["client_credentials"]
scopes = ["admin", "hoso.read", "hoso.write"]
"#;

fn authorize(gw: &str, p: &Pkce, scope: &str, extra: &[(&str, &str)]) -> String {
    let mut u = Url::parse(&format!("{gw}/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", API_PORTAL)
        .append_pair("redirect_uri", PORTAL_CB)
        .append_pair("scope", scope)
        .append_pair("state", "st")
        .append_pair("code_challenge", &p.challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        u.query_pairs_mut().append_pair(k, v);
    }
    u.to_string()
}

pub(crate) async fn post(
    gw: &str,
    path: &str,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .post(format!("{gw}{path}"))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A level-2 login of the API portal; the token response.
pub(crate) async fn tokens(
    gw: &str,
    scope: &str,
    extra: &[(&str, &str)],
    token_extra: &[(&str, &str)],
) -> Value {
    let p = pkce();
    let Ended::Portal(q) = login(
        &browser(),
        &authorize(gw, &p, scope, extra),
        people::LEVEL2_CITIZEN,
    )
    .await
    else {
        panic!("the login ends at the portal")
    };
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", PORTAL_CB),
        ("code_verifier", p.verifier.as_str()),
    ];
    form.extend_from_slice(token_extra);
    let (status, t) = post(gw, "/token", (API_PORTAL, API_SECRET), &form).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    t
}

/// The error an `/authorize` request is redirected to the portal with.
async fn authorize_error(gw: &str, scope: &str, extra: &[(&str, &str)]) -> (String, String) {
    let res = browser()
        .get(authorize(gw, &pkce(), scope, extra))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let to = location(&res);
    assert!(to.starts_with(PORTAL_CB), "{to}");
    let q = query(&to);
    (
        q["error"].clone(),
        q.get("error_description").cloned().unwrap_or_default(),
    )
}

async fn introspect(gw: &str, token: &str) -> Value {
    post(
        gw,
        "/introspect",
        (WORKER, WORKER_SECRET),
        &[("token", token)],
    )
    .await
    .1
}

async fn userinfo_status(gw: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{gw}/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[actix_web::test]
async fn a_login_for_a_resource_gives_a_token_for_that_api_only() {
    let gw = spawn_embedded(EXTRA).await;
    let t = tokens(
        &gw.url,
        "openid profile hoso.read",
        &[("resource", HOSO)],
        &[],
    )
    .await;
    let at = t["access_token"].as_str().unwrap();
    let claims = verify(&gw.url, at, HOSO).await;
    assert_eq!(claims["aud"], HOSO, "one audience, the resource's");
    assert_eq!(claims["scope"], "hoso.read", "the resource's scopes only");
    assert_eq!(claims["acr"], "urn:vneid:loa:2");
    assert_eq!(t["scope"], "hoso.read");
    // The ID token is still the portal's, with the profile it asked for.
    let id = verify(&gw.url, t["id_token"].as_str().unwrap(), API_PORTAL).await;
    assert!(id["name"].is_string(), "{id}");
    // The API's token does not open userinfo (it is not the portal's).
    assert_eq!(userinfo_status(&gw.url, at).await, StatusCode::UNAUTHORIZED);
    assert_eq!(introspect(&gw.url, at).await["aud"], HOSO);

    // Without a resource: the portal's own token, for userinfo.
    let t = tokens(&gw.url, "openid profile", &[], &[]).await;
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(verify(&gw.url, at, API_PORTAL).await["aud"], API_PORTAL);
    assert_eq!(userinfo_status(&gw.url, at).await, StatusCode::OK);

    // `resource` alone grants what the portal holds of it; at /token it may repeat it.
    let t = tokens(
        &gw.url,
        "openid",
        &[("resource", HOSO)],
        &[("resource", HOSO)],
    )
    .await;
    assert_eq!(
        verify(&gw.url, t["access_token"].as_str().unwrap(), HOSO).await["scope"],
        "hoso.read"
    );
}

#[actix_web::test]
async fn authorization_requests_for_the_wrong_resource_are_refused() {
    let gw = spawn_embedded(EXTRA).await;
    // A resource's scope without naming the resource.
    let (error, d) = authorize_error(&gw.url, "openid hoso.read", &[]).await;
    assert_eq!(error, "invalid_scope", "{d}");
    assert!(d.contains("resource="), "{d}");
    // A scope of another resource.
    let (error, _) = authorize_error(&gw.url, "openid pay", &[("resource", HOSO)]).await;
    assert_eq!(error, "invalid_scope");
    // Two resources at once.
    let (error, _) =
        authorize_error(&gw.url, "openid", &[("resource", HOSO), ("resource", PAY)]).await;
    assert_eq!(error, "invalid_target");
    // A resource the portal holds no scope of, and one that does not exist.
    let (error, _) = authorize_error(&gw.url, "openid", &[("resource", PAY)]).await;
    assert_eq!(error, "invalid_target");
    let (error, _) = authorize_error(
        &gw.url,
        "openid",
        &[("resource", "https://evil.example/api")],
    )
    .await;
    assert_eq!(error, "invalid_target");
}

#[actix_web::test]
async fn the_token_endpoint_keeps_the_grants_resource() {
    let gw = spawn_embedded(EXTRA).await;
    let p = pkce();
    let Ended::Portal(q) = login(
        &browser(),
        &authorize(
            &gw.url,
            &p,
            "openid offline_access hoso.read",
            &[("resource", HOSO)],
        ),
        people::LEVEL2_CITIZEN,
    )
    .await
    else {
        panic!()
    };
    let (status, e) = post(
        &gw.url,
        "/token",
        (API_PORTAL, API_SECRET),
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", PORTAL_CB),
            ("code_verifier", &p.verifier),
            ("resource", PAY),
        ],
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );

    let t = tokens(
        &gw.url,
        "openid offline_access hoso.read",
        &[("resource", HOSO)],
        &[],
    )
    .await;
    let rt = t["refresh_token"].as_str().unwrap();
    // A wider scope or another resource at refresh is refused before the token is spent...
    for bad in [[("scope", "hoso.read hoso.write")], [("resource", PAY)]] {
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
        form.extend_from_slice(&bad);
        let (status, _) = post(&gw.url, "/token", (API_PORTAL, API_SECRET), &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}");
    }
    // ...so the same refresh token still works, and keeps the audience.
    let (status, r) = post(
        &gw.url,
        "/token",
        (API_PORTAL, API_SECRET),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("resource", HOSO),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        verify(&gw.url, r["access_token"].as_str().unwrap(), HOSO).await["scope"],
        "hoso.read"
    );
}

#[actix_web::test]
async fn client_credentials_for_a_resource() {
    let gw = spawn_embedded(EXTRA).await;
    let worker = (WORKER, WORKER_SECRET);
    let cc = |extra: &'static [(&'static str, &'static str)]| {
        let url = gw.url.clone();
        async move {
            let mut form = vec![("grant_type", "client_credentials")];
            form.extend_from_slice(extra);
            post(&url, "/token", worker, &form).await
        }
    };
    // No resource: the client's own scopes (never a resource's), its own audience.
    let (status, t) = cc(&[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(t["scope"], "admin");
    assert_eq!(
        verify(&gw.url, t["access_token"].as_str().unwrap(), WORKER).await["aud"],
        WORKER
    );
    // With the resource: its scopes, its audience.
    let (status, t) = cc(&[("resource", HOSO)]).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["scope"], "hoso.read hoso.write");
    let at = t["access_token"].as_str().unwrap();
    let claims = verify(&gw.url, at, HOSO).await;
    assert_eq!(
        (claims["sub"].as_str(), claims["aud"].as_str()),
        (Some(WORKER), Some(HOSO))
    );
    let (status, t) = cc(&[("resource", HOSO), ("scope", "hoso.read")]).await;
    assert_eq!(
        (status, t["scope"].as_str()),
        (StatusCode::OK, Some("hoso.read"))
    );
    // An API token is no admin token, even with the admin scope in the client's list.
    let admin = reqwest::Client::new()
        .get(format!("{}/admin/v1/clients", gw.url))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert!(admin.status().is_client_error(), "{}", admin.status());
    // Refusals: a resource scope without the resource, a scope of another resource, the admin
    // scope in a resource's token, two resources, a resource the client has nothing of.
    for (extra, error) in [
        (&[("scope", "hoso.read")][..], "invalid_scope"),
        (&[("scope", "pay"), ("resource", HOSO)][..], "invalid_scope"),
        (
            &[("scope", "admin hoso.read"), ("resource", HOSO)][..],
            "invalid_scope",
        ),
        (
            &[("resource", HOSO), ("resource", PAY)][..],
            "invalid_target",
        ),
        (&[("resource", PAY)][..], "invalid_target"),
    ] {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        let (status, e) = post(&gw.url, "/token", worker, &form).await;
        assert_eq!(
            (status, e["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(error)),
            "{extra:?}: {e}"
        );
    }
}

async fn exchange_for(gw: &str, subject: &str, extra: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", AT_TYPE),
    ];
    form.extend_from_slice(extra);
    post(gw, "/token", (API_PORTAL, API_SECRET), &form).await
}

#[actix_web::test]
async fn a_portal_exchanges_a_persons_token_for_an_apis() {
    let gw = spawn_embedded(EXTRA).await;
    let t = tokens(&gw.url, "openid profile offline_access", &[], &[]).await;
    let subject = t["access_token"].as_str().unwrap();
    let person = verify(&gw.url, subject, API_PORTAL).await;

    let (status, x) = exchange_for(&gw.url, subject, &[("resource", HOSO)]).await;
    assert_eq!(status, StatusCode::OK, "{x}");
    assert_eq!(x["issued_token_type"], AT_TYPE);
    assert_eq!(x["token_type"], "Bearer");
    assert_eq!(x["scope"], "hoso.read");
    assert!(x["expires_in"].as_i64().unwrap() <= 300);
    let at = x["access_token"].as_str().unwrap();
    let claims = verify(&gw.url, at, HOSO).await;
    assert_eq!(claims["sub"], person["sub"], "the person's sub");
    assert_eq!(claims["acr"], "urn:vneid:loa:2", "the person's level");
    assert_eq!(claims["act"]["sub"], API_PORTAL, "the portal acts");
    assert!(claims["exp"].as_i64().unwrap() <= person["exp"].as_i64().unwrap());
    assert_eq!(introspect(&gw.url, at).await["act"]["sub"], API_PORTAL);
    // `audience=` by the resource's id works too, and a narrower scope.
    let (status, x2) = exchange_for(
        &gw.url,
        subject,
        &[("audience", "hoso-api"), ("scope", "hoso.read")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{x2}");
    assert!(
        metric_value(
            &gw.url,
            r#"vneid_tokens_issued_total{grant="token_exchange"}"#
        )
        .await
            >= 2.0
    );

    // Revoking the login's grant (here: its refresh token) ends the exchanged token.
    let (status, _) = post(
        &gw.url,
        "/revoke",
        (API_PORTAL, API_SECRET),
        &[("token", t["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(introspect(&gw.url, at).await["active"], false);
    // And an exchange of the revoked token is refused.
    let (status, e) = exchange_for(&gw.url, subject, &[("resource", HOSO)]).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{e}"
    );
}

#[actix_web::test]
async fn refused_exchanges_get_rfc_8693_errors() {
    let gw = spawn_embedded(EXTRA).await;
    let t = tokens(&gw.url, "openid profile", &[], &[]).await;
    let subject = t["access_token"].as_str().unwrap();
    for (extra, error) in [
        // An API the portal may not call, an unknown one, none, two.
        (&[("resource", PAY)][..], "invalid_target"),
        (
            &[("audience", "https://evil.example")][..],
            "invalid_target",
        ),
        (&[][..], "invalid_target"),
        (
            &[("resource", HOSO), ("resource", PAY)][..],
            "invalid_target",
        ),
        (
            &[("resource", HOSO), ("audience", "thanhtoan")][..],
            "invalid_target",
        ),
        // Wider than the portal's registration.
        (
            &[("resource", HOSO), ("scope", "hoso.write")][..],
            "invalid_scope",
        ),
        // Another kind of token.
        (
            &[
                ("resource", HOSO),
                (
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:refresh_token",
                ),
            ][..],
            "invalid_request",
        ),
        (
            &[
                ("resource", HOSO),
                ("actor_token", "x"),
                ("actor_token_type", AT_TYPE),
            ][..],
            "invalid_request",
        ),
    ] {
        let (status, e) = exchange_for(&gw.url, subject, extra).await;
        assert_eq!(
            (status, e["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(error)),
            "{extra:?}: {e}"
        );
    }
    // Not an access token of this portal: junk, the ID token, another client's token, a
    // machine token.
    let (_, robot) = post(
        &gw.url,
        "/token",
        (WORKER, WORKER_SECRET),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let p = pkce();
    let Ended::Portal(q) = login(
        &browser(),
        &authorize_url(&gw.url, &p, &[]),
        people::LEVEL2_CITIZEN,
    )
    .await
    else {
        panic!()
    };
    let other: Value = exchange(&gw.url, &q["code"], &p.verifier)
        .await
        .json()
        .await
        .unwrap();
    for s in [
        "junk",
        t["id_token"].as_str().unwrap(),
        other["access_token"].as_str().unwrap(),
        robot["access_token"].as_str().unwrap(),
    ] {
        let (status, e) = exchange_for(&gw.url, s, &[("resource", HOSO)]).await;
        assert_eq!(
            (status, e["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{e}"
        );
    }
    // subject_token_type is required; a client without the grant may not exchange.
    let (status, e) = post(
        &gw.url,
        "/token",
        (API_PORTAL, API_SECRET),
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", subject),
            ("resource", HOSO),
        ],
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, e) = post(
        &gw.url,
        "/token",
        (PORTAL, PORTAL_SECRET),
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", other["access_token"].as_str().unwrap()),
            ("subject_token_type", AT_TYPE),
            ("resource", HOSO),
        ],
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
}

#[actix_web::test]
async fn discovery_lists_the_resources_scopes_and_token_exchange() {
    let gw = spawn_embedded(EXTRA).await;
    let d: Value = reqwest::get(format!("{}/.well-known/openid-configuration", gw.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scopes = d["scopes_supported"].as_array().unwrap();
    for s in ["openid", "hoso.read", "hoso.write", "pay"] {
        assert!(scopes.iter().any(|x| x == s), "{s} in {scopes:?}");
    }
    assert!(d["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == EXCHANGE));
}
