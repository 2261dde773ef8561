//! The audit trail as the gateway runs it: checkpoints signed with the master key, verification
//! of the hash chain, pruning by `[audit] retain`, and reading events for the admin API and the
//! CLI. The chain itself (hashing, linking, walking) is the store's.

use std::time::Duration;

use actix_web::web;
use chrono::{DateTime, NaiveDate, Utc};
use vneid_store::{
    AuditCheckpoint, AuditEvent, AuditFilter, ChainBreak, ChainReport, CheckpointClaim, Database,
    StoreError, AUDIT_LIST_MAX,
};
use vneid_tokens::MasterKey;

use crate::state::AppState;

/// How often a replica tries to prune (the first one after a day's turn does the work).
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);
/// How long after start a replica first checkpoints and prunes.
const FIRST_UPKEEP_AFTER: Duration = Duration::from_secs(60);

/// Walks the chain from the latest pruning checkpoint (or `from`), with checkpoint signatures
/// checked against `master`.
pub async fn verify(
    db: &Database,
    master: &MasterKey,
    from: Option<i64>,
) -> Result<ChainReport, StoreError> {
    let authentic =
        |c: &AuditCheckpoint| master.verify_audit_checkpoint(&c.claim.message(), &c.signature);
    db.verify_audit_chain(from, &authentic).await
}

/// Why the upkeep of the audit trail did not sign or prune.
#[derive(Debug, thiserror::Error)]
pub enum UpkeepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Nothing is signed or deleted over a broken chain: that would bless or destroy evidence.
    #[error("the audit trail was tampered with: {0}; nothing was signed or deleted")]
    Broken(ChainBreak),
}

/// Verifies what the latest checkpoint does not cover yet (anchored on that checkpoint's
/// hash), so that a checkpoint never signs, nor a prune deletes, a chain someone changed.
async fn verify_since_checkpoint(
    db: &Database,
    master: &MasterKey,
) -> Result<ChainReport, UpkeepError> {
    let from = db
        .audit_checkpoints()
        .await?
        .iter()
        .map(|c| c.claim.through_seq + 1)
        .max();
    let report = verify(db, master, from).await?;
    match report.broken {
        Some(broken) => Err(UpkeepError::Broken(broken)),
        None => Ok(report),
    }
}

/// Verifies the chain since the latest checkpoint, then signs what it checked; `None` when
/// there was nothing new.
pub async fn checkpoint(
    db: &Database,
    master: &MasterKey,
    now: DateTime<Utc>,
) -> Result<Option<AuditCheckpoint>, UpkeepError> {
    let Some(last) = verify_since_checkpoint(db, master).await?.last else {
        return Ok(None);
    };
    let sign = |claim: &CheckpointClaim| master.sign_audit_checkpoint(&claim.message());
    Ok(db.checkpoint_audit(now, last, &sign).await?)
}

/// Deletes the events older than `retain` behind a signed checkpoint, once the chain since the
/// latest checkpoint verified: the checkpoint and how many events went, or `None` when none is
/// old enough.
pub async fn prune(
    db: &Database,
    master: &MasterKey,
    now: DateTime<Utc>,
    retain: Duration,
) -> Result<Option<(AuditCheckpoint, u64)>, UpkeepError> {
    let retain = chrono::Duration::from_std(retain).unwrap_or(chrono::Duration::MAX);
    let Some(before) = now.checked_sub_signed(retain) else {
        return Ok(None);
    };
    verify_since_checkpoint(db, master).await?;
    let sign = |claim: &CheckpointClaim| master.sign_audit_checkpoint(&claim.message());
    Ok(db.prune_audit(now, before, &sign).await?)
}

