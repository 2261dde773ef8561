use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

fn b64json(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The JWKS key named by the token's `kid`: its modulus and exponent.
async fn verifier_for(app: &TestApp, token: &str) -> RsaPublicKeyComponents<Vec<u8>> {
    let header = b64json(token.split('.').next().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    let jwks: Value = app
        .http
        .get(app.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the kid is in the JWKS");
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    RsaPublicKeyComponents { n, e }
}

fn signature_ok(key: &RsaPublicKeyComponents<Vec<u8>>, token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let input = format!("{}.{}", parts[0], parts[1]);
    key.verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &sig)
        .is_ok()
}

/// Verifies an RS256 JWS against the JWKS with aws-lc-rs alone; returns the claims.
async fn verify_id_token(app: &TestApp, token: &str) -> Value {
    let key = verifier_for(app, token).await;
    assert!(signature_ok(&key, token), "the signature verifies");
    b64json(token.split('.').nth(1).unwrap())
}

#[tokio::test]
async fn code_exchanged_with_client_secret_basic_gives_a_signed_id_token_with_sub_only() {
    let app = spawn_app().await;
    let code = app.code_for(AN, &[]).await;
    let r = app.exchange(&code).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    assert_eq!(body["scope"], "openid");
    assert!(body["access_token"].as_str().unwrap().len() >= 43);

    let id_token = body["id_token"].as_str().unwrap();
    let claims = verify_id_token(&app, id_token).await;
    assert_eq!(claims["iss"], app.base.as_str());
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["nonce"], "n-456");
    assert_eq!(claims["acr"], "LoA1");
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 300);
    assert!(claims["sub"].is_string());
    // No personal data in the ID token.
    let mut keys: Vec<&str> = claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["acr", "aud", "exp", "iat", "iss", "nonce", "sub"]);
    let payload = String::from_utf8(
        URL_SAFE_NO_PAD
            .decode(id_token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(!payload.contains(AN));
    assert!(!payload.contains("Nguyễn"));

    // A tampered token does not verify.
    let parts: Vec<&str> = id_token.split('.').collect();
    let mut forged = b64json(parts[1]);
    forged["sub"] = Value::String("someone-else".into());
    let forged_token = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap()),
        parts[2]
    );
    let key = verifier_for(&app, id_token).await;
    assert!(
        !signature_ok(&key, &forged_token),
        "a forged payload must not verify"
    );
}

