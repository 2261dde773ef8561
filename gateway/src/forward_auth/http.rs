//! The routes of every protected app's prefix, on the app's host: `{prefix}/auth` (GET, HEAD),
//! `{prefix}/start`, `{prefix}/callback`, `{prefix}/logout` (GET, POST). Each handler finds the
//! app, parses, calls one service of [`super::flow`] or the [`super::cache`], and renders.

use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse};

use super::cache::Verdict;
use super::flow::{self, Finished, FlowError};
use super::{App, Counted, ForwardAuth};
use crate::cookies::app as cookies;
use crate::errors::PageError;
use crate::http::{redirect, request_id};
use crate::pages;
use crate::params::Params;
use crate::state::AppState;

type Data = web::Data<AppState>;
type Fa = web::Data<ForwardAuth>;

/// The prefix a resource serves (its resource data).
#[derive(Clone)]
struct Prefix(Arc<str>);

/// Routes `{prefix}/…` for every distinct prefix of the protected apps.
pub fn configure(cfg: &mut web::ServiceConfig, prefixes: &[String]) {
    for p in prefixes {
        let data = Prefix(Arc::from(p.as_str()));
        cfg.service(
            // Any method: proxies ask with GET, but nginx's auth_request may pass on the
            // method of the request it checks.
            web::resource(format!("{p}/auth"))
                .app_data(data.clone())
                .route(web::route().to(auth)),
        )
        .service(
            web::resource(format!("{p}/start"))
                .app_data(data.clone())
                .wrap(from_fn(crate::http::throttle::login_start))
                .route(web::get().to(start)),
        )
        .service(
            web::resource(format!("{p}/callback"))
                .app_data(data.clone())
                .route(web::get().to(callback)),
        )
        .service(
            web::resource(format!("{p}/logout"))
                .app_data(data)
                .route(web::get().to(logout_get))
                .route(web::post().to(logout_post)),
        );
    }
}

fn app_of<'a>(req: &HttpRequest, fa: &'a ForwardAuth) -> Option<&'a App> {
    let prefix = req.app_data::<Prefix>()?;
    fa.app_for(req, &prefix.0)
}

fn unknown_app() -> PageError {
    PageError {
        status: StatusCode::NOT_FOUND,
        title: "Ứng dụng chưa được đăng ký".into(),
        message:
            "Địa chỉ này không thuộc ứng dụng nào được bảo vệ bởi hệ thống xác thực tập trung."
                .into(),
    }
}

/// The value of cookie `name` in the request's `Cookie` headers, without parsing the others.
fn cookie<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// `{prefix}/auth` (any method): 200 with the assertion and headers for a live session at the app's level;
/// otherwise 401 with `X-Vneid-Login` (where to send the person: `{prefix}/start?rd=` the
/// `X-Forwarded-Uri` the proxy sent, when it is a path of the app), or with `?redirect=1`
/// (Traefik, Caddy, which pass the answer on) a 302 there.
async fn auth(req: HttpRequest, state: Data, fa: Fa) -> HttpResponse {
    // A proxy that names no app is misconfigured: that 404 is logged at info.
    let Some(app) = app_of(&req, &fa) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no protected app is configured for this host and prefix\n");
    };
    crate::telemetry::routine(&req);
    let verdict = fa
        .cache
        .check(&state, app, cookie(&req, &app.cookie_name))
        .await;
    match verdict {
        Ok(Verdict::Allowed(answer)) => {
            app.count(Counted::Allowed);
            let mut res = HttpResponse::Ok();
            for (name, value) in &answer.headers {
                res.insert_header((name.clone(), value.clone()));
            }
            res.finish()
        }
        Ok(v) => {
            app.count(match v {
                Verdict::Level => Counted::Level,
                _ => Counted::Unauthenticated,
            });
            let rd = req
                .headers()
                .get("x-forwarded-uri")
                .and_then(|h| h.to_str().ok())
                .filter(|rd| flow::safe_return(rd))
                .unwrap_or("/");
            let login = app.login_url(rd);
            if req.query_string().split('&').any(|kv| kv == "redirect=1") {
                return redirect(&login);
            }
            HttpResponse::Unauthorized()
                .insert_header(("x-vneid-login", login))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        Err(e) => {
            app.count(Counted::Error);
            actix_web::ResponseError::error_response(&PageError::from(e))
        }
    }
}

fn flow_error(e: FlowError) -> PageError {
    match e {
        FlowError::BadReturn => PageError::bad_request(
            "Địa chỉ quay lại không hợp lệ",
            "Sau khi đăng nhập, hệ thống chỉ đưa bạn về một trang của chính ứng dụng này (tham số \
rd phải là một đường dẫn bắt đầu bằng một dấu /). Địa chỉ được yêu cầu trỏ sang một trang web \
khác nên đã bị từ chối. Nếu bạn vừa nhấn vào một đường liên kết lạ, hãy đóng trang này.",
        ),
        FlowError::UnknownState | FlowError::BadResponse(_) => PageError::bad_request(
            "Phiên đăng nhập không hợp lệ",
            "Phiên đăng nhập đã hết hạn, đã được dùng hoặc không hợp lệ. Vui lòng mở lại ứng dụng \
và đăng nhập lại.",
        ),
        FlowError::OtherBrowser => PageError::bad_request(
            "Phiên đăng nhập không khớp với trình duyệt",
            "Lượt đăng nhập này không được bắt đầu trên trình duyệt bạn đang dùng, nên hệ thống \
không hoàn tất đăng nhập. Nếu bạn vừa nhấn vào một đường liên kết lạ, hãy đóng trang này.",
        ),
        FlowError::Unavailable => PageError::unavailable(),
        FlowError::Service(e) => e.into(),
    }
}

