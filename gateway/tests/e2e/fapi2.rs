//! `profile = "fapi2"` (FAPI 2.0 Security Profile): one setting, every rule — pushed requests
//! only, PKCE, `private_key_jwt` (assertions for `/par` or `/token`), DPoP-bound tokens and
//! proofs by ES256, PS256 or EdDSA keys; the same profile for a client of the admin API.
use reqwest::StatusCode;
use serde_json::Value;
use vneid_e2e::client_keys::{assertion, assertion_fields, es256_client};
use vneid_e2e::*;
use vneid_tokens::{generate_signing_key, SigningAlg};

use crate::dpop::{error_of, Holder};

const BANK: &str = "bank";

/// A FAPI 2.0 client; codes would live 5 minutes for other portals.
fn extra(jwks: &str) -> String {
    format!(
        "[tokens]\ncode_ttl = \"5m\"\n\n[[clients]]\nclient_id = \"{BANK}\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\njwks = '{jwks}'\nredirect_uris = [\"{PORTAL_CB}\"]\nscopes = [\"openid\", \"profile\"]\nprofile = \"fapi2\"\n"
    )
}

/// The authorization request's fields, with or without PKCE.
fn request(p: &Pkce, pkce: bool) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("response_type", "code".to_owned()),
        ("client_id", BANK.to_owned()),
        ("redirect_uri", PORTAL_CB.to_owned()),
        ("scope", "openid profile".to_owned()),
        ("state", "st-1".to_owned()),
        ("nonce", "n-1".to_owned()),
    ];
    if pkce {
        form.push(("code_challenge", p.challenge.clone()));
        form.push(("code_challenge_method", "S256".to_owned()));
    }
    form
}

/// POSTs `form` to `url` with `proof` as the `DPoP` header.
async fn post(url: &str, form: &[(&str, String)], proof: Option<String>) -> reqwest::Response {
    let mut r = reqwest::Client::new().post(url).form(form);
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    r.send().await.unwrap()
}

#[actix_web::test]
async fn a_fapi2_client_logs_in_only_by_par_pkce_private_key_jwt_and_dpop() {
    let (jwks, key) = es256_client();
    let gw = spawn_embedded(&extra(&jwks)).await;
    let par_url = format!("{}/par", gw.url);
    let token_url = format!("{}/token", gw.url);
    let signed = |aud: &str| assertion(&key, BANK, aud, &rand_hex(), 60);
    let mut holder = Holder::new();
    let p = pkce();

    // A plain /authorize: refused back to the portal.
    let plain = authorize_url(&gw.url, &p, &[])
        .replace(&format!("client_id={PORTAL}"), &format!("client_id={BANK}"));
    let res = browser().get(&plain).send().await.unwrap();
    let to = location(&res);
    assert!(to.starts_with(PORTAL_CB), "{to}");
    assert_eq!(query(&to)["error"], "invalid_request");

    // The nonce round trip, then: no PKCE; a proof by an RS256 key; each refused at /par.
    let mut form = request(&p, true);
    form.extend(assertion_fields(&signed(&par_url)));
    let res = post(&par_url, &form, Some(holder.proof("POST", &par_url, None))).await;
    holder.keep_nonce(&res);
    assert_eq!(error_of(res).await.1, "use_dpop_nonce");
    let mut no_pkce = request(&p, false);
    no_pkce.extend(assertion_fields(&signed(&par_url)));
    let res = post(
        &par_url,
        &no_pkce,
        Some(holder.proof("POST", &par_url, None)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"].as_str().unwrap().contains("FAPI"),
        "{body}"
    );
    let rsa = Holder {
        key: generate_signing_key(SigningAlg::RS256, chrono::Utc::now()).unwrap(),
        nonce: holder.nonce.clone(),
    };
    let mut form = request(&p, true);
    form.extend(assertion_fields(&signed(&par_url)));
    let res = post(&par_url, &form, Some(rsa.proof("POST", &par_url, None))).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("RS256"),
        "{body}"
    );

    // Pushed properly (the assertion's audience is the PAR endpoint, RFC 9126 §2).
    let mut form = request(&p, true);
    form.extend(assertion_fields(&signed(&par_url)));
    let res = post(&par_url, &form, Some(holder.proof("POST", &par_url, None))).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let pushed: Value = res.json().await.unwrap();
    let mut u = url::Url::parse(&format!("{}/authorize", gw.url)).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", BANK)
        .append_pair("request_uri", pushed["request_uri"].as_str().unwrap());
    let Ended::Portal(q) = login(&browser(), u.as_str(), people::LEVEL2_CITIZEN).await else {
        panic!("login")
    };
    assert_eq!(q["iss"], gw.url);
    assert_code_lives_at_most_a_minute(&gw, &q["code"]).await;
    let mut code_form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", q["code"].clone()),
        ("redirect_uri", PORTAL_CB.to_owned()),
        ("code_verifier", p.verifier.clone()),
    ];
    // Without a proof: refused, and the code is not spent.
    let mut without = code_form.clone();
    without.extend(assertion_fields(&signed(&token_url)));
    let res = post(&token_url, &without, None).await;
    assert_eq!(error_of(res).await.1, "invalid_dpop_proof");
    code_form.extend(assertion_fields(&signed(&token_url)));
    let res = post(
        &token_url,
        &code_form,
        Some(holder.proof("POST", &token_url, None)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["token_type"], "DPoP");
    let claims = verify(&gw.url, t["access_token"].as_str().unwrap(), BANK).await;
    assert_eq!(claims["cnf"]["jkt"], holder.key.kid());
}

