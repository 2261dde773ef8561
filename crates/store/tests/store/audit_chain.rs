//! The audit trail's hash chain: every append links, and verification names the first event
//! that was edited, deleted or moved, a cut-off end, a rewrite behind a signed checkpoint and a
//! forged checkpoint; pruning keeps the rest verifiable; concurrent writers keep one chain.

use sha2::{Digest, Sha256};
use vneid_store::{
    AuditCheckpoint, AuditEvent, AuditFilter, ChainBreak, CheckpointClaim, Database, AUDIT_GENESIS,
};

use crate::helpers::{migrated_db, t, Backend, Raw, TestDb};
use crate::on_every_backend;

/// The test's own signing: a keyed hash the "attacker" below does not know.
fn sign(claim: &CheckpointClaim) -> String {
    hex(&Sha256::digest(
        [b"test-key".as_slice(), &claim.message()].concat(),
    ))
}

fn authentic(c: &AuditCheckpoint) -> bool {
    sign(&c.claim) == c.signature
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The documented encoding, written out by hand for an event with only `at`, `kind` and
/// `outcome` (everything else null, detail `{}`): what an auditor would compute.
fn expected_hash(seq: i64, prev: &str, at: i64, kind: &str, outcome: &str) -> String {
    let encoded = format!(
        r#"["vneid-audit/v1",{seq},"{prev}",{at},"{kind}","{outcome}",null,null,null,null,null,null,null,null,"{{}}"]"#
    );
    hex(&Sha256::digest(encoded.as_bytes()))
}

async fn verify(db: &Database) -> Option<ChainBreak> {
    db.verify_audit_chain(None, &authentic)
        .await
        .unwrap()
        .broken
}

/// Five simple events at t(0), t(60), … (seq 1 to 5).
async fn five_events(backend: Backend) -> (TestDb, Database, Raw) {
    let (dir, db) = migrated_db(backend).await;
    for i in 0..5 {
        db.append_audit(&AuditEvent::new("login", "success").at(t(i * 60)))
            .await
            .unwrap();
    }
    let raw = dir.raw().await;
    (dir, db, raw)
}

/// Lets the raw pool change events, as someone with write access to the database would.
async fn disarm_triggers(raw: &Raw) {
    match raw {
        Raw::Sqlite(_) => {
            raw.execute("DROP TRIGGER audit_events_no_update")
                .await
                .unwrap();
            raw.execute("DROP TRIGGER audit_events_no_delete")
                .await
                .unwrap();
        }
        Raw::Postgres(_) => {
            raw.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
                .await
                .unwrap();
        }
    }
}

async fn every_event_is_linked_and_the_chain_verifies(backend: Backend) {
    let (_dir, db, _raw) = five_events(backend).await;
    let events = db
        .list_audit(&AuditFilter {
            oldest_first: true,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let mut prev = AUDIT_GENESIS.to_owned();
    for (i, e) in events.iter().enumerate() {
        let seq = i as i64 + 1;
        assert_eq!(e.seq, Some(seq));
        assert_eq!(e.prev_hash.as_deref(), Some(prev.as_str()));
        let hash = expected_hash(seq, &prev, t(i as i64 * 60).timestamp(), "login", "success");
        assert_eq!(e.hash.as_deref(), Some(hash.as_str()), "seq {seq}");
        prev = hash;
    }
    assert_eq!(db.audit_head().await.unwrap(), (5, prev));
    let report = db.verify_audit_chain(None, &authentic).await.unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(
        (report.from_seq, report.checked, report.head_seq),
        (1, 5, 5)
    );
    // --from takes the link before it on trust and checks the rest.
    let from = db.verify_audit_chain(Some(4), &authentic).await.unwrap();
    assert_eq!((from.from_seq, from.checked, from.broken), (4, 2, None));
}

async fn an_edited_event_is_named(backend: Backend) {
    let (_dir, db, raw) = five_events(backend).await;
    disarm_triggers(&raw).await;
    raw.execute("UPDATE audit_events SET outcome = 'denied' WHERE seq = 3")
        .await
        .unwrap();
    assert!(
        matches!(verify(&db).await, Some(ChainBreak::Altered { seq: 3, .. })),
        "{:?}",
        verify(&db).await
    );
}

async fn a_deleted_event_is_named(backend: Backend) {
    let (_dir, db, raw) = five_events(backend).await;
    disarm_triggers(&raw).await;
    raw.execute("DELETE FROM audit_events WHERE seq = 3")
        .await
        .unwrap();
    assert_eq!(verify(&db).await, Some(ChainBreak::Missing { seq: 3 }));
    let message = verify(&db).await.unwrap().to_string();
    assert!(message.contains("seq 3 is missing"), "{message}");
}

async fn reordered_events_are_named(backend: Backend) {
    let (_dir, db, raw) = five_events(backend).await;
    disarm_triggers(&raw).await;
    for sql in [
        "UPDATE audit_events SET seq = -1 WHERE seq = 2",
        "UPDATE audit_events SET seq = 2 WHERE seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE seq = -1",
    ] {
        raw.execute(sql).await.unwrap();
    }
    assert!(
        matches!(verify(&db).await, Some(ChainBreak::Unlinked { seq: 2, .. })),
        "{:?}",
        verify(&db).await
    );
    // Swapping the times instead (the rows stay in place) is an edit of both.
    let (_dir, db, raw) = five_events(backend).await;
    disarm_triggers(&raw).await;
    raw.execute(&format!(
        "UPDATE audit_events SET at = CASE seq WHEN 2 THEN {} ELSE {} END WHERE seq IN (2, 3)",
        t(120).timestamp(),
        t(60).timestamp()
    ))
    .await
    .unwrap();
    assert!(matches!(
        verify(&db).await,
        Some(ChainBreak::Altered { seq: 2, .. })
    ));
}

async fn events_cut_off_the_end_are_noticed(backend: Backend) {
    let (_dir, db, raw) = five_events(backend).await;
    disarm_triggers(&raw).await;
    raw.execute("DELETE FROM audit_events WHERE seq >= 4")
        .await
        .unwrap();
    assert_eq!(
        verify(&db).await,
        Some(ChainBreak::Truncated {
            last_seq: 3,
            head_seq: 5
        })
    );
}

/// Someone who edits an event and recomputes every hash after it, and the head, passes the
/// hashes: the signed checkpoint made before is what catches it. A checkpoint they forge or
/// edit does not verify.
async fn a_rewrite_behind_a_signed_checkpoint_is_caught(backend: Backend) {
    let (_dir, db, raw) = five_events(backend).await;
    let head = db.audit_head().await.unwrap();
    let checkpoint = db
        .checkpoint_audit(t(600), head.clone(), &sign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(checkpoint.claim.through_seq, 5);
    assert_eq!(
        db.checkpoint_audit(t(601), head, &sign).await.unwrap(),
        None
    );
    // A checkpoint is only ever made of what is stored.
    let wrong = db
        .checkpoint_audit(t(602), (4, AUDIT_GENESIS.to_owned()), &sign)
        .await;
    assert!(
        wrong.is_ok_and(|c| c.is_none()),
        "4 is behind the latest checkpoint"
    );
    disarm_triggers(&raw).await;
    let mut prev = AUDIT_GENESIS.to_owned();
    for seq in 1..=5_i64 {
        let outcome = if seq == 2 { "denied" } else { "success" };
        let hash = expected_hash(seq, &prev, t((seq - 1) * 60).timestamp(), "login", outcome);
        raw.execute(&format!(
            "UPDATE audit_events SET outcome = '{outcome}', prev_hash = '{prev}', \
             hash = '{hash}' WHERE seq = {seq}"
        ))
        .await
        .unwrap();
        prev = hash;
    }
    raw.execute(&format!("UPDATE audit_chain SET last_hash = '{prev}'"))
        .await
        .unwrap();
    assert_eq!(
        verify(&db).await,
        Some(ChainBreak::Rewritten {
            seq: 5,
            checkpoint: checkpoint.id
        })
    );
    // Making the checkpoint agree needs its signature.
    match &raw {
        Raw::Sqlite(_) => {
            raw.execute("DROP TRIGGER audit_checkpoints_no_update")
                .await
                .unwrap();
        }
        Raw::Postgres(_) => {
            raw.execute("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER")
                .await
                .unwrap();
        }
    }
    raw.execute(&format!(
        "UPDATE audit_checkpoints SET through_hash = '{prev}'"
    ))
    .await
    .unwrap();
    assert_eq!(
        verify(&db).await,
        Some(ChainBreak::ForgedCheckpoint {
            checkpoint: checkpoint.id
        })
    );
}

/// `--from` right after a checkpoint is anchored on it: a replaced event there is named, not
/// taken on trust; a checkpoint of a hash the event does not have is refused; an event slipped
/// in after the head is named.
async fn verification_from_a_checkpoint_is_anchored_and_nothing_hides_past_the_head(
    backend: Backend,
) {
    let (dir, db) = migrated_db(backend).await;
    for i in 0..3 {
        db.append_audit(&AuditEvent::new("login", "success").at(t(i * 60)))
            .await
            .unwrap();
    }
    let (seq, hash) = db.audit_head().await.unwrap();
    assert!(db
        .checkpoint_audit(t(200), (seq, "f".repeat(64)), &sign)
        .await
        .is_err());
    db.checkpoint_audit(t(200), (seq, hash), &sign)
        .await
        .unwrap()
        .unwrap();
    for i in 3..5 {
        db.append_audit(&AuditEvent::new("login", "success").at(t(i * 60)))
            .await
            .unwrap();
    }
    let raw = dir.raw().await;
    disarm_triggers(&raw).await;
    let forged_prev = "a".repeat(64);
    let forged = expected_hash(4, &forged_prev, t(180).timestamp(), "login", "denied");
    raw.execute(&format!(
        "UPDATE audit_events SET outcome = 'denied', prev_hash = '{forged_prev}', \
         hash = '{forged}' WHERE seq = 4"
    ))
    .await
    .unwrap();
    let from = db.verify_audit_chain(Some(4), &authentic).await.unwrap();
    assert!(
        matches!(from.broken, Some(ChainBreak::Unlinked { seq: 4, .. })),
        "{from:?}"
    );

    let (_dir, db, raw) = five_events(backend).await;
    raw.execute(&format!(
        "INSERT INTO audit_events (at, kind, outcome, seq, prev_hash, hash) \
         VALUES ({}, 'login', 'success', 6, 'x', 'y')",
        t(999).timestamp()
    ))
    .await
    .unwrap();
    assert_eq!(
        verify(&db).await,
        Some(ChainBreak::BeyondHead { events: 1 })
    );
}

/// Pruning deletes the old start of the chain behind a checkpoint; the rest verifies from it;
/// the schema still refuses deleting anything the checkpoint does not cover.
async fn pruning_keeps_the_rest_verifiable(backend: Backend) {
    let (_dir, db, raw) = five_events(backend).await;
    // Events at t(0) … t(240); keep those from t(120) on.
    let (checkpoint, deleted) = db
        .prune_audit(t(1000), t(120), &sign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((checkpoint.claim.through_seq, deleted), (2, 2));
    assert_eq!(checkpoint.claim.pruned_before, Some(t(120)));
    assert_eq!(db.prune_audit(t(1001), t(120), &sign).await.unwrap(), None);
    let report = db.verify_audit_chain(None, &authentic).await.unwrap();
    assert_eq!(report.broken, None);
    assert_eq!((report.from_seq, report.checked), (3, 3));
    db.append_audit(&AuditEvent::new("login", "success").at(t(300)))
        .await
        .unwrap();
    assert_eq!(verify(&db).await, None);
    let refused = raw.execute("DELETE FROM audit_events WHERE seq = 3").await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("append-only")),
        "{refused:?}"
    );
    let checkpoint_delete = raw.execute("DELETE FROM audit_checkpoints").await;
    assert!(checkpoint_delete.is_err(), "{checkpoint_delete:?}");
    // Everything old: the whole chain goes, the head stays, and the chain goes on.
    let (all, deleted) = db
        .prune_audit(t(2000), t(1000), &sign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((all.claim.through_seq, deleted), (6, 4));
    assert_eq!(verify(&db).await, None);
    db.append_audit(&AuditEvent::new("login", "success").at(t(3000)))
        .await
        .unwrap();
    let report = db.verify_audit_chain(None, &authentic).await.unwrap();
    assert_eq!(
        (report.from_seq, report.checked, report.broken),
        (7, 1, None)
    );
}

/// Events a build before the chain wrote stay readable and are counted apart; the chain starts
/// with the first event after the upgrade.
async fn events_from_before_the_chain_are_counted_apart(backend: Backend) {
    let (_dir, db, raw) = crate::helpers::migrated_before(backend, "0006").await;
    raw.execute(&format!(
        "INSERT INTO audit_events (at, kind, outcome) VALUES ({}, 'login', 'success')",
        t(0).timestamp()
    ))
    .await
    .unwrap();
    db.migrate().await.unwrap();
    db.append_audit(&AuditEvent::new("login", "success").at(t(60)))
        .await
        .unwrap();
    let report = db.verify_audit_chain(None, &authentic).await.unwrap();
    assert_eq!(
        (report.checked, report.unchained, report.broken),
        (1, 1, None)
    );
    assert_eq!(
        db.list_audit(&AuditFilter::default()).await.unwrap().len(),
        2
    );
    // Pruning takes old events from before the chain too.
    let (_, deleted) = db.prune_audit(t(100), t(30), &sign).await.unwrap().unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(
        db.verify_audit_chain(None, &authentic)
            .await
            .unwrap()
            .unchained,
        0
    );
}

/// Two stores on one database (two replicas) appending at once keep one chain without gaps.
async fn concurrent_writers_keep_one_chain(backend: Backend) {
    let (dir, a) = migrated_db(backend).await;
    let b = dir.connect().await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let db = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            db.append_audit(&AuditEvent::new("login", "success").at(t(i)))
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let report = a.verify_audit_chain(None, &authentic).await.unwrap();
    assert_eq!(
        (report.checked, report.head_seq, report.broken),
        (40, 40, None)
    );
}

on_every_backend! {
    every_event_is_linked_and_the_chain_verifies,
    an_edited_event_is_named,
    a_deleted_event_is_named,
    reordered_events_are_named,
    events_cut_off_the_end_are_noticed,
    a_rewrite_behind_a_signed_checkpoint_is_caught,
    pruning_keeps_the_rest_verifiable,
    verification_from_a_checkpoint_is_anchored_and_nothing_hides_past_the_head,
    events_from_before_the_chain_are_counted_apart,
    concurrent_writers_keep_one_chain(flavor = "multi_thread", worker_threads = 4),
}
