//! The provider's signing keys.

use chrono::{DateTime, Utc};

use super::audit::append_audit_in;
use super::{from_unix, to_unix, AuditEvent, Database, Tx};
use crate::StoreError;

/// A signing key as stored. Timestamps keep whole seconds.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
    pub retires_at: Option<DateTime<Utc>>,
    /// The private key sealed with the master key (AEAD).
    pub private_key_sealed: Vec<u8>,
    /// The public half as a JWK (JSON text), as published in the JWKS.
    pub public_jwk: String,
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retires_at", &self.retires_at)
            .field("private_key_sealed", &"[sealed]")
            .field("public_jwk", &self.public_jwk)
            .finish()
    }
}

type KeyRow = (String, String, i64, i64, Option<i64>, Vec<u8>, String);

fn key_from_row(row: KeyRow) -> Result<SigningKeyRow, StoreError> {
    let (kid, alg, created_at, activates_at, retires_at, private_key_sealed, public_jwk) = row;
    Ok(SigningKeyRow {
        kid,
        alg,
        created_at: from_unix(created_at, "signing_keys.created_at")?,
        activates_at: from_unix(activates_at, "signing_keys.activates_at")?,
        retires_at: retires_at
            .map(|r| from_unix(r, "signing_keys.retires_at"))
            .transpose()?,
        private_key_sealed,
        public_jwk,
    })
}

impl Database {
    /// Stores a new signing key. A `kid` already present is a [`StoreError::Conflict`].
    #[tracing::instrument(skip_all, fields(kid = %key.kid, alg = %key.alg))]
    pub async fn insert_signing_key(&self, key: &SigningKeyRow) -> Result<(), StoreError> {
        let mut tx = Tx::begin(&self.pool).await?;
        insert_key_in(&mut tx, key).await?;
        tx.commit().await
    }

    /// A key rotation, all or nothing: stores `key`, sets `retires_at` on every other key not
    /// yet scheduled for retirement, and appends the audit event `audit` makes of their kids —
    /// in one transaction, so a failure at any step leaves the keys as they were. Returns the
    /// kids now retiring.
    #[tracing::instrument(skip_all, fields(kid = %key.kid, alg = %key.alg))]
    pub async fn rotate_signing_keys(
        &self,
        key: &SigningKeyRow,
        retires_at: DateTime<Utc>,
        audit: impl FnOnce(&[String]) -> AuditEvent,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = Tx::begin(&self.pool).await?;
        insert_key_in(&mut tx, key).await?;
        let mut retiring: Vec<String> = on_tx!(&mut tx, |c| {
            sqlx::query_scalar(
                "UPDATE signing_keys SET retires_at = $1 \
                 WHERE kid <> $2 AND retires_at IS NULL RETURNING kid",
            )
            .bind(to_unix(retires_at))
            .bind(&key.kid)
            .fetch_all(c)
            .await?
        });
        retiring.sort();
        append_audit_in(&mut tx, &audit(&retiring)).await?;
        tx.commit().await?;
        Ok(retiring)
    }

    /// Every signing key, retired ones included, oldest activation first (ties by `kid`).
    pub async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRow>, StoreError> {
        let sql = "SELECT kid, alg, created_at, activates_at, retires_at, private_key_sealed, \
                   public_jwk FROM signing_keys ORDER BY activates_at, kid";
        let rows: Vec<KeyRow> = on_pool!(&self.pool, |pool| sqlx::query_as(sql)
            .fetch_all(pool)
            .await?);
        rows.into_iter().map(key_from_row).collect()
    }

    /// Sets the key's retirement time (it may be moved, e.g. brought forward after a leak).
    /// Returns false when no key has this `kid`.
    #[tracing::instrument(skip(self))]
    pub async fn retire_signing_key(
        &self,
        kid: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let affected: u64 = on_pool!(&self.pool, |pool| {
            sqlx::query("UPDATE signing_keys SET retires_at = $1 WHERE kid = $2")
                .bind(to_unix(at))
                .bind(kid)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(affected > 0)
    }
}

/// Inserts `key` in `tx`; a `kid` already present is a [`StoreError::Conflict`].
async fn insert_key_in(tx: &mut Tx, key: &SigningKeyRow) -> Result<(), StoreError> {
    let inserted: Result<(), StoreError> = on_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, created_at, activates_at, retires_at, \
             private_key_sealed, public_jwk) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(to_unix(key.created_at))
        .bind(to_unix(key.activates_at))
        .bind(key.retires_at.map(to_unix))
        .bind(&key.private_key_sealed)
        .bind(&key.public_jwk)
        .execute(c)
        .await
        .map(drop)
        .map_err(StoreError::from)
    });
    match inserted {
        Err(e) if e.is_unique_violation() => Err(StoreError::Conflict(format!(
            "a signing key with kid {:?} already exists",
            key.kid
        ))),
        other => other,
    }
}
