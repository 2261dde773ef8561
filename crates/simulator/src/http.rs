//! Routes: parse, call the broker once, render. Every response carries `nosniff`, no-store
//! caching and, for pages, a CSP with a fresh nonce and `frame-ancestors 'none'`.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::{json, Value};

use crate::broker::{
    AuthorizeOutcome, Broker, LoginOutcome, LoginView, OAuthError, OtpOutcome, OtpView, PageError,
    QrContinue, QrStatus,
};
use crate::html::{self, Frame};
use crate::params::{ParamError, Params, MAX_BODY, MAX_QUERY};

/// Bodies are read up to this size (so a client sending a large form still gets an answer),
/// then refused above [`MAX_BODY`].
const READ_LIMIT: usize = 256 * 1024;

pub(crate) fn configure(broker: Arc<Broker>, cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::from(broker))
        .service(web::resource("/").route(web::get().to(index)))
        .service(web::resource("/.well-known/openid-configuration").route(web::get().to(discovery)))
        .service(web::resource("/jwks").route(web::get().to(jwks)))
        .service(web::resource("/oauth2/authorize").route(web::get().to(authorize)))
        .service(web::resource("/login").route(web::post().to(login)))
        .service(web::resource("/otp").route(web::post().to(otp)))
        .service(web::resource("/cancel").route(web::post().to(cancel)))
        .service(web::resource("/qr/{id}").route(web::get().to(qr_status)))
        .service(web::resource("/qr/{id}/continue").route(web::get().to(qr_continue)))
        .service(web::resource("/phone").route(web::get().to(phone)))
        .service(web::resource("/phone/messages").route(web::get().to(phone_messages)))
        .service(web::resource("/phone/approve").route(web::post().to(phone_approve)))
        .service(web::resource("/oauth2/token").route(web::post().to(token)))
        .service(
            web::resource("/oauth2/userinfo")
                .route(web::get().to(userinfo))
                .route(web::post().to(userinfo)),
        )
        .service(web::resource("/profile").route(web::get().to(profile)))
        .service(web::resource("/logout").route(web::get().to(logout)));
}

// ---- responses ------------------------------------------------------------------------------

fn nonce() -> String {
    let mut b = [0u8; 16];
    if OsRng.try_fill_bytes(&mut b).is_err() {
        // A nonce only has to be unpredictable to an attacker who can inject markup, and
        // every value on these pages is escaped; a fixed fallback keeps the page working.
        tracing::error!("the OS random generator failed (CSP nonce)");
    }
    URL_SAFE_NO_PAD.encode(b)
}

fn csp(b: &Broker, nonce: &str, extra_form_target: Option<&str>) -> String {
    let origin = &b.issuer_origin;
    let extra = extra_form_target
        .filter(|o| !o.is_empty() && o.as_bytes().iter().all(|c| c.is_ascii_graphic()))
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; \
img-src 'self' data:; connect-src 'self' {origin}; form-action 'self' {origin}{extra}; \
frame-ancestors 'none'; base-uri 'none'"
    )
}

fn common_headers(r: &mut HttpResponseBuilder) {
    r.insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
}

/// A page: `render` draws it in a [`Frame`] with a fresh nonce and the broker's warning, and the
/// response carries the CSP allowing exactly that nonce (and forms posting to `form_target`, the
/// client's origin, when given).
fn page(
    b: &Broker,
    status: StatusCode,
    form_target: Option<&str>,
    render: impl FnOnce(&Frame<'_>) -> maud::Markup,
) -> HttpResponse {
    let nonce = nonce();
    let csp = csp(b, &nonce, form_target);
    let body = render(&Frame {
        issuer: &b.issuer,
        nonce: &nonce,
        warning: b.warning.as_deref(),
    })
    .into_string();
    let mut r = HttpResponse::build(status);
    common_headers(&mut r);
    r.insert_header((header::X_FRAME_OPTIONS, "DENY"));
    match HeaderValue::from_str(&csp) {
        Ok(v) => {
            r.insert_header((header::CONTENT_SECURITY_POLICY, v));
        }
        Err(_) => {
            r.insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'",
            ));
        }
    }
    r.content_type("text/html; charset=utf-8").body(body)
}

