//! Organisation accounts as people (migration 0008): never keyed by a personal ID number, found
//! again by their upstream identity or their organisation key.

use vneid_core::AccountType;
use vneid_store::{LoginUpsert, StoreError};

use crate::helpers::{count, login, migrated_before, migrated_db, t, Backend};
use crate::on_every_backend;

fn organisation(upstream: &str, subject: &str, key: Option<&str>) -> LoginUpsert {
    LoginUpsert {
        personal_id_hash: None,
        personal_id_sealed: None,
        name: Some("Công ty TNHH Thương mại Quy Nhơn".into()),
        birthdate: None,
        account_type: AccountType::Organisation,
        organisation_key: key.map(Into::into),
        organisation_sealed: key.map(|k| format!("sealed:{k}").into_bytes()),
        ..login(upstream, subject, None)
    }
}

async fn an_organisation_is_a_person_of_its_own_found_by_identity_and_by_key(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    let first = db
        .upsert_person_on_login(&organisation("dvcqg", "org-1", Some("ok-1")))
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(first.account_type, AccountType::Organisation);
    assert_eq!(first.personal_id_sealed, None);
    assert_eq!(
        first.organisation_sealed.as_deref(),
        Some(&b"sealed:ok-1"[..])
    );

    // The same identity again: the same organisation, its facts refreshed.
    let mut again = organisation("dvcqg", "org-1", Some("ok-1"));
    again.organisation_sealed = Some(b"sealed:newer".to_vec());
    again.at = t(60);
    let second = db.upsert_person_on_login(&again).await.unwrap();
    assert_eq!(
        (second.id.as_str(), second.created),
        (first.id.as_str(), false)
    );
    assert_eq!(
        second.organisation_sealed.as_deref(),
        Some(&b"sealed:newer"[..])
    );

    // Another upstream account of the same organisation (same key): the same organisation.
    let other = db
        .upsert_person_on_login(&organisation("other", "o-9", Some("ok-1")))
        .await
        .unwrap();
    assert_eq!(other.id, first.id);

    // A citizen whose personal ID hash happens to equal the organisation's key text is never
    // the organisation: the two live in separate columns.
    let citizen = db
        .upsert_person_on_login(&login("dvcqg", "citizen-1", Some("ok-1")))
        .await
        .unwrap();
    assert_ne!(citizen.id, first.id);
    assert_eq!(citizen.account_type, AccountType::Citizen);

    // Without a key: always a new organisation, found again by its identity only.
    let keyless = db
        .upsert_person_on_login(&organisation("dvcqg", "org-2", None))
        .await
        .unwrap();
    let keyless_again = db
        .upsert_person_on_login(&organisation("dvcqg", "org-2", None))
        .await
        .unwrap();
    assert_eq!(keyless.id, keyless_again.id);
    assert_ne!(keyless.id, first.id);

    let pool = dir.raw().await;
    assert_eq!(count(&pool, "people").await, 3);
    assert_eq!(
        pool.fetch_i64s("SELECT COUNT(*) FROM people WHERE personal_id_hash IS NOT NULL")
            .await,
        vec![1],
        "only the citizen has a personal ID hash"
    );
    assert_eq!(
        db.person(&first.id).await.unwrap().unwrap().account_type,
        AccountType::Organisation
    );
}

async fn an_account_that_changes_type_or_organisation_is_refused(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    db.upsert_person_on_login(&organisation("dvcqg", "org-1", Some("ok-1")))
        .await
        .unwrap();
    let err = db
        .upsert_person_on_login(&organisation("dvcqg", "org-1", Some("ok-2")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let err = db
        .upsert_person_on_login(&login("dvcqg", "org-1", Some("hash-1")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

/// An organisation account a build before account types stored as a citizen (with whatever
/// number it sent as a personal ID) gets an organisation of its own at its next login; the
/// citizen record it leaves keeps its number.
async fn an_organisation_an_earlier_build_stored_as_a_citizen_is_moved(backend: Backend) {
    let (dir, db, raw) = migrated_before(backend, "0008").await;
    raw.execute(
        "INSERT INTO people (id, created_at, updated_at, personal_id_hash, name) \
         VALUES ('p-old', 0, 0, 'hash-old', 'Công ty TNHH Thương mại Quy Nhơn')",
    )
    .await
    .unwrap();
    raw.execute(
        "INSERT INTO upstream_identities (upstream, subject, person_id, login_idp, level, \
         first_seen, last_login) VALUES ('dvcqg', 'org-1', 'p-old', 'BCA', 2, 0, 0)",
    )
    .await
    .unwrap();
    db.migrate().await.unwrap();

    let org = db
        .upsert_person_on_login(&organisation("dvcqg", "org-1", Some("ok-1")))
        .await
        .unwrap();
    assert_ne!(org.id, "p-old");
    assert_eq!(org.account_type, AccountType::Organisation);
    let pool = dir.raw().await;
    assert_eq!(
        pool.fetch_strings("SELECT person_id FROM upstream_identities WHERE subject = 'org-1'")
            .await,
        vec![org.id.clone()]
    );
    let old = db.person("p-old").await.unwrap().unwrap();
    assert_eq!(old.account_type, AccountType::Citizen);
    // Its next login finds the organisation by its identity.
    let again = db
        .upsert_person_on_login(&organisation("dvcqg", "org-1", Some("ok-1")))
        .await
        .unwrap();
    assert_eq!(again.id, org.id);
}

on_every_backend! {
    an_organisation_is_a_person_of_its_own_found_by_identity_and_by_key,
    an_account_that_changes_type_or_organisation_is_refused,
    an_organisation_an_earlier_build_stored_as_a_citizen_is_moved,
}
