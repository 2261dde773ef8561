//! Logs through `tracing`: JSON lines in production, pretty for a terminal; one span per request
//! carrying a request id that is accepted from `X-Request-Id` (when sane) or minted, and echoed;
//! one access line per request when it ends.

use std::time::Instant;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of a request, set by [`request_id`] before anything else runs.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// When the request arrived, for the access line's latency.
struct Started(Instant);

/// The client a request speaks for, as far as its handler could tell (the claimed id of a
/// client-authenticated POST, the `client_id` of an authorization request), for the access line.
struct LoggedClient(String);

/// The machine error code of an answer, for the access line, set by whoever made it where the
/// error value is not one this module knows (the admin API's problem details).
pub struct LoggedError(pub &'static str);

/// Names the client of `req` in its access line (at most 128 characters of it).
pub fn note_client(req: &HttpRequest, client_id: &str) {
    let id: String = client_id.chars().take(128).collect();
    req.extensions_mut().insert(LoggedClient(id));
}

/// Marks a request answered on behalf of every request of something else (forward-auth's
/// `{prefix}/auth`, asked before each request of a protected app): its access line is at debug
/// unless it failed (5xx), like a probe's.
pub struct Routine;

/// Logs `req`'s access line at debug unless it fails ([`Routine`]).
pub fn routine(req: &HttpRequest) {
    req.extensions_mut().insert(Routine);
}

/// Routes probed every few seconds by load balancers and Prometheus: their successful requests
/// are logged at debug, so that the info log is about people and portals.
const PROBES: &[&str] = &["/healthz", "/readyz", "/metrics"];

/// Installs the global subscriber. Safe to call twice (tests): the second call does nothing.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Middleware: accept or mint the request id, store it in the request, echo it.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = next.call(req).await?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(res)
}

/// The span of every request: method, route template and path — never the query string, which
/// carries upstream codes and states, `id_token_hint`s and authorization requests — the client
/// address (`X-Forwarded-For` believed only from `server.trusted_proxies`) and the request id.
pub struct GatewaySpan;

impl RootSpanBuilder for GatewaySpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        request.extensions_mut().insert(Started(Instant::now()));
        let id = request
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let client_ip = request
            .app_data::<actix_web::web::Data<crate::state::AppState>>()
            .map(|s| {
                crate::client_ip::ClientIp::of(
                    request.request(),
                    &s.settings.server.trusted_proxies,
                )
                .0
                .to_string()
            })
            .unwrap_or_default();
        let user_agent = request
            .headers()
            .get("user-agent")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.path = %request.path(),
            http.client_ip = %client_ip,
            http.user_agent = %user_agent,
            http.status_code = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
            request_id = %id,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span.clone(), outcome);
        let _inside = span.enter();
        match outcome {
            Ok(res) => {
                let bytes = match res.response().body().size() {
                    BodySize::None => 0,
                    BodySize::Sized(n) => i64::try_from(n).unwrap_or(i64::MAX),
                    BodySize::Stream => -1,
                };
                let logged = res
                    .response()
                    .extensions()
                    .get::<LoggedError>()
                    .map(|e| e.0);
                access_line(
                    res.request(),
                    res.status(),
                    bytes,
                    res.response().error(),
                    logged,
                );
            }
            // No response was made (actix answers 500 itself): the request is unknown here.
            Err(e) => tracing::error!(
                status = e.as_response_error().status_code().as_u16(),
                error = %e,
                "request failed before a response"
            ),
        }
    }
}

/// The access line: method, route template (never the path's query string), status, latency,
/// request id, the client when known, the body's bytes (`-1`: streamed), and for an error the
/// OAuth error code or the page's title. 5xx at error (the cause was logged just before, under
/// the same request id), probes' successes at debug, everything else at info.
fn access_line(
    req: &HttpRequest,
    status: StatusCode,
    bytes: i64,
    error: Option<&Error>,
    logged: Option<&'static str>,
) {
    let ext = req.extensions();
    let latency_ms = ext
        .get::<Started>()
        .map_or(0.0, |s| s.0.elapsed().as_secs_f64() * 1000.0);
    let request_id = ext.get::<RequestId>().map_or("", |r| r.0.as_str());
    let client_id = ext.get::<LoggedClient>().map_or("", |c| c.0.as_str());
    let routine = ext.get::<Routine>().is_some();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let error = match (error, logged) {
        (_, Some(code)) => code.to_owned(),
        (None, None) => String::new(),
        (Some(e), None) => {
            if let Some(o) = e.as_error::<crate::errors::OAuthError>() {
                o.error.to_owned()
            } else if let Some(p) = e.as_error::<crate::errors::PageError>() {
                p.title.clone()
            } else {
                e.to_string()
            }
        }
    };
    macro_rules! line {
        ($level:expr) => {
            tracing::event!(
                $level,
                method = %req.method(),
                route = %route,
                status = status.as_u16(),
                latency_ms = (latency_ms * 1000.0).round() / 1000.0,
                request_id,
                client_id,
                bytes,
                error = %error,
                "request"
            )
        };
    }
    if status.is_server_error() {
        line!(tracing::Level::ERROR);
    } else if routine || (status.is_success() && PROBES.contains(&route.as_str())) {
        line!(tracing::Level::DEBUG);
    } else {
        line!(tracing::Level::INFO);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    #[test]
    fn request_ids_are_bounded_and_plain() {
        assert!(super::acceptable("abc-123_x.y"));
        assert!(!super::acceptable(""));
        assert!(!super::acceptable("a b"));
        assert!(!super::acceptable(&"a".repeat(65)));
        assert!(!super::acceptable("<script>"));
    }
}
