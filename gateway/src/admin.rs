//! The admin REST API under `/admin/v1`: who may call it ([`authorize`], [`AdminCaller`]) and
//! the clients resource. Other admin resources add their routes to the same scope with their
//! own `routes` function (see `startup.rs`).
//!
//! A caller presents `Authorization: Bearer <access token>` that this gateway issued through
//! `client_credentials` (a token about a client, not a person) with the scope `admin`;
//! `admin:pii` additionally lets it see personal data where an admin resource has any.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use url::Url;

use crate::clients::Client;
use crate::clients::{self, Actor, RegisterError, RemoveError};
use crate::config::ClientSettings;
use crate::errors::OAuthError;
use crate::state::AppState;
use crate::telemetry::RequestId;

type Data = web::Data<AppState>;

/// The scope every admin call needs.
pub const ADMIN_SCOPE: &str = "admin";
/// The scope that also releases personal data (personal ID numbers) in admin answers.
pub const PII_SCOPE: &str = "admin:pii";
/// Largest JSON body the admin API reads.
pub const BODY_LIMIT: usize = 64 * 1024;

/// An authenticated admin API caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCaller {
    /// The machine client whose token was presented.
    pub client_id: String,
    /// The token carries `admin:pii` (and the client still has it).
    pub pii: bool,
}

/// Authenticates an admin API call (RFC 6750): no bearer token is 401 with a bare
/// `WWW-Authenticate: Bearer realm=…`; a token that is invalid, expired, revoked or of a
/// removed client is 401 `invalid_token`; a person's token, or a client token without the
/// `admin` scope, is 403 `insufficient_scope`.
pub async fn authorize(req: &HttpRequest, state: &AppState) -> Result<AdminCaller, OAuthError> {
    let token = crate::http::bearer_token(req).ok_or_else(OAuthError::bearer_required)?;
    let claims = crate::oauth::live_access_token(state, token)
        .await?
        .ok_or_else(|| {
            OAuthError::invalid_token("the access token is invalid, expired or revoked")
        })?;
    if claims.sid.is_some() || claims.sub != claims.client_id {
        return Err(OAuthError::insufficient_scope(
            ADMIN_SCOPE,
            "the admin API takes a client_credentials token, not a person's",
        ));
    }
    // The client may have lost a scope since the token was issued: both must have it.
    let client = state.clients.get(&claims.client_id).ok_or_else(|| {
        OAuthError::invalid_token("the access token is invalid, expired or revoked")
    })?;
    let has = |scope: &str| claims.has_scope(scope) && client.scopes.iter().any(|s| s == scope);
    if !has(ADMIN_SCOPE) {
        return Err(OAuthError::insufficient_scope(
            ADMIN_SCOPE,
            "the access token lacks the admin scope",
        ));
    }
    Ok(AdminCaller {
        pii: has(PII_SCOPE),
        client_id: claims.client_id,
    })
}

impl FromRequest for AdminCaller {
    type Error = OAuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req.app_data::<Data>().cloned().ok_or_else(|| {
                tracing::error!("no application state for the admin API");
                OAuthError::server_error()
            })?;
            authorize(&req, &state).await
        })
    }
}

/// The admin routes of this module, relative to `/admin/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/clients", web::get().to(list_clients))
        .route("/clients", web::post().to(create_client))
        .route("/clients/{client_id}", web::get().to(get_client))
        .route("/clients/{client_id}", web::delete().to(delete_client));
}

/// Unknown paths under `/admin/v1`: a JSON 404.
pub async fn not_found() -> HttpResponse {
    error_response(&OAuthError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such admin resource",
    ))
}

fn error_response(e: &OAuthError) -> HttpResponse {
    actix_web::ResponseError::error_response(e)
}

fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|r| r.0.clone())
}

fn actor(req: &HttpRequest, caller: &AdminCaller) -> Actor {
    Actor {
        via: "admin",
        by: Some(caller.client_id.clone()),
        request_id: request_id(req),
    }
}

/// An admin answer: never cached.
pub(crate) fn no_store(status: StatusCode) -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::CACHE_CONTROL, "no-store"));
    b
}

