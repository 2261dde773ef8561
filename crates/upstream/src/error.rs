use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// Everything that can go wrong talking to an upstream. Messages never carry codes, tokens,
/// secrets or personal data; [`UpstreamError::code`] is a bounded label for metrics.
///
/// `Clone` (sources are shared) so that one failed discovery or JWKS fetch can be handed to
/// every request that was waiting for it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// The configuration is unusable (also: a reserved authorization parameter passed as extra).
    #[error("upstream configuration: {0}")]
    Config(String),
    /// The discovery document was fetched but is unusable (status, JSON, issuer mix-up,
    /// missing or insecure endpoints).
    #[error("discovery: {0}")]
    Discovery(String),
    /// A request could not be completed: connection refused, TLS, timeout, reset. `endpoint`
    /// is one of `discovery`, `jwks`, `token`, `userinfo`.
    #[error("HTTP request to the upstream {endpoint} endpoint failed{}", if *.timeout { " (timed out)" } else { "" })]
    Http {
        endpoint: &'static str,
        timeout: bool,
        #[source]
        source: Arc<dyn StdError + Send + Sync>,
    },
    /// The token endpoint answered with an RFC 6749 §5.2 error (`invalid_grant`, …).
    #[error("token endpoint refused the request: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    TokenEndpoint {
        error: String,
        description: Option<String>,
    },
    /// The token endpoint answered something that is neither tokens nor an RFC 6749 error.
    #[error("token endpoint: {0}")]
    TokenResponse(String),
    /// The ID token was refused; the reason says which rule failed.
    #[error("ID token refused: {0}")]
    IdToken(String),
    /// The JWKS document was fetched but is unusable.
    #[error("JWKS: {0}")]
    Jwks(String),
    /// The userinfo endpoint refused, answered something unusable, or its `sub` is not the ID
    /// token's.
    #[error("userinfo: {0}")]
    Userinfo(String),
    /// The OS random generator failed.
    #[error("internal: {0}")]
    Internal(String),
}

impl UpstreamError {
    /// A stable, bounded code for metric labels and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::Discovery(_) => "discovery",
            Self::Http { .. } => "http",
            Self::TokenEndpoint { .. } | Self::TokenResponse(_) => "token_endpoint",
            Self::IdToken(_) => "id_token",
            Self::Jwks(_) => "jwks",
            Self::Userinfo(_) => "userinfo",
            Self::Internal(_) => "internal",
        }
    }

    /// True for an HTTP request that ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Http { timeout: true, .. })
    }

    pub(crate) fn http(endpoint: &'static str, e: reqwest::Error) -> Self {
        Self::Http {
            endpoint,
            timeout: e.is_timeout(),
            // The URL in the message is a configured or discovered endpoint, never one that
            // carries a code or token (those travel in headers and bodies).
            source: Arc::new(e),
        }
    }

    pub(crate) fn http_other(endpoint: &'static str, message: String) -> Self {
        Self::Http {
            endpoint,
            timeout: false,
            source: Arc::new(Message(message)),
        }
    }
}

/// A plain message as an error source.
#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Message {}

/// Text from upstream put into an error message: at most `max` characters, control characters
/// replaced, so a hostile answer cannot flood or forge log lines.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}
