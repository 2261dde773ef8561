//! The route table, on one screen, and the headers every answer carries.

use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpResponse};
use vneid_simulator::Simulator;

use crate::http::{authorize, discovery, logout, ops, throttle, token, userinfo};
use crate::pages;
use crate::state::AppState;
use crate::{admin, demo, telemetry};

/// The Content-Security-Policy of the gateway's own pages: no script at all, no framing.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self' https: http://127.0.0.1:* http://localhost:*; frame-ancestors 'none'; base-uri 'none'";

/// Which listener serves what. Without a management address, every route is on the public
/// one. With one, the operators' routes (`/metrics`, `/readyz`, `/admin/v1`) are served only
/// there, everything else only on the public listener, and `/healthz` on both.
#[derive(Clone, Copy, Debug, Default)]
pub struct Surface {
    pub management: Option<std::net::SocketAddr>,
}

impl Surface {
    /// Whether `path`, asked on the listener at `local`, is served there.
    pub fn serves(&self, local: std::net::SocketAddr, path: &str) -> bool {
        let Some(management) = self.management else {
            return true;
        };
        if path == "/healthz" {
            return true;
        }
        let operators = path == "/metrics"
            || path == "/readyz"
            || path == "/admin/v1"
            || path.starts_with("/admin/v1/");
        operators == (local == management)
    }
}

/// Middleware: a path asked on the listener that does not serve it is not found there (the
/// public port's 404 page, or the management port's bare 404).
async fn surface(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let local = req.app_config().local_addr();
    let (serves, on_management) = match req.app_data::<web::Data<Surface>>() {
        Some(s) => (s.serves(local, req.path()), s.management == Some(local)),
        None => (true, false),
    };
    if serves {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let res = if on_management {
        HttpResponse::NotFound().finish()
    } else {
        pages::not_found_page()
    };
    Ok(req.into_response(res).map_into_boxed_body())
}

/// The application of one worker.
pub fn app(
    app_state: web::Data<AppState>,
    forward_auth: web::Data<crate::forward_auth::ForwardAuth>,
    simulator: Option<Simulator>,
    surface_of: Surface,
    branding: web::Data<std::sync::Arc<pages::branding::Branding>>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let mut app = App::new()
        .app_data(app_state.clone())
        // People read this page: Vietnamese only; the parser's English detail goes to the log.
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            tracing::info!(detail = %e, "unreadable query string");
            crate::errors::PageError::bad_request(
                "Yêu cầu không hợp lệ",
                "Địa chỉ bạn mở có tham số không đọc được. Vui lòng quay lại trang trước và thử lại.",
            )
            .into()
        }))
        .app_data(web::FormConfig::default().limit(64 * 1024))
        .app_data(web::PayloadConfig::new(64 * 1024))
        .app_data(web::Data::new(surface_of))
        .app_data(branding)
        // Innermost: its 404s get the branding and the headers below like every other answer.
        .wrap(from_fn(surface))
        .wrap(from_fn(pages::branding::with_branding))
        .wrap(
            DefaultHeaders::new()
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("Content-Security-Policy", CSP))
                .add(("X-Frame-Options", "DENY"))
                .add(("Referrer-Policy", "no-referrer")),
        )
        .wrap(from_fn(ops::http_metrics))
        .wrap(tracing_actix_web::TracingLogger::<telemetry::GatewaySpan>::new())
        .wrap(from_fn(telemetry::request_id))
        .route(
            "/.well-known/openid-configuration",
            web::get().to(discovery::discovery),
        )
        .route("/jwks", web::get().to(discovery::jwks))
        .route("/branding/logo", web::get().to(pages::branding::logo))
        .service(
            web::resource("/authorize")
                .wrap(from_fn(throttle::login_start))
                .route(web::get().to(authorize::authorize)),
        )
        .route(
            "/login/{upstream}/callback",
            web::get().to(authorize::callback),
        )
        .service(
            web::resource("/token")
                .wrap(from_fn(throttle::token))
                .route(web::post().to(token::token)),
        )
        .service(
            web::resource("/par")
                .wrap(from_fn(throttle::token))
                .route(web::post().to(token::par)),
        )
        .service(
            web::resource("/introspect")
                .wrap(from_fn(throttle::token))
                .route(web::post().to(token::introspect)),
        )
        .service(
            web::resource("/revoke")
                .wrap(from_fn(throttle::token))
                .route(web::post().to(token::revoke)),
        )
        .route("/logout", web::get().to(logout::logout))
        .route("/logout", web::post().to(logout::logout))
        .service(
            web::resource("/userinfo")
                .wrap(from_fn(throttle::userinfo))
                .route(web::get().to(userinfo::userinfo))
                .route(web::post().to(userinfo::userinfo)),
        )
        .route("/healthz", web::get().to(ops::healthz))
        .route("/healthz", web::head().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/readyz", web::head().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics))
        .route("/metrics", web::head().to(ops::metrics))
        .service(
            web::scope("/admin/v1")
                .wrap(from_fn(admin::with_request_id))
                .configure(admin::routes),
        )
        .configure(admin::console::configure)
        // Protected apps: `{prefix}/auth|start|callback|logout` on each app's host.
        .configure(|c| crate::forward_auth::http::configure(c, &forward_auth.prefixes()))
        .app_data(forward_auth)
        .route("/", web::get().to(home));
    if let Some(sim) = &simulator {
        let sim = sim.clone();
        app = app.service(web::scope("/simulator").configure(move |c| sim.configure(c)));
    }
    if app_state.settings.demo.enabled {
        app = app.configure(demo::configure);
    }
    app.default_service(web::to(not_found))
}

async fn home(state: web::Data<AppState>) -> HttpResponse {
    pages::home_page(
        state.settings.demo.enabled,
        state.settings.simulator.enabled,
    )
}

async fn not_found() -> HttpResponse {
    pages::not_found_page()
}
