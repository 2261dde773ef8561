//! The code flow against the test provider, and every way it must fail (the ID token's own
//! refusals: `id_token.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
use url::Url;
use vneid_core::{AssuranceLevel, Claim, UpstreamIdentity};
use vneid_upstream::{ClientAuthMethod, PendingUpstream, Upstream, UpstreamError};

use crate::provider::{
    query, rs256, sign_rs256, upstream_from, userinfo, Provider, CLIENT_ID, CLIENT_SECRET, KEY_A,
    KEY_B, REDIRECT_URI, SUBJECT,
};

/// `fut`, or a panic if it hangs: the tests below check that a refused or silent upstream
/// ends with an error, never how quickly (the 300 ms client timeout ends a silent one).
pub(crate) async fn no_hang<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("the request ended instead of hanging")
}

static CODES: AtomicUsize = AtomicUsize::new(0);

/// One login: authorization request, the provider issues a code whose ID token is made by
/// `id_token` (given the pending nonce) and whose userinfo is `info`, then `complete`.
pub(crate) async fn login(
    provider: &Provider,
    upstream: &Upstream,
    id_token: impl FnOnce(&PendingUpstream) -> String,
    info: Value,
) -> Result<UpstreamIdentity, UpstreamError> {
    let request = upstream.authorization_request(&[]).await.unwrap();
    let code = format!("code-{}", CODES.fetch_add(1, Ordering::Relaxed));
    provider.grant(&code, &request.url, id_token(&request.pending), info);
    upstream.complete(&code, &request.pending).await
}

/// A login whose ID token has the good claims changed by `edit`, signed with key A.
pub(crate) async fn login_with_claims(
    provider: &Provider,
    edit: impl FnOnce(&mut Value),
) -> Result<UpstreamIdentity, UpstreamError> {
    let upstream = provider.upstream();
    login(
        provider,
        &upstream,
        |p| {
            let mut claims = provider.claims(&p.nonce);
            edit(&mut claims);
            rs256(&claims, &KEY_A)
        },
        userinfo(SUBJECT),
    )
    .await
}

pub(crate) fn id_token_reason(result: Result<UpstreamIdentity, UpstreamError>) -> String {
    match result {
        Err(UpstreamError::IdToken(reason)) => reason,
        other => panic!("expected an ID-token refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn good_id_token_and_userinfo_yield_the_mapped_identity() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let identity = login_with_claims(&provider, |_| {}).await.unwrap();
    assert_eq!(
        identity,
        UpstreamIdentity {
            upstream: "test".into(),
            subject: SUBJECT.into(),
            personal_id: Some("052190012381".into()),
            name: Some("Nguyễn Văn An".into()),
            birthdate: Claim::Valid(chrono::NaiveDate::from_ymd_opt(1990, 5, 17).unwrap()),
            level: Claim::Valid(AssuranceLevel::Level2),
            login_idp: Some("BCA".into()),
            account_type: Claim::Valid(vneid_core::AccountType::Citizen),
            organisation: None,
            tech_id: Some("tech-77".into()),
        }
    );
}

#[tokio::test]
async fn authorization_url_carries_code_flow_pkce_state_and_nonce() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let upstream = provider.upstream();
    let a = upstream
        .authorization_request(&[("prompt", "login"), ("ui_locales", "vi")])
        .await
        .unwrap();
    let b = upstream.authorization_request(&[]).await.unwrap();
    assert_eq!(a.url.path(), "/authorize");
    let q = query(&a.url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["scope"], "openid");
    assert_eq!(q["state"], a.pending.state);
    assert_eq!(q["nonce"], a.pending.nonce);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["prompt"], "login");
    assert_eq!(q["ui_locales"], "vi");
    assert!(!q.contains_key("code_verifier"));
    // At least 128 bits each: 43 base64url characters are 256 bits.
    for v in [&a.pending.state, &a.pending.nonce, &a.pending.pkce_verifier] {
        assert!(v.len() >= 43, "{v}");
        assert!(v
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
    assert_ne!(a.pending.state, b.pending.state);
    assert_ne!(a.pending.nonce, b.pending.nonce);
    assert_ne!(a.pending.pkce_verifier, b.pending.pkce_verifier);
    assert_ne!(a.pending.state, a.pending.nonce);
}

#[tokio::test]
async fn reserved_authorization_parameters_cannot_be_overridden() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let err = provider
        .upstream()
        .authorization_request(&[("redirect_uri", "https://evil.example/")])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "config");
}

