//! Health, readiness and metrics for operators.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when the database and the ephemeral store answer, 503 with the failing
/// checks otherwise. Each check is bounded by a timeout so a hung dependency cannot hang the
/// probe. Upstreams are checked too and listed, but one that does not answer only adds a
/// `degraded` entry (see [`crate::upstream_health`]).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let limit = Duration::from_secs(3);
    let mut checks = serde_json::Map::new();
    let mut ok = true;
    let mut record = |name: String, r: Result<(), String>| {
        ok &= r.is_ok();
        checks.insert(
            name,
            match r {
                Ok(()) => json!("ok"),
                Err(e) => json!(e),
            },
        );
    };
    let db = tokio::time::timeout(limit, state.db.ping()).await;
    record("database".into(), flatten(db));
    let eph = tokio::time::timeout(limit, state.ephemeral.ping()).await;
    record("ephemeral".into(), flatten(eph));
    let mut degraded = Vec::new();
    for (upstream, failure) in crate::upstream_health::check(&state).await {
        checks.insert(
            format!("upstream:{upstream}"),
            json!(failure.as_deref().unwrap_or("ok")),
        );
        if let Some(detail) = failure {
            degraded.push(json!({
                "upstream": upstream,
                "detail": detail,
                "effect": "logins through this upstream get the 503 page until it answers",
            }));
        }
    }
    let mut body = json!({"status": if ok { "ready" } else { "not_ready" }, "checks": checks});
    if !degraded.is_empty() {
        body["degraded"] = json!(degraded);
    }
    // A full ephemeral store is not a reason to leave the load balancer (the store answers;
    // only new logins are refused, with a 503 page), but operators must see it.
    let now = state.clock.now().timestamp();
    if let Some(at) = state.ephemeral_full.last().filter(|at| now - at < 60) {
        body["ephemeral_store"] = json!({
            "condition": "full",
            "detail": "new logins are refused (503) until entries expire",
            "last_refusal": at,
        });
    }
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

fn flatten<E: std::fmt::Display>(
    r: Result<Result<(), E>, tokio::time::error::Elapsed>,
) -> Result<(), String> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    match state.metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(text),
        Err(e) => {
            tracing::error!(error = %e, "metrics encoding failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Middleware: request duration by route pattern (never the raw path), method and status.
pub async fn http_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = std::time::Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().as_str().to_owned();
    let res = next.call(req).await?;
    if let Some(state) = state {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let status = res.status().as_u16().to_string();
        state
            .metrics
            .http_requests
            .with_label_values(&[&route, &method, &status])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}
