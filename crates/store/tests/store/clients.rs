use vneid_store::{ClientRow, StoreError};

use crate::helpers::{migrated_db, t, Backend};
use crate::on_every_backend;

fn full_client(client_id: &str) -> ClientRow {
    ClientRow {
        client_id: client_id.into(),
        name: Some("Cổng Dịch vụ công tỉnh".into()),
        secret_hash: Some("hmac:3f2a9c".into()),
        token_endpoint_auth_method: "client_secret_basic".into(),
        redirect_uris: vec![
            "https://portal.example/cb".into(),
            "https://portal.example/cb2?x=\"quoted\"".into(),
        ],
        post_logout_redirect_uris: vec!["https://portal.example/bye".into()],
        backchannel_logout_uri: Some("https://portal.example/backchannel-logout".into()),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec![
            "openid".into(),
            "profile".into(),
            "personal_id".into(),
            "offline_access".into(),
        ],
        min_level: Some(2),
        upstreams: vec!["dvcqg".into()],
        jwks: Some(r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f8","y":"x_"}]}"#.into()),
        subject_type: "pairwise".into(),
        sector_identifier: Some("portal.example".into()),
        created_at: t(0),
        previous_secret: None,
        account_types: Some(vec!["citizen".into()]),
        require_pushed_authorization_requests: true,
        dpop_bound_access_tokens: true,
        profile: "fapi2".into(),
    }
}

fn bare_client(client_id: &str) -> ClientRow {
    ClientRow {
        client_id: client_id.into(),
        name: None,
        secret_hash: None,
        token_endpoint_auth_method: "none".into(),
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        grant_types: vec![],
        scopes: vec![],
        min_level: None,
        upstreams: vec![],
        jwks: None,
        subject_type: "public".into(),
        sector_identifier: None,
        created_at: t(60),
        previous_secret: None,
        account_types: None,
        require_pushed_authorization_requests: false,
        dpop_bound_access_tokens: false,
        profile: "standard".into(),
    }
}

async fn clients_round_trip_every_field(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let full = full_client("portal");
    let bare = bare_client("spa");
    db.insert_client(&full).await.unwrap();
    db.insert_client(&bare).await.unwrap();
    assert_eq!(db.client("portal").await.unwrap(), Some(full));
    assert_eq!(db.client("spa").await.unwrap(), Some(bare));
    assert_eq!(db.client("nope").await.unwrap(), None);
}

async fn clients_are_listed_by_id_in_byte_order(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    for id in ["zeta", "alpha", "Beta", "beta", "Alpha"] {
        db.insert_client(&bare_client(id)).await.unwrap();
    }
    let ids: Vec<String> = db
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, ["Alpha", "Beta", "alpha", "beta", "zeta"]);
}

async fn a_duplicate_client_id_is_a_conflict_and_keeps_the_stored_client(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let first = full_client("portal");
    db.insert_client(&first).await.unwrap();
    let err = db
        .insert_client(&bare_client("portal"))
        .await
        .expect_err("duplicate");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(db.client("portal").await.unwrap(), Some(first));
    assert_eq!(db.list_clients().await.unwrap().len(), 1);
}

async fn a_deleted_client_is_gone_and_its_id_can_be_used_again(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    db.insert_client(&full_client("portal")).await.unwrap();
    db.insert_client(&bare_client("spa")).await.unwrap();
    assert!(db.delete_client("portal").await.unwrap());
    assert!(!db.delete_client("portal").await.unwrap());
    assert!(!db.delete_client("never-there").await.unwrap());
    assert_eq!(db.client("portal").await.unwrap(), None);
    let ids: Vec<String> = db
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, ["spa"]);
    db.insert_client(&bare_client("portal")).await.unwrap();
    assert_eq!(
        db.client("portal").await.unwrap(),
        Some(bare_client("portal"))
    );
}

