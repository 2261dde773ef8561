//! The admin API's error: a stable JSON body with a machine `error` code, an English
//! `error_description`, and the request field at fault (`field`) where there is one. 5xx bodies
//! are opaque; their cause is logged (with the request id of the span) where they are made.

use actix_web::http::StatusCode;
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
}

impl AdminError {
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            field: None,
            www_authenticate: None,
        }
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
        let mut b = HttpResponse::build(self.status);
        b.insert_header(("Cache-Control", "no-store"));
        if let Some(h) = &self.www_authenticate {
            b.insert_header(("WWW-Authenticate", h.as_str()));
        }
        let mut body = json!({"error": self.code, "error_description": self.description});
        if let Some(f) = &self.field {
            body["field"] = json!(f);
        }
        b.json(body)
    }
}
