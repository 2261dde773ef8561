//! Registering a portal (the admin API and `gateway clients add` share [`register_client`]) and
//! removing one, each with its audit event.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use url::Url;
use vneid_store::{AuditEvent, ClientRow, Database, StoreError};
use vneid_tokens::{random_token, MasterKey};

use super::{Client, ClientRegistry};
use crate::config::{ClientAuthMethod, ClientSettings, ConfigError, Settings};

/// Who asked for a change, for the audit trail.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `cli` or `admin`.
    pub via: &'static str,
    /// The admin API caller's client id.
    pub by: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    fn detail(&self, mut detail: serde_json::Value) -> serde_json::Value {
        detail["via"] = serde_json::json!(self.via);
        if let Some(by) = &self.by {
            detail["by"] = serde_json::json!(by);
        }
        detail
    }

    fn stamp(&self, event: AuditEvent) -> AuditEvent {
        match &self.request_id {
            Some(r) => event.request_id(r),
            None => event,
        }
    }
}

/// Why a client could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// A bad field; the key is the field's name (`redirect_uris[0]`).
    #[error("{0}")]
    Invalid(ConfigError),
    #[error("client_id {0:?} is already in the configuration file")]
    InConfig(String),
    #[error("client_id {0:?} is already registered")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

fn invalid(key: &str, message: impl Into<String>) -> RegisterError {
    RegisterError::Invalid(ConfigError {
        key: key.to_owned(),
        message: message.into(),
    })
}

/// The characters a registered client id may use: it is part of the admin API's paths.
pub(super) fn check_client_id(id: &str) -> Result<(), RegisterError> {
    if id.is_empty()
        || id.len() > 128
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    {
        return Err(invalid(
            "client_id",
            "1 to 128 letters, digits, '-', '_', '.' or '~'",
        ));
    }
    Ok(())
}

/// A client's secret, made by the gateway: 256 random bits.
pub fn new_client_secret() -> Result<SecretString, RegisterError> {
    random_token(32)
        .map(SecretString::from)
        .map_err(|e| RegisterError::Internal(e.to_string()))
}

/// Registers a client in the database: checks it exactly as a `[[clients]]` entry of the
/// configuration file would be checked, makes its secret (256 random bits) unless it is public
/// or uses `private_key_jwt`, stores it with the secret's keyed hash only, and writes the audit
/// event `client_added`. Returns the client and its secret — the only time the secret is seen.
pub async fn register_client(
    settings: &Settings,
    db: &Database,
    master: &MasterKey,
    mut client: ClientSettings,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Client, Option<SecretString>), RegisterError> {
    if client.client_secret.is_some() {
        return Err(invalid(
            "client_secret",
            "the gateway makes the secret; do not send one",
        ));
    }
    check_client_id(&client.client_id)?;
    if settings
        .clients
        .iter()
        .any(|c| c.client_id == client.client_id)
    {
        return Err(RegisterError::InConfig(client.client_id));
    }
    let secret = match client.token_endpoint_auth_method {
        Some(ClientAuthMethod::None | ClientAuthMethod::PrivateKeyJwt) => None,
        _ => Some(new_client_secret()?),
    };
    client.client_secret = secret.clone();
    let upstream_ids: Vec<&str> = settings.upstreams.iter().map(|u| u.id.as_str()).collect();
    client
        .check(
            "",
            &upstream_ids,
            &settings.resource_scopes(),
            settings.simulator.enabled,
        )
        .map_err(RegisterError::Invalid)?;
    let secret_hash = secret
        .as_ref()
        .map(|s| master.hash_client_secret(s.expose_secret()));
    let row = row_of(&client, secret_hash, now);
    let registered = Client::from_row(&row).map_err(RegisterError::Internal)?;
    db.insert_client(&row).await.map_err(|e| match e {
        StoreError::Conflict(_) => RegisterError::Exists(row.client_id.clone()),
        other => RegisterError::Store(other),
    })?;
    db.append_audit(
        &actor.stamp(
            AuditEvent::new("client_added", "success")
                .at(now)
                .client_id(&row.client_id)
                .detail(actor.detail(serde_json::json!({
                    "grant_types": row.grant_types,
                    "scopes": row.scopes,
                    "token_endpoint_auth_method": row.token_endpoint_auth_method,
                    "subject_type": row.subject_type,
                    "require_pushed_authorization_requests":
                        row.require_pushed_authorization_requests,
                    "dpop_bound_access_tokens": row.dpop_bound_access_tokens,
                    "profile": row.profile,
                }))),
        ),
    )
    .await?;
    Ok((registered, secret))
}