/// A client as the admin API shows it: never a secret or its hash.
pub fn client_json(c: &Client) -> Value {
    json!({
        "client_id": c.id,
        "name": c.name,
        "source": c.source.as_str(),
        "token_endpoint_auth_method": c.auth_method.as_str(),
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "backchannel_logout_uri": c.backchannel_logout_uri,
        "grant_types": c.grant_types,
        "scopes": c.scopes,
        "min_level": c.min_level.map(|l| l.number()),
        "upstreams": c.upstreams,
        "jwks": c.jwks.as_deref().and_then(|j| serde_json::from_str::<Value>(j).ok()),
        "subject_type": c.subject_type.as_str(),
        "sector_identifier": c.sector_identifier,
        "created_at": c.created_at.map(|t| t.to_rfc3339()),
    })
}

/// Reads a JSON body of at most [`BODY_LIMIT`] bytes.
async fn read_json(req: &HttpRequest, payload: web::Payload) -> Result<Value, OAuthError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(OAuthError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "the body must be application/json",
        ));
    }
    let body = match payload.to_bytes_limited(BODY_LIMIT).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            return Err(OAuthError::invalid_request(format!(
                "the body could not be read: {e}"
            )))
        }
        Err(_) => {
            return Err(OAuthError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("the body is larger than {} KiB", BODY_LIMIT / 1024),
            ))
        }
    };
    serde_json::from_slice(&body)
        .map_err(|e| OAuthError::invalid_request(format!("the body is not valid JSON: {e}")))
}

/// The fields of a client registration: a `[[clients]]` entry of the configuration file without
/// `client_secret` (the gateway makes it).
const CLIENT_FIELDS: [&str; 13] = [
    "client_id",
    "name",
    "token_endpoint_auth_method",
    "redirect_uris",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "grant_types",
    "scopes",
    "min_level",
    "upstreams",
    "jwks",
    "subject_type",
    "sector_identifier",
];

/// A 400 about one field, in the words of RFC 7591 §3.2.2.
fn bad_field(field: &str, message: impl std::fmt::Display) -> OAuthError {
    let error = if field.starts_with("redirect_uris") {
        "invalid_redirect_uri"
    } else {
        "invalid_client_metadata"
    };
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        error,
        format!("{field}: {message}"),
    )
    .with_field(field)
}

fn field<T: DeserializeOwned>(
    obj: &Map<String, Value>,
    name: &str,
) -> Result<Option<T>, OAuthError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| bad_field(name, e)),
    }
}

fn url_field(obj: &Map<String, Value>, name: &str) -> Result<Option<Url>, OAuthError> {
    match field::<String>(obj, name)? {
        None => Ok(None),
        Some(s) => Url::parse(&s)
            .map(Some)
            .map_err(|e| bad_field(name, format!("{s:?} is not an absolute URL ({e})"))),
    }
}

fn url_list(obj: &Map<String, Value>, name: &str) -> Result<Vec<Url>, OAuthError> {
    let list: Vec<String> = field(obj, name)?.unwrap_or_default();
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            Url::parse(s).map_err(|e| {
                bad_field(
                    &format!("{name}[{i}]"),
                    format!("{s:?} is not an absolute URL ({e})"),
                )
            })
        })
        .collect()
}

