//! A minimal OpenID provider for tests: discovery, JWKS, token (client authentication as
//! configured, single-use codes, PKCE S256, redirect_uri), userinfo (bearer).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use url::Url;
use vneid_upstream::{ClientAuthMethod, Upstream, UpstreamConfig};

pub const CLIENT_ID: &str = "gateway-test";
/// Characters that RFC 6749 2.3.1 says must be form-encoded inside HTTP Basic.
pub const CLIENT_SECRET: &str = "s3cret:with+special/chars é";
pub const REDIRECT_URI: &str = "http://127.0.0.1:8080/login/test/callback";
pub const SUBJECT: &str = "sub-0001";

pub struct Key {
    pub kid: String,
    pub private: KeyPair,
}

impl Key {
    fn generate(kid: &str) -> Self {
        Self {
            kid: kid.to_owned(),
            private: KeyPair::generate(KeySize::Rsa2048).unwrap(),
        }
    }

    pub fn jwk(&self) -> Value {
        let public: PublicKeyComponents<Vec<u8>> = self.private.public_key().into();
        json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(&public.n),
            "e": URL_SAFE_NO_PAD.encode(&public.e),
        })
    }
}

pub static KEY_A: LazyLock<Key> = LazyLock::new(|| Key::generate("key-a"));
pub static KEY_B: LazyLock<Key> = LazyLock::new(|| Key::generate("key-b"));
/// Another private key that claims to be `key-a`.
pub static IMPOSTOR_A: LazyLock<Key> = LazyLock::new(|| Key::generate("key-a"));

fn b64json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// An RS256 JWS made directly with aws-lc-rs (not through jsonwebtoken, which the code under
/// test uses to verify).
pub fn sign_rs256(header: &Value, claims: &Value, key: &Key) -> String {
    let input = format!("{}.{}", b64json(header), b64json(claims));
    let mut signature = vec![0; key.private.public_modulus_len()];
    key.private
        .sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            input.as_bytes(),
            &mut signature,
        )
        .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

pub fn rs256(claims: &Value, key: &Key) -> String {
    sign_rs256(
        &json!({"alg": "RS256", "typ": "JWT", "kid": key.kid}),
        claims,
        key,
    )
}

pub fn unsigned(claims: &Value) -> String {
    format!("{}.{}.", b64json(&json!({"alg": "none"})), b64json(claims))
}

/// HS256 keyed with the client secret, as OIDC allows and the gateway refuses.
pub fn hs256(claims: &Value, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        b64json(&json!({"alg": "HS256", "typ": "JWT"})),
        b64json(claims)
    );
    let mut key = [0u8; 64];
    if secret.len() > 64 {
        key[..32].copy_from_slice(&Sha256::digest(secret));
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    let pad = |b: u8| key.iter().map(|k| k ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(input.as_bytes())
        .finalize();
    let mac = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac))
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The userinfo of a level-2 VNeID citizen, as the national broker sends it.
pub fn userinfo(sub: &str) -> Value {
    json!({
        "sub": sub,
        "TechID": "tech-77",
        "LoaiTaiKhoan": 1,
        "HoVaTen": "Nguyễn Văn An",
        "SoDinhDanh": "052190012381",
        "NgayThangNamSinh": "19900517",
        "loginIdp": "BCA",
        "IAL": 2,
        "acr": "LoA1",
    })
}

pub struct Grant {
    pub code_challenge: String,
    pub id_token: String,
    pub userinfo: Value,
}

#[derive(Debug, Clone)]
pub struct SeenTokenRequest {
    pub authorization: Option<String>,
    pub form: HashMap<String, String>,
}

#[derive(Default)]
pub struct State {
    /// Overrides the `issuer` of the discovery document.
    pub discovery_issuer: Option<String>,
    pub jwks: Vec<Value>,
    pub discovery_fetches: usize,
    pub jwks_fetches: usize,
    pub grants: HashMap<String, Grant>,
    pub access_tokens: HashMap<String, Value>,
    pub token_requests: Vec<SeenTokenRequest>,
    /// Answer every token request with this status and body instead.
    pub token_override: Option<(u16, String, String)>,
}

pub struct Shared {
    pub issuer: String,
    pub auth: ClientAuthMethod,
    pub state: Mutex<State>,
}

pub struct Provider {
    pub issuer: String,
    shared: Arc<Shared>,
}