/// The admin API registers a FAPI 2.0 client with its keys, shows what the profile enforces,
/// and refuses what contradicts it, naming the field.
#[actix_web::test]
async fn the_admin_api_registers_a_fapi2_client_and_refuses_contradictions() {
    let gw = spawn_embedded(&crate::directory::extra()).await;
    let token = crate::directory::admin_token(&gw.url, "admin").await;
    let clients = format!("{}/admin/v1/clients", gw.url);
    let (jwks, _) = es256_client();
    let jwks: Value = serde_json::from_str(&jwks).unwrap();
    let register = |body: Value| {
        let (url, token) = (clients.clone(), token.clone());
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // With a secret (the default method): not FAPI 2.0.
    let res = register(serde_json::json!({
        "client_id": "bank-db", "redirect_uris": [PORTAL_CB], "profile": "fapi2",
    }))
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["field"], "token_endpoint_auth_method", "{body}");

    let res = register(serde_json::json!({
        "client_id": "bank-db", "redirect_uris": [PORTAL_CB], "profile": "fapi2",
        "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks,
    }))
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["profile"], "fapi2");
    assert_eq!(created["require_pushed_authorization_requests"], true);
    assert_eq!(created["dpop_bound_access_tokens"], true);
    assert!(created.get("client_secret").is_none_or(Value::is_null));

    // A PATCH that switches DPoP off under the profile names the field.
    let res = reqwest::Client::new()
        .patch(format!("{clients}/bank-db"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"dpop_bound_access_tokens": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["field"], "dpop_bound_access_tokens", "{body}");
    // Read back from the database as registered.
    let row = gw.app.db.client("bank-db").await.unwrap().unwrap();
    assert_eq!(
        (
            row.profile.as_str(),
            row.dpop_bound_access_tokens,
            row.require_pushed_authorization_requests
        ),
        ("fapi2", true, true)
    );
    let plain = authorize_url(&gw.url, &pkce(), &[])
        .replace(&format!("client_id={PORTAL}"), "client_id=bank-db");
    let res = browser().get(&plain).send().await.unwrap();
    assert_eq!(query(&location(&res))["error"], "invalid_request");

    // Leaving the profile keeps what it enforced, now as the client's own settings; the audit
    // names the one field that changed (the client has no name: none is made up for it).
    let res = reqwest::Client::new()
        .patch(format!("{clients}/bank-db"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"profile": "standard"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(changed["profile"], "standard");
    assert_eq!(changed["dpop_bound_access_tokens"], true);
    let row = gw.app.db.client("bank-db").await.unwrap().unwrap();
    assert_eq!(row.name, None);
    let audit = gw
        .app
        .db
        .list_audit(&vneid_store::AuditFilter::default())
        .await
        .unwrap();
    let updated = audit
        .iter()
        .find(|e| e.kind == "client_updated")
        .expect("client_updated audited");
    assert_eq!(updated.detail["fields"], serde_json::json!(["profile"]));
}

/// The code's entry in the ephemeral store expires within 60 s although `tokens.code_ttl` is
/// 5 minutes. Redis shows an entry's remaining time (`PTTL`), so this is checked on the
/// Postgres + Redis run; the in-memory store does not show it (`Client::code_ttl`'s unit test
/// covers the rule there).
async fn assert_code_lives_at_most_a_minute(gw: &TestGateway, code: &str) {
    if !postgres_backend() {
        return;
    }
    let key = format!(
        "{}{}:{}",
        gw.app.settings.ephemeral.key_prefix,
        vneid_gateway::login::codes::NS_CODE,
        gw.app
            .master
            .lookup_hash(vneid_gateway::login::codes::NS_CODE, code)
    );
    let client = redis::Client::open(redis_url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let left: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(0 < left && left <= 60_000, "{key}: {left} ms left");
}
