use reqwest::StatusCode;
use serde_json::Value;
use vneid_e2e::*;
use vneid_store::AuditFilter;

/// Logs `who` in at the test portal and expects a refusal page with `code`; returns the page.
async fn refused(gw: &TestGateway, who: &str, code: &str) -> String {
    let b = browser();
    let p = pkce();
    match login(&b, &authorize_url(&gw.url, &p, &[]), who).await {
        Ended::Page(status, html) => {
            assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
            assert!(
                html.contains(&format!("<code>{code}</code>")),
                "reason {code} on the page:\n{html}"
            );
            assert!(html.contains("Không thể đăng nhập"));
            // The link back to the portal carries error=access_denied, the reason and state.
            let href_start = html
                .find("href=\"http://127.0.0.1:9/cb?")
                .expect("link back to the portal");
            let href = &html[href_start + 6..];
            let href = html_unescape(&href[..href.find('"').unwrap()]);
            let q = query(&href);
            assert_eq!(q["error"], "access_denied");
            assert!(
                q["error_description"].starts_with(code),
                "{}",
                q["error_description"]
            );
            assert_eq!(q["state"], "st-123");
            assert!(
                !q.contains_key("code"),
                "a refused login never yields a code"
            );
            // Audited, with the reason, before the page was sent.
            let events = gw
                .app
                .db
                .list_audit(&AuditFilter {
                    kind: Some("login".into()),
                    limit: 50,
                    ..vneid_store::AuditFilter::default()
                })
                .await
                .unwrap();
            assert!(events
                .iter()
                .any(|e| e.outcome == "refused" && e.reason.as_deref() == Some(code)));
            let m = reqwest::get(format!("{}/metrics", gw.url))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(
                m.contains(&format!("outcome=\"refused\",reason=\"{code}\"")),
                "{m}"
            );
            assert!(!m.contains(who), "no personal ID number in metrics");
            html
        }
        Ended::Portal(q) => panic!("{who} must be refused, got {q:?}"),
    }
}

fn html_unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

#[actix_web::test]
async fn level_one_account_is_refused_where_level_two_is_required() {
    let gw = spawn_embedded("").await;
    let html = refused(&gw, people::LEVEL1_CITIZEN, "level_too_low").await;
    assert!(html.contains("mức độ 2"));
    assert!(
        html.contains("Công an xã, phường"),
        "says how to get a level-2 account"
    );
}

#[actix_web::test]
async fn level_one_account_is_admitted_where_the_client_allows_level_one() {
    let extra = r#"
[[clients]]
client_id = "info-portal"
client_secret = "info-portal-secret-0123456789-abcdefghij"
redirect_uris = ["http://127.0.0.1:9/cb"]
min_level = 1
"#;
    let gw = spawn_embedded(extra).await;
    let b = browser();
    let url =
        authorize_url(&gw.url, &pkce(), &[]).replace("client_id=portal", "client_id=info-portal");
    let Ended::Portal(q) = login(&b, &url, people::LEVEL1_CITIZEN).await else {
        panic!("level 1 allowed")
    };
    assert!(q.contains_key("code"));
    // …but not when that client asks for level 2 with acr_values.
    let b = browser();
    let url = authorize_url(&gw.url, &pkce(), &[("acr_values", "urn:vneid:loa:2")])
        .replace("client_id=portal", "client_id=info-portal");
    assert!(matches!(
        login(&b, &url, people::LEVEL1_CITIZEN).await,
        Ended::Page(StatusCode::FORBIDDEN, _)
    ));
}

#[actix_web::test]
async fn vietnam_post_account_is_refused() {
    let gw = spawn_embedded("").await;
    let html = refused(&gw, people::VNPOST, "account_system_not_accepted").await;
    assert!(html.contains("Bưu điện Việt Nam"));
}

#[actix_web::test]
async fn old_national_portal_account_is_refused() {
    let gw = spawn_embedded("").await;
    refused(&gw, people::OLD_PORTAL, "account_system_not_accepted").await;
}

#[actix_web::test]
async fn missing_ial_is_refused() {
    let gw = spawn_embedded("").await;
    refused(&gw, people::NO_IAL, "level_missing").await;
}

#[actix_web::test]
async fn ial_that_is_not_an_integer_is_refused() {
    let gw = spawn_embedded("").await;
    refused(&gw, people::IAL_NOT_INTEGER, "level_invalid").await;
}

#[actix_web::test]
async fn malformed_personal_id_is_refused() {
    let gw = spawn_embedded("").await;
    refused(&gw, people::UNKNOWN_PROVINCE, "personal_id_invalid").await;
    refused(&gw, people::ELEVEN_DIGITS, "personal_id_invalid").await;
}

#[actix_web::test]
async fn birth_year_mismatch_is_refused() {
    let gw = spawn_embedded("").await;
    refused(
        &gw,
        people::BIRTH_YEAR_MISMATCH,
        "personal_id_birth_year_mismatch",
    )
    .await;
}

