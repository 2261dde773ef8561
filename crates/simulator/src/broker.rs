//! What the simulated broker decides: authorization requests, password + OTP and QR logins,
//! codes, tokens and userinfo. No HTTP here: handlers parse, call one function, render.
//!
//! Everything lives in memory behind one mutex; expired entries are dropped whenever the store
//! is touched. Time comes from an injected [`Clock`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use url::Url;
use vneid_core::{mask, Clock};

use crate::jws::JwsSigner;
use crate::params::{self, Params};
use crate::people::{mask_phone, Person};
use crate::{SimClient, SimulatorConfig, SimulatorError};

/// A pending authorization (login page, OTP, QR) lives this long.
pub(crate) const PENDING_TTL: Duration = Duration::minutes(10);
/// Authorization codes must be exchanged within this time.
pub(crate) const CODE_TTL: Duration = Duration::seconds(60);
/// Spent codes are remembered this long, so a replay is recognised and what it issued revoked.
const SPENT_TTL: Duration = Duration::minutes(10);
pub(crate) const ACCESS_TOKEN_TTL: Duration = Duration::minutes(60);
pub(crate) const ID_TOKEN_TTL: Duration = Duration::minutes(5);
pub(crate) const MAX_OTP_FAILURES: u32 = 5;
pub(crate) const MAX_PASSWORD_FAILURES: u32 = 5;
/// Beyond this many live pending authorizations new ones are refused (memory bound).
const MAX_PENDING: usize = 10_000;
/// The phone keeps this many SMS.
const MAX_SMS: usize = 50;

/// Userinfo keys the broker sends, in the broker's spelling.
pub(crate) const USERINFO_FIELDS: [&str; 11] = [
    "sub",
    "TechID",
    "LoaiTaiKhoan",
    "HoVaTen",
    "SoDinhDanh",
    "NgayThangNamSinh",
    "loginIdp",
    "IAL",
    "loAs",
    "userProfileUri",
    "logoutUri",
];

/// The session-level `acr` the broker puts in ID tokens; it says nothing about the person's level.
const SESSION_ACR: &str = "LoA1";

#[derive(Debug, Clone)]
struct AuthRequest {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
}

#[derive(Debug)]
enum Stage {
    Login,
    Otp { personal_id: String, otp: String },
    QrApproved { personal_id: String },
}

#[derive(Debug)]
struct Pending {
    req: AuthRequest,
    qr_ref: String,
    created: DateTime<Utc>,
    stage: Stage,
    password_failures: u32,
    otp_failures: u32,
}

struct CodeGrant {
    req: AuthRequest,
    personal_id: String,
    issued: DateTime<Utc>,
}

struct SpentCode {
    at: DateTime<Utc>,
    access_token: Option<String>,
}

struct AccessGrant {
    personal_id: String,
    expires: DateTime<Utc>,
}

/// An OTP "sent" by SMS, as the phone page lists it.
#[derive(Debug, Clone)]
pub(crate) struct Sms {
    pub(crate) phone: String,
    pub(crate) personal_id: String,
    pub(crate) otp: String,
    /// The login form's request id (the hidden `request` field of the login and OTP pages).
    pub(crate) request: String,
    /// The public QR id of the same request.
    pub(crate) qr: String,
    pub(crate) at: DateTime<Utc>,
}

/// A QR login waiting for the phone, as the phone page lists it.
#[derive(Debug, Clone)]
pub(crate) struct PendingQr {
    pub(crate) qr_ref: String,
    pub(crate) client_id: String,
    pub(crate) created: DateTime<Utc>,
}

#[derive(Default)]
struct Store {
    pending: HashMap<String, Pending>,
    by_ref: HashMap<String, String>,
    codes: HashMap<String, CodeGrant>,
    spent: HashMap<String, SpentCode>,
    tokens: HashMap<String, AccessGrant>,
    sms: VecDeque<Sms>,
}

impl Store {
    fn purge(&mut self, now: DateTime<Utc>) {
        self.pending.retain(|_, p| p.created + PENDING_TTL > now);
        let pending = &self.pending;
        self.by_ref.retain(|_, rid| pending.contains_key(rid));
        self.codes.retain(|_, c| c.issued + CODE_TTL > now);
        self.spent.retain(|_, s| s.at + SPENT_TTL > now);
        self.tokens.retain(|_, t| t.expires > now);
    }

    fn remove_pending(&mut self, rid: &str) -> Option<Pending> {
        let p = self.pending.remove(rid)?;
        self.by_ref.remove(&p.qr_ref);
        Some(p)
    }
}

/// The login page to show.
#[derive(Debug, Clone)]
pub(crate) struct LoginView {
    pub(crate) rid: String,
    pub(crate) qr_ref: String,
    pub(crate) redirect_origin: String,
    pub(crate) personal_id: String,
    pub(crate) error: Option<String>,
}

/// The OTP page to show.
#[derive(Debug, Clone)]
pub(crate) struct OtpView {
    pub(crate) rid: String,
    pub(crate) masked_phone: String,
    pub(crate) redirect_origin: String,
    pub(crate) error: Option<String>,
}

pub(crate) enum AuthorizeOutcome {
    Login(LoginView),
    /// An error the client is told about at its (validated) redirect URI.
    Redirect(String),
}

