use std::sync::Arc;

use chrono::NaiveDate;
use vneid_store::StoreError;

use crate::helpers::{count, login, migrated_db, t, Backend, TestDb};
use crate::on_every_backend;

async fn the_same_identity_logging_in_twice_is_the_same_person(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    let first = db
        .upsert_person_on_login(&login("dvcqg", "sub-1", Some("hash-1")))
        .await
        .unwrap();
    assert!(first.created);

    let mut again = login("dvcqg", "sub-1", Some("hash-1"));
    again.name = Some("Nguyễn Văn Bình".into());
    again.birthdate = None; // not sent this time: the stored one is kept
    again.level = 1;
    again.at = t(60);
    let second = db.upsert_person_on_login(&again).await.unwrap();
    assert_eq!(second.id, first.id);
    assert!(!second.created);
    assert_eq!(second.name.as_deref(), Some("Nguyễn Văn Bình"));
    assert_eq!(second.birthdate, NaiveDate::from_ymd_opt(1990, 5, 17));

    let pool = dir.raw().await;
    assert_eq!(count(&pool, "people").await, 1);
    assert_eq!(count(&pool, "upstream_identities").await, 1);
    let row = pool
        .fetch_i64s(
            "SELECT level, last_login, first_seen FROM upstream_identities WHERE subject = 'sub-1'",
        )
        .await;
    assert_eq!(row, vec![1, t(60).timestamp(), t(0).timestamp()]);
}

async fn a_second_upstream_identity_with_the_same_personal_id_hash_is_the_same_person(
    backend: Backend,
) {
    let (dir, db) = migrated_db(backend).await;
    let vneid = db
        .upsert_person_on_login(&login("dvcqg", "vneid-sub", Some("hash-1")))
        .await
        .unwrap();
    let mut post = login("dvcqg", "vnpost-sub", Some("hash-1"));
    post.login_idp = Some("VNPOST".into());
    let other = db.upsert_person_on_login(&post).await.unwrap();
    assert_eq!(other.id, vneid.id);
    assert!(!other.created);
    let pool = dir.raw().await;
    assert_eq!(count(&pool, "people").await, 1);
    assert_eq!(count(&pool, "upstream_identities").await, 2);
}

async fn different_personal_id_hashes_are_different_people(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    let a = db
        .upsert_person_on_login(&login("dvcqg", "sub-a", Some("hash-a")))
        .await
        .unwrap();
    let b = db
        .upsert_person_on_login(&login("dvcqg", "sub-b", Some("hash-b")))
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert!(a.created && b.created);
    assert_eq!(count(&dir.raw().await, "people").await, 2);
}

async fn identities_without_a_personal_id_never_merge(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let a = db
        .upsert_person_on_login(&login("dvcqg", "sub-a", None))
        .await
        .unwrap();
    let b = db
        .upsert_person_on_login(&login("dvcqg", "sub-b", None))
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(a.personal_id_sealed, None);
}

async fn a_person_created_without_a_personal_id_adopts_the_one_a_later_login_reports(
    backend: Backend,
) {
    let (_dir, db) = migrated_db(backend).await;
    let first = db
        .upsert_person_on_login(&login("dvcqg", "sub-a", None))
        .await
        .unwrap();
    let later = db
        .upsert_person_on_login(&login("dvcqg", "sub-a", Some("hash-a")))
        .await
        .unwrap();
    assert_eq!(later.id, first.id);
    assert_eq!(
        later.personal_id_sealed.as_deref(),
        Some(&b"sealed:hash-a"[..])
    );
    let found = db.person_by_personal_id_hash("hash-a").await.unwrap();
    assert_eq!(found.map(|p| p.id), Some(first.id));
}

async fn a_known_identity_that_reports_another_personal_id_is_refused_as_a_conflict(
    backend: Backend,
) {
    let (_dir, db) = migrated_db(backend).await;
    db.upsert_person_on_login(&login("dvcqg", "sub-a", Some("hash-a")))
        .await
        .unwrap();
    let err = db
        .upsert_person_on_login(&login("dvcqg", "sub-a", Some("hash-b")))
        .await
        .expect_err("re-binding an account to another human");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(db
        .person_by_personal_id_hash("hash-b")
        .await
        .unwrap()
        .is_none());
}

