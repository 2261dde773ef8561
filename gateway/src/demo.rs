//! The demo portal at `/demo`: a real relying party of this gateway, over HTTP like any portal.
//! It starts a login (PKCE, state, nonce), exchanges the code at `/token`, verifies the ID token
//! against `/jwks`, calls `/userinfo`, and shows the verified claims.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;
use url::Url;
use vneid_tokens::random_token;

use crate::config::{ClientAuthMethod, ClientSettings};
use crate::pages::{page, scroll};
use crate::params::Params;
use crate::state::AppState;

/// The demo portal's client id.
pub const DEMO_CLIENT: &str = "demo";

const NS_DEMO: &str = "demo";
const SCOPE: &str = "openid profile personal_id account organisation";

pub fn client_settings(issuer: &str) -> anyhow::Result<ClientSettings> {
    Ok(ClientSettings {
        client_id: DEMO_CLIENT.into(),
        client_secret: Some(crate::clients::new_client_secret()?),
        token_endpoint_auth_method: Some(ClientAuthMethod::ClientSecretBasic),
        redirect_uris: vec![Url::parse(&format!("{issuer}/demo/callback"))?],
        post_logout_redirect_uris: vec![Url::parse(&format!("{issuer}/demo"))?],
        backchannel_logout_uri: None,
        grant_types: vec!["authorization_code".into()],
        scopes: [
            "openid",
            "profile",
            "personal_id",
            "account",
            "organisation",
        ]
        .map(String::from)
        .to_vec(),
        min_level: None,
        account_types: crate::config::default_account_types(),
        upstreams: vec![],
        name: Some("Cổng dịch vụ công thử nghiệm".into()),
        jwks: None,
        subject_type: Default::default(),
        sector_identifier: None,
        require_pushed_authorization_requests: None,
        dpop_bound_access_tokens: None,
        profile: Default::default(),
        builtin: true,
    })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/demo", web::get().to(index))
        .service(
            web::resource("/demo/login")
                .wrap(actix_web::middleware::from_fn(
                    crate::http::throttle::login_start,
                ))
                .route(web::get().to(start)),
        )
        .route("/demo/callback", web::get().to(callback));
}

#[derive(Serialize, Deserialize)]
struct DemoLogin {
    nonce: String,
    verifier: String,
}

async fn index() -> HttpResponse {
    page(
        StatusCode::OK,
        "Cổng dịch vụ công thử nghiệm",
        maud::html! {
            h1 { "Cổng dịch vụ công thử nghiệm" }
            p { "Trang này đóng vai một cổng dịch vụ công của tỉnh. Nhấn nút dưới đây để đăng nhập bằng tài khoản định danh điện tử VNeID qua hệ thống xác thực tập trung." }
            p { a.button href="/demo/login" { "Đăng nhập bằng VNeID" } }
            p.muted {
                "Tài khoản thử nghiệm và mật khẩu có trong README của bộ giả lập; mã OTP hiện trên "
                a href="/simulator/phone" target="_blank" { "điện thoại giả lập" }
                "."
            }
        },
    )
}

fn demo_error(message: &str) -> HttpResponse {
    demo_error_page(StatusCode::BAD_GATEWAY, message, None)
}

fn demo_error_page(status: StatusCode, message: &str, detail: Option<&str>) -> HttpResponse {
    page(
        status,
        "Cổng dịch vụ công thử nghiệm",
        maud::html! {
            h1 { "Đăng nhập không thành công" }
            div.reason { (message) }
            @if let Some(d) = detail {
                h2.small { "Chi tiết kỹ thuật" }
                p.muted { code { (d) } }
            }
            p { a.button href="/demo" { "Thử lại" } }
        },
    )
}

/// What the portal tells the person for an error the gateway sent back.
fn error_text(error: &str) -> &'static str {
    match error {
        "access_denied" => "Hệ thống xác thực không cho phép đăng nhập (ví dụ: tài khoản chưa đạt mức độ 2, hoặc không phải tài khoản VNeID).",
        "login_required" => "Bạn chưa đăng nhập.",
        "temporarily_unavailable" => "Hệ thống xác thực tạm thời gián đoạn. Vui lòng thử lại sau.",
        _ => "Hệ thống xác thực trả về lỗi.",
    }
}

async fn start(state: web::Data<AppState>) -> HttpResponse {
    let (Ok(st), Ok(nonce), Ok(verifier)) = (random_token(16), random_token(16), random_token(32))
    else {
        return demo_error("Không tạo được mã ngẫu nhiên.");
    };
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
    );
    let Ok(saved) = serde_json::to_string(&DemoLogin {
        nonce: nonce.clone(),
        verifier,
    }) else {
        return demo_error("Lỗi nội bộ.");
    };
    if state
        .ephemeral
        .put(NS_DEMO, &st, &saved, Duration::from_secs(900))
        .await
        .is_err()
    {
        return demo_error("Hệ thống tạm thời gián đoạn.");
    }
    let mut url = match Url::parse(&state.url("/authorize")) {
        Ok(u) => u,
        Err(_) => return demo_error("Lỗi cấu hình."),
    };
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", DEMO_CLIENT)
        .append_pair("redirect_uri", &state.url("/demo/callback"))
        .append_pair("scope", SCOPE)
        .append_pair("state", &st)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    HttpResponse::Found()
        .insert_header((header::LOCATION, url.to_string()))
        .finish()
}

