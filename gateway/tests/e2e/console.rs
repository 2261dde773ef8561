//! The IT centre's readiness page under `/admin` in a browser: logging in through VNeID as the
//! built-in console client, who may look (`admin.console_users`, staff, VNeID level 2), and
//! what the page shows (unit counts, Vietnamese reasons, masked numbers only).

use reqwest::StatusCode;
use vneid_e2e::*;
use vneid_store::AuditFilter;

use crate::directory::{admin_token, extra, import, oss_login, DIRECTORY, OSS, OSS_CB};

const CONSOLE: &str = "vneid-admin-console";
const LOGIN_LINK: &str = "Đăng nhập bằng VNeID";

/// Every personal ID number of the directory fixture, in clear.
const CLEAR_NUMBERS: [&str; 5] = [
    "052085007890",
    "052090000123",
    "052195004567",
    "052178001122",
    "05208500789",
];

fn console_config(users: &[&str]) -> String {
    let users: Vec<String> = users.iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        "{}\n[admin]\nconsole_users = [{}]\n",
        extra(),
        users.join(", ")
    )
}

/// The console's gateway with the directory fixture imported.
async fn console_gateway(users: &[&str]) -> TestGateway {
    let gw = spawn_embedded(&console_config(users)).await;
    import_directory(&gw.url).await;
    gw
}

async fn import_directory(gw: &str) {
    let admin = admin_token(gw, "admin").await;
    let (status, report) = import(gw, &admin, "", DIRECTORY, "text/csv").await;
    assert_eq!(status, StatusCode::OK, "{report}");
}

async fn page(b: &reqwest::Client, url: &str) -> (StatusCode, String) {
    let res = b.get(url).send().await.unwrap();
    let status = res.status();
    (status, res.text().await.unwrap())
}

/// `/admin/login`: checks it is an authorization request of the console client at level 2,
/// and returns its URL.
async fn console_authorize(b: &reqwest::Client, gw: &str) -> String {
    let res = b.get(format!("{gw}/admin/login")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let authorize = location(&res);
    assert!(
        authorize.starts_with(&format!("{gw}/authorize?")),
        "{authorize}"
    );
    let q = query(&authorize);
    assert_eq!(q["client_id"], CONSOLE);
    assert_eq!(q["redirect_uri"], format!("{gw}/admin/callback"));
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "openid");
    assert_eq!(q["acr_values"], "urn:vneid:loa:2");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["state"].len() >= 16, "{authorize}");
    authorize
}

/// From `/admin/login` through the simulator (password + OTP) to where the gateway's upstream
/// callback sends the browser: the console's `/admin/callback` with a code, or a page.
async fn console_login(
    b: &reqwest::Client,
    gw: &str,
    who: &str,
) -> Result<String, (StatusCode, String)> {
    let authorize = console_authorize(b, gw).await;
    let state = query(&authorize)["state"].clone();
    let res = b.get(&authorize).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FOUND,
        "authorize redirects upstream"
    );
    let upstream = location(&res);
    assert!(
        upstream.starts_with(&format!("{gw}/simulator/")),
        "{upstream}"
    );
    let callback = upstream_password_otp(b, &upstream, who).await;
    let res = b.get(&callback).send().await.unwrap();
    if res.status() != StatusCode::FOUND {
        let status = res.status();
        return Err((status, res.text().await.unwrap()));
    }
    let to = location(&res);
    assert!(
        to.starts_with(&format!("{gw}/admin/callback?")),
        "back at the console, got {to}"
    );
    let q = query(&to);
    assert_eq!(q["state"], state);
    assert_eq!(q["iss"], gw);
    assert!(q.contains_key("code"), "{to}");
    Ok(to)
}

/// The table row of `html` that starts with the cell `first`, up to its `</tr>`.
fn row_of<'a>(html: &'a str, first: &str) -> &'a str {
    let start = html
        .find(&format!("<tr>{first}"))
        .unwrap_or_else(|| panic!("no row {first} in:\n{html}"))
        + "<tr>".len();
    &html[start..start + html[start..].find("</tr>").unwrap()]
}

