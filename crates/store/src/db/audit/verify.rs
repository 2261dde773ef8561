//! Walking the audit trail's hash chain ([`super::chain`]) to find the first break.

use super::chain::{chain_start, AuditCheckpoint, Hashed};
use super::{EventRow, AUDIT_COLUMNS};
use crate::db::Database;
use crate::StoreError;

/// How many events [`Database::verify_audit_chain`] reads per query.
const VERIFY_PAGE: i64 = 1000;

/// Where verification found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// No event holds this `seq`, but later ones exist (or the head says the chain went on).
    Missing { seq: i64 },
    /// The event at `seq` does not follow the one before it: its `prev_hash` is not that
    /// event's hash (events were moved, or one before it was replaced).
    Unlinked { seq: i64, id: i64 },
    /// The event at `seq` no longer matches its own hash: it was edited.
    Altered { seq: i64, id: i64 },
    /// The chain's head says it reached `head_seq`, but the events stop at `last_seq`.
    Truncated { last_seq: i64, head_seq: i64 },
    /// The head's hash is not the last event's: the end of the chain was rewritten.
    HeadMismatch { seq: i64 },
    /// Events hold places after the chain's head: they were inserted behind the gateway's back.
    BeyondHead { events: i64 },
    /// A checkpoint's signature does not verify: it was forged or edited.
    ForgedCheckpoint { checkpoint: i64 },
    /// The event at `seq` is not what a signed checkpoint says the chain had there: the chain
    /// was rewritten (and rehashed) after the checkpoint.
    Rewritten { seq: i64, checkpoint: i64 },
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing { seq } => write!(f, "the event at seq {seq} is missing (deleted)"),
            Self::Unlinked { seq, id } => write!(
                f,
                "the event at seq {seq} (id {id}) does not follow seq {}: events were moved, \
                 or the one before it was replaced",
                seq - 1
            ),
            Self::Altered { seq, id } => write!(
                f,
                "the event at seq {seq} (id {id}) does not match its hash: it was edited"
            ),
            Self::Truncated { last_seq, head_seq } => write!(
                f,
                "the chain's head is at seq {head_seq} but the events stop at seq {last_seq}: \
                 the last events were deleted"
            ),
            Self::HeadMismatch { seq } => write!(
                f,
                "the chain's head does not hold the hash of its last event (seq {seq}): the end \
                 of the chain was rewritten"
            ),
            Self::BeyondHead { events } => write!(
                f,
                "{events} event(s) hold places after the chain's head: they were inserted \
                 behind the gateway's back"
            ),
            Self::ForgedCheckpoint { checkpoint } => write!(
                f,
                "checkpoint {checkpoint} has a signature that does not verify: it was forged \
                 or edited"
            ),
            Self::Rewritten { seq, checkpoint } => write!(
                f,
                "the event at seq {seq} is not the one signed checkpoint {checkpoint} covers: \
                 the chain was rewritten"
            ),
        }
    }
}

/// What [`Database::verify_audit_chain`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// The first `seq` checked (after the last pruning checkpoint, or `--from`).
    pub from_seq: i64,
    /// Events whose link and hash were checked.
    pub checked: u64,
    /// Where the chain's head is.
    pub head_seq: i64,
    /// Checkpoints whose signature verified.
    pub checkpoints: u64,
    /// Events without a place in the chain (written before it existed).
    pub unchained: u64,
    /// The first break, if any; checking stops there.
    pub broken: Option<ChainBreak>,
    /// The last event checked, `(seq, hash)`, when the chain held: what a checkpoint may sign.
    pub last: Option<(i64, String)>,
}

