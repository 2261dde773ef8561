//! Forward-auth for legacy apps, the gateway's side: `{prefix}/auth`, `/start`, `/callback`,
//! `/logout` as a reverse proxy would call them, with the app's host in `Host`. The apps'
//! `url` is the gateway's own address (and `localhost` on its port for a second app), so the
//! tests need no proxy; tests/forward-auth/run.sh does the same through a real nginx.

use std::net::TcpListener;

use reqwest::header::{HOST, SET_COOKIE};
use reqwest::StatusCode;
use vneid_e2e::*;

const APP: &str = "motcua-legacy";
const COOKIE: &str = "vneid_app_motcua-legacy";

/// A gateway with two protected apps: `motcua-legacy` at the gateway's own address (level 2,
/// name and account), and `hoso` at `localhost` on the same port and prefix (level 1).
async fn gateway() -> (TestGateway, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let origin = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let apps = format!(
        r#"[simulator]
enabled = true

[[protected_apps]]
id = "{APP}"
url = "{origin}"
path_prefix = "/.vneid"
min_level = 2
claims = ["name", "account"]
session_ttl = "8h"

[[protected_apps]]
id = "hoso"
url = "http://localhost:{port}"
path_prefix = "/.vneid"
min_level = 1
"#
    );
    let cfg = base_config(dir.path(), &apps).await;
    let settings = settings_from(&cfg, dir.path());
    (start(settings, dir, Some(listener)).await, origin)
}

fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

async fn auth(origin: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{origin}/.vneid/auth"));
    if let Some(c) = cookie {
        req = req.header("Cookie", format!("{COOKIE}={c}"));
    }
    req.send().await.unwrap()
}

