use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use vneid_e2e::*;
use vneid_store::AuditFilter;

#[actix_web::test]
async fn level_two_citizen_logs_in_and_the_portal_gets_verified_tokens_with_every_claim() {
    let gw = spawn_embedded("").await;
    let b = browser();
    let p = pkce();
    let Ended::Portal(q) =
        login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await
    else {
        panic!("the level-2 citizen must be admitted")
    };
    assert_eq!(q["state"], "st-123");
    assert_eq!(
        q["iss"], gw.url,
        "RFC 9207 iss in the authorization response"
    );
    let res = exchange(&gw.url, &q["code"], &p.verifier).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile personal_id");

    let id = verify(&gw.url, tokens["id_token"].as_str().unwrap(), PORTAL).await;
    assert_eq!(id["iss"], gw.url);
    assert_eq!(id["aud"], PORTAL);
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["acr"], "urn:vneid:loa:2");
    assert_eq!(id["idp"], "vneid");
    assert_eq!(id["login_idp"], "BCA");
    assert_eq!(id["name"], "Nguyễn Văn An");
    assert_eq!(id["birthdate"], "1990-01-15");
    assert_eq!(id["personal_id"], people::LEVEL2_CITIZEN);
    let sub = id["sub"].as_str().unwrap();
    assert_ne!(
        sub,
        people::LEVEL2_CITIZEN,
        "sub is never the personal ID number"
    );
    assert!(sub.len() >= 16);
    assert!(id["sid"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(id["auth_time"].as_i64().is_some());
    assert!(id["at_hash"].as_str().is_some());
    assert!(id["exp"].as_i64().unwrap() > id["iat"].as_i64().unwrap());

    // The access token is an RFC 9068 JWT the portal can verify offline.
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(at).unwrap().typ.as_deref(),
        Some("at+jwt")
    );
    let atc = verify(&gw.url, at, PORTAL).await;
    assert_eq!(atc["client_id"], PORTAL);
    assert_eq!(atc["sub"], sub);
    assert!(
        atc.get("personal_id").is_none(),
        "no personal data in access tokens"
    );

    let info: Value = reqwest::Client::new()
        .get(format!("{}/userinfo", gw.url))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], sub);
    assert_eq!(info["personal_id"], people::LEVEL2_CITIZEN);
    assert_eq!(info["name"], "Nguyễn Văn An");

    // Audit: one successful login, with the number masked.
    let events = gw
        .app
        .db
        .list_audit(&AuditFilter {
            kind: Some("login".into()),
            limit: 10,
            ..vneid_store::AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].outcome, "success");
    assert_eq!(events[0].subject_masked.as_deref(), Some("052*******23"));

    // Metrics count it.
    let m = reqwest::get(format!("{}/metrics", gw.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains(r#"vneid_logins_total{level="2",login_idp="BCA",outcome="success",reason="",upstream="vneid"} 1"#),
        "{m}"
    );
    assert!(
        !m.contains(people::LEVEL2_CITIZEN),
        "no personal ID number in metrics"
    );
}

#[actix_web::test]
async fn personal_id_is_released_only_under_its_scope() {
    let gw = spawn_embedded("").await;
    let b = browser();
    let p = pkce();
    let url = authorize_url(&gw.url, &p, &[])
        .replace("scope=openid+profile+personal_id", "scope=openid+profile");
    let Ended::Portal(q) = login(&b, &url, people::LEVEL2_CITIZEN).await else {
        panic!()
    };
    let tokens: Value = exchange(&gw.url, &q["code"], &p.verifier)
        .await
        .json()
        .await
        .unwrap();
    let id = verify(&gw.url, tokens["id_token"].as_str().unwrap(), PORTAL).await;
    assert!(id.get("personal_id").is_none());
    assert_eq!(id["name"], "Nguyễn Văn An");
    let info: Value = reqwest::Client::new()
        .get(format!("{}/userinfo", gw.url))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(info.get("personal_id").is_none());
}

#[actix_web::test]
async fn qr_login_approved_on_the_phone_reaches_the_portal() {
    let gw = spawn_embedded("").await;
    let b = browser();
    let p = pkce();
    let res = b.get(authorize_url(&gw.url, &p, &[])).send().await.unwrap();
    let upstream = location(&res);
    let html = b.get(&upstream).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("quét mã QR"),
        "the login page offers the QR code"
    );
    assert!(html.contains("<svg"), "an inline QR code");
    let base = format!("{}/simulator", gw.url);
    let marker = "/qr/";
    let start = html.find(marker).expect("QR poll URL in the page") + marker.len();
    let qr: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let status: Value = b
        .get(format!("{base}/qr/{qr}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "pending");
    let approved = b
        .post(format!("{base}/phone/approve"))
        .form(&[
            ("request", qr.as_str()),
            ("personal_id", people::LEVEL2_OFFICER),
        ])
        .send()
        .await
        .unwrap();
    assert!(approved.status().is_success() || approved.status().is_redirection());
    let status: Value = b
        .get(format!("{base}/qr/{qr}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "approved");
    let res = b
        .get(format!("{base}/qr/{qr}/continue"))
        .send()
        .await
        .unwrap();
    let Ended::Portal(q) = finish(&b, &location(&res)).await else {
        panic!("QR login admitted")
    };
    let tokens: Value = exchange(&gw.url, &q["code"], &p.verifier)
        .await
        .json()
        .await
        .unwrap();
    let id = verify(&gw.url, tokens["id_token"].as_str().unwrap(), PORTAL).await;
    assert_eq!(id["name"], "Lê Văn Cường");
}

#[actix_web::test]
async fn a_second_portal_login_in_the_same_browser_reuses_the_session() {
    let gw = spawn_embedded("").await;
    let b = browser();
    let p = pkce();
    let Ended::Portal(first) =
        login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await
    else {
        panic!()
    };
    let p2 = pkce();
    let res = b
        .get(authorize_url(&gw.url, &p2, &[]))
        .send()
        .await
        .unwrap();
    let to = location(&res);
    assert!(
        to.starts_with(PORTAL_CB),
        "SSO: straight back to the portal, got {to}"
    );
    let q = query(&to);
    assert_ne!(q["code"], first["code"]);
    let tokens: Value = exchange(&gw.url, &q["code"], &p2.verifier)
        .await
        .json()
        .await
        .unwrap();
    let id = verify(&gw.url, tokens["id_token"].as_str().unwrap(), PORTAL).await;
    assert_eq!(id["acr"], "urn:vneid:loa:2");
    // prompt=login forces a fresh upstream login.
    let res = b
        .get(authorize_url(&gw.url, &pkce(), &[("prompt", "login")]))
        .send()
        .await
        .unwrap();
    assert!(location(&res).contains("/simulator/oauth2/authorize"));
    // prompt=none without a session: login_required, no page.
    let res = browser()
        .get(authorize_url(&gw.url, &pkce(), &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&res))["error"], "login_required");
}

#[actix_web::test]
async fn the_session_cookie_is_http_only_and_same_site_lax() {
    let gw = spawn_embedded("").await;
    let b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let p = pkce();
    let res = b.get(authorize_url(&gw.url, &p, &[])).send().await.unwrap();
    let callback = upstream_password_otp(&b, &location(&res), people::LEVEL2_CITIZEN).await;
    let res = b.get(&callback).send().await.unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("vneid_sso="));
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(
        !cookie.contains("Secure"),
        "plain http on loopback: no Secure flag"
    );
}

#[actix_web::test]
async fn pages_carry_security_headers_and_requests_get_an_id() {
    let gw = spawn_embedded("").await;
    let res = reqwest::Client::new()
        .get(format!("{}/authorize", gw.url))
        .header("X-Request-Id", "req-abc-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert!(res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(res.headers()["x-request-id"], "req-abc-1");
    let res = reqwest::get(format!("{}/healthz", gw.url)).await.unwrap();
    assert_eq!(res.headers()["x-request-id"].len(), 36, "minted uuid");
    let ready: Value = reqwest::get(format!("{}/readyz", gw.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
}

#[actix_web::test]
async fn sso_needs_a_fresh_upstream_login_when_max_age_is_exceeded_or_a_higher_level_is_needed() {
    let extra = r#"
[[clients]]
client_id = "info-portal"
client_secret = "info-portal-secret-0123456789-abcdefghij"
redirect_uris = ["http://127.0.0.1:9/cb"]
min_level = 1
"#;
    let gw = spawn_embedded(extra).await;
    // A level-1 session made through a portal that accepts level 1.
    let b = browser();
    let url =
        authorize_url(&gw.url, &pkce(), &[]).replace("client_id=portal&", "client_id=info-portal&");
    let Ended::Portal(_) = login(&b, &url, people::LEVEL1_CITIZEN).await else {
        panic!()
    };
    // The same portal gets a code from the session…
    let res = b.get(&url).send().await.unwrap();
    assert!(location(&res).starts_with(PORTAL_CB));
    // …but a portal needing level 2 sends the browser upstream again (step-up).
    let res = b
        .get(authorize_url(&gw.url, &pkce(), &[]))
        .send()
        .await
        .unwrap();
    assert!(
        location(&res).contains("/simulator/oauth2/authorize"),
        "step-up goes upstream"
    );
    // And so does max_age when the session is older.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = b.get(format!("{url}&max_age=0")).send().await.unwrap();
    assert!(
        location(&res).contains("/simulator/oauth2/authorize"),
        "max_age exceeded goes upstream"
    );
    let res = b.get(format!("{url}&max_age=3600")).send().await.unwrap();
    assert!(location(&res).starts_with(PORTAL_CB));
    // prompt=none where the session is not enough: login_required, no page.
    let res = b
        .get(authorize_url(&gw.url, &pkce(), &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&res))["error"], "login_required");
}
