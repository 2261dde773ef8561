//! The background work of every replica: reloading keys and clients, pruning revocations,
//! housekeeping of the in-memory store, refreshing the directory gauges.

use std::time::Duration;

use actix_web::web;

use crate::state::AppState;

/// Starts every background task of a replica.
pub fn spawn_all(state: &web::Data<AppState>) {
    super::keys::spawn_key_reloader(state.clone());
    spawn_client_reloader(state.clone());
    crate::revocation::spawn_pruner(state.clone(), Duration::from_secs(600));
    crate::ephemeral::spawn_housekeeping(state.clone(), Duration::from_secs(5));
    crate::directory::spawn_gauge_refresher(state.clone());
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
