use std::net::TcpListener;

use serde_json::Value;
use vneid_e2e::*;

/// The simulator alone on its own port with other userinfo field names; the gateway knows it by
/// issuer URL only (discovery) and maps the renamed fields from its config.
#[actix_web::test]
async fn upstream_by_issuer_url_only_with_other_userinfo_field_names() {
    let gw_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let gw_port = gw_listener.local_addr().unwrap().port();
    let sim_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let sim_url = format!(
        "http://127.0.0.1:{}",
        sim_listener.local_addr().unwrap().port()
    );
    let secret = "upstream-secret-0123456789";
    let renamed = [
        ("SoDinhDanh", "personal_number"),
        ("HoVaTen", "full_name"),
        ("NgayThangNamSinh", "dob"),
        ("IAL", "assurance"),
        ("loginIdp", "idp_system"),
    ];
    let config = vneid_simulator::SimulatorConfig {
        issuer: sim_url.clone(),
        clients: vec![vneid_simulator::SimClient {
            client_id: "gw".into(),
            client_secret: secret.into(),
            redirect_uris: vec![format!(
                "http://127.0.0.1:{gw_port}/login/national/callback"
            )],
        }],
        people: vneid_simulator::default_people(),
        field_names: renamed
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    };
    actix_web::rt::spawn(vneid_simulator::run_standalone(sim_listener, config));

    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        r#"
[[upstreams]]
id = "national"
issuer = "{sim_url}"
client_id = "gw"
client_secret = "{secret}"
token_endpoint_auth_method = "client_secret_post"
[upstreams.claims]
personal_id = "personal_number"
name = "full_name"
birthdate = "dob"
level = "assurance"
login_idp = "idp_system"
"#
    );
    let settings = settings_from(&base_config(dir.path(), &extra).await, dir.path());
    let gw = start(settings, dir, Some(gw_listener)).await;
    let b = browser();
    let p = pkce();
    let Ended::Portal(q) =
        login(&b, &authorize_url(&gw.url, &p, &[]), people::LEVEL2_CITIZEN).await
    else {
        panic!("admitted through the renamed fields")
    };
    let tokens: Value = exchange(&gw.url, &q["code"], &p.verifier)
        .await
        .json()
        .await
        .unwrap();
    let id = verify(&gw.url, tokens["id_token"].as_str().unwrap(), PORTAL).await;
    assert_eq!(id["idp"], "national");
    assert_eq!(id["personal_id"], people::LEVEL2_CITIZEN);
    assert_eq!(id["birthdate"], "1990-01-15");
    assert_eq!(id["acr"], "urn:vneid:loa:2");

    // The level comes from the renamed field: the level-1 citizen is still refused.
    let b = browser();
    assert!(matches!(
        login(
            &b,
            &authorize_url(&gw.url, &pkce(), &[]),
            people::LEVEL1_CITIZEN
        )
        .await,
        Ended::Page(reqwest::StatusCode::FORBIDDEN, _)
    ));
}

/// The upstream sends the level under another name than the gateway is configured to read:
/// the level is then missing and every login fails closed, even of a level-2 person.
#[actix_web::test]
async fn a_level_field_that_never_arrives_fails_closed() {
    let gw = spawn_embedded("field_names = { IAL = \"assurance_level\" }\n").await;
    let b = browser();
    match login(
        &b,
        &authorize_url(&gw.url, &pkce(), &[]),
        people::LEVEL2_CITIZEN,
    )
    .await
    {
        Ended::Page(status, html) => {
            assert_eq!(status, reqwest::StatusCode::FORBIDDEN);
            assert!(html.contains("<code>level_missing</code>"), "{html}");
        }
        Ended::Portal(q) => panic!("must fail closed, got {q:?}"),
    }
}