impl Provider {
    pub async fn start(auth: ClientAuthMethod) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let issuer = format!("http://127.0.0.1:{port}");
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            auth,
            state: Mutex::new(State {
                jwks: vec![KEY_A.jwk()],
                ..State::default()
            }),
        });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/jwks", web::get().to(jwks))
                .route("/token", web::post().to(token))
                .route("/userinfo", web::get().to(userinfo_endpoint))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { issuer, shared }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }

    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.issuer)).unwrap()
    }

    /// Discovery only: `issuer` set, every endpoint discovered.
    pub fn config(&self) -> UpstreamConfig {
        serde_json::from_value(json!({
            "id": "test",
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token_endpoint_auth_method": self.shared.auth,
            "display_name": "Test broker",
        }))
        .unwrap()
    }

    pub fn upstream(&self) -> Upstream {
        upstream_from(self.config())
    }

    /// Good ID-token claims for `nonce`.
    pub fn claims(&self, nonce: &str) -> Value {
        json!({
            "iss": self.issuer, "sub": SUBJECT, "aud": CLIENT_ID,
            "exp": now() + 300, "iat": now(), "nonce": nonce,
        })
    }

    /// Registers `code` for the authorization request `auth_url` (its PKCE challenge).
    pub fn grant(&self, code: &str, auth_url: &Url, id_token: String, userinfo: Value) {
        let code_challenge = query(auth_url)["code_challenge"].clone();
        self.state().grants.insert(
            code.to_owned(),
            Grant {
                code_challenge,
                id_token,
                userinfo,
            },
        );
    }
}

pub fn upstream_from(config: UpstreamConfig) -> Upstream {
    Upstream::new(
        config,
        Url::parse(REDIRECT_URI).unwrap(),
        vneid_upstream::http_client(Duration::from_secs(5)),
    )
    .unwrap()
}

pub fn query(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

async fn discovery(shared: web::Data<Shared>) -> HttpResponse {
    let mut state = shared.state.lock().unwrap();
    state.discovery_fetches += 1;
    let i = &shared.issuer;
    HttpResponse::Ok().json(json!({
        "issuer": state.discovery_issuer.clone().unwrap_or_else(|| i.clone()),
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }))
}

async fn jwks(shared: web::Data<Shared>) -> HttpResponse {
    let mut state = shared.state.lock().unwrap();
    state.jwks_fetches += 1;
    HttpResponse::Ok().json(json!({ "keys": state.jwks }))
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("v={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn oauth_error(status: u16, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .json(json!({"error": error, "error_description": description}))
}

async fn token(
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let form = form.into_inner();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut state = shared.state.lock().unwrap();
    state.token_requests.push(SeenTokenRequest {
        authorization: authorization.clone(),
        form: form.clone(),
    });
    if let Some((status, content_type, body)) = state.token_override.clone() {
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
            .content_type(content_type)
            .body(body);
    }

    // Client authentication exactly as registered (OIDC Core 9): the other way is refused.
    let basic = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(id, secret)| (form_decode(id), form_decode(secret)))
        });
    let authenticated = match shared.auth {
        ClientAuthMethod::ClientSecretBasic => {
            basic == Some((CLIENT_ID.to_owned(), CLIENT_SECRET.to_owned()))
                && !form.contains_key("client_secret")
        }
        ClientAuthMethod::ClientSecretPost => {
            authorization.is_none()
                && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
        }
    };
    if !authenticated {
        return oauth_error(401, "invalid_client", "client authentication failed");
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(400, "unsupported_grant_type", "");
    }
    let Some(grant) = form.get("code").and_then(|c| state.grants.remove(c)) else {
        return oauth_error(400, "invalid_grant", "unknown or used code");
    };
    if form.get("redirect_uri").map(String::as_str) != Some(REDIRECT_URI) {
        return oauth_error(400, "invalid_grant", "redirect_uri mismatch");
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.code_challenge {
        return oauth_error(400, "invalid_grant", "PKCE verification failed");
    }
    let access_token = format!("at-{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()));
    state
        .access_tokens
        .insert(access_token.clone(), grant.userinfo);
    HttpResponse::Ok().json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "openid",
        "id_token": grant.id_token,
    }))
}

async fn userinfo_endpoint(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::to_owned);
    let state = shared.state.lock().unwrap();
    match token.and_then(|t| state.access_tokens.get(&t).cloned()) {
        Some(info) => HttpResponse::Ok().json(info),
        None => HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Bearer error=\"invalid_token\""))
            .finish(),
    }
}
