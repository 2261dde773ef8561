//! "A staff account needs VNeID level 2" has one home, `link::account_reachable`; the store's SQL
//! counts (the per-unit gauges) state it once more because the store cannot depend on this
//! crate. This test holds the two together on every kind of link a database can hold.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, TimeZone as _, Utc};
use vneid_directory::import::{import, ImportOptions};
use vneid_directory::link::account_reachable;
use vneid_directory::parse::parse_csv;
use vneid_directory::report::{readiness, Disclosure};
use vneid_store::{AccountLink, Database, LoginUpsert};
use vneid_tokens::MasterKey;

const VNEID: &str = "BCA";

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 7, 1, 2, 0, 0).unwrap()
}

/// Every combination of kind, link level and account system, one account each, in units of
/// their own so that a disagreement names the combination.
const LINKS: &[(&str, u8, Option<&str>)] = &[
    ("staff", 1, Some(VNEID)),
    ("staff", 2, Some(VNEID)),
    ("staff", 2, Some("VNPOST")),
    ("staff", 2, None),
    ("staff", 1, Some("DVCQG")),
    ("citizen", 1, Some(VNEID)),
    ("citizen", 2, Some("VNPOST")),
    ("citizen", 1, None),
];

#[tokio::test]
async fn the_sql_counts_of_linked_staff_agree_with_account_reachable() {
    let db = Database::connect("sqlite::memory:", 1).await.unwrap();
    db.migrate().await.unwrap();
    let master = MasterKey::generate().unwrap();
    let mut csv = String::from(
        "username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email\r\n",
    );
    for (i, (kind, _, _)) in LINKS.iter().enumerate() {
        csv.push_str(&format!(
            "u{i},Người Thứ {i},UNIT-{i},Đơn vị {i},{kind},0520850078{i:02},,,\r\n"
        ));
    }
    let report = import(
        &db,
        &master,
        &parse_csv(csv.as_bytes()).unwrap(),
        ImportOptions::default(),
        at(),
    )
    .await
    .unwrap();
    assert!(report.written, "{report:?}");
    for (i, (_, level, idp)) in LINKS.iter().enumerate() {
        let person = db
            .upsert_person_on_login(&LoginUpsert {
                upstream: "dvcqg".into(),
                subject: format!("sub-{i}"),
                personal_id_hash: None,
                personal_id_sealed: None,
                name: None,
                birthdate: None,
                login_idp: idp.map(str::to_owned),
                level: *level,
                at: at(),
                account_type: vneid_core::AccountType::Citizen,
                organisation_key: None,
                organisation_sealed: None,
            })
            .await
            .unwrap();
        db.create_account_link(&AccountLink {
            username: format!("u{i}"),
            person_id: person.id,
            level: *level,
            login_idp: idp.map(str::to_owned),
            via: "login".into(),
            created_at: at(),
        })
        .await
        .unwrap();
    }

    let sql = db.readiness_unit_counts(VNEID).await.unwrap();
    let rows = db.readiness_rows().await.unwrap();
    let rust = readiness(&rows, VNEID, &Disclosure::Masked, at());
    for (i, (kind, level, idp)) in LINKS.iter().enumerate() {
        let unit = format!("UNIT-{i}");
        let expected = u64::from(*kind == "staff" && account_reachable(kind, *level, *idp, VNEID));
        let in_sql = sql.iter().find(|u| u.unit_code == unit).unwrap();
        let in_report = rust.units.iter().find(|u| u.unit_code == unit).unwrap();
        assert_eq!(
            (in_sql.staff_linked, in_report.counts.staff_linked),
            (expected, expected),
            "{kind} linked at level {level} through {idp:?}"
        );
    }
}
