//! Account types through the real simulator: an organisation's account at a portal that admits
//! both, at a citizens-only portal (first login and SSO), an account type no one knows, a
//! citizen unchanged; registered through the admin API too.

use reqwest::StatusCode;
use serde_json::{json, Value};
use vneid_e2e::*;

const BOTH: &str = "both-portal";
const BOTH_SECRET: &str = "both-portal-secret-0123456789-abcdefghij";
const CITIZENS: &str = "citizen-portal";
const CITIZENS_SECRET: &str = "citizen-portal-secret-0123456789-abcdefg";
const SCOPE: &str = "openid profile personal_id organisation";

/// A portal that admits both account types and one for citizens' files only.
fn portals() -> String {
    format!(
        r#"
[[clients]]
client_id = "{BOTH}"
client_secret = "{BOTH_SECRET}"
redirect_uris = ["{PORTAL_CB}"]
scopes = ["openid", "profile", "personal_id", "organisation"]
name = "Cổng dịch vụ công"

[[clients]]
client_id = "{CITIZENS}"
client_secret = "{CITIZENS_SECRET}"
redirect_uris = ["{PORTAL_CB}"]
scopes = ["openid", "profile", "personal_id", "organisation"]
account_types = ["citizen"]
name = "Cổng hồ sơ công dân"

[[clients]]
client_id = "ops-admin"
client_secret = "ops-admin-secret-0123456789-abcdefghijk"
grant_types = ["client_credentials"]
scopes = ["admin"]
"#
    )
}

/// The test portal's authorization request, as `client` asking for `scope`.
fn authorize_as(gw: &str, p: &Pkce, client: &str, scope: &str, extra: &[(&str, &str)]) -> String {
    let url =
        authorize_url(gw, p, extra).replace("client_id=portal", &format!("client_id={client}"));
    let default_scope = "scope=openid+profile+personal_id";
    assert!(url.contains(default_scope), "{url}");
    url.replace(default_scope, &format!("scope={}", scope.replace(' ', "+")))
}

/// The tokens of a login of `who` at `client` (admitted), and the browser it happened in.
async fn tokens(
    gw: &str,
    client: (&str, &str),
    who: &str,
    scope: &str,
) -> (Value, reqwest::Client) {
    let b = browser();
    let p = pkce();
    let Ended::Portal(q) = login(&b, &authorize_as(gw, &p, client.0, scope, &[]), who).await else {
        panic!("{who} must be admitted at {}", client.0)
    };
    let res = exchange_as(gw, client, &q["code"], &p.verifier).await;
    assert_eq!(res.status(), StatusCode::OK);
    (res.json().await.unwrap(), b)
}