pub(crate) enum LoginOutcome {
    Again(LoginView),
    Otp(OtpView),
}

pub(crate) enum OtpOutcome {
    Again(OtpView),
    Redirect(String),
}

pub(crate) enum QrContinue {
    Waiting(LoginView),
    Redirect(String),
}

pub(crate) enum QrStatus {
    Pending,
    Approved { continue_url: String },
    Expired,
}

/// A Vietnamese error page.
#[derive(Debug, Clone)]
pub(crate) struct PageError {
    pub(crate) status: u16,
    pub(crate) title: &'static str,
    pub(crate) message: String,
    /// Where "Quay lại dịch vụ" leads: the client's redirect URI with `error=access_denied`.
    pub(crate) back: Option<String>,
}

impl PageError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            title: "Yêu cầu không hợp lệ",
            message: message.into(),
            back: None,
        }
    }

    pub(crate) fn expired() -> Self {
        Self {
            status: 400,
            title: "Phiên đăng nhập đã hết hạn",
            message: "Yêu cầu đăng nhập không tồn tại hoặc đã hết hạn. Vui lòng quay lại trang \
                      dịch vụ và đăng nhập lại."
                .to_owned(),
            back: None,
        }
    }

    pub(crate) fn not_found() -> Self {
        Self {
            status: 404,
            title: "Không tìm thấy trang",
            message: "Địa chỉ này không tồn tại trên Cổng xác thực giả lập.".to_owned(),
            back: None,
        }
    }

    fn busy() -> Self {
        Self {
            status: 503,
            title: "Hệ thống đang bận",
            message: "Có quá nhiều yêu cầu đăng nhập đang chờ. Vui lòng thử lại sau ít phút."
                .to_owned(),
            back: None,
        }
    }

    fn internal() -> Self {
        Self {
            status: 500,
            title: "Lỗi hệ thống",
            message: "Đã có lỗi xảy ra. Vui lòng thử lại sau.".to_owned(),
            back: None,
        }
    }

    fn refused(message: &str, back: String) -> Self {
        Self {
            status: 400,
            title: "Đăng nhập không thành công",
            message: message.to_owned(),
            back: Some(back),
        }
    }
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    pub(crate) status: u16,
    pub(crate) error: &'static str,
    pub(crate) description: String,
}

impl OAuthError {
    pub(crate) fn invalid_request(d: impl Into<String>) -> Self {
        Self {
            status: 400,
            error: "invalid_request",
            description: d.into(),
        }
    }
    fn invalid_client(d: &str) -> Self {
        Self {
            status: 401,
            error: "invalid_client",
            description: d.to_owned(),
        }
    }
    fn invalid_grant(d: &str) -> Self {
        Self {
            status: 400,
            error: "invalid_grant",
            description: d.to_owned(),
        }
    }
    fn server_error() -> Self {
        Self {
            status: 500,
            error: "server_error",
            description: "internal error".to_owned(),
        }
    }
}

/// The OS random generator failed.
#[derive(Debug)]
struct RngFailure;

impl From<RngFailure> for PageError {
    fn from(_: RngFailure) -> Self {
        tracing::error!("the OS random generator failed");
        PageError::internal()
    }
}

impl From<RngFailure> for OAuthError {
    fn from(_: RngFailure) -> Self {
        tracing::error!("the OS random generator failed");
        OAuthError::server_error()
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], RngFailure> {
    let mut buf = [0u8; N];
    OsRng.try_fill_bytes(&mut buf).map_err(|_| RngFailure)?;
    Ok(buf)
}

/// 256 random bits, base64url.
fn random_token() -> Result<String, RngFailure> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// 128 random bits, base64url (22 characters): short enough to read off a screen.
fn random_ref() -> Result<String, RngFailure> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<16>()?))
}

/// Six uniformly random digits.
fn random_otp() -> Result<String, RngFailure> {
    // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32: reject above it, no bias.
    loop {
        let v = u32::from_be_bytes(random_bytes::<4>()?);
        if v < 4_294_000_000 {
            return Ok(format!("{:06}", v % 1_000_000));
        }
    }
}

/// Equality that takes the same time wherever the inputs differ (and whatever their lengths).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let (ha, hb) = (Sha256::digest(a), Sha256::digest(b));
    ha.iter()
        .zip(hb.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43–128 unreserved characters.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 challenge is a base64url SHA-256: exactly 43 characters of the base64url alphabet.
fn valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Ids in URLs are base64url strings of bounded length; anything else is simply unknown.
pub(crate) fn plausible_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `uri` with the parameters added to its query (and `state` when there is one).
fn redirect_with(uri: &str, pairs: &[(&str, &str)], state: Option<&str>) -> String {
    match Url::parse(uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
                if let Some(s) = state {
                    q.append_pair("state", s);
                }
            }
            url.into()
        }
        // Redirect URIs were parsed when the simulator was built; this cannot happen.
        Err(_) => uri.to_owned(),
    }
}

