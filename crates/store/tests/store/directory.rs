use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use vneid_store::{
    AccountLink, AuditEvent, Database, DirectoryAccount, LinkConflict, LoginStatRow, StoreError,
    UpsertCounts,
};

use crate::helpers::{count, login, migrated_db, t, Backend};
use crate::on_every_backend;

/// An active staff account with every field set; `hash` `None` makes its number `missing`.
fn account(username: &str, hash: Option<&str>) -> DirectoryAccount {
    DirectoryAccount {
        username: username.into(),
        full_name: format!("Nguyễn Văn {username}"),
        unit_code: "UBND-HN".into(),
        unit_name: "UBND thành phố Hà Nội".into(),
        kind: "staff".into(),
        personal_id_hash: hash.map(Into::into),
        personal_id_sealed: hash.map(|h| format!("sealed:{h}").into_bytes()),
        personal_id_masked: hash.map(|_| "001*******45".into()),
        personal_id_status: if hash.is_some() { "valid" } else { "missing" }.into(),
        personal_id_problem: None,
        birth_date: NaiveDate::from_ymd_opt(1988, 2, 29),
        phone: Some("0912345678".into()),
        email: Some(format!("{username}@example.vn")),
        status: "active".into(),
        content_hash: format!("content:{username}:{}", hash.unwrap_or("-")),
        created_at: t(0),
        updated_at: t(0),
    }
}

/// `a` with another personal-ID hash (and so another content hash).
fn with_hash(a: &DirectoryAccount, hash: Option<&str>) -> DirectoryAccount {
    let mut b = account(&a.username, hash);
    b.content_hash = format!("{}|{}", a.content_hash, hash.unwrap_or("-"));
    b
}

fn counts(created: u64, updated: u64, unchanged: u64, duplicates: &[&str]) -> UpsertCounts {
    UpsertCounts {
        created,
        updated,
        unchanged,
        duplicates: duplicates.iter().map(|d| d.to_string()).collect(),
        ..UpsertCounts::default()
    }
}

async fn stored(db: &Database, username: &str) -> DirectoryAccount {
    db.directory_account(username)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{username} is not stored"))
}

async fn status_of(db: &Database, username: &str) -> String {
    stored(db, username).await.personal_id_status
}

