//! `/admin/v1/clients`: the portals, registered and removed at run time (checked exactly like a
//! `[[clients]]` entry of the configuration file), never showing a secret except once.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use url::Url;

use super::{actor, no_store, read_json, AdminCaller, AdminError};
use crate::clients::{self, ChangeError, Client, RegisterError};
use crate::config::ClientSettings;
use crate::state::AppState;

type Data = web::Data<AppState>;

/// The routes of this resource, relative to `/admin/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/clients")
            .route(web::get().to(list_clients))
            .route(web::post().to(create_client))
            .default_service(super::allow("GET, POST")),
    )
    .service(
        web::resource("/clients/{client_id}")
            .route(web::get().to(get_client))
            .route(web::patch().to(update_client))
            .route(web::delete().to(delete_client))
            .default_service(super::allow("GET, PATCH, DELETE")),
    )
    .service(
        web::resource("/clients/{client_id}/secret")
            .route(web::post().to(rotate_secret))
            .default_service(super::allow("POST")),
    );
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
        "account_types": c.account_types,
        "upstreams": c.upstreams,
        "jwks": c.jwks.as_deref().and_then(|j| serde_json::from_str::<Value>(j).ok()),
        "subject_type": c.subject_type.as_str(),
        "sector_identifier": c.sector_identifier,
        "require_pushed_authorization_requests": c.require_par,
        "dpop_bound_access_tokens": c.dpop_bound,
        "profile": c.profile.as_str(),
        "created_at": c.created_at.map(|t| t.to_rfc3339()),
    })
}

/// The fields of a client registration: a `[[clients]]` entry of the configuration file without
/// `client_secret` (the gateway makes it).
const CLIENT_FIELDS: [&str; 17] = [
    "client_id",
    "name",
    "token_endpoint_auth_method",
    "redirect_uris",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "grant_types",
    "scopes",
    "min_level",
    "account_types",
    "upstreams",
    "jwks",
    "subject_type",
    "sector_identifier",
    "require_pushed_authorization_requests",
    "dpop_bound_access_tokens",
    "profile",
];

/// A 400 about one field, in the words of RFC 7591 §3.2.2.
fn bad_field(field: &str, message: impl std::fmt::Display) -> AdminError {
    let error = if field.starts_with("redirect_uris") {
        "invalid_redirect_uri"
    } else {
        "invalid_client_metadata"
    };
    AdminError::new(
        StatusCode::BAD_REQUEST,
        error,
        format!("{field}: {message}"),
    )
    .with_field(field)
}

fn field<T: DeserializeOwned>(
    obj: &Map<String, Value>,
    name: &str,
) -> Result<Option<T>, AdminError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| bad_field(name, e)),
    }
}

fn url_field(obj: &Map<String, Value>, name: &str) -> Result<Option<Url>, AdminError> {
    match field::<String>(obj, name)? {
        None => Ok(None),
        Some(s) => Url::parse(&s)
            .map(Some)
            .map_err(|e| bad_field(name, format!("{s:?} is not an absolute URL ({e})"))),
    }
}

fn url_list(obj: &Map<String, Value>, name: &str) -> Result<Vec<Url>, AdminError> {
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
pub fn client_from_json(body: &Value) -> Result<ClientSettings, AdminError> {
    let obj = body
        .as_object()
        .ok_or_else(|| AdminError::invalid_request("the body must be a JSON object"))?;
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
        account_types: field(obj, "account_types")?
            .unwrap_or_else(crate::config::default_account_types),
        upstreams: field(obj, "upstreams")?.unwrap_or_default(),
        name: field(obj, "name")?,
        jwks,
        subject_type: field(obj, "subject_type")?.unwrap_or_default(),
        sector_identifier: field(obj, "sector_identifier")?,
        require_pushed_authorization_requests: field(obj, "require_pushed_authorization_requests")?,
        dpop_bound_access_tokens: field(obj, "dpop_bound_access_tokens")?,
        profile: field(obj, "profile")?.unwrap_or_default(),
        builtin: false,
    })
}

