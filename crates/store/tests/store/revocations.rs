use std::sync::Arc;

use chrono::Duration;
use vneid_store::{Database, Revocation};

use crate::helpers::{count, migrated_db, t, Backend};
use crate::on_every_backend;

fn revocation(key: &str, reason: &str, expires_in: i64) -> Revocation {
    Revocation {
        key: key.into(),
        reason: reason.into(),
        expires_at: t(expires_in),
    }
}

async fn a_revoked_key_counts_until_its_expiry_and_not_after(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    db.insert_revocation("jti:a", "logout", t(0), t(600))
        .await
        .unwrap();
    assert!(db.revoked_any(&["jti:a"], t(0)).await.unwrap());
    assert!(db.revoked_any(&["jti:a"], t(599)).await.unwrap());
    assert!(!db.revoked_any(&["jti:a"], t(600)).await.unwrap());
    assert!(!db.revoked_any(&["jti:b"], t(0)).await.unwrap());
}

async fn a_second_revocation_never_shortens_the_first(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    db.insert_revocation("grant:g", "logout", t(0), t(3600))
        .await
        .unwrap();
    // Earlier expiry: nothing changes, the first reason is kept.
    db.insert_revocation("grant:g", "admin", t(10), t(60))
        .await
        .unwrap();
    assert_eq!(
        db.live_revocations(t(10)).await.unwrap(),
        vec![revocation("grant:g", "logout", 3600)]
    );
    assert!(db.revoked_any(&["grant:g"], t(3599)).await.unwrap());
    // Later expiry: the revocation lasts longer, still on record as the first one.
    db.insert_revocation("grant:g", "admin", t(20), t(7200))
        .await
        .unwrap();
    assert_eq!(
        db.live_revocations(t(20)).await.unwrap(),
        vec![revocation("grant:g", "logout", 7200)]
    );
    assert!(db.revoked_any(&["grant:g"], t(7199)).await.unwrap());
    // The same call for several keys keeps the later expiry too.
    db.insert_revocations(&["grant:g", "jti:x"], "reuse", t(30), t(100))
        .await
        .unwrap();
    assert_eq!(
        db.live_revocations(t(30)).await.unwrap(),
        vec![
            revocation("grant:g", "logout", 7200),
            revocation("jti:x", "reuse", 100),
        ]
    );
}

async fn revoking_a_key_whose_revocation_expired_starts_a_new_one(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    db.insert_revocation("sid:s", "logout", t(0), t(60))
        .await
        .unwrap();
    db.insert_revocation("sid:s", "admin", t(120), t(300))
        .await
        .unwrap();
    assert_eq!(
        db.live_revocations(t(120)).await.unwrap(),
        vec![revocation("sid:s", "admin", 300)]
    );
    let created = dir
        .raw()
        .await
        .fetch_i64s("SELECT created_at FROM revocations")
        .await;
    assert_eq!(created, vec![t(120).timestamp()]);
}

async fn an_expiry_with_a_fraction_of_a_second_is_kept_until_the_next_whole_second(
    backend: Backend,
) {
    let (_dir, db) = migrated_db(backend).await;
    let expires = t(60) + Duration::milliseconds(300);
    db.insert_revocation("jti:f", "logout", t(0), expires)
        .await
        .unwrap();
    assert!(db.revoked_any(&["jti:f"], expires).await.unwrap());
    assert!(!db.revoked_any(&["jti:f"], t(61)).await.unwrap());
}

async fn expired_revocations_do_not_count_and_are_pruned(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    db.insert_revocation("jti:old", "logout", t(0), t(60))
        .await
        .unwrap();
    db.insert_revocation("jti:edge", "logout", t(0), t(100))
        .await
        .unwrap();
    db.insert_revocation("jti:new", "logout", t(0), t(3600))
        .await
        .unwrap();
    // Stored already expired: kept until pruned, never counted.
    db.insert_revocation("jti:born-dead", "logout", t(50), t(40))
        .await
        .unwrap();
    assert!(!db
        .revoked_any(&["jti:old", "jti:edge", "jti:born-dead"], t(100))
        .await
        .unwrap());
    assert_eq!(
        db.live_revocations(t(100)).await.unwrap(),
        vec![revocation("jti:new", "logout", 3600)]
    );
    assert_eq!(db.prune_revocations(t(100)).await.unwrap(), 3);
    assert_eq!(count(&dir.raw().await, "revocations").await, 1);
    assert!(db.revoked_any(&["jti:new"], t(100)).await.unwrap());
    assert_eq!(db.prune_revocations(t(100)).await.unwrap(), 0);
    assert_eq!(db.prune_revocations(t(3600)).await.unwrap(), 1);
    assert!(db.live_revocations(t(0)).await.unwrap().is_empty());
}

async fn several_keys_are_revoked_together_in_one_call(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    db.insert_revocations(
        &["grant:g1", "jti:t1", "jti:t1", "sid:s1"],
        "logout",
        t(0),
        t(900),
    )
    .await
    .unwrap();
    assert_eq!(count(&dir.raw().await, "revocations").await, 3);
    for key in ["grant:g1", "jti:t1", "sid:s1"] {
        assert!(db.revoked_any(&[key], t(899)).await.unwrap(), "{key}");
    }
    assert_eq!(
        db.live_revocations(t(0)).await.unwrap(),
        vec![
            revocation("grant:g1", "logout", 900),
            revocation("jti:t1", "logout", 900),
            revocation("sid:s1", "logout", 900),
        ]
    );
    // No keys: nothing written, no error.
    db.insert_revocations(&[], "logout", t(0), t(900))
        .await
        .unwrap();
    assert_eq!(count(&dir.raw().await, "revocations").await, 3);
}