/// The whole login: the console's callback spends the code and sends the browser to the page.
async fn console_login_to_page(b: &reqwest::Client, gw: &str, who: &str) -> (StatusCode, String) {
    let callback = console_login(b, gw, who).await.unwrap();
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), "/admin/readiness");
    page(b, &format!("{gw}/admin/readiness")).await
}

#[actix_web::test]
async fn an_it_centre_officer_logs_in_through_vneid_level_2_and_sees_the_readiness_report() {
    let gw = console_gateway(&["cuong.lv"]).await;
    let b = browser();

    // No session: a page that offers the VNeID login, and no report.
    let (status, html) = page(&b, &format!("{}/admin/readiness", gw.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(LOGIN_LINK), "{html}");
    assert!(html.contains("href=\"/admin/login\""), "{html}");
    assert!(
        !html.contains("UBND-P01"),
        "no report before login:\n{html}"
    );
    // `/admin` leads there; the CSV is not handed out either.
    let res = b.get(format!("{}/admin", gw.url)).send().await.unwrap();
    assert_eq!(
        (res.status(), location(&res)),
        (StatusCode::FOUND, "/admin/readiness".to_owned())
    );
    let res = b
        .get(format!("{}/admin/readiness.csv", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (res.status(), location(&res)),
        (StatusCode::FOUND, "/admin/readiness".to_owned())
    );

    // The officer logs in with VNeID level 2; that very login links him to cuong.lv.
    let callback = console_login(&b, &gw.url, people::LEVEL2_OFFICER)
        .await
        .unwrap();
    let code = query(&callback)["code"].clone();
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), "/admin/readiness");

    let (status, html) = page(&b, &format!("{}/admin/readiness", gw.url)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(!html.contains(LOGIN_LINK), "{html}");
    assert!(html.contains("người xem: cuong.lv"), "{html}");
    for unit in ["UBND-P01", "UBND-P02", "BD-MOTCUA", "CONGDAN"] {
        assert!(
            html.contains(&format!("<td>{unit}</td>")),
            "{unit}:\n{html}"
        );
    }
    assert!(html.contains("<td>UBND phường Thạch Thang</td>"), "{html}");
    // UBND-P02: 3 accounts, 3 staff, 0 valid, 1 missing, 1 invalid, 1 duplicate, 0 linked.
    assert!(
        html.contains("<tr><td>UBND-P02</td><td>UBND phường Thạch Thang</td><td>3</td><td>3</td><td>0</td><td>1</td><td>1</td><td>1</td><td>0</td></tr>"),
        "{html}"
    );
    // Totals; cuong.lv counts as linked through VNeID level 2 from this login on.
    assert!(
        html.contains("<th colspan=\"2\">Tổng cộng</th><th>7</th><th>6</th><th>2</th><th>1</th><th>1</th><th>2</th><th>1</th>"),
        "{html}"
    );
    // Above the table, each unit's bars: staff linked through VNeID level 2, staff with a valid
    // number (here UBND-P01: 1 of 2 each; all units: 1 and 2 of 6), as meters with the figures.
    let bars = html.find("<ul class=\"bars\">").expect("the bars");
    assert!(
        bars < html.find("<table class=\"wide\">").unwrap(),
        "{html}"
    );
    for (name, part, whole, pct) in [
        (
            "UBND-P01 — UBND phường Hải Châu 1: Đã liên kết VNeID mức 2",
            1,
            2,
            50,
        ),
        (
            "UBND-P01 — UBND phường Hải Châu 1: Có số định danh hợp lệ",
            1,
            2,
            50,
        ),
        ("Tổng cộng: Đã liên kết VNeID mức 2", 1, 6, 16),
        ("Tổng cộng: Có số định danh hợp lệ", 2, 6, 33),
    ] {
        let meter = format!("max=\"{whole}\" value=\"{part}\"");
        let label = format!("aria-label=\"{name}, {part} trên {whole} CBCCVC ({pct}%)\"");
        assert!(
            html[bars..].contains(&meter) && html[bars..].contains(&label),
            "{label}:\n{html}"
        );
    }
    // Wide tables scroll inside the page's card.
    assert!(
        html.contains("<div class=\"scroll\" role=\"region\" tabindex=\"0\" aria-label=\"Bảng mức độ sẵn sàng theo đơn vị\"><table class=\"wide\">"),
        "{html}"
    );
    // Who must be fixed, why (in Vietnamese), with the number masked.
    assert!(
        html.contains("UBND-P02 — UBND phường Thạch Thang (3 tài khoản chưa sẵn sàng)"),
        "{html}"
    );
    let sai = row_of(&html, "<td>sai.so</td>");
    assert!(
        sai.starts_with("<td>sai.so</td><td>Võ Văn Sai</td><td>Số định danh cá nhân không hợp lệ (sai định dạng: phải gồm đúng 12 chữ số)</td>"),
        "{sai}"
    );
    assert!(sai.contains(">052******89</code>"), "{sai}");
    assert!(html.contains("Chưa có số định danh cá nhân"), "{html}");
    assert!(
        html.contains("Số định danh cá nhân trùng với tài khoản khác"),
        "{html}"
    );
    assert!(
        row_of(&html, "<td>binh.tt2</td>").contains(">052*******67</code>"),
        "{html}"
    );
    assert!(html.contains("Trần Thị Bình, bản sao"), "{html}");
    for clear in CLEAR_NUMBERS {
        assert!(!html.contains(clear), "{clear} in clear on the page");
    }

    // The CSV for a spreadsheet, for the same viewer.
    let res = b
        .get(format!("{}/admin/readiness.csv", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(res.headers()["cache-control"], "no-store");
    let csv = res.text().await.unwrap();
    assert!(
        csv.starts_with("\u{feff}unit_code,unit_name,accounts,staff,staff_valid_personal_id,"),
        "{csv}"
    );
    assert!(
        csv.contains(
            "\r\nUBND-P02,UBND phường Thạch Thang,3,3,0,1,1,1,0,0,binh.tt2 sai.so thieu.so\r\n"
        ),
        "{csv}"
    );
    assert!(csv.ends_with("\r\nTOTAL,,7,6,2,1,1,2,1,0,\r\n"), "{csv}");
    for clear in CLEAR_NUMBERS {
        assert!(!csv.contains(clear), "{clear} in clear in the CSV");
    }

    // The state was single-use: the same callback again is refused, and the code it carried
    // is gone from the store, so it can never be exchanged at /token.
    let (status, html) = page(&b, &callback).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    let key = gw
        .app
        .master
        .lookup_hash(vneid_gateway::login::NS_CODE, &code);
    assert_eq!(
        gw.app
            .ephemeral
            .get(vneid_gateway::login::NS_CODE, &key)
            .await
            .unwrap(),
        None
    );

    // The login went through the gateway like any portal's: audited, and linked.
    let audit = gw.app.db.list_audit(&AuditFilter::default()).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == "login"
        && e.outcome == "success"
        && e.client_id.as_deref() == Some(CONSOLE)
        && e.level == Some(2)));
    assert_eq!(
        audit.iter().filter(|e| e.kind == "account_linked").count(),
        1
    );
    let id = oss_login(&gw.url, people::LEVEL2_OFFICER).await.unwrap();
    assert_eq!(id["account"]["username"], "cuong.lv");
}

#[actix_web::test]
async fn a_level_2_person_whose_account_is_not_listed_sees_a_403_page() {
    let gw = console_gateway(&["cuong.lv"]).await;
    let b = browser();
    // Nguyễn Văn An, VNeID level 2, linked on this login to the citizen account an.nv.
    let (status, html) = console_login_to_page(&b, &gw.url, people::LEVEL2_CITIZEN).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("Không có quyền truy cập"), "{html}");
    assert!(html.contains("an.nv"), "{html}");
    assert!(html.contains("chưa được cấp quyền"), "{html}");
    assert!(!html.contains("UBND-P01"), "no report:\n{html}");
    // No CSV either: back to the page.
    let res = b
        .get(format!("{}/admin/readiness.csv", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (res.status(), location(&res)),
        (StatusCode::FOUND, "/admin/readiness".to_owned())
    );
    let audit = gw.app.db.list_audit(&AuditFilter::default()).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == "account_linked"));
}

