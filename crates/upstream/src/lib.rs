//! The OpenID Connect relying-party side of vneid-gateway, towards the national login broker
//! (DVCQG) or any other OIDC provider.
//!
//! - [`UpstreamConfig`]: one `[[upstreams]]` entry, [`UpstreamConfig::validate`]d at start-up.
//! - [`http_client`]: the one outgoing HTTP client (timeouts, no redirects, rustls).
//! - [`Upstream`]: lazy, cached discovery; the authorization request (state, nonce, PKCE S256
//!   from the OS CSPRNG); the code exchange through the `oauth2` crate; ID-token validation
//!   against the cached JWKS; userinfo; mapping into [`vneid_core::UpstreamIdentity`].
//!
//! Nothing here logs a code, token, secret, or an unmasked personal ID number.

mod config;
mod discovery;
mod error;
mod http;
mod id_token;
mod jwks;
mod mapping;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, ExtraTokenFields, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use rand::RngCore as _;
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::sync::Mutex;
use url::Url;
use vneid_core::{Clock, SystemClock, UpstreamIdentity};

pub use config::{AccountTypeValues, ClaimNames, ClientAuthMethod, UpstreamConfig};
pub use discovery::ProviderMetadata;
pub use error::UpstreamError;
pub use http::{http_client, try_http_client};

use crate::error::bounded;
use crate::id_token::{Expected, ExpectedIssuer};
use crate::jwks::JwksCache;

/// Discovery is refetched after this long.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// [`Upstream::check_ready`] refetches discovery (or the JWKS) older than this.
const READY_MAX_AGE: Duration = Duration::from_secs(60);

/// Parameters the gateway sets itself; `extra` may not override them.
const RESERVED_PARAMS: [&str; 8] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

/// One configured upstream. Cheap to clone: clones share the discovery and JWKS caches.
#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
    clock: Arc<dyn Clock>,
}

struct Inner {
    config: UpstreamConfig,
    redirect_uri: Url,
    http: reqwest::Client,
    /// `Some` when all four endpoints are configured: no discovery.
    explicit: Option<ProviderMetadata>,
    metadata: Mutex<MetadataState>,
    jwks: JwksCache,
}

#[derive(Default)]
struct MetadataState {
    cached: Option<(Instant, ProviderMetadata)>,
    failure: Option<(Instant, UpstreamError)>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("id", &self.inner.config.id)
            .field(
                "issuer",
                &self.inner.config.issuer.as_ref().map(Url::as_str),
            )
            .field("redirect_uri", &self.inner.redirect_uri.as_str())
            .finish_non_exhaustive()
    }
}

/// Where to send the browser, and what to keep until it comes back.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub url: Url,
    pub pending: PendingUpstream,
}

/// What the gateway keeps (ephemeral store, keyed by `state`) between the redirect to the
/// upstream and the callback. Each value is 256 bits from the OS CSPRNG, base64url.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingUpstream {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

impl fmt::Debug for PendingUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingUpstream")
            .field("state", &self.state)
            .field("nonce", &self.nonce)
            .field("pkce_verifier", &"[redacted]")
            .finish()
    }
}

/// The token response: RFC 6749 plus the OIDC `id_token`.
#[derive(Clone, Serialize, Deserialize)]
struct IdTokenFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl fmt::Debug for IdTokenFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdTokenFields")
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl ExtraTokenFields for IdTokenFields {}

type OidcTokenResponse = StandardTokenResponse<IdTokenFields, BasicTokenType>;

type OidcClient = oauth2::Client<
    BasicErrorResponse,
    OidcTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

