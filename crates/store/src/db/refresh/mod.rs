//! Refresh-token families: rotation with reuse detection (OAuth 2.0 Security BCP, refresh-token
//! rotation).
//!
//! A family is everything issued from one authorization grant. Each refresh token is kept by a
//! keyed hash the gateway computes (never the token). Exactly one token of a live family is
//! current; presenting it rotates it (it becomes used, its successor current). Presenting a used
//! token again means the token leaked or a client retried: shortly after its use (the grace
//! period) the caller is told which token replaced it; later, the whole family is revoked.
//!
//! This module holds the types and the row decoding its parts share; `families` creates, reads,
//! revokes and purges families, `rotate` rotates a token with reuse detection.

mod families;
mod rotate;

pub(in crate::db) use families::create_family_in;
pub(in crate::db) use rotate::{rotate_in, Rotation};

use chrono::{DateTime, Utc};

use super::{column_list, from_unix, Tx};
use crate::StoreError;

/// A refresh-token family to create with its first token
/// ([`Database::create_refresh_family`](crate::Database::create_refresh_family)).
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
    /// The thumbprint of the DPoP key the family is bound to (RFC 9449 §5: a public client's
    /// refresh tokens): every refresh must prove that key.
    pub dpop_jkt: Option<String>,
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
    /// See [`NewRefreshFamily::dpop_jkt`].
    pub dpop_jkt: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When the family was revoked, if it was; the first revocation is kept.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why: [`RefreshFamily::REVOKED_FOR_REUSE`] when rotation detected a reused token,
    /// otherwise what the caller of a `revoke_*` method said (e.g. `"logout"`).
    pub revoked_reason: Option<String>,
}

impl RefreshFamily {
    /// The `revoked_reason` that
    /// [`Database::rotate_refresh_token`](crate::Database::rotate_refresh_token) writes when it
    /// detects reuse.
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

/// What [`Database::rotate_refresh_token`](crate::Database::rotate_refresh_token) did.
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

/// The columns of `refresh_families` every query returns, in this order ([`FamilyRow`]).
const FAMILY_COLUMN_NAMES: [&str; 14] = [
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
    "dpop_jkt",
];

/// [`FAMILY_COLUMN_NAMES`] as a select list, each prefixed with `prefix` (`""` or `"f."`).
fn family_columns(prefix: &str) -> String {
    column_list(&FAMILY_COLUMN_NAMES, prefix)
}

/// The columns of [`FAMILY_COLUMN_NAMES`] as read, before decoding.
struct FamilyRow {
    family_id: String,
    client_id: String,
    person_id: String,
    scopes: String,
    sid: String,
    auth_time: i64,
    level: i64,
    idp: String,
    login_idp: Option<String>,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    revoked_reason: Option<String>,
    dpop_jkt: Option<String>,
}

/// `refresh_tokens.created_at, used_at, replaced_by`, then the family's columns.
struct TokenFamilyRow {
    created_at: i64,
    used_at: Option<i64>,
    replaced_by: Option<String>,
    family: FamilyRow,
}

/// Reads the rows of this module on either backend: a row's columns by position (more than the
/// sixteen sqlx reads into a tuple).
macro_rules! impl_from_row {
    ($row:ty, |$r:ident| $body:expr) => {
        impl<'r, R> sqlx::FromRow<'r, R> for $row
        where
            R: sqlx::Row,
            usize: sqlx::ColumnIndex<R>,
            String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        {
            fn from_row($r: &'r R) -> Result<Self, sqlx::Error> {
                $body
            }
        }
    };
}

impl FamilyRow {
    /// The family's columns, from column `at` on.
    fn read<'r, R>(r: &'r R, at: usize) -> Result<Self, sqlx::Error>
    where
        R: sqlx::Row,
        usize: sqlx::ColumnIndex<R>,
        String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        Ok(Self {
            family_id: r.try_get(at)?,
            client_id: r.try_get(at + 1)?,
            person_id: r.try_get(at + 2)?,
            scopes: r.try_get(at + 3)?,
            sid: r.try_get(at + 4)?,
            auth_time: r.try_get(at + 5)?,
            level: r.try_get(at + 6)?,
            idp: r.try_get(at + 7)?,
            login_idp: r.try_get(at + 8)?,
            created_at: r.try_get(at + 9)?,
            expires_at: r.try_get(at + 10)?,
            revoked_at: r.try_get(at + 11)?,
            revoked_reason: r.try_get(at + 12)?,
            dpop_jkt: r.try_get(at + 13)?,
        })
    }
}

impl_from_row!(FamilyRow, |r| FamilyRow::read(r, 0));
impl_from_row!(TokenFamilyRow, |r| Ok(TokenFamilyRow {
    created_at: r.try_get(0)?,
    used_at: r.try_get(1)?,
    replaced_by: r.try_get(2)?,
    family: FamilyRow::read(r, 3)?,
}));

fn family_from_row(row: FamilyRow) -> Result<RefreshFamily, StoreError> {
    Ok(RefreshFamily {
        family_id: row.family_id,
        client_id: row.client_id,
        person_id: row.person_id,
        scopes: scopes_from_text(&row.scopes),
        sid: row.sid,
        auth_time: from_unix(row.auth_time, "refresh_families.auth_time")?,
        level: u8::try_from(row.level)
            .map_err(|_| StoreError::Corrupt("refresh_families.level".into()))?,
        idp: row.idp,
        login_idp: row.login_idp,
        dpop_jkt: row.dpop_jkt,
        created_at: from_unix(row.created_at, "refresh_families.created_at")?,
        expires_at: from_unix(row.expires_at, "refresh_families.expires_at")?,
        revoked_at: row
            .revoked_at
            .map(|r| from_unix(r, "refresh_families.revoked_at"))
            .transpose()?,
        revoked_reason: row.revoked_reason,
    })
}

fn record_from_row(
    token_hash: &str,
    row: TokenFamilyRow,
) -> Result<RefreshTokenRecord, StoreError> {
    Ok(RefreshTokenRecord {
        token_hash: token_hash.to_owned(),
        created_at: from_unix(row.created_at, "refresh_tokens.created_at")?,
        used_at: row
            .used_at
            .map(|u| from_unix(u, "refresh_tokens.used_at"))
            .transpose()?,
        replaced_by: row.replaced_by,
        family: family_from_row(row.family)?,
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

/// The statement that revokes, at `$1` (unix seconds) for the reason `$2`, the families whose
/// `key_column` equals `$3` and that are not revoked yet: a family already revoked keeps its
/// first revocation time and reason. `key_column` is a column of `refresh_families` named by
/// this crate (`family_id`, `sid`, `client_id`), never input.
fn revoke_families_sql(key_column: &'static str) -> String {
    format!(
        "UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 \
         WHERE {key_column} = $3 AND revoked_at IS NULL"
    )
}

/// Inserts `token_hash` as a current (never used) token of the family `family_id`, created at
/// `created_at` (unix seconds), in `tx`. Errors come back as they are (a unique violation when
/// the hash is already stored): the caller says which token it was.
async fn insert_token(
    tx: &mut Tx,
    token_hash: &str,
    family_id: &str,
    created_at: i64,
) -> Result<(), StoreError> {
    on_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, created_at) \
             VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(family_id)
        .bind(created_at)
        .execute(c)
        .await?;
    });
    Ok(())
}
