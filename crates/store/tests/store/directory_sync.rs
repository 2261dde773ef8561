//! A directory that stays in sync: a sync import makes the accounts of its units it does not
//! list inactive (never deleted, links kept), a dry run only lists them, a later import
//! reactivates; usernames compare case-insensitively, the latest spelling wins and the link
//! follows; accounts that differ only by case from before the upgrade are reconciled.

use chrono::NaiveDate;
use vneid_store::{AccountLink, Database, DirectoryAccount, ACCOUNT_ACTIVE, ACCOUNT_INACTIVE};

use crate::helpers::{login, migrated_db, t, Backend};
use crate::on_every_backend;

fn account(username: &str, unit: &str, hash: &str) -> DirectoryAccount {
    DirectoryAccount {
        username: username.into(),
        full_name: format!("Trần Thị {username}"),
        unit_code: unit.into(),
        unit_name: format!("Đơn vị {unit}"),
        kind: "staff".into(),
        personal_id_hash: Some(hash.into()),
        personal_id_sealed: Some(format!("sealed:{hash}").into_bytes()),
        personal_id_masked: Some("001*******45".into()),
        personal_id_status: "valid".into(),
        personal_id_problem: None,
        birth_date: NaiveDate::from_ymd_opt(1990, 1, 1),
        phone: None,
        email: None,
        status: ACCOUNT_ACTIVE.into(),
        content_hash: format!("content:{username}:{unit}:{hash}"),
        created_at: t(0),
        updated_at: t(0),
    }
}

async fn status(db: &Database, username: &str) -> String {
    db.directory_account(username)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{username} is gone"))
        .status
}

async fn linked(db: &Database, username: &str, subject: &str) -> String {
    let person = db
        .upsert_person_on_login(&login("dvcqg", subject, Some(&format!("h-{subject}"))))
        .await
        .unwrap()
        .id;
    db.create_account_link(&AccountLink {
        username: username.into(),
        person_id: person.clone(),
        level: 2,
        login_idp: Some("BCA".into()),
        via: "login".into(),
        created_at: t(0),
    })
    .await
    .unwrap();
    person
}

async fn a_sync_deactivates_only_the_unlisted_accounts_of_the_units_it_names(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let first = [
        account("an", "P01", "h1"),
        account("binh", "P01", "h2"),
        account("cuong", "P02", "h3"),
    ];
    db.upsert_directory_accounts(&first, t(0), false, true)
        .await
        .unwrap();
    let person = linked(&db, "binh", "s-binh").await;

    // P01 sends its list again without binh; P02 sends nothing.
    let later = [account("an", "P01", "h1")];
    let dry = db
        .upsert_directory_accounts(&later, t(10), true, false)
        .await
        .unwrap();
    assert_eq!(dry.deactivated, vec!["binh".to_owned()]);
    assert_eq!(
        status(&db, "binh").await,
        ACCOUNT_ACTIVE,
        "a dry run writes nothing"
    );
    let counts = db
        .upsert_directory_accounts(&later, t(10), true, true)
        .await
        .unwrap();
    assert_eq!(counts.deactivated, vec!["binh".to_owned()]);
    assert_eq!(status(&db, "binh").await, ACCOUNT_INACTIVE);
    assert_eq!(
        status(&db, "cuong").await,
        ACCOUNT_ACTIVE,
        "another unit is untouched"
    );
    assert_eq!(
        db.count_directory_accounts().await.unwrap(),
        3,
        "nothing deleted"
    );
    let (kept, _) = db.account_link_by_person(&person).await.unwrap().unwrap();
    assert_eq!(
        kept.username, "binh",
        "the link is kept for the audit trail"
    );
    // Without sync nothing is deactivated.
    let plain = db
        .upsert_directory_accounts(&[account("an", "P01", "h1")], t(20), false, true)
        .await
        .unwrap();
    assert!(plain.deactivated.is_empty());

    // An inactive account no longer competes for its number.
    db.upsert_directory_accounts(&[account("binh-moi", "P02", "h2")], t(30), false, true)
        .await
        .unwrap();
    assert_eq!(
        db.directory_account("binh-moi")
            .await
            .unwrap()
            .unwrap()
            .personal_id_status,
        "valid"
    );

    // Listed again: active again, counted apart.
    let back = db
        .upsert_directory_accounts(&first[..2], t(40), true, true)
        .await
        .unwrap();
    assert_eq!((back.reactivated, back.unchanged), (1, 1));
    assert_eq!(status(&db, "binh").await, ACCOUNT_ACTIVE);
    assert!(back.deactivated.is_empty());
    // Both holders of h2 are active now: both flagged.
    assert_eq!(
        back.duplicates,
        vec!["binh".to_owned(), "binh-moi".to_owned()]
    );
}