#[tokio::test]
async fn client_secret_basic_is_sent_in_the_authorization_header_only() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    login_with_claims(&provider, |_| {}).await.unwrap();
    let seen = provider.state().token_requests.clone();
    assert_eq!(seen.len(), 1);
    assert!(seen[0]
        .authorization
        .as_deref()
        .unwrap()
        .starts_with("Basic "));
    assert!(!seen[0].form.contains_key("client_secret"));
    assert!(seen[0].form.contains_key("code_verifier"));
}

#[tokio::test]
async fn client_secret_post_is_sent_in_the_form_only() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretPost).await;
    login_with_claims(&provider, |_| {}).await.unwrap();
    let seen = provider.state().token_requests.clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].authorization, None);
    assert_eq!(seen[0].form["client_id"], CLIENT_ID);
    assert_eq!(seen[0].form["client_secret"], CLIENT_SECRET);
}

#[tokio::test]
async fn a_client_authenticating_the_other_way_is_refused_by_the_provider() {
    // The provider expects client_secret_post; the upstream is configured for basic.
    let provider = Provider::start(ClientAuthMethod::ClientSecretPost).await;
    let mut config = provider.config();
    config.token_endpoint_auth_method = ClientAuthMethod::ClientSecretBasic;
    let upstream = upstream_from(config);
    let err = login(
        &provider,
        &upstream,
        |p| rs256(&provider.claims(&p.nonce), &KEY_A),
        userinfo(SUBJECT),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, UpstreamError::TokenEndpoint { error, .. } if error == "invalid_client"),
        "{err:?}"
    );
}

#[tokio::test]
async fn unknown_kid_refetches_the_jwks_once_and_accepts_the_rotated_key() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let upstream = provider.upstream();
    login(
        &provider,
        &upstream,
        |p| rs256(&provider.claims(&p.nonce), &KEY_A),
        userinfo(SUBJECT),
    )
    .await
    .unwrap();
    assert_eq!(provider.state().jwks_fetches, 1);

    // The provider rotates to key B; the cached set only has A.
    provider.state().jwks = vec![KEY_B.jwk()];
    login(
        &provider,
        &upstream,
        |p| rs256(&provider.claims(&p.nonce), &KEY_B),
        userinfo(SUBJECT),
    )
    .await
    .unwrap();
    assert_eq!(provider.state().jwks_fetches, 2);

    // Known now: no further fetch.
    login(
        &provider,
        &upstream,
        |p| rs256(&provider.claims(&p.nonce), &KEY_B),
        userinfo(SUBJECT),
    )
    .await
    .unwrap();
    assert_eq!(provider.state().jwks_fetches, 2);
}

#[tokio::test]
async fn unknown_kid_still_unknown_after_the_refetch_is_refused_without_hammering_the_jwks() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let upstream = provider.upstream();
    for _ in 0..3 {
        let result = login(
            &provider,
            &upstream,
            |p| {
                sign_rs256(
                    &json!({"alg": "RS256", "kid": "no-such-key"}),
                    &provider.claims(&p.nonce),
                    &KEY_B,
                )
            },
            userinfo(SUBJECT),
        )
        .await;
        assert!(id_token_reason(result).contains("no key"));
    }
    // The first fetch, one forced refetch, then nothing for 10 s.
    assert_eq!(provider.state().jwks_fetches, 2);
}

#[tokio::test]
async fn userinfo_sub_differing_from_the_id_token_sub_is_refused() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let upstream = provider.upstream();
    let err = login(
        &provider,
        &upstream,
        |p| rs256(&provider.claims(&p.nonce), &KEY_A),
        userinfo("somebody-else"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "userinfo");
    assert!(err.to_string().contains("sub"), "{err}");

    let mut info = userinfo(SUBJECT);
    info.as_object_mut().unwrap().remove("sub");
    let err = login(
        &provider,
        &upstream,
        |p| rs256(&provider.claims(&p.nonce), &KEY_A),
        info,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "userinfo");
}

