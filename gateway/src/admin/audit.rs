//! `/admin/v1/audit`: the audit trail, read page by page, served by [`crate::audit`].

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::{authorize, no_store, AdminError};
use crate::audit::{self, AuditQuery};
use crate::state::AppState;

type Data = web::Data<AppState>;

/// The admin routes of the audit trail, inside `/admin/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/audit")
            .route(web::get().to(list))
            .default_service(super::allow("GET")),
    );
}

/// `GET /admin/v1/audit?from&to&kind&cursor&limit`: events newest first, each with its place in
/// the hash chain; `next_cursor` when there may be more.
async fn list(
    req: HttpRequest,
    state: Data,
    query: Result<web::Query<AuditQuery>, actix_web::Error>,
) -> Result<HttpResponse, AdminError> {
    authorize(&req, &state).await?;
    let filter = query
        .map_err(|e| AdminError::invalid_request(format!("query: {e}")))?
        .filter(false)
        .map_err(|e| AdminError::invalid_request(e.0))?;
    let (events, next_cursor) = audit::page(&state.db, &filter).await?;
    let mut body = json!({ "events": events });
    if let Some(next) = next_cursor {
        body["next_cursor"] = json!(next);
    }
    Ok(no_store(StatusCode::OK).json(body))
}
