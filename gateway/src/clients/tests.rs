#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

use chrono::Utc;
use vneid_store::ClientRow;

use super::register::check_client_id;
use super::*;
use crate::config::SubjectType;

fn row(id: &str, subject_type: &str, redirect: &[&str]) -> ClientRow {
    ClientRow {
        client_id: id.into(),
        name: None,
        secret_hash: None,
        token_endpoint_auth_method: "none".into(),
        redirect_uris: redirect.iter().map(|s| s.to_string()).collect(),
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        grant_types: vec!["authorization_code".into()],
        scopes: vec!["openid".into()],
        min_level: None,
        upstreams: vec![],
        jwks: None,
        subject_type: subject_type.into(),
        sector_identifier: None,
        created_at: Utc::now(),
        previous_secret: None,
        account_types: None,
        require_pushed_authorization_requests: false,
        dpop_bound_access_tokens: false,
        profile: "standard".into(),
    }
}

fn config_client(id: &str) -> Client {
    let mut c = Client::from_row(&row(id, "public", &["https://c.example/cb"])).unwrap();
    c.source = ClientSource::Config;
    c.created_at = None;
    c
}

#[test]
fn configuration_wins_over_the_database_and_reload_replaces_database_clients() {
    let reg = ClientRegistry::new([config_client("portal")]);
    reg.set_database_clients(&[
        row("portal", "public", &["https://db.example/cb"]),
        row("app", "public", &["https://app.example/cb"]),
    ]);
    let portal = reg.get("portal").unwrap();
    assert_eq!(portal.source, ClientSource::Config);
    assert_eq!(portal.redirect_uris, ["https://c.example/cb"]);
    assert_eq!(reg.get("app").unwrap().source, ClientSource::Database);
    assert!(reg.in_config("portal") && !reg.in_config("app"));
    let ids: Vec<String> = reg.list().iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, ["portal", "app"]);
    // The database no longer has `app`: gone; the configuration client stays.
    reg.set_database_clients(&[]);
    assert!(reg.get("app").is_none());
    assert!(reg.get("portal").is_some());
}

#[test]
fn unusable_database_clients_are_skipped() {
    let reg = ClientRegistry::new([]);
    let mut bad = row("bad", "public", &[]);
    bad.token_endpoint_auth_method = "magic".into();
    let pairwise_without_sector = row(
        "pw",
        "pairwise",
        &["https://a.example/cb", "https://b.example/cb"],
    );
    reg.set_database_clients(&[bad, pairwise_without_sector, row("ok", "public", &[])]);
    assert!(reg.get("bad").is_none() && reg.get("pw").is_none());
    assert!(reg.get("ok").is_some());
}

#[test]
fn a_pairwise_client_takes_its_sector_from_its_redirect_host_or_sector_identifier() {
    let c = Client::from_row(&row(
        "pw",
        "pairwise",
        &["https://Portal.example/cb", "https://portal.example/cb2"],
    ))
    .unwrap();
    assert_eq!(c.subject_type, SubjectType::Pairwise);
    assert_eq!(c.sector.as_deref(), Some("portal.example"));
    let mut r = row(
        "pw",
        "pairwise",
        &["https://a.example/cb", "https://b.example/cb"],
    );
    r.sector_identifier = Some("sector.example".into());
    assert_eq!(
        Client::from_row(&r).unwrap().sector.as_deref(),
        Some("sector.example")
    );
    assert_eq!(
        Client::from_row(&row("p", "public", &["https://a.example/cb"]))
            .unwrap()
            .sector,
        None
    );
}

#[test]
fn registered_client_ids_are_path_safe() {
    assert!(check_client_id("portal-1.tinh_x~").is_ok());
    for bad in ["", "a/b", "a b", "ứng-dụng", &"x".repeat(129)] {
        assert!(check_client_id(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_row_of_an_earlier_build_admits_both_account_types_and_an_unknown_one_is_refused() {
    use vneid_core::AccountType;
    let c = Client::from_row(&row("a", "public", &["https://c.example/cb"])).unwrap();
    assert_eq!(c.account_types, AccountType::ALL.to_vec());
    let mut r = row("b", "public", &["https://c.example/cb"]);
    r.account_types = Some(vec!["citizen".into()]);
    assert_eq!(
        Client::from_row(&r).unwrap().account_types,
        [AccountType::Citizen]
    );
    r.account_types = Some(vec!["company".into()]);
    assert!(Client::from_row(&r).unwrap_err().contains("company"));
}

#[test]
fn the_fapi2_profile_of_a_stored_client_sets_its_rules_per_request() {
    use std::time::Duration;
    let mut r = row("bank", "public", &["https://bank.example/cb"]);
    r.token_endpoint_auth_method = "private_key_jwt".into();
    let standard = Client::from_row(&r).unwrap();
    assert!(!standard.requires_par() && !standard.requires_dpop() && !standard.requires_pkce());
    assert_eq!(
        standard.code_ttl(Duration::from_secs(300)),
        Duration::from_secs(300)
    );
    assert!(standard.allows_alg("RS256"));

    r.profile = "fapi2".into();
    let fapi = Client::from_row(&r).unwrap();
    assert!(fapi.requires_par() && fapi.requires_dpop() && fapi.requires_pkce());
    assert_eq!(
        fapi.code_ttl(Duration::from_secs(300)),
        Duration::from_secs(60)
    );
    assert_eq!(
        fapi.code_ttl(Duration::from_secs(30)),
        Duration::from_secs(30)
    );
    for alg in ["ES256", "PS256", "EdDSA"] {
        assert!(fapi.allows_alg(alg), "{alg}");
    }
    for alg in ["RS256", "HS256", "none", ""] {
        assert!(!fapi.allows_alg(alg), "{alg}");
    }
    // Its own DPoP setting, without the profile.
    r.profile = "standard".into();
    r.dpop_bound_access_tokens = true;
    assert!(Client::from_row(&r).unwrap().requires_dpop());
    r.profile = "fapi3".into();
    assert!(Client::from_row(&r).unwrap_err().contains("fapi3"));
}