impl Database {
    /// Walks the chain up to its head and reports the first break. It starts after the latest
    /// pruning checkpoint, or at `from`: then the first event's `prev_hash` must be the hash a
    /// checkpoint signed for `from - 1`, or is taken on trust when none did. Every checkpoint
    /// must satisfy `authentic` (the gateway checks its signature) and match the event it
    /// covers; the last event must be the head. Events appended while it runs are not read
    /// (every event up to the head read first is committed: the head moves at commit).
    pub async fn verify_audit_chain(
        &self,
        from: Option<i64>,
        authentic: &(dyn Fn(&AuditCheckpoint) -> bool + Sync),
    ) -> Result<ChainReport, StoreError> {
        let checkpoints = self.audit_checkpoints().await?;
        let (head_seq, head_hash) = self.audit_head().await?;
        let unchained: i64 = on_pool!(&self.pool, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE seq IS NULL")
                .fetch_one(pool)
                .await?
        });
        let (pruned_seq, pruned_hash) = chain_start(&checkpoints);
        let mut report = ChainReport {
            from_seq: pruned_seq + 1,
            checked: 0,
            head_seq,
            checkpoints: 0,
            unchained: u64::try_from(unchained).unwrap_or(0),
            broken: None,
            last: None,
        };
        for c in &checkpoints {
            if !authentic(c) {
                report.broken = Some(ChainBreak::ForgedCheckpoint { checkpoint: c.id });
                return Ok(report);
            }
            report.checkpoints += 1;
        }
        // Start no later than the last event, so that the head is compared with something.
        let first = pruned_seq + 1;
        report.from_seq = match from {
            Some(f) if f > first => f.min(head_seq.max(first)),
            _ => first,
        };
        // The previous hash expected of the next event; `None` while it is taken on trust.
        let mut expected_prev = if report.from_seq == first {
            Some(pruned_hash)
        } else {
            checkpoints
                .iter()
                .find(|c| c.claim.through_seq == report.from_seq - 1)
                .map(|c| c.claim.through_hash.clone())
        };
        let mut last_hash = expected_prev.clone();
        let mut next_seq = report.from_seq;
        loop {
            let sql = format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_events \
                 WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3"
            );
            let rows: Vec<EventRow> = on_pool!(&self.pool, |pool| {
                sqlx::query_as(&sql)
                    .bind(next_seq)
                    .bind(head_seq)
                    .bind(VERIFY_PAGE)
                    .fetch_all(pool)
                    .await?
            });
            let page_len = rows.len();
            for row in rows {
                if let Some(broken) =
                    check_row(&row, next_seq, expected_prev.as_deref(), &checkpoints)?
                {
                    report.broken = Some(broken);
                    return Ok(report);
                }
                report.checked += 1;
                next_seq += 1;
                expected_prev.clone_from(&row.15);
                last_hash = row.15;
            }
            if i64::try_from(page_len).unwrap_or(i64::MAX) < VERIFY_PAGE {
                break;
            }
        }
        let last_seq = next_seq - 1;
        report.broken = if last_seq < head_seq {
            Some(ChainBreak::Truncated { last_seq, head_seq })
        } else if last_seq > head_seq || last_hash.as_ref().is_some_and(|h| *h != head_hash) {
            Some(ChainBreak::HeadMismatch { seq: last_seq })
        } else {
            checkpoints
                .iter()
                .find(|c| c.claim.through_seq > last_seq)
                .map(|c| ChainBreak::Truncated {
                    last_seq,
                    head_seq: c.claim.through_seq,
                })
        };
        if report.broken.is_none() {
            // One statement, one snapshot: events past the head as it is now.
            let beyond: i64 = on_pool!(&self.pool, |pool| {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM audit_events \
                     WHERE seq > (SELECT last_seq FROM audit_chain WHERE id = 1)",
                )
                .fetch_one(pool)
                .await?
            });
            if beyond > 0 {
                report.broken = Some(ChainBreak::BeyondHead { events: beyond });
            }
        }
        if report.broken.is_none() && report.checked > 0 {
            report.last = last_hash.map(|h| (last_seq, h));
        }
        Ok(report)
    }
}

/// The break `row` shows when `expected_seq` and `expected_prev` (when known) are what the chain
/// holds before it, or `None` when it is the chain's next event.
fn check_row(
    row: &EventRow,
    expected_seq: i64,
    expected_prev: Option<&str>,
    checkpoints: &[AuditCheckpoint],
) -> Result<Option<ChainBreak>, StoreError> {
    let (id, seq, prev_hash, hash) = (row.0, row.13, row.14.as_deref(), row.15.as_deref());
    if seq != Some(expected_seq) {
        return Ok(Some(ChainBreak::Missing { seq: expected_seq }));
    }
    let seq = expected_seq;
    if expected_prev.is_some_and(|p| prev_hash != Some(p)) {
        return Ok(Some(ChainBreak::Unlinked { seq, id }));
    }
    let hashed = Hashed {
        at: row.1,
        kind: &row.2,
        outcome: &row.3,
        reason: row.4.as_deref(),
        request_id: row.5.as_deref(),
        client_id: row.6.as_deref(),
        upstream: row.7.as_deref(),
        person_id: row.8.as_deref(),
        login_idp: row.9.as_deref(),
        level: row.10,
        subject_masked: row.11.as_deref(),
        detail: &row.12,
    };
    if hash != Some(hashed.hash(seq, prev_hash.unwrap_or_default())?.as_str()) {
        return Ok(Some(ChainBreak::Altered { seq, id }));
    }
    if let Some(c) = checkpoints
        .iter()
        .find(|c| c.claim.through_seq == seq && hash != Some(c.claim.through_hash.as_str()))
    {
        return Ok(Some(ChainBreak::Rewritten {
            seq,
            checkpoint: c.id,
        }));
    }
    Ok(None)
}
