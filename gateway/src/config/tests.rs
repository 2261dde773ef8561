#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.toml");
    std::fs::write(&path, text).unwrap();
    Settings::load(
        Some(&path),
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

const MINIMAL: &str = r#"
[[upstreams]]
id = "dvcqg"
issuer = "https://xacthuc.dichvucong.gov.vn"
client_id = "c"
client_secret = "s"
"#;

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
    assert_eq!(parse_duration("8h"), Ok(Duration::from_secs(8 * 3600)));
    assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
    assert!(parse_duration("ten").is_err());
    assert_eq!(
        parse_duration("5y"),
        Ok(Duration::from_secs(5 * 365 * 86400))
    );
    assert!(parse_duration("10w").is_err());
    assert!(parse_duration("99999999999999999999d").is_err());
}

#[test]
fn audit_retention_is_a_duration_or_forever_and_never_zero() {
    assert_eq!(
        load(MINIMAL, &[]).unwrap().audit.retain,
        Some(crate::config::DEFAULT_AUDIT_RETAIN)
    );
    let forever = load(&format!("{MINIMAL}[audit]\nretain = \"forever\"\n"), &[]).unwrap();
    assert_eq!(forever.audit.retain, None);
    let days = load(&format!("{MINIMAL}[audit]\nretain = \"400d\"\n"), &[]).unwrap();
    assert_eq!(days.audit.retain, Some(Duration::from_secs(400 * 86400)));
    let zero = load(&format!("{MINIMAL}[audit]\nretain = \"0s\"\n"), &[]).unwrap_err();
    assert!(zero.to_string().contains("forever"), "{zero}");
}

#[test]
fn unknown_key_is_named() {
    let e = load("[server]\nbnd = \"x\"\n", &[]).unwrap_err();
    assert!(e.to_string().contains("bnd"), "{e}");
}

#[test]
fn env_overrides_file() {
    let s = load(
        MINIMAL,
        &[
            ("GATEWAY__TOKENS__ACCESS_TOKEN_TTL", "5m"),
            ("GATEWAY__DATABASE__MAX_CONNECTIONS", "3"),
            ("GATEWAY__UPSTREAMS__0__CLIENT_ID", "from-env"),
            ("OTHER", "ignored"),
        ],
    )
    .unwrap();
    assert_eq!(s.tokens.access_token_ttl, Duration::from_secs(300));
    assert_eq!(s.database.max_connections, 3);
    assert_eq!(s.upstreams[0].client_id, "from-env");
}

#[test]
fn plain_http_is_refused_off_loopback() {
    let e = load(&MINIMAL.replace("https://xacthuc", "http://xacthuc"), &[]).unwrap_err();
    assert!(e.to_string().contains("upstreams[0]"), "{e}");
    let e = load(
        &format!("[server]\npublic_url = \"http://gateway.example\"\n{MINIMAL}"),
        &[],
    )
    .unwrap_err();
    assert_eq!(e.key, "server.public_url");
    assert!(load(
        &format!("[server]\npublic_url = \"http://127.0.0.1:9\"\n{MINIMAL}"),
        &[]
    )
    .is_ok());
}

#[test]
fn client_rules_name_the_key() {
    let e = load(
        &format!("{MINIMAL}\n[[clients]]\nclient_id = \"p\"\nclient_secret = \"short\"\nredirect_uris = [\"https://p.example/cb\"]\n"),
        &[],
    )
    .unwrap_err();
    assert_eq!(e.key, "clients[0].client_secret");
    let e = load(
        &format!("{MINIMAL}\n[[clients]]\nclient_id = \"p\"\nredirect_uris = [\"https://p.example/cb\"]\nscopes = [\"openid\", \"email\"]\n"),
        &[],
    )
    .unwrap_err();
    assert_eq!(e.key, "clients[0].scopes");
}

#[test]
fn pairwise_clients_need_one_sector() {
    let client = |extra: &str, uris: &str| {
        format!("{MINIMAL}\n[[clients]]\nclient_id = \"p\"\nredirect_uris = [{uris}]\n{extra}\n")
    };
    let one_host = "\"https://a.example/cb\", \"https://a.example/cb2\"";
    let two_hosts = "\"https://a.example/cb\", \"https://b.example/cb\"";
    let s = load(&client("subject_type = \"pairwise\"", one_host), &[]).unwrap();
    assert_eq!(s.clients[0].subject_type, SubjectType::Pairwise);
    let e = load(&client("subject_type = \"pairwise\"", two_hosts), &[]).unwrap_err();
    assert_eq!(e.key, "clients[0].sector_identifier");
    assert!(load(
        &client(
            "subject_type = \"pairwise\"\nsector_identifier = \"dichvucong.example\"",
            two_hosts
        ),
        &[]
    )
    .is_ok());
    for bad in [
        "https://x.example",
        "X.example",
        "x.example/path",
        "x.example:443",
        "",
    ] {
        let e = load(
            &client(
                &format!("subject_type = \"pairwise\"\nsector_identifier = \"{bad}\""),
                one_host,
            ),
            &[],
        )
        .unwrap_err();
        assert_eq!(e.key, "clients[0].sector_identifier", "{bad}");
    }
    let e = load(&client("sector_identifier = \"a.example\"", one_host), &[]).unwrap_err();
    assert_eq!(e.key, "clients[0].sector_identifier");
    let e = load(&client("subject_type = \"secret\"", one_host), &[]).unwrap_err();
    assert!(e.to_string().contains("secret"), "{e}");
    let machine = format!(
        "{MINIMAL}\n[[clients]]\nclient_id = \"m\"\nclient_secret = \"{}\"\ngrant_types = [\"client_credentials\"]\nscopes = [\"admin\"]\nsubject_type = \"pairwise\"\n",
        "s".repeat(32)
    );
    assert_eq!(
        load(&machine, &[]).unwrap_err().key,
        "clients[0].subject_type"
    );
}

