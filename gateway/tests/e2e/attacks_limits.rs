//! The attack suite, part 2: floods and guessing — rate limits per client address (believing
//! `X-Forwarded-For` only from trusted proxies), client-secret guessing that locks out the
//! guesser and not the portal, and a flood of logins that fills a bounded store with 503s,
//! never 500s.
use reqwest::StatusCode;
use serde_json::Value;
use vneid_e2e::services::PrivateRedis;
use vneid_e2e::*;
use vneid_gateway::ratelimit::Rate;
use vneid_gateway::Settings;

const MINUTE: std::time::Duration = std::time::Duration::from_secs(60);

async fn gateway_with(tune: impl FnOnce(&mut Settings)) -> TestGateway {
    let dir = tempfile::tempdir().unwrap();
    let cfg = base_config(dir.path(), "[simulator]\nenabled = true\n").await;
    let mut settings = settings_from(&cfg, dir.path());
    tune(&mut settings);
    start(settings, dir, None).await
}

fn trusted_loopback(s: &mut Settings) {
    s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

async fn get_from(b: &reqwest::Client, url: &str, ip: &str) -> reqwest::Response {
    b.get(url)
        .header("x-forwarded-for", ip)
        .send()
        .await
        .unwrap()
}

async fn metric(gw: &str, line_start: &str) -> u64 {
    metric_value(gw, line_start).await as u64
}

#[actix_web::test]
async fn logins_are_limited_per_client_address_behind_a_trusted_proxy() {
    let gw = gateway_with(|s| {
        trusted_loopback(s);
        s.limits.authorize = Rate {
            requests: 5,
            per: MINUTE,
        };
    })
    .await;
    let b = browser();
    let url = authorize_url(&gw.url, &pkce(), &[]);
    for _ in 0..4 {
        let res = get_from(&b, &url, "198.51.100.1").await;
        assert_eq!(res.status(), StatusCode::FOUND);
    }
    // Every entry point that starts a login counts in the same limit.
    let res = get_from(&b, &format!("{}/admin/login", gw.url), "198.51.100.1").await;
    assert_ne!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let res = get_from(&b, &url, "198.51.100.1").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(res.text().await.unwrap().contains("Quá nhiều yêu cầu"));
    // Another citizen behind the same proxy is not affected.
    assert_eq!(
        get_from(&b, &url, "198.51.100.2").await.status(),
        StatusCode::FOUND
    );
    // A forged left-most entry changes nothing: the proxy's own entry counts.
    assert_eq!(
        get_from(&b, &url, "203.0.113.9, 198.51.100.1")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert!(metric(&gw.url, "vneid_rate_limited_total{limit=\"authorize\"}").await >= 2);
}

#[actix_web::test]
async fn forwarded_addresses_from_an_untrusted_peer_are_ignored() {
    let gw = gateway_with(|s| {
        s.limits.authorize = Rate {
            requests: 3,
            per: MINUTE,
        };
    })
    .await;
    let b = browser();
    let url = authorize_url(&gw.url, &pkce(), &[]);
    for i in 0..3 {
        let res = get_from(&b, &url, &format!("198.51.100.{i}")).await;
        assert_eq!(res.status(), StatusCode::FOUND);
    }
    assert_eq!(
        get_from(&b, &url, "198.51.100.99").await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "X-Forwarded-For from a peer that is not a trusted proxy is not believed"
    );
}

#[actix_web::test]
async fn token_and_userinfo_answer_429_with_an_oauth_error_past_their_limits() {
    let gw = gateway_with(|s| {
        s.limits.token = Rate {
            requests: 3,
            per: MINUTE,
        };
        s.limits.userinfo = Rate {
            requests: 2,
            per: MINUTE,
        };
    })
    .await;
    let c = reqwest::Client::new();
    let post_token = || {
        c.post(format!("{}/token", gw.url))
            .basic_auth(PORTAL, Some(PORTAL_SECRET))
            .form(&[("grant_type", "authorization_code"), ("code", "nope")])
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            post_token().await.unwrap().status(),
            StatusCode::BAD_REQUEST
        );
    }
    let res = post_token().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // /introspect and /revoke share the token limit.
    let res = c
        .post(format!("{}/introspect", gw.url))
        .basic_auth(PORTAL, Some(PORTAL_SECRET))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

    let userinfo = || {
        c.get(format!("{}/userinfo", gw.url))
            .bearer_auth("x")
            .send()
    };
    for _ in 0..2 {
        assert_eq!(userinfo().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let res = userinfo().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
}

/// 650 wrong secrets in a row used to be answered 401 at full speed. Failures are counted per
/// client id and address: the guesser is locked out, the portal (another address) is not, and
/// nobody else's failures count against it.
#[actix_web::test]
async fn guessing_a_client_secret_locks_out_the_guesser_not_the_portal() {
    let gw = gateway_with(|s| {
        trusted_loopback(s);
        s.limits.client_auth_failures = Rate {
            requests: 3,
            per: std::time::Duration::from_secs(900),
        };
    })
    .await;
    let c = reqwest::Client::new();
    let token = |ip: &'static str, secret: &'static str| {
        c.post(format!("{}/token", gw.url))
            .header("x-forwarded-for", ip)
            .basic_auth(PORTAL, Some(secret))
            .form(&[("grant_type", "authorization_code"), ("code", "nope")])
            .send()
    };
    for _ in 0..3 {
        let res = token("203.0.113.66", "wrong-secret").await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = token("203.0.113.66", "wrong-secret").await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    // Even the right secret from the guessing address waits.
    let res = token("203.0.113.66", PORTAL_SECRET).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // The portal itself, from its own address, is served: its secret is checked and the grant
    // then refused on its merits (a bogus code).
    let res = token("198.51.100.10", PORTAL_SECRET).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // Failures against another client id do not lock this one out at that address.
    let res = c
        .post(format!("{}/token", gw.url))
        .header("x-forwarded-for", "198.51.100.11")
        .basic_auth("public-app", Some("x"))
        .form(&[("grant_type", "authorization_code"), ("code", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        metric(
            &gw.url,
            "vneid_rate_limited_total{limit=\"client_auth_failures\"}"
        )
        .await,
        2
    );
}

/// A flood of valid `/authorize` requests fills the ephemeral store; new logins then get the
/// Vietnamese 503 page — never a 500 — `/readyz` says so in its body, and the refusals are
/// counted. On the embedded default the bound is `ephemeral.max_entries`; on Redis it is
/// `maxmemory` with `noeviction` (a private Redis of 2 MB here).
#[actix_web::test]
async fn a_flood_of_logins_fills_a_bounded_store_with_503_pages_not_500s() {
    let redis = postgres_backend().then(|| {
        PrivateRedis::start_with(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"])
    });
    let redis_url = redis.as_ref().map(PrivateRedis::url);
    let gw = gateway_with(|s| {
        s.limits.authorize.requests = 0;
        s.ephemeral.max_entries = 60;
        if let Some(url) = redis_url {
            s.ephemeral.url = url;
        }
    })
    .await;
    let b = browser();
    let mut refused = 0;
    for i in 0..20_000 {
        let res = b
            .get(authorize_url(&gw.url, &pkce(), &[]))
            .send()
            .await
            .unwrap();
        match res.status() {
            StatusCode::FOUND => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(res.text().await.unwrap().contains("tạm thời gián đoạn"));
                refused += 1;
                if refused == 5 {
                    break;
                }
            }
            other => panic!("request {i}: {other}, never anything but 302 or 503"),
        }
    }
    assert_eq!(refused, 5, "the store filled up");
    let ready = reqwest::get(format!("{}/readyz", gw.url)).await.unwrap();
    assert_eq!(
        ready.status(),
        StatusCode::OK,
        "a full store is not a dead one"
    );
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["ephemeral_store"]["condition"], "full", "{body}");
    assert!(metric(&gw.url, "vneid_ephemeral_full_total").await >= 5);
}
