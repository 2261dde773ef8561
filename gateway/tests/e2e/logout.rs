//! RP-initiated logout and back-channel logout.
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use reqwest::StatusCode;
use serde_json::Value;
use vneid_e2e::*;

/// A portal's back-channel logout endpoint that records what it receives, and one that always
/// fails.
fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let g = got.clone();
    let server = HttpServer::new(move || {
        let g = g.clone();
        App::new()
            .route(
                "/backchannel",
                web::post().to(
                    move |form: web::Form<std::collections::HashMap<String, String>>| {
                        let g = g.clone();
                        async move {
                            g.lock()
                                .unwrap()
                                .push(form.get("logout_token").cloned().unwrap_or_default());
                            HttpResponse::Ok().finish()
                        }
                    },
                ),
            )
            .route(
                "/broken",
                web::post().to(|| async { HttpResponse::InternalServerError().finish() }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    (url, got)
}

fn extra(rp: &str) -> String {
    format!(
        r#"
[[clients]]
client_id = "portal-bye"
client_secret = "portal-bye-secret-0123456789-abcdefghijk"
redirect_uris = ["{PORTAL_CB}"]
post_logout_redirect_uris = ["http://127.0.0.1:9/bye"]
backchannel_logout_uri = "{rp}/backchannel"
scopes = ["openid", "profile"]

[[clients]]
client_id = "portal-broken"
client_secret = "portal-broken-secret-0123456789-abcdefgh"
redirect_uris = ["{PORTAL_CB}"]
backchannel_logout_uri = "{rp}/broken"
scopes = ["openid"]
"#
    )
}

async fn login_as(gw: &TestGateway, b: &reqwest::Client, client: &str, secret: &str) -> Value {
    let p = pkce();
    let url = authorize_url(&gw.url, &p, &[])
        .replace("client_id=portal&", &format!("client_id={client}&"));
    let res = b.get(&url).send().await.unwrap();
    let to = location(&res);
    let q = if to.starts_with(PORTAL_CB) {
        query(&to)
    } else {
        let callback = upstream_password_otp(b, &to, people::LEVEL2_CITIZEN).await;
        let Ended::Portal(q) = finish(b, &callback).await else {
            panic!()
        };
        q
    };
    reqwest::Client::new()
        .post(format!("{}/token", gw.url))
        .basic_auth(client, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", PORTAL_CB),
            ("code_verifier", &p.verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[actix_web::test]
async fn rp_initiated_logout_ends_the_session_and_tells_every_portal_over_the_back_channel() {
    let (rp, got) = receiver();
    let gw = spawn_embedded(&extra(&rp)).await;
    let b = browser();
    let t = login_as(
        &gw,
        &b,
        "portal-bye",
        "portal-bye-secret-0123456789-abcdefghijk",
    )
    .await;
    let id_token = t["id_token"].as_str().unwrap().to_owned();
    let id = verify(&gw.url, &id_token, "portal-bye").await;
    // A second portal in the same browser session (SSO), whose back channel is broken.
    login_as(
        &gw,
        &b,
        "portal-broken",
        "portal-broken-secret-0123456789-abcdefgh",
    )
    .await;

    let mut url = url::Url::parse(&format!("{}/logout", gw.url)).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", "http://127.0.0.1:9/bye")
        .append_pair("state", "bye-1");
    let res = b.get(url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), "http://127.0.0.1:9/bye?state=bye-1");
    let cleared = res.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("vneid_sso=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );

    // The back-channel logout token reaches the portal.
    let token = eventually("a logout token reaching the portal", || async {
        got.lock().unwrap().first().cloned()
    })
    .await;
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().typ.as_deref(),
        Some("logout+jwt")
    );
    let lt = verify(&gw.url, &token, "portal-bye").await;
    assert_eq!(lt["sid"], id["sid"]);
    assert_eq!(lt["sub"], id["sub"]);
    assert!(lt["events"]
        .get("http://schemas.openid.net/event/backchannel-logout")
        .is_some());
    assert!(lt.get("nonce").is_none());
    assert!(lt["jti"].as_str().is_some());

    // The broken portal is retried, then counted as a failure.
    let m = eventually("the failure counted after the retries", || async {
        let m = reqwest::get(format!("{}/metrics", gw.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        m.contains(r#"vneid_backchannel_logout_total{outcome="failed"} 1"#)
            .then_some(m)
    })
    .await;
    assert!(
        m.contains(r#"vneid_backchannel_logout_total{outcome="delivered"} 1"#),
        "{m}"
    );

    // The session is gone: the next login goes upstream again.
    let res = b
        .get(authorize_url(&gw.url, &pkce(), &[]))
        .send()
        .await
        .unwrap();
    assert!(location(&res).contains("/simulator/oauth2/authorize"));
    let events = gw
        .app
        .db
        .list_audit(&vneid_store::AuditFilter {
            kind: Some("logout".into()),
            limit: 10,
            ..vneid_store::AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
}

#[actix_web::test]
async fn logout_refuses_unregistered_redirects_and_forged_hints_and_asks_without_a_hint() {
    let (rp, _) = receiver();
    let gw = spawn_embedded(&extra(&rp)).await;
    let b = browser();
    let t = login_as(
        &gw,
        &b,
        "portal-bye",
        "portal-bye-secret-0123456789-abcdefghijk",
    )
    .await;
    let hint = t["id_token"].as_str().unwrap();
    for (q, what) in [
        (
            format!("id_token_hint={hint}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"),
            "unregistered",
        ),
        (format!("id_token_hint={hint}x"), "forged"),
        (
            "post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fbye".to_owned(),
            "no client",
        ),
        (
            format!("id_token_hint={hint}&client_id=portal"),
            "other client",
        ),
    ] {
        let res = b
            .get(format!("{}/logout?{q}", gw.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
        assert!(res.headers().get("location").is_none(), "{what}");
    }
    // Still logged in after all that.
    let res = b
        .get(authorize_url(&gw.url, &pkce(), &[]))
        .send()
        .await
        .unwrap();
    assert!(location(&res).starts_with(PORTAL_CB));
    // No hint: a confirmation page, then the POST logs out.
    let page = b
        .get(format!("{}/logout", gw.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Bạn có muốn đăng xuất?") && page.contains("method=\"post\""));
    let res = b
        .post(format!("{}/logout", gw.url))
        .form(&[("confirm", "yes"), ("csrf", &hidden(&page, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Bạn đã đăng xuất"));
    let res = b
        .get(authorize_url(&gw.url, &pkce(), &[]))
        .send()
        .await
        .unwrap();
    assert!(location(&res).contains("/simulator/oauth2/authorize"));
}
