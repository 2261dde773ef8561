//! The shared outgoing HTTP client and a size-capped fetch.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::redirect::Policy;
use reqwest::StatusCode;

use crate::UpstreamError;

/// Discovery, JWKS and userinfo documents are small; anything bigger is refused.
const MAX_BODY: usize = 1024 * 1024;

/// The connect timeout never exceeds this, however long the total timeout is.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const USER_AGENT: &str = concat!("vneid-gateway/", env!("CARGO_PKG_VERSION"));

/// The one outgoing HTTP client the gateway shares between upstreams: `timeout` for the whole
/// request, a connect timeout of at most 5 s, no redirects followed (a redirect from an
/// upstream endpoint is an error, not a hop to somewhere else: no SSRF through redirects),
/// rustls on aws-lc-rs, a `vneid-gateway/<version>` User-Agent, no cookie store.
///
/// Building can only fail when the TLS backend cannot start; then the error is logged and a
/// client with only the redirect policy set is returned (which reqwest builds the same way, so
/// this is as far as a fallback can go). Use [`try_http_client`] to get the error instead.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    try_http_client(timeout).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot build the upstream HTTP client with its timeouts");
        reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// [`http_client`], returning the builder's error.
pub fn try_http_client(timeout: Duration) -> Result<reqwest::Client, UpstreamError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
        .redirect(Policy::none())
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| UpstreamError::Config(format!("cannot build the HTTP client: {e}")))
}

pub(crate) struct Fetched {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Fetched {
    /// Whether the media type (before any `;` parameter) is `media`.
    pub fn is_media_type(&self, media: &str) -> bool {
        self.content_type.as_deref().is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(media))
        })
    }
}

/// Sends the request and reads at most [`MAX_BODY`] bytes of the answer.
pub(crate) async fn fetch(
    request: reqwest::RequestBuilder,
    endpoint: &'static str,
) -> Result<Fetched, UpstreamError> {
    let mut response = request
        .send()
        .await
        .map_err(|e| UpstreamError::http(endpoint, e))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let too_big = || UpstreamError::http_other(endpoint, format!("response over {MAX_BODY} bytes"));
    if response
        .content_length()
        .is_some_and(|l| l > MAX_BODY as u64)
    {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| UpstreamError::http(endpoint, e))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        status,
        content_type,
        body,
    })
}

/// The `oauth2` crate's HTTP hook: its token request goes out through the shared client with
/// the same limits as every other upstream call (timeouts, no redirects, a capped body).
pub(crate) async fn oauth2_send(
    http: &reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, UpstreamError> {
    let (parts, body) = request.into_parts();
    let builder = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body);
    let fetched = fetch(builder, "token").await?;
    let mut response = oauth2::HttpResponse::new(fetched.body);
    *response.status_mut() = fetched.status;
    if let Some(value) = fetched
        .content_type
        .and_then(|ct| reqwest::header::HeaderValue::from_str(&ct).ok())
    {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    Ok(response)
}
