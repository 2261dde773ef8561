//! The audit trail's hash chain: one chain per database, so that an event edited, deleted or
//! moved after it was written shows.
//!
//! Every event appended gets the next `seq` (1, 2, 3, … without gaps), the `hash` of the event
//! before it (`prev_hash`, [`GENESIS`] for the first) and its own `hash`:
//!
//! ```text
//! hash = hex(SHA-256(JSON array ["vneid-audit/v1", seq, prev_hash, at, kind, outcome, reason,
//!        request_id, client_id, upstream, person_id, login_idp, level, subject_masked,
//!        detail]))
//! ```
//!
//! with `at` in unix seconds, absent values as `null`, `detail` as the JSON text stored (a
//! string in the array), and the array written compactly (no spaces) with non-ASCII characters
//! as they are — what Python's `json.dumps(a, ensure_ascii=False, separators=(",", ":"))` also
//! gives, so an auditor can recompute a hash from an export without this code.
//!
//! The chain's head (`audit_chain`: the last `seq` and its hash) moves in the event's own
//! transaction: [`link`] updates it first, which locks it until the transaction ends, so
//! appends are serialised — on Postgres across every replica — and a verifier sees events cut
//! off the end.
//!
//! Anyone who can write the database can recompute every hash after an edit. Signed
//! checkpoints close that: "the chain reached seq N with hash H", with an HMAC the store cannot
//! make (the gateway signs with a key derived from the master key, [`CheckpointClaim`]). A
//! rewrite of anything a checkpoint covers no longer matches it. Pruning old events
//! ([`Database::prune_audit`]) writes such a checkpoint first; the schema lets a delete through
//! only for events a pruning checkpoint covers, and the chain goes on verifiably from it.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::AuditEvent;
use crate::db::{from_unix, to_unix, Database, Tx};
use crate::StoreError;

/// The `prev_hash` of the first event of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event's place in the chain, chosen by [`link`].
pub(super) struct Link {
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// The fields of an event that its hash covers, borrowed from a new event or a stored row.
pub(super) struct Hashed<'a> {
    pub at: i64,
    pub kind: &'a str,
    pub outcome: &'a str,
    pub reason: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub upstream: Option<&'a str>,
    pub person_id: Option<&'a str>,
    pub login_idp: Option<&'a str>,
    pub level: Option<i64>,
    pub subject_masked: Option<&'a str>,
    pub detail: &'a str,
}

impl<'a> Hashed<'a> {
    fn of(event: &'a AuditEvent, detail: &'a str) -> Self {
        Self {
            at: to_unix(event.at),
            kind: &event.kind,
            outcome: &event.outcome,
            reason: event.reason.as_deref(),
            request_id: event.request_id.as_deref(),
            client_id: event.client_id.as_deref(),
            upstream: event.upstream.as_deref(),
            person_id: event.person_id.as_deref(),
            login_idp: event.login_idp.as_deref(),
            level: event.level.map(i64::from),
            subject_masked: event.subject_masked.as_deref(),
            detail,
        }
    }

    /// The hash of this event at `seq` after `prev_hash` (see the module documentation).
    pub fn hash(&self, seq: i64, prev_hash: &str) -> Result<String, StoreError> {
        let encoded = serde_json::to_vec(&(
            "vneid-audit/v1",
            seq,
            prev_hash,
            self.at,
            self.kind,
            self.outcome,
            self.reason,
            self.request_id,
            self.client_id,
            self.upstream,
            self.person_id,
            self.login_idp,
            self.level,
            self.subject_masked,
            self.detail,
        ))
        .map_err(|e| StoreError::Other(Box::new(e)))?;
        Ok(hex(&Sha256::digest(&encoded)))
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Takes the next place in the chain for `event` (whose `detail` is stored as `detail`) and
/// moves the head to it. The head stays locked until `tx` ends.
pub(super) async fn link(
    tx: &mut Tx,
    event: &AuditEvent,
    detail: &str,
) -> Result<Link, StoreError> {
    let head: Option<(i64, String)> = on_tx!(tx, |c| {
        sqlx::query_as(
            "UPDATE audit_chain SET last_seq = last_seq + 1 WHERE id = 1 \
             RETURNING last_seq, last_hash",
        )
        .fetch_optional(c)
        .await?
    });
    let (seq, prev_hash) =
        head.ok_or_else(|| StoreError::Corrupt("audit_chain has no head row".into()))?;
    let hash = Hashed::of(event, detail).hash(seq, &prev_hash)?;
    on_tx!(tx, |c| {
        sqlx::query("UPDATE audit_chain SET last_hash = $1 WHERE id = 1")
            .bind(&hash)
            .execute(c)
            .await?;
    });
    Ok(Link {
        seq,
        prev_hash,
        hash,
    })
}

/// What a checkpoint states, and what its signature covers ([`CheckpointClaim::message`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointClaim {
    /// When it was made (whole seconds).
    pub at: DateTime<Utc>,
    /// The chain reached this `seq`…
    pub through_seq: i64,
    /// …with this hash ([`GENESIS`] for an empty chain).
    pub through_hash: String,
    /// Set on a pruning checkpoint: events of the chain up to `through_seq`, and events from
    /// before the chain older than this, were deleted.
    pub pruned_before: Option<DateTime<Utc>>,
}

impl CheckpointClaim {
    /// The bytes a signature covers: a compact JSON array
    /// `["vneid-audit-checkpoint/v1", at, through_seq, through_hash, pruned_before]`.
    pub fn message(&self) -> Vec<u8> {
        serde_json::json!([
            "vneid-audit-checkpoint/v1",
            to_unix(self.at),
            self.through_seq,
            self.through_hash,
            self.pruned_before.map(to_unix),
        ])
        .to_string()
        .into_bytes()
    }
}

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    pub id: i64,
    pub claim: CheckpointClaim,
    /// Made by the gateway over [`CheckpointClaim::message`].
    pub signature: String,
}

