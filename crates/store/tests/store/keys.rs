use vneid_store::{AuditEvent, AuditFilter, SigningKeyRow, StoreError};

use crate::helpers::{migrated_db, t, Backend, Raw};
use crate::on_every_backend;

fn key(kid: &str, activates: i64) -> SigningKeyRow {
    SigningKeyRow {
        kid: kid.into(),
        alg: "RS256".into(),
        created_at: t(activates - 10),
        activates_at: t(activates),
        retires_at: None,
        private_key_sealed: vec![0, 1, 2, 255, kid.len() as u8],
        public_jwk: format!(r#"{{"kty":"RSA","kid":"{kid}","n":"AQAB","e":"AQAB"}}"#),
    }
}

async fn signing_keys_round_trip_in_activation_order(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let late = key("k-late", 3600);
    let early = key("k-early", 0);
    let middle = key("k-middle", 60);
    for k in [&late, &early, &middle] {
        db.insert_signing_key(k).await.unwrap();
    }
    let listed = db.list_signing_keys().await.unwrap();
    assert_eq!(listed, vec![early, middle, late]);
}

async fn a_retired_key_keeps_its_place_and_records_when(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    db.insert_signing_key(&key("k1", 0)).await.unwrap();
    db.insert_signing_key(&key("k2", 60)).await.unwrap();
    assert!(db.retire_signing_key("k1", t(120)).await.unwrap());
    assert!(!db.retire_signing_key("nope", t(120)).await.unwrap());
    let listed = db.list_signing_keys().await.unwrap();
    assert_eq!(listed[0].kid, "k1");
    assert_eq!(listed[0].retires_at, Some(t(120)));
    assert_eq!(listed[1].retires_at, None);
}

async fn a_duplicate_kid_is_a_conflict(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    db.insert_signing_key(&key("k1", 0)).await.unwrap();
    let err = db
        .insert_signing_key(&key("k1", 60))
        .await
        .expect_err("dup");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn signing_key_debug_output_hides_the_sealed_private_key() {
    let shown = format!("{:?}", key("k1", 0));
    assert!(shown.contains("[sealed]"));
    assert!(!shown.contains("255"));
}

fn rotated(retiring: &[String]) -> AuditEvent {
    AuditEvent::new("key_rotated", "success").detail(serde_json::json!({ "retiring": retiring }))
}

/// A rotation stores the new key, schedules every other live key's retirement and audits it,
/// together; when a step fails nothing of it is left: no new key, no retirement, no event.
async fn a_key_rotation_is_all_or_nothing(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    db.insert_signing_key(&key("k-1", 0)).await.unwrap();
    let mut retired = key("k-0", -100);
    retired.retires_at = Some(t(50));
    db.insert_signing_key(&retired).await.unwrap();
    let retiring = db
        .rotate_signing_keys(&key("k-2", 600), t(900), rotated)
        .await
        .unwrap();
    assert_eq!(retiring, vec!["k-1".to_owned()]);
    let keys = db.list_signing_keys().await.unwrap();
    let retires = |kid: &str| keys.iter().find(|k| k.kid == kid).unwrap().retires_at;
    assert_eq!(
        (retires("k-0"), retires("k-1"), retires("k-2")),
        (Some(t(50)), Some(t(900)), None)
    );
    let events = db
        .list_audit(&AuditFilter {
            kind: Some("key_rotated".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail["retiring"], serde_json::json!(["k-1"]));

    // The retirement step fails (a trigger stands in for a lost connection or a full disk).
    let raw = dir.raw().await;
    match &raw {
        Raw::Sqlite(_) => raw
            .execute(
                "CREATE TRIGGER fail BEFORE UPDATE ON signing_keys \
                 BEGIN SELECT RAISE(ABORT, 'the disk is full'); END",
            )
            .await
            .unwrap(),
        Raw::Postgres(_) => {
            raw.execute(
                "CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'the disk is full'; END $$",
            )
            .await
            .unwrap();
            raw.execute(
                "CREATE TRIGGER fail BEFORE UPDATE ON signing_keys \
                 FOR EACH ROW EXECUTE FUNCTION fail()",
            )
            .await
            .unwrap()
        }
    };
    let before = db.list_signing_keys().await.unwrap();
    let err = db
        .rotate_signing_keys(&key("k-3", 1200), t(1500), rotated)
        .await
        .expect_err("the retirement fails");
    assert!(
        err.to_string().contains("disk is full") || format!("{err:?}").contains("disk is full"),
        "{err:?}"
    );
    assert_eq!(
        db.list_signing_keys().await.unwrap(),
        before,
        "nothing of the rotation is left"
    );
    assert_eq!(
        db.list_audit(&AuditFilter {
            kind: Some("key_rotated".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .len(),
        1
    );
}

on_every_backend! {
    a_key_rotation_is_all_or_nothing,
    signing_keys_round_trip_in_activation_order,
    a_retired_key_keeps_its_place_and_records_when,
    a_duplicate_kid_is_a_conflict,
}