async fn callback(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Ok(p) = Params::parse(req.query_string().as_bytes()) else {
        return demo_error("Tham số không hợp lệ.");
    };
    if p.get("iss") != Some(state.issuer.as_str()) {
        return demo_error("Phản hồi không đến từ hệ thống xác thực mong đợi (iss).");
    }
    let Some(st) = p.get("state") else {
        return demo_error("Thiếu state.");
    };
    let saved: DemoLogin = match state.ephemeral.take(NS_DEMO, st).await {
        Ok(Some(s)) => match serde_json::from_str(&s) {
            Ok(d) => d,
            Err(_) => return demo_error("Lỗi nội bộ."),
        },
        _ => {
            return demo_error("Phiên đăng nhập của cổng thử nghiệm đã hết hạn. Vui lòng thử lại.")
        }
    };
    if let Some(err) = p.get("error") {
        let detail = format!(
            "error={err}; error_description={}",
            p.get("error_description").unwrap_or("")
        );
        return demo_error_page(StatusCode::OK, error_text(err), Some(&detail));
    }
    let Some(code) = p.get("code") else {
        return demo_error("Thiếu mã code.");
    };
    match exchange(&state, code, &saved).await {
        Ok(verified) => show(&state, &verified),
        Err(e) => demo_error(&e),
    }
}

async fn exchange(state: &AppState, code: &str, saved: &DemoLogin) -> Result<Verified, String> {
    let secret = state
        .settings
        .clients
        .iter()
        .find(|c| c.client_id == DEMO_CLIENT)
        .and_then(|c| c.client_secret.as_ref())
        .ok_or("demo client missing")?;
    let redirect_uri = state.url("/demo/callback");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", saved.verifier.as_str()),
    ];
    let res = state
        .http
        .post(state.url("/token"))
        .basic_auth(DEMO_CLIENT, Some(secret.expose_secret()))
        .form(&form)
        .send()
        .await
        .map_err(|e| format!("Không gọi được /token: {e}"))?;
    let status = res.status();
    let body: Value = res
        .json()
        .await
        .map_err(|e| format!("/token trả về dữ liệu lạ: {e}"))?;
    if !status.is_success() {
        return Err(format!("/token trả về {status}: {body}"));
    }
    let id_token = body["id_token"].as_str().ok_or("thiếu id_token")?;
    let access_token = body["access_token"].as_str().ok_or("thiếu access_token")?;
    let jwks: jsonwebtoken::jwk::JwkSet = state
        .http
        .get(state.url("/jwks"))
        .send()
        .await
        .map_err(|e| format!("Không tải được JWKS: {e}"))?
        .json()
        .await
        .map_err(|e| format!("JWKS không hợp lệ: {e}"))?;
    let header = jsonwebtoken::decode_header(id_token).map_err(|e| format!("ID token: {e}"))?;
    let kid = header.kid.ok_or("ID token thiếu kid")?;
    let jwk = jwks.find(&kid).ok_or("kid không có trong JWKS")?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| format!("JWK: {e}"))?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[DEMO_CLIENT]);
    v.set_issuer(&[state.issuer.as_str()]);
    let data = jsonwebtoken::decode::<Value>(id_token, &key, &v)
        .map_err(|e| format!("Chữ ký hoặc nội dung ID token không hợp lệ: {e}"))?;
    if data.claims["nonce"].as_str() != Some(saved.nonce.as_str()) {
        return Err("nonce không khớp".into());
    }
    let userinfo: Value = state
        .http
        .get(state.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .map_err(|e| format!("Không gọi được /userinfo: {e}"))?
        .json()
        .await
        .map_err(|e| format!("/userinfo: {e}"))?;
    Ok(Verified {
        id_token: id_token.to_owned(),
        claims: data.claims,
        userinfo,
    })
}

/// What a successful login gave the portal.
struct Verified {
    /// Kept for the logout (`id_token_hint`).
    id_token: String,
    claims: Value,
    userinfo: Value,
}

/// The claims a citizen reads on the page, in Vietnamese; the technical name follows in brackets.
fn label(claim: &str) -> &'static str {
    match claim {
        "sub" => "Mã người dùng tại cổng",
        "name" => "Họ và tên",
        "birthdate" => "Ngày sinh",
        "personal_id" => "Số định danh cá nhân",
        "account" => "Tài khoản Hệ thống Một cửa",
        "account_type" => "Loại tài khoản",
        "organisation" => "Tổ chức, doanh nghiệp",
        "acr" => "Mức độ tài khoản",
        "amr" => "Cách xác thực",
        "auth_time" => "Thời điểm đăng nhập",
        "iat" => "Thời điểm cấp",
        "exp" => "Hết hạn lúc",
        "iss" => "Hệ thống cấp",
        "aud" => "Cấp cho cổng",
        "azp" => "Bên được cấp",
        "nonce" => "Mã chống phát lại",
        "sid" => "Phiên đăng nhập",
        "idp" => "Hệ thống xác thực",
        "login_idp" => "Tài khoản đã dùng để đăng nhập",
        "at_hash" => "Mã kiểm tra access token",
        _ => "Thông tin khác",
    }
}