/// Every `[audit] checkpoint_every`: signs the chain's head when it moved; once a day: prunes
/// by `[audit] retain`. Several replicas may do it; a second checkpoint of the same head and a
/// second prune of the same events are skipped by the store.
pub fn spawn_upkeep(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let every = state
            .settings
            .audit
            .checkpoint_every
            .max(Duration::from_secs(1));
        let mut next_prune = tokio::time::Instant::now() + FIRST_UPKEEP_AFTER;
        tokio::time::sleep(FIRST_UPKEEP_AFTER.min(every)).await;
        loop {
            let now = state.clock.now();
            let checked = checkpoint(&state.db, &state.master, now).await;
            note(&state, &checked);
            match checked {
                Ok(Some(c)) => {
                    tracing::debug!(through_seq = c.claim.through_seq, "audit chain head signed")
                }
                Ok(None) => {}
                Err(UpkeepError::Broken(b)) => tracing::error!(
                    broken = %b,
                    "the audit trail was tampered with; run `gateway audit verify`"
                ),
                Err(e) => tracing::warn!(error = %e, "signing the audit chain's head failed"),
            }
            if let Some(retain) = state.settings.audit.retain {
                if tokio::time::Instant::now() >= next_prune {
                    next_prune += PRUNE_EVERY;
                    match prune(&state.db, &state.master, now, retain).await {
                        Ok(Some((c, n))) => tracing::info!(
                            pruned = n,
                            through_seq = c.claim.through_seq,
                            "audit events past their retention deleted behind a signed checkpoint"
                        ),
                        Ok(None) => {}
                        Err(UpkeepError::Broken(_)) => {} // logged above, from the same check
                        Err(e) => tracing::warn!(error = %e, "pruning the audit trail failed"),
                    }
                }
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// The gauges of a check: the head reached, and whether it found a break.
fn note(state: &AppState, checked: &Result<Option<AuditCheckpoint>, UpkeepError>) {
    let m = &state.metrics;
    match checked {
        Err(UpkeepError::Broken(_)) => m.audit_chain_broken.set(1),
        Ok(Some(c)) => m.audit_chain_head.set(c.claim.through_seq),
        _ => {}
    }
}

/// What a reader asks of the audit trail (the admin API's query, `gateway audit export`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Events at or after: a date (`YYYY-MM-DD`, from the start of that day in Vietnam) or an
    /// RFC 3339 time.
    pub from: Option<String>,
    /// Events up to: a date (that whole day in Vietnam, included) or an RFC 3339 time
    /// (excluded).
    pub to: Option<String>,
    pub kind: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// A query that cannot be read; the message names the parameter (English, for integrators).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadQuery(pub String);

impl AuditQuery {
    /// The store filter of this query, newest first, or oldest first for an export.
    pub fn filter(&self, oldest_first: bool) -> Result<AuditFilter, BadQuery> {
        let since = self
            .from
            .as_deref()
            .map(|v| instant("from", v, false))
            .transpose()?;
        let until = self
            .to
            .as_deref()
            .map(|v| instant("to", v, true))
            .transpose()?;
        if let (Some(s), Some(u)) = (since, until) {
            if s >= u {
                return Err(BadQuery("from must be before to".into()));
            }
        }
        let cursor = self
            .cursor
            .as_deref()
            .map(|c| {
                c.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| BadQuery("cursor is not a cursor this API gave".into()))
            })
            .transpose()?;
        let limit = self.limit.unwrap_or(100);
        if !(1..=AUDIT_LIST_MAX).contains(&limit) {
            return Err(BadQuery(format!(
                "limit must be between 1 and {AUDIT_LIST_MAX}"
            )));
        }
        if self
            .kind
            .as_deref()
            .is_some_and(|k| k.is_empty() || k.len() > 64)
        {
            return Err(BadQuery("kind must be 1 to 64 characters".into()));
        }
        Ok(AuditFilter {
            kind: self.kind.clone(),
            since,
            until,
            before_id: cursor.filter(|_| !oldest_first),
            after_id: cursor.filter(|_| oldest_first),
            oldest_first,
            limit,
        })
    }
}

/// `value` of parameter `name` as an instant: a Vietnam calendar day's start (or, for the end
/// of a range, the next day's start) or an RFC 3339 time.
fn instant(name: &str, value: &str, end: bool) -> Result<DateTime<Utc>, BadQuery> {
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if !(1970..=9999).contains(&chrono::Datelike::year(&day)) {
            return Err(BadQuery(format!(
                "{name} must be a date between 1970 and 9999"
            )));
        }
        let (start, next) = vneid_core::vietnam::day_bounds(day, day);
        return Ok(if end { next } else { start });
    }
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            BadQuery(format!(
                "{name} must be a date (YYYY-MM-DD) or an RFC 3339 time"
            ))
        })
}

/// One page of events and the cursor of the next (when the page is full).
pub async fn page(
    db: &Database,
    filter: &AuditFilter,
) -> Result<(Vec<AuditEvent>, Option<String>), StoreError> {
    let events = db.list_audit(filter).await?;
    let next = (events.len() == filter.limit as usize)
        .then(|| events.last().and_then(|e| e.id))
        .flatten()
        .map(|id| id.to_string());
    Ok((events, next))
}