#[tokio::test]
async fn token_endpoint_invalid_grant_becomes_a_token_endpoint_error() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let upstream = provider.upstream();
    let request = upstream.authorization_request(&[]).await.unwrap();
    // No such code at the provider.
    let err = upstream
        .complete("never-issued", &request.pending)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "token_endpoint");
    match err {
        UpstreamError::TokenEndpoint { error, description } => {
            assert_eq!(error, "invalid_grant");
            assert_eq!(description.as_deref(), Some("unknown or used code"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn code_is_sent_with_the_pending_pkce_verifier() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let upstream = provider.upstream();
    let request = upstream.authorization_request(&[]).await.unwrap();
    provider.grant(
        "code-pkce",
        &request.url,
        rs256(&provider.claims(&request.pending.nonce), &KEY_A),
        userinfo(SUBJECT),
    );
    let mut wrong = request.pending.clone();
    wrong.pkce_verifier = "x".repeat(43);
    let err = upstream.complete("code-pkce", &wrong).await.unwrap_err();
    assert!(
        matches!(&err, UpstreamError::TokenEndpoint { description: Some(d), .. } if d.contains("PKCE")),
        "{err:?}"
    );
}

#[tokio::test]
async fn token_endpoint_answering_html_is_a_token_endpoint_error() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    provider.state().token_override =
        Some((502, "text/html".into(), "<html>Bad gateway</html>".into()));
    let err = login_with_claims(&provider, |_| {}).await.unwrap_err();
    assert!(matches!(err, UpstreamError::TokenResponse(_)), "{err:?}");
    assert_eq!(err.code(), "token_endpoint");
}

#[tokio::test]
async fn token_response_without_id_token_is_refused() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    provider.state().token_override = Some((
        200,
        "application/json".into(),
        json!({"access_token": "at", "token_type": "Bearer"}).to_string(),
    ));
    let result = login_with_claims(&provider, |_| {}).await;
    assert!(id_token_reason(result).contains("id_token"));
}

#[tokio::test]
async fn upstream_refusing_connections_fails_fast_with_an_http_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = serde_json::from_value(json!({
        "id": "down", "issuer": format!("http://127.0.0.1:{port}"),
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    }))
    .unwrap();
    let upstream = upstream_from(config);
    let err = no_hang(upstream.authorization_request(&[]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "http", "{err:?}");
    assert!(!err.is_timeout(), "refused at once, not timed out: {err:?}");
    let err = no_hang(upstream.check_ready()).await.unwrap_err();
    assert_eq!(err.code(), "http", "{err:?}");
}

#[tokio::test]
async fn upstream_that_never_answers_times_out_with_an_http_error() {
    // Connections are accepted by the kernel into the backlog and never answered.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = serde_json::from_value(json!({
        "id": "stuck", "issuer": format!("http://127.0.0.1:{port}"),
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    }))
    .unwrap();
    let upstream = Upstream::new(
        config,
        Url::parse(REDIRECT_URI).unwrap(),
        vneid_upstream::http_client(Duration::from_millis(300)),
    )
    .unwrap();
    // It never answers: only the client's timeout can end the request.
    let err = no_hang(upstream.check_ready()).await.unwrap_err();
    assert_eq!(err.code(), "http", "{err:?}");
    assert!(err.is_timeout(), "{err:?}");
    drop(listener);
}

#[tokio::test]
async fn explicit_endpoints_work_without_discovery() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let mut config = provider.config();
    config.authorization_endpoint = Some(provider.url("/authorize"));
    config.token_endpoint = Some(provider.url("/token"));
    config.userinfo_endpoint = Some(provider.url("/userinfo"));
    config.jwks_uri = Some(provider.url("/jwks"));
    let upstream = upstream_from(config);
    let metadata = upstream.metadata().await.unwrap();
    assert!(!metadata.discovered);
    assert_eq!(metadata.issuer, provider.issuer);
    let identity = login(
        &provider,
        &upstream,
        |p| rs256(&provider.claims(&p.nonce), &KEY_A),
        userinfo(SUBJECT),
    )
    .await
    .unwrap();
    assert_eq!(identity.level, Claim::Valid(AssuranceLevel::Level2));
    upstream.check_ready().await.unwrap();
    assert_eq!(provider.state().discovery_fetches, 0);
}

