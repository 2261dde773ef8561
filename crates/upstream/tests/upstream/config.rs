//! `[[upstreams]]` parsing and `validate()`.

use secrecy::ExposeSecret as _;
use serde_json::{json, Value};
use url::Url;
use vneid_upstream::{ClaimNames, ClientAuthMethod, Upstream, UpstreamConfig};

fn base() -> Value {
    json!({
        "id": "dvcqg",
        "issuer": "https://xacthuc.dichvucong.gov.vn",
        "client_id": "gw",
        "client_secret": "secret",
    })
}

fn parse(v: Value) -> UpstreamConfig {
    serde_json::from_value(v).unwrap()
}

fn validate_with(key: &str, value: Value) -> Result<(), String> {
    let mut v = base();
    v[key] = value;
    parse(v).validate()
}

#[test]
fn defaults_are_the_national_brokers() {
    let config = parse(base());
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(config.scopes, ["openid"]);
    assert_eq!(
        config.token_endpoint_auth_method,
        ClientAuthMethod::ClientSecretBasic
    );
    assert_eq!(config.claims, ClaimNames::default());
    assert_eq!(config.claims.level, "IAL");
    assert_eq!(config.claims.personal_id, "SoDinhDanh");
    assert_eq!(config.claims.birthdate_format, "%Y%m%d");
    assert_eq!(config.claims.tech_id, "TechID");
    assert_eq!(config.client_secret.expose_secret(), "secret");
    assert!(!format!("{config:?}").contains("secret\""));
}

#[test]
fn unknown_keys_are_refused() {
    let mut v = base();
    v["issuer_url"] = json!("https://x.example");
    assert!(serde_json::from_value::<UpstreamConfig>(v).is_err());
    let mut v = base();
    v["claims"] = json!({"levle": "IAL"});
    assert!(serde_json::from_value::<UpstreamConfig>(v).is_err());
}

#[test]
fn partial_claim_names_keep_the_other_defaults() {
    let mut v = base();
    v["claims"] = json!({"level": "loa"});
    v["token_endpoint_auth_method"] = json!("client_secret_post");
    let config = parse(v);
    assert_eq!(config.claims.level, "loa");
    assert_eq!(config.claims.subject, "sub");
    assert_eq!(
        config.token_endpoint_auth_method,
        ClientAuthMethod::ClientSecretPost
    );
}

#[test]
fn http_issuer_on_a_public_host_is_refused_naming_the_key() {
    assert_eq!(
        validate_with("issuer", json!("http://xacthuc.dichvucong.gov.vn")),
        Err("upstreams[dvcqg].issuer: must be https:// except on loopback".into())
    );
}

#[test]
fn http_is_allowed_on_loopback_only() {
    for ok in [
        "http://127.0.0.1:8080/simulator",
        "http://127.1.2.3",
        "http://[::1]:9000",
        "http://localhost:8080",
    ] {
        assert_eq!(validate_with("issuer", json!(ok)), Ok(()), "{ok}");
    }
    for bad in ["http://10.1.2.3", "http://192.168.1.1:8080", "http://[::2]"] {
        assert!(validate_with("issuer", json!(bad)).is_err(), "{bad}");
    }
}

#[test]
fn every_endpoint_follows_the_same_https_rule() {
    for key in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
    ] {
        assert_eq!(
            validate_with(key, json!("http://broker.example/x")),
            Err(format!(
                "upstreams[dvcqg].{key}: must be https:// except on loopback"
            ))
        );
        assert_eq!(validate_with(key, json!("http://127.0.0.1/x")), Ok(()));
    }
}

#[test]
fn issuer_is_required_even_with_explicit_endpoints() {
    let mut v = base();
    v.as_object_mut().unwrap().remove("issuer");
    for (k, path) in [
        ("authorization_endpoint", "/a"),
        ("token_endpoint", "/t"),
        ("userinfo_endpoint", "/u"),
        ("jwks_uri", "/j"),
    ] {
        v[k] = json!(format!("https://broker.example{path}"));
    }
    let err = parse(v).validate().unwrap_err();
    assert!(
        err.starts_with("upstreams[dvcqg].issuer: required"),
        "{err}"
    );
}

#[test]
fn other_bad_values_are_refused_naming_the_key() {
    let cases = [
        ("id", json!("bad id"), "upstreams[bad id].id:"),
        ("id", json!(""), "upstreams[].id:"),
        ("client_id", json!(""), "upstreams[dvcqg].client_id:"),
        (
            "client_secret",
            json!(""),
            "upstreams[dvcqg].client_secret:",
        ),
        ("scopes", json!(["profile"]), "upstreams[dvcqg].scopes:"),
        (
            "scopes",
            json!(["openid", "a b"]),
            "upstreams[dvcqg].scopes:",
        ),
        ("display_name", json!(" "), "upstreams[dvcqg].display_name:"),
        (
            "issuer",
            json!("https://broker.example/?x=1"),
            "upstreams[dvcqg].issuer:",
        ),
        (
            "claims",
            json!({"birthdate_format": "%Y-%m"}),
            "upstreams[dvcqg].claims.birthdate_format:",
        ),
        (
            "claims",
            json!({"level": ""}),
            "upstreams[dvcqg].claims.level:",
        ),
    ];
    for (key, value, prefix) in cases {
        let err = validate_with(key, value.clone()).unwrap_err();
        assert!(err.starts_with(prefix), "{key}={value}: {err}");
    }
}

#[test]
fn new_refuses_an_invalid_config_and_a_public_http_redirect_uri() {
    let http = vneid_upstream::http_client(std::time::Duration::from_secs(1));
    let mut v = base();
    v["issuer"] = json!("http://broker.example");
    let err = Upstream::new(
        parse(v),
        Url::parse("https://gw.example/login/dvcqg/callback").unwrap(),
        http.clone(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "config");
    let err = Upstream::new(
        parse(base()),
        Url::parse("http://gw.example/login/dvcqg/callback").unwrap(),
        http.clone(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "config");
    let up = Upstream::new(
        parse(base()),
        Url::parse("https://gw.example/login/dvcqg/callback").unwrap(),
        http,
    )
    .unwrap();
    assert_eq!(up.id(), "dvcqg");
}
