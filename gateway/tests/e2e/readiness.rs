//! Readiness when the national broker is down: the gateway stays in the load balancer (its
//! own stores answer), says it is degraded, counts the upstream down, and a person who starts a
//! login meets the Vietnamese 503 page rather than a connection error.

use serde_json::Value;
use vneid_e2e::*;

#[actix_web::test]
async fn a_broker_outage_degrades_readiness_and_shows_people_the_503_page() {
    // A port where nothing listens: every connection is refused.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let upstream = format!(
        "[[upstreams]]\nid = \"national\"\nissuer = \"http://127.0.0.1:{closed}\"\nclient_id = \"gw\"\nclient_secret = \"broker-secret-0123456789\"\n"
    );
    let cfg = base_config(dir.path(), &upstream).await;
    let gw = start(settings_from(&cfg, dir.path()), dir, None).await;

    let res = reqwest::get(format!("{}/readyz", gw.url)).await.unwrap();
    assert_eq!(res.status(), 200, "the gateway's own stores answer");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    assert_ne!(body["checks"]["upstream:national"], "ok", "{body}");
    assert_eq!(body["degraded"][0]["upstream"], "national", "{body}");
    assert!(metrics(&gw.url)
        .await
        .contains("vneid_upstream_up{upstream=\"national\"} 0"));

    let res = browser()
        .get(authorize_url(&gw.url, &pkce(), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("Không kết nối được hệ thống xác thực"),
        "{page}"
    );
    assert!(page.contains("Vui lòng thử lại sau ít phút"), "{page}");
}

/// `server.management_bind`: the operators' routes move to the management port; the public port
/// answers them 404 (and keeps `/healthz`), the management port answers nothing else.
#[actix_web::test]
async fn the_management_port_serves_metrics_readiness_and_the_admin_api_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = base_config(dir.path(), "[simulator]\nenabled = true\n")
        .await
        .replace(
            "bind = \"127.0.0.1:0\"",
            "bind = \"127.0.0.1:0\"\nmanagement_bind = \"127.0.0.1:0\"",
        );
    let settings = settings_from(&cfg, dir.path());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app = vneid_gateway::Application::build_on(
        settings,
        std::sync::Arc::new(vneid_core::SystemClock),
        listener,
    )
    .await
    .unwrap();
    let public = app.issuer().to_owned();
    let management = format!(
        "http://127.0.0.1:{}",
        app.management_port().expect("a management port")
    );
    actix_web::rt::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    let status = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    for path in ["/metrics", "/readyz", "/admin/v1/clients"] {
        assert_eq!(
            status(format!("{public}{path}")).await,
            404,
            "public {path}"
        );
    }
    assert_eq!(status(format!("{management}/metrics")).await, 200);
    assert_eq!(status(format!("{management}/readyz")).await, 200);
    assert_eq!(
        status(format!("{management}/admin/v1/clients")).await,
        401,
        "the admin API, asking for its bearer token"
    );
    for path in [
        "/.well-known/openid-configuration",
        "/authorize",
        "/admin/readiness",
        "/",
    ] {
        assert_eq!(
            status(format!("{management}{path}")).await,
            404,
            "management {path}"
        );
    }
    assert_eq!(status(format!("{public}/healthz")).await, 200);
    assert_eq!(status(format!("{management}/healthz")).await, 200);
    assert_eq!(
        status(format!("{public}/.well-known/openid-configuration")).await,
        200
    );
    // The public 404 is the people's page, with the headers every page carries.
    let res = http.get(format!("{public}/metrics")).send().await.unwrap();
    assert!(res.headers().contains_key("content-security-policy"));
    assert!(res.text().await.unwrap().contains("<html"));
}
