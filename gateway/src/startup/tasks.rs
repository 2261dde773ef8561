//! The background work of every replica: reloading keys and clients, pruning revocations,
//! housekeeping of the in-memory store, refreshing the directory gauges, watching the upstreams,
//! signing and pruning the audit trail.

use std::time::Duration;

use actix_web::web;

use crate::state::AppState;

/// Starts every background task of a replica.
pub fn spawn_all(state: &web::Data<AppState>) {
    super::keys::spawn_key_reloader(state.clone());
    spawn_client_reloader(state.clone());
    crate::revocation::spawn_pruner(state.clone(), Duration::from_secs(600));
    spawn_housekeeping(state.clone(), Duration::from_secs(5));
    crate::directory::spawn_gauge_refresher(state.clone());
    crate::upstream_health::spawn_watch(state.clone());
    crate::audit::spawn_upkeep(state.clone());
}

/// Every replica re-reads the database clients every `tokens.key_reload_interval`, so a client
/// added or removed on another replica or with `gateway clients add` is served (or refused)
/// without a restart. A replica where the change was made through the admin API reloads at once.
fn spawn_client_reloader(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        loop {
            let interval = state.settings.tokens.key_reload_interval;
            tokio::time::sleep(interval.max(Duration::from_millis(100))).await;
            if let Err(e) = state.clients.reload(&state.db).await {
                tracing::warn!(error = %e, "reloading the clients failed; keeping the current ones");
            }
        }
    });
}

/// Every `every`: purges expired entries of the in-memory store and gives their memory back
/// (a flood's entries leave as soon as they expire, not at the next write), and sets the
/// `vneid_ephemeral_entries` gauge. Nothing to do with Redis, which expires keys itself.
fn spawn_housekeeping(state: web::Data<AppState>, every: Duration) {
    if state.ephemeral.entries().is_none() {
        return;
    }
    actix_web::rt::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            state.ephemeral.purge_expired().await;
            if let Some(n) = state.ephemeral.entries() {
                state
                    .metrics
                    .ephemeral_entries
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
    });
}