/// The stored row of a client's settings.
fn row_of(
    client: &ClientSettings,
    secret_hash: Option<String>,
    created_at: DateTime<Utc>,
) -> ClientRow {
    ClientRow {
        client_id: client.client_id.clone(),
        name: client.name.clone(),
        secret_hash,
        token_endpoint_auth_method: client.auth_method().as_str().to_owned(),
        redirect_uris: client.redirect_uris.iter().map(Url::to_string).collect(),
        post_logout_redirect_uris: client
            .post_logout_redirect_uris
            .iter()
            .map(Url::to_string)
            .collect(),
        backchannel_logout_uri: client.backchannel_logout_uri.as_ref().map(Url::to_string),
        grant_types: client.grant_types.clone(),
        scopes: client.scopes.clone(),
        min_level: client.min_level.map(|l| l.number()),
        // Both (the default) is stored as NULL, as the rows of builds before account types.
        account_types: {
            let admitted = client.admitted_account_types();
            (admitted != vneid_core::AccountType::ALL)
                .then(|| admitted.iter().map(|t| t.as_str().to_owned()).collect())
        },
        upstreams: client.upstreams.clone(),
        jwks: client.jwks.clone(),
        subject_type: client.subject_type.as_str().to_owned(),
        sector_identifier: client.sector_identifier.clone(),
        created_at,
        previous_secret: None,
        // What the client's profile implies is stored as set: the row says what is enforced.
        require_pushed_authorization_requests: client.requires_par(),
        dpop_bound_access_tokens: client.dpop_bound(),
        profile: client.profile.as_str().to_owned(),
    }
}