type CheckpointRow = (i64, i64, i64, String, Option<i64>, String);

fn checkpoint_from_row(row: CheckpointRow) -> Result<AuditCheckpoint, StoreError> {
    let (id, at, through_seq, through_hash, pruned_before, signature) = row;
    Ok(AuditCheckpoint {
        id,
        claim: CheckpointClaim {
            at: from_unix(at, "audit_checkpoints.at")?,
            through_seq,
            through_hash,
            pruned_before: pruned_before
                .map(|p| from_unix(p, "audit_checkpoints.pruned_before"))
                .transpose()?,
        },
        signature,
    })
}

/// The latest pruning checkpoint's `(through_seq, through_hash)`, `(0, GENESIS)` without one.
pub(super) fn chain_start(checkpoints: &[AuditCheckpoint]) -> (i64, String) {
    checkpoints
        .iter()
        .filter(|c| c.claim.pruned_before.is_some())
        .max_by_key(|c| c.claim.through_seq)
        .map_or((0, GENESIS.to_owned()), |c| {
            (c.claim.through_seq, c.claim.through_hash.clone())
        })
}

impl Database {
    /// The chain's head: the last `seq` appended and its hash (`(0, GENESIS)` before the first).
    pub async fn audit_head(&self) -> Result<(i64, String), StoreError> {
        let head: Option<(i64, String)> = on_pool!(&self.pool, |pool| {
            sqlx::query_as("SELECT last_seq, last_hash FROM audit_chain WHERE id = 1")
                .fetch_optional(pool)
                .await?
        });
        head.ok_or_else(|| StoreError::Corrupt("audit_chain has no head row".into()))
    }

    /// Every checkpoint, oldest first.
    pub async fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError> {
        let rows: Vec<CheckpointRow> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT id, at, through_seq, through_hash, pruned_before, signature \
                 FROM audit_checkpoints ORDER BY id",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(checkpoint_from_row).collect()
    }

    /// Records, signed by `sign` (over [`CheckpointClaim::message`]), that the chain held
    /// `through` = `(seq, hash)`: the last event a verification checked. `None` when the latest
    /// checkpoint already reaches that far; an error when the event at `seq` does not have that
    /// hash.
    pub async fn checkpoint_audit(
        &self,
        at: DateTime<Utc>,
        through: (i64, String),
        sign: &(dyn Fn(&CheckpointClaim) -> String + Sync),
    ) -> Result<Option<AuditCheckpoint>, StoreError> {
        let (through_seq, through_hash) = through;
        let mut tx = Tx::begin(&self.pool).await?;
        let (latest, stored): (Option<i64>, Option<String>) = on_tx!(&mut tx, |c| {
            sqlx::query_as(
                "SELECT (SELECT MAX(through_seq) FROM audit_checkpoints), \
                        (SELECT hash FROM audit_events WHERE seq = $1)",
            )
            .bind(through_seq)
            .fetch_one(c)
            .await?
        });
        if latest.is_some_and(|l| l >= through_seq) {
            return Ok(None);
        }
        if stored.as_deref() != Some(through_hash.as_str()) {
            return Err(StoreError::Corrupt(format!(
                "the audit event at seq {through_seq} is not the one verified"
            )));
        }
        let claim = CheckpointClaim {
            at,
            through_seq,
            through_hash,
            pruned_before: None,
        };
        let signature = sign(&claim);
        let id = insert_checkpoint(&mut tx, &claim, &signature).await?;
        tx.commit().await?;
        Ok(Some(AuditCheckpoint {
            id,
            claim,
            signature,
        }))
    }

