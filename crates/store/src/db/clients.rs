//! Clients (downstream portals) kept in the database: those registered through the admin API or
//! `gateway clients add`, beside the ones in the configuration file.

use chrono::{DateTime, Utc};

use super::{from_unix, to_unix, Database, Tx};
use crate::StoreError;

/// A client as stored. The list fields are kept as JSON arrays; timestamps keep whole seconds.
/// Its `Debug` output leaves out the secret hash.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientRow {
    pub client_id: String,
    /// A name for people (consent and error pages, the admin UI).
    pub name: Option<String>,
    /// Keyed hash (HMAC-SHA-256 with a server key) of the secret the gateway generated; `None`
    /// for a public client or one that authenticates with `private_key_jwt`.
    pub secret_hash: Option<String>,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` or `none`.
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    /// The least assurance level this client accepts; `None`: the gateway's default.
    pub min_level: Option<u8>,
    /// The upstream ids this client may use; empty: all.
    pub upstreams: Vec<String>,
    /// The client's public JWK Set (JSON text), for `private_key_jwt`.
    pub jwks: Option<String>,
    /// `public` (the person id is the `sub`) or `pairwise` (a per-sector `sub`).
    pub subject_type: String,
    /// The sector of a pairwise client; `None`: the host of its redirect URIs.
    pub sector_identifier: Option<String>,
    pub created_at: DateTime<Utc>,
    /// During a secret rotation: the previous secret's keyed hash and when it stops working.
    pub previous_secret: Option<PreviousSecret>,
    /// The account types this client admits (`citizen`, `organisation`); `None`: both.
    pub account_types: Option<Vec<String>>,
    /// Its authorization requests must come through `/par` (RFC 9126); false on the rows of
    /// builds before migration 0009.
    pub require_pushed_authorization_requests: bool,
    /// Its access tokens are only bound to a key it holds (RFC 9449 DPoP): a token request
    /// without a proof is refused; false on the rows of builds before migration 0010.
    pub dpop_bound_access_tokens: bool,
    /// The rule set it follows as a whole: `standard` or `fapi2`; `standard` on the rows of
    /// builds before migration 0010.
    pub profile: String,
}

/// A client's previous secret, still accepted until `until`.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PreviousSecret {
    pub hash: String,
    /// Unix seconds in storage; a time here.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub until: DateTime<Utc>,
}

impl std::fmt::Debug for PreviousSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviousSecret")
            .field("hash", &"[redacted]")
            .field("until", &self.until)
            .finish()
    }
}

impl std::fmt::Debug for ClientRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRow")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field(
                "secret_hash",
                &self.secret_hash.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field("redirect_uris", &self.redirect_uris)
            .field("post_logout_redirect_uris", &self.post_logout_redirect_uris)
            .field("backchannel_logout_uri", &self.backchannel_logout_uri)
            .field("grant_types", &self.grant_types)
            .field("scopes", &self.scopes)
            .field("min_level", &self.min_level)
            .field("upstreams", &self.upstreams)
            .field("jwks", &self.jwks)
            .field("subject_type", &self.subject_type)
            .field("sector_identifier", &self.sector_identifier)
            .field("created_at", &self.created_at)
            .field("previous_secret", &self.previous_secret)
            .field("account_types", &self.account_types)
            .field(
                "require_pushed_authorization_requests",
                &self.require_pushed_authorization_requests,
            )
            .field("dpop_bound_access_tokens", &self.dpop_bound_access_tokens)
            .field("profile", &self.profile)
            .finish()
    }
}

/// The columns of `clients` every query returns, in this order ([`ClientDbRow`]).
const CLIENT_COLUMNS: &str = "client_id, name, secret_hash, token_endpoint_auth_method, \
                              redirect_uris, post_logout_redirect_uris, backchannel_logout_uri, \
                              grant_types, scopes, min_level, upstreams, jwks, subject_type, \
                              sector_identifier, created_at, previous_secret, account_types, \
                              require_pushed_authorization_requests, dpop_bound_access_tokens, \
                              profile";

/// A row of [`CLIENT_COLUMNS`]: the first sixteen columns (as many as sqlx reads into a tuple),
/// then `account_types`, `require_pushed_authorization_requests`, `dpop_bound_access_tokens`
/// and `profile`.
struct ClientDbRow(FirstColumns, Option<String>, bool, bool, String);

impl<'r, R> sqlx::FromRow<'r, R> for ClientDbRow
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    FirstColumns: sqlx::FromRow<'r, R>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self(
            FirstColumns::from_row(row)?,
            row.try_get(16)?,
            row.try_get(17)?,
            row.try_get(18)?,
            row.try_get(19)?,
        ))
    }
}

type FirstColumns = (
    String,         // client_id
    Option<String>, // name
    Option<String>, // secret_hash
    String,         // token_endpoint_auth_method
    String,         // redirect_uris
    String,         // post_logout_redirect_uris
    Option<String>, // backchannel_logout_uri
    String,         // grant_types
    String,         // scopes
    Option<i64>,    // min_level
    String,         // upstreams
    Option<String>, // jwks
    String,         // subject_type
    Option<String>, // sector_identifier
    i64,            // created_at
    Option<String>, // previous_secret (JSON)
);

fn list_to_json(list: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(list).map_err(|e| StoreError::Other(Box::new(e)))
}

fn list_from_json(text: &str, column: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| {
        StoreError::Corrupt(format!("clients.{column} is not a JSON array of strings"))
    })
}

fn client_from_row(row: ClientDbRow) -> Result<ClientRow, StoreError> {
    let ClientDbRow(
        row,
        account_types,
        require_pushed_authorization_requests,
        dpop_bound_access_tokens,
        profile,
    ) = row;
    let (
        client_id,
        name,
        secret_hash,
        token_endpoint_auth_method,
        redirect_uris,
        post_logout_redirect_uris,
        backchannel_logout_uri,
        grant_types,
        scopes,
        min_level,
        upstreams,
        jwks,
        subject_type,
        sector_identifier,
        created_at,
        previous_secret,
    ) = row;
    Ok(ClientRow {
        client_id,
        name,
        secret_hash,
        token_endpoint_auth_method,
        redirect_uris: list_from_json(&redirect_uris, "redirect_uris")?,
        post_logout_redirect_uris: list_from_json(
            &post_logout_redirect_uris,
            "post_logout_redirect_uris",
        )?,
        backchannel_logout_uri,
        grant_types: list_from_json(&grant_types, "grant_types")?,
        scopes: list_from_json(&scopes, "scopes")?,
        min_level: min_level
            .map(|l| u8::try_from(l).map_err(|_| StoreError::Corrupt("clients.min_level".into())))
            .transpose()?,
        upstreams: list_from_json(&upstreams, "upstreams")?,
        jwks,
        subject_type,
        sector_identifier,
        created_at: from_unix(created_at, "clients.created_at")?,
        previous_secret: previous_secret
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|_| StoreError::Corrupt("clients.previous_secret".into()))
            })
            .transpose()?,
        account_types: account_types
            .map(|text| list_from_json(&text, "account_types"))
            .transpose()?,
        require_pushed_authorization_requests,
        dpop_bound_access_tokens,
        profile,
    })
}

impl Database {
    /// Stores a new client. A `client_id` already stored is a [`StoreError::Conflict`].
    #[tracing::instrument(skip_all, fields(client_id = %client.client_id))]
    pub async fn insert_client(&self, client: &ClientRow) -> Result<(), StoreError> {
        let redirect_uris = list_to_json(&client.redirect_uris)?;
        let post_logout_redirect_uris = list_to_json(&client.post_logout_redirect_uris)?;
        let grant_types = list_to_json(&client.grant_types)?;
        let scopes = list_to_json(&client.scopes)?;
        let upstreams = list_to_json(&client.upstreams)?;
        let account_types = client
            .account_types
            .as_deref()
            .map(list_to_json)
            .transpose()?;
        let result: Result<(), StoreError> = on_pool!(&self.pool, |pool| {
            sqlx::query(
                "INSERT INTO clients (client_id, name, secret_hash, token_endpoint_auth_method, \
                 redirect_uris, post_logout_redirect_uris, backchannel_logout_uri, grant_types, \
                 scopes, min_level, upstreams, jwks, subject_type, sector_identifier, created_at, \
                 account_types, require_pushed_authorization_requests, dpop_bound_access_tokens, \
                 profile) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                 $17, $18, $19)",
            )
            .bind(&client.client_id)
            .bind(client.name.as_deref())
            .bind(client.secret_hash.as_deref())
            .bind(&client.token_endpoint_auth_method)
            .bind(&redirect_uris)
            .bind(&post_logout_redirect_uris)
            .bind(client.backchannel_logout_uri.as_deref())
            .bind(&grant_types)
            .bind(&scopes)
            .bind(client.min_level.map(i64::from))
            .bind(&upstreams)
            .bind(client.jwks.as_deref())
            .bind(&client.subject_type)
            .bind(client.sector_identifier.as_deref())
            .bind(to_unix(client.created_at))
            .bind(account_types.as_deref())
            .bind(client.require_pushed_authorization_requests)
            .bind(client.dpop_bound_access_tokens)
            .bind(&client.profile)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(StoreError::from)
        });
        match result {
            Err(e) if e.is_unique_violation() => Err(StoreError::Conflict(format!(
                "a client with id {:?} already exists",
                client.client_id
            ))),
            other => other,
        }
    }

    /// Every stored client, by `client_id` (byte order on both backends).
    pub async fn list_clients(&self) -> Result<Vec<ClientRow>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY client_id");
        let rows: Vec<ClientDbRow> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql).fetch_all(pool).await?
        });
        rows.into_iter().map(client_from_row).collect()
    }

    /// The stored client with this id, if any.
    pub async fn client(&self, id: &str) -> Result<Option<ClientRow>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1");
        let row: Option<ClientDbRow> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        row.map(client_from_row).transpose()
    }

    /// Replaces what may change of a stored client: its name, URIs, grants, scopes, level,
    /// account types, upstreams, keys, whether it must push its authorization requests, whether
    /// its tokens are DPoP-bound and its profile. Its
    /// id, secret, authentication method, subject type, sector and creation time stay. False
    /// when there is no such client.
    #[tracing::instrument(skip_all, fields(client_id = %client.client_id))]
    pub async fn update_client(&self, client: &ClientRow) -> Result<bool, StoreError> {
        let redirect_uris = list_to_json(&client.redirect_uris)?;
        let post_logout_redirect_uris = list_to_json(&client.post_logout_redirect_uris)?;
        let grant_types = list_to_json(&client.grant_types)?;
        let scopes = list_to_json(&client.scopes)?;
        let upstreams = list_to_json(&client.upstreams)?;
        let account_types = client
            .account_types
            .as_deref()
            .map(list_to_json)
            .transpose()?;
        let affected: u64 = on_pool!(&self.pool, |pool| {
            sqlx::query(
                "UPDATE clients SET name = $2, redirect_uris = $3, post_logout_redirect_uris = $4, \
                 backchannel_logout_uri = $5, grant_types = $6, scopes = $7, min_level = $8, \
                 upstreams = $9, jwks = $10, account_types = $11, \
                 require_pushed_authorization_requests = $12, dpop_bound_access_tokens = $13, \
                 profile = $14 WHERE client_id = $1",
            )
            .bind(&client.client_id)
            .bind(client.name.as_deref())
            .bind(&redirect_uris)
            .bind(&post_logout_redirect_uris)
            .bind(client.backchannel_logout_uri.as_deref())
            .bind(&grant_types)
            .bind(&scopes)
            .bind(client.min_level.map(i64::from))
            .bind(&upstreams)
            .bind(client.jwks.as_deref())
            .bind(account_types.as_deref())
            .bind(client.require_pushed_authorization_requests)
            .bind(client.dpop_bound_access_tokens)
            .bind(&client.profile)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(affected > 0)
    }

    /// Gives a client a new secret (its keyed hash), keeping `previous` accepted until its time
    /// (`None`: the old secret stops at once). False when there is no such client, or it has no
    /// secret (public, or `private_key_jwt`).
    #[tracing::instrument(skip(self, new_hash, previous))]
    pub async fn rotate_client_secret(
        &self,
        id: &str,
        new_hash: &str,
        previous: Option<&PreviousSecret>,
    ) -> Result<bool, StoreError> {
        let previous = previous
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        let affected: u64 = on_pool!(&self.pool, |pool| {
            sqlx::query(
                "UPDATE clients SET secret_hash = $2, previous_secret = $3 \
                 WHERE client_id = $1 AND secret_hash IS NOT NULL",
            )
            .bind(id)
            .bind(new_hash)
            .bind(previous.as_deref())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(affected > 0)
    }

    /// Deletes the stored client with this id; false when there is none. Its refresh-token
    /// families are left as they are: revoke them first with
    /// [`Database::revoke_refresh_families_by_client`].
    #[tracing::instrument(skip(self))]
    pub async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        let affected: u64 = on_pool!(&self.pool, |pool| {
            sqlx::query("DELETE FROM clients WHERE client_id = $1")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(affected > 0)
    }
}

impl Database {
    /// Removes the stored client with this id in one transaction: revokes its refresh-token
    /// families (with `reason`) and deletes it. `None` when there is no such client (nothing
    /// changes); otherwise how many families were revoked.
    #[tracing::instrument(skip(self))]
    pub async fn remove_client(
        &self,
        id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = Tx::begin(&self.pool).await?;
        // The delete first: on SQLite the first statement takes the write lock.
        let deleted: u64 = on_tx!(&mut tx, |c| {
            sqlx::query("DELETE FROM clients WHERE client_id = $1")
                .bind(id)
                .execute(c)
                .await?
                .rows_affected()
        });
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let revoked: u64 = on_tx!(&mut tx, |c| {
            sqlx::query(
                "UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 \
                 WHERE client_id = $3 AND revoked_at IS NULL",
            )
            .bind(to_unix(now))
            .bind(reason)
            .bind(id)
            .execute(c)
            .await?
            .rows_affected()
        });
        tx.commit().await?;
        Ok(Some(revoked))
    }

    /// Remembers that `subject` is the pairwise `sub` of `person_id` in `sector`. Idempotent.
    pub async fn remember_pairwise_subject(
        &self,
        sector: &str,
        subject: &str,
        person_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_pool!(&self.pool, |pool| {
            sqlx::query(
                "INSERT INTO pairwise_subjects (sector, subject, person_id, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (sector, subject) DO NOTHING",
            )
            .bind(sector)
            .bind(subject)
            .bind(person_id)
            .bind(to_unix(at))
            .execute(pool)
            .await
            .map(|_| ())?
        });
        Ok(())
    }

    /// The person behind a pairwise `sub` of `sector`, if it was handed out.
    pub async fn person_by_pairwise_subject(
        &self,
        sector: &str,
        subject: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<String> = on_pool!(&self.pool, |pool| {
            sqlx::query_scalar(
                "SELECT person_id FROM pairwise_subjects WHERE sector = $1 AND subject = $2",
            )
            .bind(sector)
            .bind(subject)
            .fetch_optional(pool)
            .await?
        });
        Ok(row)
    }
}
