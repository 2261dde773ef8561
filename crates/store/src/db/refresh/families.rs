//! Creating, reading, revoking and purging refresh-token families.

use chrono::{DateTime, Utc};

use super::{
    conflict_if_duplicate, family_columns, family_from_row, insert_token, record_from_row,
    revoke_families_sql, scopes_to_text, FamilyRow, NewRefreshFamily, RefreshFamily,
    RefreshTokenRecord, TokenFamilyRow,
};
use crate::db::group::{mismatched_answer, Done, Work};
use crate::db::{to_unix, Database, Tx};
use crate::StoreError;

impl Database {
    /// Stores a new family and its first (current) token, in one transaction.
    ///
    /// [`StoreError::Conflict`] when the family id or the token hash is already stored, or
    /// the person does not exist (nothing is written then); [`StoreError::Invalid`] for a scope
    /// that is empty or contains a space.
    /// Durable before it returns; on a SQLite file it joins the next group commit
    /// ([`crate::db::group`]), like the login that precedes it.
    #[tracing::instrument(skip_all, fields(family_id = %family.family_id, client_id = %family.client_id))]
    pub async fn create_refresh_family(
        &self,
        family: &NewRefreshFamily,
        first_token_hash: &str,
    ) -> Result<(), StoreError> {
        let work = Work::RefreshFamily(Box::new(family.clone()), first_token_hash.to_owned());
        match self.write(work).await? {
            Done::RefreshFamily => Ok(()),
            _ => Err(mismatched_answer()),
        }
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
        let affected = self
            .revoke_families_where("family_id", family_id, reason, now)
            .await?;
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
        self.revoke_families_where("sid", sid, reason, now).await
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
        self.revoke_families_where("client_id", client_id, reason, now)
            .await
    }

    /// Deletes the families expired at `now` (`expires_at <= now`), revoked or not, with their
    /// tokens; how many families. Revoked families that have not expired are kept, so their
    /// tokens keep answering [`RotateOutcome::Invalid`](super::RotateOutcome::Invalid) and
    /// introspection knows them.
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

    /// Revokes at `now` for `reason` the families whose `key_column` equals `key` and that are
    /// not revoked yet (see `revoke_families_sql`); how many.
    async fn revoke_families_where(
        &self,
        key_column: &'static str,
        key: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let sql = revoke_families_sql(key_column);
        let affected: u64 = on_pool!(&self.pool, |pool| {
            sqlx::query(&sql)
                .bind(to_unix(now))
                .bind(reason)
                .bind(key)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(affected)
    }
}

/// Inserts a new family and its first token in `tx`, which the caller commits.
pub(in crate::db) async fn create_family_in(
    tx: &mut Tx,
    family: &NewRefreshFamily,
    first_token_hash: &str,
) -> Result<(), StoreError> {
    let scopes = scopes_to_text(&family.scopes)?;
    let inserted: Result<(), StoreError> = on_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO refresh_families (family_id, client_id, person_id, scopes, sid, \
                 auth_time, level, idp, login_idp, created_at, expires_at, dpop_jkt) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
        .bind(family.dpop_jkt.as_deref())
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
    insert_token(
        tx,
        first_token_hash,
        &family.family_id,
        to_unix(family.created_at),
    )
    .await
    .map_err(|e| conflict_if_duplicate(e, "a refresh token with this hash"))
}
