use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn password_then_otp_redirects_to_the_client_with_a_code_and_the_state() {
    let app = spawn_app().await;
    let page = app.start_login(&[]).await;
    assert!(page.rid.len() >= 43, "request id carries at least 128 bits");

    let r = app.password(&page.rid, AN, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Mã OTP đã được gửi tới số điện thoại 09*****123"));
    assert!(html.contains("Mã OTP"));
    assert!(html.contains(">Nhập</button>"));

    let messages = app.messages().await;
    let sms = &messages[0];
    assert_eq!(sms["personal_id"], AN);
    assert_eq!(sms["phone"], "09*****123");
    assert_eq!(sms["request"], page.rid.as_str());
    assert_eq!(sms["qr"], page.qr_ref.as_str());
    let otp = sms["otp"].as_str().unwrap();
    assert_eq!(otp.len(), 6);
    assert!(otp.bytes().all(|b| b.is_ascii_digit()));
    assert!(sms["at"].as_str().unwrap().ends_with('Z'));

    let r = app
        .post_form("/otp", &[("request", &page.rid), ("otp", otp)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert!(to.as_str().starts_with(REDIRECT_URI));
    assert_eq!(query_param(&to, "state").as_deref(), Some("st-123"));
    assert!(query_param(&to, "code").unwrap().len() >= 43);

    // The request is used up: the same OTP again is refused.
    let r = app
        .post_form("/otp", &[("request", &page.rid), ("otp", otp)])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
}

#[tokio::test]
async fn wrong_password_shows_the_login_page_again_with_a_vietnamese_error() {
    let app = spawn_app().await;
    let page = app.start_login(&[]).await;
    let r = app.password(&page.rid, AN, "sai-mat-khau").await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Tài khoản hoặc mật khẩu không đúng."));
    assert!(html.contains("Đăng nhập VNeID"));
    assert!(html.contains(&format!("value=\"{}\"", page.rid)));
    assert!(
        app.messages().await.is_empty(),
        "no OTP for a wrong password"
    );

    // An unknown account gets the same message.
    let r = app.password(&page.rid, "052099999999", PASSWORD).await;
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Tài khoản hoặc mật khẩu không đúng."));

    // And the right password still works afterwards.
    let r = app.password(&page.rid, AN, PASSWORD).await;
    assert!(r.text().await.unwrap().contains("Mã OTP đã được gửi"));
}

#[tokio::test]
async fn five_wrong_passwords_cancel_the_request() {
    let app = spawn_app().await;
    let page = app.start_login(&[]).await;
    for _ in 0..4 {
        let r = app.password(&page.rid, AN, "x").await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = app.password(&page.rid, AN, "x").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.unwrap();
    assert!(html.contains("quá nhiều lần"));
    assert!(html.contains("error=access_denied"));
    let r = app.password(&page.rid, AN, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn wrong_otp_shows_an_error_and_five_wrong_codes_kill_the_request() {
    let app = spawn_app().await;
    let page = app.start_login(&[]).await;
    app.password(&page.rid, AN, PASSWORD).await;
    let otp = app.latest_otp(AN).await;
    let wrong = if otp == "000000" { "111111" } else { "000000" };

    let r = app
        .post_form("/otp", &[("request", &page.rid), ("otp", wrong)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Mã OTP không đúng."));
    assert!(html.contains("Bạn còn 4 lần thử."));

    for _ in 0..3 {
        let r = app
            .post_form("/otp", &[("request", &page.rid), ("otp", wrong)])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = app
        .post_form("/otp", &[("request", &page.rid), ("otp", wrong)])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.unwrap();
    assert!(html.contains("sai mã OTP quá số lần cho phép"));
    assert!(html.contains("Quay lại dịch vụ"));

    // Dead: even the right code no longer works, and no code was issued.
    let r = app
        .post_form("/otp", &[("request", &page.rid), ("otp", &otp)])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
}

#[tokio::test]
async fn logging_in_again_does_not_reset_the_otp_attempts() {
    let app = spawn_app().await;
    let page = app.start_login(&[]).await;
    for _ in 0..2 {
        app.password(&page.rid, AN, PASSWORD).await;
        for _ in 0..2 {
            app.post_form("/otp", &[("request", &page.rid), ("otp", "abcdef")])
                .await;
        }
    }
    app.password(&page.rid, AN, PASSWORD).await;
    let r = app
        .post_form("/otp", &[("request", &page.rid), ("otp", "abcdef")])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn otp_before_password_is_refused() {
    let app = spawn_app().await;
    let page = app.start_login(&[]).await;
    let r = app
        .post_form("/otp", &[("request", &page.rid), ("otp", "123456")])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("Chưa có mã OTP"));
}

#[tokio::test]
async fn cancelling_sends_access_denied_and_the_state_back_to_the_client() {
    let app = spawn_app().await;
    let page = app.start_login(&[]).await;
    let r = app.post_form("/cancel", &[("request", &page.rid)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert!(to.as_str().starts_with(REDIRECT_URI));
    assert_eq!(query_param(&to, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&to, "state").as_deref(), Some("st-123"));
    assert!(query_param(&to, "code").is_none());
}

#[tokio::test]
async fn login_page_is_the_vietnamese_vneid_page_with_security_headers() {
    let app = spawn_app().await;
    let r = app.authorize(&[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    let csp = h["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'nonce-"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = r.text().await.unwrap();
    for text in [
        "BỘ CÔNG AN",
        "Trung tâm dữ liệu Quốc gia về dân cư",
        "Đăng nhập VNeID",
        "Tài khoản",
        "Số định danh cá nhân",
        "Mật khẩu",
        ">Đăng nhập</button>",
        "Hoặc quét mã QR bằng ứng dụng VNeID để đăng nhập.",
        "<svg",
        "lang=\"vi\"",
    ] {
        assert!(html.contains(text), "missing {text:?}");
    }
    // Inline script and style carry the header's nonce.
    let nonce = csp
        .split("script-src 'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    assert!(html.contains(&format!("<script nonce=\"{nonce}\">")));
    assert!(html.contains(&format!("<style nonce=\"{nonce}\">")));
    // Absolute URLs are built from the issuer.
    assert!(html.contains(&format!("action=\"{}/login\"", app.base)));
}

#[tokio::test]
async fn phone_page_lists_the_sms_and_the_pending_qr_requests() {
    let app = spawn_app().await;
    let page = app.start_login(&[]).await;
    app.password(&page.rid, AN, PASSWORD).await;
    let otp = app.latest_otp(AN).await;
    let r = app.http.get(app.url("/phone")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let html = r.text().await.unwrap();
    assert!(html.contains("Điện thoại giả lập"));
    assert!(html.contains("09*****123"));
    assert!(html.contains(&otp));
    assert!(html.contains(&page.qr_ref));
    assert!(html.contains("Nguyễn Văn An"));
}

#[tokio::test]
async fn index_page_lists_the_demo_accounts() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains(AN) && html.contains(PASSWORD));
}
