//! One HTTP client shared by every virtual user (one connection pool), and the operations they
//! repeat: a whole login through the simulator's pages, and single token-endpoint calls.
//! Every failure is an `Err` with a short message naming the step; nothing panics.

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use base64::Engine as _;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;
use url::Url;

/// How long one HTTP request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of an unexpected response body goes into an error message.
const BODY_IN_ERRORS: usize = 160;

/// A gateway the users talk to: its base URL and the issuer it announces (which the
/// simulator's redirect to the callback carries; replicas share one issuer).
#[derive(Debug, Clone)]
pub(crate) struct Gateway {
    pub(crate) url: String,
    pub(crate) issuer: Option<String>,
}

/// Who logs in, and as which portal.
#[derive(Debug, Clone)]
pub(crate) struct LoginParams {
    pub(crate) client: (String, String),
    pub(crate) redirect_uri: String,
    pub(crate) person: String,
    pub(crate) password: String,
}

/// The HTTP client of a run: no redirects followed, no cookie store (a login keeps its own
/// cookies), connections pooled across users and logins.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// With `--dpop`: the run's DPoP key; token requests and `/userinfo` then carry proofs.
    dpop: Option<std::sync::Arc<super::dpop::DpopKey>>,
}

impl Client {
    /// A client with the run's timeouts.
    pub fn new() -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Client { http, dpop: None })
    }

    /// The same client proving a DPoP key of its own at `/token` and `/userinfo`.
    pub fn with_dpop(mut self) -> anyhow::Result<Client> {
        self.dpop = Some(std::sync::Arc::new(super::dpop::DpopKey::generate()?));
        Ok(self)
    }

    /// POSTs `form` to the gateway's `/token` as `client` (HTTP Basic), with a proof under
    /// `--dpop`.
    async fn token(
        &self,
        what: &str,
        gw: &Gateway,
        client: &(String, String),
        form: &[(&str, &str)],
    ) -> anyhow::Result<Response> {
        let url = format!("{}/token", gw.url);
        let build = || {
            self.http
                .post(&url)
                .basic_auth(&client.0, Some(&client.1))
                .form(form)
        };
        match &self.dpop {
            Some(key) => key.send(what, "POST", &url, None, build).await,
            None => send(what, build()).await,
        }
    }

    /// The gateway at `url` with the issuer of its discovery document (`None` if unreachable:
    /// its operations then fail one by one and are counted).
    pub(crate) async fn gateway(&self, url: &str) -> Gateway {
        let issuer = async {
            let res = self
                .http
                .get(format!("{url}/.well-known/openid-configuration"))
                .send()
                .await
                .ok()?;
            let doc: Value = res.json().await.ok()?;
            doc["issuer"].as_str().map(str::to_owned)
        }
        .await;
        Gateway {
            url: url.to_owned(),
            issuer,
        }
    }

    /// A whole login, from the portal's authorization request to the code exchange; the
    /// token response.
    pub(crate) async fn login(&self, gw: &Gateway, p: &LoginParams) -> anyhow::Result<Value> {
        // RFC 7636: 43 to 128 characters.
        let verifier = format!(
            "loadgen-{}-{}-{}",
            random_hex()?,
            random_hex()?,
            random_hex()?
        );
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()),
        );
        let state = random_hex()?;
        let mut authorize = Url::parse(&format!("{}/authorize", gw.url))
            .with_context(|| format!("bad gateway URL {}", gw.url))?;
        authorize
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &p.client.0)
            .append_pair("redirect_uri", &p.redirect_uri)
            .append_pair("scope", "openid profile")
            .append_pair("state", &state)
            .append_pair("nonce", &random_hex()?)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let mut jar = Jar::default();

        let res = send("GET /authorize", self.http.get(authorize)).await?;
        jar.keep(&res);
        let upstream = redirect_target("GET /authorize", res).await?;

        let res = send("GET upstream authorize", self.http.get(upstream.clone())).await?;
        let html = body_if("GET upstream authorize", res, StatusCode::OK).await?;
        let request = hidden(&html, "request").context("upstream login page: no request")?;
        let base = upstream
            .as_str()
            .split("/oauth2/authorize")
            .next()
            .unwrap_or_default()
            .to_owned();

        let form = [
            ("request", request.as_str()),
            ("personal_id", p.person.as_str()),
            ("password", p.password.as_str()),
        ];
        let res = send(
            "POST upstream /login",
            self.http.post(format!("{base}/login")).form(&form),
        )
        .await?;
        let html = body_if("POST upstream /login", res, StatusCode::OK).await?;
        if !html.contains("name=\"otp\"") {
            bail!("POST upstream /login: no OTP page (password refused?)");
        }

        let otp = self.otp_for(&base, &request).await?;
        let form = [("request", request.as_str()), ("otp", otp.as_str())];
        let res = send(
            "POST upstream /otp",
            self.http.post(format!("{base}/otp")).form(&form),
        )
        .await?;
        let mut callback = redirect_target("POST upstream /otp", res)
            .await?
            .to_string();
        // A load balancer would send the callback to any replica: send it to this user's.
        if let Some(issuer) = &gw.issuer {
            if let Some(rest) = callback.strip_prefix(issuer.as_str()) {
                callback = format!("{}{rest}", gw.url);
            }
        }

        let res = send("GET callback", jar.attach(self.http.get(&callback))).await?;
        let portal = redirect_target("GET callback", res).await?;
        if !portal.as_str().starts_with(&p.redirect_uri) {
            bail!("GET callback: redirected to {portal} instead of the portal");
        }
        let q: std::collections::HashMap<String, String> =
            portal.query_pairs().into_owned().collect();
        if let Some(e) = q.get("error") {
            bail!("GET callback: the portal got error={e}");
        }
        if q.get("state") != Some(&state) {
            bail!("GET callback: state not returned");
        }
        let code = q.get("code").context("GET callback: no code")?;

        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", p.redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        let what = "POST /token (code)";
        let tokens = json_if(what, self.token(what, gw, &p.client, &form).await?).await?;
        if tokens["access_token"].as_str().is_none() {
            bail!("POST /token (code): no access_token");
        }
        Ok(tokens)
    }

    /// The OTP the simulator's phone received for the login form `request`. The phone lists
    /// its latest SMS (newest first) with no filter, so the whole list is read.
    async fn otp_for(&self, base: &str, request: &str) -> anyhow::Result<String> {
        let what = "GET upstream /phone/messages";
        let res = send(what, self.http.get(format!("{base}/phone/messages"))).await?;
        let messages = json_if(what, res).await?;
        messages
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["request"].as_str() == Some(request))
            .and_then(|m| m["otp"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{what}: no OTP for the request (pushed out of the list?)"))
    }

    /// `/token` with client credentials; checks an access token came back.
    pub(crate) async fn client_credentials(
        &self,
        gw: &Gateway,
        machine: &(String, String),
    ) -> anyhow::Result<()> {
        let what = "POST /token (client_credentials)";
        let form = [("grant_type", "client_credentials")];
        let body = json_if(what, self.token(what, gw, machine, &form).await?).await?;
        match body["access_token"].as_str() {
            Some(_) => Ok(()),
            None => bail!("{what}: no access_token"),
        }
    }

    /// `/introspect` of `token` as `client`; the token must be active.
    pub(crate) async fn introspect(
        &self,
        gw: &Gateway,
        client: &(String, String),
        token: &str,
    ) -> anyhow::Result<()> {
        let what = "POST /introspect";
        let req = self
            .http
            .post(format!("{}/introspect", gw.url))
            .basic_auth(&client.0, Some(&client.1))
            .form(&[("token", token)]);
        let body = json_if(what, send(what, req).await?).await?;
        match body["active"].as_bool() {
            Some(true) => Ok(()),
            _ => bail!("{what}: token not active"),
        }
    }

    /// `/userinfo` with `token` as Bearer, or under `--dpop` as `DPoP` with a proof.
    pub(crate) async fn userinfo(&self, gw: &Gateway, token: &str) -> anyhow::Result<()> {
        let what = "GET /userinfo";
        let url = format!("{}/userinfo", gw.url);
        let res = match &self.dpop {
            Some(key) => {
                let build = || {
                    self.http
                        .get(&url)
                        .header("Authorization", format!("DPoP {token}"))
                };
                key.send(what, "GET", &url, Some(token), build).await?
            }
            None => send(what, self.http.get(&url).bearer_auth(token)).await?,
        };
        let body = json_if(what, res).await?;
        match body["sub"].as_str() {
            Some(_) => Ok(()),
            None => bail!("{what}: no sub"),
        }
    }

    /// `/token` with `refresh_token`; the next refresh token of the chain.
    pub(crate) async fn refresh(
        &self,
        gw: &Gateway,
        client: &(String, String),
        refresh_token: &str,
    ) -> anyhow::Result<String> {
        let what = "POST /token (refresh_token)";
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        let body = json_if(what, self.token(what, gw, client, &form).await?).await?;
        body["refresh_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{what}: no refresh_token"))
    }
}

