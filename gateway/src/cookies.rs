//! The gateway's cookies, built in one place: the SSO session cookie and the cookie that binds
//! a login in progress to the browser that started it. Both are HttpOnly, SameSite=Lax (sent
//! on the top-level GET that comes back from the upstream, never on a cross-site POST or
//! sub-request) and Secure when the issuer is `https://`. The cookies a protected app's login
//! sets on the app's own host are in [`app`].

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};

use crate::state::AppState;

/// The SSO session cookie.
pub const SESSION: &str = "vneid_sso";

/// Prefix of the login-binding cookies, one per login in progress.
const BINDING_PREFIX: &str = "vneid_login_";

fn base<'c>(state: &AppState, name: String, value: String, path: String) -> Cookie<'c> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.issuer.starts_with("https://"))
        .finish()
}

fn seconds(d: std::time::Duration) -> CookieDuration {
    CookieDuration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The SSO session cookie holding `value`, for the session's lifetime.
pub fn session(state: &AppState, value: String) -> Cookie<'static> {
    let mut c = base(state, SESSION.into(), value, "/".into());
    c.set_max_age(seconds(state.settings.tokens.session_ttl));
    c
}

/// Removes the SSO session cookie.
pub fn session_removal(state: &AppState) -> Cookie<'static> {
    let mut c = base(state, SESSION.into(), String::new(), "/".into());
    c.set_max_age(CookieDuration::ZERO);
    c
}

/// The name of the binding cookie of the login whose upstream `state` is given: one cookie per
/// login, so that several tabs can log in at once.
pub fn binding_name(upstream_state: &str) -> String {
    let short: String = upstream_state
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(16)
        .collect();
    format!("{BINDING_PREFIX}{short}")
}

/// The path of an upstream's callback: the only place a binding cookie is sent.
fn callback_path(upstream: &str) -> String {
    format!("/login/{upstream}/callback")
}

/// The binding cookie of a login that went to `upstream` with `upstream_state`.
pub fn binding(
    state: &AppState,
    upstream: &str,
    upstream_state: &str,
    value: String,
) -> Cookie<'static> {
    let mut c = base(
        state,
        binding_name(upstream_state),
        value,
        callback_path(upstream),
    );
    c.set_max_age(seconds(state.settings.tokens.login_ttl));
    c
}

/// Removes the binding cookie once its login has come back.
pub fn binding_removal(state: &AppState, upstream: &str, upstream_state: &str) -> Cookie<'static> {
    let mut c = base(
        state,
        binding_name(upstream_state),
        String::new(),
        callback_path(upstream),
    );
    c.set_max_age(CookieDuration::ZERO);
    c
}

/// The cookies of a protected app (`forward_auth`), set on the app's own host: HttpOnly,
/// SameSite=Lax, Secure unless the app is served over plain http (loopback only).
pub mod app {
    use super::{seconds, CookieDuration};
    use actix_web::cookie::{Cookie, SameSite};

    /// The app session cookie of app `id`: one name per app, so that apps sharing a host under
    /// different prefixes keep their sessions apart.
    pub fn session_name(id: &str) -> String {
        format!("vneid_app_{id}")
    }

    /// The binding cookie of a login started at the app with `state`, sent only to its callback.
    pub fn binding_name(state: &str) -> String {
        let short: String = state
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(16)
            .collect();
        format!("vneid_app_login_{short}")
    }

    fn base(name: String, value: String, path: String, secure: bool) -> Cookie<'static> {
        Cookie::build(name, value)
            .path(path)
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(secure)
            .finish()
    }

    /// The app session cookie (Path=/), for the session's lifetime.
    pub fn session(
        id: &str,
        value: String,
        ttl: std::time::Duration,
        secure: bool,
    ) -> Cookie<'static> {
        let mut c = base(session_name(id), value, "/".into(), secure);
        c.set_max_age(seconds(ttl));
        c
    }

    /// Removes the app session cookie.
    pub fn session_removal(id: &str, secure: bool) -> Cookie<'static> {
        let mut c = base(session_name(id), String::new(), "/".into(), secure);
        c.set_max_age(CookieDuration::ZERO);
        c
    }

    /// The binding cookie of a login started at the app, sent only to `callback_path`.
    pub fn binding(
        state: &str,
        value: String,
        callback_path: &str,
        ttl: std::time::Duration,
        secure: bool,
    ) -> Cookie<'static> {
        let mut c = base(binding_name(state), value, callback_path.into(), secure);
        c.set_max_age(seconds(ttl));
        c
    }

    /// Removes the binding cookie once its login has come back.
    pub fn binding_removal(state: &str, callback_path: &str, secure: bool) -> Cookie<'static> {
        let mut c = base(
            binding_name(state),
            String::new(),
            callback_path.into(),
            secure,
        );
        c.set_max_age(CookieDuration::ZERO);
        c
    }
}
