//! The pages of a protected app's login and logout (`crate::forward_auth`), shown on the app's
//! own host under its prefix.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::html;

use super::page;

/// "Do you want to log out of the app?": the form posts back to `action` with the CSRF token;
/// `sso` asks for the gateway's logout too.
pub fn app_logout_confirmation_page(
    app: &str,
    action: &str,
    csrf: &str,
    sso: bool,
) -> HttpResponse {
    page(
        StatusCode::OK,
        "Đăng xuất",
        html! {
            h1 { "Bạn có muốn đăng xuất khỏi " (app) "?" }
            @if sso {
                p { "Bạn sẽ đăng xuất khỏi ứng dụng này và khỏi hệ thống xác thực tập trung (các cổng dịch vụ công khác đã đăng nhập bằng phiên này cũng phải đăng nhập lại)." }
            } @else {
                p { "Phiên làm việc của bạn trên ứng dụng này sẽ kết thúc." }
            }
            form method="post" action=(action) {
                input type="hidden" name="csrf" value=(csrf);
                @if sso { input type="hidden" name="sso" value="1"; }
                button type="submit" { "Đăng xuất" }
            }
        },
    )
}

/// After an app logout (or a visit to the logout address without a session).
pub fn app_logged_out_page(app: &str, login: &str) -> HttpResponse {
    page(
        StatusCode::OK,
        "Đã đăng xuất",
        html! {
            h1 { "Bạn đã đăng xuất khỏi " (app) }
            p { "Để bảo vệ thông tin cá nhân, hãy đóng trình duyệt nếu bạn dùng máy tính chung." }
            p { a.button href=(login) { "Đăng nhập lại bằng VNeID" } }
        },
    )
}

/// The gateway sent the login back with an error: the person was refused (the gateway's page
/// already said why) or cancelled.
pub fn app_login_failed_page(app: &str, error: &str, retry: &str) -> HttpResponse {
    let text = match error {
        "access_denied" => "Hệ thống xác thực không cho phép đăng nhập vào ứng dụng này (ví dụ: tài khoản chưa đạt mức độ yêu cầu, hoặc không phải tài khoản định danh điện tử VNeID).",
        "temporarily_unavailable" => "Hệ thống xác thực tạm thời gián đoạn. Vui lòng thử lại sau ít phút.",
        _ => "Hệ thống xác thực không hoàn tất việc đăng nhập.",
    };
    page(
        StatusCode::FORBIDDEN,
        "Đăng nhập không thành công",
        html! {
            h1 { "Không đăng nhập được vào " (app) }
            div.reason { (text) }
            p { a.button href=(retry) { "Thử đăng nhập lại" } }
            p.muted { "Mã lỗi: " code { (error) } }
        },
    )
}
