//! The browser side of a login: the authorization request, password then OTP, cancelling, and
//! the authorization code a finished login (password + OTP here, QR in `qr`) is given.

use chrono::{DateTime, Utc};
use url::Url;
use vneid_core::mask;

use super::error::PageError;
use super::secret::{ct_eq, random_otp, random_ref, random_token};
use super::store::{AuthRequest, CodeGrant, Pending, Sms, Stage, Store};
use super::{Broker, MAX_OTP_FAILURES, MAX_PASSWORD_FAILURES, MAX_PENDING, MAX_SMS};
use crate::params::Params;
use crate::people::mask_phone;

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

/// What an accepted or refused authorization request shows.
pub(crate) enum AuthorizeOutcome {
    Login(LoginView),
    /// An error the client is told about at its (validated) redirect URI.
    Redirect(String),
}

/// After the password form: the form again (with an error), or the OTP page.
pub(crate) enum LoginOutcome {
    Again(LoginView),
    Otp(OtpView),
}

/// After the OTP form: the form again (with an error), or the redirect carrying the code.
pub(crate) enum OtpOutcome {
    Again(OtpView),
    Redirect(String),
}

/// An S256 challenge is a base64url SHA-256: exactly 43 characters of the base64url alphabet.
fn valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
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

/// The origin of `uri`, or an empty string if it does not parse.
fn origin_of(uri: &str) -> String {
    Url::parse(uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

impl Broker {
    /// The client's redirect URI with `error=access_denied`, `why` and the request's `state`.
    fn back_url(req: &AuthRequest, why: &str) -> String {
        redirect_with(
            &req.redirect_uri,
            &[("error", "access_denied"), ("error_description", why)],
            req.state.as_deref(),
        )
    }

    /// The empty login page of the pending login `rid`.
    pub(super) fn login_view(rid: &str, p: &Pending) -> LoginView {
        LoginView {
            rid: rid.to_owned(),
            qr_ref: p.qr_ref.clone(),
            redirect_origin: origin_of(&p.req.redirect_uri),
            personal_id: String::new(),
            error: None,
        }
    }

    /// Checks an authorization request. Errors are shown to the browser until the client and its
    /// redirect URI are known, then sent to the client; an accepted request becomes a pending
    /// login (refused when [`MAX_PENDING`] are waiting).
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

    /// The password form. A right password sends an OTP (to the phone page and the log); the
    /// [`MAX_PASSWORD_FAILURES`]th wrong one cancels the pending login.
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

    /// The OTP form. The right OTP finishes the login with a code; the [`MAX_OTP_FAILURES`]th
    /// wrong one cancels the pending login.
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

    /// A fresh authorization code for `personal_id`, stored for [`super::CODE_TTL`]; returns
    /// the client's redirect URI carrying it (and `state`).
    pub(super) fn issue_code(
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
}
