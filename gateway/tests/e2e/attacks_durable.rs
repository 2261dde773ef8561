//! The attack suite, part 3: revocation that survives the ephemeral store. A revoked access
//! token, and the tokens of a session ended by logout, stay dead after the ephemeral store is
//! emptied (Redis flushed or restarted, the process restarted with the in-memory store); a token
//! never revoked keeps working.
use reqwest::StatusCode;
use serde_json::Value;
use vneid_e2e::*;

/// Two gateways on one database and one issuer: the second stands for the first after a
/// restart (the in-memory store starts empty), or, on Redis, for any replica.
async fn pair() -> (TestGateway, TestGateway) {
    let dir = tempfile::tempdir().unwrap();
    let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://127.0.0.1:{}", first.local_addr().unwrap().port());
    let cfg = base_config(
        dir.path(),
        &format!("[simulator]\nenabled = true\n{}", machine_client()),
    )
    .await
    .replace(
        "bind = \"127.0.0.1:0\"",
        &format!("bind = \"127.0.0.1:0\"\npublic_url = \"{issuer}\""),
    );
    let settings = settings_from(&cfg, dir.path());
    let second = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let second_url = format!("http://127.0.0.1:{}", second.local_addr().unwrap().port());
    let a = start(settings.clone(), dir, Some(first)).await;
    let mut b = start(settings, tempfile::tempdir().unwrap(), Some(second)).await;
    // Requests to the second go to its own port; its tokens name the shared issuer.
    b.url = second_url;
    (a, b)
}

fn machine_client() -> &'static str {
    r#"
[[clients]]
client_id = "it"
client_secret = "it-secret-0123456789-abcdefghijklmnopqrs"
grant_types = ["client_credentials"]
scopes = ["admin"]                # an operator's tool: it may introspect any portal's token
"#
}

async fn person_tokens(gw: &TestGateway) -> Value {
    let b = browser();
    let p = pkce();
    let Ended::Portal(q) =
        login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await
    else {
        panic!("login")
    };
    let res = exchange(&gw.url, &q["code"], &p.verifier).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn userinfo(gw: &str, access: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{gw}/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
}

async fn active(gw: &str, token: &str) -> bool {
    let v: Value = reqwest::Client::new()
        .post(format!("{gw}/introspect"))
        .basic_auth("it", Some("it-secret-0123456789-abcdefghijklmnopqrs"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["active"].as_bool().unwrap()
}

async fn revoke(gw: &str, token: &str) {
    let res = reqwest::Client::new()
        .post(format!("{gw}/revoke"))
        .basic_auth(PORTAL, Some(PORTAL_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// Empties the ephemeral store the way an outage would: on Redis every key of this gateway's
/// prefix goes (as after a restart of a Redis that keeps nothing); the in-memory store of the
/// second gateway is empty anyway.
async fn empty_the_ephemeral_store(gw: &TestGateway) {
    if !postgres_backend() {
        return;
    }
    let prefix = gw.app.settings.ephemeral.key_prefix.clone();
    let client = redis::Client::open(redis_url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(!keys.is_empty(), "the test gateway wrote to Redis");
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut c)
        .await
        .unwrap();
}

#[actix_web::test]
async fn a_revoked_access_token_stays_revoked_after_the_ephemeral_store_is_emptied() {
    let (a, restarted) = pair().await;
    let revoked = person_tokens(&a).await;
    let kept = person_tokens(&a).await;
    let revoked_at = revoked["access_token"].as_str().unwrap();
    let kept_at = kept["access_token"].as_str().unwrap();
    revoke(&a.url, revoked_at).await;
    assert_eq!(userinfo(&a.url, revoked_at).await, StatusCode::UNAUTHORIZED);

    empty_the_ephemeral_store(&a).await;
    for gw in [&restarted.url, &a.url] {
        assert_eq!(
            userinfo(gw, revoked_at).await,
            StatusCode::UNAUTHORIZED,
            "{gw}"
        );
        assert!(!active(gw, revoked_at).await, "{gw}");
        // Never revoked: works as before.
        assert_eq!(userinfo(gw, kept_at).await, StatusCode::OK, "{gw}");
        assert!(active(gw, kept_at).await, "{gw}");
    }
}

#[actix_web::test]
async fn the_tokens_of_a_session_ended_by_logout_stay_revoked_after_the_ephemeral_store_is_emptied()
{
    let (a, restarted) = pair().await;
    let b = browser();
    let p = pkce();
    let Ended::Portal(q) = login(&b, &authorize_url(&a.url, &p, &[]), people::LEVEL2_CITIZEN).await
    else {
        panic!("login")
    };
    let tokens: Value = exchange(&a.url, &q["code"], &p.verifier)
        .await
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let res = b
        .get(format!(
            "{}/logout?id_token_hint={}",
            a.url,
            tokens["id_token"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("Bạn đã đăng xuất"));
    empty_the_ephemeral_store(&a).await;
    for gw in [&restarted.url, &a.url] {
        assert_eq!(userinfo(gw, access).await, StatusCode::UNAUTHORIZED, "{gw}");
        assert!(!active(gw, access).await, "{gw}");
    }
}