async fn directory_accounts_round_trip_every_field(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let full = account("mot.cua.01", Some("hash-1"));
    let invalid = DirectoryAccount {
        personal_id_hash: None,
        personal_id_sealed: Some(b"sealed:0010880001".to_vec()),
        personal_id_masked: Some("001*****01".into()),
        personal_id_status: "invalid".into(),
        personal_id_problem: Some("format".into()),
        kind: "citizen".into(),
        ..account("cong.dan.02", None)
    };
    let bare = DirectoryAccount {
        full_name: "Công ty TNHH \"Ánh Dương\"; 'quoted'".into(),
        kind: "organisation".into(),
        birth_date: None,
        phone: None,
        email: None,
        ..account("to.chuc.03", None)
    };
    let got = db
        .upsert_directory_accounts(
            &[full.clone(), invalid.clone(), bare.clone()],
            t(10),
            false,
            true,
        )
        .await
        .unwrap();
    assert_eq!(got, counts(3, 0, 0, &[]));

    for expected in [full.clone(), invalid, bare] {
        let expected = DirectoryAccount {
            created_at: t(10),
            updated_at: t(10),
            ..expected
        };
        assert_eq!(stored(&db, &expected.username).await, expected);
    }
    assert_eq!(db.directory_account("nobody").await.unwrap(), None);
    let by_hash = db
        .directory_accounts_by_personal_id_hash("hash-1")
        .await
        .unwrap();
    assert_eq!(by_hash.len(), 1);
    assert_eq!(by_hash[0].username, full.username);
    assert!(db
        .directory_accounts_by_personal_id_hash("hash-2")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(db.count_directory_accounts().await.unwrap(), 3);
}

async fn reimport_counts_created_updated_unchanged_and_leaves_unchanged_rows_alone(
    backend: Backend,
) {
    let (_dir, db) = migrated_db(backend).await;
    let (a, b, c) = (
        account("a", Some("h-a")),
        account("b", Some("h-b")),
        account("c", None),
    );
    let rows = [a.clone(), b.clone(), c.clone()];
    assert_eq!(
        db.upsert_directory_accounts(&rows, t(0), false, true)
            .await
            .unwrap(),
        counts(3, 0, 0, &[])
    );
    // The same file again: nothing is written.
    assert_eq!(
        db.upsert_directory_accounts(&rows, t(100), false, true)
            .await
            .unwrap(),
        counts(0, 0, 3, &[])
    );
    for u in ["a", "b", "c"] {
        assert_eq!(stored(&db, u).await.updated_at, t(0), "{u}");
    }

    // b's phone changes, d is new.
    let b2 = DirectoryAccount {
        phone: Some("0987654321".into()),
        content_hash: "content:b:new-phone".into(),
        ..b.clone()
    };
    let d = account("d", Some("h-d"));
    assert_eq!(
        db.upsert_directory_accounts(&[a.clone(), b2.clone(), c, d], t(200), false, true)
            .await
            .unwrap(),
        counts(1, 1, 2, &[])
    );
    let b_stored = stored(&db, "b").await;
    assert_eq!(
        b_stored,
        DirectoryAccount {
            created_at: t(0),
            updated_at: t(200),
            ..b2
        }
    );
    assert_eq!(stored(&db, "a").await.updated_at, t(0));
    assert_eq!(stored(&db, "d").await.created_at, t(200));

    // An upsert never deletes: accounts missing from the input stay.
    assert_eq!(
        db.upsert_directory_accounts(&[a], t(300), false, true)
            .await
            .unwrap(),
        counts(0, 0, 1, &[])
    );
    assert_eq!(db.count_directory_accounts().await.unwrap(), 4);
}

async fn a_shared_personal_id_flags_every_holder_and_a_change_unflags_them(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let a = account("a", Some("h1"));
    let b = account("b", Some("h2"));
    let mut e = account("e", None);
    e.personal_id_status = "invalid".into();
    e.personal_id_problem = Some("unknown_province".into());
    assert_eq!(
        db.upsert_directory_accounts(&[a.clone(), b.clone(), e.clone()], t(0), false, true)
            .await
            .unwrap(),
        counts(3, 0, 0, &[])
    );

    // A second import brings c with a's number: both are flagged, b is not.
    let c = account("c", Some("h1"));
    assert_eq!(
        db.upsert_directory_accounts(std::slice::from_ref(&c), t(10), false, true)
            .await
            .unwrap(),
        counts(1, 0, 0, &["a", "c"])
    );
    assert_eq!(status_of(&db, "a").await, "duplicate");
    assert_eq!(status_of(&db, "c").await, "duplicate");
    assert_eq!(status_of(&db, "b").await, "valid");
    assert_eq!(status_of(&db, "e").await, "invalid");
    // A flag set because of another account does not make the row "updated".
    assert_eq!(stored(&db, "a").await.updated_at, t(0));

    // Re-importing c alone still reports the duplicate it is part of.
    assert_eq!(
        db.upsert_directory_accounts(std::slice::from_ref(&c), t(20), false, true)
            .await
            .unwrap(),
        counts(0, 0, 1, &["a", "c"])
    );

    // Rewriting a duplicate account (same number) keeps it flagged.
    let c_renamed = DirectoryAccount {
        full_name: "Trần Thị C".into(),
        content_hash: "content:c:renamed".into(),
        ..c.clone()
    };
    assert_eq!(
        db.upsert_directory_accounts(std::slice::from_ref(&c_renamed), t(25), false, true)
            .await
            .unwrap(),
        counts(0, 1, 0, &["a", "c"])
    );
    assert_eq!(status_of(&db, "c").await, "duplicate");

    // a's number is corrected: a is valid with its new number, and c (the other holder of
    // the old number) is valid again.
    let a2 = with_hash(&a, Some("h3"));
    assert_eq!(
        db.upsert_directory_accounts(&[a2], t(30), false, true)
            .await
            .unwrap(),
        counts(0, 1, 0, &[])
    );
    assert_eq!(status_of(&db, "a").await, "valid");
    assert_eq!(status_of(&db, "c").await, "valid");
    assert_eq!(status_of(&db, "e").await, "invalid");

    // Two rows of one file with one number; then one of them loses its number (missing):
    // the other is valid again, the one without a number is missing.
    let x = account("x", Some("h9"));
    let y = account("y", Some("h9"));
    assert_eq!(
        db.upsert_directory_accounts(&[x, y.clone()], t(40), false, true)
            .await
            .unwrap(),
        counts(2, 0, 0, &["x", "y"])
    );
    assert_eq!(
        db.upsert_directory_accounts(&[with_hash(&y, None)], t(50), false, true)
            .await
            .unwrap(),
        counts(0, 1, 0, &[])
    );
    assert_eq!(status_of(&db, "x").await, "valid");
    assert_eq!(status_of(&db, "y").await, "missing");

    // Three holders; one leaves: the two left are still duplicates (holders of the old hash
    // of an updated row are reported).
    let holders: Vec<DirectoryAccount> = ["p", "q", "r"]
        .iter()
        .map(|u| account(u, Some("h7")))
        .collect();
    assert_eq!(
        db.upsert_directory_accounts(&holders, t(60), false, true)
            .await
            .unwrap(),
        counts(3, 0, 0, &["p", "q", "r"])
    );
    assert_eq!(
        db.upsert_directory_accounts(&[with_hash(&holders[0], Some("h8"))], t(70), false, true)
            .await
            .unwrap(),
        counts(0, 1, 0, &["q", "r"])
    );
    assert_eq!(status_of(&db, "p").await, "valid");
    assert_eq!(status_of(&db, "q").await, "duplicate");
}

async fn a_dry_run_writes_nothing_and_returns_the_counts_of_the_real_run(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    let a = account("a", Some("h1"));
    let b = account("b", Some("h2"));
    assert_eq!(
        db.upsert_directory_accounts(&[a.clone(), b.clone()], t(0), false, false)
            .await
            .unwrap(),
        counts(2, 0, 0, &[])
    );
    assert_eq!(db.count_directory_accounts().await.unwrap(), 0);

    db.upsert_directory_accounts(std::slice::from_ref(&a), t(0), false, true)
        .await
        .unwrap();
    let input = [with_hash(&a, Some("h2")), b];
    let dry = db
        .upsert_directory_accounts(&input, t(10), false, false)
        .await
        .unwrap();
    assert_eq!(dry, counts(1, 1, 0, &["a", "b"]));
    // Nothing changed.
    assert_eq!(db.count_directory_accounts().await.unwrap(), 1);
    let a_stored = stored(&db, "a").await;
    assert_eq!(a_stored.personal_id_hash.as_deref(), Some("h1"));
    assert_eq!(a_stored.personal_id_status, "valid");
    assert_eq!(a_stored.updated_at, t(0));

    let real = db
        .upsert_directory_accounts(&input, t(10), false, true)
        .await
        .unwrap();
    assert_eq!(real, dry);
    assert_eq!(status_of(&db, "a").await, "duplicate");
    let pool = dir.raw().await;
    assert_eq!(count(&pool, "directory_accounts").await, 2);
}

async fn thousands_of_rows_cross_batch_boundaries(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let mut rows: Vec<DirectoryAccount> = (0..2500)
        .map(|i| {
            let mut a = account(&format!("u{i:05}"), Some(&format!("h{i}")));
            a.unit_code = if i % 2 == 0 { "EVEN" } else { "ODD" }.into();
            a
        })
        .collect();
    // One number shared across batches (first and last row), one inside a batch.
    for i in [0, 2499] {
        rows[i] = DirectoryAccount {
            unit_code: rows[i].unit_code.clone(),
            ..with_hash(&rows[i], Some("shared-far"))
        };
    }
    for i in [1200, 1201] {
        rows[i] = DirectoryAccount {
            unit_code: rows[i].unit_code.clone(),
            ..with_hash(&rows[i], Some("shared-near"))
        };
    }
    let expected_duplicates = ["u00000", "u01200", "u01201", "u02499"];
    assert_eq!(
        db.upsert_directory_accounts(&rows, t(0), false, true)
            .await
            .unwrap(),
        counts(2500, 0, 0, &expected_duplicates)
    );
    assert_eq!(db.count_directory_accounts().await.unwrap(), 2500);
    assert_eq!(
        db.upsert_directory_accounts(&rows, t(10), false, true)
            .await
            .unwrap(),
        counts(0, 0, 2500, &expected_duplicates)
    );

    // Every third row changes, across all batches.
    for (i, row) in rows.iter_mut().enumerate() {
        if i % 3 == 0 {
            row.phone = Some(format!("09{i:08}"));
            row.content_hash.push_str("|phone");
        }
    }
    assert_eq!(
        db.upsert_directory_accounts(&rows, t(20), false, true)
            .await
            .unwrap(),
        counts(0, 834, 2500 - 834, &expected_duplicates)
    );
    assert_eq!(stored(&db, "u00003").await.updated_at, t(20));
    assert_eq!(stored(&db, "u00004").await.updated_at, t(0));

    // Paging through by username; the limit is capped.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = db
            .list_directory_accounts(None, after.as_deref(), 1000)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|a| a.username.clone());
        seen.push(page.len());
    }
    assert_eq!(seen, [1000, 1000, 500]);
    assert_eq!(
        db.list_directory_accounts(None, None, 100_000)
            .await
            .unwrap()
            .len(),
        1000
    );
    let odd = db
        .list_directory_accounts(Some("ODD"), Some("u02490"), 1000)
        .await
        .unwrap();
    let names: Vec<&str> = odd.iter().map(|a| a.username.as_str()).collect();
    assert_eq!(names, ["u02491", "u02493", "u02495", "u02497", "u02499"]);
}

