//! Refresh tokens: rotation, reuse detection, the two-tabs grace window, revocation, logout.
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use vneid_e2e::*;

const EXTRA: &str = r#"
[tokens]
refresh_grace = "2s"

[[clients]]
client_id = "app"
client_secret = "app-secret-0123456789-abcdefghijklmnopqrs"
redirect_uris = ["http://127.0.0.1:9/cb"]
post_logout_redirect_uris = ["http://127.0.0.1:9/bye"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "offline_access"]

[[clients]]
client_id = "other"
client_secret = "other-secret-0123456789-abcdefghijklmnop"
redirect_uris = ["http://127.0.0.1:9/cb"]
grant_types = ["authorization_code", "refresh_token"]
"#;
const APP_SECRET: &str = "app-secret-0123456789-abcdefghijklmnopqrs";

async fn post(
    gw: &str,
    path: &str,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{gw}{path}"))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn first_tokens(gw: &TestGateway, b: &reqwest::Client) -> Value {
    let p = pkce();
    let url = authorize_url(&gw.url, &p, &[])
        .replace("client_id=portal&", "client_id=app&")
        .replace("personal_id", "offline_access");
    let Ended::Portal(q) = login(b, &url, people::LEVEL2_CITIZEN).await else {
        panic!()
    };
    let res = post(
        &gw.url,
        "/token",
        ("app", APP_SECRET),
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", PORTAL_CB),
            ("code_verifier", &p.verifier),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn refresh(gw: &str, token: &str, client: (&str, &str)) -> reqwest::Response {
    post(
        gw,
        "/token",
        client,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

#[actix_web::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_whole_family() {
    let gw = spawn_embedded(EXTRA).await;
    let b = browser();
    let t0 = first_tokens(&gw, &b).await;
    let r0 = t0["refresh_token"].as_str().unwrap().to_owned();
    let id0 = verify(&gw.url, t0["id_token"].as_str().unwrap(), "app").await;

    let t1: Value = refresh(&gw.url, &r0, ("app", APP_SECRET))
        .await
        .json()
        .await
        .unwrap();
    let r1 = t1["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r0, "a new refresh token every time");
    let id1 = verify(&gw.url, t1["id_token"].as_str().unwrap(), "app").await;
    assert_eq!(id1["sub"], id0["sub"]);
    assert_eq!(
        id1["auth_time"], id0["auth_time"],
        "auth_time is the login's"
    );
    assert_eq!(id1["sid"], id0["sid"]);
    assert!(id1.get("nonce").is_none());
    // A narrower scope may be asked, a wider one not.
    let t2: Value = post(
        &gw.url,
        "/token",
        ("app", APP_SECRET),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r1),
            ("scope", "openid"),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(t2["scope"], "openid");
    let r2 = t2["refresh_token"].as_str().unwrap().to_owned();
    let res = post(
        &gw.url,
        "/token",
        ("app", APP_SECRET),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r2),
            ("scope", "openid personal_id"),
        ],
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_scope");
    // Another client cannot use it.
    let res = refresh(
        &gw.url,
        &r2,
        ("other", "other-secret-0123456789-abcdefghijklmnop"),
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");

    // r0 was spent long ago (beyond the grace window): reuse → the family is revoked.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let res = refresh(&gw.url, &r0, ("app", APP_SECRET)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // …so the newest token of the family is dead too, and so are its access tokens.
    let res = refresh(&gw.url, &r2, ("app", APP_SECRET)).await;
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let res = reqwest::Client::new()
        .get(format!("{}/userinfo", gw.url))
        .bearer_auth(t2["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let events = gw
        .app
        .db
        .list_audit(&vneid_store::AuditFilter {
            kind: Some("refresh_reuse".into()),
            limit: 10,
            ..vneid_store::AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
}

#[actix_web::test]
async fn two_tabs_refreshing_at_once_get_the_same_new_pair() {
    let gw = spawn_embedded(EXTRA).await;
    let b = browser();
    let t0 = first_tokens(&gw, &b).await;
    let r0 = t0["refresh_token"].as_str().unwrap().to_owned();
    let (a, c) = tokio::join!(
        refresh(&gw.url, &r0, ("app", APP_SECRET)),
        refresh(&gw.url, &r0, ("app", APP_SECRET))
    );
    assert_eq!(a.status(), StatusCode::OK);
    assert_eq!(c.status(), StatusCode::OK);
    let (a, c): (Value, Value) = (a.json().await.unwrap(), c.json().await.unwrap());
    assert_eq!(a["refresh_token"], c["refresh_token"]);
    assert_eq!(a["access_token"], c["access_token"]);
    // The family lives on.
    assert_eq!(
        refresh(
            &gw.url,
            a["refresh_token"].as_str().unwrap(),
            ("app", APP_SECRET)
        )
        .await
        .status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn revoking_a_refresh_token_revokes_its_family_and_the_access_tokens_it_issued() {
    let gw = spawn_embedded(EXTRA).await;
    let b = browser();
    let t0 = first_tokens(&gw, &b).await;
    let r0 = t0["refresh_token"].as_str().unwrap();
    let i: Value = post(
        &gw.url,
        "/introspect",
        ("app", APP_SECRET),
        &[("token", r0)],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(i["active"], true);
    assert_eq!(i["token_type"], "refresh_token");
    let t1: Value = refresh(&gw.url, r0, ("app", APP_SECRET))
        .await
        .json()
        .await
        .unwrap();
    let i: Value = post(
        &gw.url,
        "/introspect",
        ("app", APP_SECRET),
        &[("token", r0)],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(i["active"], false, "a spent refresh token is inactive");
    let r1 = t1["refresh_token"].as_str().unwrap();
    assert_eq!(
        post(
            &gw.url,
            "/revoke",
            ("app", APP_SECRET),
            &[("token", r1), ("token_type_hint", "refresh_token")]
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        refresh(&gw.url, r1, ("app", APP_SECRET)).await.status(),
        StatusCode::BAD_REQUEST
    );
    for at in [
        t0["access_token"].as_str().unwrap(),
        t1["access_token"].as_str().unwrap(),
    ] {
        let i: Value = post(
            &gw.url,
            "/introspect",
            ("app", APP_SECRET),
            &[("token", at)],
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(i["active"], false);
        let res = reqwest::Client::new()
            .get(format!("{}/userinfo", gw.url))
            .bearer_auth(at)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
}

#[actix_web::test]
async fn logout_ends_the_refresh_tokens_of_the_session() {
    let gw = spawn_embedded(EXTRA).await;
    let b = browser();
    let t0 = first_tokens(&gw, &b).await;
    let mut url = url::Url::parse(&format!("{}/logout", gw.url)).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", t0["id_token"].as_str().unwrap());
    assert_eq!(
        b.get(url.as_str()).send().await.unwrap().status(),
        StatusCode::OK
    );
    let res = refresh(
        &gw.url,
        t0["refresh_token"].as_str().unwrap(),
        ("app", APP_SECRET),
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let res = reqwest::Client::new()
        .get(format!("{}/userinfo", gw.url))
        .bearer_auth(t0["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
