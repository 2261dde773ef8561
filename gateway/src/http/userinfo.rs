//! `GET|POST /userinfo`: the claims a person's access token releases.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::{access_token, dpop_proof, with_nonce};
use crate::errors::{OAuthError, ProofAt};
use crate::oauth::{self, dpop};
use crate::state::AppState;

type Data = web::Data<AppState>;

/// `GET|POST /userinfo`
pub async fn userinfo(req: HttpRequest, state: Data) -> Result<HttpResponse, OAuthError> {
    let Some((scheme, token)) = access_token(&req) else {
        return Err(OAuthError::bearer_required());
    };
    let proof = dpop_proof(&req, ProofAt::Resource)?;
    let htu = state.url("/userinfo");
    let presented = dpop::Presented {
        scheme,
        token,
        proof: dpop::ProofRequest {
            proof,
            method: req.method().as_str(),
            htu: &htu,
        },
    };
    let claims = oauth::userinfo(&state, &presented).await?;
    let mut ok = with_nonce(HttpResponse::Ok(), &state, proof);
    Ok(ok
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(claims))
}
