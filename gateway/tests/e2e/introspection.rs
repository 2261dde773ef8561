//! Introspection (RFC 7662) answers only those whose business a token is: the client it was
//! issued to, a client holding a scope of the API it is for, an operator's tool (scope admin).

use crate::resources::{post, tokens, API_PORTAL, API_SECRET, EXTRA, HOSO, WORKER, WORKER_SECRET};
use vneid_e2e::*;

#[actix_web::test]
async fn introspection_answers_the_owner_the_api_and_operators_only() {
    let gw = spawn_embedded(EXTRA).await;
    let t = tokens(&gw.url, "openid profile offline_access", &[], &[]).await;
    let at = t["access_token"].as_str().unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    let ask = |who: (&'static str, &'static str), token: String| {
        let url = gw.url.clone();
        async move { post(&url, "/introspect", who, &[("token", &token)]).await.1 }
    };
    // The portal it was issued to: everything, and no member without a value.
    let own = ask((API_PORTAL, API_SECRET), at.to_owned()).await;
    assert_eq!(own["active"], true);
    assert!(own.get("act").is_none(), "no null members: {own}");
    assert_eq!(
        ask((API_PORTAL, API_SECRET), rt.to_owned()).await["active"],
        true
    );
    // Another portal learns nothing about it (not even its pairwise or public `sub`).
    for token in [at, rt] {
        assert_eq!(
            ask((PORTAL, PORTAL_SECRET), token.to_owned()).await,
            serde_json::json!({"active": false})
        );
    }
    // An operator's tool (scope admin) may ask about any token.
    assert_eq!(
        ask((WORKER, WORKER_SECRET), at.to_owned()).await["active"],
        true
    );
    // An API's token is the business of the clients that hold a scope of that API: here the
    // portal asks about the worker's token for the file API, not about its admin token.
    let (_, api) = post(
        &gw.url,
        "/token",
        (WORKER, WORKER_SECRET),
        &[("grant_type", "client_credentials"), ("resource", HOSO)],
    )
    .await;
    let (_, admin) = post(
        &gw.url,
        "/token",
        (WORKER, WORKER_SECRET),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let api = api["access_token"].as_str().unwrap().to_owned();
    let admin = admin["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        ask((API_PORTAL, API_SECRET), api.clone()).await["active"],
        true
    );
    assert_eq!(ask((API_PORTAL, API_SECRET), admin).await["active"], false);
    assert_eq!(ask((PORTAL, PORTAL_SECRET), api).await["active"], false);
}
