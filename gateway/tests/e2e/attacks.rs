//! The attack suite, part 1: what a login, a code and a logout must withstand — a login
//! finished in someone else's browser, a replayed code, a logout forced from another site.
//! Each test fails on a gateway without the defence it names.
use reqwest::StatusCode;
use serde_json::Value;
use vneid_e2e::*;

/// A portal with refresh tokens and a post-logout address, beside the test portal.
const APP: &str = r#"
[[clients]]
client_id = "app"
client_secret = "app-secret-0123456789-abcdefghijklmnopqrs"
redirect_uris = ["http://127.0.0.1:9/cb"]
post_logout_redirect_uris = ["http://127.0.0.1:9/bye"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "offline_access"]
"#;
const APP_SECRET: &str = "app-secret-0123456789-abcdefghijklmnopqrs";

/// Login CSRF (session swap): the attacker logs in at VNeID in their own browser, stops before
/// the callback, and makes the victim's browser open it. The victim must get no session, no
/// code, a Vietnamese page, and the attempt must be counted and audited.
#[actix_web::test]
async fn a_login_finished_in_another_browser_gives_no_session_and_no_code() {
    let gw = spawn_embedded("").await;
    let attacker = browser();
    let res = attacker
        .get(authorize_url(&gw.url, &pkce(), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let bound = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("vneid_login_"))
        .expect("a login-binding cookie");
    assert!(
        bound.contains("HttpOnly")
            && bound.contains("SameSite=Lax")
            && bound.contains("Path=/login/vneid/callback"),
        "{bound}"
    );
    let callback = upstream_password_otp(&attacker, &location(&res), people::LEVEL2_CITIZEN).await;

    let victim = browser();
    let res = victim.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        !res.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("vneid_sso=")),
        "no SSO session for the victim"
    );
    let page = res.text().await.unwrap();
    assert!(page.contains("không khớp với trình duyệt"), "{page}");
    // The victim has no session: a portal sends them upstream, not back with a code.
    let res = victim
        .get(authorize_url(&gw.url, &pkce(), &[]))
        .send()
        .await
        .unwrap();
    assert!(location(&res).contains("/simulator/oauth2/authorize"));
    // The state is spent: the attacker cannot use it either.
    let res = attacker.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Counted and audited.
    let metrics = metrics(&gw.url).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("vneid_logins_total{") && l.contains("reason=\"other_browser\"")),
        "{metrics}"
    );
    let audit = audit_of(&gw, "login").await;
    assert!(
        audit
            .iter()
            .any(|e| e.reason.as_deref() == Some("other_browser")),
        "{audit:?}"
    );
}

/// Several tabs of one browser may log in at once: each login has its own binding cookie.
#[actix_web::test]
async fn two_logins_started_in_two_tabs_both_finish() {
    let gw = spawn_embedded("").await;
    let b = browser();
    let first = b
        .get(authorize_url(&gw.url, &pkce(), &[]))
        .send()
        .await
        .unwrap();
    let second = b
        .get(authorize_url(&gw.url, &pkce(), &[]))
        .send()
        .await
        .unwrap();
    let cb_first = upstream_password_otp(&b, &location(&first), people::LEVEL2_CITIZEN).await;
    let cb_second = upstream_password_otp(&b, &location(&second), people::LEVEL2_CITIZEN).await;
    // Finished in the other order than they were started.
    assert!(matches!(finish(&b, &cb_second).await, Ended::Portal(_)));
    assert!(matches!(finish(&b, &cb_first).await, Ended::Portal(_)));
}

async fn app_tokens(gw: &TestGateway, b: &reqwest::Client, who: &str) -> (Value, String, String) {
    let p = pkce();
    let url = authorize_url(&gw.url, &p, &[])
        .replace("client_id=portal&", "client_id=app&")
        .replace("personal_id", "offline_access");
    let Ended::Portal(q) = login(b, &url, who).await else {
        panic!("login")
    };
    let code = q["code"].clone();
    let res = redeem(&gw.url, &code, &p.verifier).await;
    assert_eq!(res.status(), StatusCode::OK);
    (res.json().await.unwrap(), code, p.verifier)
}

