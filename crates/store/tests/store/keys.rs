use vneid_store::{SigningKeyRow, StoreError};

use crate::helpers::{migrated_db, t, Backend};
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

on_every_backend! {
    signing_keys_round_trip_in_activation_order,
    a_retired_key_keeps_its_place_and_records_when,
    a_duplicate_kid_is_a_conflict,
}
