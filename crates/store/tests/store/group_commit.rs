//! `record_login` and `append_audit`: the person and the login's audit event in one
//! transaction, and on a SQLite file the group commit of concurrent writes.

use vneid_store::{AuditEvent, StoreError};

use crate::helpers::{count, login, migrated_db, t, Backend};
use crate::on_every_backend;

fn login_event(request_id: &str) -> AuditEvent {
    AuditEvent::new("login", "success")
        .at(t(0))
        .request_id(request_id)
        .level(2)
}

async fn concurrent_logins_are_each_recorded_with_their_audit_event(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                let upsert = login("dvcqg", &format!("sub-{i}"), Some(&format!("hash-{i}")));
                let event = login_event(&format!("req-{i}"));
                db.record_login(upsert, event).await.unwrap()
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    // Every answer is already durable: another connection sees each person and the event
    // that names them.
    let pool = dir.raw().await;
    assert_eq!(count(&pool, "people").await, 64);
    assert_eq!(count(&pool, "audit_events").await, 64);
    for (person, event_id) in &answers {
        let named = pool
            .fetch_strings(&format!(
                "SELECT person_id FROM audit_events WHERE id = {event_id}"
            ))
            .await;
        assert_eq!(named, vec![person.id.clone()]);
    }
    match (backend, db.group_commit_stats()) {
        (Backend::Sqlite, Some(stats)) => {
            assert_eq!(stats.writes(), 64);
            assert!(
                stats.commits() < stats.writes(),
                "64 concurrent logins were committed one by one ({} commits)",
                stats.commits()
            );
        }
        (Backend::Postgres, None) => {}
        (backend, stats) => panic!("{backend:?} group writer: {stats:?}"),
    }
}

async fn a_failing_login_fails_alone_and_leaves_nothing_behind(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    db.record_login(
        login("dvcqg", "known", Some("hash-known")),
        login_event("first"),
    )
    .await
    .unwrap();
    // The known account now reports another personal ID number (a conflict), among twenty
    // good logins that are likely to share its group commit.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let upsert = login("dvcqg", &format!("sub-{i}"), Some(&format!("hash-{i}")));
            db.record_login(upsert, login_event(&format!("ok-{i}")))
                .await
                .map(|_| ())
        }));
    }
    let conflicting = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut upsert = login("dvcqg", "known", Some("hash-other"));
            upsert.at = t(3600);
            db.record_login(upsert, login_event("conflict")).await
        })
    };
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let refused = conflicting.await.unwrap();
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );

    let pool = dir.raw().await;
    assert_eq!(count(&pool, "people").await, 21);
    assert_eq!(count(&pool, "audit_events").await, 21);
    let conflict_events = pool
        .fetch_i64s("SELECT COUNT(*) FROM audit_events WHERE request_id = 'conflict'")
        .await;
    assert_eq!(conflict_events, vec![0]);
    // Its first statement (the identity's last_login) was rolled back with it.
    let last_login = pool
        .fetch_i64s("SELECT last_login FROM upstream_identities WHERE subject = 'known'")
        .await;
    assert_eq!(last_login, vec![t(0).timestamp()]);
}

async fn audit_events_appended_at_once_all_get_their_own_id(backend: Backend) {
    let (dir, db) = migrated_db(backend).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                db.append_audit(&AuditEvent::new("refusal", "denied").request_id(format!("r{i}")))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 50);
    assert_eq!(count(&dir.raw().await, "audit_events").await, 50);
}

on_every_backend! {
    concurrent_logins_are_each_recorded_with_their_audit_event(
        flavor = "multi_thread",
        worker_threads = 4
    ),
    a_failing_login_fails_alone_and_leaves_nothing_behind(
        flavor = "multi_thread",
        worker_threads = 4
    ),
    audit_events_appended_at_once_all_get_their_own_id(
        flavor = "multi_thread",
        worker_threads = 2
    ),
}
