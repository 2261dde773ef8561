//! `POST /par` (RFC 9126): the client, authenticated exactly as at `/token`, pushes its
//! authorization request; it is checked by the same rules as at `/authorize`
//! ([`crate::login::request::check`]) and kept for one `/authorize`
//! ([`crate::login::par`]). Every refusal is a JSON OAuth error, never a redirect. A DPoP proof
//! sent here binds the code to its key (RFC 9449 §10.1).

use actix_web::http::StatusCode;
use serde::Serialize;

use super::client_auth::authenticate_client;
use super::dpop::{self, At, ProofRequest};
use crate::client_ip::ClientIp;
use crate::errors::OAuthError;
use crate::login::par;
use crate::login::request::{self, Refused, Via};
use crate::params::Params;
use crate::state::AppState;

/// The answer to a pushed request (RFC 9126 §2.2).
#[derive(Debug, Serialize)]
pub struct PushedRequest {
    pub request_uri: String,
    pub expires_in: u64,
}

/// Authenticates the client, checks its authorization request and keeps it.
pub async fn push_request(
    state: &AppState,
    authorization: Option<&str>,
    p: &Params,
    from: &ClientIp,
    proof: Option<&str>,
) -> Result<PushedRequest, OAuthError> {
    let htu = state.url("/par");
    let proof_request = ProofRequest {
        proof,
        method: "POST",
        htu: &htu,
    };
    // Before the client authenticates, as at `/token`: `use_dpop_nonce` spends nothing.
    let checked = dpop::check(state, &proof_request, None, At::AuthorizationServer)?;
    let client = authenticate_client(state, authorization, p, from).await?;
    // `authenticate_client` has already refused a `client_id` that differs from Basic
    // credentials or an assertion; said again here so that the rule has one visible home.
    if p.get("client_id").is_some_and(|id| id != client.id) {
        return Err(OAuthError::invalid_request(
            "client_id is not the authenticated client",
        ));
    }
    let (mut req, hint) = request::check(state, &client, p, Via::Pushed).map_err(|e| match e {
        Refused::Untrusted { description, .. } => OAuthError::invalid_request(description),
        Refused::Request {
            error, description, ..
        } => OAuthError::new(StatusCode::BAD_REQUEST, error, description),
    })?;
    // A proof sent to `/par` binds the code to its key (RFC 9449 §10.1), as `dpop_jkt` does;
    // both at once must name the same key.
    if let Some(proof) = checked {
        dpop::allowed_for(state, &client, &proof)?;
        dpop::remember(state, &proof, At::AuthorizationServer).await?;
        if req.dpop_jkt.as_deref().is_some_and(|j| j != proof.jkt) {
            return Err(dpop::refused(
                state,
                "wrong_key",
                OAuthError::invalid_dpop_proof(
                    At::AuthorizationServer,
                    "dpop_jkt is not the thumbprint of the proof's key",
                ),
            ));
        }
        req.dpop_jkt = Some(proof.jkt);
    }
    let (request_uri, expires_in) = par::push(state, req, hint).await?;
    Ok(PushedRequest {
        request_uri,
        expires_in,
    })
}