async fn a_username_twice_in_one_upsert_is_refused_and_nothing_is_written(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let rows = [
        account("a", Some("h1")),
        account("b", None),
        account("a", Some("h2")),
    ];
    let err = db
        .upsert_directory_accounts(&rows, t(0), false, true)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let mut valid_without_hash = account("c", None);
    valid_without_hash.personal_id_status = "valid".into();
    let err = db
        .upsert_directory_accounts(&[valid_without_hash], t(0), false, true)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(db.count_directory_accounts().await.unwrap(), 0);
}

async fn concurrent_imports_of_one_number_flag_both_holders(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    for round in 0..10 {
        let hash = format!("h-{round}");
        let (x, y) = (format!("x{round}"), format!("y{round}"));
        let (rx, ry) = (account(&x, Some(&hash)), account(&y, Some(&hash)));
        let (db1, db2) = (db.clone(), db.clone());
        let one = tokio::spawn(async move {
            db1.upsert_directory_accounts(&[rx], t(0), false, true)
                .await
        });
        let two = tokio::spawn(async move {
            db2.upsert_directory_accounts(&[ry], t(0), false, true)
                .await
        });
        one.await.unwrap().unwrap();
        two.await.unwrap().unwrap();
        assert_eq!(status_of(&db, &x).await, "duplicate", "round {round}");
        assert_eq!(status_of(&db, &y).await, "duplicate", "round {round}");
    }
}