fn origin_of(uri: &str) -> String {
    Url::parse(uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

pub(crate) struct Broker {
    pub(crate) issuer: String,
    pub(crate) issuer_origin: String,
    clients: Vec<SimClient>,
    pub(crate) people: Vec<Person>,
    field_names: BTreeMap<String, String>,
    signer: JwsSigner,
    clock: Arc<dyn Clock>,
    store: Mutex<Store>,
    /// Shown at the top of every page (see [`crate::Simulator::with_warning`]).
    pub(crate) warning: Option<String>,
}

impl Broker {
    pub(crate) fn new(
        config: SimulatorConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SimulatorError> {
        let bad = |m: String| SimulatorError::Config(m);
        let issuer = config.issuer.trim_end_matches('/').to_owned();
        let issuer_url = Url::parse(&issuer).map_err(|e| bad(format!("issuer {issuer:?}: {e}")))?;
        if !matches!(issuer_url.scheme(), "http" | "https")
            || issuer_url.query().is_some()
            || issuer_url.fragment().is_some()
        {
            return Err(bad(format!(
                "issuer {issuer:?}: must be an http(s) URL without query or fragment"
            )));
        }
        let mut ids = BTreeSet::new();
        for (i, c) in config.clients.iter().enumerate() {
            if c.client_id.is_empty() || !ids.insert(c.client_id.as_str()) {
                return Err(bad(format!("clients[{i}].client_id: empty or repeated")));
            }
            if c.client_secret.is_empty() {
                return Err(bad(format!("clients[{i}].client_secret: empty")));
            }
            if c.redirect_uris.is_empty() {
                return Err(bad(format!("clients[{i}].redirect_uris: none given")));
            }
            for (j, u) in c.redirect_uris.iter().enumerate() {
                let parsed = Url::parse(u)
                    .map_err(|e| bad(format!("clients[{i}].redirect_uris[{j}] {u:?}: {e}")))?;
                if parsed.fragment().is_some() || parsed.cannot_be_a_base() {
                    return Err(bad(format!(
                        "clients[{i}].redirect_uris[{j}] {u:?}: must be an absolute URL without fragment"
                    )));
                }
            }
        }
        let mut people: Vec<Person> = Vec::with_capacity(config.people.len());
        for (i, p) in config.people.into_iter().enumerate() {
            if people.iter().any(|q| q.personal_id == p.personal_id) {
                return Err(bad(format!("people[{i}].personal_id: repeated")));
            }
            if p.personal_id.is_empty() || p.password.is_empty() {
                return Err(bad(format!(
                    "people[{i}]: personal_id and password are required"
                )));
            }
            people.push(p.complete());
        }
        let mut outputs = BTreeSet::new();
        for (from, to) in &config.field_names {
            if !USERINFO_FIELDS.contains(&from.as_str()) {
                return Err(bad(format!(
                    "field_names.{from}: not a userinfo field (known: {})",
                    USERINFO_FIELDS.join(", ")
                )));
            }
            if to.is_empty() {
                return Err(bad(format!("field_names.{from}: empty new name")));
            }
        }
        for f in USERINFO_FIELDS {
            let out = config.field_names.get(f).map(String::as_str).unwrap_or(f);
            if !outputs.insert(out.to_owned()) {
                return Err(bad(format!(
                    "field_names: two userinfo fields would both be called {out:?}"
                )));
            }
        }
        let signer = JwsSigner::generate()?;
        Ok(Self {
            issuer_origin: issuer_url.origin().ascii_serialization(),
            issuer,
            clients: config.clients,
            people,
            field_names: config.field_names,
            signer,
            clock,
            store: Mutex::new(Store::default()),
            warning: None,
        })
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The store, purged of what has expired. A poisoned lock is taken over: every update
    /// leaves the maps consistent between statements.
    fn store(&self, now: DateTime<Utc>) -> MutexGuard<'_, Store> {
        let mut s = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.purge(now);
        s
    }

    fn client(&self, client_id: &str) -> Option<&SimClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    fn person(&self, personal_id: &str) -> Option<&Person> {
        self.people.iter().find(|p| p.personal_id == personal_id)
    }

    fn back_url(req: &AuthRequest, why: &str) -> String {
        redirect_with(
            &req.redirect_uri,
            &[("error", "access_denied"), ("error_description", why)],
            req.state.as_deref(),
        )
    }

    fn login_view(rid: &str, p: &Pending) -> LoginView {
        LoginView {
            rid: rid.to_owned(),
            qr_ref: p.qr_ref.clone(),
            redirect_origin: origin_of(&p.req.redirect_uri),
            personal_id: String::new(),
            error: None,
        }
    }

    // ---- discovery and keys -------------------------------------------------------------

    pub(crate) fn discovery(&self) -> Value {
        let i = &self.issuer;
        let mut claims: Vec<String> = ["iss", "aud", "exp", "iat", "nonce", "acr"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        claims.extend(USERINFO_FIELDS.iter().map(|f| self.output_name(f)));
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/oauth2/authorize"),
            "token_endpoint": format!("{i}/oauth2/token"),
            "userinfo_endpoint": format!("{i}/oauth2/userinfo"),
            "jwks_uri": format!("{i}/jwks"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid"],
            "claims_supported": claims,
        })
    }

    pub(crate) fn jwks(&self) -> Value {
        self.signer.jwks()
    }

    fn output_name(&self, field: &str) -> String {
        self.field_names
            .get(field)
            .cloned()
            .unwrap_or_else(|| field.to_owned())
    }

    // ---- the browser side -----------------------------------------------------------------

    pub(crate) fn authorize(&self, p: &Params) -> Result<AuthorizeOutcome, PageError> {
        let client_id = p.get("client_id").ok_or_else(|| {
            PageError::bad_request(
                "Thiếu tham số client_id: không xác định được dịch vụ yêu cầu đăng nhập.",
            )
        })?;
        let client = self.client(client_id).ok_or_else(|| {
            PageError::bad_request("Dịch vụ (client_id) chưa được đăng ký với Cổng xác thực.")
        })?;
        let redirect_uri = p
            .get("redirect_uri")
            .ok_or_else(|| PageError::bad_request("Thiếu tham số redirect_uri."))?;
        if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
            tracing::warn!(client_id, "authorize: unregistered redirect_uri");
            return Err(PageError::bad_request(
                "Địa chỉ chuyển hướng (redirect_uri) không khớp với địa chỉ đã đăng ký cho dịch \
                 vụ này. Vì an toàn, Cổng xác thực không chuyển tiếp yêu cầu.",
            ));
        }
        // From here on the redirect URI is trusted: errors go back to the client.
        let state = p.get("state");
        let fail = |error: &str, description: &str| {
            Ok(AuthorizeOutcome::Redirect(redirect_with(
                redirect_uri,
                &[("error", error), ("error_description", description)],
                state,
            )))
        };
        match p.get("response_type") {
            Some("code") => {}
            None => return fail("invalid_request", "response_type is required"),
            Some(_) => {
                return fail(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                )
            }
        }
        if !p
            .get("scope")
            .unwrap_or("")
            .split(' ')
            .any(|s| s == "openid")
        {
            return fail("invalid_scope", "scope must contain openid");
        }
        let code_challenge = match (p.get("code_challenge"), p.get("code_challenge_method")) {
            (None, None) => None,
            (Some(c), Some("S256")) if valid_challenge(c) => Some(c.to_owned()),
            (Some(_), Some("S256")) => {
                return fail(
                    "invalid_request",
                    "code_challenge is not a valid S256 value",
                )
            }
            (Some(_), None) | (Some(_), Some("plain")) => {
                return fail(
                    "invalid_request",
                    "code_challenge_method=S256 is required, plain is not supported",
                )
            }
            (Some(_), Some(_)) => {
                return fail("invalid_request", "unsupported code_challenge_method")
            }
            (None, Some(_)) => {
                return fail(
                    "invalid_request",
                    "code_challenge_method given without code_challenge",
                )
            }
        };
        let req = AuthRequest {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            state: state.map(str::to_owned),
            nonce: p.get("nonce").map(str::to_owned),
            code_challenge,
        };
        let rid = random_token()?;
        let qr_ref = random_ref()?;
        let now = self.now();
        let mut store = self.store(now);
        if store.pending.len() >= MAX_PENDING {
            tracing::warn!("too many pending authorizations");
            return Err(PageError::busy());
        }
        let pending = Pending {
            req,
            qr_ref: qr_ref.clone(),
            created: now,
            stage: Stage::Login,
            password_failures: 0,
            otp_failures: 0,
        };
        let view = Self::login_view(&rid, &pending);
        store.by_ref.insert(qr_ref, rid.clone());
        store.pending.insert(rid, pending);
        tracing::info!(client_id, "authorization request accepted");
        Ok(AuthorizeOutcome::Login(view))
    }

    pub(crate) fn login(&self, p: &Params) -> Result<LoginOutcome, PageError> {
        let rid = p.get("request").ok_or_else(PageError::expired)?;
        let personal_id = p.get("personal_id").unwrap_or("").trim();
        let password = p.get("password").unwrap_or("");
        let now = self.now();
        let mut store = self.store(now);
        let pending = store.pending.get_mut(rid).ok_or_else(PageError::expired)?;
        let mut view = Self::login_view(rid, pending);
        view.personal_id = personal_id.to_owned();
        if personal_id.is_empty() || password.is_empty() {
            view.error = Some("Vui lòng nhập tài khoản và mật khẩu.".to_owned());
            return Ok(LoginOutcome::Again(view));
        }
        let person = self.person(personal_id);
        let ok = match person {
            Some(x) => ct_eq(x.password.as_bytes(), password.as_bytes()),
            None => {
                // Same work as for a known person, so timing does not tell who exists.
                let _ = ct_eq(b"", password.as_bytes());
                false
            }
        };
        let Some(person) = person.filter(|_| ok) else {
            pending.password_failures += 1;
            let failures = pending.password_failures;
            tracing::info!(personal_id = %mask(personal_id), failures, "wrong personal ID or password");
            if failures >= MAX_PASSWORD_FAILURES {
                let back = Self::back_url(&pending.req, "too many failed login attempts");
                store.remove_pending(rid);
                return Err(PageError::refused(
                    "Bạn đã nhập sai tài khoản hoặc mật khẩu quá nhiều lần. Yêu cầu đăng nhập đã \
                     bị hủy.",
                    back,
                ));
            }
            view.error = Some("Tài khoản hoặc mật khẩu không đúng.".to_owned());
            return Ok(LoginOutcome::Again(view));
        };
        let otp = random_otp()?;
        pending.stage = Stage::Otp {
            personal_id: person.personal_id.clone(),
            otp: otp.clone(),
        };
        let qr_ref = pending.qr_ref.clone();
        let masked_phone = mask_phone(&person.phone);
        tracing::info!(
            phone = %masked_phone,
            personal_id = %mask(&person.personal_id),
            otp = %otp,
            "simulated SMS: OTP sent"
        );
        store.sms.push_front(Sms {
            phone: masked_phone.clone(),
            personal_id: person.personal_id.clone(),
            otp,
            request: rid.to_owned(),
            qr: qr_ref,
            at: now,
        });
        store.sms.truncate(MAX_SMS);
        Ok(LoginOutcome::Otp(OtpView {
            rid: rid.to_owned(),
            masked_phone,
            redirect_origin: view.redirect_origin,
            error: None,
        }))
    }

    pub(crate) fn otp(&self, p: &Params) -> Result<OtpOutcome, PageError> {
        let rid = p.get("request").ok_or_else(PageError::expired)?;
        let given = p.get("otp").unwrap_or("").trim();
        let now = self.now();
        let mut store = self.store(now);
        let pending = store.pending.get_mut(rid).ok_or_else(PageError::expired)?;
        let Stage::Otp { personal_id, otp } = &pending.stage else {
            return Err(PageError::bad_request(
                "Chưa có mã OTP nào được gửi cho yêu cầu đăng nhập này. Vui lòng đăng nhập bằng \
                 tài khoản và mật khẩu trước.",
            ));
        };
        let personal_id = personal_id.clone();
        if ct_eq(given.as_bytes(), otp.as_bytes()) {
            let Some(done) = store.remove_pending(rid) else {
                return Err(PageError::expired());
            };
            tracing::info!(personal_id = %mask(&personal_id), "OTP accepted, login complete");
            let url = Self::issue_code(&mut store, done.req, personal_id, now)?;
            return Ok(OtpOutcome::Redirect(url));
        }
        pending.otp_failures += 1;
        let failures = pending.otp_failures;
        tracing::info!(personal_id = %mask(&personal_id), failures, "wrong OTP");
        if failures >= MAX_OTP_FAILURES {
            let back = Self::back_url(&pending.req, "too many wrong OTP codes");
            store.remove_pending(rid);
            return Err(PageError::refused(
                "Bạn đã nhập sai mã OTP quá số lần cho phép. Yêu cầu đăng nhập đã bị hủy.",
                back,
            ));
        }
        let masked_phone = self
            .person(&personal_id)
            .map(|x| mask_phone(&x.phone))
            .unwrap_or_default();
        Ok(OtpOutcome::Again(OtpView {
            rid: rid.to_owned(),
            masked_phone,
            redirect_origin: origin_of(&pending.req.redirect_uri),
            error: Some(format!(
                "Mã OTP không đúng. Bạn còn {} lần thử.",
                MAX_OTP_FAILURES - failures
            )),
        }))
    }

    fn issue_code(
        store: &mut Store,
        req: AuthRequest,
        personal_id: String,
        now: DateTime<Utc>,
    ) -> Result<String, PageError> {
        let code = random_token()?;
        let url = redirect_with(&req.redirect_uri, &[("code", &code)], req.state.as_deref());
        store.codes.insert(
            code,
            CodeGrant {
                req,
                personal_id,
                issued: now,
            },
        );
        Ok(url)
    }

    /// The person gives up: back to the client with `error=access_denied`.
    pub(crate) fn cancel(&self, p: &Params) -> Result<String, PageError> {
        let rid = p.get("request").ok_or_else(PageError::expired)?;
        let mut store = self.store(self.now());
        let pending = store.remove_pending(rid).ok_or_else(PageError::expired)?;
        tracing::info!(client_id = %pending.req.client_id, "login cancelled by the person");
        Ok(Self::back_url(&pending.req, "the user cancelled the login"))
    }

    pub(crate) fn qr_status(&self, rid: &str) -> QrStatus {
        if !plausible_id(rid) {
            return QrStatus::Expired;
        }
        let store = self.store(self.now());
        match store.pending.get(rid).map(|p| &p.stage) {
            None => QrStatus::Expired,
            Some(Stage::QrApproved { .. }) => QrStatus::Approved {
                continue_url: format!("{}/qr/{rid}/continue", self.issuer),
            },
            Some(_) => QrStatus::Pending,
        }
    }

    pub(crate) fn qr_continue(&self, rid: &str) -> Result<QrContinue, PageError> {
        if !plausible_id(rid) {
            return Err(PageError::expired());
        }
        let now = self.now();
        let mut store = self.store(now);
        let pending = store.pending.get(rid).ok_or_else(PageError::expired)?;
        let Stage::QrApproved { personal_id } = &pending.stage else {
            let mut view = Self::login_view(rid, pending);
            view.error = Some(
                "Yêu cầu đăng nhập chưa được xác nhận trên ứng dụng VNeID. Hãy quét mã QR và xác \
                 nhận, hoặc đăng nhập bằng tài khoản và mật khẩu."
                    .to_owned(),
            );
            return Ok(QrContinue::Waiting(view));
        };
        let personal_id = personal_id.clone();
        let Some(done) = store.remove_pending(rid) else {
            return Err(PageError::expired());
        };
        tracing::info!(personal_id = %mask(&personal_id), "QR login complete");
        let url = Self::issue_code(&mut store, done.req, personal_id, now)?;
        Ok(QrContinue::Redirect(url))
    }

    // ---- the phone ------------------------------------------------------------------------

    /// The app, logged in as `personal_id`, approves the QR request `request`: the QR id, or
    /// the browser's own request id (which only the browser and the test hooks know).
    pub(crate) fn phone_approve(&self, p: &Params) -> Result<(), PageError> {
        let qr_ref = p
            .get("request")
            .ok_or_else(|| PageError::bad_request("Thiếu mã yêu cầu (request)."))?;
        let personal_id = p
            .get("personal_id")
            .ok_or_else(|| PageError::bad_request("Chưa chọn người đăng nhập (personal_id)."))?;
        let person = self.person(personal_id).ok_or_else(|| {
            PageError::bad_request("Không có tài khoản VNeID nào với số định danh này.")
        })?;
        let mut store = self.store(self.now());
        let not_found = || PageError {
            status: 404,
            title: "Không tìm thấy yêu cầu",
            message: "Không tìm thấy yêu cầu đăng nhập bằng mã QR này (có thể đã hết hạn hoặc \
                      đã được xác nhận)."
                .to_owned(),
            back: None,
        };
        let rid = match store.by_ref.get(qr_ref) {
            Some(rid) => rid.clone(),
            None if store.pending.contains_key(qr_ref) => qr_ref.to_owned(),
            None => return Err(not_found()),
        };
        let pending = store.pending.get_mut(&rid).ok_or_else(not_found)?;
        if matches!(pending.stage, Stage::QrApproved { .. }) {
            return Err(not_found());
        }
        pending.stage = Stage::QrApproved {
            personal_id: person.personal_id.clone(),
        };
        tracing::info!(personal_id = %mask(&person.personal_id), "QR login approved on the phone");
        Ok(())
    }

    /// SMS newest first, and QR requests still waiting for the phone.
    pub(crate) fn phone_view(&self) -> (Vec<Sms>, Vec<PendingQr>) {
        let store = self.store(self.now());
        let sms = store.sms.iter().cloned().collect();
        let mut qr: Vec<PendingQr> = store
            .pending
            .values()
            .filter(|p| !matches!(p.stage, Stage::QrApproved { .. }))
            .map(|p| PendingQr {
                qr_ref: p.qr_ref.clone(),
                client_id: p.req.client_id.clone(),
                created: p.created,
            })
            .collect();
        qr.sort_by_key(|q| std::cmp::Reverse(q.created));
        (sms, qr)
    }

    // ---- the back channel -----------------------------------------------------------------

    fn authenticate(
        &self,
        p: &Params,
        authorization: Option<&[u8]>,
    ) -> Result<&SimClient, OAuthError> {
        let basic = match authorization {
            None => None,
            Some(h) => Some(parse_basic(h).ok_or_else(|| {
                OAuthError::invalid_client("malformed HTTP Basic client credentials")
            })?),
        };
        let (client_id, secret) = match (basic, p.get("client_secret")) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not both",
                ))
            }
            (Some((id, secret)), None) => {
                if p.get("client_id").is_some_and(|b| b != id) {
                    return Err(OAuthError::invalid_request(
                        "client_id in the body differs from the authenticated client",
                    ));
                }
                (id, secret)
            }
            (None, Some(secret)) => {
                let id = p.get("client_id").ok_or_else(|| {
                    OAuthError::invalid_client("client_id is required with client_secret_post")
                })?;
                (id.to_owned(), secret.to_owned())
            }
            (None, None) => {
                return Err(OAuthError::invalid_client(
                    "client authentication is required",
                ))
            }
        };
        let client = self.client(&client_id);
        let expected = client.map(|c| c.client_secret.as_bytes()).unwrap_or(b"");
        let ok = ct_eq(expected, secret.as_bytes());
        match client {
            Some(c) if ok => Ok(c),
            _ => {
                tracing::info!(client_id = %client_id, "token: client authentication failed");
                Err(OAuthError::invalid_client("client authentication failed"))
            }
        }
    }

    pub(crate) fn token(
        &self,
        p: &Params,
        authorization: Option<&[u8]>,
    ) -> Result<Value, OAuthError> {
        let client = self.authenticate(p, authorization)?;
        match p.get("grant_type") {
            Some("authorization_code") => {}
            None => return Err(OAuthError::invalid_request("grant_type is required")),
            Some(_) => {
                return Err(OAuthError {
                    status: 400,
                    error: "unsupported_grant_type",
                    description: "only authorization_code is supported".to_owned(),
                })
            }
        }
        let code = p
            .get("code")
            .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let redirect_uri = p
            .get("redirect_uri")
            .ok_or_else(|| OAuthError::invalid_request("redirect_uri is required"))?;
        let now = self.now();
        let grant = {
            let mut store = self.store(now);
            let Some(grant) = store.codes.remove(code) else {
                let revoked = store
                    .spent
                    .get_mut(code)
                    .and_then(|s| s.access_token.take());
                if let Some(token) = revoked {
                    store.tokens.remove(&token);
                    tracing::warn!(
                        client_id = %client.client_id,
                        "authorization code replayed: the access token it issued is revoked"
                    );
                }
                return Err(OAuthError::invalid_grant(
                    "authorization code is invalid, expired or already used",
                ));
            };
            store.spent.insert(
                code.to_owned(),
                SpentCode {
                    at: now,
                    access_token: None,
                },
            );
            grant
        };
        if grant.req.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "authorization code was issued to another client",
            ));
        }
        if grant.req.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        if grant.issued + CODE_TTL <= now {
            return Err(OAuthError::invalid_grant("authorization code expired"));
        }
        match (&grant.req.code_challenge, p.get("code_verifier")) {
            (None, None) => {}
            (Some(challenge), Some(verifier)) => {
                if !valid_verifier(verifier)
                    || !ct_eq(s256(verifier).as_bytes(), challenge.as_bytes())
                {
                    return Err(OAuthError::invalid_grant("PKCE verification failed"));
                }
            }
            (Some(_), None) => {
                return Err(OAuthError::invalid_grant("code_verifier is required"));
            }
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier given but the authorization request had no code_challenge",
                ));
            }
        }
        let person = self.person(&grant.personal_id).ok_or_else(|| {
            tracing::error!("a code names a person who is not configured");
            OAuthError::server_error()
        })?;
        let mut claims = json!({
            "iss": self.issuer,
            "sub": person.sub,
            "aud": client.client_id,
            "iat": now.timestamp(),
            "exp": (now + ID_TOKEN_TTL).timestamp(),
            "acr": SESSION_ACR,
        });
        if let (Some(nonce), Some(obj)) = (&grant.req.nonce, claims.as_object_mut()) {
            obj.insert("nonce".to_owned(), Value::String(nonce.clone()));
        }
        let id_token = self.signer.sign(&claims).map_err(|e| {
            tracing::error!(error = %e, "ID token signing failed");
            OAuthError::server_error()
        })?;
        let access_token = random_token()?;
        {
            let mut store = self.store(now);
            store.tokens.insert(
                access_token.clone(),
                AccessGrant {
                    personal_id: grant.personal_id.clone(),
                    expires: now + ACCESS_TOKEN_TTL,
                },
            );
            if let Some(spent) = store.spent.get_mut(code) {
                spent.access_token = Some(access_token.clone());
            }
        }
        tracing::info!(client_id = %client.client_id, "tokens issued");
        Ok(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_TTL.num_seconds(),
            "id_token": id_token,
            "scope": "openid",
        }))
    }

    /// Userinfo for a Bearer `Authorization` header value; `None` when the token is missing,
    /// unknown or expired.
    pub(crate) fn userinfo(&self, authorization: Option<&[u8]>) -> Option<Value> {
        let header = std::str::from_utf8(authorization?).ok()?;
        let (scheme, token) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let token = token.trim();
        let personal_id = {
            let store = self.store(self.now());
            store.tokens.get(token)?.personal_id.clone()
        };
        let person = self.person(&personal_id)?;
        let mut out = Map::new();
        let mut put = |field: &str, v: Value| {
            out.insert(self.output_name(field), v);
        };
        put("sub", json!(person.sub));
        put("TechID", json!(person.tech_id));
        put("LoaiTaiKhoan", json!(person.account_type));
        put("HoVaTen", json!(person.full_name));
        put("SoDinhDanh", json!(person.personal_id));
        put("NgayThangNamSinh", json!(person.birth_date));
        put("loginIdp", json!(person.login_idp));
        if let Some(ial) = &person.ial {
            put("IAL", ial.clone());
        }
        put("loAs", json!(person.loas));
        put("userProfileUri", json!(format!("{}/profile", self.issuer)));
        put("logoutUri", json!(format!("{}/logout", self.issuer)));
        Some(Value::Object(out))
    }
}

