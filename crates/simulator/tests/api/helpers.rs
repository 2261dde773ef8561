use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::header::LOCATION;
use reqwest::{redirect, Client, Response, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;
use vneid_simulator::{default_people, run_standalone, SimClient, SimulatorConfig};

pub const CLIENT_ID: &str = "gateway";
pub const CLIENT_SECRET: &str = "gateway-secret+with%25 space:and colon";
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/login/dvcqg/callback";
pub const OTHER_CLIENT: &str = "other-portal";
pub const OTHER_SECRET: &str = "other-secret";
pub const OTHER_REDIRECT: &str = "http://127.0.0.1:9/other/cb";

pub const AN: &str = "052090000123";
pub const PASSWORD: &str = "matkhau123";

pub struct TestApp {
    pub base: String,
    pub http: Client,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(BTreeMap::new()).await
}

pub async fn spawn_app_with(field_names: BTreeMap<String, String>) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let config = SimulatorConfig {
        issuer: base.clone(),
        clients: vec![
            SimClient {
                client_id: CLIENT_ID.to_owned(),
                client_secret: CLIENT_SECRET.to_owned(),
                redirect_uris: vec![REDIRECT_URI.to_owned()],
            },
            SimClient {
                client_id: OTHER_CLIENT.to_owned(),
                client_secret: OTHER_SECRET.to_owned(),
                redirect_uris: vec![OTHER_REDIRECT.to_owned()],
            },
        ],
        people: default_people(),
        field_names,
    };
    tokio::spawn(run_standalone(listener, config));
    let http = Client::builder()
        .redirect(redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    // The RSA key is generated as the server starts: wait until it answers.
    for _ in 0..200 {
        if let Ok(r) = http
            .get(format!("{base}/.well-known/openid-configuration"))
            .send()
            .await
        {
            if r.status().is_success() {
                return TestApp { base, http };
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the simulator did not start");
}

/// The fields of a login page a browser would use.
pub struct LoginPage {
    pub rid: String,
    pub qr_ref: String,
    pub html: String,
}

pub fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = html.find(start)? + start.len();
    let j = html[i..].find(end)? + i;
    Some(&html[i..j])
}

pub fn location(r: &Response) -> Url {
    let loc = r
        .headers()
        .get(LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap();
    Url::parse(loc).unwrap()
}

pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Sends raw bytes over a plain TCP connection and returns the status code of the answer (0 if
/// the server closed the connection without one). For requests an HTTP client refuses to build.
pub async fn raw_status(app: &TestApp, request: Vec<u8>) -> u16 {
    let addr = app.base.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        // The server may answer and close before reading everything; ignore write errors.
        let _ = s.write_all(&request);
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let head = String::from_utf8_lossy(&buf[..buf.len().min(64)]).into_owned();
        head.split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    })
    .await
    .unwrap()
}

pub fn pkce_pair() -> (String, String) {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-test".to_owned();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn authorize(&self, extra: &[(&str, &str)]) -> Response {
        let mut url = Url::parse(&self.url("/oauth2/authorize")).unwrap();
        {
            let mut q = url.query_pairs_mut();
            let defaults = [
                ("client_id", CLIENT_ID),
                ("redirect_uri", REDIRECT_URI),
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "st-123"),
                ("nonce", "n-456"),
            ];
            for (k, v) in defaults {
                if let Some((_, v)) = extra.iter().find(|(ek, _)| *ek == k) {
                    if !v.is_empty() {
                        q.append_pair(k, v);
                    }
                } else {
                    q.append_pair(k, v);
                }
            }
            for (k, v) in extra {
                if !defaults.iter().any(|(dk, _)| dk == k) {
                    q.append_pair(k, v);
                }
            }
        }
        self.http.get(url).send().await.unwrap()
    }

    pub async fn start_login(&self, extra: &[(&str, &str)]) -> LoginPage {
        let r = self.authorize(extra).await;
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.unwrap();
        LoginPage {
            rid: between(&html, "name=\"request\" value=\"", "\"")
                .unwrap()
                .to_owned(),
            qr_ref: between(&html, "<code id=\"qr-ref\">", "</code>")
                .unwrap()
                .to_owned(),
            html,
        }
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn password(&self, rid: &str, personal_id: &str, password: &str) -> Response {
        self.post_form(
            "/login",
            &[
                ("request", rid),
                ("personal_id", personal_id),
                ("password", password),
            ],
        )
        .await
    }

    pub async fn messages(&self) -> Vec<Value> {
        let r = self
            .http
            .get(self.url("/phone/messages"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Vec<Value>>().await.unwrap()
    }

    /// The newest OTP "sent" to this person.
    pub async fn latest_otp(&self, personal_id: &str) -> String {
        self.messages()
            .await
            .into_iter()
            .find(|m| m["personal_id"] == personal_id)
            .expect("an SMS for this person")["otp"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Password + OTP to the redirect carrying the code; returns the redirect URL.
    pub async fn login_as(&self, personal_id: &str, extra: &[(&str, &str)]) -> Url {
        let page = self.start_login(extra).await;
        let r = self.password(&page.rid, personal_id, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK);
        let otp = self.latest_otp(personal_id).await;
        let r = self
            .post_form("/otp", &[("request", &page.rid), ("otp", &otp)])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        location(&r)
    }

    pub async fn code_for(&self, personal_id: &str, extra: &[(&str, &str)]) -> String {
        query_param(&self.login_as(personal_id, extra).await, "code").unwrap()
    }

    /// Token request with client_secret_basic (credentials form-encoded, RFC 6749 §2.3.1).
    pub async fn token_basic(&self, form: &[(&str, &str)], id: &str, secret: &str) -> Response {
        let enc =
            |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
        self.http
            .post(self.url("/oauth2/token"))
            .basic_auth(enc(id), Some(enc(secret)))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn exchange(&self, code: &str) -> Response {
        self.token_basic(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
            ],
            CLIENT_ID,
            CLIENT_SECRET,
        )
        .await
    }

    pub async fn access_token_for(&self, personal_id: &str) -> String {
        let code = self.code_for(personal_id, &[]).await;
        let r = self.exchange(&code).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn userinfo(&self, access_token: &str) -> Response {
        self.http
            .get(self.url("/oauth2/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }
}

pub async fn oauth_error(r: Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_owned())
}