#[tokio::test]
async fn an_explicit_endpoint_overrides_the_discovered_one() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let mut config = provider.config();
    let elsewhere = Url::parse("https://internal.example/oauth2/token").unwrap();
    config.token_endpoint = Some(elsewhere.clone());
    let metadata = upstream_from(config).metadata().await.unwrap();
    assert!(metadata.discovered);
    assert_eq!(metadata.token_endpoint, elsewhere);
    assert_eq!(metadata.userinfo_endpoint, provider.url("/userinfo"));
}

#[tokio::test]
async fn discovery_naming_another_issuer_is_refused() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    provider.state().discovery_issuer = Some("https://attacker.example".into());
    let err = provider.upstream().metadata().await.unwrap_err();
    assert_eq!(err.code(), "discovery", "{err:?}");
}

#[tokio::test]
async fn discovery_is_lazy_cached_and_retried_after_a_failure() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    provider.state().discovery_issuer = Some("https://attacker.example".into());
    let upstream = provider.upstream();
    assert_eq!(
        provider.state().discovery_fetches,
        0,
        "new() must not fetch"
    );
    assert!(upstream.metadata().await.is_err());
    provider.state().discovery_issuer = None;
    upstream.authorization_request(&[]).await.unwrap();
    upstream.authorization_request(&[]).await.unwrap();
    upstream.check_ready().await.unwrap();
    assert_eq!(provider.state().discovery_fetches, 2);
}

#[tokio::test]
async fn concurrent_first_requests_share_one_discovery_fetch() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let upstream = provider.upstream();
    let requests = (0..8).map(|_| {
        let u = upstream.clone();
        tokio::spawn(async move { u.metadata().await.map(|_| ()) })
    });
    for r in requests.collect::<Vec<_>>() {
        r.await.unwrap().unwrap();
    }
    assert_eq!(provider.state().discovery_fetches, 1);
}

#[tokio::test]
async fn pending_upstream_debug_hides_the_verifier() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let request = provider
        .upstream()
        .authorization_request(&[])
        .await
        .unwrap();
    let shown = format!("{:?}", request.pending);
    assert!(!shown.contains(&request.pending.pkce_verifier), "{shown}");
    assert!(shown.contains("redacted"));
    let stored = serde_json::to_string(&request.pending).unwrap();
    let back: PendingUpstream = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, request.pending);
}

#[tokio::test]
async fn token_endpoint_that_never_answers_times_out_with_an_http_error() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let stuck = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = provider.config();
    config.authorization_endpoint = Some(provider.url("/authorize"));
    config.token_endpoint =
        Some(Url::parse(&format!("http://{}/token", stuck.local_addr().unwrap())).unwrap());
    config.userinfo_endpoint = Some(provider.url("/userinfo"));
    config.jwks_uri = Some(provider.url("/jwks"));
    let upstream = Upstream::new(
        config,
        Url::parse(REDIRECT_URI).unwrap(),
        vneid_upstream::http_client(Duration::from_millis(300)),
    )
    .unwrap();
    let request = upstream.authorization_request(&[]).await.unwrap();
    let err = no_hang(upstream.complete("code", &request.pending))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            UpstreamError::Http {
                endpoint: "token",
                timeout: true,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn userinfo_refusing_the_access_token_is_a_userinfo_error() {
    let provider = Provider::start(ClientAuthMethod::ClientSecretBasic).await;
    let upstream = provider.upstream();
    let request = upstream.authorization_request(&[]).await.unwrap();
    provider.state().token_override = Some((
        200,
        "application/json".into(),
        json!({
            "access_token": "not-known-to-userinfo", "token_type": "bearer",
            "id_token": rs256(&provider.claims(&request.pending.nonce), &KEY_A),
        })
        .to_string(),
    ));
    let err = upstream
        .complete("code", &request.pending)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "userinfo", "{err:?}");
    assert!(err.to_string().contains("401"), "{err}");
}
