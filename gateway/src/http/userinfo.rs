//! `GET|POST /userinfo`: the claims a person's access token releases.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::bearer_token;
use crate::errors::OAuthError;
use crate::oauth;
use crate::state::AppState;

type Data = web::Data<AppState>;

/// `GET|POST /userinfo`
pub async fn userinfo(req: HttpRequest, state: Data) -> Result<HttpResponse, OAuthError> {
    let Some(bearer) = bearer_token(&req) else {
        return Err(OAuthError::bearer_required());
    };
    let claims = oauth::userinfo(&state, bearer).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(claims))
}
