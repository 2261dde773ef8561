//! The client registry and the client service: registering a portal (admin API and
//! `gateway clients add` share [`register_client`]), removing one, reloading the registry at run
//! time so every replica sees clients added or removed elsewhere, and the `sub` each client sees
//! (public or pairwise, OpenID Connect Core §8).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use url::Url;
use vneid_store::{AuditEvent, ClientRow, Database, StoreError};
use vneid_tokens::{random_token, MasterKey};

use crate::config::{ClientAuthMethod, ClientSettings, ConfigError, Settings};
use crate::state::{AppState, Client, ClientSource};

/// Domain of the keyed hash that makes pairwise subjects.
pub const NS_PAIRWISE: &str = "pairwise_sub";

/// Every client the gateway serves: those of the configuration file, fixed at start, and those
/// of the database, re-read by [`ClientRegistry::reload`]. A configuration client wins over a
/// database client of the same id.
pub struct ClientRegistry {
    config: HashMap<String, Arc<Client>>,
    loaded: RwLock<Loaded>,
}

struct Loaded {
    all: Arc<HashMap<String, Arc<Client>>>,
    /// Database clients already reported as shadowed or unusable (reported once, not at every
    /// reload).
    reported: HashSet<String>,
}

impl ClientRegistry {
    /// A registry of the configuration clients only; [`reload`](Self::reload) adds the
    /// database's.
    pub fn new(config: impl IntoIterator<Item = Client>) -> Self {
        let config: HashMap<String, Arc<Client>> = config
            .into_iter()
            .map(|c| (c.id.clone(), Arc::new(c)))
            .collect();
        Self {
            loaded: RwLock::new(Loaded {
                all: Arc::new(config.clone()),
                reported: HashSet::new(),
            }),
            config,
        }
    }

    fn snapshot(&self) -> Arc<HashMap<String, Arc<Client>>> {
        match self.loaded.read() {
            Ok(g) => g.all.clone(),
            Err(p) => p.into_inner().all.clone(),
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<Client>> {
        self.snapshot().get(id).cloned()
    }

    /// Whether `id` is a client of the configuration file.
    pub fn in_config(&self, id: &str) -> bool {
        self.config.contains_key(id)
    }

    /// Every client, configuration clients first, each group by id.
    pub fn list(&self) -> Vec<Arc<Client>> {
        let mut all: Vec<Arc<Client>> = self.snapshot().values().cloned().collect();
        all.sort_by(|a, b| {
            (a.source != ClientSource::Config, &a.id)
                .cmp(&(b.source != ClientSource::Config, &b.id))
        });
        all
    }

    /// Replaces the database clients with `rows`. Rows shadowed by a configuration client or
    /// unusable are left out (and logged once).
    pub fn set_database_clients(&self, rows: &[ClientRow]) {
        let mut g = match self.loaded.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut all = self.config.clone();
        let mut reported = HashSet::new();
        for row in rows {
            let id = &row.client_id;
            let first = !g.reported.contains(id);
            if self.config.contains_key(id) {
                if first {
                    tracing::warn!(client_id = %id, "client is in both the configuration and the database; the configuration wins");
                }
                reported.insert(id.clone());
                continue;
            }
            match Client::from_row(row) {
                Ok(c) => {
                    if !g.all.contains_key(id) {
                        tracing::info!(client_id = %id, "serving a client of the database");
                    }
                    all.insert(id.clone(), Arc::new(c));
                }
                Err(e) => {
                    if first {
                        tracing::error!(client_id = %id, error = %e, "stored client is unusable; skipped");
                    }
                    reported.insert(id.clone());
                }
            }
        }
        for (id, c) in g.all.iter() {
            if c.source == ClientSource::Database && !all.contains_key(id) {
                tracing::info!(client_id = %id, "client removed from the database; no longer served");
            }
        }
        g.all = Arc::new(all);
        g.reported = reported;
    }

    /// Re-reads the database clients. On failure the current ones stay.
    pub async fn reload(&self, db: &Database) -> Result<(), StoreError> {
        let rows = db.list_clients().await?;
        self.set_database_clients(&rows);
        Ok(())
    }
}

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
fn check_client_id(id: &str) -> Result<(), RegisterError> {
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
        .check("", &upstream_ids, settings.simulator.enabled)
        .map_err(RegisterError::Invalid)?;
    let row = ClientRow {
        client_id: client.client_id.clone(),
        name: client.name.clone(),
        secret_hash: secret
            .as_ref()
            .map(|s| master.hash_client_secret(s.expose_secret())),
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
        upstreams: client.upstreams.clone(),
        jwks: client.jwks.clone(),
        subject_type: client.subject_type.as_str().to_owned(),
        sector_identifier: client.sector_identifier.clone(),
        created_at: now,
    };
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
                }))),
        ),
    )
    .await?;
    Ok((registered, secret))
}