async fn a_person(db: &Database, subject: &str) -> String {
    db.upsert_person_on_login(&login("dvcqg", subject, Some(&format!("hash-{subject}"))))
        .await
        .unwrap()
        .id
}

fn link(username: &str, person_id: &str, at: DateTime<Utc>) -> AccountLink {
    AccountLink {
        username: username.into(),
        person_id: person_id.into(),
        level: 2,
        login_idp: Some("BCA".into()),
        via: "login".into(),
        created_at: at,
    }
}

async fn links_are_one_account_to_one_person(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    db.upsert_directory_accounts(
        &[
            account("a", Some("h1")),
            account("b", Some("h2")),
            account("c", None),
        ],
        t(0),
        false,
        true,
    )
    .await
    .unwrap();
    let p1 = a_person(&db, "sub-1").await;
    let p2 = a_person(&db, "sub-2").await;

    let la = link("a", &p1, t(5));
    db.create_account_link(&la).await.unwrap();
    assert_eq!(
        db.account_link_by_username("a").await.unwrap(),
        Some(la.clone())
    );
    let (by_person, account_a) = db.account_link_by_person(&p1).await.unwrap().unwrap();
    assert_eq!(by_person, la);
    assert_eq!(account_a, stored(&db, "a").await);
    assert_eq!(db.account_link_by_person(&p2).await.unwrap(), None);

    // The account is taken; the person is taken.
    let err = db
        .create_account_link(&link("a", &p2, t(6)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("another person")),
        "{err:?}"
    );
    let err = db
        .create_account_link(&link("b", &p1, t(6)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("\"a\"")),
        "{err:?}"
    );

    let lb = AccountLink {
        level: 1,
        login_idp: None,
        via: "admin".into(),
        ..link("b", &p2, t(7))
    };
    db.create_account_link(&lb).await.unwrap();
    assert_eq!(
        db.list_account_links(None, 10).await.unwrap(),
        [la.clone(), lb.clone()]
    );
    assert_eq!(
        db.list_account_links(Some("a"), 10).await.unwrap(),
        std::slice::from_ref(&lb)
    );
    assert_eq!(
        db.list_account_links(None, 1).await.unwrap(),
        std::slice::from_ref(&la)
    );

    // A linked account can still be re-imported.
    let a2 = DirectoryAccount {
        phone: None,
        content_hash: "content:a:no-phone".into(),
        ..account("a", Some("h1"))
    };
    assert_eq!(
        db.upsert_directory_accounts(&[a2], t(8), false, true)
            .await
            .unwrap(),
        counts(0, 1, 0, &[])
    );

    assert_eq!(db.remove_account_link("a").await.unwrap(), Some(la));
    assert_eq!(db.remove_account_link("a").await.unwrap(), None);
    assert_eq!(db.account_link_by_person(&p1).await.unwrap(), None);
    // Once unlinked, the person may be linked to another account.
    db.create_account_link(&link("c", &p1, t(9))).await.unwrap();
    assert_eq!(db.list_account_links(None, 10).await.unwrap().len(), 2);
}