async fn a_client_whose_stored_list_is_not_json_reads_back_as_corrupt(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    db.insert_client(&full_client("portal")).await.unwrap();
    dir.raw()
        .await
        .execute("UPDATE clients SET scopes = 'openid profile' WHERE client_id = 'portal'")
        .await
        .unwrap();
    let err = db.client("portal").await.expect_err("corrupt");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let err = db.list_clients().await.expect_err("corrupt");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

async fn removing_a_client_revokes_its_families_in_the_same_transaction(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    db.insert_client(&full_client("portal")).await.unwrap();
    let person = db
        .upsert_person_on_login(&crate::helpers::login("dvcqg", "sub-1", None))
        .await
        .unwrap()
        .id;
    for (family, client) in [("f1", "portal"), ("f2", "portal"), ("f3", "other")] {
        db.create_refresh_family(
            &vneid_store::NewRefreshFamily {
                family_id: family.into(),
                client_id: client.into(),
                person_id: person.clone(),
                scopes: vec!["openid".into()],
                sid: "sid".into(),
                auth_time: t(0),
                level: 2,
                idp: "dvcqg".into(),
                login_idp: Some("BCA".into()),
                dpop_jkt: None,
                created_at: t(0),
                expires_at: t(3600),
            },
            &format!("h-{family}"),
        )
        .await
        .unwrap();
    }
    assert_eq!(
        db.remove_client("nobody", "client_removed", t(5))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.remove_client("portal", "client_removed", t(5))
            .await
            .unwrap(),
        Some(2)
    );
    assert_eq!(db.client("portal").await.unwrap(), None);
    let f1 = db.refresh_family_by_token("h-f1").await.unwrap().unwrap();
    assert_eq!(f1.revoked_reason.as_deref(), Some("client_removed"));
    let f3 = db.refresh_family_by_token("h-f3").await.unwrap().unwrap();
    assert_eq!(f3.revoked_at, None, "another client's family is untouched");
    assert_eq!(
        db.remove_client("portal", "client_removed", t(6))
            .await
            .unwrap(),
        None
    );
}

async fn a_rotation_keeps_the_previous_hash_until_its_time_and_changes_only_the_secret(
    backend: Backend,
) {
    let (_g, db) = migrated_db(backend).await;
    db.insert_client(&full_client("portal")).await.unwrap();
    db.insert_client(&bare_client("public-app")).await.unwrap();
    let before = db.client("portal").await.unwrap().unwrap();
    let previous = vneid_store::PreviousSecret {
        hash: before.secret_hash.clone().unwrap(),
        until: t(100),
    };
    assert!(db
        .rotate_client_secret("portal", "hmac:new", Some(&previous))
        .await
        .unwrap());
    let after = db.client("portal").await.unwrap().unwrap();
    assert_eq!(after.secret_hash.as_deref(), Some("hmac:new"));
    assert_eq!(after.previous_secret, Some(previous));
    assert_eq!(
        ClientRow {
            secret_hash: before.secret_hash.clone(),
            previous_secret: None,
            ..after.clone()
        },
        before,
        "nothing else changed"
    );
    // Without a grace the previous one is gone.
    assert!(db
        .rotate_client_secret("portal", "hmac:newer", None)
        .await
        .unwrap());
    assert_eq!(
        db.client("portal").await.unwrap().unwrap().previous_secret,
        None
    );
    // No secret (public) and no client: nothing to rotate.
    assert!(!db
        .rotate_client_secret("public-app", "hmac:x", None)
        .await
        .unwrap());
    assert!(!db
        .rotate_client_secret("nobody", "hmac:x", None)
        .await
        .unwrap());
}

/// Whether a client must push its authorization requests (migration 0009) is stored, read
/// back and changed by an update, in both directions.
async fn the_pushed_authorization_requirement_round_trips_and_updates(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let mut portal = bare_client("portal");
    portal.require_pushed_authorization_requests = true;
    db.insert_client(&portal).await.unwrap();
    db.insert_client(&bare_client("spa")).await.unwrap();
    let read = db.client("portal").await.unwrap().unwrap();
    assert!(read.require_pushed_authorization_requests);
    assert!(
        !db.client("spa")
            .await
            .unwrap()
            .unwrap()
            .require_pushed_authorization_requests
    );
    let listed: Vec<bool> = db
        .list_clients()
        .await
        .unwrap()
        .iter()
        .map(|c| c.require_pushed_authorization_requests)
        .collect();
    assert_eq!(listed, [true, false]);

    portal.require_pushed_authorization_requests = false;
    assert!(db.update_client(&portal).await.unwrap());
    assert_eq!(db.client("portal").await.unwrap(), Some(portal.clone()));
    portal.require_pushed_authorization_requests = true;
    assert!(db.update_client(&portal).await.unwrap());
    assert_eq!(db.client("portal").await.unwrap(), Some(portal));
}

/// A client a build before migration 0009 stored (which knows nothing of the column) reads
/// back as not requiring pushed authorization requests.
async fn a_client_of_an_earlier_build_does_not_require_pushed_requests(backend: Backend) {
    let (_dir, db, raw) = crate::helpers::migrated_before(backend, "0009").await;
    raw.execute(
        "INSERT INTO clients (client_id, token_endpoint_auth_method, created_at) \
         VALUES ('old-portal', 'client_secret_basic', 0)",
    )
    .await
    .unwrap();
    db.migrate().await.unwrap();
    db.check_schema().await.unwrap();
    let old = db.client("old-portal").await.unwrap().unwrap();
    assert!(!old.require_pushed_authorization_requests);
    assert!(!old.dpop_bound_access_tokens);
    assert_eq!(old.profile, "standard");
}

/// DPoP binding and the profile (migration 0010) are stored, read back and changed by an
/// update; a client an earlier build stored reads back unbound and `standard`.
async fn dpop_binding_and_profile_round_trip_and_default_for_older_rows(backend: Backend) {
    let (_dir, db, raw) = crate::helpers::migrated_before(backend, "0010").await;
    raw.execute(
        "INSERT INTO clients (client_id, token_endpoint_auth_method, created_at, \
         require_pushed_authorization_requests) VALUES ('old-bank', 'private_key_jwt', 0, 1 = 1)",
    )
    .await
    .unwrap();
    db.migrate().await.unwrap();
    db.check_schema().await.unwrap();
    let old = db.client("old-bank").await.unwrap().unwrap();
    assert!(old.require_pushed_authorization_requests);
    assert!(!old.dpop_bound_access_tokens);
    assert_eq!(old.profile, "standard");

    let mut bank = bare_client("bank");
    bank.dpop_bound_access_tokens = true;
    bank.profile = "fapi2".into();
    db.insert_client(&bank).await.unwrap();
    assert_eq!(db.client("bank").await.unwrap(), Some(bank.clone()));
    bank.dpop_bound_access_tokens = false;
    bank.profile = "standard".into();
    assert!(db.update_client(&bank).await.unwrap());
    assert_eq!(db.client("bank").await.unwrap(), Some(bank));
}

#[tokio::test]
async fn client_debug_output_hides_the_secret_hash() {
    let shown = format!("{:?}", full_client("portal"));
    assert!(!shown.contains("hmac:3f2a9c"), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(shown.contains("portal"), "{shown}");
}

on_every_backend! {
    clients_round_trip_every_field,
    clients_are_listed_by_id_in_byte_order,
    a_duplicate_client_id_is_a_conflict_and_keeps_the_stored_client,
    a_deleted_client_is_gone_and_its_id_can_be_used_again,
    a_client_whose_stored_list_is_not_json_reads_back_as_corrupt,
    removing_a_client_revokes_its_families_in_the_same_transaction,
    a_rotation_keeps_the_previous_hash_until_its_time_and_changes_only_the_secret,
    the_pushed_authorization_requirement_round_trips_and_updates,
    a_client_of_an_earlier_build_does_not_require_pushed_requests,
    dpop_binding_and_profile_round_trip_and_default_for_older_rows,
}