/// Why a client could not be removed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("no such client")]
    NotFound,
    #[error("the client lives in the configuration file")]
    InConfig,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Removes a database client: revokes its refresh-token families, deletes it, writes the audit
/// event `client_removed`, and stops serving it on this replica at once (the others follow at
/// their next reload). Its access tokens stop being honoured with it. Returns how many
/// refresh-token families were revoked.
pub async fn remove_client(
    state: &AppState,
    client_id: &str,
    actor: &Actor,
) -> Result<u64, RemoveError> {
    if state.clients.in_config(client_id) {
        return Err(RemoveError::InConfig);
    }
    if state.db.client(client_id).await?.is_none() {
        return Err(RemoveError::NotFound);
    }
    let now = state.clock.now();
    let Some(revoked) = state
        .db
        .remove_client(client_id, "client_removed", now)
        .await?
    else {
        return Err(RemoveError::NotFound);
    };
    state
        .db
        .append_audit(
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
    if let Err(e) = state.clients.reload(&state.db).await {
        tracing::warn!(error = %e, "reloading the clients after a removal failed; the next reload will");
    }
    Ok(revoked)
}

/// The pairwise `sub` of a person in a sector: base64url of HMAC-SHA-256 under the master
/// key's lookup subkey, over the sector and the person id. Stable for as long as the master
/// key; other sectors cannot link it to the person id or to each other.
pub fn pairwise_subject(master: &MasterKey, sector: &str, person_id: &str) -> String {
    let hex = master.lookup_hash(NS_PAIRWISE, &format!("{sector}\0{person_id}"));
    let bytes: Vec<u8> = hex
        .as_bytes()
        .chunks(2)
        .filter_map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The `sub` `client` sees for a person: the person id, or for a pairwise client its sector's
/// pairwise subject, remembered so that the subject leads back to the person (userinfo).
pub async fn subject_for(
    state: &AppState,
    client: &Client,
    person_id: &str,
) -> Result<String, StoreError> {
    let Some(sector) = &client.sector else {
        return Ok(person_id.to_owned());
    };
    let sub = pairwise_subject(&state.master, sector, person_id);
    if state
        .db
        .person_by_pairwise_subject(sector, &sub)
        .await?
        .is_none()
    {
        state
            .db
            .remember_pairwise_subject(sector, &sub, person_id, state.clock.now())
            .await?;
    }
    Ok(sub)
}

/// The person behind the `sub` a client was given; `None` when the client is gone or the
/// pairwise subject is unknown.
pub async fn person_for_subject(
    state: &AppState,
    client_id: &str,
    sub: &str,
) -> Result<Option<String>, StoreError> {
    let Some(client) = state.clients.get(client_id) else {
        return Ok(None);
    };
    match &client.sector {
        None => Ok(Some(sub.to_owned())),
        Some(sector) => state.db.person_by_pairwise_subject(sector, sub).await,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::config::SubjectType;

    fn row(id: &str, subject_type: &str, redirect: &[&str]) -> ClientRow {
        ClientRow {
            client_id: id.into(),
            name: None,
            secret_hash: None,
            token_endpoint_auth_method: "none".into(),
            redirect_uris: redirect.iter().map(|s| s.to_string()).collect(),
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            grant_types: vec!["authorization_code".into()],
            scopes: vec!["openid".into()],
            min_level: None,
            upstreams: vec![],
            jwks: None,
            subject_type: subject_type.into(),
            sector_identifier: None,
            created_at: Utc::now(),
        }
    }

    fn config_client(id: &str) -> Client {
        let mut c = Client::from_row(&row(id, "public", &["https://c.example/cb"])).unwrap();
        c.source = ClientSource::Config;
        c.created_at = None;
        c
    }

    #[test]
    fn configuration_wins_over_the_database_and_reload_replaces_database_clients() {
        let reg = ClientRegistry::new([config_client("portal")]);
        reg.set_database_clients(&[
            row("portal", "public", &["https://db.example/cb"]),
            row("app", "public", &["https://app.example/cb"]),
        ]);
        let portal = reg.get("portal").unwrap();
        assert_eq!(portal.source, ClientSource::Config);
        assert_eq!(portal.redirect_uris, ["https://c.example/cb"]);
        assert_eq!(reg.get("app").unwrap().source, ClientSource::Database);
        assert!(reg.in_config("portal") && !reg.in_config("app"));
        let ids: Vec<String> = reg.list().iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids, ["portal", "app"]);
        // The database no longer has `app`: gone; the configuration client stays.
        reg.set_database_clients(&[]);
        assert!(reg.get("app").is_none());
        assert!(reg.get("portal").is_some());
    }

    #[test]
    fn unusable_database_clients_are_skipped() {
        let reg = ClientRegistry::new([]);
        let mut bad = row("bad", "public", &[]);
        bad.token_endpoint_auth_method = "magic".into();
        let pairwise_without_sector = row(
            "pw",
            "pairwise",
            &["https://a.example/cb", "https://b.example/cb"],
        );
        reg.set_database_clients(&[bad, pairwise_without_sector, row("ok", "public", &[])]);
        assert!(reg.get("bad").is_none() && reg.get("pw").is_none());
        assert!(reg.get("ok").is_some());
    }

    #[test]
    fn a_pairwise_client_takes_its_sector_from_its_redirect_host_or_sector_identifier() {
        let c = Client::from_row(&row(
            "pw",
            "pairwise",
            &["https://Portal.example/cb", "https://portal.example/cb2"],
        ))
        .unwrap();
        assert_eq!(c.subject_type, SubjectType::Pairwise);
        assert_eq!(c.sector.as_deref(), Some("portal.example"));
        let mut r = row(
            "pw",
            "pairwise",
            &["https://a.example/cb", "https://b.example/cb"],
        );
        r.sector_identifier = Some("sector.example".into());
        assert_eq!(
            Client::from_row(&r).unwrap().sector.as_deref(),
            Some("sector.example")
        );
        assert_eq!(
            Client::from_row(&row("p", "public", &["https://a.example/cb"]))
                .unwrap()
                .sector,
            None
        );
    }

    #[test]
    fn pairwise_subjects_differ_by_sector_and_are_stable() {
        let master = MasterKey::generate().unwrap();
        let a = pairwise_subject(&master, "a.example", "person-1");
        assert_eq!(a, pairwise_subject(&master, "a.example", "person-1"));
        assert_ne!(a, pairwise_subject(&master, "b.example", "person-1"));
        assert_ne!(a, pairwise_subject(&master, "a.example", "person-2"));
        assert_eq!(a.len(), 43, "256 bits, base64url");
        assert!(!a.contains("person"));
        // Another master key (another deployment) gives other subjects.
        let other = MasterKey::generate().unwrap();
        assert_ne!(a, pairwise_subject(&other, "a.example", "person-1"));
    }

    #[test]
    fn registered_client_ids_are_path_safe() {
        assert!(check_client_id("portal-1.tinh_x~").is_ok());
        for bad in ["", "a/b", "a b", "ứng-dụng", &"x".repeat(129)] {
            assert!(check_client_id(bad).is_err(), "{bad:?}");
        }
    }
}
