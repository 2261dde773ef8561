//! `[branding]`: every page says who runs the gateway and where to get help — the pages of a
//! login, a refusal, an error made from a failed request, the IT centre's page — and the logo is
//! served; without `[branding]` the pages stay neutral.

use reqwest::StatusCode;
use vneid_e2e::*;

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

fn assert_branded(what: &str, html: &str) {
    for text in [
        "UBND tỉnh Bình Định",
        "CỔNG XÁC THỰC VNEID TỈNH BÌNH ĐỊNH",
        "src=\"/branding/logo\"",
        "Hỗ trợ: ",
        "href=\"tel:02563822222\"",
        "0256 3822 222",
        "href=\"mailto:hotro@binhdinh.gov.vn\"",
    ] {
        assert!(html.contains(text), "{what}: no {text:?} in\n{html}");
    }
}

#[actix_web::test]
async fn every_page_says_who_runs_the_gateway_and_where_to_get_help() {
    let logo_dir = tempfile::tempdir().unwrap();
    let logo = logo_dir.path().join("logo.png");
    std::fs::write(&logo, PNG).unwrap();
    let extra = format!(
        r#"
[branding]
organisation = "UBND tỉnh Bình Định"
service_name = "Cổng xác thực VNeID tỉnh Bình Định"
logo_file = "{}"
support = {{ hotline = "0256 3822 222", email = "hotro@binhdinh.gov.vn" }}
"#,
        logo.display()
    );
    let gw = spawn_embedded(&extra).await;
    let b = browser();
    let get = |path: &str| {
        let b = b.clone();
        let url = format!("{}{path}", gw.url);
        async move {
            let res = b.get(url).send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };

    let (status, html) = get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert_branded("home", &html);
    assert!(
        html.contains("<h1>Cổng xác thực VNeID tỉnh Bình Định</h1>")
            && html.contains("<title>Cổng xác thực VNeID tỉnh Bình Định"),
        "the home page is named for the service:\n{html}"
    );
    let (status, html) = get("/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_branded("404", &html);
    // An error page made from a failed request, with no state at hand.
    let (status, html) = get("/authorize?client_id=nobody").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_branded("authorize error", &html);
    let (status, html) = get("/admin/readiness").await;
    assert_eq!(status, StatusCode::OK);
    assert_branded("IT centre's page", &html);
    let (status, html) = get("/logout").await;
    assert_eq!(status, StatusCode::OK);
    assert_branded("logout", &html);
    // A refusal: level 1 at a level-2 portal.
    let Ended::Page(status, html) = login(
        &b,
        &authorize_url(&gw.url, &pkce(), &[]),
        people::LEVEL1_CITIZEN,
    )
    .await
    else {
        panic!("a level-1 person is refused");
    };
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_branded("refusal", &html);

    let res = b
        .get(format!("{}/branding/logo", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().as_ref(), PNG);
}

#[actix_web::test]
async fn without_branding_the_pages_are_neutral() {
    let gw = spawn_embedded("").await;
    let html = browser()
        .get(format!("{}/", gw.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("HỆ THỐNG XÁC THỰC TẬP TRUNG"), "{html}");
    assert!(
        !html.contains("<footer") && !html.contains("/branding/logo"),
        "{html}"
    );
    let res = reqwest::get(format!("{}/branding/logo", gw.url))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[test]
fn a_logo_that_cannot_be_served_names_the_setting() {
    use vneid_gateway::config::BrandingSettings;
    use vneid_gateway::pages::branding::Branding;
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.png");
    std::fs::write(&big, vec![0u8; 300 * 1024]).unwrap();
    let gif = dir.path().join("logo.gif");
    std::fs::write(&gif, b"GIF89a").unwrap();
    for (file, says) in [
        (big, "more than 256 KiB"),
        (gif, "use a .png, .svg, .jpg or .webp"),
        (dir.path().join("missing.png"), "missing.png"),
    ] {
        let settings = BrandingSettings {
            logo_file: Some(file),
            ..BrandingSettings::default()
        };
        let e = Branding::load(&settings).unwrap_err();
        assert!(
            e.starts_with("branding.logo_file: ") && e.contains(says),
            "{e}"
        );
    }
}