async fn a_failed_multi_key_revocation_writes_none_of_its_keys(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    let raw = dir.raw().await;
    // A trigger that refuses one key makes the second write of the transaction fail.
    let trigger = match backend {
        Backend::Sqlite => vec![
            "CREATE TRIGGER refuse_b BEFORE INSERT ON revocations WHEN NEW.key = 'b' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        ],
        Backend::Postgres => vec![
            "CREATE FUNCTION refuse_b() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.key = 'b' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER refuse_b BEFORE INSERT ON revocations \
             FOR EACH ROW EXECUTE FUNCTION refuse_b()",
        ],
    };
    for sql in trigger {
        raw.execute(sql).await.unwrap();
    }
    db.insert_revocations(&["a", "b"], "logout", t(0), t(900))
        .await
        .expect_err("the trigger refuses b");
    assert_eq!(count(&raw, "revocations").await, 0);
    assert!(!db.revoked_any(&["a"], t(0)).await.unwrap());
}

async fn revoked_any_answers_for_no_one_or_many_keys(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    db.insert_revocation("jti:r", "logout", t(0), t(900))
        .await
        .unwrap();
    assert!(!db.revoked_any(&[], t(0)).await.unwrap());
    assert!(db.revoked_any(&["jti:r"], t(0)).await.unwrap());
    assert!(!db.revoked_any(&["jti:s"], t(0)).await.unwrap());
    assert!(db
        .revoked_any(&["jti:s", "grant:g", "jti:r"], t(0))
        .await
        .unwrap());
    assert!(!db
        .revoked_any(&["jti:s", "grant:g", "sid:x"], t(0))
        .await
        .unwrap());
    // More keys than one query carries: the revoked one is found wherever it is.
    let many: Vec<String> = (0..1200).map(|i| format!("jti:n{i}")).collect();
    let mut keys: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(!db.revoked_any(&keys, t(0)).await.unwrap());
    keys.push("jti:r");
    assert!(db.revoked_any(&keys, t(0)).await.unwrap());
    keys.swap(0, 1200);
    assert!(db.revoked_any(&keys, t(0)).await.unwrap());
}

/// Concurrent multi-key revocations over the same keys, listed in opposite orders, all
/// succeed (no deadlock) and leave one row per key with the latest expiry.
async fn concurrent_revocations_of_overlapping_keys_all_succeed(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let db = Arc::new(db);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let db: Arc<Database> = db.clone();
            tokio::spawn(async move {
                let keys: &[&str] = if i % 2 == 0 {
                    &["k1", "k2", "k3"]
                } else {
                    &["k3", "k2", "k1"]
                };
                db.insert_revocations(keys, "logout", t(0), t(100 + i))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let live = db.live_revocations(t(0)).await.unwrap();
    assert_eq!(
        live.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
        ["k1", "k2", "k3"]
    );
    assert!(live.iter().all(|r| r.expires_at == t(115)), "{live:?}");
}

on_every_backend! {
    a_revoked_key_counts_until_its_expiry_and_not_after,
    a_second_revocation_never_shortens_the_first,
    revoking_a_key_whose_revocation_expired_starts_a_new_one,
    an_expiry_with_a_fraction_of_a_second_is_kept_until_the_next_whole_second,
    expired_revocations_do_not_count_and_are_pruned,
    several_keys_are_revoked_together_in_one_call,
    a_failed_multi_key_revocation_writes_none_of_its_keys,
    revoked_any_answers_for_no_one_or_many_keys,
    concurrent_revocations_of_overlapping_keys_all_succeed(
        flavor = "multi_thread",
        worker_threads = 4
    ),
    a_database_of_the_previous_build_gains_the_revocations_table,
}

/// A database the build before durable revocations migrated (0001 to 0003) is reported as
/// lacking 0004 and every later migration, upgrades in place, and its data stays as it
/// was: 0004 only adds a table, the later ones columns with defaults or nullable.
async fn a_database_of_the_previous_build_gains_the_revocations_table(backend: Backend) {
    let (_dir, db, raw) = crate::helpers::migrated_before(backend, "0004").await;
    let err = db
        .check_schema()
        .await
        .expect_err("0004 and later are missing");
    assert!(
        matches!(&err, vneid_store::StoreError::Schema(m) if m.ends_with("not applied: 4, 5, 6, 7, 8, 9, 10; run `gateway migrate`")),
        "{err:?}"
    );
    // A person as that build wrote one.
    raw.execute(
        "INSERT INTO people (id, created_at, updated_at, personal_id_hash, name) \
         VALUES ('p-old', 0, 0, 'hash-1', 'Nguyễn Văn An')",
    )
    .await
    .unwrap();

    db.migrate().await.unwrap();
    db.check_schema().await.unwrap();
    let person = db.person("p-old").await.unwrap().unwrap();
    assert_eq!(person.account_type, vneid_core::AccountType::Citizen);
    db.insert_revocation("jti:a", "logout", t(0), t(60))
        .await
        .unwrap();
    assert!(db.revoked_any(&["jti:a"], t(0)).await.unwrap());
}
