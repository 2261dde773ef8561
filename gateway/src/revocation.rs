//! Revocation that survives the ephemeral store. A revoked access token (`jti`) or grant
//! (client and session) is written to the database first, until the last token it covers has
//! expired, and then cached in the ephemeral store, where every check looks.
//!
//! The cache carries a marker key. A check reads the marker and the keys it needs in one round
//! trip; a missing marker means the store was emptied (Redis restarted or flushed, the process
//! restarted with the in-memory store): the check then answers from the database and the cache
//! is filled again from it before the marker is set. So a revoked token never works again,
//! and a token that was never revoked keeps working after a Redis restart.

use std::time::Duration;

use chrono::{DateTime, Utc};
use vneid_store::StoreError;

use crate::state::AppState;

/// Ephemeral namespace of cached revocations.
const NS: &str = "revoked";
/// The marker: `(NS_MARK, MARK)` is present while the cache holds every revocation.
const NS_MARK: &str = "revoked_cache";
const MARK: &str = "filled";
/// How long the marker lives: a week, after which the cache is refilled once from the database.
const MARK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a revocation covers: one access token, or every access token of a client in a session
/// (`client` `*`: of every client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked<'a> {
    Token { jti: &'a str },
    Grant { client: &'a str, sid: &'a str },
}

impl Revoked<'_> {
    fn key(&self) -> String {
        match self {
            Revoked::Token { jti } => format!("jti:{jti}"),
            Revoked::Grant { client, sid } => format!("grant:{client}:{sid}"),
        }
    }
}

/// Records revocations durably, then in the cache. `until`: when the last token they cover
/// expires (nothing needs remembering after that).
pub async fn revoke(
    state: &AppState,
    what: &[Revoked<'_>],
    reason: &str,
    until: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = state.clock.now();
    if until <= now || what.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = what.iter().map(Revoked::key).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    state
        .db
        .insert_revocations(&refs, reason, now, until)
        .await?;
    let ttl = (until - now).to_std().unwrap_or(Duration::from_secs(1));
    for key in &keys {
        state.ephemeral.put(NS, key, reason, ttl).await?;
    }
    Ok(())
}

/// The access tokens of a grant end: until every token the grant may have issued has expired.
pub fn grant_until(state: &AppState) -> DateTime<Utc> {
    state.clock.now()
        + chrono::Duration::from_std(state.settings.tokens.access_token_ttl)
            .unwrap_or(chrono::Duration::hours(1))
        + chrono::Duration::seconds(1)
}

/// Makes every access token of a grant (client + session) inactive at introspection and
/// userinfo until it would have expired anyway, durably. `client_id` `*` means every client.
pub async fn revoke_grant(
    state: &AppState,
    client_id: &str,
    sid: &str,
    reason: &str,
) -> Result<(), StoreError> {
    revoke(
        state,
        &[Revoked::Grant {
            client: client_id,
            sid,
        }],
        reason,
        grant_until(state),
    )
    .await
}

/// Whether any of `what` is revoked. One ephemeral round trip when the cache is whole.
pub async fn is_revoked(state: &AppState, what: &[Revoked<'_>]) -> Result<bool, StoreError> {
    let keys: Vec<String> = what.iter().map(Revoked::key).collect();
    let mut ask: Vec<(&str, &str)> = vec![(NS_MARK, MARK)];
    ask.extend(keys.iter().map(|k| (NS, k.as_str())));
    let found = state.ephemeral.get_many(&ask).await?;
    if found.first().is_some_and(Option::is_some) {
        return Ok(found.iter().skip(1).any(Option::is_some));
    }
    // The cache was emptied: answer from the database, and fill it again.
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let revoked = state.db.revoked_any(&refs, state.clock.now()).await?;
    refill(state).await?;
    Ok(revoked)
}

/// Copies every live revocation from the database into the cache, then sets the marker. One
/// refill at a time per replica; the others answer from the database meanwhile.
async fn refill(state: &AppState) -> Result<(), StoreError> {
    let Ok(_guard) = state.revocation_refill.try_lock() else {
        return Ok(());
    };
    let now = state.clock.now();
    let live = state.db.live_revocations(now).await?;
    for r in &live {
        let ttl = (r.expires_at - now)
            .to_std()
            .unwrap_or(Duration::from_secs(1));
        state.ephemeral.put(NS, &r.key, &r.reason, ttl).await?;
    }
    state.ephemeral.put(NS_MARK, MARK, "1", MARK_TTL).await?;
    tracing::info!(
        revocations = live.len(),
        "the ephemeral store had been emptied: revocations copied back from the database"
    );
    Ok(())
}

/// Deletes expired revocations from the database, every `interval`.
pub fn spawn_pruner(state: actix_web::web::Data<AppState>, interval: Duration) {
    actix_web::rt::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            match state.db.prune_revocations(state.clock.now()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(pruned = n, "expired revocations deleted"),
                Err(e) => tracing::warn!(error = %e, "pruning revocations failed"),
            }
        }
    });
}
