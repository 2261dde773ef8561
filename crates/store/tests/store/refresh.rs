use std::sync::Arc;
use std::time::Duration;

use vneid_store::{Database, NewRefreshFamily, RefreshFamily, RotateOutcome, StoreError};

use crate::helpers::{count, login, migrated_db, t, Backend, TestDb};
use crate::on_every_backend;

const GRACE: Duration = Duration::from_secs(30);
const EXPIRES: i64 = 8 * 3600;

/// A person to hang families on (the family's person is a foreign key).
async fn person(db: &Database, subject: &str) -> String {
    db.upsert_person_on_login(&login("dvcqg", subject, None))
        .await
        .unwrap()
        .id
}

fn new_family(family_id: &str, person_id: &str, sid: &str) -> NewRefreshFamily {
    NewRefreshFamily {
        family_id: family_id.into(),
        client_id: "portal".into(),
        person_id: person_id.into(),
        scopes: vec!["openid".into(), "profile".into(), "offline_access".into()],
        sid: sid.into(),
        auth_time: t(-5),
        level: 2,
        idp: "dvcqg".into(),
        login_idp: Some("BCA".into()),
        dpop_jkt: None,
        created_at: t(0),
        expires_at: t(EXPIRES),
    }
}

/// `new` as the store returns it before any revocation.
fn stored(new: &NewRefreshFamily) -> RefreshFamily {
    RefreshFamily {
        family_id: new.family_id.clone(),
        client_id: new.client_id.clone(),
        person_id: new.person_id.clone(),
        scopes: new.scopes.clone(),
        sid: new.sid.clone(),
        auth_time: new.auth_time,
        level: new.level,
        idp: new.idp.clone(),
        login_idp: new.login_idp.clone(),
        dpop_jkt: new.dpop_jkt.clone(),
        created_at: new.created_at,
        expires_at: new.expires_at,
        revoked_at: None,
        revoked_reason: None,
    }
}

/// A migrated database with one person and the family `fam-1` (client `portal`, sid `sid-1`)
/// whose first token is `h0`.
async fn with_family(backend: Backend) -> (TestDb, Database, RefreshFamily) {
    let (dir, db) = migrated_db(backend).await;
    let person_id = person(&db, "sub-1").await;
    let family = new_family("fam-1", &person_id, "sid-1");
    db.create_refresh_family(&family, "h0").await.unwrap();
    (dir, db, stored(&family))
}

async fn rotate(db: &Database, old: &str, new: &str, at: i64) -> RotateOutcome {
    db.rotate_refresh_token(old, new, "portal", t(at), GRACE)
        .await
        .unwrap()
}

async fn is_current(db: &Database, hash: &str) -> bool {
    db.refresh_token(hash)
        .await
        .unwrap()
        .is_some_and(|r| r.used_at.is_none())
}

async fn a_created_family_is_found_by_its_first_token(backend: Backend) {
    let (_dir, db, family) = with_family(backend).await;
    assert_eq!(
        db.refresh_family_by_token("h0").await.unwrap(),
        Some(family.clone())
    );
    let record = db.refresh_token("h0").await.unwrap().expect("stored");
    assert_eq!(record.token_hash, "h0");
    assert_eq!(record.created_at, t(0));
    assert_eq!(record.used_at, None);
    assert_eq!(record.replaced_by, None);
    assert_eq!(record.family, family);
    assert!(record.is_active(t(1)));
    assert!(db.refresh_family_by_token("nope").await.unwrap().is_none());
    assert!(db.refresh_token("nope").await.unwrap().is_none());

    // No scopes, no login_idp, level 1: kept as given.
    let mut bare = new_family("fam-bare", &family.person_id, "sid-2");
    bare.scopes = vec![];
    bare.login_idp = None;
    bare.level = 1;
    db.create_refresh_family(&bare, "bare-0").await.unwrap();
    assert_eq!(
        db.refresh_family_by_token("bare-0").await.unwrap(),
        Some(stored(&bare))
    );
}