/// Parses a client registration, naming the field at fault. Defaults are those of the
/// configuration file, except that a client with no `token_endpoint_auth_method` is
/// confidential (`client_secret_basic`, the gateway makes its secret).
pub fn client_from_json(body: &Value) -> Result<ClientSettings, OAuthError> {
    let obj = body
        .as_object()
        .ok_or_else(|| OAuthError::invalid_request("the body must be a JSON object"))?;
    if obj.contains_key("client_secret") {
        return Err(bad_field(
            "client_secret",
            "the gateway makes the secret; do not send one",
        ));
    }
    if let Some(unknown) = obj.keys().find(|k| !CLIENT_FIELDS.contains(&k.as_str())) {
        return Err(bad_field(
            unknown,
            format!("unknown field (known: {})", CLIENT_FIELDS.join(", ")),
        ));
    }
    let client_id: String =
        field(obj, "client_id")?.ok_or_else(|| bad_field("client_id", "required"))?;
    let jwks = match obj.get("jwks") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        Some(_) => return Err(bad_field("jwks", "a JWK Set ({\"keys\": [...]})")),
    };
    Ok(ClientSettings {
        client_id,
        client_secret: None,
        token_endpoint_auth_method: field(obj, "token_endpoint_auth_method")?,
        redirect_uris: url_list(obj, "redirect_uris")?,
        post_logout_redirect_uris: url_list(obj, "post_logout_redirect_uris")?,
        backchannel_logout_uri: url_field(obj, "backchannel_logout_uri")?,
        grant_types: field(obj, "grant_types")?.unwrap_or_else(crate::config::default_grants),
        scopes: field(obj, "scopes")?.unwrap_or_else(crate::config::default_client_scopes),
        min_level: field(obj, "min_level")?,
        upstreams: field(obj, "upstreams")?.unwrap_or_default(),
        name: field(obj, "name")?,
        jwks,
        subject_type: field(obj, "subject_type")?.unwrap_or_default(),
        sector_identifier: field(obj, "sector_identifier")?,
    })
}

fn register_error(e: RegisterError) -> OAuthError {
    match e {
        RegisterError::Invalid(c) => bad_field(&c.key, c.message),
        e @ (RegisterError::InConfig(_) | RegisterError::Exists(_)) => {
            OAuthError::new(StatusCode::CONFLICT, "client_exists", e.to_string())
                .with_field("client_id")
        }
        RegisterError::Store(s) => OAuthError::from_store(s),
        RegisterError::Internal(m) => {
            tracing::error!(error = %m, "registering a client failed");
            OAuthError::server_error()
        }
    }
}

/// `POST /admin/v1/clients`: registers a client; 201 with the client and its `client_secret`,
/// shown this once.
async fn create_client(
    caller: AdminCaller,
    req: HttpRequest,
    payload: web::Payload,
    state: Data,
) -> Result<HttpResponse, OAuthError> {
    let body = read_json(&req, payload).await?;
    let settings = client_from_json(&body)?;
    let (client, secret) = clients::register_client(
        &state.settings,
        &state.db,
        &state.master,
        settings,
        &actor(&req, &caller),
        state.clock.now(),
    )
    .await
    .map_err(register_error)?;
    tracing::info!(client_id = %client.id, by = %caller.client_id, "client registered through the admin API");
    if let Err(e) = state.clients.reload(&state.db).await {
        tracing::warn!(error = %e, "reloading the clients after a registration failed; the next reload will");
    }
    let mut out = client_json(&client);
    if let Some(s) = secret {
        out["client_secret"] = json!(secrecy::ExposeSecret::expose_secret(&s));
    }
    Ok(no_store(StatusCode::CREATED)
        .insert_header((
            header::LOCATION,
            state.url(&format!("/admin/v1/clients/{}", client.id)),
        ))
        .json(out))
}

/// `GET /admin/v1/clients`: every client of the configuration file and of the database.
async fn list_clients(_caller: AdminCaller, state: Data) -> Result<HttpResponse, OAuthError> {
    state.clients.reload(&state.db).await?;
    let list: Vec<Value> = state
        .clients
        .list()
        .iter()
        .map(|c| client_json(c))
        .collect();
    Ok(no_store(StatusCode::OK).json(json!({ "clients": list })))
}

fn no_such_client(id: &str) -> OAuthError {
    OAuthError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no client {id:?}"),
    )
}

/// `GET /admin/v1/clients/{client_id}`
async fn get_client(
    _caller: AdminCaller,
    path: web::Path<String>,
    state: Data,
) -> Result<HttpResponse, OAuthError> {
    let id = path.into_inner();
    let client = if state.clients.in_config(&id) {
        state.clients.get(&id)
    } else {
        // The database is the truth (another replica may have just changed it).
        match state.db.client(&id).await? {
            Some(row) => Some(std::sync::Arc::new(Client::from_row(&row).map_err(
                |e| {
                    tracing::error!(client_id = %id, error = %e, "stored client is unusable");
                    OAuthError::server_error()
                },
            )?)),
            None => None,
        }
    };
    let client = client.ok_or_else(|| no_such_client(&id))?;
    Ok(no_store(StatusCode::OK).json(client_json(&client)))
}