#[actix_web::test]
async fn a_listed_account_that_is_not_staff_is_refused_too() {
    // Listing a citizen account by mistake does not open the page to its holder.
    let gw = console_gateway(&["cuong.lv", "an.nv"]).await;
    let b = browser();
    let (status, html) = console_login_to_page(&b, &gw.url, people::LEVEL2_CITIZEN).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("an.nv"), "{html}");
    assert!(!html.contains("UBND-P01"), "{html}");
}

#[actix_web::test]
async fn only_vneid_level_2_sessions_may_look() {
    // dung.pt is listed, but she logs in with a Vietnam Post account (level 2): the login is
    // admitted (the policy still accepts Vietnam Post here), the page is not.
    let gw = console_gateway(&["cuong.lv", "dung.pt"]).await;
    let b = browser();
    let (status, html) = console_login_to_page(&b, &gw.url, people::VNPOST).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("VNeID mức độ 2"), "{html}");
    assert!(!html.contains("UBND-P01"), "{html}");

    // A level-1 session from another portal's login does not open it either.
    let b = browser();
    let p = pkce();
    let mut u = url::Url::parse(&format!("{}/authorize", gw.url)).unwrap();
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", OSS)
        .append_pair("redirect_uri", OSS_CB)
        .append_pair("scope", "openid")
        .append_pair("state", "s")
        .append_pair("code_challenge", &p.challenge)
        .append_pair("code_challenge_method", "S256");
    assert!(matches!(
        login(&b, u.as_str(), people::LEVEL1_CITIZEN).await,
        Ended::Portal(_)
    ));
    let (status, html) = page(&b, &format!("{}/admin/readiness", gw.url)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("VNeID mức độ 2"), "{html}");

    // A level-1 person logging in at the console itself is refused by the login policy (the
    // console client asks for level 2): the refusal page links back to the console, which
    // says the login did not succeed, and no session is made.
    let b = browser();
    let (status, html) = console_login(&b, &gw.url, people::LEVEL1_CITIZEN)
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("<code>level_too_low</code>"), "{html}");
    let start = html
        .find(&format!("href=\"{}/admin/callback?", gw.url))
        .expect("a link back to the console")
        + "href=\"".len();
    let back = html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&");
    let q = query(&back);
    assert_eq!(q["error"], "access_denied");
    assert!(!q.contains_key("code"));
    let (status, html) = page(&b, &back).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("Đăng nhập không thành công"), "{html}");
    let (status, html) = page(&b, &format!("{}/admin/readiness", gw.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(LOGIN_LINK), "still anonymous:\n{html}");
}

