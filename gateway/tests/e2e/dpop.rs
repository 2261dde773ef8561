//! DPoP (RFC 9449): tokens bound to a key the client holds, the server nonce, and every way a
//! proof is refused — at `/token`, `/par`, `/userinfo` and token exchange.
use reqwest::StatusCode;
use serde_json::Value;
use vneid_e2e::*;
use vneid_tokens::{generate_signing_key, make_proof, ProofClaimsOut, SigningAlg, SigningKey};

const BANK: &str = "bank-portal";
const BANK_SECRET: &str = "bank-portal-secret-0123456789-abcdefghijk";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const API: &str = "https://hoso.example.gov.vn/api";
const EXTRA: &str = r#"
[[resources]]
id = "hoso-api"
audience = "https://hoso.example.gov.vn/api"
scopes = ["hoso.read"]

[[clients]]
client_id = "bank-portal"
client_secret = "bank-portal-secret-0123456789-abcdefghijk"
redirect_uris = ["http://127.0.0.1:9/cb"]
scopes = ["openid", "profile", "hoso.read"]
grant_types = ["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"]
dpop_bound_access_tokens = true
"#;

/// A client's DPoP key and the last nonce the gateway gave it.
pub(crate) struct Holder {
    pub(crate) key: SigningKey,
    pub(crate) nonce: Option<String>,
}

impl Holder {
    pub(crate) fn new() -> Self {
        Self {
            key: generate_signing_key(SigningAlg::ES256, chrono::Utc::now()).unwrap(),
            nonce: None,
        }
    }

    /// A fresh proof for `htm htu`, with the current nonce, made `age` seconds ago.
    pub(crate) fn proof_aged(&self, htm: &str, htu: &str, token: Option<&str>, age: i64) -> String {
        let jti = rand_hex();
        make_proof(
            &self.key,
            &ProofClaimsOut {
                htm,
                htu,
                iat: chrono::Utc::now().timestamp() - age,
                jti: &jti,
                access_token: token,
                nonce: self.nonce.as_deref(),
            },
        )
        .unwrap()
    }

    pub(crate) fn proof(&self, htm: &str, htu: &str, token: Option<&str>) -> String {
        self.proof_aged(htm, htu, token, 0)
    }

    /// Keeps the nonce of an answer, if it carries one.
    pub(crate) fn keep_nonce(&mut self, res: &reqwest::Response) {
        if let Some(n) = res.headers().get("dpop-nonce") {
            self.nonce = Some(n.to_str().unwrap().to_owned());
        }
    }
}

pub(crate) async fn error_of(res: reqwest::Response) -> (StatusCode, String, String) {
    let status = res.status();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = res.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap().to_owned(),
        challenge,
    )
}

async fn token_request(
    gw: &str,
    client: (&str, &str),
    form: &[(&str, &str)],
    proof: Option<String>,
) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .post(format!("{gw}/token"))
        .basic_auth(client.0, Some(client.1))
        .form(form);
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    r.send().await.unwrap()
}

async fn userinfo(gw: &str, authorization: &str, proof: Option<String>) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .get(format!("{gw}/userinfo"))
        .header("Authorization", authorization);
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    r.send().await.unwrap()
}

fn code_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", PORTAL_CB),
        ("code_verifier", verifier),
    ]
}

async fn portal_code(gw: &str, p: &Pkce) -> String {
    let Ended::Portal(q) = login(
        &browser(),
        &authorize_url(gw, p, &[]),
        people::LEVEL2_CITIZEN,
    )
    .await
    else {
        panic!("login")
    };
    q["code"].clone()
}

