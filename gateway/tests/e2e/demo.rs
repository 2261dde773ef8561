//! The demo portal as a citizen sees it: it asks for `account` too, shows each claim with a
//! Vietnamese label and times in Vietnam time, and logs out through the gateway (RP-initiated
//! logout with the ID token), coming back to its first page.

use reqwest::StatusCode;
use vneid_e2e::*;

#[actix_web::test]
async fn the_demo_shows_claims_in_vietnamese_and_logs_out() {
    let gw = spawn_embedded("[demo]\nenabled = true\n").await;
    let b = browser();
    let res = b
        .get(format!("{}/demo/login", gw.url))
        .send()
        .await
        .unwrap();
    let authorize = location(&res);
    let scopes = query(&authorize)["scope"].clone();
    assert!(
        scopes.split(' ').any(|s| s == "account"),
        "the demo asks for account: {scopes}"
    );
    let res = b.get(&authorize).send().await.unwrap();
    let callback = upstream_password_otp(&b, &location(&res), people::LEVEL2_CITIZEN).await;
    let res = b.get(&callback).send().await.unwrap();
    let demo_callback = location(&res);
    assert!(demo_callback.contains("/demo/callback?"), "{demo_callback}");
    let res = b.get(&demo_callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    for text in [
        "data-claim=\"personal_id\"",
        "Số định danh cá nhân",
        "Họ và tên",
        "Thời điểm đăng nhập",
        "(giờ Việt Nam)",
        "Mức độ 2 (urn:vneid:loa:2)",
        "15/01/1990",
        "name=\"id_token_hint\"",
        "Đăng xuất",
    ] {
        assert!(html.contains(text), "no {text:?} in\n{html}");
    }
    assert!(!html.contains("1990-01-15"), "an ISO birth date:\n{html}");
    assert!(
        !html.contains(">auth_time<"),
        "a bare claim name as a label:\n{html}"
    );

    // The logout form: the ID token names this session, so no question; back to /demo.
    let res = b
        .post(format!("{}/logout", gw.url))
        .form(&[
            ("id_token_hint", hidden(&html, "id_token_hint")),
            (
                "post_logout_redirect_uri",
                hidden(&html, "post_logout_redirect_uri"),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), format!("{}/demo", gw.url));
    // The session is over: a new login goes to the national broker again.
    let res = b
        .get(format!("{}/demo/login", gw.url))
        .send()
        .await
        .unwrap();
    let res = b.get(location(&res)).send().await.unwrap();
    assert!(location(&res).contains("/simulator/"), "{}", location(&res));
}
