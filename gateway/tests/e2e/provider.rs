//! Machine clients, introspection (RFC 7662) and revocation (RFC 7009).
use reqwest::StatusCode;
use serde_json::Value;
use vneid_e2e::client_keys::{assertion, es256_client};
use vneid_e2e::*;

const ROBOT: &str = "ops-robot";
const ROBOT_SECRET: &str = "ops-robot-secret-0123456789-abcdefghijkl";
const EXTRA: &str = r#"
[[clients]]
client_id = "ops-robot"
client_secret = "ops-robot-secret-0123456789-abcdefghijkl"
grant_types = ["client_credentials"]
scopes = ["admin"]
"#;

async fn post(url: String, auth: Option<(&str, &str)>, form: &[(&str, &str)]) -> reqwest::Response {
    let mut r = reqwest::Client::new().post(url).form(form);
    if let Some((id, secret)) = auth {
        r = r.basic_auth(id, Some(secret));
    }
    r.send().await.unwrap()
}

async fn portal_tokens(gw: &TestGateway) -> Value {
    let b = browser();
    let p = pkce();
    let Ended::Portal(q) =
        login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await
    else {
        panic!()
    };
    exchange(&gw.url, &q["code"], &p.verifier)
        .await
        .json()
        .await
        .unwrap()
}

