use serde_json::json;
use vneid_store::{AuditEvent, AuditFilter};

use crate::helpers::{migrated_db, t, Backend};
use crate::on_every_backend;

async fn audit_events_round_trip_every_field(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let event = AuditEvent::new("login", "denied")
        .at(t(5))
        .reason("level_too_low")
        .request_id("req-1")
        .client_id("portal")
        .upstream("dvcqg")
        .person_id("person-1")
        .login_idp("BCA")
        .level(1)
        .subject_masked("052*******81")
        .detail(json!({"acr_values": "urn:vneid:loa:2"}));
    let id = db.append_audit(&event).await.unwrap();
    let listed = db.list_audit(&AuditFilter::default()).await.unwrap();
    let hash = listed[0].hash.clone();
    assert!(hash.as_ref().is_some_and(|h| h.len() == 64), "{hash:?}");
    assert_eq!(
        listed,
        vec![AuditEvent {
            id: Some(id),
            seq: Some(1),
            prev_hash: Some(vneid_store::AUDIT_GENESIS.to_owned()),
            hash,
            ..event
        }]
    );
}

async fn audit_events_list_newest_first_filtered_by_kind_and_time(backend: Backend) {
    let (_dir, db) = migrated_db(backend).await;
    let mut ids = Vec::new();
    for (i, kind) in ["login", "key_rotation", "login", "link", "login"]
        .iter()
        .enumerate()
    {
        let e = AuditEvent::new(*kind, "success").at(t(i as i64 * 60));
        ids.push(db.append_audit(&e).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    let all = db.list_audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.id.unwrap()).collect::<Vec<_>>(),
        ids.iter().rev().copied().collect::<Vec<_>>()
    );

    let logins = db
        .list_audit(&AuditFilter {
            kind: Some("login".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(logins.len(), 3);
    assert!(logins.iter().all(|e| e.kind == "login"));

    let recent = db
        .list_audit(&AuditFilter {
            since: Some(t(120)),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(recent.len(), 3);
    assert!(recent.iter().all(|e| e.at >= t(120)));

    let recent_logins = db
        .list_audit(&AuditFilter {
            kind: Some("login".into()),
            since: Some(t(120)),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(recent_logins.len(), 2);

    let page1 = db
        .list_audit(&AuditFilter {
            limit: 2,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(page1.len(), 2);
    let page2 = db
        .list_audit(&AuditFilter {
            limit: 2,
            before_id: page1.last().and_then(|e| e.id),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page2.iter().map(|e| e.id.unwrap()).collect::<Vec<_>>(),
        vec![ids[2], ids[1]]
    );
}

async fn audit_events_cannot_be_updated_or_deleted(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    db.append_audit(&AuditEvent::new("login", "success"))
        .await
        .unwrap();
    let pool = dir.raw().await;
    let update = pool
        .execute("UPDATE audit_events SET outcome = 'denied'")
        .await;
    assert!(
        update
            .as_ref()
            .is_err_and(|e| e.to_string().contains("append-only")),
        "{update:?}"
    );
    let delete = pool.execute("DELETE FROM audit_events").await;
    assert!(
        delete
            .as_ref()
            .is_err_and(|e| e.to_string().contains("append-only")),
        "{delete:?}"
    );
    assert_eq!(
        db.list_audit(&AuditFilter::default()).await.unwrap().len(),
        1
    );
}

on_every_backend! {
    audit_events_round_trip_every_field,
    audit_events_list_newest_first_filtered_by_kind_and_time,
    audit_events_cannot_be_updated_or_deleted,
}