#[test]
fn pairwise_sector_is_the_one_redirect_host() {
    assert_eq!(
        pairwise_sector(None, ["https://A.example/x", "http://a.example:8080/y"]),
        Some("a.example".into())
    );
    assert_eq!(
        pairwise_sector(None, ["https://a.example/", "https://b.example/"]),
        None
    );
    assert_eq!(pairwise_sector(None, std::iter::empty()), None);
    assert_eq!(
        pairwise_sector(
            Some("s.example"),
            ["https://a.example/", "https://b.example/"]
        ),
        Some("s.example".into())
    );
}

#[test]
fn the_example_configuration_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/gateway.example.toml");
    let s = Settings::load(Some(&path), Vec::new()).unwrap();
    assert!(s
        .clients
        .iter()
        .any(|c| c.subject_type == SubjectType::Pairwise));
    assert_eq!(s.protected_apps.len(), 1);
}

#[test]
fn postgres_requires_a_master_key() {
    let e = load(
        &format!("[database]\nurl = \"postgres://localhost/g\"\n{MINIMAL}"),
        &[],
    )
    .unwrap_err();
    assert_eq!(e.key, "keys.master_key_file");
}

#[test]
fn no_file_is_the_embedded_default() {
    let s = Settings::load(None, Vec::new()).unwrap();
    assert!(s.simulator.enabled && s.demo.enabled);
    assert_eq!(s.database.url, "sqlite://data/gateway.db");
    assert_eq!(s.master_key_path(), Some(PathBuf::from("data/master.key")));
}

#[test]
fn the_management_address_must_differ_from_the_public_one() {
    let e = load(
        &format!(
            "[server]\nbind = \"127.0.0.1:8080\"\nmanagement_bind = \"127.0.0.1:8080\"\n{MINIMAL}"
        ),
        &[],
    )
    .unwrap_err();
    assert_eq!(e.key, "server.management_bind");
    let s = load(
        &format!(
            "[server]\nbind = \"127.0.0.1:8080\"\nmanagement_bind = \"127.0.0.1:9000\"\n{MINIMAL}"
        ),
        &[],
    )
    .unwrap();
    assert_eq!(s.server.management_bind.as_deref(), Some("127.0.0.1:9000"));
}

const RESOURCE: &str = r#"
[[resources]]
id = "hoso-api"
audience = "https://hoso.example.gov.vn/api"
scopes = ["hoso.read", "hoso.write"]
"#;

fn client_with_scopes(scopes: &str) -> String {
    format!(
        "[[clients]]\nclient_id = \"portal\"\nclient_secret = \"{}\"\nredirect_uris = [\"https://portal.example.gov.vn/cb\"]\nscopes = {scopes}\n",
        "s".repeat(32)
    )
}

