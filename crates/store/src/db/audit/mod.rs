//! The append-only audit trail: events, their listing, and (in [`chain`]) the hash chain that
//! makes an edit, a deletion or a reordering visible.

mod chain;
mod verify;

pub use chain::{AuditCheckpoint, CheckpointClaim, GENESIS};
pub use verify::{ChainBreak, ChainReport};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::group::{mismatched_answer, Done, Work};
use super::{from_unix, to_unix, Database, Tx};
use crate::StoreError;

/// The most events one [`Database::list_audit`] call returns, whatever the filter asks.
pub const AUDIT_LIST_MAX: u32 = 1000;

/// One audit event: a login, a refusal, a link, an unlink, a key rotation, an admin change.
///
/// Kinds and outcomes are the gateway's vocabulary (e.g. `"login"` / `"success"`,
/// `"login"` / `"denied"` with reason `"level_too_low"`). Nothing here may carry a personal ID
/// number in clear: put a masked subject in `subject_masked`, a person by `person_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Assigned by the store on append; `None` on an event not yet stored.
    pub id: Option<i64>,
    /// Whole seconds are kept.
    pub at: DateTime<Utc>,
    pub kind: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub client_id: Option<String>,
    pub upstream: Option<String>,
    pub person_id: Option<String>,
    pub login_idp: Option<String>,
    pub level: Option<u8>,
    pub subject_masked: Option<String>,
    /// Free-form JSON context; an empty object by default.
    pub detail: serde_json::Value,
    /// The event's place in the database's hash chain (1, 2, 3, … without gaps), assigned by the
    /// store on append; `None` on an event not yet stored and on events written before the
    /// chain existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// The hash of the event at `seq - 1` (64 zeros for the first), set by the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<String>,
    /// SHA-256 (hex) over the event's canonical encoding and `prev_hash`, set by the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

impl AuditEvent {
    /// An event of `kind` with `outcome`, at the current wall-clock time. Callers that hold an
    /// injected clock set the time with [`AuditEvent::at`].
    pub fn new(kind: impl Into<String>, outcome: impl Into<String>) -> Self {
        Self {
            id: None,
            at: vneid_core::Clock::now(&vneid_core::SystemClock),
            kind: kind.into(),
            outcome: outcome.into(),
            reason: None,
            request_id: None,
            client_id: None,
            upstream: None,
            person_id: None,
            login_idp: None,
            level: None,
            subject_masked: None,
            detail: serde_json::Value::Object(serde_json::Map::new()),
            seq: None,
            prev_hash: None,
            hash: None,
        }
    }

    #[must_use]
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = at;
        self
    }

    #[must_use]
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    #[must_use]
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    #[must_use]
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    #[must_use]
    pub fn upstream(mut self, upstream: impl Into<String>) -> Self {
        self.upstream = Some(upstream.into());
        self
    }

    #[must_use]
    pub fn person_id(mut self, person_id: impl Into<String>) -> Self {
        self.person_id = Some(person_id.into());
        self
    }

    #[must_use]
    pub fn login_idp(mut self, login_idp: impl Into<String>) -> Self {
        self.login_idp = Some(login_idp.into());
        self
    }

    #[must_use]
    pub fn level(mut self, level: u8) -> Self {
        self.level = Some(level);
        self
    }

    #[must_use]
    pub fn subject_masked(mut self, subject_masked: impl Into<String>) -> Self {
        self.subject_masked = Some(subject_masked.into());
        self
    }

    #[must_use]
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Which audit events [`Database::list_audit`] returns: newest first (or oldest first), at
/// most `limit` (capped at [`AUDIT_LIST_MAX`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only events of this kind.
    pub kind: Option<String>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only events with a smaller id (older): the `id` of the last event of the previous page,
    /// newest first.
    pub before_id: Option<i64>,
    /// Only events with a larger id (newer): the `id` of the last event of the previous page,
    /// oldest first.
    pub after_id: Option<i64>,
    /// Oldest first (exports) instead of newest first.
    pub oldest_first: bool,
    pub limit: u32,
}

impl Default for AuditFilter {
    fn default() -> Self {
        Self {
            kind: None,
            since: None,
            until: None,
            before_id: None,
            after_id: None,
            oldest_first: false,
            limit: 100,
        }
    }
}

const AUDIT_COLUMNS: &str = "id, at, kind, outcome, reason, request_id, client_id, upstream, \
                             person_id, login_idp, level, subject_masked, detail, seq, \
                             prev_hash, hash";

