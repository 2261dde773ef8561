//! Rotation of a refresh token with reuse detection: one transaction (a savepoint of a group
//! commit on a SQLite file), retried when Postgres aborts it for concurrency.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    conflict_if_duplicate, family_columns, family_from_row, insert_token, revoke_families_sql,
    FamilyRow, RefreshFamily, RotateOutcome,
};
use crate::db::group::{mismatched_answer, Done, Work};
use crate::db::{from_unix, to_unix, Database, Tx};
use crate::StoreError;

impl Database {
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
    ///
    /// Durable before it returns; on a SQLite file it joins the next group commit
    /// ([`crate::db::group`]).
    #[tracing::instrument(skip(self, old_hash, new_hash), fields(outcome))]
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        client_id: &str,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> Result<RotateOutcome, StoreError> {
        let work = Work::Rotate(Box::new(Rotation {
            old_hash: old_hash.to_owned(),
            new_hash: new_hash.to_owned(),
            client_id: client_id.to_owned(),
            now,
            grace,
        }));
        let outcome = match self.write(work).await? {
            Done::Rotated(outcome) => *outcome,
            _ => return Err(mismatched_answer()),
        };
        let name = match &outcome {
            RotateOutcome::Rotated(_) => "rotated",
            RotateOutcome::WithinGrace { .. } => "within_grace",
            RotateOutcome::Reused(_) => "reused",
            RotateOutcome::Invalid => "invalid",
        };
        tracing::Span::current().record("outcome", name);
        if let RotateOutcome::Reused(revoked) = &outcome {
            tracing::warn!(
                family_id = %revoked.family_id,
                client_id = %revoked.client_id,
                "refresh token reused after its grace period; family revoked"
            );
        }
        Ok(outcome)
    }
}

/// A presentation of a refresh token, as [`Database::rotate_refresh_token`] takes it.
pub(in crate::db) struct Rotation {
    pub old_hash: String,
    pub new_hash: String,
    pub client_id: String,
    pub now: DateTime<Utc>,
    pub grace: Duration,
}

/// One try of a rotation in `tx`, which the caller commits (when nothing changed, the
/// transaction only took a lock).
pub(in crate::db) async fn rotate_in(
    tx: &mut Tx,
    rotation: &Rotation,
) -> Result<RotateOutcome, StoreError> {
    let Rotation {
        old_hash,
        new_hash,
        client_id,
        now,
        grace,
    } = rotation;
    let (now, grace) = (*now, *grace);
    // 1. Lock the presented token with a write that changes nothing, written once for both
    //    backends (SQLite has no SELECT … FOR UPDATE). On SQLite it takes the write lock up
    //    front; on Postgres it locks the row, waits for a concurrent rotation of the same token
    //    to end, and RETURNING gives the row as that one left it.
    let token: Option<(String, Option<i64>, Option<String>)> = on_tx!(tx, |c| {
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
    let Some(family) = family_in_tx(tx, &family_id).await? else {
        return Err(StoreError::Corrupt(
            "a refresh token points at a missing family".into(),
        ));
    };
    if family.client_id != *client_id || !family.is_active(now) {
        return Ok(RotateOutcome::Invalid);
    }

    // 3. Current → rotate.
    let Some(used_at) = used_at else {
        let now_secs = to_unix(now);
        on_tx!(tx, |c| {
            sqlx::query(
                "UPDATE refresh_tokens SET used_at = $1, replaced_by = $2 WHERE token_hash = $3",
            )
            .bind(now_secs)
            .bind(new_hash)
            .bind(old_hash)
            .execute(c)
            .await?;
        });
        insert_token(tx, new_hash, &family_id, now_secs)
            .await
            .map_err(|e| conflict_if_duplicate(e, "a refresh token with the new hash"))?;
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
        "{} RETURNING {}",
        revoke_families_sql("family_id"),
        family_columns("")
    );
    let revoked: Option<FamilyRow> = on_tx!(tx, |c| {
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
            match family_in_tx(tx, &family_id).await? {
                Some(family) => family,
                None => return Ok(RotateOutcome::Invalid),
            }
        }
    };
    Ok(RotateOutcome::Reused(revoked))
}

/// The family `family_id` as read in `tx`; `None` when there is no such family.
async fn family_in_tx(tx: &mut Tx, family_id: &str) -> Result<Option<RefreshFamily>, StoreError> {
    let sql = format!(
        "SELECT {} FROM refresh_families WHERE family_id = $1",
        family_columns("")
    );
    let row: Option<FamilyRow> = on_tx!(tx, |c| {
        sqlx::query_as(&sql)
            .bind(family_id)
            .fetch_optional(c)
            .await?
    });
    row.map(family_from_row).transpose()
}