async fn redeem(gw: &str, code: &str, verifier: &str) -> reqwest::Response {
    exchange_as(gw, ("app", APP_SECRET), code, verifier).await
}

async fn refresh(gw: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{gw}/token"))
        .basic_auth("app", Some(APP_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap()
}

async fn userinfo_status(gw: &str, access: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{gw}/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
}

/// RFC 6749 §4.1.2, RFC 9700 §4.5: a code presented twice revokes every token issued from it —
/// the access token and the refresh token.
#[actix_web::test]
async fn a_replayed_code_revokes_the_refresh_token_issued_from_it() {
    let gw = spawn_embedded(APP).await;
    let b = browser();
    let (tokens, code, verifier) = app_tokens(&gw, &b, people::LEVEL2_CITIZEN).await;
    let again = redeem(&gw.url, &code, &verifier).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let res = refresh(&gw.url, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "the refresh token died"
    );
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(
        userinfo_status(&gw.url, tokens["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
}

fn logout_url(gw: &str, params: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&format!("{gw}/logout")).unwrap();
    for (k, v) in params {
        u.query_pairs_mut().append_pair(k, v);
    }
    u.to_string()
}

async fn still_logged_in(gw: &str, b: &reqwest::Client) -> bool {
    let res = b.get(authorize_url(gw, &pkce(), &[])).send().await.unwrap();
    location(&res).starts_with(PORTAL_CB)
}

/// Logout CSRF: a link on any site (`GET /logout?confirm=yes`) or another person's ID token as
/// `id_token_hint` must not end this browser's session; a POST without the page's token
/// neither. The person's own confirmation, or the portal's hint about this very session, does.
#[actix_web::test]
async fn logout_needs_a_hint_about_this_session_or_a_confirmation_from_this_browser() {
    let gw = spawn_embedded(APP).await;
    let victim = browser();
    let (victim_tokens, _, _) = app_tokens(&gw, &victim, people::LEVEL2_CITIZEN).await;
    let other = browser();
    let (other_tokens, _, _) = app_tokens(&gw, &other, people::LEVEL2_OFFICER).await;

    // A cross-site link.
    let res = victim
        .get(logout_url(&gw.url, &[("confirm", "yes")]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Bạn có muốn đăng xuất?"));
    assert!(still_logged_in(&gw.url, &victim).await);

    // Someone else's ID token as the hint.
    let res = victim
        .get(logout_url(
            &gw.url,
            &[
                ("id_token_hint", other_tokens["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", "http://127.0.0.1:9/bye"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "asked, not redirected");
    let page = res.text().await.unwrap();
    assert!(page.contains("Bạn có muốn đăng xuất?"));
    assert!(still_logged_in(&gw.url, &victim).await);
    // …and the other person's grants were not touched either.
    assert_eq!(
        refresh(&gw.url, other_tokens["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );

    // A forged POST without the page's token, or with another browser's token.
    let other_page = other
        .get(format!("{}/logout", gw.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for csrf in [None, Some(hidden(&other_page, "csrf"))] {
        let mut form = vec![("confirm", "yes".to_owned())];
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let res = victim
            .post(format!("{}/logout", gw.url))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(res.text().await.unwrap().contains("Bạn có muốn đăng xuất?"));
        assert!(still_logged_in(&gw.url, &victim).await);
    }

    // The person confirms on the page shown to them: the session and its tokens end.
    let res = victim
        .post(format!("{}/logout", gw.url))
        .form(&[
            ("confirm", "yes"),
            ("csrf", &hidden(&page, "csrf")),
            ("client_id", "app"),
            ("post_logout_redirect_uri", "http://127.0.0.1:9/bye"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(location(&res).starts_with("http://127.0.0.1:9/bye"));
    assert!(!still_logged_in(&gw.url, &victim).await);
    assert_eq!(
        userinfo_status(&gw.url, victim_tokens["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );

    // The other person's portal logs them out with a hint about their own session: no question.
    let res = other
        .get(logout_url(
            &gw.url,
            &[
                ("id_token_hint", other_tokens["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", "http://127.0.0.1:9/bye"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(!still_logged_in(&gw.url, &other).await);
}