async fn linking_an_unknown_account_or_person_is_a_not_found_error(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    db.upsert_directory_accounts(&[account("a", Some("h1"))], t(0), false, true)
        .await
        .unwrap();
    let p1 = a_person(&db, "sub-1").await;

    let err = db
        .create_account_link(&link("ghost", &p1, t(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound(m) if m.contains("ghost")),
        "{err:?}"
    );
    let err = db
        .create_account_link(&link("a", "no-such-person", t(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound(m) if m.contains("no-such-person")),
        "{err:?}"
    );
    let err = db
        .create_account_link(&AccountLink {
            via: "import".into(),
            ..link("a", &p1, t(1))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let pool = dir.raw().await;
    assert_eq!(count(&pool, "account_links").await, 0);
}

async fn link_conflicts_are_upserted_by_person_and_listed_newest_first(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let p1 = a_person(&db, "sub-1").await;
    let p2 = a_person(&db, "sub-2").await;
    let c1 = LinkConflict {
        person_id: p1.clone(),
        reason: "several_accounts".into(),
        usernames: vec!["a".into(), "b \"quoted\"".into()],
        at: t(1),
    };
    let c2 = LinkConflict {
        person_id: p2.clone(),
        reason: "duplicate_personal_id".into(),
        usernames: vec!["c".into()],
        at: t(2),
    };
    db.record_link_conflict(&c1).await.unwrap();
    db.record_link_conflict(&c2).await.unwrap();
    assert_eq!(
        db.list_link_conflicts(10).await.unwrap(),
        [c2.clone(), c1.clone()]
    );

    let c1_again = LinkConflict {
        reason: "staff_requires_vneid_level_2".into(),
        usernames: vec![],
        at: t(3),
        ..c1
    };
    db.record_link_conflict(&c1_again).await.unwrap();
    assert_eq!(
        db.list_link_conflicts(10).await.unwrap(),
        [c1_again, c2.clone()]
    );
    assert_eq!(db.list_link_conflicts(1).await.unwrap().len(), 1);

    db.clear_link_conflict(&p1).await.unwrap();
    db.clear_link_conflict(&p1).await.unwrap();
    assert_eq!(db.list_link_conflicts(10).await.unwrap(), [c2]);

    let err = db
        .record_link_conflict(&LinkConflict {
            person_id: "no-such-person".into(),
            reason: "several_accounts".into(),
            usernames: vec![],
            at: t(4),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

async fn readiness_rows_join_accounts_with_their_links(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let mut rows = Vec::new();
    for (username, unit) in [
        ("z", "A-UNIT"),
        ("b", "B-UNIT"),
        ("a", "B-UNIT"),
        ("m", "A-UNIT"),
    ] {
        let mut a = account(username, Some(&format!("h-{username}")));
        a.unit_code = unit.into();
        a.unit_name = format!("Unit {unit}");
        rows.push(a);
    }
    let mut invalid = account("n", None);
    invalid.unit_code = "A-UNIT".into();
    invalid.personal_id_status = "invalid".into();
    invalid.personal_id_problem = Some("birth_year_mismatch".into());
    invalid.personal_id_sealed = Some(b"sealed:bad".to_vec());
    rows.push(invalid);
    db.upsert_directory_accounts(&rows, t(0), false, true)
        .await
        .unwrap();
    let p1 = a_person(&db, "sub-1").await;
    db.create_account_link(&link("b", &p1, t(1))).await.unwrap();

    let report = db.readiness_rows().await.unwrap();
    let order: Vec<(&str, &str)> = report
        .iter()
        .map(|r| (r.unit_code.as_str(), r.username.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("A-UNIT", "m"),
            ("A-UNIT", "n"),
            ("A-UNIT", "z"),
            ("B-UNIT", "a"),
            ("B-UNIT", "b")
        ]
    );
    let b = &report[4];
    assert_eq!(b.linked_level, Some(2));
    assert_eq!(b.linked_login_idp.as_deref(), Some("BCA"));
    assert_eq!(b.full_name, "Nguyễn Văn b");
    assert_eq!(b.unit_name, "Unit B-UNIT");
    assert_eq!(b.kind, "staff");
    assert_eq!(b.status, "active");
    assert_eq!(b.personal_id_status, "valid");
    assert_eq!(b.personal_id_masked.as_deref(), Some("001*******45"));
    assert_eq!(b.personal_id_sealed.as_deref(), Some(&b"sealed:h-b"[..]));
    let n = &report[1];
    assert_eq!(n.linked_level, None);
    assert_eq!(n.linked_login_idp, None);
    assert_eq!(n.personal_id_status, "invalid");
    assert_eq!(
        n.personal_id_problem.as_deref(),
        Some("birth_year_mismatch")
    );
    assert_eq!(n.personal_id_sealed.as_deref(), Some(&b"sealed:bad"[..]));

    // The same directory counted in SQL, per unit, for the gauges.
    let mut citizen = account("c", Some("h-c"));
    citizen.unit_code = "B-UNIT".into();
    citizen.unit_name = "Unit B-UNIT".into();
    citizen.kind = "citizen".into();
    db.upsert_directory_accounts(&[citizen], t(2), false, true)
        .await
        .unwrap();
    let p2 = a_person(&db, "sub-2").await;
    db.create_account_link(&link("a", &p2, t(3))).await.unwrap();
    let counts = db.readiness_unit_counts("BCA").await.unwrap();
    let got: Vec<(&str, &str, [u64; 7])> = counts
        .iter()
        .map(|c| {
            (
                c.unit_code.as_str(),
                c.unit_name.as_str(),
                [
                    c.accounts,
                    c.staff,
                    c.staff_valid_personal_id,
                    c.staff_missing_personal_id,
                    c.staff_invalid_personal_id,
                    c.staff_duplicate_personal_id,
                    c.staff_linked,
                ],
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("A-UNIT", "Unit A-UNIT", [3, 3, 2, 0, 1, 0, 0]),
            ("B-UNIT", "Unit B-UNIT", [3, 2, 2, 0, 0, 0, 2]),
        ]
    );
    // Links through another account system do not count as VNeID.
    let other = db.readiness_unit_counts("VNPOST").await.unwrap();
    assert_eq!(other[1].staff_linked, 0);
}

async fn login_stats_group_by_the_vietnam_day_and_count_distinct_people(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    // Midnight in Vietnam (UTC+7) starting 15 June 2025.
    let midnight = Utc.with_ymd_and_hms(2025, 6, 14, 17, 0, 0).unwrap();
    let s = Duration::seconds;
    let success = |at: DateTime<Utc>, person: &str, idp: &str, level: u8| {
        AuditEvent::new("login", "success")
            .at(at)
            .person_id(person)
            .login_idp(idp)
            .level(level)
    };
    let events = [
        success(midnight - s(3600), "p1", "BCA", 2),
        success(midnight - s(1), "p1", "BCA", 2),
        success(midnight, "p1", "BCA", 2),
        success(midnight + s(10), "p2", "VNPOST", 1),
        // Refused before the level and the account system were known.
        AuditEvent::new("login", "error")
            .at(midnight + s(20))
            .reason("upstream_denied"),
        AuditEvent::new("login", "denied")
            .at(midnight + s(30))
            .reason("level_too_low")
            .person_id("p2")
            .login_idp("VNPOST")
            .level(1),
        AuditEvent::new("login", "denied")
            .at(midnight + s(31))
            .reason("level_too_low")
            .person_id("p3")
            .login_idp("VNPOST")
            .level(1),
        // Not a login.
        AuditEvent::new("logout", "success")
            .at(midnight + s(40))
            .person_id("p3"),
        // Outside the range (the end is exclusive).
        success(midnight - s(7200), "p4", "BCA", 2),
        success(midnight + s(3600), "p5", "BCA", 2),
    ];
    for e in &events {
        db.append_audit(e).await.unwrap();
    }
    let from = midnight - s(7199);
    let to = midnight + s(3600);
    let stats = db.login_stats(from, to, 25_200).await.unwrap();
    let (d14, d15) = (
        NaiveDate::from_ymd_opt(2025, 6, 14).unwrap(),
        NaiveDate::from_ymd_opt(2025, 6, 15).unwrap(),
    );
    let row = |day, idp: Option<&str>, level, outcome: &str, logins, people| LoginStatRow {
        day,
        login_idp: idp.map(Into::into),
        level,
        outcome: outcome.into(),
        logins,
        people,
    };
    assert_eq!(
        stats.rows,
        [
            row(d14, Some("BCA"), Some(2), "success", 2, 1),
            row(d15, None, None, "error", 1, 0),
            row(d15, Some("BCA"), Some(2), "success", 1, 1),
            row(d15, Some("VNPOST"), Some(1), "denied", 2, 2),
            row(d15, Some("VNPOST"), Some(1), "success", 1, 1),
        ]
    );
    assert_eq!(stats.people_per_day, [(d14, 1), (d15, 2)]);
    // p1 on both days counts once; p3 was only refused.
    assert_eq!(stats.people_total, 2);

    // In UTC every one of them is on 14 June.
    let utc = db.login_stats(from, to, 0).await.unwrap();
    assert_eq!(utc.people_per_day, [(d14, 2)]);
    assert_eq!(utc.people_total, 2);
    assert_eq!(
        utc.rows.iter().map(|r| r.logins).sum::<u64>(),
        7,
        "{:?}",
        utc.rows
    );

    // An empty range.
    let none = db.login_stats(to, to, 25_200).await.unwrap();
    assert!(none.rows.is_empty() && none.people_per_day.is_empty());
    assert_eq!(none.people_total, 0);
}

/// An admin's link, its cleared conflict and its audit event are written together: a refused
/// link leaves the conflict and writes no event.
async fn an_admin_link_and_its_audit_event_are_written_together(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    db.upsert_directory_accounts(
        &[account("a", Some("h1")), account("b", Some("h2"))],
        t(0),
        false,
        true,
    )
    .await
    .unwrap();
    let p1 = a_person(&db, "sub-1").await;
    let p2 = a_person(&db, "sub-2").await;
    for p in [&p1, &p2] {
        db.record_link_conflict(&vneid_store::LinkConflict {
            person_id: p.clone(),
            reason: "several_accounts".into(),
            usernames: vec!["a".into(), "b".into()],
            at: t(1),
        })
        .await
        .unwrap();
    }
    let audit = |person: &str| {
        vneid_store::AuditEvent::new("account_linked", "success")
            .at(t(5))
            .person_id(person)
    };
    let events = |db: &vneid_store::Database| {
        let db = db.clone();
        async move {
            db.list_audit(&vneid_store::AuditFilter {
                kind: Some("account_linked".into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .len()
        }
    };
    let la = AccountLink {
        via: "admin".into(),
        ..link("a", &p1, t(5))
    };
    db.create_admin_link(&la, &audit(&p1)).await.unwrap();
    assert_eq!(db.account_link_by_username("a").await.unwrap(), Some(la));
    assert_eq!(events(&db).await, 1);
    let conflicts = db.list_link_conflicts(10).await.unwrap();
    assert_eq!(conflicts.len(), 1, "p1's conflict is cleared, p2's stays");
    assert_eq!(conflicts[0].person_id, p2);

    // The account is taken: nothing of the second link is written.
    let err = db
        .create_admin_link(
            &AccountLink {
                via: "admin".into(),
                ..link("a", &p2, t(6))
            },
            &audit(&p2),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(events(&db).await, 1);
    assert_eq!(db.list_link_conflicts(10).await.unwrap().len(), 1);
}

on_every_backend!(
    directory_accounts_round_trip_every_field,
    reimport_counts_created_updated_unchanged_and_leaves_unchanged_rows_alone,
    a_shared_personal_id_flags_every_holder_and_a_change_unflags_them,
    a_dry_run_writes_nothing_and_returns_the_counts_of_the_real_run,
    thousands_of_rows_cross_batch_boundaries,
    a_username_twice_in_one_upsert_is_refused_and_nothing_is_written,
    concurrent_imports_of_one_number_flag_both_holders(flavor = "multi_thread", worker_threads = 2),
    links_are_one_account_to_one_person,
    an_admin_link_and_its_audit_event_are_written_together,
    linking_an_unknown_account_or_person_is_a_not_found_error,
    link_conflicts_are_upserted_by_person_and_listed_newest_first,
    readiness_rows_join_accounts_with_their_links,
    login_stats_group_by_the_vietnam_day_and_count_distinct_people,
);