#[actix_web::test]
async fn a_forged_console_callback_is_refused() {
    let gw = console_gateway(&["cuong.lv"]).await;
    let b = browser();
    let (status, html) = page(&b, &format!("{}/admin/callback?state=x&code=y", gw.url)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("Phiên đăng nhập đã hết hạn"), "{html}");
    let (status, _) = page(&b, &format!("{}/admin/callback?code=y", gw.url)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = page(&b, &format!("{}/admin/callback", gw.url)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Nothing changed for the browser: still anonymous.
    let (status, html) = page(&b, &format!("{}/admin/readiness", gw.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(LOGIN_LINK), "{html}");
}

#[actix_web::test]
async fn the_code_the_console_spent_cannot_be_exchanged_at_the_token_endpoint() {
    // The console client registered by the operator with a known secret, so that a code can be
    // tried at /token (the built-in one's secret is random and never shown).
    const SECRET: &str = "console-secret-0123456789-abcdefghijklmnop";
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[simulator]\nenabled = true\n{}\n[[clients]]\nclient_id = \"{CONSOLE}\"\nclient_secret = \"{SECRET}\"\nredirect_uris = [\"http://127.0.0.1:{port}/admin/callback\"]\nscopes = [\"openid\"]\nmin_level = 2\n",
        console_config(&["cuong.lv"])
    );
    let cfg = base_config(dir.path(), &extra).await;
    let settings = settings_from(&cfg, dir.path());
    let gw = start(settings, dir, Some(listener)).await;
    import_directory(&gw.url).await;

    let try_code = |code: String| {
        let gw = gw.url.clone();
        async move {
            let res = reqwest::Client::new()
                .post(format!("{gw}/token"))
                .basic_auth(CONSOLE, Some(SECRET))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", &format!("{gw}/admin/callback")),
                    (
                        "code_verifier",
                        "not-the-console-verifier-0123456789-abcdefgh",
                    ),
                ])
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body: serde_json::Value = res.json().await.unwrap();
            (
                status,
                body["error_description"].as_str().unwrap_or("").to_owned(),
            )
        }
    };

    let b = browser();
    let callback = console_login(&b, &gw.url, people::LEVEL2_OFFICER)
        .await
        .unwrap();
    let code = query(&callback)["code"].clone();
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(location(&res), "/admin/readiness");
    let (status, _) = page(&b, &format!("{}/admin/readiness", gw.url)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, why) = try_code(code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(why, "the code is unknown, expired or already used");

    // For comparison, a code the console has not spent yet is still there: /token gets as far
    // as the PKCE check (and the code is then used up).
    let res = b
        .get(console_authorize(&b, &gw.url).await)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let fresh = location(&res);
    assert!(
        fresh.starts_with(&format!("{}/admin/callback?", gw.url)),
        "the SSO session answers at once: {fresh}"
    );
    let (status, why) = try_code(query(&fresh)["code"].clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(why, "PKCE verification failed");
}

/// Whoever logged in with the wrong account is not stuck on the 403: "Đăng nhập bằng tài khoản
/// khác" asks VNeID again (`prompt=login`) even with a session, and "Đăng xuất" ends the session
/// (after the person confirms) and comes back to the page.
#[actix_web::test]
async fn the_wrong_account_can_switch_or_log_out_from_the_console() {
    let gw = console_gateway(&["cuong.lv"]).await;
    let b = browser();
    let (status, html) = console_login_to_page(&b, &gw.url, people::LEVEL2_CITIZEN).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("Đăng nhập bằng tài khoản khác"), "{html}");
    assert!(
        html.contains("href=\"/admin/login?prompt=login\""),
        "{html}"
    );
    assert!(html.contains("Đăng xuất"), "{html}");

    // Another account: a fresh login upstream although the session is there.
    let res = b
        .get(format!("{}/admin/login?prompt=login", gw.url))
        .send()
        .await
        .unwrap();
    let authorize = location(&res);
    assert_eq!(query(&authorize)["prompt"], "login");
    let res = b.get(&authorize).send().await.unwrap();
    let upstream = location(&res);
    assert!(
        upstream.starts_with(&format!("{}/simulator/", gw.url)),
        "a session does not skip the login: {upstream}"
    );
    let callback = upstream_password_otp(&b, &upstream, people::LEVEL2_OFFICER).await;
    let res = b.get(&callback).send().await.unwrap();
    let console_cb = location(&res);
    assert!(console_cb.contains("/admin/callback?"), "{console_cb}");
    let res = b.get(&console_cb).send().await.unwrap();
    assert_eq!(location(&res), "/admin/readiness");
    let (status, html) = page(&b, &format!("{}/admin/readiness", gw.url)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("cuong.lv") && html.contains("UBND-P01"),
        "{html}"
    );

    // Log out: the gateway asks, then ends the session and comes back to the console.
    let logout = html
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .find(|h| h.contains("/logout?"))
        .expect("a logout link")
        .replace("&amp;", "&");
    let (status, ask) = page(&b, &logout).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ask.contains("Bạn có muốn đăng xuất?"), "{ask}");
    let form: Vec<(String, String)> = ["client_id", "post_logout_redirect_uri", "csrf"]
        .iter()
        .map(|n| ((*n).to_owned(), hidden(&ask, n)))
        .chain([("confirm".to_owned(), "yes".to_owned())])
        .collect();
    let res = b
        .post(format!("{}/logout", gw.url))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), format!("{}/admin/readiness", gw.url));
    let (status, html) = page(&b, &format!("{}/admin/readiness", gw.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Đăng nhập bằng VNeID"),
        "the login page again: {html}"
    );
}