/// A family bound to a DPoP key (a public client's, RFC 9449 §5) keeps the key's thumbprint
/// through rotation: every read of it, and the rotation's answer, name the key.
async fn a_bound_family_keeps_its_dpop_key_through_rotation(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let person_id = person(&db, "sub-1").await;
    let mut bound = new_family("fam-bound", &person_id, "sid-1");
    let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    bound.dpop_jkt = Some(jkt.into());
    db.create_refresh_family(&bound, "b0").await.unwrap();
    let read = db.refresh_family_by_token("b0").await.unwrap().unwrap();
    assert_eq!(read, stored(&bound));
    match rotate(&db, "b0", "b1", 10).await {
        RotateOutcome::Rotated(f) => assert_eq!(f.dpop_jkt.as_deref(), Some(jkt)),
        other => panic!("{other:?}"),
    }
    let record = db.refresh_token("b1").await.unwrap().unwrap();
    assert_eq!(record.family.dpop_jkt.as_deref(), Some(jkt));
    match rotate(&db, "b0", "b2", 11).await {
        RotateOutcome::WithinGrace { family, .. } => {
            assert_eq!(family.dpop_jkt.as_deref(), Some(jkt))
        }
        other => panic!("{other:?}"),
    }
}

async fn a_rotation_chain_of_five_keeps_one_family_with_only_the_newest_token_current(
    backend: Backend,
) {
    let (dir, db, family) = with_family(backend).await;
    for i in 0..5_i64 {
        let outcome = rotate(&db, &format!("h{i}"), &format!("h{}", i + 1), 10 * (i + 1)).await;
        assert_eq!(outcome, RotateOutcome::Rotated(family.clone()), "step {i}");
    }
    for i in 0..5_i64 {
        let record = db.refresh_token(&format!("h{i}")).await.unwrap().unwrap();
        assert_eq!(record.used_at, Some(t(10 * (i + 1))), "h{i}");
        assert_eq!(record.replaced_by, Some(format!("h{}", i + 1)), "h{i}");
        assert!(!record.is_active(t(60)));
        assert_eq!(record.family, family);
    }
    let newest = db.refresh_token("h5").await.unwrap().unwrap();
    assert_eq!(newest.created_at, t(50));
    assert!(newest.is_active(t(60)));
    assert_eq!(count(&dir.raw().await, "refresh_tokens").await, 6);
    assert_eq!(count(&dir.raw().await, "refresh_families").await, 1);
    assert_eq!(
        rotate(&db, "h5", "h6", 60).await,
        RotateOutcome::Rotated(family)
    );
}

async fn an_old_token_presented_within_grace_names_its_replacement_and_changes_nothing(
    backend: Backend,
) {
    let (_dir, db, family) = with_family(backend).await;
    rotate(&db, "h0", "h1", 10).await;
    // 29 s after its use: less than the 30 s grace.
    assert_eq!(
        rotate(&db, "h0", "retry", 39).await,
        RotateOutcome::WithinGrace {
            family: family.clone(),
            replaced_by: "h1".into(),
        }
    );
    assert!(db.refresh_token("retry").await.unwrap().is_none());
    assert!(is_current(&db, "h1").await);
    let h0 = db.refresh_token("h0").await.unwrap().unwrap();
    assert_eq!(h0.used_at, Some(t(10)), "the first use is kept");
    assert_eq!(
        rotate(&db, "h1", "h2", 40).await,
        RotateOutcome::Rotated(family)
    );
}

async fn reuse_after_grace_revokes_the_family_and_its_newest_token_is_then_invalid(
    backend: Backend,
) {
    let (_dir, db, family) = with_family(backend).await;
    rotate(&db, "h0", "h1", 10).await;
    rotate(&db, "h1", "h2", 20).await;
    // h0 was used at t(10); 30 s later is no longer *less* than the grace.
    let revoked = RefreshFamily {
        revoked_at: Some(t(40)),
        revoked_reason: Some(RefreshFamily::REVOKED_FOR_REUSE.into()),
        ..family
    };
    assert_eq!(
        rotate(&db, "h0", "stolen", 40).await,
        RotateOutcome::Reused(revoked.clone())
    );
    assert_eq!(RefreshFamily::REVOKED_FOR_REUSE, "reuse");
    assert!(db.refresh_token("stolen").await.unwrap().is_none());
    // The legitimate holder's newest token is dead too.
    assert_eq!(rotate(&db, "h2", "h3", 41).await, RotateOutcome::Invalid);
    assert!(db.refresh_token("h3").await.unwrap().is_none());
    assert!(is_current(&db, "h2").await, "Invalid changes nothing");
    // Presenting the reused token again changes nothing either: the first revocation stays.
    assert_eq!(
        rotate(&db, "h0", "again", 100).await,
        RotateOutcome::Invalid
    );
    assert_eq!(
        db.refresh_family_by_token("h2").await.unwrap(),
        Some(revoked.clone())
    );
    assert!(!db
        .refresh_token("h2")
        .await
        .unwrap()
        .unwrap()
        .is_active(t(41)));
    assert!(!revoked.is_active(t(41)));
}

