//! The IT centre's pages under `/admin`: the readiness report in a browser.
//!
//! Who may look: a person logged in at this gateway through VNeID at level 2 whose linked
//! one-stop-shop account is listed in `admin.console_users`. The page logs people in like any
//! portal would — through `/authorize` as the built-in client [`CONSOLE_CLIENT`] — so the
//! same policy, audit and SSO session apply; the code it gets back is only spent, since the
//! SSO session already says who the person is.

mod bars;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use url::Url;
use vneid_directory::report::{self, ReadinessReport};

use crate::config::{ClientAuthMethod, ClientSettings};
use crate::directory::ConsoleAccess;
use crate::errors::PageError;
use crate::login::{codes, session, SESSION_COOKIE};
use crate::pages::{page, scroll};
use crate::params::Params;
use crate::state::AppState;

/// The built-in client the console logs people in with.
pub const CONSOLE_CLIENT: &str = "vneid-admin-console";
const NS_CONSOLE: &str = "console";
const TITLE: &str = "Mức độ sẵn sàng đăng nhập bằng VNeID";

type Data = web::Data<AppState>;

/// The console's client: confidential (its secret is never used: the console spends its codes
/// without the token endpoint), level 2, citizens only (an organisation's account is refused
/// at the login with a page that says why), no scopes beyond `openid`.
pub fn client_settings(issuer: &str) -> anyhow::Result<ClientSettings> {
    Ok(ClientSettings {
        client_id: CONSOLE_CLIENT.into(),
        client_secret: Some(crate::clients::new_client_secret()?),
        token_endpoint_auth_method: Some(ClientAuthMethod::ClientSecretBasic),
        redirect_uris: vec![Url::parse(&format!("{issuer}/admin/callback"))?],
        post_logout_redirect_uris: vec![Url::parse(&format!("{issuer}/admin/readiness"))?],
        backchannel_logout_uri: None,
        grant_types: vec!["authorization_code".into()],
        scopes: vec!["openid".into()],
        min_level: Some(vneid_core::AssuranceLevel::Level2),
        account_types: vec![vneid_core::AccountType::Citizen.as_str().to_owned()],
        upstreams: vec![],
        name: Some("Trang quản trị - Trung tâm CNTT".into()),
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
    cfg.route(
        "/admin",
        web::get().to(|| async {
            HttpResponse::Found()
                .insert_header((header::LOCATION, "/admin/readiness"))
                .finish()
        }),
    )
    .route("/admin/readiness", web::get().to(readiness))
    .route("/admin/readiness.csv", web::get().to(readiness_csv))
    .service(
        web::resource("/admin/login")
            .wrap(actix_web::middleware::from_fn(
                crate::http::throttle::login_start,
            ))
            .route(web::get().to(start)),
    )
    .route("/admin/callback", web::get().to(callback));
}

/// Who is looking, if they may.
enum Viewer {
    /// No session: offer the login.
    Anonymous,
    /// Logged in, but not allowed; the page says why.
    Refused(String),
    Allowed {
        username: String,
    },
}

async fn viewer(req: &HttpRequest, state: &AppState) -> Result<Viewer, PageError> {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(Viewer::Anonymous);
    };
    let Some(session) = session::get(state, cookie.value()).await? else {
        return Ok(Viewer::Anonymous);
    };
    Ok(
        match crate::directory::console_access(state, &session.auth).await? {
            ConsoleAccess::Allowed { username } => Viewer::Allowed { username },
            ConsoleAccess::Refused(why) => Viewer::Refused(why),
        },
    )
}

fn login_page() -> HttpResponse {
    page(
        StatusCode::OK,
        TITLE,
        maud::html! {
            h1 { (TITLE) }
            p { "Trang dành cho Trung tâm Công nghệ thông tin: đơn vị nào đã sẵn sàng để cán bộ, công chức, viên chức đăng nhập Hệ thống Một cửa điện tử bằng tài khoản định danh điện tử VNeID, và ai chưa." }
            p { a.button href="/admin/login" { "Đăng nhập bằng VNeID" } }
        },
    )
}

async fn report_for(state: &AppState) -> Result<ReadinessReport, PageError> {
    Ok(crate::directory::readiness_report(
        &state.db,
        &state.master,
        &state.settings.policy.vneid_login_idp,
        false,
        state.clock.now(),
    )
    .await?)
}

async fn readiness(req: HttpRequest, state: Data) -> Result<HttpResponse, PageError> {
    Ok(match viewer(&req, &state).await? {
        Viewer::Anonymous => login_page(),
        // Whoever logged in with the wrong account must not be stuck on this page.
        Viewer::Refused(why) => page(
            StatusCode::FORBIDDEN,
            "Không có quyền truy cập",
            maud::html! {
                h1 { "Không có quyền truy cập" }
                p { (why) }
                (account_links(&state))
            },
        ),
        Viewer::Allowed { username } => {
            let r = report_for(&state).await?;
            page(
                StatusCode::OK,
                TITLE,
                maud::html! { (render(&r, &username)) (account_links(&state)) },
            )
        }
    })
}

async fn readiness_csv(req: HttpRequest, state: Data) -> Result<HttpResponse, PageError> {
    Ok(match viewer(&req, &state).await? {
        Viewer::Allowed { .. } => {
            let r = report_for(&state).await?;
            HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .insert_header(("Cache-Control", "no-store"))
                .insert_header((
                    "Content-Disposition",
                    "attachment; filename=\"muc-do-san-sang.csv\"",
                ))
                .body(report::readiness_csv(&r))
        }
        _ => HttpResponse::Found()
            .insert_header((header::LOCATION, "/admin/readiness"))
            .finish(),
    })
}

fn reason_vi(reason: &str) -> &'static str {
    match reason {
        "personal_id_missing" => "Chưa có số định danh cá nhân",
        "personal_id_duplicate" => "Số định danh cá nhân trùng với tài khoản khác",
        _ => "Số định danh cá nhân không hợp lệ",
    }
}