#[actix_web::test]
async fn dpop_binds_the_tokens_and_userinfo_takes_them_only_with_a_fresh_proof_by_that_key() {
    let gw = spawn_embedded("").await;
    let token_url = format!("{}/token", gw.url);
    let userinfo_url = format!("{}/userinfo", gw.url);
    let mut holder = Holder::new();
    let p = pkce();
    let code = portal_code(&gw.url, &p).await;
    let form = code_form(&code, &p.verifier);

    // No nonce yet: told to use the server's, and the code is not spent.
    let res = token_request(
        &gw.url,
        (PORTAL, PORTAL_SECRET),
        &form,
        Some(holder.proof("POST", &token_url, None)),
    )
    .await;
    holder.keep_nonce(&res);
    assert!(holder.nonce.is_some(), "DPoP-Nonce with use_dpop_nonce");
    let (status, error, _) = error_of(res).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "use_dpop_nonce")
    );
    let res = token_request(
        &gw.url,
        (PORTAL, PORTAL_SECRET),
        &form,
        Some(holder.proof("POST", &token_url, None)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("dpop-nonce").is_some());
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["token_type"], "DPoP");
    let at = t["access_token"].as_str().unwrap().to_owned();
    let claims = verify(&gw.url, &at, PORTAL).await;
    assert_eq!(claims["cnf"]["jkt"], holder.key.kid());

    // Userinfo: the DPoP scheme, a proof of GET /userinfo with the token's hash and the nonce.
    let dpop_auth = format!("DPoP {at}");
    let good = holder.proof("GET", &userinfo_url, Some(&at));
    let res = userinfo(&gw.url, &dpop_auth, Some(good.clone())).await;
    assert_eq!(res.status(), StatusCode::OK);
    let info: Value = res.json().await.unwrap();
    assert_eq!(info["sub"], claims["sub"]);

    // Each of these is refused, and each for its own reason.
    let other = Holder {
        nonce: holder.nonce.clone(),
        ..Holder::new()
    };
    let cases: Vec<(&str, String, Option<String>, &str)> = vec![
        (
            "a bound token as Bearer",
            format!("Bearer {at}"),
            Some(holder.proof("GET", &userinfo_url, Some(&at))),
            "invalid_token",
        ),
        ("no proof", dpop_auth.clone(), None, "invalid_dpop_proof"),
        (
            "a proof for another URL",
            dpop_auth.clone(),
            Some(holder.proof("GET", &token_url, Some(&at))),
            "invalid_dpop_proof",
        ),
        (
            "a proof for another method",
            dpop_auth.clone(),
            Some(holder.proof("POST", &userinfo_url, Some(&at))),
            "invalid_dpop_proof",
        ),
        (
            "a replayed proof (same jti)",
            dpop_auth.clone(),
            Some(good),
            "invalid_dpop_proof",
        ),
        (
            "a proof too old",
            dpop_auth.clone(),
            Some(holder.proof_aged("GET", &userinfo_url, Some(&at), 120)),
            "invalid_dpop_proof",
        ),
        (
            "a proof without the token's hash",
            dpop_auth.clone(),
            Some(holder.proof("GET", &userinfo_url, None)),
            "invalid_dpop_proof",
        ),
        (
            "a proof by another key",
            dpop_auth.clone(),
            Some(other.proof("GET", &userinfo_url, Some(&at))),
            "invalid_dpop_proof",
        ),
        (
            "a proof without the nonce",
            dpop_auth.clone(),
            Some(
                Holder {
                    key: generate_signing_key(SigningAlg::ES256, chrono::Utc::now()).unwrap(),
                    nonce: None,
                }
                .proof("GET", &userinfo_url, Some(&at)),
            ),
            "use_dpop_nonce",
        ),
    ];
    for (what, authorization, proof, error) in cases {
        let res = userinfo(&gw.url, &authorization, proof).await;
        let nonce = res.headers().get("dpop-nonce").cloned();
        let (status, code, challenge) = error_of(res).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(code, error, "{what}");
        assert!(challenge.starts_with("DPoP "), "{what}: {challenge}");
        assert!(challenge.contains("ES256"), "{what}: {challenge}");
        if error == "use_dpop_nonce" {
            assert!(nonce.is_some(), "{what}: DPoP-Nonce");
        }
    }

    // Operators see why proofs fail.
    for (reason, at_least) in [
        ("nonce_needed", 2.0),
        ("bearer", 1.0),
        ("missing", 1.0),
        ("invalid", 3.0),
        ("too_old", 1.0),
        ("replayed", 1.0),
        ("wrong_key", 1.0),
    ] {
        let v = metric_value(
            &gw.url,
            &format!("vneid_dpop_refused_total{{reason=\"{reason}\"}}"),
        )
        .await;
        assert!(v >= at_least, "{reason}: {v}");
    }

    // The owner's introspection names the key.
    let res = reqwest::Client::new()
        .post(format!("{}/introspect", gw.url))
        .basic_auth(PORTAL, Some(PORTAL_SECRET))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    let i: Value = res.json().await.unwrap();
    assert_eq!(i["active"], true);
    assert_eq!(i["token_type"], "DPoP");
    assert_eq!(i["cnf"]["jkt"], holder.key.kid());
    // Discovery says which algorithms a proof may use.
    let d: Value = reqwest::get(format!("{}/.well-known/openid-configuration", gw.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(d["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&Value::from("ES256")));
}

#[actix_web::test]
async fn an_unbound_token_keeps_the_bearer_scheme() {
    let gw = spawn_embedded("").await;
    let p = pkce();
    let code = portal_code(&gw.url, &p).await;
    let t: Value = exchange(&gw.url, &code, &p.verifier)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["token_type"], "Bearer");
    let at = t["access_token"].as_str().unwrap();
    let res = userinfo(&gw.url, &format!("Bearer {at}"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let holder = Holder::new();
    let res = userinfo(
        &gw.url,
        &format!("DPoP {at}"),
        Some(holder.proof("GET", &format!("{}/userinfo", gw.url), Some(at))),
    )
    .await;
    let (status, code, _) = error_of(res).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

/// Pushes a bank-portal request, with a proof and/or `dpop_jkt`, and returns the response.
async fn push(gw: &str, p: &Pkce, proof: Option<String>, jkt: Option<&str>) -> reqwest::Response {
    let mut form = vec![
        ("response_type", "code".to_owned()),
        ("client_id", BANK.to_owned()),
        ("redirect_uri", PORTAL_CB.to_owned()),
        ("scope", "openid profile hoso.read".to_owned()),
        ("resource", API.to_owned()),
        ("code_challenge", p.challenge.clone()),
        ("code_challenge_method", "S256".to_owned()),
    ];
    if let Some(j) = jkt {
        form.push(("dpop_jkt", j.to_owned()));
    }
    let mut r = reqwest::Client::new()
        .post(format!("{gw}/par"))
        .basic_auth(BANK, Some(BANK_SECRET))
        .form(&form);
    if let Some(pr) = proof {
        r = r.header("DPoP", pr);
    }
    r.send().await.unwrap()
}

async fn bank_code(gw: &str, request_uri: &str) -> String {
    let mut u = url::Url::parse(&format!("{gw}/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", BANK)
        .append_pair("request_uri", request_uri);
    let Ended::Portal(q) = login(&browser(), u.as_str(), people::LEVEL2_CITIZEN).await else {
        panic!("login")
    };
    q["code"].clone()
}

#[actix_web::test]
async fn a_dpop_bound_client_a_code_bound_at_par_and_an_exchange_by_the_keys_holder() {
    let gw = spawn_embedded(EXTRA).await;
    let par_url = format!("{}/par", gw.url);
    let token_url = format!("{}/token", gw.url);
    let mut holder = Holder::new();
    let thief = Holder::new();

    // A proof at /par binds the code to its key (after the nonce round trip).
    let p = pkce();
    let res = push(
        &gw.url,
        &p,
        Some(holder.proof("POST", &par_url, None)),
        None,
    )
    .await;
    holder.keep_nonce(&res);
    assert_eq!(error_of(res).await.1, "use_dpop_nonce");
    let res = push(
        &gw.url,
        &p,
        Some(holder.proof("POST", &par_url, None)),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    let code = bank_code(&gw.url, body["request_uri"].as_str().unwrap()).await;
    let thief = Holder {
        nonce: holder.nonce.clone(),
        ..thief
    };
    let res = token_request(
        &gw.url,
        (BANK, BANK_SECRET),
        &code_form(&code, &p.verifier),
        Some(thief.proof("POST", &token_url, None)),
    )
    .await;
    assert_eq!(
        error_of(res).await.1,
        "invalid_grant",
        "a code bound to another key"
    );

    // `dpop_jkt` binds it the same way; this client's token requests need a proof at all.
    let p = pkce();
    let res = push(&gw.url, &p, None, Some(holder.key.kid())).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    let code = bank_code(&gw.url, body["request_uri"].as_str().unwrap()).await;
    let form = code_form(&code, &p.verifier);
    let res = token_request(&gw.url, (BANK, BANK_SECRET), &form, None).await;
    assert_eq!(error_of(res).await.1, "invalid_dpop_proof", "no proof");
    let res = token_request(
        &gw.url,
        (BANK, BANK_SECRET),
        &form,
        Some(holder.proof("POST", &token_url, None)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["token_type"], "DPoP");
    let subject = t["access_token"].as_str().unwrap().to_owned();

    // `dpop_jkt` and the proof must agree; a `dpop_jkt` must be a thumbprint.
    let res = push(
        &gw.url,
        &pkce(),
        Some(holder.proof("POST", &par_url, None)),
        Some(thief.key.kid()),
    )
    .await;
    assert_eq!(error_of(res).await.1, "invalid_dpop_proof");
    let res = push(&gw.url, &pkce(), None, Some("not-a-thumbprint")).await;
    assert_eq!(error_of(res).await.1, "invalid_request");

    // Token exchange of the bound token: only with a proof by its key.
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject.as_str()),
        ("subject_token_type", AT_TYPE),
        ("resource", API),
    ];
    let res = token_request(
        &gw.url,
        (BANK, BANK_SECRET),
        &form,
        Some(thief.proof("POST", &token_url, None)),
    )
    .await;
    assert_eq!(
        error_of(res).await.1,
        "invalid_request",
        "exchanged by another key"
    );
    let res = token_request(
        &gw.url,
        (BANK, BANK_SECRET),
        &form,
        Some(holder.proof("POST", &token_url, None)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["token_type"], "DPoP");
    let claims = verify(&gw.url, t["access_token"].as_str().unwrap(), API).await;
    assert_eq!(claims["cnf"]["jkt"], holder.key.kid());
    assert_eq!(claims["act"]["sub"], BANK);
}

#[actix_web::test]
async fn an_operators_tool_with_a_dpop_bound_token_at_the_admin_api() {
    use crate::directory::{extra, ADMIN, ADMIN_SECRET};
    let gw = spawn_embedded(&extra()).await;
    let token_url = format!("{}/token", gw.url);
    let clients_url = format!("{}/admin/v1/clients", gw.url);
    let mut holder = Holder::new();
    let form = [("grant_type", "client_credentials"), ("scope", "admin")];
    let res = token_request(
        &gw.url,
        (ADMIN, ADMIN_SECRET),
        &form,
        Some(holder.proof("POST", &token_url, None)),
    )
    .await;
    holder.keep_nonce(&res);
    let res = token_request(
        &gw.url,
        (ADMIN, ADMIN_SECRET),
        &form,
        Some(holder.proof("POST", &token_url, None)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["token_type"], "DPoP");
    let at = t["access_token"].as_str().unwrap().to_owned();
    let get = |authorization: String, proof: Option<String>| {
        let mut r = reqwest::Client::new()
            .get(&clients_url)
            .header("Authorization", authorization);
        if let Some(p) = proof {
            r = r.header("DPoP", p);
        }
        r.send()
    };
    let res = get(
        format!("DPoP {at}"),
        Some(holder.proof("GET", &clients_url, Some(&at))),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Stolen without the key: useless as Bearer.
    let res = get(format!("Bearer {at}"), None).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("DPoP "));
}
