//! Unit tests of the pages: escaping, the inline QR code, the login page's texts.

use super::pages::{error_page, login_page, message_page, qr_svg};
use super::Frame;
use crate::broker::{LoginView, PageError};

const FRAME: Frame<'static> = Frame {
    issuer: "http://127.0.0.1/sim",
    nonce: "n0nce",
    warning: None,
};

#[test]
fn escaping_covers_markup_and_quotes() {
    let nasty = "<a href=\"x\" title='y'>&</a>";
    let frame = Frame {
        warning: Some(nasty),
        ..FRAME
    };
    let html = message_page(&frame, "Đăng nhập", nasty).into_string();
    assert!(!html.contains(nasty));
    assert!(html.contains("&lt;a href=&quot;x&quot; title='y'&gt;&amp;&lt;/a&gt;"));
    assert!(html.contains("Đăng nhập"));
    // In an attribute value too.
    let mut e = PageError::expired();
    e.back = Some("http://x/?a=\"><script>".to_owned());
    let html = error_page(&FRAME, &e).into_string();
    assert!(html.contains("href=\"http://x/?a=&quot;&gt;&lt;script&gt;\""));
}

#[test]
fn qr_code_is_inline_svg() {
    let svg = qr_svg("vneid://login?request=abc");
    assert!(svg.starts_with("<svg"));
    assert!(!svg.contains("<?xml"));
    assert!(!svg.contains("style="));
}

#[test]
fn login_page_escapes_what_the_person_typed() {
    let v = LoginView {
        rid: "r".into(),
        qr_ref: "q".into(),
        redirect_origin: "http://x".into(),
        personal_id: "\"><script>alert(1)</script>".into(),
        error: Some("<b>".into()),
    };
    let html = login_page(&FRAME, &v).into_string();
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("&lt;b&gt;"));
    assert!(html.contains("Đăng nhập VNeID"));
    assert!(html.contains("BỘ CÔNG AN"));
    assert!(html.contains("Trung tâm dữ liệu Quốc gia về dân cư"));
    assert!(html.contains("Hoặc quét mã QR bằng ứng dụng VNeID để đăng nhập."));
    assert!(!html.contains(" style="));
    assert!(!html.contains(" onclick="));
}