/// Logs `who` in at the app from `{prefix}/start?rd=…` to the app's callback; returns the
/// callback URL and the response to it.
async fn app_login(b: &reqwest::Client, origin: &str, who: &str) -> (String, reqwest::Response) {
    let res = b
        .get(format!("{origin}/.vneid/start?rd=%2Fhoso%3Fid%3D7"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let authorize = location(&res);
    let q = query(&authorize);
    assert_eq!(q["client_id"], APP);
    assert_eq!(q["redirect_uri"], format!("{origin}/.vneid/callback"));
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q.contains_key("nonce") && q.contains_key("state"));
    assert_eq!(q["scope"], "openid profile account");
    let res = b.get(&authorize).send().await.unwrap();
    let callback = upstream_password_otp(b, &location(&res), who).await;
    let res = b.get(&callback).send().await.unwrap();
    if res.status() != StatusCode::FOUND {
        return (String::new(), res);
    }
    let app_callback = location(&res);
    assert!(
        app_callback.starts_with(&format!("{origin}/.vneid/callback?")),
        "{app_callback}"
    );
    let res = b.get(&app_callback).send().await.unwrap();
    (app_callback, res)
}

#[actix_web::test]
async fn without_a_session_auth_says_401_and_where_to_log_in() {
    let (gw, origin) = gateway().await;
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let res = reqwest::Client::new()
            .request(method.clone(), format!("{origin}/.vneid/auth"))
            .header("X-Forwarded-Uri", "/hoso?id=1&x=a%20b")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method}");
        assert_eq!(
            res.headers()["x-vneid-login"],
            format!("{origin}/.vneid/start?rd=%2Fhoso%3Fid%3D1%26x%3Da%2520b").as_str()
        );
    }
    // Another origin in X-Forwarded-Uri is not a place to go back to.
    let res = browser()
        .get(format!("{origin}/.vneid/auth?redirect=1"))
        .header("X-Forwarded-Uri", "//evil.example/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FOUND,
        "?redirect=1: Traefik, Caddy"
    );
    assert_eq!(location(&res), format!("{origin}/.vneid/start?rd=%2F"));
    // A cookie that is no session, and one that cannot be one.
    assert_eq!(
        auth(&origin, Some(&"A".repeat(43))).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        auth(&origin, Some("x; y=z")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Counted per app and result, from zero.
    let m = metrics(&gw.url).await;
    assert!(m.contains(&format!(
        "vneid_forward_auth_total{{app=\"{APP}\",result=\"unauthenticated\"}} 5"
    )));
    for result in ["allowed", "level", "error"] {
        assert!(
            m.contains(&format!(
                "vneid_forward_auth_total{{app=\"hoso\",result=\"{result}\"}} 0"
            )),
            "{result}"
        );
    }
}

#[actix_web::test]
async fn unknown_hosts_are_not_apps() {
    let (_gw, origin) = gateway().await;
    let c = reqwest::Client::new();
    let res = c
        .get(format!("{origin}/.vneid/auth"))
        .header(HOST, "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // The app's host on another port is another origin.
    let res = c
        .get(format!("{origin}/.vneid/auth"))
        .header(HOST, "127.0.0.1:1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = c
        .get(format!("{origin}/.vneid/start?rd=%2F"))
        .header(HOST, "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Ứng dụng chưa được đăng ký"));
    // Traefik sends the app's host in X-Forwarded-Host, its own address in Host.
    let res = c
        .get(format!("{origin}/.vneid/auth"))
        .header(HOST, "gateway.internal:8080")
        .header("X-Forwarded-Host", origin.trim_start_matches("http://"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn start_sends_only_to_paths_of_the_app() {
    let (_gw, origin) = gateway().await;
    let b = browser();
    for rd in [
        "%2F%2Fevil.example%2F",
        "https%3A%2F%2Fevil.example%2F",
        "%2F%5Cevil.example",
        "evil.example",
        "http%3Aevil.example",
        "%2Fa%0D%0ALocation%3A%20x",
    ] {
        let res = b
            .get(format!("{origin}/.vneid/start?rd={rd}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{rd}");
        assert!(res.headers().get("location").is_none());
        assert!(set_cookie(&res, "vneid_app_login").is_none());
        let html = res.text().await.unwrap();
        assert!(html.contains("Địa chỉ quay lại không hợp lệ"), "{html}");
    }
    let res = b
        .get(format!("{origin}/.vneid/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "no rd: the app's /");
}

#[actix_web::test]
async fn a_login_at_the_app_gives_short_assertions_for_that_app_only() {
    let (gw, origin) = gateway().await;
    let b = browser();
    let (app_callback, res) = app_login(&b, &origin, people::LEVEL2_OFFICER).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), format!("{origin}/hoso?id=7"));
    let set = set_cookie(&res, COOKIE).expect("the app session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=28800"] {
        assert!(set.split("; ").any(|a| a == attr), "{attr} in {set}");
    }
    assert!(!set.contains("Secure"), "plain http on loopback: {set}");
    let cookie = set
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches(&format!("{COOKIE}="))
        .to_owned();

    // The callback cannot be used twice, in this browser or another.
    for replay in [&b, &browser()] {
        let res = replay.get(&app_callback).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(set_cookie(&res, COOKIE).is_none());
    }

    let res = auth(&origin, Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    let jwt = h["x-vneid-assertion"].to_str().unwrap();
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some("vneid-assertion+jwt"));
    let claims = verify(&gw.url, jwt, APP).await;
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(lifetime > 0 && lifetime <= 60, "{lifetime}");
    assert_eq!(claims["acr"], "urn:vneid:loa:2");
    assert_eq!(claims["name"], "Lê Văn Cường");
    assert!(claims.get("personal_id").is_none() && claims.get("birthdate").is_none());
    assert_eq!(h["x-vneid-sub"], claims["sub"].as_str().unwrap());
    assert_eq!(h["x-vneid-level"], "2");
    assert_eq!(h["x-vneid-name"], "L%C3%AA%20V%C4%83n%20C%C6%B0%E1%BB%9Dng");
    assert!(h.get("x-vneid-personal-id").is_none());
    // No directory here: no account, no account headers.
    assert!(h.get("x-vneid-account").is_none());
    // Served from the cache: the same assertion while it has time left.
    let again = auth(&origin, Some(&cookie)).await;
    assert_eq!(again.headers()["x-vneid-assertion"], jwt);

    // The other app on another host does not take this app's session.
    let res = reqwest::Client::new()
        .get(format!("{origin}/.vneid/auth"))
        .header(
            HOST,
            origin
                .replace("http://127.0.0.1", "localhost")
                .trim_start_matches("http://"),
        )
        .header("Cookie", format!("vneid_app_hoso={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // The login is audited as logins are, for the app's client, and the app session too.
    let logins = audit_of(&gw, "login").await;
    assert!(logins
        .iter()
        .any(|e| e.outcome == "success" && e.client_id.as_deref() == Some(APP)));
    let opened = audit_of(&gw, "app_login").await;
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].level, Some(2));
    let m = metrics(&gw.url).await;
    assert!(m.contains(&format!(
        "vneid_forward_auth_total{{app=\"{APP}\",result=\"allowed\"}} 2"
    )));
}

#[actix_web::test]
async fn a_level_1_person_gets_the_refusal_and_no_session() {
    let (_gw, origin) = gateway().await;
    let b = browser();
    let (_, res) = app_login(&b, &origin, people::LEVEL1_CITIZEN).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&res, COOKIE).is_none());
    let html = res.text().await.unwrap();
    assert!(html.contains("level_too_low"), "{html}");
}

#[actix_web::test]
async fn a_session_below_the_apps_level_is_refused() {
    // A session opened at level 1 (the app's min_level was raised since): the flow cannot make
    // one, so it is written as the callback writes it.
    let (gw, origin) = gateway().await;
    let fa = vneid_gateway::forward_auth::ForwardAuth::new(&gw.app);
    let app = &fa.apps[0];
    let auth_facts = vneid_gateway::login::Authentication {
        sid: "sid-1".into(),
        person_id: "p-1".into(),
        auth_time: 1,
        level: vneid_core::AssuranceLevel::Level1,
        idp: "vneid".into(),
        login_idp: Some("BCA".into()),
    };
    use vneid_gateway::forward_auth::session;
    let record = session::AppSession::new(
        &gw.app,
        app,
        &auth_facts,
        "p-1".into(),
        &session::AppClaims::default(),
    )
    .unwrap();
    let cookie = session::open(&gw.app, &record, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    for _ in 0..2 {
        let res = auth(&origin, Some(&cookie)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.headers().get("x-vneid-assertion").is_none());
    }
    assert_eq!(
        metric_value(
            &gw.url,
            &format!("vneid_forward_auth_total{{app=\"{APP}\",result=\"level\"}}")
        )
        .await,
        2.0
    );
}

#[actix_web::test]
async fn app_logout_and_gateway_logout_end_the_app_session() {
    let (gw, origin) = gateway().await;
    let b = browser();
    let (_, res) = app_login(&b, &origin, people::LEVEL2_CITIZEN).await;
    let cookie = set_cookie(&res, COOKIE).unwrap();
    let cookie = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    assert_eq!(auth(&origin, Some(cookie)).await.status(), StatusCode::OK);

    // From another site, a GET only asks.
    let res = b
        .get(format!("{origin}/.vneid/logout"))
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Bạn có muốn đăng xuất"));
    assert_eq!(auth(&origin, Some(cookie)).await.status(), StatusCode::OK);
    // A link on the app's own page logs out at once.
    let res = b
        .get(format!("{origin}/.vneid/logout"))
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(set_cookie(&res, COOKIE).unwrap().contains("Max-Age=0"));
    assert_eq!(
        auth(&origin, Some(cookie)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(audit_of(&gw, "app_logout").await.len(), 1);

    // Logged in again through the SSO session; then logged out at the gateway itself (as
    // another portal's logout would): the app session ends within the cache's re-check.
    let res = b
        .get(format!("{origin}/.vneid/start?rd=%2F"))
        .send()
        .await
        .unwrap();
    let res = b.get(location(&res)).send().await.unwrap();
    let app_callback = location(&res);
    assert!(
        app_callback.contains("/.vneid/callback?"),
        "SSO: {app_callback}"
    );
    let res = b.get(&app_callback).send().await.unwrap();
    let cookie = set_cookie(&res, COOKIE).unwrap();
    let cookie = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    assert_eq!(auth(&origin, Some(cookie)).await.status(), StatusCode::OK);
    let page = b
        .get(format!("{}/logout", gw.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = b
        .post(format!("{}/logout", gw.url))
        .form(&[("csrf", hidden(&page, "csrf")), ("confirm", "yes".into())])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    eventually(
        "the app session ends after the gateway's logout",
        || async {
            (auth(&origin, Some(cookie)).await.status() == StatusCode::UNAUTHORIZED).then_some(())
        },
    )
    .await;
}

#[actix_web::test]
async fn an_organisations_account_never_gets_an_app_session() {
    // A legacy app takes X-Vneid-Sub for a person: its client admits citizens only.
    let (_gw, origin) = gateway().await;
    let b = browser();
    let (_, res) = app_login(&b, &origin, people::ORGANISATION).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&res, COOKIE).is_none());
    let html = res.text().await.unwrap();
    assert!(html.contains("account_type_not_allowed"), "{html}");
    assert!(html.contains("chỉ dành cho công dân"), "{html}");
    assert_eq!(auth(&origin, None).await.status(), StatusCode::UNAUTHORIZED);
}