#[test]
fn a_client_may_hold_a_resources_scopes_and_an_unknown_scope_names_the_key() {
    let ok = format!(
        "{MINIMAL}{RESOURCE}{}",
        client_with_scopes(r#"["openid", "hoso.read"]"#)
    );
    assert_eq!(load(&ok, &[]).unwrap().resources[0].id, "hoso-api");
    // Without the resource the same scope is unknown, and the error names the key.
    let e = load(
        &format!(
            "{MINIMAL}{}",
            client_with_scopes(r#"["openid", "hoso.read"]"#)
        ),
        &[],
    )
    .unwrap_err();
    assert_eq!(e.key, "clients[0].scopes", "{e}");
    assert!(e.to_string().contains("hoso.read"), "{e}");
    let e = load(
        &format!(
            "{MINIMAL}{RESOURCE}{}",
            client_with_scopes(r#"["openid", "api"]"#)
        ),
        &[],
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("hoso.write"),
        "the known scopes are listed: {e}"
    );
}

#[test]
fn resources_are_checked_with_the_key_named() {
    let cases = [
        // The audience is an absolute https URI, once; a scope belongs to one resource and is
        // no scope of the gateway's; ids are unique.
        ("audience = \"hoso\"", "resources[0].audience"),
        (
            "audience = \"http://hoso.example.gov.vn/api\"",
            "resources[0].audience",
        ),
        (
            "audience = \"https://hoso.example.gov.vn/api#x\"",
            "resources[0].audience",
        ),
        ("scopes = []", "resources[0].scopes"),
        ("scopes = [\"openid\"]", "resources[0].scopes"),
        ("scopes = [\"a b\"]", "resources[0].scopes"),
        ("id = \"\"", "resources[0].id"),
    ];
    for (line, key) in cases {
        let field = line.split(' ').next().unwrap();
        let resource: String = RESOURCE
            .lines()
            .map(|l| {
                if l.starts_with(field) {
                    line.to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let e = load(&format!("{MINIMAL}{resource}\n"), &[]).unwrap_err();
        assert_eq!(e.key, key, "{line}: {e}");
    }
    let twice = format!(
        "{MINIMAL}{RESOURCE}{}",
        RESOURCE.replace("hoso-api", "other")
    );
    assert_eq!(load(&twice, &[]).unwrap_err().key, "resources[1].audience");
    let shared_scope = format!(
        "{MINIMAL}{RESOURCE}[[resources]]\nid = \"b\"\naudience = \"https://b.example.gov.vn\"\nscopes = [\"hoso.read\"]\n"
    );
    assert_eq!(
        load(&shared_scope, &[]).unwrap_err().key,
        "resources[1].scopes"
    );
}

#[test]
fn client_account_types_default_to_both_and_unknown_ones_fail_naming_the_key() {
    let client = |extra: &str| {
        format!("{MINIMAL}\n[[clients]]\nclient_id = \"p\"\nclient_secret = \"{}\"\nredirect_uris = [\"https://p.example/cb\"]\nscopes = [\"openid\", \"organisation\"]\n{extra}\n", "s".repeat(32))
    };
    let s = load(&client(""), &[]).unwrap();
    assert_eq!(
        s.clients[0].admitted_account_types(),
        vneid_core::AccountType::ALL
    );
    let s = load(&client("account_types = [\"citizen\"]"), &[]).unwrap();
    assert_eq!(
        s.clients[0].admitted_account_types(),
        [vneid_core::AccountType::Citizen]
    );
    for bad in [
        "account_types = [\"citizen\", \"company\"]",
        "account_types = [\"Citizen\"]",
        "account_types = []",
    ] {
        let e = load(&client(bad), &[]).unwrap_err();
        assert_eq!(e.key, "clients[0].account_types", "{bad}: {e}");
    }
    let e = load(&client("account_types = [\"company\"]"), &[]).unwrap_err();
    assert!(e.to_string().contains("\"company\""), "{e}");
    // An upstream's account-type values are checked at start-up too.
    let e = load(
        &format!("{MINIMAL}[upstreams.account_types]\ncitizen = [\"1\"]\norganisation = [\"1\"]\n"),
        &[],
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("upstreams[dvcqg].account_types.organisation"),
        "{e}"
    );
}

#[test]
fn require_pushed_authorization_requests_is_parsed_checked_and_shown() {
    let client = |extra: &str, grants: &str| {
        format!("{MINIMAL}\n[[clients]]\nclient_id = \"p\"\nclient_secret = \"{}\"\nredirect_uris = [\"https://p.example/cb\"]\ngrant_types = [{grants}]\nscopes = [\"openid\", \"admin\"]\n{extra}\n", "s".repeat(32))
    };
    let code = "\"authorization_code\"";
    let s = load(&client("", code), &[]).unwrap();
    assert!(!s.clients[0].requires_par());
    let s = load(
        &client("require_pushed_authorization_requests = true", code),
        &[],
    )
    .unwrap();
    assert!(s.clients[0].requires_par());
    // The admin API shows it.
    let master = vneid_tokens::MasterKey::generate().unwrap();
    let shown = crate::admin::clients::client_json(&crate::clients::Client::from_settings(
        &s.clients[0],
        &master,
    ));
    assert_eq!(shown["require_pushed_authorization_requests"], true);
    // A machine client has no authorization request to push.
    let e = load(
        &client(
            "require_pushed_authorization_requests = true",
            "\"client_credentials\"",
        ),
        &[],
    )
    .unwrap_err();
    assert_eq!(
        e.key, "clients[0].require_pushed_authorization_requests",
        "{e}"
    );
    // The pushed request's lifetime is a duration like the others, never zero.
    assert_eq!(
        load(MINIMAL, &[]).unwrap().tokens.par_ttl,
        Duration::from_secs(60)
    );
    let e = load(&format!("{MINIMAL}[tokens]\npar_ttl = \"0s\"\n"), &[]).unwrap_err();
    assert_eq!(e.key, "tokens.par_ttl", "{e}");
}
