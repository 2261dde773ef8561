use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

async fn userinfo_of(app: &TestApp, personal_id: &str) -> Value {
    let access = app.access_token_for(personal_id).await;
    let r = app.userinfo(&access).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    r.json().await.unwrap()
}

#[tokio::test]
async fn userinfo_carries_exactly_the_brokers_fields() {
    let app = spawn_app().await;
    let info = userinfo_of(&app, AN).await;
    let obj = info.as_object().unwrap();
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    let mut expected = vec![
        "sub",
        "TechID",
        "LoaiTaiKhoan",
        "HoVaTen",
        "SoDinhDanh",
        "NgayThangNamSinh",
        "loginIdp",
        "IAL",
        "loAs",
        "userProfileUri",
        "logoutUri",
    ];
    expected.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(keys_sorted, expected);
    assert_eq!(info["SoDinhDanh"], AN);
    assert_eq!(info["HoVaTen"], "Nguyễn Văn An");
    assert_eq!(info["NgayThangNamSinh"], "19900115");
    assert_eq!(info["IAL"], json!(2));
    assert!(info["IAL"].is_i64(), "IAL is an integer, not a string");
    assert_eq!(info["loginIdp"], "BCA");
    assert_eq!(info["LoaiTaiKhoan"], "1");
    assert_eq!(info["loAs"], "LoA1");
    assert_eq!(info["userProfileUri"], format!("{}/profile", app.base));
    assert_eq!(info["logoutUri"], format!("{}/logout", app.base));
    assert!(info["TechID"].as_str().unwrap().len() >= 32);

    // `sub` is the ID token's subject and stays the same on the next login.
    let again = userinfo_of(&app, AN).await;
    assert_eq!(again["sub"], info["sub"]);
    assert_eq!(again["TechID"], info["TechID"]);
}

#[tokio::test]
async fn each_fixture_kind_reaches_userinfo_as_recorded() {
    let app = spawn_app().await;
    let level1 = userinfo_of(&app, "052195004567").await;
    assert_eq!(level1["IAL"], json!(1));
    let post = userinfo_of(&app, "052178001122").await;
    assert_eq!(post["loginIdp"], "VNPOST");
    let old = userinfo_of(&app, "052065003344").await;
    assert_eq!(old["loginIdp"], "DVCQG");
    let mismatch = userinfo_of(&app, "052090004455").await;
    assert_eq!(mismatch["NgayThangNamSinh"], "19850412");
    let bad_id = userinfo_of(&app, "003090000789").await;
    assert_eq!(bad_id["SoDinhDanh"], "003090000789");
}

#[tokio::test]
async fn the_record_without_ial_omits_the_field() {
    let app = spawn_app().await;
    let info = userinfo_of(&app, "052301005566").await;
    assert!(info.get("IAL").is_none(), "{info}");
    assert_eq!(info["SoDinhDanh"], "052301005566");
}

#[tokio::test]
async fn a_non_integer_ial_is_sent_exactly_as_recorded() {
    let app = spawn_app().await;
    let info = userinfo_of(&app, "052192006677").await;
    assert_eq!(info["IAL"], json!("2a"));
}

#[tokio::test]
async fn field_names_rename_the_userinfo_keys() {
    let names: BTreeMap<String, String> = [
        ("SoDinhDanh", "personal_number"),
        ("IAL", "level"),
        ("HoVaTen", "name"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    let app = spawn_app_with(names).await;
    let info = userinfo_of(&app, AN).await;
    assert_eq!(info["personal_number"], AN);
    assert_eq!(info["level"], json!(2));
    assert_eq!(info["name"], "Nguyễn Văn An");
    assert!(info.get("SoDinhDanh").is_none());
    assert!(info.get("IAL").is_none());
    assert!(info.get("HoVaTen").is_none());
    assert_eq!(info["NgayThangNamSinh"], "19900115");
}

#[tokio::test]
async fn userinfo_without_a_valid_bearer_token_is_401_invalid_token() {
    let app = spawn_app().await;
    let check = |r: reqwest::Response| {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    };
    check(
        app.http
            .get(app.url("/oauth2/userinfo"))
            .send()
            .await
            .unwrap(),
    );
    check(app.userinfo("made-up").await);
    let access = app.access_token_for(AN).await;
    check(
        app.http
            .get(app.url("/oauth2/userinfo"))
            .basic_auth(&access, Some(""))
            .send()
            .await
            .unwrap(),
    );
    check(
        app.http
            .get(app.url("/oauth2/userinfo"))
            .header("authorization", format!("Bearer\u{a0}{access}").as_bytes())
            .send()
            .await
            .unwrap(),
    );
    // POST with the same header works as GET (OIDC Core §5.3.1).
    let r = app
        .http
        .post(app.url("/oauth2/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