#[actix_web::test]
async fn client_credentials_issues_a_token_for_the_client_limited_to_its_scopes() {
    let gw = spawn_embedded(EXTRA).await;
    let res = post(
        format!("{}/token", gw.url),
        Some((ROBOT, ROBOT_SECRET)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["scope"], "admin");
    assert!(t.get("id_token").is_none() && t.get("refresh_token").is_none());
    let claims = verify(&gw.url, t["access_token"].as_str().unwrap(), ROBOT).await;
    assert_eq!(claims["sub"], ROBOT);
    assert_eq!(claims["client_id"], ROBOT);
    // Person scopes and scopes the client lacks are refused.
    for scope in ["openid", "admin admin:pii", "profile"] {
        let res = post(
            format!("{}/token", gw.url),
            Some((ROBOT, ROBOT_SECRET)),
            &[("grant_type", "client_credentials"), ("scope", scope)],
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{scope}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_scope");
    }
    // A portal without the grant may not use it; the robot may not use the code flow.
    let res = post(
        format!("{}/token", gw.url),
        Some((PORTAL, PORTAL_SECRET)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
    let url = format!(
        "{}/authorize?client_id={ROBOT}&response_type=code&scope=openid",
        gw.url
    );
    assert_eq!(
        browser().get(url).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST,
        "no redirect URI to trust"
    );
    // A machine token is not about a person: userinfo refuses it.
    let res = reqwest::Client::new()
        .get(format!("{}/userinfo", gw.url))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let m = reqwest::get(format!("{}/metrics", gw.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains(r#"vneid_tokens_issued_total{grant="client_credentials"} 1"#),
        "{m}"
    );
}

#[actix_web::test]
async fn introspection_tells_active_tokens_and_nothing_about_others() {
    let gw = spawn_embedded(EXTRA).await;
    let t = portal_tokens(&gw).await;
    let at = t["access_token"].as_str().unwrap();
    let res = post(
        format!("{}/introspect", gw.url),
        Some((ROBOT, ROBOT_SECRET)),
        &[("token", at)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let i: Value = res.json().await.unwrap();
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], PORTAL);
    assert_eq!(i["scope"], "openid profile personal_id");
    assert_eq!(i["acr"], "urn:vneid:loa:2");
    assert!(i["exp"].as_i64().unwrap() > i["iat"].as_i64().unwrap());
    for junk in ["junk", "a.b.c", t["id_token"].as_str().unwrap()] {
        let i: Value = post(
            format!("{}/introspect", gw.url),
            Some((ROBOT, ROBOT_SECRET)),
            &[("token", junk)],
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(
            i,
            serde_json::json!({"active": false}),
            "an ID token is not an access token"
        );
    }
    // Unauthenticated or public callers get invalid_client.
    let res = post(format!("{}/introspect", gw.url), None, &[("token", at)]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = post(
        format!("{}/introspect", gw.url),
        None,
        &[("token", at), ("client_id", "public-app")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = post(
        format!("{}/introspect", gw.url),
        Some((ROBOT, ROBOT_SECRET)),
        &[],
    )
    .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
}

#[actix_web::test]
async fn a_revoked_access_token_is_inactive_at_introspection_and_userinfo() {
    let gw = spawn_embedded(EXTRA).await;
    let t = portal_tokens(&gw).await;
    let at = t["access_token"].as_str().unwrap();
    // Another client cannot revoke the portal's token: 200, and nothing happens.
    let res = post(
        format!("{}/revoke", gw.url),
        Some((ROBOT, ROBOT_SECRET)),
        &[("token", at)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let i: Value = post(
        format!("{}/introspect", gw.url),
        Some((ROBOT, ROBOT_SECRET)),
        &[("token", at)],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(i["active"], true);
    // The portal revokes it.
    let res = post(
        format!("{}/revoke", gw.url),
        Some((PORTAL, PORTAL_SECRET)),
        &[("token", at), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let i: Value = post(
        format!("{}/introspect", gw.url),
        Some((ROBOT, ROBOT_SECRET)),
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
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    // Unknown tokens: 200 (RFC 7009 §2.2). Wrong client secret: 401.
    assert_eq!(
        post(
            format!("{}/revoke", gw.url),
            Some((PORTAL, PORTAL_SECRET)),
            &[("token", "nope")]
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        post(
            format!("{}/revoke", gw.url),
            Some((PORTAL, "wrong")),
            &[("token", at)]
        )
        .await
        .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn discovery_advertises_introspection_revocation_and_machine_clients() {
    let gw = spawn_embedded("").await;
    let d: Value = reqwest::get(format!("{}/.well-known/openid-configuration", gw.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        d["introspection_endpoint"],
        format!("{}/introspect", gw.url)
    );
    assert_eq!(d["revocation_endpoint"], format!("{}/revoke", gw.url));
    assert_eq!(
        d["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert_eq!(d["end_session_endpoint"], format!("{}/logout", gw.url));
    assert_eq!(d["backchannel_logout_supported"], true);
    assert_eq!(d["backchannel_logout_session_supported"], true);
    assert!(d["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("private_key_jwt")));
}

#[actix_web::test]
async fn private_key_jwt_authenticates_once_per_assertion() {
    let (jwks, key) = es256_client();
    let extra = format!(
        "[[clients]]\nclient_id = \"jwt-robot\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\ngrant_types = [\"client_credentials\"]\nscopes = [\"admin\"]\njwks = '{jwks}'\n"
    );
    let gw = spawn_embedded(&extra).await;
    let token_url = format!("{}/token", gw.url);
    let ask = |a: String| {
        let url = token_url.clone();
        async move {
            post(
                url,
                None,
                &[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &a),
                ],
            )
            .await
        }
    };
    let good = assertion(&key, "jwt-robot", &token_url, "jti-1", 60);
    let res = ask(good.clone()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert_eq!(
        verify(&gw.url, t["access_token"].as_str().unwrap(), "jwt-robot").await["sub"],
        "jwt-robot"
    );
    // The same assertion again: its jti was seen.
    let res = ask(good).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.json::<Value>().await.unwrap()["error_description"]
        .as_str()
        .unwrap()
        .contains("jti"));
    // Malformed, wrong audience, expired, too long-lived, signed by another key, another client.
    let (_, other_key) = es256_client();
    for (a, what) in [
        ("not-a-jwt".to_owned(), "malformed"),
        ("a.b.c".to_owned(), "garbage segments"),
        (
            assertion(
                &key,
                "jwt-robot",
                "https://elsewhere.example/token",
                "jti-2",
                60,
            ),
            "audience",
        ),
        (
            assertion(&key, "jwt-robot", &token_url, "jti-3", -10),
            "expired",
        ),
        (
            assertion(&key, "jwt-robot", &token_url, "jti-4", 3600),
            "lifetime",
        ),
        (
            assertion(&other_key, "jwt-robot", &token_url, "jti-5", 60),
            "foreign key",
        ),
        (
            assertion(&key, PORTAL, &token_url, "jti-6", 60),
            "other client",
        ),
    ] {
        let res = ask(a).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
        // No `Basic` challenge: the client did not try the Authorization header.
        assert!(
            res.headers().get("www-authenticate").is_none(),
            "{what}: {:?}",
            res.headers().get("www-authenticate")
        );
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"],
            "invalid_client",
            "{what}"
        );
    }
    // The issuer and every endpoint that authenticates clients name this server too (RFC 9126
    // §2: one audience for /par and /token; Authlib sends the URL it posts to).
    for (aud, jti) in [
        (gw.url.clone(), "jti-7"),
        (format!("{}/par", gw.url), "jti-8"),
        (format!("{}/introspect", gw.url), "jti-9"),
    ] {
        assert_eq!(
            ask(assertion(&key, "jwt-robot", &aud, jti, 60))
                .await
                .status(),
            StatusCode::OK,
            "{aud}"
        );
    }
}
