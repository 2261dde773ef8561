//! DPoP state the gateway keeps: a public client's refresh tokens bound to the key of its first
//! token request (RFC 9449 §5), kept with the refresh-token family in the database (a
//! confidential client's are not: each refresh binds the new access token to that refresh's
//! key); and the proofs' replay cache, which refuses rather than forgets when full.
use reqwest::StatusCode;
use serde_json::Value;
use vneid_e2e::*;

use crate::dpop::{error_of, Holder};

const SPA: &str = "spa";
const EXTRA: &str = r#"
[[clients]]
client_id = "spa"
redirect_uris = ["http://127.0.0.1:9/cb"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "offline_access"]
"#;

/// A `/token` request of the public client with a proof by `holder`, after the nonce round
/// trip when the holder has no nonce yet.
async fn spa_token(gw: &str, holder: &mut Holder, form: &[(&str, &str)]) -> reqwest::Response {
    let token_url = format!("{gw}/token");
    loop {
        let res = reqwest::Client::new()
            .post(&token_url)
            .header("DPoP", holder.proof("POST", &token_url, None))
            .form(form)
            .send()
            .await
            .unwrap();
        let had_nonce = holder.nonce.is_some();
        holder.keep_nonce(&res);
        if res.status() == StatusCode::BAD_REQUEST && !had_nonce {
            continue;
        }
        return res;
    }
}

#[actix_web::test]
async fn a_public_clients_refresh_token_is_bound_to_its_key_and_another_key_spends_nothing() {
    let gw = spawn_embedded(EXTRA).await;
    let mut holder = Holder::new();
    let p = pkce();
    let url = authorize_url(&gw.url, &p, &[])
        .replace("client_id=portal&", "client_id=spa&")
        .replace("personal_id", "offline_access");
    let Ended::Portal(q) = login(&browser(), &url, people::LEVEL2_CITIZEN).await else {
        panic!("login")
    };
    let res = spa_token(
        &gw.url,
        &mut holder,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", SPA),
            ("code", &q["code"]),
            ("redirect_uri", PORTAL_CB),
            ("code_verifier", &p.verifier),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["token_type"], "DPoP");
    let refresh = t["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("client_id", SPA),
        ("refresh_token", refresh.as_str()),
    ];

    // The family, read back from the database, names the key.
    let mut thief = Holder {
        nonce: holder.nonce.clone(),
        ..Holder::new()
    };
    let before = metric_value(&gw.url, "vneid_dpop_refused_total{reason=\"wrong_key\"}").await;
    let res = spa_token(&gw.url, &mut thief, &refresh_form).await;
    assert_eq!(error_of(res).await.1, "invalid_grant", "another key");
    assert_eq!(
        metric_value(&gw.url, "vneid_dpop_refused_total{reason=\"wrong_key\"}").await,
        before + 1.0
    );
    // Without a proof at all: the same refusal.
    let res = reqwest::Client::new()
        .post(format!("{}/token", gw.url))
        .form(&refresh_form)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.1, "invalid_grant", "no proof");

    // The refusals spent nothing: the holder refreshes with the same token, and the new pair
    // is bound to the same key.
    let res = spa_token(&gw.url, &mut holder, &refresh_form).await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["token_type"], "DPoP");
    let claims = verify(&gw.url, t["access_token"].as_str().unwrap(), SPA).await;
    assert_eq!(claims["cnf"]["jkt"], holder.key.kid());
    let next = t["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(next, refresh);
    let res = spa_token(
        &gw.url,
        &mut thief,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", SPA),
            ("refresh_token", next.as_str()),
        ],
    )
    .await;
    assert_eq!(
        error_of(res).await.1,
        "invalid_grant",
        "the rotated token stays bound"
    );
    let family = gw
        .app
        .db
        .refresh_family_by_token(
            &gw.app
                .master
                .lookup_hash(vneid_gateway::oauth::NS_REFRESH, &next),
        )
        .await
        .unwrap()
        .expect("the family");
    assert_eq!(family.dpop_jkt.as_deref(), Some(holder.key.kid()));
}

/// The replay cache never forgets a proof to make room: once the in-memory store is full, a
/// request with a proof is refused (503, counted), never served with its `jti` unremembered.
/// (On Redis the bound is `maxmemory`; the login flood test covers that store.)
#[actix_web::test]
async fn a_full_replay_cache_refuses_proofs_rather_than_forget_them() {
    if postgres_backend() {
        return;
    }
    let gw = spawn_embedded(
        "[ephemeral]\nmax_entries = 40\n\n[limits]\ntoken = { requests = 0, per = \"1m\" }\n\n[[clients]]\nclient_id = \"robot\"\nclient_secret = \"robot-secret-0123456789-abcdefghijklmnop\"\ngrant_types = [\"client_credentials\"]\nscopes = []\n",
    )
    .await;
    let token_url = format!("{}/token", gw.url);
    let mut holder = Holder::new();
    let (mut served, mut refused) = (0, 0);
    for i in 0..500 {
        let res = reqwest::Client::new()
            .post(&token_url)
            .basic_auth("robot", Some("robot-secret-0123456789-abcdefghijklmnop"))
            .header("DPoP", holder.proof("POST", &token_url, None))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        holder.keep_nonce(&res);
        match res.status() {
            StatusCode::OK => {
                assert_eq!(refused, 0, "request {i} served after the cache was full");
                served += 1;
            }
            StatusCode::BAD_REQUEST if holder.nonce.is_some() && served == 0 => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                if refused == 5 {
                    break;
                }
            }
            other => panic!("request {i}: {other}"),
        }
    }
    assert!(
        served > 0 && refused == 5,
        "served {served}, refused {refused}"
    );
    assert!(metric_value(&gw.url, "vneid_ephemeral_full_total").await >= 5.0);
}
