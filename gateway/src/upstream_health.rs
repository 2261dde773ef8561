//! Whether each upstream (the national login broker) answers: its discovery document and keys,
//! each check bounded. An upstream that does not answer degrades the gateway (logins through it
//! get the 503 page) but does not make it unready: every replica would leave the load balancer
//! at once, and people would get connection errors instead of that page.

use std::time::Duration;

use crate::state::AppState;

/// The longest one upstream's check may take.
const LIMIT: Duration = Duration::from_secs(3);

/// How often every replica checks its upstreams in the background, so that
/// `vneid_upstream_up` stays current without a probe.
pub const EVERY: Duration = Duration::from_secs(30);

/// Checks every upstream, sets `vneid_upstream_up{upstream}`, and returns each upstream's id
/// with `None` when it answers or what failed.
pub async fn check(state: &AppState) -> Vec<(String, Option<String>)> {
    let mut out = Vec::with_capacity(state.upstreams.len());
    for u in &state.upstreams {
        let failure = match tokio::time::timeout(LIMIT, u.check_ready()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("no answer within {LIMIT:?}")),
        };
        state
            .metrics
            .upstream_up
            .with_label_values(&[u.id()])
            .set(i64::from(failure.is_none()));
        out.push((u.id().to_owned(), failure));
    }
    out
}

/// Checks every upstream every [`EVERY`] (the first readiness probe after a start checks them
/// at once).
pub fn spawn_watch(state: actix_web::web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        loop {
            tokio::time::sleep(EVERY).await;
            for (upstream, failure) in check(&state).await {
                if let Some(detail) = failure {
                    tracing::warn!(
                        upstream,
                        detail,
                        "upstream not answering; logins through it get the 503 page"
                    );
                }
            }
        }
    });
}