fn error_page(b: &Broker, e: &PageError) -> HttpResponse {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    page(b, status, None, |f| html::error_page(f, e))
}

fn param_error_page(b: &Broker, e: &ParamError) -> HttpResponse {
    error_page(b, &PageError::bad_request(e.vietnamese()))
}

fn login_page(b: &Broker, v: &LoginView) -> HttpResponse {
    page(b, StatusCode::OK, Some(&v.redirect_origin), |f| {
        html::login_page(f, v)
    })
}

fn otp_page(b: &Broker, v: &OtpView) -> HttpResponse {
    page(b, StatusCode::OK, Some(&v.redirect_origin), |f| {
        html::otp_page(f, v)
    })
}

/// 303 See Other: after a POST the browser follows with a GET.
fn redirect(url: &str) -> HttpResponse {
    let mut r = HttpResponse::SeeOther();
    common_headers(&mut r);
    match HeaderValue::from_str(url) {
        Ok(v) => r.insert_header((header::LOCATION, v)).finish(),
        Err(_) => {
            tracing::error!("redirect URL is not a valid header value");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    common_headers(&mut r);
    r.content_type("application/json").body(body.to_string())
}

fn oauth_error(e: &OAuthError) -> HttpResponse {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = HttpResponse::build(status);
    common_headers(&mut r);
    if e.error == "invalid_client" {
        r.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"vneid-simulator\""));
    }
    r.content_type("application/json")
        .body(json!({"error": e.error, "error_description": e.description}).to_string())
}

async fn read_form(payload: web::Payload) -> Result<Params, ParamError> {
    let body = match payload.to_bytes_limited(READ_LIMIT).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return Err(ParamError::Malformed),
        Err(_) => return Err(ParamError::TooLarge),
    };
    Params::parse(&body, MAX_BODY)
}

// ---- handlers -------------------------------------------------------------------------------