async fn people_are_found_by_id_and_by_personal_id_hash(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let p = db
        .upsert_person_on_login(&login("dvcqg", "sub-a", Some("hash-a")))
        .await
        .unwrap();
    let by_id = db.person(&p.id).await.unwrap().expect("by id");
    assert_eq!(by_id.id, p.id);
    assert!(!by_id.created);
    assert_eq!(
        by_id.personal_id_sealed.as_deref(),
        Some(&b"sealed:hash-a"[..])
    );
    assert_eq!(by_id.name.as_deref(), Some("Nguyễn Văn An"));
    assert_eq!(by_id.birthdate, NaiveDate::from_ymd_opt(1990, 5, 17));
    let by_hash = db.person_by_personal_id_hash("hash-a").await.unwrap();
    assert_eq!(by_hash.map(|p| p.id), Some(p.id));
    assert!(db.person("no-such-id").await.unwrap().is_none());
    assert!(db
        .person_by_personal_id_hash("hash-x")
        .await
        .unwrap()
        .is_none());
}

async fn person_debug_output_hides_personal_data(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let p = db
        .upsert_person_on_login(&login("dvcqg", "sub-a", Some("hash-a")))
        .await
        .unwrap();
    let shown = format!("{p:?}");
    assert!(!shown.contains("Nguyễn"), "{shown}");
    assert!(!shown.contains("1990"), "{shown}");
    assert!(!shown.contains("sealed:hash"), "{shown}");
    let shown = format!("{:?}", login("dvcqg", "sub-a", Some("hash-a")));
    assert!(!shown.contains("Nguyễn"), "{shown}");
    assert!(!shown.contains("1990"), "{shown}");
    assert!(!shown.contains("hash-a"), "{shown}");
}

async fn concurrent_first_logins(
    backend: Backend,
    logins: Vec<vneid_store::LoginUpsert>,
) -> (TestDb, Vec<String>) {
    let (dir, db) = migrated_db(backend).await;
    let db = Arc::new(db);
    let barrier = Arc::new(tokio::sync::Barrier::new(logins.len()));
    let tasks: Vec<_> = logins
        .into_iter()
        .map(|l| {
            let db = db.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                db.upsert_person_on_login(&l).await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().expect("every login succeeds").id);
    }
    (dir, ids)
}

async fn twenty_concurrent_first_logins_of_one_identity_make_exactly_one_person(backend: Backend) {
    let logins = (0..20)
        .map(|_| login("dvcqg", "sub-new", Some("hash-new")))
        .collect();
    let (dir, ids) = concurrent_first_logins(backend, logins).await;
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let pool = dir.raw().await;
    assert_eq!(count(&pool, "people").await, 1);
    assert_eq!(count(&pool, "upstream_identities").await, 1);
}

async fn twenty_concurrent_first_logins_of_one_identity_without_personal_id_make_exactly_one_person(
    backend: Backend,
) {
    let logins = (0..20).map(|_| login("dvcqg", "sub-new", None)).collect();
    let (dir, ids) = concurrent_first_logins(backend, logins).await;
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(count(&dir.raw().await, "people").await, 1);
}

async fn concurrent_first_logins_through_two_account_systems_make_exactly_one_person(
    backend: Backend,
) {
    let logins = (0..20)
        .map(|i| login("dvcqg", &format!("sub-{}", i % 2), Some("hash-new")))
        .collect();
    let (dir, ids) = concurrent_first_logins(backend, logins).await;
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let pool = dir.raw().await;
    assert_eq!(count(&pool, "people").await, 1);
    assert_eq!(count(&pool, "upstream_identities").await, 2);
}

on_every_backend! {
    the_same_identity_logging_in_twice_is_the_same_person,
    a_second_upstream_identity_with_the_same_personal_id_hash_is_the_same_person,
    different_personal_id_hashes_are_different_people,
    identities_without_a_personal_id_never_merge,
    a_person_created_without_a_personal_id_adopts_the_one_a_later_login_reports,
    a_known_identity_that_reports_another_personal_id_is_refused_as_a_conflict,
    people_are_found_by_id_and_by_personal_id_hash,
    person_debug_output_hides_personal_data,
    twenty_concurrent_first_logins_of_one_identity_make_exactly_one_person(
        flavor = "multi_thread",
        worker_threads = 4
    ),
    twenty_concurrent_first_logins_of_one_identity_without_personal_id_make_exactly_one_person(
        flavor = "multi_thread",
        worker_threads = 4
    ),
    concurrent_first_logins_through_two_account_systems_make_exactly_one_person(
        flavor = "multi_thread",
        worker_threads = 4
    ),
}