async fn a_token_presented_by_another_client_is_invalid_and_changes_nothing(backend: Backend) {
    let (_dir, db, family) = with_family(backend).await;
    let other = |old: &'static str, new: &'static str, at: i64| {
        let db = db.clone();
        async move {
            db.rotate_refresh_token(old, new, "other-portal", t(at), GRACE)
                .await
                .unwrap()
        }
    };
    // Its current token.
    assert_eq!(other("h0", "x1", 5).await, RotateOutcome::Invalid);
    assert!(is_current(&db, "h0").await);
    assert!(db.refresh_token("x1").await.unwrap().is_none());
    // A used token, within and past the grace: no grace answer, no revocation.
    rotate(&db, "h0", "h1", 10).await;
    assert_eq!(other("h0", "x2", 11).await, RotateOutcome::Invalid);
    assert_eq!(other("h0", "x3", 1000).await, RotateOutcome::Invalid);
    assert_eq!(
        db.refresh_family_by_token("h0").await.unwrap(),
        Some(family.clone())
    );
    assert_eq!(
        rotate(&db, "h1", "h2", 1001).await,
        RotateOutcome::Rotated(family)
    );
}

async fn an_expired_family_is_invalid_from_its_expiry_on(backend: Backend) {
    let (_dir, db, family) = with_family(backend).await;
    assert_eq!(
        rotate(&db, "h0", "h1", EXPIRES - 1).await,
        RotateOutcome::Rotated(family.clone())
    );
    assert_eq!(
        rotate(&db, "h1", "h2", EXPIRES).await,
        RotateOutcome::Invalid
    );
    assert!(is_current(&db, "h1").await, "Invalid changes nothing");
    assert!(db.refresh_token("h2").await.unwrap().is_none());
    // A used token of an expired family is not a reuse: nothing is revoked.
    assert_eq!(
        rotate(&db, "h0", "h3", EXPIRES + 600).await,
        RotateOutcome::Invalid
    );
    let record = db.refresh_token("h1").await.unwrap().unwrap();
    assert_eq!(record.family, family);
    assert!(!record.is_active(t(EXPIRES)));
    assert!(record.is_active(t(EXPIRES - 1)));
    // And an unknown hash.
    assert_eq!(
        rotate(&db, "never-issued", "h4", 1).await,
        RotateOutcome::Invalid
    );
}

async fn a_revoked_family_is_invalid_and_keeps_its_first_revocation(backend: Backend) {
    let (_dir, db, family) = with_family(backend).await;
    assert!(db
        .revoke_refresh_family("fam-1", "revoked", t(5))
        .await
        .unwrap());
    assert!(!db
        .revoke_refresh_family("fam-1", "admin", t(6))
        .await
        .unwrap());
    assert!(!db
        .revoke_refresh_family("no-such-family", "admin", t(6))
        .await
        .unwrap());
    let revoked = RefreshFamily {
        revoked_at: Some(t(5)),
        revoked_reason: Some("revoked".into()),
        ..family
    };
    assert_eq!(
        db.refresh_family_by_token("h0").await.unwrap(),
        Some(revoked)
    );
    assert_eq!(rotate(&db, "h0", "h1", 10).await, RotateOutcome::Invalid);
    assert!(is_current(&db, "h0").await);
    assert!(!db
        .refresh_token("h0")
        .await
        .unwrap()
        .unwrap()
        .is_active(t(10)));
}

async fn logout_revokes_every_family_of_the_session_and_no_other(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let p = person(&db, "sub-1").await;
    for (id, sid) in [("fam-a", "sid-1"), ("fam-b", "sid-1"), ("fam-c", "sid-2")] {
        db.create_refresh_family(&new_family(id, &p, sid), &format!("{id}-0"))
            .await
            .unwrap();
    }
    assert_eq!(
        db.revoke_refresh_families_by_sid("sid-1", "logout", t(20))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        db.revoke_refresh_families_by_sid("sid-1", "logout", t(30))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        db.revoke_refresh_families_by_sid("sid-unknown", "logout", t(30))
            .await
            .unwrap(),
        0
    );
    for token in ["fam-a-0", "fam-b-0"] {
        let f = db.refresh_family_by_token(token).await.unwrap().unwrap();
        assert_eq!(f.revoked_at, Some(t(20)), "{token}");
        assert_eq!(f.revoked_reason.as_deref(), Some("logout"), "{token}");
        assert_eq!(rotate(&db, token, "x", 21).await, RotateOutcome::Invalid);
    }
    assert!(matches!(
        rotate(&db, "fam-c-0", "fam-c-1", 21).await,
        RotateOutcome::Rotated(f) if f.family_id == "fam-c"
    ));
}

