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