    /// Deletes the events older than `before`: the longest start of the chain whose events are
    /// all older, and events from before the chain that are. A pruning checkpoint signed by
    /// `sign` is written in the same transaction, first: it is what lets the schema delete them
    /// and what the rest of the chain is verified from. Returns the checkpoint and how many
    /// events were deleted; `None` when nothing is old enough.
    pub async fn prune_audit(
        &self,
        at: DateTime<Utc>,
        before: DateTime<Utc>,
        sign: &(dyn Fn(&CheckpointClaim) -> String + Sync),
    ) -> Result<Option<(AuditCheckpoint, u64)>, StoreError> {
        let cutoff = to_unix(before);
        let (pruned_seq, _) = chain_start(&self.audit_checkpoints().await?);
        let mut tx = Tx::begin(&self.pool).await?;
        let (head_seq, _) = lock_head(&mut tx).await?;
        let (first_new, legacy_old): (Option<i64>, i64) = on_tx!(&mut tx, |c| {
            sqlx::query_as(
                "SELECT (SELECT MIN(seq) FROM audit_events WHERE seq IS NOT NULL AND at >= $1), \
                        (SELECT COUNT(*) FROM audit_events WHERE seq IS NULL AND at < $1)",
            )
            .bind(cutoff)
            .fetch_one(c)
            .await?
        });
        let through_seq = first_new.map_or(head_seq, |s| s - 1).max(pruned_seq);
        if through_seq == pruned_seq && legacy_old == 0 {
            return Ok(None);
        }
        let through_hash: String = if through_seq == 0 {
            GENESIS.to_owned()
        } else {
            let hash: Option<Option<String>> = on_tx!(&mut tx, |c| {
                sqlx::query_scalar("SELECT hash FROM audit_events WHERE seq = $1")
                    .bind(through_seq)
                    .fetch_optional(c)
                    .await?
            });
            hash.flatten().ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "the audit event at seq {through_seq} is missing; run `gateway audit verify`"
                ))
            })?
        };
        let claim = CheckpointClaim {
            at,
            through_seq,
            through_hash,
            pruned_before: Some(before),
        };
        let signature = sign(&claim);
        let id = insert_checkpoint(&mut tx, &claim, &signature).await?;
        let deleted = on_tx!(&mut tx, |c| {
            sqlx::query(
                "DELETE FROM audit_events \
                 WHERE (seq IS NOT NULL AND seq <= $1) OR (seq IS NULL AND at < $2)",
            )
            .bind(through_seq)
            .bind(cutoff)
            .execute(c)
            .await?
            .rows_affected()
        });
        tx.commit().await?;
        Ok(Some((
            AuditCheckpoint {
                id,
                claim,
                signature,
            },
            deleted,
        )))
    }
}

/// Locks the chain's head until `tx` ends (appends wait; on SQLite this takes the write lock
/// now rather than failing at the first write after a read) and returns it.
async fn lock_head(tx: &mut Tx) -> Result<(i64, String), StoreError> {
    let head: Option<(i64, String)> = on_tx!(tx, |c| {
        sqlx::query_as(
            "UPDATE audit_chain SET last_seq = last_seq WHERE id = 1 \
             RETURNING last_seq, last_hash",
        )
        .fetch_optional(c)
        .await?
    });
    head.ok_or_else(|| StoreError::Corrupt("audit_chain has no head row".into()))
}

async fn insert_checkpoint(
    tx: &mut Tx,
    claim: &CheckpointClaim,
    signature: &str,
) -> Result<i64, StoreError> {
    let id: i64 = on_tx!(tx, |c| {
        sqlx::query_scalar(
            "INSERT INTO audit_checkpoints (at, through_seq, through_hash, pruned_before, \
             signature) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(to_unix(claim.at))
        .bind(claim.through_seq)
        .bind(&claim.through_hash)
        .bind(claim.pruned_before.map(to_unix))
        .bind(signature)
        .fetch_one(c)
        .await?
    });
    Ok(id)
}