#[actix_web::test]
async fn forged_callback_state_is_refused_with_a_page() {
    let gw = spawn_embedded("").await;
    let b = browser();
    // A real login in flight, and a callback with a state the gateway never issued.
    let res = b
        .get(authorize_url(&gw.url, &pkce(), &[]))
        .send()
        .await
        .unwrap();
    let callback = upstream_password_otp(&b, &location(&res), people::LEVEL2_CITIZEN).await;
    let mut forged = url::Url::parse(&callback).unwrap();
    let code = query(&callback)["code"].clone();
    forged.set_query(Some(&format!("code={code}&state=forged-state")));
    let res = b.get(forged.as_str()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("location").is_none());
    assert!(res.text().await.unwrap().contains("Phiên đăng nhập"));
    // The real callback still works once, and only once.
    assert!(matches!(finish(&b, &callback).await, Ended::Portal(_)));
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "state is single use");
}

#[actix_web::test]
async fn replayed_code_is_refused_and_revokes_what_it_issued() {
    let gw = spawn_embedded("").await;
    let b = browser();
    let p = pkce();
    let Ended::Portal(q) =
        login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await
    else {
        panic!()
    };
    let tokens: Value = exchange(&gw.url, &q["code"], &p.verifier)
        .await
        .json()
        .await
        .unwrap();
    let at = tokens["access_token"].as_str().unwrap();
    let userinfo = |t: String| {
        let url = format!("{}/userinfo", gw.url);
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(userinfo(at.to_owned()).await.status(), StatusCode::OK);
    let again = exchange(&gw.url, &q["code"], &p.verifier).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    let res = userinfo(at.to_owned()).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the replay revoked the access token"
    );
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
}

#[actix_web::test]
async fn pkce_mismatch_is_refused() {
    let gw = spawn_embedded("").await;
    let b = browser();
    let p = pkce();
    let Ended::Portal(q) =
        login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await
    else {
        panic!()
    };
    let res = exchange(&gw.url, &q["code"], &pkce().verifier).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

#[actix_web::test]
async fn unregistered_redirect_uri_gets_a_page_and_never_a_redirect() {
    let gw = spawn_embedded("").await;
    for bad in [
        "https://evil.example/cb",
        "http://127.0.0.1:9/cb/extra",
        "http://127.0.0.1:9/CB",
    ] {
        let url = authorize_url(&gw.url, &pkce(), &[]).replace(
            &format!("redirect_uri={}", "http%3A%2F%2F127.0.0.1%3A9%2Fcb"),
            &format!(
                "redirect_uri={}",
                url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>()
            ),
        );
        let res = browser().get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(res.headers().get("location").is_none());
        assert!(res.text().await.unwrap().contains("redirect_uri"));
    }
    // Unknown client: a page too.
    let url = authorize_url(&gw.url, &pkce(), &[]).replace("client_id=portal", "client_id=nobody");
    let res = browser().get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("location").is_none());
}

#[actix_web::test]
async fn wrong_client_secret_is_invalid_client() {
    let gw = spawn_embedded("").await;
    let b = browser();
    let p = pkce();
    let Ended::Portal(q) =
        login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await
    else {
        panic!()
    };
    let res = reqwest::Client::new()
        .post(format!("{}/token", gw.url))
        .basic_auth(PORTAL, Some("not-the-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", PORTAL_CB),
            ("code_verifier", &p.verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    // client_secret_post is refused for a client registered with client_secret_basic.
    let res = reqwest::Client::new()
        .post(format!("{}/token", gw.url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("client_id", PORTAL),
            ("client_secret", PORTAL_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The code was not consumed by failed client authentication: the right secret still works.
    assert_eq!(
        exchange(&gw.url, &q["code"], &p.verifier).await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn public_client_must_use_pkce() {
    let gw = spawn_embedded("").await;
    let url = format!(
        "{}/authorize?response_type=code&client_id=public-app&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fapp&scope=openid&state=s1",
        gw.url
    );
    let res = browser().get(&url).send().await.unwrap();
    let q = query(&location(&res));
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["state"], "s1");
    assert_eq!(q["iss"], gw.url);
}

#[actix_web::test]
async fn an_expired_code_or_a_code_presented_by_another_client_is_refused() {
    let extra = r#"
[tokens]
code_ttl = "1s"

[[clients]]
client_id = "other-portal"
client_secret = "other-portal-secret-0123456789-abcdefghij"
redirect_uris = ["http://127.0.0.1:9/cb"]
"#;
    let gw = spawn_embedded(extra).await;
    let b = browser();
    let p = pkce();
    let Ended::Portal(q) =
        login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await
    else {
        panic!()
    };
    let res = reqwest::Client::new()
        .post(format!("{}/token", gw.url))
        .basic_auth(
            "other-portal",
            Some("other-portal-secret-0123456789-abcdefghij"),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", PORTAL_CB),
            ("code_verifier", &p.verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // A fresh code, left to expire.
    let p = pkce();
    let res = b.get(authorize_url(&gw.url, &p, &[])).send().await.unwrap();
    let q = query(&location(&res));
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let res = exchange(&gw.url, &q["code"], &p.verifier).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
}