/// A claim's value as a citizen reads it: Unix times as Vietnam time, the birth date as
/// dd/mm/yyyy, the level and the one-stop-shop account in words.
fn readable(claim: &str, v: &Value) -> String {
    match (claim, v) {
        ("auth_time" | "iat" | "exp", Value::Number(n)) => n
            .as_i64()
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| {
                vneid_core::vietnam::local(t)
                    .format("%d/%m/%Y %H:%M:%S (giờ Việt Nam)")
                    .to_string()
            })
            .unwrap_or_else(|| n.to_string()),
        ("account_type", Value::String(s)) if s == "citizen" => format!("Công dân ({s})"),
        ("account_type", Value::String(s)) if s == "organisation" => {
            format!("Tổ chức, doanh nghiệp ({s})")
        }
        ("organisation", Value::Object(o)) => {
            let text = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or_default();
            format!(
                "{} — mã số {}, người đại diện: {}",
                text("name"),
                text("id"),
                text("representative")
            )
        }
        ("acr", Value::String(s)) if s == "urn:vneid:loa:2" => format!("Mức độ 2 ({s})"),
        ("acr", Value::String(s)) if s == "urn:vneid:loa:1" => format!("Mức độ 1 ({s})"),
        ("birthdate", Value::String(s)) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_or_else(|_| s.clone(), |d| d.format("%d/%m/%Y").to_string()),
        ("account", Value::Object(a)) => {
            let text = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or_default();
            let kind = match text("kind") {
                "staff" => "cán bộ, công chức, viên chức",
                "citizen" => "công dân",
                "organisation" => "tổ chức, doanh nghiệp",
                other => other,
            };
            format!(
                "{} — {} ({}), {kind}",
                text("username"),
                text("unit_name"),
                text("unit_code")
            )
        }
        ("amr", Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

/// A table row per claim (`data-claim` = its name): the Vietnamese label with the name, and the
/// value as a citizen reads it.
fn rows(v: &Value) -> maud::Markup {
    maud::html! {
        @if let Some(m) = v.as_object() {
            @for (k, v) in m {
                tr data-claim=(k) {
                    th { (label(k)) " " span.muted { "(" (k) ")" } }
                    td.value { (readable(k, v)) }
                }
            }
        }
    }
}

fn show(state: &AppState, verified: &Verified) -> HttpResponse {
    let name = verified.claims["name"].as_str().unwrap_or("bạn");
    page(
        StatusCode::OK,
        "Đăng nhập thành công",
        maud::html! {
            h1 { "Xin chào, " (name) "!" }
            p { "Đăng nhập thành công. Chữ ký của ID token đã được kiểm tra với khóa công khai của hệ thống (JWKS)." }
            h2 { "Thông tin trong ID token" }
            (scroll("Thông tin trong ID token", maud::html! { table { (rows(&verified.claims)) } }))
            h2 { "Thông tin từ /userinfo" }
            (scroll("Thông tin từ /userinfo", maud::html! { table { (rows(&verified.userinfo)) } }))
            // RP-initiated logout: the ID token says which session; back here afterwards.
            form.actions method="post" action=(state.url("/logout")) {
                input type="hidden" name="id_token_hint" value=(verified.id_token);
                input type="hidden" name="post_logout_redirect_uri" value=(state.url("/demo"));
                button type="submit" { "Đăng xuất" }
                " "
                a.button.secondary href="/demo" { "Về trang đầu" }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use serde_json::json;

    use super::readable;

    #[test]
    fn claims_read_as_a_citizen_reads_them() {
        assert_eq!(readable("birthdate", &json!("1990-01-15")), "15/01/1990");
        assert_eq!(readable("birthdate", &json!("1990")), "1990");
        assert_eq!(
            readable(
                "account",
                &json!({"username": "binh.tt", "unit_code": "UBND-P01",
                        "unit_name": "UBND phường Hải Châu 1", "kind": "staff"})
            ),
            "binh.tt — UBND phường Hải Châu 1 (UBND-P01), cán bộ, công chức, viên chức"
        );
        assert_eq!(readable("amr", &json!(["pwd", "otp"])), "pwd, otp");
        assert_eq!(
            readable("account_type", &json!("organisation")),
            "Tổ chức, doanh nghiệp (organisation)"
        );
        assert_eq!(
            readable(
                "organisation",
                &json!({"id": "4100123456", "name": "Công ty TNHH Thương mại Quy Nhơn",
                        "representative": "Trần Văn Đức"})
            ),
            "Công ty TNHH Thương mại Quy Nhơn — mã số 4100123456, người đại diện: Trần Văn Đức"
        );
        assert_eq!(
            readable("auth_time", &json!(1_750_000_000)),
            "15/06/2025 22:06:40 (giờ Việt Nam)"
        );
    }
}
