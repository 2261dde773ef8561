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

/// The application of one worker.
pub fn app(
    app_state: web::Data<AppState>,
    simulator: Option<Simulator>,
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
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            crate::errors::PageError::bad_request("Yêu cầu không hợp lệ", e.to_string()).into()
        }))
        .app_data(web::FormConfig::default().limit(64 * 1024))
        .app_data(web::PayloadConfig::new(64 * 1024))
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
        .service(web::scope("/admin/v1").configure(admin::routes))
        .configure(admin::console::configure)
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
