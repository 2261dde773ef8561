use reqwest::StatusCode;
use vneid_e2e::*;

async fn assert_4xx_not_panic(res: reqwest::Response, what: &str) {
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    let body = res.text().await.unwrap_or_default();
    assert!(
        status.is_client_error(),
        "{what}: expected 4xx, got {status}: {body}"
    );
    assert!(
        ct.starts_with("application/json") || ct.starts_with("text/html"),
        "{what}: an OAuth error body or a page, got {ct:?}: {body}"
    );
}

#[actix_web::test]
async fn malformed_authorize_requests_get_a_page_or_an_error_redirect_never_a_panic() {
    let gw = spawn_embedded("").await;
    let big = "x".repeat(5000);
    let cases: Vec<String> = vec![
        "".into(),
        "client_id".into(),
        "client_id=&redirect_uri=".into(),
        "client_id=portal&client_id=portal".into(),
        format!("client_id=portal&redirect_uri={big}"),
        "client_id=%FF%FE&redirect_uri=%C3%28".into(),
        "%%%%=%%%&&&==".into(),
        "client_id=portal&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&redirect_uri=x".into(),
    ];
    let b = browser();
    for q in cases {
        let res = b
            .get(format!("{}/authorize?{q}", gw.url))
            .send()
            .await
            .unwrap();
        assert!(
            res.headers().get("location").is_none(),
            "{q}: no redirect before the redirect URI is trusted"
        );
        assert_4xx_not_panic(res, &q).await;
    }
    // After the redirect URI is trusted, errors go back to the portal.
    let trusted = "client_id=portal&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb";
    for (extra, error) in [
        ("", "invalid_request"),
        (
            "&response_type=token&scope=openid",
            "unsupported_response_type",
        ),
        ("&response_type=code&scope=profile", "invalid_scope"),
        (
            "&response_type=code&scope=openid&code_challenge=abc&code_challenge_method=plain",
            "invalid_request",
        ),
        (
            "&response_type=code&scope=openid&max_age=-1",
            "invalid_request",
        ),
        (
            "&response_type=code&scope=openid&request=eyJ",
            "request_not_supported",
        ),
    ] {
        let res = b
            .get(format!("{}/authorize?{trusted}{extra}", gw.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FOUND, "{extra}");
        assert_eq!(query(&location(&res))["error"], error, "{extra}");
    }
    // Oversized query: the server refuses it, it does not fall over.
    // (actix answers 431 or closes the connection; either way nothing is served and nothing breaks)
    if let Ok(res) = b
        .get(format!(
            "{}/authorize?state={}",
            gw.url,
            "y".repeat(100_000)
        ))
        .send()
        .await
    {
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    assert_eq!(
        reqwest::get(format!("{}/healthz", gw.url))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn malformed_token_requests_get_oauth_error_json() {
    let gw = spawn_embedded("").await;
    let c = reqwest::Client::new();
    let url = format!("{}/token", gw.url);
    let form = "application/x-www-form-urlencoded";
    let cases: Vec<(Option<&str>, Option<&str>, Vec<u8>)> = vec![
        (Some(form), None, b"".to_vec()),
        (Some(form), None, b"grant_type=authorization_code".to_vec()),
        (Some(form), Some("Basic !!!"), b"grant_type=authorization_code".to_vec()),
        (Some(form), Some("Basic cG9ydGFs"), b"grant_type=authorization_code".to_vec()),
        (Some(form), Some("Bearer x"), b"grant_type=authorization_code".to_vec()),
        (Some("application/json"), None, br#"{"grant_type":"authorization_code"}"#.to_vec()),
        (None, None, b"grant_type=authorization_code".to_vec()),
        (Some(form), None, b"grant_type=a&grant_type=b".to_vec()),
        (Some(form), None, b"\xff\xfe\x00\x01=\xff".to_vec()),
        (Some(form), None, format!("client_id=portal&client_secret={PORTAL_SECRET}&grant_type=password").into_bytes()),
        (Some(form), None, format!("client_id=portal&client_secret={PORTAL_SECRET}&grant_type=authorization_code").into_bytes()),
        (Some(form), None, format!("client_id=portal&client_secret={PORTAL_SECRET}&grant_type=authorization_code&code=nope&redirect_uri={PORTAL_CB}").into_bytes()),
        (Some(form), None, vec![b'a'; 200_000]),
    ];
    for (ct, auth, body) in cases {
        let mut r = c.post(&url).body(body.clone());
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let res = r.send().await.unwrap();
        let what = format!(
            "{ct:?} {auth:?} {:?}",
            String::from_utf8_lossy(&body[..body.len().min(60)])
        );
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        assert!(status.is_client_error(), "{what}: {status} {text}");
        if status != StatusCode::PAYLOAD_TOO_LARGE {
            let v: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{what}: JSON error body, got {text}"));
            assert!(v["error"].is_string(), "{what}: {text}");
        }
    }
}

#[actix_web::test]
async fn bad_bearer_tokens_at_userinfo_get_www_authenticate() {
    let gw = spawn_embedded("").await;
    let c = reqwest::Client::new();
    for auth in [
        None,
        Some("Bearer"),
        Some("Bearer abc.def.ghi"),
        Some("Basic eDp5"),
        Some("Bearer eyJhbGciOiJub25lIn0.e30."),
    ] {
        let mut r = c.get(format!("{}/userinfo", gw.url));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let res = r.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
    }
}

#[actix_web::test]
async fn malformed_callbacks_get_a_page() {
    let gw = spawn_embedded("").await;
    let b = browser();
    for q in [
        "",
        "state=",
        "code=x",
        "state=a&state=b",
        "state=%FF&code=%FE",
        "error=access_denied",
    ] {
        let res = b
            .get(format!("{}/login/vneid/callback?{q}", gw.url))
            .send()
            .await
            .unwrap();
        assert!(res.headers().get("location").is_none(), "{q}");
        assert_4xx_not_panic(res, q).await;
    }
    let res = b
        .get(format!("{}/login/nope/callback?state=x&code=y", gw.url))
        .send()
        .await
        .unwrap();
    assert_4xx_not_panic(res, "unknown upstream").await;
    let res = b
        .get(format!("{}/no/such/page", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