/// What `PATCH` may change of a client, by field name, for the audit of what changed.
fn changeable(r: &ClientRow) -> [(&'static str, serde_json::Value); 13] {
    use serde_json::json;
    [
        ("name", json!(r.name)),
        ("redirect_uris", json!(r.redirect_uris)),
        (
            "post_logout_redirect_uris",
            json!(r.post_logout_redirect_uris),
        ),
        ("backchannel_logout_uri", json!(r.backchannel_logout_uri)),
        ("grant_types", json!(r.grant_types)),
        ("scopes", json!(r.scopes)),
        ("min_level", json!(r.min_level)),
        ("account_types", json!(r.account_types)),
        ("upstreams", json!(r.upstreams)),
        ("jwks", json!(r.jwks)),
        (
            "require_pushed_authorization_requests",
            json!(r.require_pushed_authorization_requests),
        ),
        (
            "dpop_bound_access_tokens",
            json!(r.dpop_bound_access_tokens),
        ),
        ("profile", json!(r.profile)),
    ]
}

/// Why a client could not be changed, have its secret rotated, or be removed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// A bad field, or one that may not change; the key is the field's name.
    #[error("{0}")]
    Invalid(ConfigError),
    #[error("no such client")]
    NotFound,
    #[error("the client lives in the configuration file")]
    InConfig,
    #[error("the client is built into the gateway")]
    Builtin,
    /// Public, or `private_key_jwt`: there is no secret to rotate.
    #[error("the client has no secret (public, or private_key_jwt)")]
    NoSecret,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

/// The stored row of a client the API and the command line may change: only clients of the
/// database — built-in clients are the gateway's, configuration clients the file's.
pub async fn database_client(
    db: &Database,
    registry: &ClientRegistry,
    client_id: &str,
) -> Result<ClientRow, ChangeError> {
    if registry
        .get(client_id)
        .is_some_and(|c| c.source == super::ClientSource::Builtin)
    {
        return Err(ChangeError::Builtin);
    }
    if registry.in_config(client_id) {
        return Err(ChangeError::InConfig);
    }
    db.client(client_id).await?.ok_or(ChangeError::NotFound)
}

/// Changes the database client `stored` (as [`database_client`] read it) to `changed` (its
/// settings with the caller's changes applied):
/// checked exactly as a registration; its id, secret, authentication method, subject type and
/// sector may not change (that would lock the portal out, or change every `sub` it knows).
/// Writes the audit event `client_updated` with the fields that changed, and serves the new
/// settings on this replica at once (the others at their next reload).
pub async fn update_client(
    settings: &Settings,
    db: &Database,
    registry: &ClientRegistry,
    stored: ClientRow,
    mut changed: ClientSettings,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Client, ChangeError> {
    changed.client_id = stored.client_id.clone();
    let id = stored.client_id.clone();
    let fixed = |key: &str, message: &str| {
        ChangeError::Invalid(ConfigError {
            key: key.to_owned(),
            message: message.to_owned(),
        })
    };
    if changed.auth_method().as_str() != stored.token_endpoint_auth_method {
        return Err(fixed(
            "token_endpoint_auth_method",
            "cannot change: register a new client for another method",
        ));
    }
    if changed.subject_type.as_str() != stored.subject_type
        || changed.sector_identifier != stored.sector_identifier
    {
        return Err(fixed(
            "subject_type",
            "the subject type and sector cannot change: every sub the portal knows would change",
        ));
    }
    let upstream_ids: Vec<&str> = settings.upstreams.iter().map(|u| u.id.as_str()).collect();
    // The check asks a confidential client for its secret, of which only the hash is kept:
    // a stand-in of the right length takes its place; the stored hash is what stays.
    let mut checked = changed.clone();
    if stored.secret_hash.is_some() {
        checked.client_secret = Some(SecretString::from("stored-secret-stand-in".repeat(2)));
    }
    checked
        .check(
            "",
            &upstream_ids,
            &settings.resource_scopes(),
            settings.simulator.enabled,
        )
        .map_err(ChangeError::Invalid)?;
    let row = row_of(&changed, stored.secret_hash.clone(), stored.created_at);
    let client = Client::from_row(&row).map_err(ChangeError::Internal)?;
    if !db.update_client(&row).await? {
        return Err(ChangeError::NotFound);
    }
    let fields: Vec<&str> = changeable(&stored)
        .into_iter()
        .zip(changeable(&row))
        .filter(|(before, after)| before != after)
        .map(|((name, _), _)| name)
        .collect();
    db.append_audit(
        &actor.stamp(
            AuditEvent::new("client_updated", "success")
                .at(now)
                .client_id(&id)
                .detail(actor.detail(serde_json::json!({ "fields": fields }))),
        ),
    )
    .await?;
    if let Err(e) = registry.reload(db).await {
        tracing::warn!(error = %e, "reloading the clients after a change failed; the next reload will");
    }
    Ok(client)
}

/// Gives a database client a new secret (256 random bits) and keeps the previous one working
/// for `grace` (none when zero), so that the portal switches without an outage. Writes the
/// audit event `client_secret_rotated` and serves the change on this replica at once. Returns
/// the new secret — the only time it is seen — and when the previous one stops.
pub async fn rotate_secret(
    db: &Database,
    master: &MasterKey,
    registry: &ClientRegistry,
    client_id: &str,
    grace: std::time::Duration,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(SecretString, Option<DateTime<Utc>>), ChangeError> {
    let stored = database_client(db, registry, client_id).await?;
    let Some(old_hash) = stored.secret_hash else {
        return Err(ChangeError::NoSecret);
    };
    let secret = new_client_secret().map_err(|e| ChangeError::Internal(e.to_string()))?;
    let until = chrono::Duration::from_std(grace)
        .ok()
        .filter(|g| !g.is_zero())
        .map(|g| now + g);
    let previous = until.map(|until| vneid_store::PreviousSecret {
        hash: old_hash,
        until,
    });
    let new_hash = master.hash_client_secret(secret.expose_secret());
    if !db
        .rotate_client_secret(client_id, &new_hash, previous.as_ref())
        .await?
    {
        return Err(ChangeError::NotFound);
    }
    db.append_audit(
        &actor.stamp(
            AuditEvent::new("client_secret_rotated", "success")
                .at(now)
                .client_id(client_id)
                .detail(actor.detail(serde_json::json!({
                    "previous_valid_until": until.map(|u| u.to_rfc3339()),
                }))),
        ),
    )
    .await?;
    if let Err(e) = registry.reload(db).await {
        tracing::warn!(error = %e, "reloading the clients after a rotation failed; the next reload will");
    }
    Ok((secret, until))
}

/// Removes a database client: revokes its refresh-token families, deletes it, writes the audit
/// event `client_removed`, and stops serving it on this replica at once (the others follow at
/// their next reload). Its access tokens stop being honoured with it. Returns how many
/// refresh-token families were revoked.
pub async fn remove_client(
    db: &Database,
    registry: &ClientRegistry,
    client_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<u64, ChangeError> {
    database_client(db, registry, client_id).await?;
    let Some(revoked) = db.remove_client(client_id, "client_removed", now).await? else {
        return Err(ChangeError::NotFound);
    };
    db.append_audit(
        &actor.stamp(
            AuditEvent::new("client_removed", "success")
                .at(now)
                .client_id(client_id)
                .detail(actor.detail(serde_json::json!({
                    "refresh_families_revoked": revoked,
                }))),
        ),
    )
    .await?;
    if let Err(e) = registry.reload(db).await {
        tracing::warn!(error = %e, "reloading the clients after a removal failed; the next reload will");
    }
    Ok(revoked)
}
