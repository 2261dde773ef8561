//! The directory stays in sync with the units' files: `?sync=true` makes the accounts of the
//! file's units it does not list inactive (a dry run lists them), an inactive account is not
//! released in the `account` claim and is counted apart in the readiness report, a later file
//! that lists it again brings it back, and usernames compare case-insensitively.

use reqwest::StatusCode;
use serde_json::json;
use vneid_e2e::*;

use crate::directory::{admin_token, extra, get, import, oss_login, DIRECTORY};

const HEADER: &str =
    "username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email\r\n";
/// CONGDAN's and UBND-P01's lists without an.nv and cuong.lv.
const LATER: &str = "hoa.pt,Phạm Thị Hoa,CONGDAN,Công dân,citizen,052190001234,,,\r\n\
binh.tt,Trần Thị Bình,UBND-P01,UBND phường Hải Châu 1,staff,052195004567,,,\r\n";

#[actix_web::test]
async fn a_sync_import_deactivates_the_accounts_a_unit_no_longer_lists() {
    let gw = spawn_embedded(&extra()).await;
    let admin = admin_token(&gw.url, "admin").await;
    let (status, _) = import(&gw.url, &admin, "", DIRECTORY, "text/csv").await;
    assert_eq!(status, StatusCode::OK);
    let id = oss_login(&gw.url, people::LEVEL2_CITIZEN).await.unwrap();
    assert_eq!(id["account"]["username"], "an.nv", "{id}");

    let later = format!("{HEADER}{LATER}");
    let (status, dry) = import(
        &gw.url,
        &admin,
        "?sync=true&dry_run=true",
        &later,
        "text/csv",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["deactivated"], json!(["an.nv", "cuong.lv"]), "{dry}");
    let (_, account) = get(&gw.url, &admin, "/admin/v1/directory/accounts/an.nv").await;
    assert_eq!(
        account["status"], "active",
        "a dry run writes nothing: {account}"
    );

    let (status, report) = import(&gw.url, &admin, "?sync=true", &later, "text/csv").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["deactivated"], json!(["an.nv", "cuong.lv"]));
    // Other units (UBND-P02, BD-MOTCUA) are untouched; nothing is deleted; the link stays.
    let (_, account) = get(&gw.url, &admin, "/admin/v1/directory/accounts/AN.NV").await;
    assert_eq!(account["status"], "inactive", "{account}");
    assert_eq!(account["link"]["username"], "an.nv", "{account}");
    let (_, thieu) = get(&gw.url, &admin, "/admin/v1/directory/accounts/thieu.so").await;
    assert_eq!(thieu["status"], "active");

    let id = oss_login(&gw.url, people::LEVEL2_CITIZEN).await.unwrap();
    assert!(
        id.get("account").is_none(),
        "an inactive account is not released: {id}"
    );
    let (_, readiness) = get(&gw.url, &admin, "/admin/v1/reports/readiness").await;
    assert_eq!(readiness["totals"]["staff_inactive"], 1, "{readiness}");
    let p01 = readiness["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit_code"] == "UBND-P01")
        .unwrap();
    assert_eq!(
        (p01["staff"].as_u64(), p01["staff_inactive"].as_u64()),
        (Some(1), Some(1))
    );

    // Listed again, in other letters: the same account, active, with the new spelling.
    let again = format!(
        "{HEADER}AN.NV,Nguyễn Văn An,CONGDAN,Công dân,citizen,052090000123,1990-01-15,,\r\n"
    );
    let (status, back) = import(&gw.url, &admin, "", &again, "text/csv").await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(
        (back["created"].as_u64(), back["reactivated"].as_u64()),
        (Some(0), Some(1)),
        "{back}"
    );
    let id = oss_login(&gw.url, people::LEVEL2_CITIZEN).await.unwrap();
    assert_eq!(id["account"]["username"], "AN.NV", "{id}");
}
