//! `POST /token`, `/introspect` (RFC 7662), `/revoke` (RFC 7009) and `/par` (RFC 9126): the
//! client-authenticated form endpoints, served by [`crate::oauth`].

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::{client_ip, dpop_proof, no_store, request_id, with_nonce};
use crate::errors::{OAuthError, ProofAt};
use crate::oauth;
use crate::params::Params;
use crate::state::AppState;

type Data = web::Data<AppState>;

/// The form body and `Authorization` header of a client-authenticated POST (token,
/// introspection, revocation).
fn client_form(req: &HttpRequest, body: &[u8]) -> Result<(Params, Option<String>), OAuthError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let p = Params::parse(body).map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}").to_owned());
    if let Some(id) = oauth::claimed_client_id(authorization.as_deref(), &p) {
        crate::telemetry::note_client(req, &id);
    }
    Ok((p, authorization))
}

/// `POST /token`
pub async fn token(
    req: HttpRequest,
    body: web::Bytes,
    state: Data,
) -> Result<HttpResponse, OAuthError> {
    let (p, authorization) = client_form(&req, &body)?;
    let from = client_ip(&req, &state);
    let proof = dpop_proof(&req, ProofAt::AuthorizationServer)?;
    let response = oauth::token(
        &state,
        authorization.as_deref(),
        &p,
        &from,
        &request_id(&req),
        proof,
    )
    .await?;
    Ok(with_nonce(no_store(HttpResponse::Ok()), &state, proof).json(response))
}

/// `POST /introspect` (RFC 7662)
pub async fn introspect(
    req: HttpRequest,
    body: web::Bytes,
    state: Data,
) -> Result<HttpResponse, OAuthError> {
    let (p, authorization) = client_form(&req, &body)?;
    let from = client_ip(&req, &state);
    let response = oauth::introspect(&state, authorization.as_deref(), &p, &from).await?;
    Ok(no_store(HttpResponse::Ok()).json(response))
}

/// `POST /revoke` (RFC 7009)
pub async fn revoke(
    req: HttpRequest,
    body: web::Bytes,
    state: Data,
) -> Result<HttpResponse, OAuthError> {
    let (p, authorization) = client_form(&req, &body)?;
    let from = client_ip(&req, &state);
    oauth::revoke(&state, authorization.as_deref(), &p, &from).await?;
    Ok(no_store(HttpResponse::Ok()).finish())
}

/// `POST /par` (RFC 9126): 201 with the `request_uri` of the pushed request.
pub async fn par(
    req: HttpRequest,
    body: web::Bytes,
    state: Data,
) -> Result<HttpResponse, OAuthError> {
    let (p, authorization) = client_form(&req, &body)?;
    let from = client_ip(&req, &state);
    let proof = dpop_proof(&req, ProofAt::AuthorizationServer)?;
    let pushed = oauth::push_request(&state, authorization.as_deref(), &p, &from, proof).await?;
    Ok(with_nonce(no_store(HttpResponse::Created()), &state, proof).json(pushed))
}