/// `Basic base64(form-urlencoded id ":" form-urlencoded secret)` (RFC 6749 §2.3.1).
fn parse_basic(header: &[u8]) -> Option<(String, String)> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, rest) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let id = String::from_utf8(params::decode(&decoded[..colon]).ok()?).ok()?;
    let secret = String::from_utf8(params::decode(&decoded[colon + 1..]).ok()?).ok()?;
    if id.is_empty() {
        return None;
    }
    Some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vneid_core::FixedClock;

    fn broker(clock: Arc<FixedClock>) -> Broker {
        let config = SimulatorConfig {
            issuer: "http://127.0.0.1:9/sim/".to_owned(),
            clients: vec![SimClient {
                client_id: "gw".to_owned(),
                client_secret: "s3cret".to_owned(),
                redirect_uris: vec!["http://127.0.0.1:9/cb".to_owned()],
            }],
            people: crate::default_people(),
            field_names: BTreeMap::new(),
        };
        Broker::new(config, clock).unwrap()
    }

    fn params(s: &str) -> Params {
        Params::parse(s.as_bytes(), 10_000).unwrap()
    }

    fn start(b: &Broker) -> LoginView {
        match b
            .authorize(&params(
                "client_id=gw&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&response_type=code&scope=openid&state=st",
            ))
            .unwrap()
        {
            AuthorizeOutcome::Login(v) => v,
            AuthorizeOutcome::Redirect(u) => panic!("unexpected redirect {u}"),
        }
    }

    fn login(b: &Broker, rid: &str) -> String {
        let out = b
            .login(&params(&format!(
                "request={rid}&personal_id=052090000123&password=matkhau123"
            )))
            .unwrap();
        assert!(matches!(out, LoginOutcome::Otp(_)));
        b.phone_view().0[0].otp.clone()
    }

    fn code_of(url: &str) -> String {
        Url::parse(url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-03-01T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn issuer_trailing_slash_is_removed() {
        let b = broker(Arc::new(FixedClock::new(now())));
        assert_eq!(b.issuer, "http://127.0.0.1:9/sim");
        assert_eq!(b.issuer_origin, "http://127.0.0.1:9");
    }

    #[test]
    fn pending_login_expires_after_ten_minutes() {
        let clock = Arc::new(FixedClock::new(now()));
        let b = broker(clock.clone());
        let v = start(&b);
        clock.advance(PENDING_TTL + Duration::seconds(1));
        let e = b
            .login(&params(&format!(
                "request={}&personal_id=052090000123&password=matkhau123",
                v.rid
            )))
            .err()
            .unwrap();
        assert_eq!(e.title, PageError::expired().title);
        assert!(matches!(b.qr_status(&v.rid), QrStatus::Expired));
    }

    #[test]
    fn code_expires_after_sixty_seconds() {
        let clock = Arc::new(FixedClock::new(now()));
        let b = broker(clock.clone());
        let v = start(&b);
        let otp = login(&b, &v.rid);
        let OtpOutcome::Redirect(url) = b
            .otp(&params(&format!("request={}&otp={otp}", v.rid)))
            .unwrap()
        else {
            panic!("no redirect")
        };
        clock.advance(CODE_TTL);
        let e = b
            .token(
                &params(&format!(
                    "grant_type=authorization_code&code={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&client_id=gw&client_secret=s3cret",
                    code_of(&url)
                )),
                None,
            )
            .unwrap_err();
        assert_eq!(e.error, "invalid_grant");
    }

    #[test]
    fn access_token_expires() {
        let clock = Arc::new(FixedClock::new(now()));
        let b = broker(clock.clone());
        let v = start(&b);
        let otp = login(&b, &v.rid);
        let OtpOutcome::Redirect(url) = b
            .otp(&params(&format!("request={}&otp={otp}", v.rid)))
            .unwrap()
        else {
            panic!("no redirect")
        };
        let t = b
            .token(
                &params(&format!(
                    "grant_type=authorization_code&code={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&client_id=gw&client_secret=s3cret",
                    code_of(&url)
                )),
                None,
            )
            .unwrap();
        let header = format!("Bearer {}", t["access_token"].as_str().unwrap());
        assert!(b.userinfo(Some(header.as_bytes())).is_some());
        clock.advance(ACCESS_TOKEN_TTL);
        assert!(b.userinfo(Some(header.as_bytes())).is_none());
    }

    #[test]
    fn otp_is_six_digits() {
        for _ in 0..100 {
            let o = random_otp().unwrap();
            assert_eq!(o.len(), 6);
            assert!(o.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let h = format!("Basic {}", STANDARD.encode("my%20client:p%3Ass+w"));
        assert_eq!(
            parse_basic(h.as_bytes()),
            Some(("my client".to_owned(), "p:ss w".to_owned()))
        );
        assert_eq!(parse_basic(b"Bearer abc"), None);
        assert_eq!(parse_basic(b"Basic !!!"), None);
        assert_eq!(parse_basic(b"Basic \xff"), None);
        let no_colon = format!("Basic {}", STANDARD.encode("abc"));
        assert_eq!(parse_basic(no_colon.as_bytes()), None);
    }

    #[test]
    fn constant_time_equality_is_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn config_errors_name_the_key() {
        let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(now()));
        let mut c = SimulatorConfig {
            issuer: "not a url".to_owned(),
            clients: vec![],
            people: vec![],
            field_names: BTreeMap::new(),
        };
        let e = Broker::new(c.clone(), clock.clone())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("issuer"), "{e}");
        c.issuer = "http://127.0.0.1:1".to_owned();
        c.field_names.insert("Nope".to_owned(), "x".to_owned());
        let e = Broker::new(c.clone(), clock.clone())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("field_names.Nope"), "{e}");
        c.field_names.clear();
        c.field_names.insert("HoVaTen".to_owned(), "sub".to_owned());
        let e = Broker::new(c.clone(), clock.clone())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("\"sub\""), "{e}");
        c.field_names.clear();
        c.clients.push(SimClient {
            client_id: "a".to_owned(),
            client_secret: "b".to_owned(),
            redirect_uris: vec!["/relative".to_owned()],
        });
        let e = Broker::new(c, clock).err().unwrap().to_string();
        assert!(e.contains("clients[0].redirect_uris[0]"), "{e}");
    }
}
