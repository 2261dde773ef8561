//! OpenID Connect Discovery 1.0: the provider metadata document.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::{check_url, issuer_text, same_issuer};
use crate::error::bounded;
use crate::http::fetch;
use crate::{UpstreamConfig, UpstreamError};

/// What the gateway uses of the upstream's metadata, after explicit endpoints have overridden
/// discovered ones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProviderMetadata {
    /// The issuer ID tokens must carry in `iss`: the discovered string exactly, or (with no
    /// discovery) the configured issuer written without a root `/`.
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub userinfo_endpoint: Url,
    pub jwks_uri: Url,
    /// For RP-initiated logout at the upstream, when it publishes one.
    pub end_session_endpoint: Option<Url>,
    /// False when all four endpoints were configured and nothing was fetched.
    pub discovered: bool,
}

/// The fields of a discovery document the gateway reads; others are ignored.
#[derive(Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: Option<Url>,
    token_endpoint: Option<Url>,
    userinfo_endpoint: Option<Url>,
    jwks_uri: Option<Url>,
    end_session_endpoint: Option<Url>,
    code_challenge_methods_supported: Option<Vec<String>>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// `{issuer}/.well-known/openid-configuration` (OIDC Discovery 4.1: any trailing `/` of the
/// issuer removed first).
pub(crate) fn discovery_url(issuer: &Url) -> Result<Url, UpstreamError> {
    let base = issuer.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}/.well-known/openid-configuration"))
        .map_err(|e| UpstreamError::Config(format!("discovery URL: {e}")))
}

/// The metadata of an upstream whose four endpoints are all configured.
pub(crate) fn explicit_metadata(config: &UpstreamConfig) -> Option<ProviderMetadata> {
    Some(ProviderMetadata {
        issuer: issuer_text(config.issuer.as_ref()?),
        authorization_endpoint: config.authorization_endpoint.clone()?,
        token_endpoint: config.token_endpoint.clone()?,
        userinfo_endpoint: config.userinfo_endpoint.clone()?,
        jwks_uri: config.jwks_uri.clone()?,
        end_session_endpoint: None,
        discovered: false,
    })
}

#[tracing::instrument(name = "upstream.discovery", skip_all, fields(upstream = %config.id))]
pub(crate) async fn discover(
    http: &reqwest::Client,
    config: &UpstreamConfig,
) -> Result<ProviderMetadata, UpstreamError> {
    let issuer = config
        .issuer
        .as_ref()
        .ok_or_else(|| UpstreamError::Config("no issuer to discover".to_owned()))?;
    let url = discovery_url(issuer)?;
    let fetched = fetch(
        http.get(url)
            .header(reqwest::header::ACCEPT, "application/json"),
        "discovery",
    )
    .await?;
    if !fetched.status.is_success() {
        return Err(UpstreamError::Discovery(format!(
            "HTTP status {}",
            fetched.status.as_u16()
        )));
    }
    let doc: Document = serde_json::from_slice(&fetched.body).map_err(|e| {
        UpstreamError::Discovery(format!(
            "not a usable discovery document: {}",
            bounded(&e.to_string(), 200)
        ))
    })?;
    // OIDC Discovery 4.3: the document must be the configured issuer's (mix-up defence).
    if !same_issuer(issuer, &doc.issuer) {
        return Err(UpstreamError::Discovery(format!(
            "the document names issuer {:?}, configured is {:?}",
            bounded(&doc.issuer, 200),
            issuer.as_str()
        )));
    }

    let pick = |explicit: &Option<Url>, discovered: Option<Url>, name: &str| {
        let url = explicit.clone().or(discovered).ok_or_else(|| {
            UpstreamError::Discovery(format!("no {name} discovered and none configured"))
        })?;
        check_url(&url).map_err(|e| UpstreamError::Discovery(format!("{name} {url}: {e}")))?;
        Ok::<_, UpstreamError>(url)
    };
    let metadata = ProviderMetadata {
        authorization_endpoint: pick(
            &config.authorization_endpoint,
            doc.authorization_endpoint,
            "authorization_endpoint",
        )?,
        token_endpoint: pick(&config.token_endpoint, doc.token_endpoint, "token_endpoint")?,
        userinfo_endpoint: pick(
            &config.userinfo_endpoint,
            doc.userinfo_endpoint,
            "userinfo_endpoint",
        )?,
        jwks_uri: pick(&config.jwks_uri, doc.jwks_uri, "jwks_uri")?,
        end_session_endpoint: doc.end_session_endpoint.filter(|u| check_url(u).is_ok()),
        issuer: doc.issuer,
        discovered: true,
    };

    if let Some(methods) = &doc.code_challenge_methods_supported {
        if !methods.iter().any(|m| m == "S256") {
            tracing::warn!("the upstream does not advertise PKCE S256; sending it anyway");
        }
    }
    if let Some(methods) = &doc.token_endpoint_auth_methods_supported {
        let ours = match config.token_endpoint_auth_method {
            crate::ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            crate::ClientAuthMethod::ClientSecretPost => "client_secret_post",
        };
        if !methods.iter().any(|m| m == ours) {
            tracing::warn!(
                method = ours,
                "the upstream does not advertise the configured token endpoint auth method"
            );
        }
    }
    tracing::debug!(issuer = %metadata.issuer, "discovery document fetched");
    Ok(metadata)
}
