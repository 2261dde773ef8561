//! The ID token of the code flow: every way it must be refused (signature, issuer, audience,
//! `azp`, expiry by the injected clock, nonce, `alg` none or HS256, a key whose JWK names
//! another algorithm).

use std::sync::Arc;

use serde_json::json;
use vneid_core::FixedClock;
use vneid_upstream::ClientAuthMethod;

use crate::flow::{id_token_reason, login, login_with_claims};
use crate::provider::{
    hs256, now, rs256, unsigned, userinfo, Provider, CLIENT_ID, CLIENT_SECRET, IMPOSTOR_A, KEY_A,
    SUBJECT,
};

#[tokio::test]
async fn id_token_with_a_bad_signature_is_refused() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let upstream = provider.upstream();
    // Same kid as the published key A, signed by another private key.
    let result = login(
        &provider,
        &upstream,
        |p| rs256(&provider.claims(&p.nonce), &IMPOSTOR_A),
        userinfo(SUBJECT),
    )
    .await;
    assert!(id_token_reason(result).contains("signature"));

    // A good signature over other claims: payload swapped after signing.
    let result = login(
        &provider,
        &upstream,
        |p| {
            let good = rs256(&provider.claims(&p.nonce), &KEY_A);
            let mut claims = provider.claims(&p.nonce);
            claims["sub"] = "someone-else".into();
            let forged = rs256(&claims, &KEY_A);
            let g: Vec<&str> = good.split('.').collect();
            let f: Vec<&str> = forged.split('.').collect();
            format!("{}.{}.{}", g[0], f[1], g[2])
        },
        userinfo(SUBJECT),
    )
    .await;
    assert!(id_token_reason(result).contains("signature"));
}

#[tokio::test]
async fn id_token_from_another_issuer_is_refused() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let result = login_with_claims(&provider, |c| {
        c["iss"] = "https://other-broker.example".into();
    })
    .await;
    assert!(id_token_reason(result).contains("iss"));
    // The discovered issuer is matched exactly: not even a trailing slash is tolerated.
    let issuer = provider.issuer.clone();
    let result = login_with_claims(&provider, |c| c["iss"] = format!("{issuer}/").into()).await;
    assert!(id_token_reason(result).contains("iss"));
}

#[tokio::test]
async fn id_token_for_another_audience_is_refused() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let result = login_with_claims(&provider, |c| c["aud"] = "another-client".into()).await;
    assert!(id_token_reason(result).contains("aud"));
    let result =
        login_with_claims(&provider, |c| c["aud"] = json!(["another", "yet-another"])).await;
    assert!(id_token_reason(result).contains("aud"));
}

#[tokio::test]
async fn id_token_with_several_audiences_needs_azp_equal_to_client_id() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let result = login_with_claims(&provider, |c| c["aud"] = json!([CLIENT_ID, "other"])).await;
    assert!(id_token_reason(result).contains("azp"));
    let result = login_with_claims(&provider, |c| {
        c["aud"] = json!([CLIENT_ID, "other"]);
        c["azp"] = "other".into();
    })
    .await;
    assert!(id_token_reason(result).contains("azp"));
    login_with_claims(&provider, |c| {
        c["aud"] = json!([CLIENT_ID, "other"]);
        c["azp"] = CLIENT_ID.into();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn expired_id_token_is_refused_beyond_a_minute_of_leeway() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    login_with_claims(&provider, |c| c["exp"] = (now() - 30).into())
        .await
        .unwrap();
    let result = login_with_claims(&provider, |c| c["exp"] = (now() - 120).into()).await;
    assert!(id_token_reason(result).contains("expired"));
    let result = login_with_claims(&provider, |c| {
        c.as_object_mut().unwrap().remove("exp");
    })
    .await;
    assert!(id_token_reason(result).contains("exp"));
}

#[tokio::test]
async fn expiry_is_judged_by_the_injected_clock() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let clock = Arc::new(FixedClock::new(
        chrono::Utc::now() + chrono::Duration::hours(1),
    ));
    let upstream = provider.upstream().with_clock(clock);
    let result = login(
        &provider,
        &upstream,
        |p| rs256(&provider.claims(&p.nonce), &KEY_A),
        userinfo(SUBJECT),
    )
    .await;
    assert!(id_token_reason(result).contains("expired"));
}

#[tokio::test]
async fn id_token_with_another_nonce_is_refused() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let result = login_with_claims(&provider, |c| c["nonce"] = "a-replayed-nonce".into()).await;
    assert!(id_token_reason(result).contains("nonce"));
    let result = login_with_claims(&provider, |c| {
        c.as_object_mut().unwrap().remove("nonce");
    })
    .await;
    assert!(id_token_reason(result).contains("nonce"));
}

#[tokio::test]
async fn unsigned_alg_none_id_token_is_refused() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let upstream = provider.upstream();
    let result = login(
        &provider,
        &upstream,
        |p| unsigned(&provider.claims(&p.nonce)),
        userinfo(SUBJECT),
    )
    .await;
    assert!(id_token_reason(result).contains("alg none"));
}

#[tokio::test]
async fn hs256_id_token_signed_with_the_client_secret_is_refused() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let upstream = provider.upstream();
    let result = login(
        &provider,
        &upstream,
        |p| hs256(&provider.claims(&p.nonce), CLIENT_SECRET.as_bytes()),
        userinfo(SUBJECT),
    )
    .await;
    assert!(id_token_reason(result).contains("HS256"));
}

#[tokio::test]
async fn rs256_header_over_a_key_whose_jwk_says_another_alg_is_refused() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let mut jwk = KEY_A.jwk();
    jwk["alg"] = "PS256".into();
    provider.state().jwks = vec![jwk];
    let result = login_with_claims(&provider, |_| {}).await;
    assert!(id_token_reason(result).contains("no key"));
}