/// `{prefix}/start?rd=PATH`
async fn start(req: HttpRequest, state: Data, fa: Fa) -> Result<HttpResponse, PageError> {
    let app = app_of(&req, &fa).ok_or_else(unknown_app)?;
    crate::telemetry::note_client(&req, &app.id);
    let p = Params::parse(req.query_string().as_bytes())
        .map_err(|_| flow_error(FlowError::BadReturn))?;
    let started = flow::start(&state, app, p.get("rd"))
        .await
        .map_err(flow_error)?;
    let mut res = redirect(&started.location);
    let _ = res.add_cookie(&cookies::binding(
        &started.app_state,
        started.binding,
        &app.callback_path(),
        state.settings.tokens.login_ttl,
        app.secure,
    ));
    Ok(res)
}

/// `{prefix}/callback`
async fn callback(req: HttpRequest, state: Data, fa: Fa) -> Result<HttpResponse, PageError> {
    let app = app_of(&req, &fa).ok_or_else(unknown_app)?;
    crate::telemetry::note_client(&req, &app.id);
    let p = Params::parse(req.query_string().as_bytes())
        .map_err(|_| flow_error(FlowError::UnknownState))?;
    let app_state = p.get("state").unwrap_or("");
    let binding_name = cookies::binding_name(app_state);
    let binding = cookie(&req, &binding_name);
    let outcome = flow::finish(&state, app, &p, binding, &request_id(&req)).await;
    let mut res = match outcome {
        Ok(Finished::LoggedIn { cookie, location }) => {
            let mut res = redirect(&location);
            let _ = res.add_cookie(&cookies::session(
                &app.id,
                cookie,
                app.settings.session_ttl,
                app.secure,
            ));
            res
        }
        Ok(Finished::Denied { error, retry }) => {
            pages::app_login_failed_page(&app.name, &error, &retry)
        }
        Err(e) => actix_web::ResponseError::error_response(&flow_error(e)),
    };
    if binding.is_some() {
        let _ = res.add_cookie(&cookies::binding_removal(
            app_state,
            &app.callback_path(),
            app.secure,
        ));
    }
    Ok(res)
}

/// Whether the request comes from a page of the app itself: `Sec-Fetch-Site: same-origin`
/// (browsers send it on every navigation and form), or, for a POST, `Origin` = the app's.
fn same_origin(req: &HttpRequest, app: &App, post: bool) -> bool {
    let h = req.headers();
    let fetch = h.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let origin = h.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    fetch == Some("same-origin") || (post && origin == Some(app.origin.as_str()))
}

/// `{prefix}/logout[?sso=1]` by GET: a link on the app's own pages logs out at once; anything
/// else (a link from another site, a typed address) is asked to confirm first.
async fn logout_get(req: HttpRequest, state: Data, fa: Fa) -> Result<HttpResponse, PageError> {
    let app = app_of(&req, &fa).ok_or_else(unknown_app)?;
    let p = Params::parse(req.query_string().as_bytes()).unwrap_or_default();
    let confirmed = same_origin(&req, app, false);
    logout(&req, &state, &fa, app, &p, confirmed).await
}

/// `{prefix}/logout` by POST (`sso=1` in the form or the query): from a page of the app
/// (`Origin`, `Sec-Fetch-Site`) or the confirmation form (its CSRF token).
async fn logout_post(
    req: HttpRequest,
    body: web::Bytes,
    state: Data,
    fa: Fa,
) -> Result<HttpResponse, PageError> {
    let app = app_of(&req, &fa).ok_or_else(unknown_app)?;
    let form = Params::parse(&body).unwrap_or_default();
    let query = Params::parse(req.query_string().as_bytes()).unwrap_or_default();
    let by_form = match (form.get("csrf"), cookie(&req, &app.cookie_name)) {
        (Some(t), Some(c)) => {
            crate::secure::constant_time_eq(t.as_bytes(), flow::logout_csrf(&state, c).as_bytes())
        }
        _ => false,
    };
    let p = if form.has("sso") { form } else { query };
    let confirmed = by_form || same_origin(&req, app, true);
    logout(&req, &state, &fa, app, &p, confirmed).await
}

async fn logout(
    req: &HttpRequest,
    state: &AppState,
    fa: &ForwardAuth,
    app: &App,
    p: &Params,
    confirmed: bool,
) -> Result<HttpResponse, PageError> {
    let sso = p.get("sso") == Some("1");
    let cookie = cookie(req, &app.cookie_name);
    if let (Some(c), false) = (cookie, confirmed) {
        let action = format!("{}/logout", app.prefix);
        return Ok(pages::app_logout_confirmation_page(
            &app.name,
            &action,
            &flow::logout_csrf(state, c),
            sso,
        ));
    }
    let then = flow::logout(state, fa, app, cookie, sso, &request_id(req)).await?;
    let mut res = match then {
        Some(gateway_logout) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, gateway_logout))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        None => pages::app_logged_out_page(&app.name, &app.login_url("/")),
    };
    if cookie.is_some() {
        let _ = res.add_cookie(&cookies::session_removal(&app.id, app.secure));
    }
    Ok(res)
}
