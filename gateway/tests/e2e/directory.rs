//! The one-stop-shop directory end to end: import through the admin API, linking on login
//! through the simulator (the three outcomes, and the staff rule), the `account` claim, admin
//! links, the readiness and login reports.

use reqwest::StatusCode;
use serde_json::{json, Value};
use vneid_e2e::*;
use vneid_store::AuditFilter;

pub(crate) const ADMIN: &str = "it-centre";
pub(crate) const ADMIN_SECRET: &str = "it-centre-secret-0123456789-abcdefghijkl";
pub(crate) const OSS: &str = "one-stop-shop";
pub(crate) const OSS_SECRET: &str = "one-stop-shop-secret-0123456789-abcdefgh";
pub(crate) const OSS_CB: &str = "http://127.0.0.1:9/cb";

/// The IT centre's machine client and the one-stop-shop portal (level 1 admitted, so that
/// linking rules, not the login policy, decide); Vietnam Post accounts still accepted, so
/// that the staff rule can be seen.
pub(crate) fn extra() -> String {
    format!(
        r#"
[policy]
vneid_only_from = "2099-01-01"

[[clients]]
client_id = "{ADMIN}"
client_secret = "{ADMIN_SECRET}"
grant_types = ["client_credentials"]
scopes = ["admin", "admin:pii"]

[[clients]]
client_id = "{OSS}"
client_secret = "{OSS_SECRET}"
redirect_uris = ["{OSS_CB}"]
scopes = ["openid", "profile", "account"]
min_level = 1
"#
    )
}

/// A spreadsheet export as units send it: BOM, CRLF, a quoted name with a comma.
pub(crate) const DIRECTORY: &str = "\u{feff}username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email\r\n\
cuong.lv,Lê Văn Cường,UBND-P01,UBND phường Hải Châu 1,staff,052085007890,10/06/1985,0905000001,cuong@example.gov.vn\r\n\
an.nv,Nguyễn Văn An,CONGDAN,Công dân,citizen,052090000123,1990-01-15,,\r\n\
binh.tt,Trần Thị Bình,UBND-P01,UBND phường Hải Châu 1,staff,052195004567,,,\r\n\
binh.tt2,\"Trần Thị Bình, bản sao\",UBND-P02,UBND phường Thạch Thang,staff,052195004567,,,\r\n\
dung.pt,Phạm Thị Dung,BD-MOTCUA,Bưu điện - Bộ phận Một cửa,staff,052178001122,,,\r\n\
thieu.so,Hồ Thị Thiếu,UBND-P02,UBND phường Thạch Thang,staff,,,,\r\n\
sai.so,Võ Văn Sai,UBND-P02,UBND phường Thạch Thang,staff,05208500789,,,\r\n";