async fn userinfo(gw: &str, access_token: &str) -> Value {
    let res = reqwest::Client::new()
        .get(format!("{gw}/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// A login of `who` at `client` ends on the refusal page with `code`; returns the page and the
/// query of its link back to the portal.
async fn refused_at(
    gw: &TestGateway,
    client: &str,
    who: &str,
    code: &str,
) -> (String, std::collections::HashMap<String, String>) {
    let b = browser();
    let Ended::Page(status, html) =
        login(&b, &authorize_as(&gw.url, &pkce(), client, SCOPE, &[]), who).await
    else {
        panic!("{who} must be refused at {client}")
    };
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(
        html.contains(&format!("<code>{code}</code>")),
        "{code}:\n{html}"
    );
    assert!(html.contains("Không thể đăng nhập"), "{html}");
    let start = html
        .find("href=\"http://127.0.0.1:9/cb?")
        .expect("link back to the portal");
    let href = &html[start + 6..];
    let href = href[..href.find('"').unwrap()].replace("&amp;", "&");
    let back = query(&href);
    assert_eq!(back["error"], "access_denied");
    assert!(back["error_description"].starts_with(code), "{back:?}");
    assert!(!back.contains_key("code"));
    // Audited and counted like every refusal.
    assert!(audit_of(gw, "login")
        .await
        .iter()
        .any(|e| e.outcome == "refused" && e.reason.as_deref() == Some(code)));
    assert!(metrics(&gw.url)
        .await
        .contains(&format!("outcome=\"refused\",reason=\"{code}\"")));
    (html, back)
}

#[actix_web::test]
async fn an_organisation_at_a_portal_that_admits_both_is_told_apart_and_gets_no_personal_id() {
    let gw = spawn_embedded(&portals()).await;
    let (t, _) = tokens(&gw.url, (BOTH, BOTH_SECRET), people::ORGANISATION, SCOPE).await;
    let id = verify(&gw.url, t["id_token"].as_str().unwrap(), BOTH).await;
    assert_eq!(id["account_type"], "organisation");
    assert_eq!(
        id["organisation"],
        json!({"id": "4101234567", "name": "Công ty TNHH Quy Nhơn Xanh", "representative": "Trần Văn Đức"})
    );
    assert!(
        id.get("personal_id").is_none(),
        "the 12-digit SoDinhDanh of an organisation is never a personal ID: {id}"
    );
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(
        verify(&gw.url, at, BOTH).await["account_type"],
        "organisation"
    );
    let info = userinfo(&gw.url, at).await;
    assert_eq!(info["account_type"], "organisation");
    assert_eq!(info["organisation"], id["organisation"]);
    assert!(info.get("personal_id").is_none(), "{info}");

    // Stored as an organisation: no personal ID number, sealed or hashed.
    let person = gw
        .app
        .db
        .person(id["sub"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(person.account_type, vneid_core::AccountType::Organisation);
    assert!(person.personal_id_sealed.is_none());
    assert!(gw
        .app
        .db
        .person_by_personal_id_hash(&gw.app.master.personal_id_hash(people::ORGANISATION))
        .await
        .unwrap()
        .is_none());
    let login = audit_of(&gw, "login")
        .await
        .into_iter()
        .find(|e| e.outcome == "success")
        .unwrap();
    assert_eq!(login.detail["account_type"], "organisation");
    assert_eq!(login.subject_masked, None);

    // The same organisation again: the same `sub`. Without the scope, no organisation claim.
    let (t, _) = tokens(
        &gw.url,
        (BOTH, BOTH_SECRET),
        people::ORGANISATION,
        "openid profile",
    )
    .await;
    let again = verify(&gw.url, t["id_token"].as_str().unwrap(), BOTH).await;
    assert_eq!(again["sub"], id["sub"]);
    assert_eq!(again["account_type"], "organisation");
    assert!(again.get("organisation").is_none(), "{again}");
}

#[actix_web::test]
async fn an_organisation_at_a_citizens_only_portal_gets_a_page_that_says_why() {
    let gw = spawn_embedded(&portals()).await;
    let (html, back) = refused_at(
        &gw,
        CITIZENS,
        people::ORGANISATION,
        "account_type_not_allowed",
    )
    .await;
    assert!(html.contains("Dịch vụ này chỉ dành cho công dân"), "{html}");
    assert!(
        html.contains("tài khoản định danh điện tử của tổ chức, doanh nghiệp"),
        "{html}"
    );
    assert!(html.contains("Quay lại Cổng hồ sơ công dân"), "{html}");
    assert_eq!(back["state"], "st-123");
    let event = audit_of(&gw, "login")
        .await
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("account_type_not_allowed"))
        .unwrap();
    assert_eq!(event.detail["account_type"], "organisation");
}

#[actix_web::test]
async fn an_organisations_sso_session_gives_no_code_to_a_citizens_only_portal() {
    let gw = spawn_embedded(&portals()).await;
    let (_, b) = tokens(&gw.url, (BOTH, BOTH_SECRET), people::ORGANISATION, SCOPE).await;
    // The session serves the portal that admits organisations at once…
    let res = b
        .get(authorize_as(&gw.url, &pkce(), BOTH, SCOPE, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let to = location(&res);
    assert!(
        to.starts_with(PORTAL_CB) && query(&to).contains_key("code"),
        "{to}"
    );
    // …not the citizens' one: the person is sent to log in again,
    let res = b
        .get(authorize_as(&gw.url, &pkce(), CITIZENS, SCOPE, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let to = location(&res);
    assert!(!to.starts_with(PORTAL_CB), "no code from the session: {to}");
    // and `prompt=none` is told a login is required.
    let res = b
        .get(authorize_as(
            &gw.url,
            &pkce(),
            CITIZENS,
            SCOPE,
            &[("prompt", "none")],
        ))
        .send()
        .await
        .unwrap();
    let to = location(&res);
    assert!(to.starts_with(PORTAL_CB), "{to}");
    assert_eq!(query(&to)["error"], "login_required");
}

#[actix_web::test]
async fn an_unknown_account_type_is_refused_with_its_reason_code() {
    let gw = spawn_embedded(&portals()).await;
    let (html, _) = refused_at(
        &gw,
        BOTH,
        people::UNKNOWN_ACCOUNT_TYPE,
        "account_type_unknown",
    )
    .await;
    assert!(
        html.contains("Không xác định được loại tài khoản"),
        "{html}"
    );
    let event = audit_of(&gw, "login")
        .await
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("account_type_unknown"))
        .unwrap();
    assert_eq!(
        event.detail["account_type"], "3",
        "the value received, for the operator"
    );
}

#[actix_web::test]
async fn a_citizen_is_unchanged_and_told_citizen_everywhere() {
    let gw = spawn_embedded(&portals()).await;
    for (client, secret) in [(CITIZENS, CITIZENS_SECRET), (BOTH, BOTH_SECRET)] {
        let (t, _) = tokens(&gw.url, (client, secret), people::LEVEL2_CITIZEN, SCOPE).await;
        let id = verify(&gw.url, t["id_token"].as_str().unwrap(), client).await;
        assert_eq!(id["account_type"], "citizen");
        assert_eq!(id["personal_id"], people::LEVEL2_CITIZEN);
        assert_eq!(id["name"], "Nguyễn Văn An");
        assert!(
            id.get("organisation").is_none(),
            "a citizen has no organisation: {id}"
        );
        let info = userinfo(&gw.url, t["access_token"].as_str().unwrap()).await;
        assert_eq!(info["account_type"], "citizen");
        assert_eq!(info["personal_id"], people::LEVEL2_CITIZEN);
    }
    let d: Value = reqwest::get(format!("{}/.well-known/openid-configuration", gw.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let has = |key: &str, v: &str| d[key].as_array().unwrap().iter().any(|x| x == v);
    assert!(has("scopes_supported", "organisation"));
    assert!(has("claims_supported", "account_type"));
    assert!(has("claims_supported", "organisation"));
}

#[actix_web::test]
async fn account_types_are_registered_through_the_admin_api_and_checked() {
    let gw = spawn_embedded(&portals()).await;
    let res = reqwest::Client::new()
        .post(format!("{}/token", gw.url))
        .basic_auth("ops-admin", Some("ops-admin-secret-0123456789-abcdefghijk"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let admin = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let create = |body: Value| {
        reqwest::Client::new()
            .post(format!("{}/admin/v1/clients", gw.url))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let res = create(
        json!({"client_id": "bad", "redirect_uris": [PORTAL_CB], "account_types": ["company"]}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["field"], "account_types", "{problem}");

    let res = create(json!({
        "client_id": "ho-so-cong-dan",
        "redirect_uris": [PORTAL_CB],
        "scopes": ["openid", "profile"],
        "account_types": ["citizen"],
    }))
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["account_types"], json!(["citizen"]));
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    refused_at(
        &gw,
        "ho-so-cong-dan",
        people::ORGANISATION,
        "account_type_not_allowed",
    )
    .await;
    let (t, _) = tokens(
        &gw.url,
        ("ho-so-cong-dan", &secret),
        people::LEVEL2_CITIZEN,
        "openid",
    )
    .await;
    assert!(t["id_token"].is_string());

    // A client that names none admits both; the listing says so.
    let listed: Value = reqwest::Client::new()
        .get(format!("{}/admin/v1/clients/{BOTH}", gw.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["account_types"], json!(["citizen", "organisation"]));
}

#[actix_web::test]
async fn gateway_clients_add_takes_account_types_and_refuses_an_unknown_one() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let path = dir.path().join("g.toml");
    let cfg = format!(
        "[database]\nurl = \"sqlite://{}\"\n[log]\nfilter = \"warn\"\n[simulator]\nenabled = true\n",
        db.display()
    );
    std::fs::write(&path, &cfg).unwrap();
    let gateway = |args: &[&str]| {
        let out = Command::new(crate::binary::gateway_bin())
            .args(args)
            .arg("--config")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), err)
    };
    assert!(gateway(&["migrate"]).0);
    let add = |id: &str, account_type: &str| {
        gateway(&[
            "clients",
            "add",
            "--id",
            id,
            "--redirect-uri",
            PORTAL_CB,
            "--account-type",
            account_type,
        ])
    };
    let (ok, err) = add("ho-so", "citizen");
    assert!(ok, "{err}");
    let (ok, err) = add("ho-so-2", "company");
    assert!(!ok);
    assert!(
        err.contains("account_types") && err.contains("company"),
        "{err}"
    );
    let store = vneid_store::Database::connect(&format!("sqlite://{}", db.display()), 1)
        .await
        .unwrap();
    let row = store.client("ho-so").await.unwrap().unwrap();
    assert_eq!(row.account_types, Some(vec!["citizen".to_owned()]));
    assert!(store.client("ho-so-2").await.unwrap().is_none());
}

#[actix_web::test]
async fn a_portal_that_stops_admitting_organisations_refreshes_no_organisation_tokens() {
    let gw = spawn_embedded(&portals()).await;
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{}/token", gw.url))
        .basic_auth("ops-admin", Some("ops-admin-secret-0123456789-abcdefghijk"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let admin = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let created: Value = http
        .post(format!("{}/admin/v1/clients", gw.url))
        .bearer_auth(&admin)
        .json(&json!({
            "client_id": "cong-chung",
            "redirect_uris": [PORTAL_CB],
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "offline_access"],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let (t, _) = tokens(
        &gw.url,
        ("cong-chung", &secret),
        people::ORGANISATION,
        "openid offline_access",
    )
    .await;
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();
    let res = http
        .patch(format!("{}/admin/v1/clients/cong-chung", gw.url))
        .bearer_auth(&admin)
        .json(&json!({"account_types": ["citizen"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = http
        .post(format!("{}/token", gw.url))
        .basic_auth("cong-chung", Some(&secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("organisation"),
        "{body}"
    );
}
