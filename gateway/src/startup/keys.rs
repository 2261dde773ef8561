//! Signing keys: the first one made at start, rotation (`gateway keys rotate`), and the reload
//! that lets every replica follow a rotation made anywhere.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use anyhow::Context as _;
use vneid_store::{Database, SigningKeyRow};
use vneid_tokens::{generate_signing_key, KeyRecord, KeySet, MasterKey};

use crate::config::Settings;
use crate::state::AppState;

fn to_row(r: KeyRecord) -> SigningKeyRow {
    SigningKeyRow {
        kid: r.kid,
        alg: r.alg.as_str().to_owned(),
        created_at: r.created_at,
        activates_at: r.activates_at,
        retires_at: r.retires_at,
        private_key_sealed: r.private_key_sealed,
        public_jwk: r.public_jwk,
    }
}

fn from_row(r: SigningKeyRow) -> anyhow::Result<KeyRecord> {
    Ok(KeyRecord {
        alg: r
            .alg
            .parse()
            .map_err(|e| anyhow::anyhow!("signing key {}: {e}", r.kid))?,
        kid: r.kid,
        created_at: r.created_at,
        activates_at: r.activates_at,
        retires_at: r.retires_at,
        private_key_sealed: r.private_key_sealed,
        public_jwk: r.public_jwk,
    })
}

/// Loads the key set from the database.
pub async fn load_keys(
    db: &Database,
    master: &MasterKey,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Option<KeySet>> {
    let rows = db.list_signing_keys().await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let records = rows
        .into_iter()
        .map(from_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(
        KeySet::from_records(&records, master, now)
            .map_err(|e| anyhow::anyhow!("signing keys: {e}"))?,
    ))
}

/// Makes a new signing key, sealed, to be stored at once: it signs `delay` after it is stored
/// (and so published), counted from after the key generation, which takes a noticeable time
/// for RSA.
pub async fn new_signing_key(
    master: &MasterKey,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
    delay: chrono::Duration,
) -> anyhow::Result<(vneid_store::SigningKeyRow, chrono::DateTime<chrono::Utc>)> {
    let alg = settings.tokens.signing_alg;
    let started = std::time::Instant::now();
    let key = tokio::task::spawn_blocking(move || generate_signing_key(alg, now))
        .await?
        .map_err(|e| anyhow::anyhow!("generating a signing key: {e}"))?;
    let stored_at = now + chrono::Duration::from_std(started.elapsed())?;
    // The very first key signs at once: there is nothing a portal could have cached.
    let activates_at = if delay.is_zero() {
        now
    } else {
        stored_at + delay
    };
    let record = master
        .seal_signing_key(&key, activates_at)
        .map_err(|e| anyhow::anyhow!("sealing the signing key: {e}"))?;
    Ok((to_row(record), activates_at))
}

/// The keys of the database, or a first one made now (it signs at once).
pub async fn ensure_keys(
    db: &Database,
    master: &MasterKey,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<KeySet> {
    if let Some(k) = load_keys(db, master, now).await? {
        return Ok(k);
    }
    let (row, _) = new_signing_key(master, settings, now, chrono::Duration::zero()).await?;
    let kid = row.kid.clone();
    db.insert_signing_key(&row).await?;
    tracing::info!(kid = %kid, alg = settings.tokens.signing_alg.as_str(), "made the first signing key");
    load_keys(db, master, now)
        .await?
        .context("the signing key just stored is not there")
}

/// `gateway keys rotate`: adds a new key, published now, signing after the pre-publication
/// delay; the old keys stay published until their last token has expired.
pub async fn rotate_keys(
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Rotation> {
    let (db, master) = super::store::open_existing(settings).await?;
    rotate(&db, &master, settings, now).await
}

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub kid: String,
    /// When the new key starts signing (now + `tokens.key_prepublish`).
    pub activates_at: chrono::DateTime<chrono::Utc>,
    /// Keys that stop being published, and when: after the last token they can sign expires.
    pub retiring: Vec<(String, chrono::DateTime<chrono::Utc>)>,
}

/// Adds a key that is published now and signs after the pre-publication delay; every key not
/// yet scheduled for retirement leaves the JWKS once the last token it may sign has expired.
pub async fn rotate(
    db: &Database,
    master: &MasterKey,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Rotation> {
    let t = &settings.tokens;
    let prepublish = chrono::Duration::from_std(t.key_prepublish)?;
    let longest = chrono::Duration::from_std(t.access_token_ttl.max(t.id_token_ttl))?;
    let (row, activates_at) = new_signing_key(master, settings, now, prepublish).await?;
    let kid = row.kid.clone();
    // Old keys may sign until the new one activates; their tokens live `longest` after that,
    // plus a minute for clock skew between replicas.
    let retires_at = activates_at + longest + chrono::Duration::seconds(60);
    let event = |retiring: &[String]| {
        vneid_store::AuditEvent::new("key_rotated", "success")
            .at(now)
            .detail(serde_json::json!({
                "kid": kid,
                "activates_at": activates_at.to_rfc3339(),
                "retiring": retiring,
            }))
    };
    let retiring = db
        .rotate_signing_keys(&row, retires_at, event)
        .await?
        .into_iter()
        .map(|k| (k, retires_at))
        .collect();
    tracing::info!(kid = %kid, activates_at = %activates_at, "signing key rotated");
    Ok(Rotation {
        kid,
        activates_at,
        retiring,
    })
}

/// Every replica re-reads the keys every `tokens.key_reload_interval`, and at the moment a
/// published key becomes the signing key or a retired one leaves the JWKS, so a rotation made
/// anywhere is picked up without a restart.
pub fn spawn_key_reloader(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        loop {
            let interval = state.settings.tokens.key_reload_interval;
            let now = state.clock.now();
            let wait = state
                .key_set()
                .next_transition()
                .and_then(|t| (t - now).to_std().ok())
                .map(|d| d.min(interval))
                .unwrap_or(interval);
            tokio::time::sleep(wait.max(Duration::from_millis(100))).await;
            match load_keys(&state.db, &state.master, state.clock.now()).await {
                Ok(Some(k)) => {
                    if let Ok(mut g) = state.keys.write() {
                        if g.signing_kid() != k.signing_kid() {
                            tracing::info!(kid = %k.signing_kid(), "signing with a new key");
                        }
                        *g = Arc::new(k);
                    }
                }
                Ok(None) => tracing::error!("no signing keys in the database"),
                Err(e) => {
                    tracing::warn!(error = %e, "reloading signing keys failed; keeping the current ones")
                }
            }
        }
    });
}