fn problem_vi(problem: Option<&str>) -> &'static str {
    match problem {
        Some("unknown_province") => " (mã tỉnh không tồn tại)",
        Some("birth_year_mismatch") => " (năm sinh không khớp)",
        Some("century") => " (mã thế kỷ, giới tính không hợp lệ)",
        Some(_) => " (sai định dạng: phải gồm đúng 12 chữ số)",
        None => "",
    }
}

/// The report as a page: a row per unit, the totals, then each unit's accounts to fix.
fn render(r: &ReadinessReport, username: &str) -> maud::Markup {
    let t = &r.totals;
    let any_not_ready = r.units.iter().any(|u| !u.not_ready.is_empty());
    maud::html! {
        h1 { (TITLE) }
        p.muted {
            "Lập lúc " (vneid_core::vietnam::local(r.generated_at).format("%d/%m/%Y %H:%M"))
            " (giờ Việt Nam) · người xem: " (username) " · "
            a href="/admin/readiness.csv" { "Tải về CSV" }
        }
        (bars::render(r))
        (scroll("Bảng mức độ sẵn sàng theo đơn vị", maud::html! {
            table.wide {
                tr {
                    th { "Mã đơn vị" } th { "Tên đơn vị" } th { "Tài khoản" } th { "CBCCVC" }
                    th { "Số định danh hợp lệ" } th { "Thiếu số" } th { "Số sai" } th { "Số trùng" }
                    th { "Đã liên kết VNeID mức 2" }
                }
                @for u in &r.units {
                    @let c = &u.counts;
                    tr {
                        td { (u.unit_code) } td { (u.unit_name) } td { (c.accounts) } td { (c.staff) }
                        td { (c.staff_valid_personal_id) } td { (c.staff_missing_personal_id) }
                        td { (c.staff_invalid_personal_id) } td { (c.staff_duplicate_personal_id) }
                        td { (c.staff_linked) }
                    }
                }
                tr {
                    th colspan="2" { "Tổng cộng" }
                    th { (t.accounts) } th { (t.staff) } th { (t.staff_valid_personal_id) }
                    th { (t.staff_missing_personal_id) } th { (t.staff_invalid_personal_id) }
                    th { (t.staff_duplicate_personal_id) } th { (t.staff_linked) }
                }
            }
        }))
        h2 { "Tài khoản cần đơn vị rà soát, cập nhật" }
        @if !any_not_ready {
            p { "Tất cả tài khoản cán bộ đã có số định danh cá nhân hợp lệ." }
        }
        @for u in r.units.iter().filter(|u| !u.not_ready.is_empty()) {
            details {
                summary { (u.unit_code) " — " (u.unit_name) " (" (u.not_ready.len()) " tài khoản chưa sẵn sàng)" }
                (scroll(&format!("Tài khoản chưa sẵn sàng của {}", u.unit_name), maud::html! {
                    table.list {
                        tr { th { "Tên đăng nhập" } th { "Họ và tên" } th { "Lý do" } th { "Số định danh" } }
                        @for n in &u.not_ready {
                            tr {
                                td { (n.username) }
                                td { (n.full_name) }
                                td {
                                    (reason_vi(n.reason))
                                    @if n.reason == "personal_id_invalid" { (problem_vi(n.problem.as_deref())) }
                                }
                                td { code.nowrap { (n.personal_id.as_deref().unwrap_or("")) } }
                            }
                        }
                    }
                }))
            }
        }
    }
}

