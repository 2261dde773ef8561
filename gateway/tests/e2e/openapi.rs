//! `openapi.yaml` against the running server: every documented operation is called, with and
//! without an admin token, and every answer must be a documented status whose body matches the
//! documented schema (objects marked closed may not carry undocumented members). An operation
//! in the document that this test does not call fails it, so the document cannot describe
//! something nobody checked.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use vneid_e2e::openapi;
use vneid_e2e::*;

use crate::directory::{admin_token, extra, oss_login, DIRECTORY};

struct Call {
    method: Method,
    /// The path template as in the document.
    template: &'static str,
    /// The concrete path and query.
    path: String,
    body: Option<(&'static str, String)>,
    /// The status this call must get (with the admin token).
    expect: StatusCode,
}

fn call(
    method: Method,
    template: &'static str,
    path: impl Into<String>,
    body: Option<(&'static str, String)>,
    expect: StatusCode,
) -> Call {
    Call {
        method,
        template,
        path: path.into(),
        body,
        expect,
    }
}

async fn send(gw: &str, c: &Call, token: Option<&str>) -> (StatusCode, String, Vec<u8>) {
    // Redirects are answers to check, not to follow.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client.request(c.method.clone(), format!("{gw}{}", c.path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some((ct, body)) = &c.body {
        req = req.header("content-type", *ct).body(body.clone());
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, res.bytes().await.unwrap().to_vec())
}

#[actix_web::test]
async fn every_documented_operation_answers_as_documented() {
    let doc = openapi::document();
    let gw = spawn_embedded(&extra()).await;
    let admin = admin_token(&gw.url, "admin admin:pii").await;
    // Data for every resource: accounts, a link made at login, a conflict.
    let res = reqwest::Client::new()
        .post(format!("{}/admin/v1/directory/import", gw.url))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body(DIRECTORY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let officer = oss_login(&gw.url, people::LEVEL2_OFFICER).await.unwrap();
    oss_login(&gw.url, people::LEVEL1_CITIZEN).await.unwrap();
    let officer_sub = officer["sub"].as_str().unwrap().to_owned();

    let csv = |s: &str| Some(("text/csv", s.to_owned()));
    let json_body = |v: Value| Some(("application/json", v.to_string()));
    let rejected = "username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email\n,x,U,U,staff,,,,\n";
    let calls = vec![
        call(Method::GET, "/healthz", "/healthz", None, StatusCode::OK),
        call(Method::GET, "/readyz", "/readyz", None, StatusCode::OK),
        call(Method::GET, "/metrics", "/metrics", None, StatusCode::OK),
        // The IT centre's page, seen by someone not logged in (the whole login is in console.rs).
        call(
            Method::GET,
            "/admin/readiness",
            "/admin/readiness",
            None,
            StatusCode::OK,
        ),
        call(
            Method::GET,
            "/admin/readiness.csv",
            "/admin/readiness.csv",
            None,
            StatusCode::FOUND,
        ),
        call(
            Method::GET,
            "/admin/login",
            "/admin/login",
            None,
            StatusCode::FOUND,
        ),
        call(
            Method::GET,
            "/admin/callback",
            "/admin/callback?state=forged&code=x",
            None,
            StatusCode::BAD_REQUEST,
        ),
        call(
            Method::GET,
            "/admin/v1/clients",
            "/admin/v1/clients",
            None,
            StatusCode::OK,
        ),
        call(
            Method::POST,
            "/admin/v1/clients",
            "/admin/v1/clients",
            json_body(
                json!({"client_id": "openapi-portal", "redirect_uris": ["http://127.0.0.1:9/x"], "scopes": ["openid", "account"]}),
            ),
            StatusCode::CREATED,
        ),
        call(
            Method::POST,
            "/admin/v1/clients",
            "/admin/v1/clients",
            json_body(json!({"client_id": "bad", "redirect_uris": ["ftp://x"]})),
            StatusCode::BAD_REQUEST,
        ),
        call(
            Method::GET,
            "/admin/v1/clients/{client_id}",
            "/admin/v1/clients/openapi-portal",
            None,
            StatusCode::OK,
        ),
        call(
            Method::GET,
            "/admin/v1/clients/{client_id}",
            "/admin/v1/clients/nobody",
            None,
            StatusCode::NOT_FOUND,
        ),
        call(
            Method::PATCH,
            "/admin/v1/clients/{client_id}",
            "/admin/v1/clients/openapi-portal",
            json_body(json!({"name": "Cổng đã đổi tên"})),
            StatusCode::OK,
        ),
        call(
            Method::PATCH,
            "/admin/v1/clients/{client_id}",
            "/admin/v1/clients/openapi-portal",
            json_body(json!({"client_id": "other"})),
            StatusCode::BAD_REQUEST,
        ),
        call(
            Method::PATCH,
            "/admin/v1/clients/{client_id}",
            "/admin/v1/clients/nobody",
            json_body(json!({"name": "x"})),
            StatusCode::NOT_FOUND,
        ),
        call(
            Method::POST,
            "/admin/v1/clients/{client_id}/secret",
            "/admin/v1/clients/openapi-portal/secret",
            None,
            StatusCode::OK,
        ),
        call(
            Method::POST,
            "/admin/v1/clients/{client_id}/secret",
            "/admin/v1/clients/nobody/secret",
            None,
            StatusCode::NOT_FOUND,
        ),
        call(
            Method::DELETE,
            "/admin/v1/clients/{client_id}",
            "/admin/v1/clients/openapi-portal",
            None,
            StatusCode::NO_CONTENT,
        ),
        call(
            Method::POST,
            "/admin/v1/directory/import",
            "/admin/v1/directory/import?dry_run=true",
            csv(DIRECTORY),
            StatusCode::OK,
        ),
        call(
            Method::POST,
            "/admin/v1/directory/import",
            "/admin/v1/directory/import",
            csv(rejected),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        call(
            Method::POST,
            "/admin/v1/directory/import",
            "/admin/v1/directory/import",
            json_body(json!({"not": "an array"})),
            StatusCode::BAD_REQUEST,
        ),
        call(
            Method::POST,
            "/admin/v1/directory/import",
            "/admin/v1/directory/import",
            Some(("application/pdf", "%PDF".into())),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        call(
            Method::GET,
            "/admin/v1/directory/accounts",
            "/admin/v1/directory/accounts?limit=3",
            None,
            StatusCode::OK,
        ),
        call(
            Method::GET,
            "/admin/v1/directory/accounts",
            "/admin/v1/directory/accounts?unit_code=UBND-P02&after=binh.tt2",
            None,
            StatusCode::OK,
        ),
        call(
            Method::GET,
            "/admin/v1/directory/accounts",
            "/admin/v1/directory/accounts?limit=0",
            None,
            StatusCode::BAD_REQUEST,
        ),
        call(
            Method::GET,
            "/admin/v1/directory/accounts/{username}",
            "/admin/v1/directory/accounts/cuong.lv",
            None,
            StatusCode::OK,
        ),
        call(
            Method::GET,
            "/admin/v1/directory/accounts/{username}",
            "/admin/v1/directory/accounts/thieu.so",
            None,
            StatusCode::OK,
        ),
        call(
            Method::GET,
            "/admin/v1/directory/accounts/{username}",
            "/admin/v1/directory/accounts/nobody",
            None,
            StatusCode::NOT_FOUND,
        ),
        call(
            Method::GET,
            "/admin/v1/links",
            "/admin/v1/links",
            None,
            StatusCode::OK,
        ),
        call(
            Method::GET,
            "/admin/v1/links",
            "/admin/v1/links?limit=5000",
            None,
            StatusCode::BAD_REQUEST,
        ),
        call(
            Method::GET,
            "/admin/v1/links/conflicts",
            "/admin/v1/links/conflicts",
            None,
            StatusCode::OK,
        ),
        call(
            Method::DELETE,
            "/admin/v1/links/{username}",
            "/admin/v1/links/cuong.lv",
            None,
            StatusCode::NO_CONTENT,
        ),
        call(
            Method::DELETE,
            "/admin/v1/links/{username}",
            "/admin/v1/links/cuong.lv",
            None,
            StatusCode::NOT_FOUND,
        ),
        call(
            Method::POST,
            "/admin/v1/links",
            "/admin/v1/links",
            json_body(json!({"username": "cuong.lv", "person_id": officer_sub})),
            StatusCode::CREATED,
        ),
        call(
            Method::POST,
            "/admin/v1/links",
            "/admin/v1/links",
            json_body(json!({"username": "cuong.lv", "person_id": officer_sub})),
            StatusCode::CONFLICT,
        ),
        call(
            Method::POST,
            "/admin/v1/links",
            "/admin/v1/links",
            json_body(json!({"username": "nobody", "person_id": officer_sub})),
            StatusCode::NOT_FOUND,
        ),
        call(
            Method::POST,
            "/admin/v1/links",
            "/admin/v1/links",
            json_body(json!({"username": 7})),
            StatusCode::BAD_REQUEST,
        ),
        call(
            Method::GET,
            "/admin/v1/reports/readiness",
            "/admin/v1/reports/readiness",
            None,
            StatusCode::OK,
        ),
        call(
            Method::GET,
            "/admin/v1/reports/readiness",
            "/admin/v1/reports/readiness?format=csv",
            None,
            StatusCode::OK,
        ),
        call(
            Method::GET,
            "/admin/v1/reports/readiness",
            "/admin/v1/reports/readiness?format=xlsx",
            None,
            StatusCode::BAD_REQUEST,
        ),
        call(
            Method::GET,
            "/admin/v1/reports/logins",
            "/admin/v1/reports/logins",
            None,
            StatusCode::OK,
        ),
        call(
            Method::GET,
            "/admin/v1/reports/logins",
            "/admin/v1/reports/logins?from=2026-01-01&to=2026-01-31",
            None,
            StatusCode::OK,
        ),
        call(
            Method::GET,
            "/admin/v1/reports/logins",
            "/admin/v1/reports/logins?from=31/01/2026",
            None,
            StatusCode::BAD_REQUEST,
        ),
        call(
            Method::GET,
            "/admin/v1/audit",
            "/admin/v1/audit?limit=2",
            None,
            StatusCode::OK,
        ),
        call(
            Method::GET,
            "/admin/v1/audit",
            "/admin/v1/audit?from=2026-01-01&to=2026-01-01T12:00:00%2B07:00&kind=login",
            None,
            StatusCode::OK,
        ),
        call(
            Method::GET,
            "/admin/v1/audit",
            "/admin/v1/audit?cursor=abc",
            None,
            StatusCode::BAD_REQUEST,
        ),
    ];

    let mut covered = BTreeSet::new();
    let mut failures = Vec::new();
    for c in &calls {
        let (status, ct, body) = send(&gw.url, c, Some(&admin)).await;
        if status != c.expect {
            failures.push(format!(
                "{} {}: expected {}, got {status}: {}",
                c.method,
                c.path,
                c.expect,
                String::from_utf8_lossy(&body)
            ));
            continue;
        }
        for e in openapi::check_response(
            &doc,
            c.method.as_str(),
            c.template,
            status.as_u16(),
            &ct,
            &body,
        ) {
            failures.push(format!("{} {}: {e}", c.method, c.path));
        }
        covered.insert((c.method.to_string(), c.template.to_owned()));
        // Without a token, every admin API operation is a documented 401.
        if c.template.starts_with("/admin/v1/") {
            let (status, ct, body) = send(&gw.url, c, None).await;
            if status != StatusCode::UNAUTHORIZED {
                failures.push(format!("{} {} without a token: {status}", c.method, c.path));
            }
            for e in openapi::check_response(
                &doc,
                c.method.as_str(),
                c.template,
                status.as_u16(),
                &ct,
                &body,
            ) {
                failures.push(format!("{} {} without a token: {e}", c.method, c.path));
            }
        }
    }
    let documented: BTreeSet<(String, String)> = openapi::operations(&doc).into_iter().collect();
    for op in documented.difference(&covered) {
        failures.push(format!(
            "{} {} is documented but this test does not call it",
            op.0, op.1
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_checker_finds_what_does_not_match() {
    let doc = openapi::document();
    let report = |body: Value| {
        openapi::check_response(
            &doc,
            "GET",
            "/admin/v1/reports/readiness",
            200,
            "application/json",
            body.to_string().as_bytes(),
        )
    };
    let counts = json!({"accounts": 1, "staff": 1, "staff_valid_personal_id": 1, "staff_missing_personal_id": 0,
        "staff_invalid_personal_id": 0, "staff_duplicate_personal_id": 0, "staff_linked": 0,
        "staff_inactive": 0});
    let good = json!({"generated_at": "2026-11-27T08:00:00Z", "units": [], "totals": counts});
    assert_eq!(report(good.clone()), Vec::<String>::new());
    let mut extra = good.clone();
    extra["surprise"] = json!(1);
    assert!(report(extra).iter().any(|e| e.contains("surprise")));
    let mut missing = good.clone();
    missing["totals"].as_object_mut().unwrap().remove("staff");
    assert!(report(missing).iter().any(|e| e.contains("staff")));
    let mut wrong = good;
    wrong["generated_at"] = json!("yesterday");
    assert!(!report(wrong).is_empty());
    assert!(!openapi::check_response(
        &doc,
        "GET",
        "/admin/v1/reports/readiness",
        418,
        "application/json",
        b"{}"
    )
    .is_empty());
}

/// The checker reads OpenAPI 3.1's nullable forms (`type: [string, "null"]`, `anyOf` with
/// `{type: "null"}`) and refuses 3.0's `nullable`, which 3.1 no longer has.
#[test]
fn the_checker_reads_nullable_types_the_3_1_way() {
    let doc = openapi::document();
    let schema = json!({"type": "object", "properties": {
        "a": {"type": ["string", "null"]},
        "b": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    }});
    let check = |v: Value| {
        let mut errors = Vec::new();
        openapi::check(&doc, &schema, &v, "$", &mut errors);
        errors
    };
    assert!(check(json!({"a": null, "b": null})).is_empty());
    assert!(check(json!({"a": "x", "b": 3})).is_empty());
    assert!(!check(json!({"a": 3})).is_empty());
    assert!(!check(json!({"b": "x"})).is_empty());
    let mut errors = Vec::new();
    openapi::check(
        &doc,
        &json!({"type": "string", "nullable": true}),
        &json!(null),
        "$",
        &mut errors,
    );
    assert!(errors.iter().any(|e| e.contains("nullable")), "{errors:?}");
}

/// What integrators' generators and linters need of the document: OpenAPI 3.1, a server, and on
/// every operation a unique `operationId` and an explicit `security` (`[]` when public). The
/// document's validity against the OpenAPI schema is checked in CI by openapi-spec-validator.
#[test]
fn every_operation_has_an_id_and_says_how_it_is_authorized() {
    let doc = openapi::document();
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert!(
        doc["servers"].as_array().is_some_and(|s| !s.is_empty()),
        "servers"
    );
    let mut ids = std::collections::HashSet::new();
    for (method, path) in openapi::operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
        assert!(
            ids.insert(id.to_owned()),
            "{method} {path}: operationId {id} twice"
        );
        assert!(
            op["security"].is_array(),
            "{method} {path}: no security (write [] for a public operation)"
        );
    }
    let text = doc.to_string();
    assert!(
        !text.contains("\"nullable\""),
        "3.0's nullable in a 3.1 document"
    );
    // An unquoted `, ` inside a YAML flow mapping (`{ description: a, b }`) silently makes a key
    // `b` with no value: no value anywhere is null in this document.
    fn nulls(v: &Value, at: &str, out: &mut Vec<String>) {
        match v {
            Value::Null => out.push(at.to_owned()),
            Value::Object(m) => m
                .iter()
                .for_each(|(k, v)| nulls(v, &format!("{at}.{k}"), out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| nulls(v, &format!("{at}[{i}]"), out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    nulls(&doc, "$", &mut found);
    assert!(
        found.is_empty(),
        "keys without a value (an unquoted comma?): {found:?}"
    );
}
