//! The admin API's error: RFC 9457 problem details (`application/problem+json`) with `type`,
//! `title`, `status`, an English `detail`, a stable machine code in `error`, the request field
//! at fault (`field`) where there is one, and the `request_id` (added on the way out by
//! [`with_request_id`]). 5xx bodies are opaque; their cause is logged (with the request id of the
//! span) where they are made.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use vneid_store::StoreError;

use crate::errors::OAuthError;

/// An admin API error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {description}")]
pub struct AdminError {
    pub status: StatusCode,
    /// A stable machine code (`invalid_request`, `not_found`, `client_exists`, …).
    pub code: &'static str,
    pub description: String,
    /// The request field at fault.
    pub field: Option<String>,
    /// `WWW-Authenticate` of a 401/403 about the bearer token (RFC 6750).
    pub www_authenticate: Option<String>,
    /// `Allow` of a 405: the methods the resource answers.
    pub allow: Option<&'static str>,
}

impl AdminError {
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            field: None,
            www_authenticate: None,
            allow: None,
        }
    }

    /// 405 for a method the resource does not answer; `allow` lists those it does.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this resource answers {allow}"),
        );
        e.allow = Some(allow);
        e
    }

    /// The problem-details answer, with `request_id` when known.
    pub fn problem(&self, request_id: Option<&str>) -> HttpResponse {
        let mut b = HttpResponse::build(self.status);
        b.insert_header(("Cache-Control", "no-store"));
        b.content_type("application/problem+json");
        if let Some(h) = &self.www_authenticate {
            b.insert_header(("WWW-Authenticate", h.as_str()));
        }
        if let Some(a) = self.allow {
            b.insert_header(("Allow", a));
        }
        let mut body = json!({
            "type": format!("urn:vneid-gateway:problem:{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.description,
            "error": self.code,
        });
        if let Some(f) = &self.field {
            body["field"] = json!(f);
        }
        if let Some(id) = request_id {
            body["request_id"] = json!(id);
        }
        let mut res = b.body(body.to_string());
        res.extensions_mut()
            .insert(crate::telemetry::LoggedError(self.code));
        res
    }

    /// Names the request field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }

    pub fn not_found(d: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", d)
    }

    pub fn conflict(code: &'static str, d: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, d)
    }

    /// 500: the caller learns nothing; log the cause before.
    pub fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    }
}

/// The bearer-token errors of the admin API's authentication (RFC 6750) and the store's 503/500
/// keep their status, code and challenge.
impl From<OAuthError> for AdminError {
    fn from(e: OAuthError) -> Self {
        Self {
            status: e.status,
            code: e.error,
            description: e.description,
            field: None,
            www_authenticate: e.www_authenticate,
            allow: None,
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        OAuthError::from_store(e).into()
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        self.problem(None)
    }
}

/// Middleware of `/admin/v1`: an admin error's answer is made again with the request's id, so
/// that an integrator can quote it and the operator find the log lines.
pub async fn with_request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let Some(problem) = res
        .response()
        .error()
        .and_then(|e| e.as_error::<AdminError>())
        .cloned()
    else {
        return Ok(res.map_into_boxed_body());
    };
    let id = super::request_id(res.request());
    let answer = problem.problem(id.as_deref());
    Ok(res.into_response(answer).map_into_boxed_body())
}
