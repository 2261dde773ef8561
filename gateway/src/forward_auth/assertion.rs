//! The answer of `{prefix}/auth` for a live session: the assertion (a JWT signed with the
//! gateway's keys, `typ` `vneid-assertion+jwt`, `aud` the app, a minute at most) and the plain
//! headers, built once and served from the cache until the assertion nears its end.

use actix_web::http::header::{HeaderName, HeaderValue};
use vneid_tokens::{AppAssertionClaims, TYP_APP_ASSERTION};

use super::session::{AppClaims, AppSession};
use super::App;
use crate::errors::ServiceError;
use crate::state::AppState;

/// An assertion lives this long (seconds).
pub const ASSERTION_LIFETIME: i64 = 60;

/// Every header the gateway sets on `/auth`'s 200 (the proxies' snippets list the same).
pub const ASSERTION: &str = "x-vneid-assertion";
pub const SUB: &str = "x-vneid-sub";
pub const LEVEL: &str = "x-vneid-level";
pub const NAME: &str = "x-vneid-name";
pub const BIRTHDATE: &str = "x-vneid-birthdate";
pub const PERSONAL_ID: &str = "x-vneid-personal-id";
pub const ACCOUNT: &str = "x-vneid-account";
pub const ACCOUNT_UNIT: &str = "x-vneid-account-unit";
pub const ACCOUNT_KIND: &str = "x-vneid-account-kind";

/// What `/auth` answers for one session: the headers, and when the assertion in them expires.
#[derive(Debug)]
pub struct Answer {
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The assertion's `exp` (unix seconds).
    pub exp: i64,
}

/// A header value as the apps read it: UTF-8, percent-encoded except for `A–Z a–z 0–9 - . _ ~`
/// (as in a URL), so that Vietnamese names survive every proxy; decode with
/// `urllib.parse.unquote` or any URL decoder.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn header(name: &'static str, value: &str) -> Result<(HeaderName, HeaderValue), ServiceError> {
    let v = HeaderValue::from_str(value).map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok((HeaderName::from_static(name), v))
}

/// Signs a fresh assertion for `session` and builds the headers: `sub`, the level, and the
/// claims the app lists (and only those).
pub fn answer(
    state: &AppState,
    app: &App,
    session: &AppSession,
    now: i64,
) -> Result<Answer, ServiceError> {
    let all = session.claims(state)?;
    let listed = |c: &str| app.settings.claims.iter().any(|l| l == c);
    let claims = AppClaims {
        name: all.name.filter(|_| listed("name")),
        birthdate: all.birthdate.filter(|_| listed("birthdate")),
        personal_id: all.personal_id.filter(|_| listed("personal_id")),
        account: all.account.filter(|_| listed("account")),
    };
    let exp = now + ASSERTION_LIFETIME;
    let jwt = state
        .key_set()
        .sign(
            TYP_APP_ASSERTION,
            &AppAssertionClaims {
                iss: state.issuer.clone(),
                aud: app.id.clone(),
                sub: session.sub.clone(),
                iat: now,
                exp,
                auth_time: session.auth_time,
                acr: session.level.acr().to_owned(),
                name: claims.name.clone(),
                birthdate: claims.birthdate.clone(),
                personal_id: claims.personal_id.clone(),
                account: claims.account.clone(),
            },
        )
        .map_err(|e| ServiceError::Internal(format!("signing an app assertion: {e}")))?;
    let mut headers = vec![
        header(ASSERTION, &jwt)?,
        header(SUB, &encode(&session.sub))?,
        header(LEVEL, &session.level.number().to_string())?,
    ];
    for (name, value) in [
        (NAME, claims.name.as_deref()),
        (BIRTHDATE, claims.birthdate.as_deref()),
        (PERSONAL_ID, claims.personal_id.as_deref()),
    ] {
        if let Some(v) = value {
            headers.push(header(name, &encode(v))?);
        }
    }
    if let Some(account) = &claims.account {
        for (name, field) in [
            (ACCOUNT, "username"),
            (ACCOUNT_UNIT, "unit_code"),
            (ACCOUNT_KIND, "kind"),
        ] {
            if let Some(v) = account.get(field).and_then(serde_json::Value::as_str) {
                headers.push(header(name, &encode(v))?);
            }
        }
    }
    Ok(Answer { headers, exp })
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn values_are_percent_encoded_utf8() {
        assert_eq!(encode("Nguyễn Văn An"), "Nguy%E1%BB%85n%20V%C4%83n%20An");
        assert_eq!(encode("cuonglv"), "cuonglv");
        assert_eq!(encode("a/b%c\r\n"), "a%2Fb%25c%0D%0A");
        assert_eq!(encode("1990-01-15"), "1990-01-15");
    }
}