/// The cookies of one login (the gateway's login-binding cookie): names and values only, sent
/// back on the callback. A per-login jar keeps logins apart while they share connections.
#[derive(Debug, Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn keep(&mut self, res: &Response) {
        for header in res.headers().get_all(SET_COOKIE) {
            let Ok(text) = header.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
            self.0.retain(|(n, _)| *n != name);
            let removal = value.is_empty() || text.to_ascii_lowercase().contains("max-age=0");
            if !removal {
                self.0.push((name, value));
            }
        }
    }

    fn attach(&self, req: RequestBuilder) -> RequestBuilder {
        if self.0.is_empty() {
            return req;
        }
        let header: Vec<String> = self.0.iter().map(|(n, v)| format!("{n}={v}")).collect();
        req.header(COOKIE, header.join("; "))
    }
}

pub(crate) async fn send(what: &str, req: RequestBuilder) -> anyhow::Result<Response> {
    req.send()
        .await
        .map_err(|e| anyhow!("{what}: {}", short_error(&e)))
}

/// A reqwest error with its causes, which name the real problem (connection refused...).
fn short_error(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn unexpected(what: &str, res: Response) -> anyhow::Error {
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    let body: String = body.chars().take(BODY_IN_ERRORS).collect();
    anyhow!("{what}: status {status}: {}", body.trim())
}

/// The absolute target of a redirect (302 or 303).
async fn redirect_target(what: &str, res: Response) -> anyhow::Result<Url> {
    if !res.status().is_redirection() {
        return Err(unexpected(what, res).await);
    }
    let location = res
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .with_context(|| format!("{what}: redirect without Location"))?;
    res.url()
        .join(location)
        .with_context(|| format!("{what}: bad Location {location}"))
}

async fn body_if(what: &str, res: Response, want: StatusCode) -> anyhow::Result<String> {
    if res.status() != want {
        return Err(unexpected(what, res).await);
    }
    res.text()
        .await
        .map_err(|e| anyhow!("{what}: reading the body: {}", short_error(&e)))
}

async fn json_if(what: &str, res: Response) -> anyhow::Result<Value> {
    let text = body_if(what, res, StatusCode::OK).await?;
    serde_json::from_str(&text).with_context(|| format!("{what}: not JSON"))
}

/// The value of the hidden form field `name` of a page.
pub(crate) fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_owned())
}

/// 16 random hex digits.
pub(crate) fn random_hex() -> anyhow::Result<String> {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut b)
        .map_err(|_| anyhow!("the system random generator failed"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}