fn register_error(e: RegisterError) -> AdminError {
    match e {
        RegisterError::Invalid(c) => bad_field(&c.key, c.message),
        e @ (RegisterError::InConfig(_) | RegisterError::Exists(_)) => {
            AdminError::new(StatusCode::CONFLICT, "client_exists", e.to_string())
                .with_field("client_id")
        }
        RegisterError::Store(s) => AdminError::from(s),
        RegisterError::Internal(m) => {
            tracing::error!(error = %m, "registering a client failed");
            AdminError::server_error()
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
) -> Result<HttpResponse, AdminError> {
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

/// `POST /admin/v1/clients/{client_id}/secret`: a new secret, shown this once; the previous
/// one keeps working for `admin.secret_rotation_grace`.
async fn rotate_secret(
    caller: AdminCaller,
    req: HttpRequest,
    path: web::Path<String>,
    state: Data,
) -> Result<HttpResponse, AdminError> {
    let id = path.into_inner();
    let (secret, until) = clients::rotate_secret(
        &state.db,
        &state.master,
        &state.clients,
        &id,
        state.settings.admin.secret_rotation_grace,
        &actor(&req, &caller),
        state.clock.now(),
    )
    .await
    .map_err(|e| change_error(e, &id))?;
    tracing::info!(client_id = %id, by = %caller.client_id, "client secret rotated through the admin API");
    Ok(no_store(StatusCode::OK).json(json!({
        "client_id": id,
        "client_secret": secrecy::ExposeSecret::expose_secret(&secret),
        "previous_secret_valid_until": until.map(|u| u.to_rfc3339()),
    })))
}

/// Fields `PATCH` may not change (the secret is the gateway's; the id is the path's).
const FIXED_FIELDS: [&str; 2] = ["client_id", "client_secret"];

/// `PATCH /admin/v1/clients/{client_id}`: a JSON merge patch (RFC 7396) of a database client's
/// registration; a field set to `null` returns to its default. 200 with the client.
async fn update_client(
    caller: AdminCaller,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: Data,
) -> Result<HttpResponse, AdminError> {
    let id = path.into_inner();
    let patch = read_json(&req, payload).await?;
    let Some(changes) = patch.as_object() else {
        return Err(AdminError::invalid_request(
            "the body must be a JSON object",
        ));
    };
    for f in FIXED_FIELDS {
        if changes.contains_key(f) {
            return Err(bad_field(f, "cannot change here"));
        }
    }
    let stored = clients::database_client(&state.db, &state.clients, &id)
        .await
        .map_err(|e| change_error(e, &id))?;
    let mut merged = client_json(&stored_client(&stored)?);
    if let Some(obj) = merged.as_object_mut() {
        obj.retain(|k, _| CLIENT_FIELDS.contains(&k.as_str()));
        // The stored name, not the one shown (which falls back to the id): a client without a
        // name keeps none.
        obj.insert("name".into(), json!(stored.name));
        for (k, v) in changes {
            obj.insert(k.clone(), v.clone());
        }
    }
    let settings = client_from_json(&merged)?;
    let client = clients::update_client(
        &state.settings,
        &state.db,
        &state.clients,
        stored,
        settings,
        &actor(&req, &caller),
        state.clock.now(),
    )
    .await
    .map_err(|e| change_error(e, &id))?;
    tracing::info!(client_id = %id, by = %caller.client_id, "client changed through the admin API");
    Ok(no_store(StatusCode::OK).json(client_json(&client)))
}

/// `GET /admin/v1/clients`: every client of the configuration file and of the database.
async fn list_clients(_caller: AdminCaller, state: Data) -> Result<HttpResponse, AdminError> {
    state.clients.reload(&state.db).await?;
    let list: Vec<Value> = state
        .clients
        .list()
        .iter()
        .map(|c| client_json(c))
        .collect();
    Ok(no_store(StatusCode::OK).json(json!({ "clients": list })))
}

fn in_config(id: &str) -> AdminError {
    AdminError::new(
        StatusCode::CONFLICT,
        "client_in_config",
        format!("client {id:?} lives in the configuration file: change or remove its [[clients]] entry there"),
    )
}

fn builtin(id: &str) -> AdminError {
    AdminError::new(
        StatusCode::CONFLICT,
        "client_builtin",
        format!(
            "client {id:?} is built into the gateway (the demo portal's, or the IT centre's \
             page's) and cannot be changed or removed; the demo client goes away with \
             demo.enabled = false"
        ),
    )
}

/// The admin API's answer when a client could not be changed, rotated or removed.
fn change_error(e: ChangeError, id: &str) -> AdminError {
    match e {
        ChangeError::Invalid(c) => bad_field(&c.key, c.message),
        ChangeError::NotFound => no_such_client(id),
        ChangeError::InConfig => in_config(id),
        ChangeError::Builtin => builtin(id),
        ChangeError::NoSecret => AdminError::conflict(
            "client_has_no_secret",
            format!("client {id:?} has no secret (public, or private_key_jwt): nothing to rotate"),
        ),
        ChangeError::Store(s) => AdminError::from(s),
        ChangeError::Internal(m) => {
            tracing::error!(client_id = %id, error = %m, "changing a client failed");
            AdminError::server_error()
        }
    }
}

/// A client as the database holds it; one that cannot be read is logged and a 500.
fn stored_client(row: &vneid_store::ClientRow) -> Result<Client, AdminError> {
    Client::from_row(row).map_err(|e| {
        tracing::error!(client_id = %row.client_id, error = %e, "stored client is unusable");
        AdminError::server_error()
    })
}

fn no_such_client(id: &str) -> AdminError {
    AdminError::new(
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
) -> Result<HttpResponse, AdminError> {
    let id = path.into_inner();
    let client = if state.clients.in_config(&id) {
        state.clients.get(&id)
    } else {
        // The database is the truth (another replica may have just changed it).
        match state.db.client(&id).await? {
            Some(row) => Some(std::sync::Arc::new(stored_client(&row)?)),
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
) -> Result<HttpResponse, AdminError> {
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
        Err(e) => Err(change_error(e, &id)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::config::{ClientAuthMethod, SubjectType};

    fn parse(v: Value) -> Result<ClientSettings, AdminError> {
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
        assert_eq!(e.code, "invalid_redirect_uri");
        let e = parse(json!(["not", "an", "object"])).unwrap_err();
        assert_eq!(e.code, "invalid_request");
    }
}