async fn usernames_compare_case_insensitively_and_the_latest_spelling_wins(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    db.upsert_directory_accounts(&[account("cuonglv", "P01", "h1")], t(0), false, true)
        .await
        .unwrap();
    let person = linked(&db, "cuonglv", "s-cuong").await;
    let counts = db
        .upsert_directory_accounts(&[account("CuongLV", "P01", "h1")], t(10), true, true)
        .await
        .unwrap();
    assert_eq!((counts.created, counts.updated), (0, 1), "{counts:?}");
    assert!(counts.deactivated.is_empty(), "{counts:?}");
    assert_eq!(
        db.count_directory_accounts().await.unwrap(),
        1,
        "one account"
    );
    let stored = db.directory_account("CUONGLV").await.unwrap().unwrap();
    assert_eq!(stored.username, "CuongLV", "the latest spelling");
    let (link, held) = db.account_link_by_person(&person).await.unwrap().unwrap();
    assert_eq!(
        (link.username.as_str(), held.username.as_str()),
        ("CuongLV", "CuongLV")
    );
    // The same spelling again changes nothing.
    let again = db
        .upsert_directory_accounts(&[account("CuongLV", "P01", "h1")], t(20), true, true)
        .await
        .unwrap();
    assert_eq!(again.unchanged, 1);
}

/// Accounts a build before case-insensitive usernames stored twice (`CuongLV` next to
/// `cuonglv`) are reconciled by the upgrade: the latest stays active, the other is kept
/// inactive with its link, and a later import finds the active one.
async fn accounts_that_differ_only_by_case_are_reconciled_at_the_upgrade(backend: Backend) {
    let (_dir, db, raw) = crate::helpers::migrated_before(backend, "0007").await;
    for (username, at) in [("cuonglv", 0), ("CuongLV", 100)] {
        raw.execute(&format!(
            "INSERT INTO directory_accounts (username, full_name, unit_code, unit_name, kind, \
             personal_id_status, status, content_hash, created_at, updated_at) VALUES \
             ('{username}', 'Lê Văn Cường', 'P01', 'P01', 'staff', 'missing', 'active', \
             'c-{username}', {at}, {at})"
        ))
        .await
        .unwrap();
    }
    db.migrate().await.unwrap();
    db.check_schema().await.unwrap();
    assert_eq!(status(&db, "CuongLV").await, ACCOUNT_ACTIVE);
    let all = db.list_directory_accounts(None, None, 10).await.unwrap();
    let old = all.iter().find(|a| a.username == "cuonglv").unwrap();
    assert_eq!(old.status, ACCOUNT_INACTIVE, "kept, inactive");
    let counts = db
        .upsert_directory_accounts(&[account("cuongLV", "P01", "h9")], t(500), false, true)
        .await
        .unwrap();
    assert_eq!((counts.created, counts.updated), (0, 1), "{counts:?}");
    assert_eq!(
        db.directory_account("cuonglv")
            .await
            .unwrap()
            .unwrap()
            .username,
        "cuongLV"
    );
}

on_every_backend! {
    a_sync_deactivates_only_the_unlisted_accounts_of_the_units_it_names,
    usernames_compare_case_insensitively_and_the_latest_spelling_wins,
    accounts_that_differ_only_by_case_are_reconciled_at_the_upgrade,
}