#[tokio::test]
async fn code_exchanged_with_client_secret_post_works_and_omits_nonce_when_none_was_sent() {
    let app = spawn_app().await;
    let code = app.code_for(AN, &[("nonce", "")]).await;
    let r = app
        .post_form(
            "/oauth2/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let claims = verify_id_token(&app, body["id_token"].as_str().unwrap()).await;
    assert!(claims.get("nonce").is_none());
}

#[tokio::test]
async fn a_code_used_twice_is_invalid_grant_and_revokes_the_first_access_token() {
    let app = spawn_app().await;
    let code = app.code_for(AN, &[]).await;
    let r = app.exchange(&code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(app.userinfo(access).await.status(), StatusCode::OK);

    let (status, error) = oauth_error(app.exchange(&code).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    assert_eq!(
        app.userinfo(access).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn wrong_client_secret_is_401_invalid_client_with_a_basic_challenge() {
    let app = spawn_app().await;
    let code = app.code_for(AN, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
    ];
    let r = app.token_basic(&form, CLIENT_ID, "wrong").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    let (_, error) = oauth_error(r).await;
    assert_eq!(error, "invalid_client");

    // Unknown client, post method with a wrong secret, and no authentication at all.
    let r = app.token_basic(&form, "nobody", CLIENT_SECRET).await;
    assert_eq!(
        oauth_error(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    let mut post = form.to_vec();
    post.extend([("client_id", CLIENT_ID), ("client_secret", "wrong")]);
    let r = app.post_form("/oauth2/token", &post).await;
    assert_eq!(
        oauth_error(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    let r = app.post_form("/oauth2/token", &form).await;
    assert_eq!(
        oauth_error(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );

    // A failed client authentication does not burn the code.
    assert_eq!(app.exchange(&code).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn basic_credentials_must_be_form_encoded() {
    let app = spawn_app().await;
    let code = app.code_for(AN, &[]).await;
    // The secret contains a space and a colon; sent raw (not form-encoded) it does not match.
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn both_client_authentication_methods_at_once_is_invalid_request() {
    let app = spawn_app().await;
    let code = app.code_for(AN, &[]).await;
    let r = app
        .token_basic(
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("client_secret", CLIENT_SECRET),
            ],
            CLIENT_ID,
            CLIENT_SECRET,
        )
        .await;
    assert_eq!(
        oauth_error(r).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
}

#[tokio::test]
async fn pkce_is_enforced_when_a_challenge_was_sent() {
    let app = spawn_app().await;
    let (verifier, challenge) = pkce_pair();
    let pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let wrong = "x".repeat(43);
    for bad in [Some(wrong.as_str()), None, Some("too-short")] {
        let code = app.code_for(AN, &pkce).await;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ];
        if let Some(v) = bad {
            form.push(("code_verifier", v));
        }
        let r = app.token_basic(&form, CLIENT_ID, CLIENT_SECRET).await;
        assert_eq!(
            oauth_error(r).await,
            (StatusCode::BAD_REQUEST, "invalid_grant".into()),
            "{bad:?}"
        );
    }
    let code = app.code_for(AN, &pkce).await;
    let r = app
        .token_basic(
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier.as_str()),
            ],
            CLIENT_ID,
            CLIENT_SECRET,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_verifier_without_a_challenge_is_invalid_grant() {
    let app = spawn_app().await;
    let (verifier, _) = pkce_pair();
    let code = app.code_for(AN, &[]).await;
    let r = app
        .token_basic(
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier.as_str()),
            ],
            CLIENT_ID,
            CLIENT_SECRET,
        )
        .await;
    assert_eq!(
        oauth_error(r).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
}

#[tokio::test]
async fn redirect_uri_must_equal_the_authorized_one() {
    let app = spawn_app().await;
    let code = app.code_for(AN, &[]).await;
    let r = app
        .token_basic(
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "http://127.0.0.1:9/login/dvcqg/callback/"),
            ],
            CLIENT_ID,
            CLIENT_SECRET,
        )
        .await;
    assert_eq!(
        oauth_error(r).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let code = app.code_for(AN, &[]).await;
    let r = app
        .token_basic(
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
            ],
            CLIENT_ID,
            CLIENT_SECRET,
        )
        .await;
    assert_eq!(
        oauth_error(r).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
}

#[tokio::test]
async fn a_code_issued_to_another_client_is_invalid_grant() {
    let app = spawn_app().await;
    let code = app.code_for(AN, &[]).await;
    let r = app
        .token_basic(
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
            ],
            OTHER_CLIENT,
            OTHER_SECRET,
        )
        .await;
    assert_eq!(
        oauth_error(r).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
}

#[tokio::test]
async fn unknown_grant_types_and_codes_are_refused_with_their_rfc_6749_errors() {
    let app = spawn_app().await;
    let r = app
        .token_basic(
            &[("grant_type", "client_credentials")],
            CLIENT_ID,
            CLIENT_SECRET,
        )
        .await;
    assert_eq!(
        oauth_error(r).await,
        (StatusCode::BAD_REQUEST, "unsupported_grant_type".into())
    );
    let r = app
        .token_basic(&[("code", "abc")], CLIENT_ID, CLIENT_SECRET)
        .await;
    assert_eq!(
        oauth_error(r).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    let r = app
        .token_basic(
            &[
                ("grant_type", "authorization_code"),
                ("code", "made-up"),
                ("redirect_uri", REDIRECT_URI),
            ],
            CLIENT_ID,
            CLIENT_SECRET,
        )
        .await;
    assert_eq!(
        oauth_error(r).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
}
