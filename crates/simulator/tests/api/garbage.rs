//! Malformed, missing, repeated, oversized and non-UTF-8 input: always a 4xx (a Vietnamese page
//! or an OAuth error body), never a panic, and the server keeps answering.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

const VALID_QUERY: &str = "client_id=gateway&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Flogin%2Fdvcqg%2Fcallback&response_type=code&scope=openid";

async fn still_alive(app: &TestApp) {
    let r = app.authorize(&[]).await;
    assert_eq!(r.status(), StatusCode::OK, "the server still answers");
}

#[tokio::test]
async fn garbage_authorization_requests_get_a_400_page_and_never_a_redirect() {
    let app = spawn_app().await;
    let big = "a".repeat(100 * 1024);
    let queries = [
        String::new(),
        "client_id".to_owned(),
        "=&&=&".to_owned(),
        format!("{VALID_QUERY}&client_id=gateway"),
        format!("{VALID_QUERY}&state=a&state=b"),
        format!("{VALID_QUERY}&state=%FF"),
        format!("{VALID_QUERY}&%FF=1"),
        format!("{VALID_QUERY}&state=%C3%28"),
        format!("{VALID_QUERY}&state=%"),
        format!("{VALID_QUERY}&state=%zz"),
        "client_id=%00%01&redirect_uri=%0D%0ALocation:%20x".to_owned(),
    ];
    for q in &queries {
        let r = app
            .http
            .get(format!("{}/oauth2/authorize?{q}", app.base))
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(status.is_client_error(), "{status} for {q:.80}");
        assert!(r.headers().get("location").is_none(), "{q:.80}");
        if status == StatusCode::BAD_REQUEST {
            assert_eq!(r.headers()["x-content-type-options"], "nosniff");
            let html = r.text().await.unwrap();
            assert!(
                html.contains("lang=\"vi\""),
                "a Vietnamese page for {q:.80}"
            );
        }
    }
    // 100 KB values: too long for an HTTP client library to send, so over a raw connection.
    for q in [
        format!("{VALID_QUERY}&state={big}"),
        format!("client_id={big}"),
    ] {
        let req = format!(
            "GET /oauth2/authorize?{q} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        );
        let status = raw_status(&app, req.into_bytes()).await;
        assert!((400..500).contains(&status), "{status}");
    }
    let r = app
        .http
        .get(format!(
            "{}/oauth2/authorize?{VALID_QUERY}&state=a&state=b",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("xuất hiện nhiều lần"));
    let r = app
        .http
        .get(format!(
            "{}/oauth2/authorize?{VALID_QUERY}&state=%FF",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("UTF-8"));
    still_alive(&app).await;
}

#[tokio::test]
async fn garbage_token_requests_get_rfc_6749_error_json() {
    let app = spawn_app().await;
    let big = "a".repeat(100 * 1024);
    let bodies = [
        String::new(),
        "grant_type=authorization_code&grant_type=authorization_code".to_owned(),
        "grant_type=authorization_code&code=%FF".to_owned(),
        "grant_type=%E0%80".to_owned(),
        "code=%".to_owned(),
        format!("grant_type=authorization_code&code={big}"),
        "\u{0}\u{1}\u{2}".to_owned(),
    ];
    for body in &bodies {
        let r = app
            .http
            .post(app.url("/oauth2/token"))
            .basic_auth(CLIENT_ID, Some("x"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(status.is_client_error(), "{status} for {body:.60}");
        let json: Value = r.json().await.unwrap();
        assert!(json["error"].is_string(), "{json} for {body:.60}");
    }
    // Raw non-UTF-8 bytes in the body.
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'c', b'o', b'd', b'e', b'=', 0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(
        oauth_error(r).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    // Not a form at all.
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .header("content-type", "application/json")
        .body("{\"grant_type\":\"authorization_code\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        oauth_error(r).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    // Malformed Basic credentials.
    for auth in [
        "Basic",
        "Basic !!!",
        "Basic Og==",
        "Bearer abc",
        "Basic \u{a0}",
    ] {
        let r = app
            .http
            .post(app.url("/oauth2/token"))
            .header("authorization", auth.as_bytes())
            .form(&[("grant_type", "authorization_code")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            oauth_error(r).await,
            (StatusCode::UNAUTHORIZED, "invalid_client".into()),
            "{auth}"
        );
    }
    // GET is not a token request.
    let r = app.http.get(app.url("/oauth2/token")).send().await.unwrap();
    assert!(r.status().is_client_error());
    still_alive(&app).await;
}

#[tokio::test]
async fn garbage_forms_on_the_login_pages_get_a_400_page() {
    let app = spawn_app().await;
    let page = app.start_login(&[]).await;
    let big = "9".repeat(100 * 1024);
    let forms = [
        String::new(),
        "request=".to_owned(),
        "request=nope&personal_id=1&password=2".to_owned(),
        format!("request={}&request={}", page.rid, page.rid),
        format!("request={}&personal_id=%FF&password=x", page.rid),
        format!("request={}&personal_id={big}&password=x", page.rid),
        format!("request={}&personal_id=052090000123&password=%", page.rid),
    ];
    for path in ["/login", "/otp", "/cancel", "/phone/approve"] {
        for body in &forms {
            let r = app
                .http
                .post(app.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = r.status();
            assert!(status.is_client_error(), "{status} {path} {body:.60}");
            assert!(r.headers().get("location").is_none());
            let csp = r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(csp.contains("frame-ancestors 'none'"));
            assert!(r.text().await.unwrap().contains("lang=\"vi\""));
        }
    }
    // The pending request survived the garbage (none of it touched it): log in normally.
    let r = app.password(&page.rid, AN, PASSWORD).await;
    assert!(r.text().await.unwrap().contains("Mã OTP đã được gửi"));
}

#[tokio::test]
async fn an_unknown_path_gets_a_vietnamese_404_page() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/khong-co")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.text().await.unwrap().contains("Không tìm thấy trang"));
}