impl Upstream {
    /// Checks the configuration and the callback URL; does no network I/O (discovery happens
    /// on first use, so the upstream may be a simulator mounted in a server not yet listening).
    pub fn new(
        config: UpstreamConfig,
        redirect_uri: Url,
        http: reqwest::Client,
    ) -> Result<Self, UpstreamError> {
        config.validate().map_err(UpstreamError::Config)?;
        config::check_url(&redirect_uri).map_err(|e| {
            UpstreamError::Config(format!(
                "upstreams[{}] redirect_uri {redirect_uri}: {e}",
                config.id
            ))
        })?;
        if redirect_uri.fragment().is_some() {
            return Err(UpstreamError::Config(format!(
                "upstreams[{}] redirect_uri {redirect_uri}: must not have a fragment",
                config.id
            )));
        }
        if let Some(issuer) = &config.issuer {
            discovery::discovery_url(issuer)?;
        }
        let explicit = discovery::explicit_metadata(&config);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                redirect_uri,
                http,
                explicit,
                metadata: Mutex::new(MetadataState::default()),
                jwks: JwksCache::default(),
            }),
            clock: Arc::new(SystemClock),
        })
    }

    /// Replaces the clock ID-token expiry is judged by (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn id(&self) -> &str {
        &self.inner.config.id
    }

    pub fn config(&self) -> &UpstreamConfig {
        &self.inner.config
    }

    pub fn redirect_uri(&self) -> &Url {
        &self.inner.redirect_uri
    }

    /// The provider metadata: discovered on first use and cached for an hour (a failed fetch is
    /// not cached: the next call tries again), or the configured endpoints.
    pub async fn metadata(&self) -> Result<ProviderMetadata, UpstreamError> {
        self.metadata_max_age(METADATA_TTL).await
    }

    async fn metadata_max_age(&self, max_age: Duration) -> Result<ProviderMetadata, UpstreamError> {
        if let Some(explicit) = &self.inner.explicit {
            return Ok(explicit.clone());
        }
        let asked = Instant::now();
        // One fetch at a time: requests that arrive meanwhile wait and share its outcome.
        let mut state = self.inner.metadata.lock().await;
        if let Some((at, metadata)) = &state.cached {
            if at.elapsed() < max_age || *at >= asked {
                return Ok(metadata.clone());
            }
        }
        if let Some((at, e)) = &state.failure {
            if *at >= asked {
                return Err(e.clone());
            }
        }
        match discovery::discover(&self.inner.http, &self.inner.config).await {
            Ok(metadata) => {
                state.cached = Some((Instant::now(), metadata.clone()));
                state.failure = None;
                Ok(metadata)
            }
            Err(e) => {
                tracing::warn!(upstream = %self.id(), error = %e, code = e.code(), "discovery failed");
                state.failure = Some((Instant::now(), e.clone()));
                Err(e)
            }
        }
    }

    /// Builds the authorization URL (code flow, `scope`, `state`, `nonce`, PKCE S256) with
    /// `extra` parameters appended (e.g. `prompt`, `ui_locales`; the ones above are reserved).
    #[tracing::instrument(name = "upstream.authorization_request", skip_all, fields(upstream = %self.id()))]
    pub async fn authorization_request(
        &self,
        extra: &[(&str, &str)],
    ) -> Result<AuthorizationRequest, UpstreamError> {
        if let Some((k, _)) = extra.iter().find(|(k, _)| RESERVED_PARAMS.contains(k)) {
            return Err(UpstreamError::Config(format!(
                "authorization parameter {k:?} is set by the gateway itself"
            )));
        }
        let metadata = self.metadata().await?;
        let pending = PendingUpstream {
            state: random_token()?,
            nonce: random_token()?,
            pkce_verifier: random_token()?,
        };
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(pending.pkce_verifier.as_bytes()));
        let config = &self.inner.config;
        let mut url = metadata.authorization_endpoint;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &config.client_id)
                .append_pair("redirect_uri", self.inner.redirect_uri.as_str())
                .append_pair("scope", &config.scopes.join(" "))
                .append_pair("state", &pending.state)
                .append_pair("nonce", &pending.nonce)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            for (k, v) in extra {
                query.append_pair(k, v);
            }
        }
        Ok(AuthorizationRequest { url, pending })
    }

    /// Finishes a login: exchanges `code` (with the PKCE verifier, authenticating as
    /// configured), validates the ID token, calls userinfo, checks that userinfo's standard
    /// `sub` field is the ID token's `sub` (OIDC Core 5.3.2; whatever `claims.subject` names)
    /// and maps the fields with [`Upstream::map_userinfo`].
    ///
    /// ID-token rules: compact JWS with an asymmetric `alg` (RS/PS 256–512, ES256/384, EdDSA;
    /// `none` and HS* refused), signature by a key of the upstream JWKS (refetched once on an
    /// unknown `kid`, at most every 10 s), `iss` equal to the discovered issuer, `aud` containing
    /// our client id, `azp` our client id when present and required with several audiences,
    /// `exp` (required) / `nbf` / `iat` with 60 s leeway by the injected clock, `nonce` equal to
    /// the pending nonce, `sub` present. `at_hash` is not checked (code flow, token straight
    /// from the token endpoint over TLS).
    #[tracing::instrument(name = "upstream.complete", skip_all, fields(upstream = %self.id()))]
    pub async fn complete(
        &self,
        code: &str,
        pending: &PendingUpstream,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        let metadata = self.metadata().await?;
        let tokens = self
            .exchange_code(&metadata, code, &pending.pkce_verifier)
            .await?;
        let id_token =
            tokens.extra_fields().id_token.as_deref().ok_or_else(|| {
                UpstreamError::IdToken("the token response has no id_token".into())
            })?;
        let verified = self
            .validate_id_token(&metadata, id_token, &pending.nonce)
            .await?;
        let userinfo = self
            .userinfo(&metadata, tokens.access_token().secret())
            .await?;
        let same_sub = match userinfo.get("sub") {
            Some(serde_json::Value::String(s)) => {
                id_token::constant_time_eq(s.as_bytes(), verified.sub.as_bytes())
            }
            _ => false,
        };
        if !same_sub {
            return Err(UpstreamError::Userinfo(
                "userinfo sub is not the ID token's sub".to_owned(),
            ));
        }
        let identity = self.map_userinfo(&userinfo)?;
        // `assurance_level`, not `level`: the JSON log line has its own `level` (INFO, WARN…).
        let assurance_level = match &identity.level {
            vneid_core::Claim::Valid(l) => l.number().to_string(),
            vneid_core::Claim::Missing => "missing".to_owned(),
            vneid_core::Claim::Invalid(_) => "invalid".to_owned(),
        };
        tracing::info!(
            assurance_level = %assurance_level,
            login_idp = identity.login_idp.as_deref().unwrap_or(""),
            personal_id = %identity.personal_id.as_deref().map(vneid_core::mask).unwrap_or_default(),
            "upstream login completed"
        );
        Ok(identity)
    }

    /// Maps a userinfo document by the configured field names; see the crate's mapping rules
    /// (a missing `sub` is an error, values are [`vneid_core::Claim`]s or options).
    ///
    /// - Missing, `null` and `""` are absent.
    /// - Level: integer `1`/`2` or the exact strings `"1"`/`"2"` are valid; anything else
    ///   present is `Claim::Invalid(raw)`. Never read from `acr`.
    /// - Birth date: parsed with `claims.birthdate_format`; a JSON integer is read as its digits.
    /// - Personal ID: strings as received; a JSON number as its digits (its leading zero is
    ///   lost, so it fails validation later: fail closed, not guessed).
    /// - Other fields: strings, or numbers/booleans as their text (`LoaiTaiKhoan: 1` → `"1"`).
    pub fn map_userinfo(
        &self,
        userinfo: &serde_json::Value,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        mapping::map_userinfo(&self.inner.config, userinfo)
    }

    /// For `/readyz`: discovery can be had, fetched again if the cached copy is older than a
    /// minute. With explicit endpoints (no discovery), the JWKS is checked the same way.
    #[tracing::instrument(name = "upstream.check_ready", skip_all, fields(upstream = %self.id()))]
    pub async fn check_ready(&self) -> Result<(), UpstreamError> {
        let metadata = self.metadata_max_age(READY_MAX_AGE).await?;
        if !metadata.discovered {
            self.inner
                .jwks
                .ensure_fresh(&self.inner.http, &metadata.jwks_uri, READY_MAX_AGE)
                .await?;
        }
        Ok(())
    }

    #[tracing::instrument(name = "upstream.token", skip_all)]
    async fn exchange_code(
        &self,
        metadata: &ProviderMetadata,
        code: &str,
        verifier: &str,
    ) -> Result<OidcTokenResponse, UpstreamError> {
        let config = &self.inner.config;
        let client = OidcClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                config.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_type(match config.token_endpoint_auth_method {
                ClientAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
                ClientAuthMethod::ClientSecretPost => AuthType::RequestBody,
            })
            .set_token_uri(TokenUrl::from_url(metadata.token_endpoint.clone()))
            .set_redirect_uri(RedirectUrl::from_url(self.inner.redirect_uri.clone()));
        client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&|request| http::oauth2_send(&self.inner.http, request))
            .await
            .map_err(token_error)
    }

    #[tracing::instrument(name = "upstream.id_token", skip_all)]
    async fn validate_id_token(
        &self,
        metadata: &ProviderMetadata,
        token: &str,
        nonce: &str,
    ) -> Result<id_token::Verified, UpstreamError> {
        let header = id_token::header(token)?;
        let keys = self
            .inner
            .jwks
            .verification_keys(
                &self.inner.http,
                &metadata.jwks_uri,
                header.kid.as_deref(),
                header.alg,
            )
            .await?;
        let issuer = match (&self.inner.config.issuer, metadata.discovered) {
            (Some(configured), false) => ExpectedIssuer::Configured(configured),
            _ => ExpectedIssuer::Exact(&metadata.issuer),
        };
        let expected = Expected {
            issuer,
            client_id: &self.inner.config.client_id,
            nonce,
            now: self.clock.now().timestamp(),
        };
        id_token::verify(token, &header, &keys, &expected)
    }

    #[tracing::instrument(name = "upstream.userinfo", skip_all)]
    async fn userinfo(
        &self,
        metadata: &ProviderMetadata,
        access_token: &str,
    ) -> Result<serde_json::Value, UpstreamError> {
        let fetched = http::fetch(
            self.inner
                .http
                .get(metadata.userinfo_endpoint.clone())
                .bearer_auth(access_token)
                .header(reqwest::header::ACCEPT, "application/json"),
            "userinfo",
        )
        .await?;
        if !fetched.status.is_success() {
            return Err(UpstreamError::Userinfo(format!(
                "HTTP status {}",
                fetched.status.as_u16()
            )));
        }
        if fetched.is_media_type("application/jwt") {
            return Err(UpstreamError::Userinfo(
                "signed (JWT) userinfo responses are not supported".to_owned(),
            ));
        }
        let value: serde_json::Value = serde_json::from_slice(&fetched.body)
            .map_err(|_| UpstreamError::Userinfo("the response is not JSON".to_owned()))?;
        if !value.is_object() {
            return Err(UpstreamError::Userinfo(
                "the response is not a JSON object".to_owned(),
            ));
        }
        Ok(value)
    }
}

/// oauth2's error → ours. Nothing of the response body is kept: it may hold tokens.
fn token_error(e: RequestTokenError<UpstreamError, BasicErrorResponse>) -> UpstreamError {
    match e {
        RequestTokenError::ServerResponse(r) => UpstreamError::TokenEndpoint {
            error: bounded(r.error().as_ref(), 64),
            description: r.error_description().map(|d| bounded(d, 200)),
        },
        RequestTokenError::Request(e) => e,
        RequestTokenError::Parse(e, _body) => UpstreamError::TokenResponse(format!(
            "malformed response (at `{}`, {:?})",
            e.path(),
            e.inner().classify()
        )),
        RequestTokenError::Other(message) => UpstreamError::TokenResponse(bounded(&message, 200)),
    }
}

/// 256 bits from the OS CSPRNG, base64url without padding (43 characters; also a valid PKCE
/// verifier, RFC 7636 4.1).
fn random_token() -> Result<String, UpstreamError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| UpstreamError::Internal(format!("OS random generator: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
