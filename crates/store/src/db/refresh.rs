//! Refresh-token families: rotation with reuse detection (OAuth 2.0 Security BCP, refresh-token
//! rotation).
//!
//! A family is everything issued from one authorization grant. Each refresh token is kept by a
//! keyed hash the gateway computes (never the token). Exactly one token of a live family is
//! current; presenting it rotates it (it becomes used, its successor current). Presenting a used
//! token again means the token leaked or a client retried: shortly after its use (the grace
//! period) the caller is told which token replaced it; later, the whole family is revoked.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{from_unix, to_unix, was_aborted_for_concurrency, Database, Tx};
use crate::StoreError;

/// A refresh-token family to create with its first token ([`Database::create_refresh_family`]).
/// Timestamps keep whole seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshFamily {
    pub family_id: String,
    /// The client the grant was issued to; only it may rotate the family's tokens.
    pub client_id: String,
    /// The person (`people.id`, the tokens' `sub`).
    pub person_id: String,
    /// The granted scopes. A scope may not be empty or contain a space (RFC 6749 §3.3 scope
    /// tokens never do): the store keeps them space-separated.
    pub scopes: Vec<String>,
    /// The SSO session the grant came from (the ID token's `sid`); logout revokes by it.
    pub sid: String,
    pub auth_time: DateTime<Utc>,
    /// Assurance level of the login (1 or 2).
    pub level: u8,
    /// The upstream id (`[[upstreams]] id`).
    pub idp: String,
    /// The account system the person used (`"BCA"` = VNeID).
    pub login_idp: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The family and all its tokens are invalid from this instant on.
    pub expires_at: DateTime<Utc>,
}

/// A refresh-token family as stored. Timestamps keep whole seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFamily {
    pub family_id: String,
    pub client_id: String,
    pub person_id: String,
    pub scopes: Vec<String>,
    pub sid: String,
    pub auth_time: DateTime<Utc>,
    pub level: u8,
    pub idp: String,
    pub login_idp: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When the family was revoked, if it was; the first revocation is kept.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why: [`RefreshFamily::REVOKED_FOR_REUSE`] when rotation detected a reused token,
    /// otherwise what the caller of a `revoke_*` method said (e.g. `"logout"`).
    pub revoked_reason: Option<String>,
}

impl RefreshFamily {
    /// The `revoked_reason` [`Database::rotate_refresh_token`] writes when it detects reuse.
    pub const REVOKED_FOR_REUSE: &'static str = "reuse";

    /// Not revoked and not expired at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// One refresh token and its family, for introspection (RFC 7662): a token is active only
/// while it is its family's current token and the family is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    /// When it was rotated; `None` while it is the current token of its family.
    pub used_at: Option<DateTime<Utc>>,
    /// The hash of the token that replaced it.
    pub replaced_by: Option<String>,
    pub family: RefreshFamily,
}

impl RefreshTokenRecord {
    /// Current (never rotated) and its family active at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.used_at.is_none() && self.family.is_active(now)
    }
}

/// What [`Database::rotate_refresh_token`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// `old` was current: it is now used, `new` is current.
    Rotated(RefreshFamily),
    /// `old` was already used, less than `grace` ago, and was replaced by the token whose hash
    /// is given: the caller may answer with the pair it issued then. Nothing changed (the
    /// replacement may itself have been rotated since).
    WithinGrace {
        family: RefreshFamily,
        replaced_by: String,
    },
    /// `old` was already used earlier than `grace` ago: the whole family is now revoked
    /// (reason [`RefreshFamily::REVOKED_FOR_REUSE`]); the family is returned as revoked.
    Reused(RefreshFamily),
    /// Unknown hash, a token of another client's family, or the family is revoked or expired
    /// (nothing changes).
    Invalid,
}

/// How many times a rotation is tried when Postgres aborts it for a deadlock or a
/// serialization failure (a rotation racing a purge or a revocation of its family).
const ROTATE_ATTEMPTS: usize = 4;