/// `DELETE /admin/v1/clients/{client_id}`: a database client only; its refresh tokens are
/// revoked and its access tokens stop being honoured.
async fn delete_client(
    caller: AdminCaller,
    req: HttpRequest,
    path: web::Path<String>,
    state: Data,
) -> Result<HttpResponse, OAuthError> {
    let id = path.into_inner();
    match clients::remove_client(
        &state.db,
        &state.clients,
        &id,
        &actor(&req, &caller),
        state.clock.now(),
    )
    .await
    {
        Ok(revoked) => {
            tracing::info!(client_id = %id, by = %caller.client_id, refresh_families_revoked = revoked, "client removed through the admin API");
            Ok(no_store(StatusCode::NO_CONTENT).finish())
        }
        Err(RemoveError::NotFound) => Err(no_such_client(&id)),
        Err(RemoveError::InConfig) => Err(OAuthError::new(
            StatusCode::CONFLICT,
            "client_in_config",
            format!(
                "client {id:?} lives in the configuration file: remove its [[clients]] entry there"
            ),
        )),
        Err(RemoveError::Store(e)) => Err(OAuthError::from_store(e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::config::{ClientAuthMethod, SubjectType};

    fn parse(v: Value) -> Result<ClientSettings, OAuthError> {
        client_from_json(&v)
    }

    #[test]
    fn a_registration_parses_with_the_configuration_defaults() {
        let c = parse(json!({
            "client_id": "portal",
            "redirect_uris": ["https://p.example/cb"],
            "subject_type": "pairwise",
            "min_level": 2,
            "jwks": {"keys": []},
        }))
        .unwrap();
        assert_eq!(c.client_id, "portal");
        assert_eq!(c.grant_types, ["authorization_code"]);
        assert_eq!(c.scopes, ["openid", "profile"]);
        assert_eq!(c.subject_type, SubjectType::Pairwise);
        assert_eq!(c.token_endpoint_auth_method, None);
        assert_eq!(c.min_level.map(|l| l.number()), Some(2));
        assert_eq!(c.jwks.as_deref(), Some("{\"keys\":[]}"));
        let c = parse(json!({"client_id": "m", "token_endpoint_auth_method": "private_key_jwt"}))
            .unwrap();
        assert_eq!(
            c.token_endpoint_auth_method,
            Some(ClientAuthMethod::PrivateKeyJwt)
        );
    }

    #[test]
    fn a_bad_registration_names_the_field() {
        let cases = [
            (
                json!({"client_id": "p", "client_secret": "x"}),
                "client_secret",
            ),
            (json!({"client_id": "p", "colour": "red"}), "colour"),
            (json!({"redirect_uris": []}), "client_id"),
            (json!({"client_id": 7}), "client_id"),
            (
                json!({"client_id": "p", "redirect_uris": ["https://ok.example/", "/relative"]}),
                "redirect_uris[1]",
            ),
            (json!({"client_id": "p", "min_level": 3}), "min_level"),
            (
                json!({"client_id": "p", "subject_type": "secret"}),
                "subject_type",
            ),
            (
                json!({"client_id": "p", "token_endpoint_auth_method": "magic"}),
                "token_endpoint_auth_method",
            ),
            (json!({"client_id": "p", "scopes": "openid"}), "scopes"),
            (json!({"client_id": "p", "jwks": 5}), "jwks"),
            (
                json!({"client_id": "p", "backchannel_logout_uri": "nope"}),
                "backchannel_logout_uri",
            ),
        ];
        for (body, name) in cases {
            let e = parse(body.clone()).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(e.field.as_deref(), Some(name), "{body}: {e}");
            assert!(e.description.starts_with(name), "{e}");
        }
        let e = parse(json!({"client_id": "p", "redirect_uris": ["x"]})).unwrap_err();
        assert_eq!(e.error, "invalid_redirect_uri");
        let e = parse(json!(["not", "an", "object"])).unwrap_err();
        assert_eq!(e.error, "invalid_request");
    }
}
