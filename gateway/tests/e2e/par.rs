//! Pushed authorization requests (RFC 9126): `POST /par`, then `/authorize` with the
//! `request_uri` alone; the refusals at both ends.
use reqwest::StatusCode;
use serde_json::Value;
use vneid_e2e::*;

const PAR_ONLY: &str = "par-only";
const PAR_ONLY_SECRET: &str = "par-only-secret-0123456789-abcdefghijklmn";
const EXTRA: &str = r#"
[[clients]]
client_id = "par-only"
client_secret = "par-only-secret-0123456789-abcdefghijklmn"
redirect_uris = ["http://127.0.0.1:9/cb"]
scopes = ["openid", "profile"]
require_pushed_authorization_requests = true
"#;
const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The test portal's authorization request, as form pairs, with `extra` added.
fn request(p: &Pkce, extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("response_type", "code".to_owned()),
        ("redirect_uri", PORTAL_CB.to_owned()),
        ("scope", "openid profile".to_owned()),
        ("state", "par-state".to_owned()),
        ("nonce", "par-nonce".to_owned()),
        ("code_challenge", p.challenge.clone()),
        ("code_challenge_method", "S256".to_owned()),
    ];
    form.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    form
}

async fn push(
    gw: &str,
    auth: Option<(&str, &str)>,
    form: &[(&'static str, String)],
) -> reqwest::Response {
    let mut r = reqwest::Client::new().post(format!("{gw}/par")).form(form);
    if let Some((id, secret)) = auth {
        r = r.basic_auth(id, Some(secret));
    }
    r.send().await.unwrap()
}

/// Pushes `form` as `client` and returns the `request_uri`.
async fn pushed(gw: &str, client: (&str, &str), form: &[(&'static str, String)]) -> String {
    let res = push(gw, Some(client), form).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    body["request_uri"].as_str().unwrap().to_owned()
}

fn authorize_with(gw: &str, client_id: &str, request_uri: &str, extra: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&format!("{gw}/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri);
    for (k, v) in extra {
        u.query_pairs_mut().append_pair(k, v);
    }
    u.to_string()
}

/// A `/authorize` refused with the Vietnamese page about the `request_uri`.
async fn refused_page(url: &str) {
    let res = browser().get(url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{url}");
    assert!(res.headers().get("location").is_none());
    let html = res.text().await.unwrap();
    assert!(html.contains("request_uri"), "{html}");
}

#[actix_web::test]
async fn par_whole_login_honours_the_pushed_request_and_its_request_uri_works_once() {
    let gw = spawn_embedded(EXTRA).await;
    let p = pkce();
    let res = push(
        &gw.url,
        Some((PORTAL, PORTAL_SECRET)),
        &request(&p, &[("client_id", PORTAL)]),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    let request_uri = body["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with(PREFIX) && request_uri.len() > PREFIX.len() + 30);
    // Parameters beside the request_uri are ignored: the pushed ones win.
    let url = authorize_with(
        &gw.url,
        PORTAL,
        &request_uri,
        &[
            ("scope", "openid personal_id"),
            ("state", "front"),
            ("prompt", "none"),
        ],
    );
    let b = browser();
    let Ended::Portal(q) = login(&b, &url, people::LEVEL2_CITIZEN).await else {
        panic!("login through a pushed request")
    };
    assert_eq!(q["state"], "par-state");
    let res = exchange(&gw.url, &q["code"], &p.verifier).await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["scope"], "openid profile");
    let id = verify(&gw.url, t["id_token"].as_str().unwrap(), PORTAL).await;
    assert_eq!(id["nonce"], "par-nonce");
    assert!(id.get("personal_id").is_none(), "{id}");
    // Used once: the same request_uri again is refused, even in the browser that used it.
    refused_page(&url).await;
    let res = b.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Discovery says where to push.
    let d: Value = reqwest::get(format!("{}/.well-known/openid-configuration", gw.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        d["pushed_authorization_request_endpoint"],
        format!("{}/par", gw.url)
    );
    assert_eq!(d["require_pushed_authorization_requests"], false);
    assert_eq!(d["request_uri_parameter_supported"], false);
}

#[actix_web::test]
async fn par_required_client_is_refused_a_plain_authorize_but_served_a_pushed_one() {
    let gw = spawn_embedded(EXTRA).await;
    let p = pkce();
    let plain = authorize_url(&gw.url, &p, &[]).replace(
        &format!("client_id={PORTAL}"),
        &format!("client_id={PAR_ONLY}"),
    );
    let res = browser().get(&plain).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let to = location(&res);
    assert!(to.starts_with(PORTAL_CB), "{to}");
    let q = query(&to);
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(
        q["error_description"],
        "pushed authorization request required"
    );
    assert_eq!(q["state"], "st-123");
    // Pushed, the same request goes to the national broker.
    let uri = pushed(&gw.url, (PAR_ONLY, PAR_ONLY_SECRET), &request(&p, &[])).await;
    let res = browser()
        .get(authorize_with(&gw.url, PAR_ONLY, &uri, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(location(&res).contains("/simulator/"), "{}", location(&res));
    // Other clients go on as before.
    let res = browser()
        .get(authorize_url(&gw.url, &p, &[]))
        .send()
        .await
        .unwrap();
    assert!(location(&res).contains("/simulator/"));
}

#[actix_web::test]
async fn par_request_uri_of_another_client_unknown_or_malformed_is_refused() {
    let gw = spawn_embedded("").await;
    let p = pkce();
    let uri = pushed(&gw.url, (PORTAL, PORTAL_SECRET), &request(&p, &[])).await;
    // Another client cannot use it, nor spend it.
    refused_page(&authorize_with(&gw.url, "public-app", &uri, &[])).await;
    let reference = uri.strip_prefix(PREFIX).unwrap();
    for bad in [
        format!("{PREFIX}{}", rand_hex()),
        reference.to_owned(),
        PREFIX.to_owned(),
        format!("https://evil.example/{reference}"),
    ] {
        refused_page(&authorize_with(&gw.url, PORTAL, &bad, &[])).await;
    }
    // An unknown client is refused before any request_uri is looked at.
    let res = browser()
        .get(authorize_with(&gw.url, "nobody", &uri, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Its own client still can.
    let res = browser()
        .get(authorize_with(&gw.url, PORTAL, &uri, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(location(&res).contains("/simulator/"));
}

#[actix_web::test]
async fn par_request_uri_expires() {
    let gw = spawn_embedded("[tokens]\npar_ttl = \"1s\"\n").await;
    let p = pkce();
    let res = push(&gw.url, Some((PORTAL, PORTAL_SECRET)), &request(&p, &[])).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["expires_in"], 1);
    let uri = body["request_uri"].as_str().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    refused_page(&authorize_with(&gw.url, PORTAL, uri, &[])).await;
}

#[actix_web::test]
async fn par_refusals_are_json_oauth_errors() {
    let gw = spawn_embedded("").await;
    let p = pkce();
    let error = |res: reqwest::Response, status: StatusCode, error: &'static str| async move {
        assert_eq!(res.status(), status);
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert!(res.headers().get("location").is_none());
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], error, "{body}");
        body["error_description"].as_str().unwrap().to_owned()
    };
    // No client authentication, or a confidential client without its secret.
    error(
        push(&gw.url, None, &request(&p, &[])).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    error(
        push(&gw.url, None, &request(&p, &[("client_id", PORTAL)])).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    error(
        push(&gw.url, Some((PORTAL, "wrong-secret")), &request(&p, &[])).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    // client_id in the body must be the authenticated client.
    error(
        push(
            &gw.url,
            Some((PORTAL, PORTAL_SECRET)),
            &request(&p, &[("client_id", "public-app")]),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    // A redirect URI that is not registered: JSON, never a redirect.
    let mut bad_redirect = request(&p, &[]);
    bad_redirect[1].1 = "https://evil.example/cb".into();
    let d = error(
        push(&gw.url, Some((PORTAL, PORTAL_SECRET)), &bad_redirect).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(d.contains("redirect_uri"), "{d}");
    // A request_uri inside a pushed request, a request object, the wrong response type.
    for (extra, code) in [
        (
            ("request_uri", "urn:ietf:params:oauth:request_uri:x"),
            "invalid_request",
        ),
        (("request", "eyJ.eyJ.sig"), "request_not_supported"),
    ] {
        error(
            push(
                &gw.url,
                Some((PORTAL, PORTAL_SECRET)),
                &request(&p, &[extra]),
            )
            .await,
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
    }
    let mut token_flow = request(&p, &[]);
    token_flow[0].1 = "token".into();
    error(
        push(&gw.url, Some((PORTAL, PORTAL_SECRET)), &token_flow).await,
        StatusCode::BAD_REQUEST,
        "unsupported_response_type",
    )
    .await;
    // A public client authenticates with `none` and needs PKCE, as at /authorize.
    let public = |with_pkce: bool| {
        let mut f = vec![
            ("client_id", "public-app".to_owned()),
            ("response_type", "code".to_owned()),
            ("redirect_uri", "http://127.0.0.1:9/app".to_owned()),
            ("scope", "openid".to_owned()),
        ];
        if with_pkce {
            f.push(("code_challenge", p.challenge.clone()));
            f.push(("code_challenge_method", "S256".to_owned()));
        }
        f
    };
    let d = error(
        push(&gw.url, None, &public(false)).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(d.contains("PKCE"), "{d}");
    let res = push(&gw.url, None, &public(true)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Only POST, and only a form.
    let res = reqwest::Client::new()
        .post(format!("{}/par", gw.url))
        .basic_auth(PORTAL, Some(PORTAL_SECRET))
        .json(&serde_json::json!({"response_type": "code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

/// A database client registered through the admin API with
/// `require_pushed_authorization_requests` is refused a plain `/authorize` and served through
/// `/par`; a PATCH turns the requirement off (audited as a changed field).
#[actix_web::test]
async fn par_required_database_client_from_the_admin_api_and_patched_off() {
    let gw = spawn_embedded(&crate::directory::extra()).await;
    let token = crate::directory::admin_token(&gw.url, "admin").await;
    let clients = format!("{}/admin/v1/clients", gw.url);
    let res = reqwest::Client::new()
        .post(&clients)
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "client_id": "par-db",
            "name": "Cổng chỉ nhận PAR",
            "redirect_uris": [PORTAL_CB],
            "require_pushed_authorization_requests": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["require_pushed_authorization_requests"], true);
    let secret = created["client_secret"].as_str().unwrap().to_owned();

    let p = pkce();
    let plain =
        authorize_url(&gw.url, &p, &[]).replace(&format!("client_id={PORTAL}"), "client_id=par-db");
    let res = browser().get(&plain).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let to = location(&res);
    assert!(to.starts_with(PORTAL_CB), "{to}");
    assert_eq!(query(&to)["error"], "invalid_request");
    let uri = pushed(&gw.url, ("par-db", &secret), &request(&p, &[])).await;
    let res = browser()
        .get(authorize_with(&gw.url, "par-db", &uri, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(location(&res).contains("/simulator/"), "{}", location(&res));

    let res = reqwest::Client::new()
        .patch(format!("{clients}/par-db"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"require_pushed_authorization_requests": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(changed["require_pushed_authorization_requests"], false);
    let res = browser().get(&plain).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(location(&res).contains("/simulator/"), "{}", location(&res));
    let audit = gw
        .app
        .db
        .list_audit(&vneid_store::AuditFilter {
            kind: Some("client_updated".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        audit[0].detail["fields"],
        serde_json::json!(["require_pushed_authorization_requests"])
    );
}
