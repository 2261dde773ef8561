use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn unregistered_redirect_uri_gets_a_400_page_and_no_redirect() {
    let app = spawn_app().await;
    for uri in [
        "https://evil.example/cb",
        "http://127.0.0.1:9/login/dvcqg/callback/",
        "http://127.0.0.1:9/login/dvcqg/callback?x=1",
        OTHER_REDIRECT,
    ] {
        let r = app.authorize(&[("redirect_uri", uri)]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(r.headers().get("location").is_none());
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let html = r.text().await.unwrap();
        assert!(html.contains("redirect_uri"));
        assert!(html.contains("không khớp"));
    }
}

#[tokio::test]
async fn unknown_or_missing_client_gets_a_400_page_and_no_redirect() {
    let app = spawn_app().await;
    let r = app.authorize(&[("client_id", "nobody")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("chưa được đăng ký"));

    let r = app.authorize(&[("client_id", "")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());

    let r = app.authorize(&[("redirect_uri", "")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
}

#[tokio::test]
async fn errors_after_the_redirect_uri_is_trusted_go_back_to_the_client_with_the_state() {
    let app = spawn_app().await;
    let (_, challenge) = pkce_pair();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("scope", "profile")], "invalid_scope"),
        (vec![("scope", "")], "invalid_scope"),
        (
            vec![
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
        (
            vec![("code_challenge", challenge.as_str())],
            "invalid_request",
        ),
        (vec![("code_challenge_method", "S256")], "invalid_request"),
        (
            vec![
                ("code_challenge", "short"),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
        ),
    ];
    for (extra, error) in cases {
        let r = app.authorize(&extra).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{extra:?}");
        let to = location(&r);
        assert!(to.as_str().starts_with(REDIRECT_URI));
        assert_eq!(
            query_param(&to, "error").as_deref(),
            Some(error),
            "{extra:?}"
        );
        assert_eq!(query_param(&to, "state").as_deref(), Some("st-123"));
        assert!(query_param(&to, "code").is_none());
    }
}

#[tokio::test]
async fn scope_with_openid_among_others_is_accepted() {
    let app = spawn_app().await;
    let r = app.authorize(&[("scope", "openid profile")]).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn state_and_nonce_are_optional() {
    let app = spawn_app().await;
    let to = app.login_as(AN, &[("state", ""), ("nonce", "")]).await;
    assert!(query_param(&to, "code").is_some());
    assert!(query_param(&to, "state").is_none());
}

#[tokio::test]
async fn discovery_points_every_endpoint_at_the_issuer() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let d: serde_json::Value = r.json().await.unwrap();
    let b = &app.base;
    assert_eq!(d["issuer"], b.as_str());
    assert_eq!(d["authorization_endpoint"], format!("{b}/oauth2/authorize"));
    assert_eq!(d["token_endpoint"], format!("{b}/oauth2/token"));
    assert_eq!(d["userinfo_endpoint"], format!("{b}/oauth2/userinfo"));
    assert_eq!(d["jwks_uri"], format!("{b}/jwks"));
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(d["scopes_supported"], serde_json::json!(["openid"]));
    assert!(d["subject_types_supported"].is_array());

    let jwks: serde_json::Value = app
        .http
        .get(app.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert!(key["kid"].is_string() && key["n"].is_string() && key["e"].is_string());
}