async fn revoking_by_client_ends_only_that_clients_families(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let p = person(&db, "sub-1").await;
    for (id, client) in [("fam-a", "portal"), ("fam-b", "portal"), ("fam-c", "other")] {
        let mut f = new_family(id, &p, "sid-1");
        f.client_id = client.into();
        db.create_refresh_family(&f, &format!("{id}-0"))
            .await
            .unwrap();
    }
    assert_eq!(
        db.revoke_refresh_families_by_client("portal", "client_deleted", t(20))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        rotate(&db, "fam-a-0", "x", 21).await,
        RotateOutcome::Invalid
    );
    let c = db
        .refresh_family_by_token("fam-c-0")
        .await
        .unwrap()
        .unwrap();
    assert!(c.is_active(t(21)));
}

async fn purge_deletes_expired_families_with_their_tokens_and_keeps_the_rest(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    let p = person(&db, "sub-1").await;
    let mut old = new_family("fam-old", &p, "sid-1");
    old.expires_at = t(100);
    db.create_refresh_family(&old, "old-0").await.unwrap();
    rotate(&db, "old-0", "old-1", 10).await;
    db.create_refresh_family(&new_family("fam-live", &p, "sid-1"), "live-0")
        .await
        .unwrap();
    db.create_refresh_family(&new_family("fam-revoked", &p, "sid-2"), "revoked-0")
        .await
        .unwrap();
    db.revoke_refresh_family("fam-revoked", "logout", t(20))
        .await
        .unwrap();

    assert_eq!(db.purge_expired_refresh_families(t(99)).await.unwrap(), 0);
    assert_eq!(db.purge_expired_refresh_families(t(100)).await.unwrap(), 1);
    assert_eq!(db.purge_expired_refresh_families(t(100)).await.unwrap(), 0);

    for token in ["old-0", "old-1"] {
        assert!(db.refresh_family_by_token(token).await.unwrap().is_none());
        assert!(db.refresh_token(token).await.unwrap().is_none());
    }
    assert_eq!(
        rotate(&db, "old-1", "old-2", 101).await,
        RotateOutcome::Invalid
    );
    // Revoked but not yet expired: kept, still answering Invalid.
    assert!(db
        .refresh_family_by_token("revoked-0")
        .await
        .unwrap()
        .is_some());
    let raw = dir.raw().await;
    assert_eq!(count(&raw, "refresh_families").await, 2);
    assert_eq!(count(&raw, "refresh_tokens").await, 2);
}

async fn creating_a_family_refuses_duplicates_an_unknown_person_and_unstorable_scopes(
    backend: Backend,
) {
    let (dir, db, family) = with_family(backend).await;
    let p = family.person_id.clone();

    let err = db
        .create_refresh_family(&new_family("fam-1", &p, "sid-9"), "other-hash")
        .await
        .expect_err("duplicate family id");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    // A new family whose first token hash is taken: nothing of it is kept.
    let err = db
        .create_refresh_family(&new_family("fam-2", &p, "sid-9"), "h0")
        .await
        .expect_err("duplicate token hash");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    let err = db
        .create_refresh_family(&new_family("fam-3", "no-such-person", "sid-9"), "h-3")
        .await
        .expect_err("unknown person");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    for bad in ["two words", ""] {
        let mut f = new_family("fam-4", &p, "sid-9");
        f.scopes = vec!["openid".into(), bad.into()];
        let err = db
            .create_refresh_family(&f, "h-4")
            .await
            .expect_err("unstorable scope");
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    }

    let raw = dir.raw().await;
    assert_eq!(count(&raw, "refresh_families").await, 1);
    assert_eq!(count(&raw, "refresh_tokens").await, 1);
    assert_eq!(
        db.refresh_family_by_token("h0").await.unwrap(),
        Some(family)
    );
}

