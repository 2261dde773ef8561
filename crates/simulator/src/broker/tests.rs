//! Unit tests of the broker: expiry with a moved clock, OTPs, Basic credentials, constant-time
//! equality and configuration errors.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use url::Url;
use vneid_core::FixedClock;

use super::secret::{ct_eq, random_otp};
use super::token::parse_basic;
use super::*;
use crate::params::Params;

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