/// "Đăng nhập bằng tài khoản khác" (a fresh VNeID login, `prompt=login`) and "Đăng xuất" (the
/// gateway's logout, which asks the person to confirm and comes back to this page).
fn account_links(state: &AppState) -> maud::Markup {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", CONSOLE_CLIENT)
        .append_pair("post_logout_redirect_uri", &state.url("/admin/readiness"))
        .finish();
    let logout = format!("{}?{query}", state.url("/logout"));
    maud::html! {
        p.actions {
            a.button href="/admin/login?prompt=login" { "Đăng nhập bằng tài khoản khác" }
            " "
            a href=(logout) { "Đăng xuất" }
        }
    }
}

#[derive(serde::Deserialize)]
struct StartQuery {
    /// `login`: a fresh login at VNeID even with a session (another account).
    prompt: Option<String>,
}

/// `/admin/login`: an authorization request of the console, at level 2.
async fn start(
    state: Data,
    query: Result<web::Query<StartQuery>, actix_web::Error>,
) -> Result<HttpResponse, PageError> {
    let fresh = query.is_ok_and(|q| q.prompt.as_deref() == Some("login"));
    let st = crate::secure::fresh_token(16)?;
    let challenge = crate::secure::fresh_token(32)?;
    state
        .ephemeral
        .put(NS_CONSOLE, &st, "1", std::time::Duration::from_secs(600))
        .await?;
    let mut u = Url::parse(&state.url("/authorize")).map_err(|e| {
        tracing::error!(error = %e, "the issuer is not a URL");
        PageError::internal()
    })?;
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CONSOLE_CLIENT)
        .append_pair("redirect_uri", &state.url("/admin/callback"))
        .append_pair("scope", "openid")
        .append_pair("state", &st)
        .append_pair("acr_values", "urn:vneid:loa:2")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    if fresh {
        u.query_pairs_mut().append_pair("prompt", "login");
    }
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, u.to_string()))
        .finish())
}

/// `/admin/callback`: spends the code (the SSO session already says who logged in) and shows
/// the report, or says why the login did not succeed.
async fn callback(req: HttpRequest, state: Data) -> HttpResponse {
    let params = match Params::parse(req.query_string().as_bytes()) {
        Ok(p) => p,
        Err(_) => {
            return crate::pages::error_page(
                StatusCode::BAD_REQUEST,
                "Yêu cầu không hợp lệ",
                "Đường dẫn không hợp lệ.",
            )
        }
    };
    let known = match params.get("state") {
        Some(s) => matches!(state.ephemeral.take(NS_CONSOLE, s).await, Ok(Some(_))),
        None => false,
    };
    if !known {
        return crate::pages::error_page(
            StatusCode::BAD_REQUEST,
            "Phiên đăng nhập đã hết hạn",
            "Vui lòng mở lại trang quản trị và đăng nhập lại.",
        );
    }
    if let Some(code) = params.get("code") {
        // The session already says who logged in: the code is spent here, never redeemed.
        let _ = codes::redeem(&state, code).await;
        return HttpResponse::Found()
            .insert_header((header::LOCATION, "/admin/readiness"))
            .finish();
    }
    crate::pages::error_page(
        StatusCode::FORBIDDEN,
        "Đăng nhập không thành công",
        params
            .get("error_description")
            .unwrap_or("Đăng nhập không thành công."),
    )
}