/// The columns of `refresh_families` every query returns, in this order ([`FamilyRow`]).
const FAMILY_COLUMN_NAMES: [&str; 13] = [
    "family_id",
    "client_id",
    "person_id",
    "scopes",
    "sid",
    "auth_time",
    "level",
    "idp",
    "login_idp",
    "created_at",
    "expires_at",
    "revoked_at",
    "revoked_reason",
];

/// [`FAMILY_COLUMN_NAMES`] as a select list, each prefixed with `prefix` (`""` or `"f."`).
fn family_columns(prefix: &str) -> String {
    FAMILY_COLUMN_NAMES
        .iter()
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

type FamilyRow = (
    String,         // family_id
    String,         // client_id
    String,         // person_id
    String,         // scopes
    String,         // sid
    i64,            // auth_time
    i64,            // level
    String,         // idp
    Option<String>, // login_idp
    i64,            // created_at
    i64,            // expires_at
    Option<i64>,    // revoked_at
    Option<String>, // revoked_reason
);

/// `refresh_tokens.created_at, used_at, replaced_by`, then the family's columns.
type TokenFamilyRow = (
    i64,            // refresh_tokens.created_at
    Option<i64>,    // refresh_tokens.used_at
    Option<String>, // refresh_tokens.replaced_by
    String,         // family_id
    String,         // client_id
    String,         // person_id
    String,         // scopes
    String,         // sid
    i64,            // auth_time
    i64,            // level
    String,         // idp
    Option<String>, // login_idp
    i64,            // created_at
    i64,            // expires_at
    Option<i64>,    // revoked_at
    Option<String>, // revoked_reason
);

fn family_from_row(row: FamilyRow) -> Result<RefreshFamily, StoreError> {
    let (
        family_id,
        client_id,
        person_id,
        scopes,
        sid,
        auth_time,
        level,
        idp,
        login_idp,
        created_at,
        expires_at,
        revoked_at,
        revoked_reason,
    ) = row;
    Ok(RefreshFamily {
        family_id,
        client_id,
        person_id,
        scopes: scopes_from_text(&scopes),
        sid,
        auth_time: from_unix(auth_time, "refresh_families.auth_time")?,
        level: u8::try_from(level)
            .map_err(|_| StoreError::Corrupt("refresh_families.level".into()))?,
        idp,
        login_idp,
        created_at: from_unix(created_at, "refresh_families.created_at")?,
        expires_at: from_unix(expires_at, "refresh_families.expires_at")?,
        revoked_at: revoked_at
            .map(|r| from_unix(r, "refresh_families.revoked_at"))
            .transpose()?,
        revoked_reason,
    })
}

fn record_from_row(
    token_hash: &str,
    row: TokenFamilyRow,
) -> Result<RefreshTokenRecord, StoreError> {
    let (
        created_at,
        used_at,
        replaced_by,
        family_id,
        client_id,
        person_id,
        scopes,
        sid,
        auth_time,
        level,
        idp,
        login_idp,
        f_created_at,
        expires_at,
        revoked_at,
        revoked_reason,
    ) = row;
    Ok(RefreshTokenRecord {
        token_hash: token_hash.to_owned(),
        created_at: from_unix(created_at, "refresh_tokens.created_at")?,
        used_at: used_at
            .map(|u| from_unix(u, "refresh_tokens.used_at"))
            .transpose()?,
        replaced_by,
        family: family_from_row((
            family_id,
            client_id,
            person_id,
            scopes,
            sid,
            auth_time,
            level,
            idp,
            login_idp,
            f_created_at,
            expires_at,
            revoked_at,
            revoked_reason,
        ))?,
    })
}

/// The scopes space-separated. An empty scope or one with a space could not be read back as it
/// was written, so it is refused.
fn scopes_to_text(scopes: &[String]) -> Result<String, StoreError> {
    if let Some(bad) = scopes.iter().find(|s| s.is_empty() || s.contains(' ')) {
        return Err(StoreError::Invalid(format!(
            "scope {bad:?} is empty or contains a space"
        )));
    }
    Ok(scopes.join(" "))
}

fn scopes_from_text(text: &str) -> Vec<String> {
    text.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `e` as a [`StoreError::Conflict`] saying `what` when a unique key refused the write.
fn conflict_if_duplicate(e: StoreError, what: &str) -> StoreError {
    if e.is_unique_violation() {
        StoreError::Conflict(format!("{what} already exists"))
    } else {
        e
    }
}

impl Database {
    /// Stores a new family and its first (current) token, in one transaction.
    ///
    /// [`StoreError::Conflict`] when the family id or the token hash is already stored, or
    /// the person does not exist (nothing is written then); [`StoreError::Invalid`] for a scope
    /// that is empty or contains a space.
    #[tracing::instrument(skip_all, fields(family_id = %family.family_id, client_id = %family.client_id))]
    pub async fn create_refresh_family(
        &self,
        family: &NewRefreshFamily,
        first_token_hash: &str,
    ) -> Result<(), StoreError> {
        let scopes = scopes_to_text(&family.scopes)?;
        let mut tx = Tx::begin(&self.pool).await?;
        let inserted: Result<(), StoreError> = on_tx!(&mut tx, |c| {
            sqlx::query(
                "INSERT INTO refresh_families (family_id, client_id, person_id, scopes, sid, \
                 auth_time, level, idp, login_idp, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&family.family_id)
            .bind(&family.client_id)
            .bind(&family.person_id)
            .bind(&scopes)
            .bind(&family.sid)
            .bind(to_unix(family.auth_time))
            .bind(i64::from(family.level))
            .bind(&family.idp)
            .bind(family.login_idp.as_deref())
            .bind(to_unix(family.created_at))
            .bind(to_unix(family.expires_at))
            .execute(c)
            .await
            .map(|_| ())
            .map_err(StoreError::from)
        });
        inserted.map_err(|e| {
            if e.is_foreign_key_violation() {
                StoreError::Conflict("the refresh family's person does not exist".into())
            } else {
                conflict_if_duplicate(e, "a refresh family with this id")
            }
        })?;
        let inserted: Result<(), StoreError> = on_tx!(&mut tx, |c| {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, family_id, created_at) \
                 VALUES ($1, $2, $3)",
            )
            .bind(first_token_hash)
            .bind(&family.family_id)
            .bind(to_unix(family.created_at))
            .execute(c)
            .await
            .map(|_| ())
            .map_err(StoreError::from)
        });
        inserted.map_err(|e| conflict_if_duplicate(e, "a refresh token with this hash"))?;
        tx.commit().await
    }

    /// Presents the refresh token `old_hash` on behalf of `client_id` at `now`, and makes
    /// `new_hash` its successor if it is current. See [`RotateOutcome`] for every answer.
    ///
    /// One transaction, atomic under concurrency on both backends: its first statement locks
    /// the presented token's row (on SQLite it takes the database's write lock), so concurrent
    /// presentations of one token queue and each sees what the one before it committed. Of
    /// two concurrent rotations of the same current token, exactly one is
    /// [`RotateOutcome::Rotated`]; the other sees a used token (within `grace`:
    /// [`RotateOutcome::WithinGrace`]; otherwise [`RotateOutcome::Reused`], and the family is
    /// revoked).
    ///
    /// "Less than `grace` ago" compares whole seconds as stored: with a `grace` of zero every
    /// second presentation is a reuse. A family is expired from its `expires_at` on.
    ///
    /// [`StoreError::Conflict`] when `new_hash` is already stored (nothing changes).
    #[tracing::instrument(skip(self, old_hash, new_hash), fields(outcome))]
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        client_id: &str,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> Result<RotateOutcome, StoreError> {
        let mut last_err = None;
        for _ in 0..ROTATE_ATTEMPTS {
            let result = match Tx::begin(&self.pool).await {
                Ok(tx) => rotate_attempt(tx, old_hash, new_hash, client_id, now, grace).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if was_aborted_for_concurrency(&e) => {
                    tracing::debug!(error = %e, "refresh rotation aborted by the database; retrying");
                    last_err = Some(e);
                }
                Ok(outcome) => {
                    let name = match &outcome {
                        RotateOutcome::Rotated(_) => "rotated",
                        RotateOutcome::WithinGrace { .. } => "within_grace",
                        RotateOutcome::Reused(_) => "reused",
                        RotateOutcome::Invalid => "invalid",
                    };
                    tracing::Span::current().record("outcome", name);
                    return Ok(outcome);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            StoreError::Other("refresh rotation kept being aborted by the database".into())
        }))
    }

    /// The family of the token with this hash, current or used, whatever the family's state
    /// (revoked and expired ones too, until purged). See [`RefreshFamily::is_active`].
    pub async fn refresh_family_by_token(
        &self,
        hash: &str,
    ) -> Result<Option<RefreshFamily>, StoreError> {
        let sql = format!(
            "SELECT {} FROM refresh_families WHERE family_id = \
             (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)",
            family_columns("")
        );
        let row: Option<FamilyRow> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql).bind(hash).fetch_optional(pool).await?
        });
        row.map(family_from_row).transpose()
    }

    /// The token with this hash and its family, for introspection: whether it is still its
    /// family's current token ([`RefreshTokenRecord::is_active`]).
    pub async fn refresh_token(
        &self,
        hash: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let sql = format!(
            "SELECT t.created_at, t.used_at, t.replaced_by, {} FROM refresh_tokens t \
             JOIN refresh_families f ON f.family_id = t.family_id WHERE t.token_hash = $1",
            family_columns("f.")
        );
        let row: Option<TokenFamilyRow> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql).bind(hash).fetch_optional(pool).await?
        });
        row.map(|r| record_from_row(hash, r)).transpose()
    }

    /// Revokes the family (all its tokens) at `now` for `reason` (e.g. `"revoked"` for RFC 7009,
    /// `"admin"`). True when this call revoked it; false when there is no such family or it
    /// was already revoked (the first time and reason are kept).
    #[tracing::instrument(skip(self))]
    pub async fn revoke_refresh_family(
        &self,
        family_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let affected: u64 = on_pool!(&self.pool, |pool| {
            sqlx::query(
                "UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 \
                 WHERE family_id = $3 AND revoked_at IS NULL",
            )
            .bind(to_unix(now))
            .bind(reason)
            .bind(family_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(affected > 0)
    }

    /// Revokes every not yet revoked family of the SSO session `sid` (logout); how many.
    #[tracing::instrument(skip(self))]
    pub async fn revoke_refresh_families_by_sid(
        &self,
        sid: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let affected: u64 = on_pool!(&self.pool, |pool| {
            sqlx::query(
                "UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 \
                 WHERE sid = $3 AND revoked_at IS NULL",
            )
            .bind(to_unix(now))
            .bind(reason)
            .bind(sid)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(affected)
    }

    /// Revokes every not yet revoked family of the client `client_id` (the client was deleted
    /// or its secret leaked); how many.
    #[tracing::instrument(skip(self))]
    pub async fn revoke_refresh_families_by_client(
        &self,
        client_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let affected: u64 = on_pool!(&self.pool, |pool| {
            sqlx::query(
                "UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 \
                 WHERE client_id = $3 AND revoked_at IS NULL",
            )
            .bind(to_unix(now))
            .bind(reason)
            .bind(client_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(affected)
    }

    /// Deletes the families expired at `now` (`expires_at <= now`), revoked or not, with their
    /// tokens; how many families. Revoked families that have not expired are kept, so their
    /// tokens keep answering [`RotateOutcome::Invalid`] and introspection knows them.
    #[tracing::instrument(skip(self))]
    pub async fn purge_expired_refresh_families(
        &self,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let affected: u64 = on_pool!(&self.pool, |pool| {
            sqlx::query("DELETE FROM refresh_families WHERE expires_at <= $1")
                .bind(to_unix(now))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(affected)
    }
}

/// One try of a rotation in `tx`. Commits when it changed something; otherwise the dropped
/// transaction rolls back (it only took a lock).
async fn rotate_attempt(
    mut tx: Tx,
    old_hash: &str,
    new_hash: &str,
    client_id: &str,
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<RotateOutcome, StoreError> {
    // 1. Lock the presented token with a write that changes nothing, written once for both
    //    backends (SQLite has no SELECT … FOR UPDATE). On SQLite it takes the write lock up
    //    front; on Postgres it locks the row, waits for a concurrent rotation of the same token
    //    to end, and RETURNING gives the row as that one left it.
    let token: Option<(String, Option<i64>, Option<String>)> = on_tx!(&mut tx, |c| {
        sqlx::query_as(
            "UPDATE refresh_tokens SET used_at = used_at WHERE token_hash = $1 \
             RETURNING family_id, used_at, replaced_by",
        )
        .bind(old_hash)
        .fetch_optional(c)
        .await?
    });
    let Some((family_id, used_at, replaced_by)) = token else {
        return Ok(RotateOutcome::Invalid);
    };

    // 2. Its family: another client's, revoked or expired → Invalid, nothing changes.
    let sql = format!(
        "SELECT {} FROM refresh_families WHERE family_id = $1",
        family_columns("")
    );
    let row: Option<FamilyRow> = on_tx!(&mut tx, |c| {
        sqlx::query_as(&sql)
            .bind(&family_id)
            .fetch_optional(c)
            .await?
    });
    let Some(row) = row else {
        return Err(StoreError::Corrupt(
            "a refresh token points at a missing family".into(),
        ));
    };
    let family = family_from_row(row)?;
    if family.client_id != client_id || !family.is_active(now) {
        return Ok(RotateOutcome::Invalid);
    }

    // 3. Current → rotate.
    let Some(used_at) = used_at else {
        let now_secs = to_unix(now);
        on_tx!(&mut tx, |c| {
            sqlx::query(
                "UPDATE refresh_tokens SET used_at = $1, replaced_by = $2 WHERE token_hash = $3",
            )
            .bind(now_secs)
            .bind(new_hash)
            .bind(old_hash)
            .execute(c)
            .await?;
        });
        let inserted: Result<(), StoreError> = on_tx!(&mut tx, |c| {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, family_id, created_at) \
                 VALUES ($1, $2, $3)",
            )
            .bind(new_hash)
            .bind(&family_id)
            .bind(now_secs)
            .execute(c)
            .await
            .map(|_| ())
            .map_err(StoreError::from)
        });
        inserted.map_err(|e| conflict_if_duplicate(e, "a refresh token with the new hash"))?;
        tx.commit().await?;
        return Ok(RotateOutcome::Rotated(family));
    };

    // 4. Used: within grace → tell the caller its replacement; otherwise revoke the family.
    let used_at = from_unix(used_at, "refresh_tokens.used_at")?;
    // A `now` before `used_at` (clocks of two replicas) counts as no time at all.
    let elapsed = (now - used_at).to_std().unwrap_or(Duration::ZERO);
    if let Some(replaced_by) = replaced_by.filter(|_| elapsed < grace) {
        return Ok(RotateOutcome::WithinGrace {
            family,
            replaced_by,
        });
    }
    let sql = format!(
        "UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 \
         WHERE family_id = $3 AND revoked_at IS NULL RETURNING {}",
        family_columns("")
    );
    let revoked: Option<FamilyRow> = on_tx!(&mut tx, |c| {
        sqlx::query_as(&sql)
            .bind(to_unix(now))
            .bind(RefreshFamily::REVOKED_FOR_REUSE)
            .bind(&family_id)
            .fetch_optional(c)
            .await?
    });
    let revoked = match revoked {
        Some(row) => family_from_row(row)?,
        None => {
            // Postgres: revoked by a concurrent call since we read it. Revoked either way.
            let sql = format!(
                "SELECT {} FROM refresh_families WHERE family_id = $1",
                family_columns("")
            );
            let row: Option<FamilyRow> = on_tx!(&mut tx, |c| {
                sqlx::query_as(&sql)
                    .bind(&family_id)
                    .fetch_optional(c)
                    .await?
            });
            match row {
                Some(row) => family_from_row(row)?,
                None => return Ok(RotateOutcome::Invalid),
            }
        }
    };
    tx.commit().await?;
    tracing::warn!(
        family_id = %revoked.family_id,
        client_id = %revoked.client_id,
        "refresh token reused after its grace period; family revoked"
    );
    Ok(RotateOutcome::Reused(revoked))
}
