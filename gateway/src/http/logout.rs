//! `GET|POST /logout`: parses, asks [`crate::login::logout`], renders.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::request_id;
use crate::errors::PageError;
use crate::login::logout::{self, LogoutOutcome, LogoutRequest};
use crate::login::SESSION_COOKIE;
use crate::pages;
use crate::params::Params;
use crate::state::AppState;

fn bad(message: &str) -> PageError {
    PageError::bad_request("Yêu cầu đăng xuất không hợp lệ", message)
}

/// `GET|POST /logout` (OpenID RP-Initiated Logout 1.0). The browser's own session ends only when
/// a portal proves it asked — an `id_token_hint` about this very session — or when the person
/// confirms on the gateway's page, whose form carries a token bound to the session. Anything
/// else (a link on another site, another person's ID token) gets the confirmation page.
pub async fn logout(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let is_post = req.method() == actix_web::http::Method::POST;
    let raw: &[u8] = if is_post {
        &body
    } else {
        req.query_string().as_bytes()
    };
    let p = Params::parse(raw).map_err(|e| bad(&e.to_string()))?;
    let request = logout::parse(&state, &p).map_err(|m| bad(&m))?;
    let cookie = req.cookie(SESSION_COOKIE);
    let confirmed = if is_post && p.get("confirm") == Some("yes") {
        p.get("csrf")
    } else {
        None
    };
    let outcome = logout::logout(
        &state,
        &request,
        cookie.as_ref().map(|c| c.value()),
        confirmed,
        &request_id(&req),
    )
    .await?;
    if let LogoutOutcome::Confirm { csrf } = outcome {
        return Ok(confirmation_page(&p, &request, &csrf));
    }
    let mut res = match &request.redirect {
        Some(url) => HttpResponse::Found()
            .insert_header((header::LOCATION, url.as_str()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        None => pages::logged_out_page(),
    };
    if cookie.is_some() {
        let _ = res.add_cookie(&crate::cookies::session_removal(&state));
    }
    Ok(res)
}

fn confirmation_page(p: &Params, request: &LogoutRequest, csrf: &str) -> HttpResponse {
    let mut hidden: Vec<(&str, &str)> = ["post_logout_redirect_uri", "state"]
        .into_iter()
        .filter_map(|k| p.get(k).map(|v| (k, v)))
        .collect();
    if let Some(c) = &request.client_id {
        hidden.push(("client_id", c));
    }
    pages::logout_confirmation_page(&hidden, csrf)
}