pub(crate) async fn not_found(b: Option<web::Data<Broker>>) -> HttpResponse {
    match b {
        Some(b) => error_page(&b, &PageError::not_found()),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn index(b: web::Data<Broker>) -> HttpResponse {
    page(&b, StatusCode::OK, None, |f| html::index_page(f, &b.people))
}

async fn discovery(b: web::Data<Broker>) -> HttpResponse {
    json_response(StatusCode::OK, &b.discovery())
}

async fn jwks(b: web::Data<Broker>) -> HttpResponse {
    json_response(StatusCode::OK, &b.jwks())
}

async fn authorize(b: web::Data<Broker>, req: HttpRequest) -> HttpResponse {
    let params = match Params::parse(req.query_string().as_bytes(), MAX_QUERY) {
        Ok(p) => p,
        Err(e) => return param_error_page(&b, &e),
    };
    match b.authorize(&params) {
        Ok(AuthorizeOutcome::Login(v)) => login_page(&b, &v),
        Ok(AuthorizeOutcome::Redirect(url)) => redirect(&url),
        Err(e) => error_page(&b, &e),
    }
}

async fn login(b: web::Data<Broker>, payload: web::Payload) -> HttpResponse {
    let params = match read_form(payload).await {
        Ok(p) => p,
        Err(e) => return param_error_page(&b, &e),
    };
    match b.login(&params) {
        Ok(LoginOutcome::Again(v)) => login_page(&b, &v),
        Ok(LoginOutcome::Otp(v)) => otp_page(&b, &v),
        Err(e) => error_page(&b, &e),
    }
}

async fn otp(b: web::Data<Broker>, payload: web::Payload) -> HttpResponse {
    let params = match read_form(payload).await {
        Ok(p) => p,
        Err(e) => return param_error_page(&b, &e),
    };
    match b.otp(&params) {
        Ok(OtpOutcome::Redirect(url)) => redirect(&url),
        Ok(OtpOutcome::Again(v)) => otp_page(&b, &v),
        Err(e) => error_page(&b, &e),
    }
}

async fn cancel(b: web::Data<Broker>, payload: web::Payload) -> HttpResponse {
    let params = match read_form(payload).await {
        Ok(p) => p,
        Err(e) => return param_error_page(&b, &e),
    };
    match b.cancel(&params) {
        Ok(url) => redirect(&url),
        Err(e) => error_page(&b, &e),
    }
}

async fn qr_status(b: web::Data<Broker>, req: HttpRequest) -> HttpResponse {
    let id = req.match_info().get("id").unwrap_or("");
    match b.qr_status(id) {
        QrStatus::Pending => json_response(StatusCode::OK, &json!({"status": "pending"})),
        QrStatus::Approved { continue_url } => json_response(
            StatusCode::OK,
            &json!({"status": "approved", "redirect": continue_url}),
        ),
        QrStatus::Expired => json_response(StatusCode::NOT_FOUND, &json!({"status": "expired"})),
    }
}

async fn qr_continue(b: web::Data<Broker>, req: HttpRequest) -> HttpResponse {
    let id = req.match_info().get("id").unwrap_or("");
    match b.qr_continue(id) {
        Ok(QrContinue::Redirect(url)) => redirect(&url),
        Ok(QrContinue::Waiting(v)) => login_page(&b, &v),
        Err(e) => error_page(&b, &e),
    }
}

async fn phone(b: web::Data<Broker>, req: HttpRequest) -> HttpResponse {
    let flash = match Params::parse(req.query_string().as_bytes(), MAX_QUERY) {
        Ok(p) if p.get("approved").is_some() => {
            Some("Đã xác nhận đăng nhập. Trình duyệt sẽ tự chuyển về dịch vụ.")
        }
        _ => None,
    };
    let (sms, qr) = b.phone_view();
    page(&b, StatusCode::OK, None, |f| {
        html::phone_page(f, &sms, &qr, &b.people, flash)
    })
}

async fn phone_messages(b: web::Data<Broker>) -> HttpResponse {
    let (sms, _) = b.phone_view();
    let list: Vec<Value> = sms
        .iter()
        .map(|m| {
            json!({
                "phone": m.phone,
                "personal_id": m.personal_id,
                "otp": m.otp,
                "request": m.request,
                "qr": m.qr,
                "at": m.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })
        })
        .collect();
    json_response(StatusCode::OK, &Value::Array(list))
}

async fn phone_approve(b: web::Data<Broker>, payload: web::Payload) -> HttpResponse {
    let params = match read_form(payload).await {
        Ok(p) => p,
        Err(e) => return param_error_page(&b, &e),
    };
    match b.phone_approve(&params) {
        Ok(()) => redirect(&format!("{}/phone?approved=1", b.issuer)),
        Err(e) => error_page(&b, &e),
    }
}

async fn token(b: web::Data<Broker>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return oauth_error(&OAuthError::invalid_request(
            "content type must be application/x-www-form-urlencoded",
        ));
    }
    let params = match read_form(payload).await {
        Ok(p) => p,
        Err(e) => return oauth_error(&OAuthError::invalid_request(e.english())),
    };
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match b.token(&params, authorization) {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => oauth_error(&e),
    }
}

async fn userinfo(b: web::Data<Broker>, req: HttpRequest) -> HttpResponse {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match b.userinfo(authorization) {
        Some(body) => json_response(StatusCode::OK, &body),
        None => {
            let mut r = HttpResponse::Unauthorized();
            common_headers(&mut r);
            r.insert_header((
                header::WWW_AUTHENTICATE,
                "Bearer error=\"invalid_token\", error_description=\"the access token is missing, unknown or expired\"",
            ))
            .content_type("application/json")
            .body(
                json!({"error": "invalid_token", "error_description": "the access token is missing, unknown or expired"})
                    .to_string(),
            )
        }
    }
}

async fn profile(b: web::Data<Broker>) -> HttpResponse {
    page(&b, StatusCode::OK, None, |f| {
        html::message_page(
            f,
            "Thông tin tài khoản",
            "Thông tin tài khoản định danh điện tử được quản lý trên ứng dụng VNeID. Trình giả \
             lập không có trang quản lý tài khoản.",
        )
    })
}

async fn logout(b: web::Data<Broker>) -> HttpResponse {
    page(&b, StatusCode::OK, None, |f| {
        html::message_page(
            f,
            "Đăng xuất",
            "Bạn đã đăng xuất khỏi Cổng xác thực. Trình giả lập không giữ phiên đăng nhập nên \
             không còn gì phải xóa.",
        )
    })
}
