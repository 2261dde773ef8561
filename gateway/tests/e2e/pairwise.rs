//! Pairwise `sub` (OpenID Connect Core §8.1): stable per sector, different across sectors, in
//! every token and the back-channel logout token; the same for a client registered through the
//! admin API.
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use vneid_e2e::*;

use crate::admin_clients::{admin_token, create, http, introspect, tokens_for, MACHINES};

/// A portal's back-channel logout endpoint that records the logout tokens it receives.
fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let g = got.clone();
    let server = HttpServer::new(move || {
        let g = g.clone();
        App::new().route(
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
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    (url, got)
}

const PW_A_SECRET: &str = "pairwise-a-secret-0123456789-abcdefghijk";
const PW_A2_SECRET: &str = "pairwise-a2-secret-0123456789-abcdefghij";
const PW_B_SECRET: &str = "pairwise-b-secret-0123456789-abcdefghijk";

fn pairwise_clients(rp: &str) -> String {
    format!(
        r#"
[[clients]]
client_id = "pw-a"
client_secret = "{PW_A_SECRET}"
redirect_uris = ["{PORTAL_CB}"]
post_logout_redirect_uris = ["http://127.0.0.1:9/bye"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile"]
subject_type = "pairwise"
sector_identifier = "a.example"

[[clients]]
client_id = "pw-a2"
client_secret = "{PW_A2_SECRET}"
redirect_uris = ["{PORTAL_CB}"]
scopes = ["openid"]
subject_type = "pairwise"
sector_identifier = "a.example"

[[clients]]
client_id = "pw-b"
client_secret = "{PW_B_SECRET}"
redirect_uris = ["{PORTAL_CB}"]
backchannel_logout_uri = "{rp}/backchannel"
scopes = ["openid", "profile"]
subject_type = "pairwise"
"#
    )
}

#[actix_web::test]
async fn pairwise_clients_get_a_stable_sub_of_their_own_sector() {
    let (rp, got) = receiver();
    let gw = spawn_embedded(&format!("{MACHINES}{}", pairwise_clients(&rp))).await;
    let discovery: Value = reqwest::get(format!("{}/.well-known/openid-configuration", gw.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["subject_types_supported"],
        json!(["public", "pairwise"])
    );

    // A public client gets the person id; pairwise clients each get their sector's sub.
    let b = browser();
    let public = tokens_for(&gw.url, &b, PORTAL, PORTAL_SECRET).await;
    let person_id = verify(&gw.url, public["id_token"].as_str().unwrap(), PORTAL).await["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(gw.app.db.person(&person_id).await.unwrap().is_some());
    let a = tokens_for(&gw.url, &b, "pw-a", PW_A_SECRET).await;
    let id_a = verify(&gw.url, a["id_token"].as_str().unwrap(), "pw-a").await;
    let sub_a = id_a["sub"].as_str().unwrap().to_owned();
    let access_a = verify(&gw.url, a["access_token"].as_str().unwrap(), "pw-a").await;
    assert_eq!(access_a["sub"], sub_a.as_str());
    let b_tokens = tokens_for(&gw.url, &b, "pw-b", PW_B_SECRET).await;
    let sub_b = verify(&gw.url, b_tokens["id_token"].as_str().unwrap(), "pw-b").await["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(sub_a, sub_b);
    assert_ne!(sub_a, person_id);
    assert_ne!(sub_b, person_id);
    // Same sector, same sub.
    let a2 = tokens_for(&gw.url, &b, "pw-a2", PW_A2_SECRET).await;
    assert_eq!(
        verify(&gw.url, a2["id_token"].as_str().unwrap(), "pw-a2").await["sub"],
        sub_a.as_str()
    );

    // Userinfo and introspection speak the client's sub and find the person behind it.
    let info: Value = http()
        .get(format!("{}/userinfo", gw.url))
        .bearer_auth(a["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], sub_a.as_str());
    assert_eq!(info["name"], "Nguyễn Văn An");
    assert_eq!(
        introspect(&gw.url, a["access_token"].as_str().unwrap()).await["sub"],
        sub_a.as_str()
    );
    let refresh = a["refresh_token"].as_str().unwrap();
    let r = introspect(&gw.url, refresh).await;
    assert_eq!(r["active"], true);
    assert_eq!(r["sub"], sub_a.as_str());
    // Refresh keeps the sub.
    let res = http()
        .post(format!("{}/token", gw.url))
        .basic_auth("pw-a", Some(PW_A_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let refreshed: Value = res.json().await.unwrap();
    assert_eq!(
        verify(&gw.url, refreshed["id_token"].as_str().unwrap(), "pw-a").await["sub"],
        sub_a.as_str()
    );

    // Stable across logins: a new browser, a new upstream login, the same sub.
    let again = tokens_for(&gw.url, &browser(), "pw-a", PW_A_SECRET).await;
    assert_eq!(
        verify(&gw.url, again["id_token"].as_str().unwrap(), "pw-a").await["sub"],
        sub_a.as_str()
    );

    // Logout with a pairwise ID token as the hint works, and the back-channel logout token
    // of the pairwise portal carries its own sub.
    let mut logout = url::Url::parse(&format!("{}/logout", gw.url)).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", a["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", "http://127.0.0.1:9/bye")
        .append_pair("state", "bye-1");
    let res = b.get(logout.as_str()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(location(&res).starts_with("http://127.0.0.1:9/bye?state=bye-1"));
    let logout_token = eventually("a logout token reaching the portal", || async {
        got.lock().unwrap().first().cloned()
    })
    .await;
    let claims = verify(&gw.url, &logout_token, "pw-b").await;
    assert_eq!(claims["sub"], sub_b.as_str());
    assert_eq!(
        introspect(&gw.url, a["access_token"].as_str().unwrap()).await["active"],
        false
    );
}

#[actix_web::test]
async fn a_pairwise_client_registered_through_the_admin_api_gets_pairwise_subs() {
    let gw = spawn_embedded(MACHINES).await;
    let admin = admin_token(&gw.url).await;
    let res = create(
        &gw.url,
        &admin,
        &json!({
            "client_id": "pw-api",
            "redirect_uris": [PORTAL_CB],
            "scopes": ["openid"],
            "subject_type": "pairwise",
            "sector_identifier": "api.example",
        }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["subject_type"], "pairwise");
    assert_eq!(created["sector_identifier"], "api.example");
    let secret = created["client_secret"].as_str().unwrap();
    let b = browser();
    let public = tokens_for(&gw.url, &b, PORTAL, PORTAL_SECRET).await;
    let person_id =
        verify(&gw.url, public["id_token"].as_str().unwrap(), PORTAL).await["sub"].clone();
    let t = tokens_for(&gw.url, &b, "pw-api", secret).await;
    let sub = verify(&gw.url, t["id_token"].as_str().unwrap(), "pw-api").await["sub"].clone();
    assert_ne!(sub, person_id);
    let info: Value = http()
        .get(format!("{}/userinfo", gw.url))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], sub);
}
