//! The admin REST API under `/admin/v1` and the IT centre's pages: who may call the API
//! ([`authorize`], [`AdminCaller`]), its error ([`AdminError`]), and its resources —
//! [`clients`], the one-stop-shop [`directory`], the [`audit`] trail — and the readiness
//! [`console`].
//!
//! A caller presents `Authorization: Bearer <access token>` that this gateway issued through
//! `client_credentials` (a token about a client, not a person) with the scope `admin`;
//! `admin:pii` additionally lets it see personal data where an admin resource has any.

pub mod audit;
pub mod clients;
pub mod console;
pub mod directory;
mod error;

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};

use crate::clients::Actor;
use crate::errors::{OAuthError, ProofAt};
use crate::oauth::dpop::{presented_token, Presented, ProofRequest};

use crate::state::AppState;
use crate::telemetry::RequestId;
pub use error::{with_request_id, AdminError};

type Data = web::Data<AppState>;

pub use crate::config::ADMIN_SCOPE;
/// The scope that also releases personal data (personal ID numbers) in admin answers.
pub const PII_SCOPE: &str = "admin:pii";
/// Largest JSON body the admin API reads.
pub const BODY_LIMIT: usize = 64 * 1024;

/// An authenticated admin API caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCaller {
    /// The machine client whose token was presented.
    pub client_id: String,
    /// The token carries `admin:pii` (and the client still has it).
    pub pii: bool,
}

/// Authenticates an admin API call (RFC 6750): no bearer token is 401 with a bare
/// `WWW-Authenticate: Bearer realm=…`; a token that is invalid, expired, revoked or of a
/// removed client is 401 `invalid_token`; a person's token, or a client token without the
/// `admin` scope, is 403 `insufficient_scope`.
pub async fn authorize(req: &HttpRequest, state: &AppState) -> Result<AdminCaller, AdminError> {
    let (scheme, token) = crate::http::access_token(req).ok_or_else(OAuthError::bearer_required)?;
    let proof = crate::http::dpop_proof(req, ProofAt::Resource)?;
    // The admin API may be on the management port, which has no public URL: the proof names
    // the URL the request was sent to.
    let htu = {
        let info = req.connection_info();
        format!("{}://{}{}", info.scheme(), info.host(), req.path())
    };
    let presented = Presented {
        scheme,
        token,
        proof: ProofRequest {
            proof,
            method: req.method().as_str(),
            htu: &htu,
        },
    };
    let claims = presented_token(state, &presented).await?;
    if claims.sid.is_some() || claims.sub != claims.client_id || !claims.is_for_client() {
        return Err(OAuthError::insufficient_scope(
            ADMIN_SCOPE,
            "the admin API takes a client_credentials token, not a person's",
        )
        .into());
    }
    // The client may have lost a scope since the token was issued: both must have it.
    let client = state.clients.get(&claims.client_id).ok_or_else(|| {
        OAuthError::invalid_token("the access token is invalid, expired or revoked")
    })?;
    let has = |scope: &str| claims.has_scope(scope) && client.scopes.iter().any(|s| s == scope);
    if !has(ADMIN_SCOPE) {
        return Err(OAuthError::insufficient_scope(
            ADMIN_SCOPE,
            "the access token lacks the admin scope",
        )
        .into());
    }
    Ok(AdminCaller {
        pii: has(PII_SCOPE),
        client_id: claims.client_id,
    })
}

impl FromRequest for AdminCaller {
    type Error = AdminError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req.app_data::<Data>().cloned().ok_or_else(|| {
                tracing::error!("no application state for the admin API");
                AdminError::server_error()
            })?;
            authorize(&req, &state).await
        })
    }
}

/// Every admin API route, relative to `/admin/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // Integrators read these errors: actix's English text alone, not the people's page.
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| actix_web::error::ErrorBadRequest(e.to_string())),
    )
    .configure(audit::routes)
    .configure(clients::routes)
    .configure(directory::routes)
    .default_service(web::to(not_found));
}

/// Unknown paths under `/admin/v1`: a problem-details 404.
async fn not_found() -> Result<HttpResponse, AdminError> {
    Err(AdminError::not_found("no such admin resource"))
}

/// The default service of a resource: 405 with `Allow`.
pub(crate) fn allow(methods: &'static str) -> actix_web::Route {
    web::to(move || async move { Err::<HttpResponse, _>(AdminError::method_not_allowed(methods)) })
}

pub(crate) fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|r| r.0.clone())
}

pub(crate) fn actor(req: &HttpRequest, caller: &AdminCaller) -> Actor {
    Actor {
        via: "admin",
        by: Some(caller.client_id.clone()),
        request_id: request_id(req),
    }
}

/// An admin answer: never cached.
pub(crate) fn no_store(status: StatusCode) -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::CACHE_CONTROL, "no-store"));
    b
}

/// Reads a JSON body of at most [`BODY_LIMIT`] bytes.
pub(crate) async fn read_json(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<serde_json::Value, AdminError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(AdminError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "the body must be application/json",
        ));
    }
    let body = match payload.to_bytes_limited(BODY_LIMIT).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            return Err(AdminError::invalid_request(format!(
                "the body could not be read: {e}"
            )))
        }
        Err(_) => {
            return Err(AdminError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("the body is larger than {} KiB", BODY_LIMIT / 1024),
            ))
        }
    };
    serde_json::from_slice(&body)
        .map_err(|e| AdminError::invalid_request(format!("the body is not valid JSON: {e}")))
}