pub(crate) async fn admin_token(gw: &str, scope: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("{gw}/token"))
        .basic_auth(ADMIN, Some(ADMIN_SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn import(
    gw: &str,
    token: &str,
    query: &str,
    body: &str,
    content_type: &str,
) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .post(format!("{gw}/admin/v1/directory/import{query}"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

pub(crate) async fn get(gw: &str, token: &str, path: &str) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .get(format!("{gw}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Logs `who` in at the one-stop-shop portal with scope `account`; returns the ID token's
/// claims (None when the login did not reach the portal).
pub(crate) async fn oss_login(gw: &str, who: &str) -> Option<Value> {
    let b = browser();
    let p = pkce();
    let mut u = url::Url::parse(&format!("{gw}/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", OSS)
        .append_pair("redirect_uri", OSS_CB)
        .append_pair("scope", "openid profile account")
        .append_pair("state", "s")
        .append_pair("code_challenge", &p.challenge)
        .append_pair("code_challenge_method", "S256");
    let Ended::Portal(q) = login(&b, u.as_str(), who).await else {
        return None;
    };
    let res = reqwest::Client::new()
        .post(format!("{gw}/token"))
        .basic_auth(OSS, Some(OSS_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("redirect_uri", OSS_CB),
            ("code_verifier", p.verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let tokens: Value = res.json().await.unwrap();
    let id = verify(gw, tokens["id_token"].as_str().unwrap(), OSS).await;
    let info: Value = reqwest::Client::new()
        .get(format!("{gw}/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info.get("account"),
        id.get("account"),
        "userinfo and ID token agree"
    );
    Some(id)
}

#[actix_web::test]
async fn import_link_on_login_report_and_unlink() {
    let gw = spawn_embedded(&extra()).await;
    let admin = admin_token(&gw.url, "admin").await;

    // Before the import: a login links nothing.
    let id = oss_login(&gw.url, people::LEVEL2_CITIZEN).await.unwrap();
    assert!(id.get("account").is_none(), "no account yet: {id}");

    let (status, report) = import(&gw.url, &admin, "", DIRECTORY, "text/csv").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["written"], true);
    assert_eq!(report["rows"], 7);
    assert_eq!(report["created"], 7);
    assert_eq!(report["flagged"]["missing"][0]["username"], "thieu.so");
    assert_eq!(report["flagged"]["missing"][0]["line"], 7);
    assert_eq!(report["flagged"]["invalid"][0]["username"], "sai.so");
    assert_eq!(
        report["flagged"]["duplicate"],
        json!(["binh.tt", "binh.tt2"])
    );

    // The per-unit gauges follow the import at once.
    let metrics = reqwest::get(format!("{}/metrics", gw.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gauge = |unit: &str, state: &str| -> Option<String> {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("vneid_directory_staff{")
                    && l.contains(&format!("unit=\"{unit}\""))
                    && l.contains(&format!("state=\"{state}\""))
            })
            .map(|l| l.rsplit(' ').next().unwrap().to_owned())
    };
    assert_eq!(
        gauge("UBND-P02", "missing").as_deref(),
        Some("1"),
        "{metrics}"
    );
    assert_eq!(gauge("UBND-P02", "duplicate").as_deref(), Some("1"));
    assert_eq!(gauge("UBND-P01", "valid").as_deref(), Some("1"));
    assert!(
        metrics.contains("vneid_directory_accounts{unit=\"CONGDAN\"} 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("052085007890"),
        "no personal ID number in metrics"
    );

    // Idempotent: the same file again changes nothing.
    let (status, again) = import(&gw.url, &admin, "", DIRECTORY, "text/csv").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            again["created"].as_u64(),
            again["updated"].as_u64(),
            again["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(7))
    );

    // Exactly one valid match, VNeID level 2: linked, and the account is in the tokens.
    let id = oss_login(&gw.url, people::LEVEL2_OFFICER).await.unwrap();
    assert_eq!(
        id["account"],
        json!({"username": "cuong.lv", "unit_code": "UBND-P01", "unit_name": "UBND phường Hải Châu 1", "kind": "staff"})
    );
    // The gauges show the link made at login shortly after (batched, within ~10 s).
    let mut linked = None;
    for _ in 0..40 {
        let metrics = reqwest::get(format!("{}/metrics", gw.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        linked = metrics
            .lines()
            .find(|l| {
                l.starts_with("vneid_directory_staff{")
                    && l.contains("unit=\"UBND-P01\"")
                    && l.contains("state=\"linked\"")
            })
            .map(|l| l.rsplit(' ').next().unwrap().to_owned());
        if linked.as_deref() == Some("1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(linked.as_deref(), Some("1"), "the link reaches the gauges");
    // A citizen links on their next login.
    let id = oss_login(&gw.url, people::LEVEL2_CITIZEN).await.unwrap();
    assert_eq!(id["account"]["username"], "an.nv");
    assert_eq!(id["account"]["kind"], "citizen");

    // A number held by two accounts: no link, a conflict for the admin.
    let id = oss_login(&gw.url, people::LEVEL1_CITIZEN).await.unwrap();
    assert!(id.get("account").is_none(), "{id}");
    // A staff account reached through a Vietnam Post account: no link.
    let id = oss_login(&gw.url, people::VNPOST).await.unwrap();
    assert!(id.get("account").is_none(), "{id}");

    let (_, conflicts) = get(&gw.url, &admin, "/admin/v1/links/conflicts").await;
    let reasons: Vec<(&str, Value)> = conflicts["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["reason"].as_str().unwrap(), c["usernames"].clone()))
        .collect();
    assert!(
        reasons.contains(&("duplicate_personal_id", json!(["binh.tt", "binh.tt2"]))),
        "{conflicts}"
    );
    assert!(
        reasons.contains(&("staff_requires_vneid_level_2", json!(["dung.pt"]))),
        "{conflicts}"
    );

    let (_, links) = get(&gw.url, &admin, "/admin/v1/links").await;
    let linked: Vec<&str> = links["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["username"].as_str().unwrap())
        .collect();
    assert_eq!(linked, ["an.nv", "cuong.lv"]);

    // Every link and conflict was audited.
    let audit = gw.app.db.list_audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        audit.iter().filter(|e| e.kind == "account_linked").count(),
        2
    );
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.kind == "account_link" && e.outcome == "conflict")
            .count(),
        2
    );
    assert!(audit
        .iter()
        .any(|e| e.kind == "directory_import" && e.client_id.as_deref() == Some(ADMIN)));

    // Readiness: numbers from the fixture.
    let (status, r) = get(&gw.url, &admin, "/admin/v1/reports/readiness").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        r["totals"],
        json!({"accounts": 7, "staff": 6, "staff_valid_personal_id": 2, "staff_missing_personal_id": 1,
               "staff_invalid_personal_id": 1, "staff_duplicate_personal_id": 2, "staff_linked": 1,
               "staff_inactive": 0})
    );
    let p02 = r["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit_code"] == "UBND-P02")
        .unwrap();
    assert_eq!(p02["staff"], 3);
    let not_ready: Vec<(&str, &str)> = p02["not_ready"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["username"].as_str().unwrap(),
                n["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        not_ready,
        [
            ("binh.tt2", "personal_id_duplicate"),
            ("sai.so", "personal_id_invalid"),
            ("thieu.so", "personal_id_missing")
        ]
    );
    let sai = &p02["not_ready"][1];
    assert_eq!(
        sai["personal_id"], "052******89",
        "masked without admin:pii"
    );
    let pii = admin_token(&gw.url, "admin admin:pii").await;
    let (_, r) = get(&gw.url, &pii, "/admin/v1/reports/readiness").await;
    let p02 = r["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit_code"] == "UBND-P02")
        .unwrap();
    assert_eq!(
        p02["not_ready"][1]["personal_id"], "05208500789",
        "in clear with admin:pii"
    );

    // CSV for a spreadsheet.
    let csv = reqwest::Client::new()
        .get(format!("{}/admin/v1/reports/readiness?format=csv", gw.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.starts_with("\u{feff}unit_code,unit_name,accounts,staff,"),
        "{csv}"
    );
    assert!(csv.contains("\r\nTOTAL,,7,6,2,1,1,2,1,0,\r\n"), "{csv}");

    // Login statistics: every login above, by account system.
    let (status, logins) = get(&gw.url, &admin, "/admin/v1/reports/logins").await;
    assert_eq!(status, StatusCode::OK, "{logins}");
    assert_eq!(logins["totals"]["successful_logins"], 5);
    assert_eq!(logins["totals"]["vneid_logins"], 4);
    assert_eq!(logins["totals"]["people"], 4);
    assert_eq!(logins["totals"]["vneid_share"], 0.8);

    // "Xóa liên kết": the account leaves the tokens, and it is audited.
    let res = reqwest::Client::new()
        .delete(format!("{}/admin/v1/links/cuong.lv", gw.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let audit = gw.app.db.list_audit(&AuditFilter::default()).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == "account_unlinked"));
    // The next login links again (the number is still the account's only holder).
    let id = oss_login(&gw.url, people::LEVEL2_OFFICER).await.unwrap();
    assert_eq!(id["account"]["username"], "cuong.lv");
}

#[actix_web::test]
async fn admin_links_staff_only_to_vneid_level_2_and_import_refuses_bad_files() {
    let gw = spawn_embedded(&extra()).await;
    let admin = admin_token(&gw.url, "admin").await;
    let (status, _) = import(&gw.url, &admin, "", DIRECTORY, "text/csv").await;
    assert_eq!(status, StatusCode::OK);

    // The level-1 person (their number is a duplicate) logs in; an admin resolves the conflict
    // by hand — but a staff account needs a VNeID level-2 person.
    oss_login(&gw.url, people::LEVEL1_CITIZEN).await.unwrap();
    let (_, conflicts) = get(&gw.url, &admin, "/admin/v1/links/conflicts").await;
    let person = conflicts["conflicts"][0]["person_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let post = |body: Value| {
        let gw = gw.url.clone();
        let admin = admin.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{gw}/admin/v1/links"))
                .bearer_auth(admin)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let res = post(json!({"username": "binh.tt", "person_id": person})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "staff_requires_vneid_level_2"
    );
    let res = post(json!({"username": "nobody", "person_id": person})).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = post(json!({"username": "binh.tt"})).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // A level-2 VNeID person can be linked by hand to a free staff account.
    let id = oss_login(&gw.url, people::LEVEL2_CITIZEN).await.unwrap();
    assert_eq!(id["account"]["username"], "an.nv");
    let res = reqwest::Client::new()
        .delete(format!("{}/admin/v1/links/an.nv", gw.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = post(json!({"username": "thieu.so", "person_id": id["sub"]})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let link: Value = res.json().await.unwrap();
    assert_eq!(
        (link["via"].as_str(), link["level"].as_u64()),
        (Some("admin"), Some(2))
    );
    let res = post(json!({"username": "cuong.lv", "person_id": id["sub"]})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "one account per person");

    // A file with rejected rows: nothing written (422), every row named.
    let bad = "username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email\n\
new.one,Người Mới,UBND-P03,UBND phường 3,staff,052090000123,,,\n\
,Không Tên,UBND-P03,UBND phường 3,staff,,,,\n\
x.kind,Sai Loại,UBND-P03,UBND phường 3,boss,,,,\n";
    let (status, report) = import(&gw.url, &admin, "", bad, "text/csv").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(report["written"], false);
    let rejected: Vec<(u64, &str)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(rejected, [(3, "username_missing"), (4, "kind_unknown")]);
    let (status, _) = get(&gw.url, &admin, "/admin/v1/directory/accounts/new.one").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing written");
    // A dry run reports without writing; --allow-partial writes the good row.
    let (status, report) = import(
        &gw.url,
        &admin,
        "?dry_run=true&allow_partial=true",
        bad,
        "text/csv",
    )
    .await;
    assert_eq!(
        (status, report["written"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    assert_eq!(report["created"], 1);
    let (status, _) = get(&gw.url, &admin, "/admin/v1/directory/accounts/new.one").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "dry run wrote nothing");
    let (status, report) = import(&gw.url, &admin, "?allow_partial=true", bad, "text/csv").await;
    assert_eq!(
        (status, report["written"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    // new.one holds an.nv's number: both are now flagged duplicate.
    assert_eq!(report["flagged"]["duplicate"], json!(["an.nv", "new.one"]));
    let (_, account) = get(&gw.url, &admin, "/admin/v1/directory/accounts/an.nv").await;
    assert_eq!(account["personal_id_status"], "duplicate");
    assert_eq!(account["personal_id"], "052*******23");

    // JSON works the same; junk gets a clear 400, an unknown type 415.
    let (status, report) = import(&gw.url, &admin, "?dry_run=true", &json!([{"username": "j.son", "full_name": "Nguyễn Json", "unit_code": "U", "unit_name": "Đơn vị", "kind": "citizen"}]).to_string(), "application/json").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 1);
    let (status, err) = import(&gw.url, &admin, "", "{not json", "application/json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    // A query the API cannot read: an English error for the integrator, not the people's page.
    let (status, err) = get(&gw.url, &admin, "/admin/v1/directory/accounts?limit=many").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let text = err["detail"].as_str().unwrap_or_default();
    assert!(text.starts_with("query: Query deserialize error"), "{err}");
    assert!(!text.contains("Yêu cầu"), "one language per field: {err}");
    // Windows browsers label a .csv upload as Excel: read as CSV.
    let (status, report) = import(
        &gw.url,
        &admin,
        "?dry_run=true",
        DIRECTORY,
        "application/vnd.ms-excel",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["rows"], 7);
    let (status, _) = import(&gw.url, &admin, "", "x", "application/pdf").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
