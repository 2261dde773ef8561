//! The OpenID configuration (what works, and nothing else) and the JWKS.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;
use vneid_core::AssuranceLevel;

use crate::state::AppState;

type Data = web::Data<AppState>;

/// Scopes the gateway serves now (discovery must be truthful).
pub const SCOPES_SUPPORTED: [&str; 6] = [
    "openid",
    "profile",
    "personal_id",
    "account",
    "organisation",
    "offline_access",
];

/// The gateway's scopes and those of every API resource (RFC 8707).
fn scopes_supported(state: &AppState) -> Vec<&str> {
    let mut scopes = SCOPES_SUPPORTED.to_vec();
    scopes.extend(state.settings.resource_scopes());
    scopes
}

/// `Cache-Control` of discovery and the JWKS.
fn cache_control(state: &AppState) -> String {
    format!(
        "public, max-age={}",
        state.settings.tokens.jwks_max_age.as_secs()
    )
}

/// `GET /.well-known/openid-configuration`
pub async fn discovery(state: Data) -> HttpResponse {
    // Nothing in it changes while the process runs: built on the first request, then served
    // as it is.
    let body = state
        .discovery_document
        .get_or_init(|| web::Bytes::from(document(&state).to_string()))
        .clone();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, cache_control(&state)))
        .content_type(header::ContentType::json())
        .body(body)
}

/// The OpenID configuration document.
fn document(state: &AppState) -> serde_json::Value {
    let alg = state.settings.tokens.signing_alg.as_str();
    json!({
        "issuer": state.issuer,
        "authorization_endpoint": state.url("/authorize"),
        "token_endpoint": state.url("/token"),
        "userinfo_endpoint": state.url("/userinfo"),
        "jwks_uri": state.url("/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "end_session_endpoint": state.url("/logout"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": false,
        "introspection_endpoint": state.url("/introspect"),
        "revocation_endpoint": state.url("/revoke"),
        "grant_types_supported": crate::config::GRANT_TYPES,
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": [alg],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "RS512", "PS256", "ES256", "EdDSA"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": scopes_supported(state),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid", "idp", "login_idp", "name", "birthdate", "personal_id", "account", "account_type", "organisation"],
        "acr_values_supported": [AssuranceLevel::Level1.acr(), AssuranceLevel::Level2.acr()],
        "prompt_values_supported": ["none", "login"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        // `request_uri` of RFC 9101 (a request object at a URL the client hosts) is not
        // supported; the `request_uri` of a pushed request (RFC 9126 §5) is advertised by the
        // PAR endpoint alone.
        "request_uri_parameter_supported": false,
        "pushed_authorization_request_endpoint": state.url("/par"),
        "require_pushed_authorization_requests": false,
        "dpop_signing_alg_values_supported": vneid_tokens::DPOP_ALGS,
        "ui_locales_supported": ["vi"],
    })
}

/// `GET /jwks`
pub async fn jwks(state: Data) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, cache_control(&state)))
        .content_type(header::ContentType::json())
        .body(state.key_set().jwks_json().to_owned())
}