/// The [`AUDIT_COLUMNS`] of one row, in that order (a tuple decodes on either backend).
type EventRow = (
    i64,            // id
    i64,            // at
    String,         // kind
    String,         // outcome
    Option<String>, // reason
    Option<String>, // request_id
    Option<String>, // client_id
    Option<String>, // upstream
    Option<String>, // person_id
    Option<String>, // login_idp
    Option<i64>,    // level
    Option<String>, // subject_masked
    String,         // detail
    Option<i64>,    // seq
    Option<String>, // prev_hash
    Option<String>, // hash
);

fn event_from_row(row: EventRow) -> Result<AuditEvent, StoreError> {
    let (
        id,
        at,
        kind,
        outcome,
        reason,
        request_id,
        client_id,
        upstream,
        person_id,
        login_idp,
        level,
        subject_masked,
        detail,
        seq,
        prev_hash,
        hash,
    ) = row;
    let level = level
        .map(|l| u8::try_from(l).map_err(|_| StoreError::Corrupt("audit_events.level".into())))
        .transpose()?;
    let detail = serde_json::from_str(&detail)
        .map_err(|_| StoreError::Corrupt("audit_events.detail is not JSON".into()))?;
    Ok(AuditEvent {
        id: Some(id),
        at: from_unix(at, "audit_events.at")?,
        kind,
        outcome,
        reason,
        request_id,
        client_id,
        upstream,
        person_id,
        login_idp,
        level,
        subject_masked,
        detail,
        seq,
        prev_hash,
        hash,
    })
}

impl Database {
    /// Appends one event and returns the id it was given, once the event is durable. There is
    /// no update or delete: the schema refuses both. On a SQLite file the event joins the next
    /// group commit ([`super::group`]).
    #[tracing::instrument(skip_all, fields(kind = %event.kind, outcome = %event.outcome))]
    pub async fn append_audit(&self, event: &AuditEvent) -> Result<i64, StoreError> {
        match self.write(Work::Audit(Box::new(event.clone()))).await? {
            Done::Audit(id) => Ok(id),
            _ => Err(mismatched_answer()),
        }
    }

    /// Events matching `filter`, newest first (oldest first with `filter.oldest_first`).
    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        let mut conditions = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if filter.kind.is_some() {
            conditions.push(format!("kind = ${}", next()));
        }
        if filter.since.is_some() {
            conditions.push(format!("at >= ${}", next()));
        }
        if filter.until.is_some() {
            conditions.push(format!("at < ${}", next()));
        }
        if filter.before_id.is_some() {
            conditions.push(format!("id < ${}", next()));
        }
        if filter.after_id.is_some() {
            conditions.push(format!("id > ${}", next()));
        }
        let limit_param = next();
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let order = if filter.oldest_first { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events {where_clause} \
             ORDER BY id {order} LIMIT ${limit_param}"
        );
        let limit = i64::from(filter.limit.min(AUDIT_LIST_MAX));
        let rows: Vec<EventRow> = on_pool!(&self.pool, |pool| {
            let mut q = sqlx::query_as(&sql);
            if let Some(kind) = &filter.kind {
                q = q.bind(kind);
            }
            if let Some(since) = filter.since {
                q = q.bind(to_unix(since));
            }
            if let Some(until) = filter.until {
                q = q.bind(to_unix(until));
            }
            if let Some(before_id) = filter.before_id {
                q = q.bind(before_id);
            }
            if let Some(after_id) = filter.after_id {
                q = q.bind(after_id);
            }
            q.bind(limit).fetch_all(pool).await?
        });
        rows.into_iter().map(event_from_row).collect()
    }
}

/// Appends `event` inside a transaction: written with the change it records, or not at all. It
/// takes the next place in the hash chain ([`chain::link`]), which holds the chain's head until
/// the transaction ends.
pub(super) async fn append_audit_in(tx: &mut Tx, event: &AuditEvent) -> Result<i64, StoreError> {
    let detail =
        serde_json::to_string(&event.detail).map_err(|e| StoreError::Other(Box::new(e)))?;
    let link = chain::link(tx, event, &detail).await?;
    let id: i64 = on_tx!(tx, |c| {
        sqlx::query_scalar(
            "INSERT INTO audit_events (at, kind, outcome, reason, request_id, client_id, \
             upstream, person_id, login_idp, level, subject_masked, detail, seq, prev_hash, \
             hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             RETURNING id",
        )
        .bind(to_unix(event.at))
        .bind(&event.kind)
        .bind(&event.outcome)
        .bind(event.reason.as_deref())
        .bind(event.request_id.as_deref())
        .bind(event.client_id.as_deref())
        .bind(event.upstream.as_deref())
        .bind(event.person_id.as_deref())
        .bind(event.login_idp.as_deref())
        .bind(event.level.map(i64::from))
        .bind(event.subject_masked.as_deref())
        .bind(&detail)
        .bind(link.seq)
        .bind(&link.prev_hash)
        .bind(&link.hash)
        .fetch_one(c)
        .await?
    });
    Ok(id)
}
