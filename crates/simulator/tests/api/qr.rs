use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn qr_approved_on_the_phone_logs_the_browser_in_as_that_person() {
    let app = spawn_app().await;
    let page = app.start_login(&[]).await;
    assert!(page.html.contains("<svg"));
    assert_eq!(page.qr_ref.len(), 22, "128-bit QR id");
    assert_ne!(page.qr_ref, page.rid);

    let status: Value = app
        .http
        .get(app.url(&format!("/qr/{}", page.rid)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "pending");

    let civil_servant = "052085007890";
    let r = app
        .post_form(
            "/phone/approve",
            &[("request", &page.qr_ref), ("personal_id", civil_servant)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let status: Value = app
        .http
        .get(app.url(&format!("/qr/{}", page.rid)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "approved");
    let next = status["redirect"].as_str().unwrap().to_owned();
    assert_eq!(next, app.url(&format!("/qr/{}/continue", page.rid)));

    let r = app.http.get(&next).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert!(to.as_str().starts_with(REDIRECT_URI));
    assert_eq!(query_param(&to, "state").as_deref(), Some("st-123"));
    let code = query_param(&to, "code").unwrap();

    let r = app.exchange(&code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: Value = r.json().await.unwrap();
    let info: Value = app
        .userinfo(tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["SoDinhDanh"], civil_servant);
    assert_eq!(info["HoVaTen"], "Lê Văn Cường");

    // Used up: a second continue and a second approval find nothing.
    let r = app.http.get(&next).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .post_form(
            "/phone/approve",
            &[("request", &page.qr_ref), ("personal_id", AN)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn continuing_before_the_phone_approves_shows_the_login_page_again() {
    let app = spawn_app().await;
    let page = app.start_login(&[]).await;
    let r = app
        .http
        .get(app.url(&format!("/qr/{}/continue", page.rid)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("location").is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains("chưa được xác nhận"));
    assert!(html.contains("Đăng nhập VNeID"));
}

#[tokio::test]
async fn qr_status_of_an_unknown_id_is_expired() {
    let app = spawn_app().await;
    for id in ["nope", "%FF%FE", "a%2Fb", &"x".repeat(5000)] {
        let r = app
            .http
            .get(app.url(&format!("/qr/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{id:.20}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], "expired");
    }
}

#[tokio::test]
async fn approving_as_an_unknown_person_or_request_is_refused() {
    let app = spawn_app().await;
    let page = app.start_login(&[]).await;
    let r = app
        .post_form(
            "/phone/approve",
            &[("request", &page.qr_ref), ("personal_id", "000000000000")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .post_form(
            "/phone/approve",
            &[("request", "nope"), ("personal_id", AN)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Nothing was approved by the refusals.
    let status: serde_json::Value = app
        .http
        .get(app.url(&format!("/qr/{}", page.rid)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "pending");
}

#[tokio::test]
async fn the_browsers_own_request_id_also_approves_and_continues() {
    // One id for poll, approve and continue: what a test that only reads the poll URL does.
    let app = spawn_app().await;
    let page = app.start_login(&[]).await;
    let r = app
        .post_form(
            "/phone/approve",
            &[("request", &page.rid), ("personal_id", AN)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app
        .http
        .get(app.url(&format!("/qr/{}/continue", page.rid)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(query_param(&location(&r), "code").is_some());
}