async fn rotating_to_a_hash_already_stored_is_a_conflict_and_changes_nothing(backend: Backend) {
    let (_dir, db, family) = with_family(backend).await;
    db.create_refresh_family(&new_family("fam-2", &family.person_id, "sid-2"), "taken")
        .await
        .unwrap();
    for new in ["taken", "h0"] {
        let err = db
            .rotate_refresh_token("h0", new, "portal", t(10), GRACE)
            .await
            .expect_err("new hash already stored");
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert!(is_current(&db, "h0").await);
    }
    assert_eq!(
        rotate(&db, "h0", "h1", 11).await,
        RotateOutcome::Rotated(family)
    );
}

/// Presents `h0` from `n` tasks at once, each with a new hash of its own (`new-{i}`), all at
/// `t(10)`. Returns the outcomes in task order.
async fn concurrent_rotations(db: &Database, n: usize, grace: Duration) -> Vec<RotateOutcome> {
    let db = Arc::new(db.clone());
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let db = db.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                db.rotate_refresh_token("h0", &format!("new-{i}"), "portal", t(10), grace)
                    .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap().expect("every rotation answers"));
    }
    outcomes
}

async fn ten_concurrent_rotations_of_one_token_yield_one_rotation_and_nine_grace_answers(
    backend: Backend,
) {
    let (dir, db, family) = with_family(backend).await;
    let outcomes = concurrent_rotations(&db, 10, GRACE).await;
    let winner = db
        .refresh_token("h0")
        .await
        .unwrap()
        .unwrap()
        .replaced_by
        .expect("rotated once");
    let rotated = outcomes
        .iter()
        .filter(|o| **o == RotateOutcome::Rotated(family.clone()))
        .count();
    let within_grace = outcomes
        .iter()
        .filter(|o| {
            **o == RotateOutcome::WithinGrace {
                family: family.clone(),
                replaced_by: winner.clone(),
            }
        })
        .count();
    assert_eq!((rotated, within_grace), (1, 9), "{outcomes:#?}");
    assert!(is_current(&db, &winner).await);
    assert_eq!(count(&dir.raw().await, "refresh_tokens").await, 2);
}

async fn ten_concurrent_rotations_without_grace_yield_one_rotation_one_reuse_and_eight_invalid(
    backend: Backend,
) {
    let (dir, db, family) = with_family(backend).await;
    let outcomes = concurrent_rotations(&db, 10, Duration::ZERO).await;
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, RotateOutcome::Rotated(_)))
        .count();
    let reused: Vec<&RefreshFamily> = outcomes
        .iter()
        .filter_map(|o| match o {
            RotateOutcome::Reused(f) => Some(f),
            _ => None,
        })
        .collect();
    let invalid = outcomes
        .iter()
        .filter(|o| **o == RotateOutcome::Invalid)
        .count();
    assert_eq!((rotated, reused.len(), invalid), (1, 1, 8), "{outcomes:#?}");
    assert_eq!(
        reused[0].revoked_reason.as_deref(),
        Some(RefreshFamily::REVOKED_FOR_REUSE)
    );
    assert_eq!(reused[0].family_id, family.family_id);
    assert_eq!(count(&dir.raw().await, "refresh_tokens").await, 2);
}

on_every_backend! {
    a_created_family_is_found_by_its_first_token,
    a_bound_family_keeps_its_dpop_key_through_rotation,
    a_rotation_chain_of_five_keeps_one_family_with_only_the_newest_token_current,
    an_old_token_presented_within_grace_names_its_replacement_and_changes_nothing,
    reuse_after_grace_revokes_the_family_and_its_newest_token_is_then_invalid,
    a_token_presented_by_another_client_is_invalid_and_changes_nothing,
    an_expired_family_is_invalid_from_its_expiry_on,
    a_revoked_family_is_invalid_and_keeps_its_first_revocation,
    logout_revokes_every_family_of_the_session_and_no_other,
    revoking_by_client_ends_only_that_clients_families,
    purge_deletes_expired_families_with_their_tokens_and_keeps_the_rest,
    creating_a_family_refuses_duplicates_an_unknown_person_and_unstorable_scopes,
    rotating_to_a_hash_already_stored_is_a_conflict_and_changes_nothing,
    ten_concurrent_rotations_of_one_token_yield_one_rotation_and_nine_grace_answers(
        flavor = "multi_thread",
        worker_threads = 4
    ),
    ten_concurrent_rotations_without_grace_yield_one_rotation_one_reuse_and_eight_invalid(
        flavor = "multi_thread",
        worker_threads = 4
    ),
}
