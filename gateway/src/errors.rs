//! The one place errors become HTTP: OAuth endpoints answer RFC 6749 §5.2 JSON, bearer endpoints
//! RFC 6750 `WWW-Authenticate`, pages a Vietnamese page. 5xx bodies are opaque; the cause goes to
//! the log with the request id.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use vneid_store::StoreError;

/// What a service returns when it fails for a reason that is neither the person's nor the
/// portal's doing; rendered by whichever error type the handler answers with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

/// A failure of the server, not of the request: the answer only says which kind, the cause goes
/// to the log (with the request id of the span) here, once.
enum Failure {
    /// A store cannot serve right now — unreachable, or the ephemeral store is full: 503, the
    /// request may succeed later.
    Unavailable,
    /// Anything else: 500.
    Internal,
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() || e.is_full() {
            tracing::warn!(error = %e, "store unavailable");
            Failure::Unavailable
        } else {
            tracing::error!(error = %e, "store error");
            Failure::Internal
        }
    }
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Store(s) => s.into(),
            ServiceError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                Failure::Internal
            }
        }
    }
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// `WWW-Authenticate` for 401 (`Basic realm=…` or `Bearer error=…`).
    pub www_authenticate: Option<String>,
    /// `Retry-After` in seconds (429).
    pub retry_after: Option<u64>,
    /// `DPoP-Nonce`: the nonce a DPoP proof must carry (RFC 9449 §8, `use_dpop_nonce`).
    pub dpop_nonce: Option<String>,
}

/// How a resource request presented its access token (`Authorization: Bearer|DPoP …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScheme {
    Bearer,
    Dpop,
}

/// Where a DPoP proof was refused: at the authorization server a JSON 400 (RFC 9449 §5.2), at a
/// resource a 401 with a `WWW-Authenticate: DPoP` challenge (§7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofAt {
    AuthorizationServer,
    Resource,
}

/// The `WWW-Authenticate` challenge of `scheme` with an error code and its description.
fn challenge(scheme: TokenScheme, error: &str, description: &str) -> String {
    let description = description.replace(['"', '\\'], "'");
    match scheme {
        TokenScheme::Bearer => format!(
            "Bearer realm=\"vneid-gateway\", error=\"{error}\", error_description=\"{description}\""
        ),
        TokenScheme::Dpop => format!(
            "DPoP algs=\"{}\", error=\"{error}\", error_description=\"{description}\"",
            vneid_tokens::DPOP_ALGS.join(" ")
        ),
    }
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            www_authenticate: None,
            retry_after: None,
            dpop_nonce: None,
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_client", d);
        // RFC 6749 §5.2: a 401 with the scheme the client tried; we always name Basic.
        e.www_authenticate = Some("Basic realm=\"vneid-gateway\"".into());
        e
    }
    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self::invalid_token_for(TokenScheme::Bearer, d)
    }
    /// `invalid_token` with the challenge of the scheme the token should have come with.
    pub fn invalid_token_for(scheme: TokenScheme, d: impl Into<String>) -> Self {
        let d = d.into();
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_token", d.clone());
        e.www_authenticate = Some(challenge(scheme, "invalid_token", &d));
        e
    }
    /// RFC 9449 §5.2, §7.1: the DPoP proof is missing, malformed, replayed or of another key.
    pub fn invalid_dpop_proof(at: ProofAt, d: impl Into<String>) -> Self {
        let d = d.into();
        match at {
            ProofAt::AuthorizationServer => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_dpop_proof", d)
            }
            ProofAt::Resource => {
                let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_dpop_proof", d.clone());
                e.www_authenticate = Some(challenge(TokenScheme::Dpop, "invalid_dpop_proof", &d));
                e
            }
        }
    }
    /// RFC 9449 §8, §9: the proof must carry the server's nonce, sent in `DPoP-Nonce`.
    pub fn use_dpop_nonce(at: ProofAt, nonce: String) -> Self {
        let d = "the DPoP proof must carry the nonce in the DPoP-Nonce header";
        let mut e = match at {
            ProofAt::AuthorizationServer => Self::new(StatusCode::BAD_REQUEST, "use_dpop_nonce", d),
            ProofAt::Resource => {
                let mut e = Self::new(StatusCode::UNAUTHORIZED, "use_dpop_nonce", d);
                e.www_authenticate = Some(challenge(TokenScheme::Dpop, "use_dpop_nonce", d));
                e
            }
        };
        e.dpop_nonce = Some(nonce);
        e
    }
    /// RFC 6750 §3.1: no bearer token at all gets a challenge without an error code.
    pub fn bearer_required() -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "a bearer token is required",
        );
        e.www_authenticate = Some("Bearer realm=\"vneid-gateway\"".into());
        e
    }
    /// RFC 6750 §3.1: a valid token without the scope the resource needs.
    pub fn insufficient_scope(scope: &str, d: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::FORBIDDEN, "insufficient_scope", d);
        e.www_authenticate = Some(format!(
            "Bearer realm=\"vneid-gateway\", error=\"insufficient_scope\", scope=\"{scope}\""
        ));
        e
    }
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the service is temporarily unavailable; try again shortly",
        )
    }
    /// 429 from a rate limit, with `Retry-After`.
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            format!("too many requests from this address; retry after {retry_after} s"),
        );
        e.retry_after = Some(retry_after);
        e
    }
    pub fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    }

    /// Logs the cause of a store failure and turns it into 503 (unreachable, or the ephemeral
    /// store is full) or 500.
    pub fn from_store(e: StoreError) -> Self {
        Failure::from(e).into()
    }
}

impl From<Failure> for OAuthError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Unavailable => Self::unavailable(),
            Failure::Internal => Self::server_error(),
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        Failure::from(e).into()
    }
}

impl From<ServiceError> for OAuthError {
    fn from(e: ServiceError) -> Self {
        Failure::from(e).into()
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status);
        b.insert_header(("Cache-Control", "no-store"));
        if let Some(h) = &self.www_authenticate {
            b.insert_header(("WWW-Authenticate", h.as_str()));
        }
        if let Some(s) = self.retry_after {
            b.insert_header(("Retry-After", s.to_string()));
        }
        if let Some(n) = &self.dpop_nonce {
            b.insert_header(("DPoP-Nonce", n.as_str()));
        }
        b.json(json!({"error": self.error, "error_description": self.description}))
    }
}

/// An error on a page a person is looking at.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{title}: {message}")]
pub struct PageError {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
}

impl PageError {
    pub fn bad_request(title: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            title: title.into(),
            message: message.into(),
        }
    }
    pub fn unavailable() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Hệ thống tạm thời gián đoạn".into(),
            message:
                "Hệ thống đăng nhập đang tạm thời không phục vụ được. Vui lòng thử lại sau ít phút."
                    .into(),
        }
    }
    pub fn internal() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Đã có lỗi xảy ra".into(),
            message: "Hệ thống gặp lỗi khi xử lý yêu cầu đăng nhập. Vui lòng thử lại.".into(),
        }
    }
    /// Logs the cause of a store failure and turns it into the 503 or the 500 page.
    pub fn from_store(e: StoreError) -> Self {
        Failure::from(e).into()
    }
}

impl From<Failure> for PageError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Unavailable => Self::unavailable(),
            Failure::Internal => Self::internal(),
        }
    }
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        Failure::from(e).into()
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        Self::from_store(e)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        crate::pages::error_page(self.status, &self.title, &self.message)
    }
}
