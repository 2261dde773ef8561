//! The pages of a login and a logout: the refusal, the upstream chooser, failures, the logout
//! question and its answer, the home page.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::html;
use vneid_core::AccountType;
use vneid_policy::Refusal;

use super::{error_page, page};

/// The Vietnamese explanation of a refusal.
pub fn refusal_text(refusal: &Refusal) -> (&'static str, String) {
    match refusal {
        Refusal::LevelTooLow { need, .. } => (
            "Tài khoản chưa đạt mức độ 2",
            format!(
                "Dịch vụ này yêu cầu tài khoản định danh điện tử (VNeID) mức độ {need}. \
Tài khoản bạn vừa dùng mới ở mức độ 1."
            ),
        ),
        Refusal::AccountSystemNotAccepted { login_idp } => {
            let which = match login_idp.as_deref() {
                Some("VNPOST") => "tài khoản cấp bởi Bưu điện Việt Nam",
                Some("DVCQG") => "tài khoản cấp bởi Cổng Dịch vụ công quốc gia",
                _ => "một loại tài khoản khác",
            };
            (
                "Chỉ chấp nhận tài khoản VNeID",
                format!(
                    "Bạn vừa đăng nhập bằng {which}. Theo Nghị định số 69/2024/NĐ-CP, kể từ ngày 01/7/2024 \
tài khoản định danh điện tử do Bộ Công an cấp (VNeID) là tài khoản duy nhất dùng để thực hiện \
dịch vụ công trực tuyến. Vui lòng đăng nhập lại bằng tài khoản VNeID."
                ),
            )
        }
        Refusal::AccountTypeNotAllowed {
            have: AccountType::Organisation,
        } => (
            "Dịch vụ này chỉ dành cho công dân",
            "Bạn vừa đăng nhập bằng tài khoản định danh điện tử của tổ chức, doanh nghiệp. \
Dịch vụ này chỉ tiếp nhận hồ sơ của cá nhân, vì vậy bạn cần đăng nhập bằng tài khoản định danh \
điện tử của chính mình (tài khoản công dân). Nếu cần làm thủ tục cho tổ chức, doanh nghiệp, vui \
lòng sử dụng dịch vụ dành cho tổ chức, doanh nghiệp."
                .to_owned(),
        ),
        Refusal::AccountTypeNotAllowed {
            have: AccountType::Citizen,
        } => (
            "Dịch vụ này chỉ dành cho tổ chức, doanh nghiệp",
            "Bạn vừa đăng nhập bằng tài khoản định danh điện tử của cá nhân. Dịch vụ này chỉ \
tiếp nhận hồ sơ của tổ chức, doanh nghiệp, vì vậy bạn cần đăng nhập bằng tài khoản định danh \
điện tử của tổ chức, doanh nghiệp."
                .to_owned(),
        ),
        Refusal::AccountTypeMissing | Refusal::AccountTypeUnknown { .. } => (
            "Không xác định được loại tài khoản",
            "Hệ thống xác thực không cho biết tài khoản bạn vừa dùng là tài khoản của công dân \
hay của tổ chức, doanh nghiệp, nên chúng tôi không thể cho phép đăng nhập. Vui lòng thử lại \
sau ít phút; nếu vẫn không được, hãy liên hệ bộ phận hỗ trợ."
                .to_owned(),
        ),
        Refusal::LevelMissing | Refusal::LevelInvalid => (
            "Không xác định được mức độ tài khoản",
            "Hệ thống xác thực không cho biết tài khoản của bạn ở mức độ 1 hay mức độ 2, \
nên chúng tôi không thể cho phép đăng nhập."
                .to_owned(),
        ),
        Refusal::PersonalIdMissing => (
            "Thiếu số định danh cá nhân",
            "Hệ thống xác thực không gửi số định danh cá nhân của bạn, nên chúng tôi không thể \
xác định tài khoản."
                .to_owned(),
        ),
        Refusal::PersonalIdInvalid(vneid_core::PersonalIdError::BirthYearMismatch { .. }) => (
            "Thông tin định danh không khớp",
            "Năm sinh trong số định danh cá nhân không khớp với ngày sinh của tài khoản. \
Vui lòng liên hệ Công an xã, phường nơi cư trú để kiểm tra lại thông tin."
                .to_owned(),
        ),
        Refusal::PersonalIdInvalid(_) => (
            "Số định danh cá nhân không hợp lệ",
            "Số định danh cá nhân nhận được không đúng định dạng 12 chữ số theo quy định. \
Vui lòng liên hệ Công an xã, phường nơi cư trú để kiểm tra lại thông tin."
                .to_owned(),
        ),
        Refusal::BirthdateInvalid => (
            "Ngày sinh không hợp lệ",
            "Ngày sinh nhận được từ hệ thống xác thực không đọc được, nên chúng tôi không thể \
kiểm tra số định danh cá nhân."
                .to_owned(),
        ),
    }
}

/// The refusal page: why, how to get a level-2 account, and a link back to the portal carrying
/// `error=access_denied`.
pub fn refusal_page(refusal: &Refusal, back: Option<&str>, portal: &str) -> HttpResponse {
    let (title, text) = refusal_text(refusal);
    let how_to_level_2 = matches!(
        refusal,
        Refusal::LevelTooLow { .. } | Refusal::AccountSystemNotAccepted { .. }
    );
    page(
        StatusCode::FORBIDDEN,
        title,
        html! {
            h1 { "Không thể đăng nhập" }
            div.reason { b { (title) } br; (text) }
            @if how_to_level_2 {
                h2 { "Làm thế nào để có tài khoản VNeID mức độ 2?" }
                ul {
                    li { "Đến Công an xã, phường hoặc nơi làm thủ tục cấp thẻ căn cước, mang theo thẻ căn cước (hoặc thẻ căn cước công dân gắn chip còn hạn); \
        cán bộ sẽ chụp ảnh chân dung, thu vân tay và đối chiếu với thẻ để kích hoạt tài khoản mức độ 2." }
                    li { "Hoặc đăng ký tài khoản mức độ 2 cùng lúc khi làm thủ tục cấp thẻ căn cước." }
                    li { "Sau khi được kích hoạt, đăng nhập ứng dụng VNeID trên điện thoại để kiểm tra mức độ tài khoản, rồi quay lại đây đăng nhập." }
                }
            }
            @if let Some(url) = back {
                p { a.button.secondary href=(url) { "Quay lại " (portal) } }
            }
            p.muted { "Mã lý do: " code { (refusal.code()) } }
        },
    )
}

/// Choosing the upstream when a portal allows several: (the URL to follow, the name).
pub fn chooser_page(choices: &[(String, String)]) -> HttpResponse {
    page(
        StatusCode::OK,
        "Chọn cách đăng nhập",
        html! {
            h1 { "Chọn loại tài khoản để đăng nhập" }
            ul.choices {
                @for (url, name) in choices {
                    li { a.button href=(url) { (name) } }
                }
            }
            p.muted { "Từ ngày 01/7/2024 chỉ tài khoản định danh điện tử VNeID do Bộ Công an cấp được dùng để thực hiện dịch vụ công trực tuyến." }
        },
    )
}

/// The upstream failed to complete a login (network, bad token): a page with the way back.
pub fn upstream_failed_page(back: &str, portal: &str) -> HttpResponse {
    page(
        StatusCode::BAD_GATEWAY,
        "Không hoàn tất được đăng nhập",
        html! {
            h1 { "Không hoàn tất được đăng nhập" }
            p { "Hệ thống xác thực quốc gia không trả về thông tin hợp lệ. Vui lòng thử lại sau ít phút." }
            p { a.button.secondary href=(back) { "Quay lại " (portal) } }
        },
    )
}

/// The logout question; the form posts back `hidden` (name, value) pairs and the CSRF token.
pub fn logout_confirmation_page(hidden: &[(&str, &str)], csrf: &str) -> HttpResponse {
    page(
        StatusCode::OK,
        "Đăng xuất",
        html! {
            h1 { "Bạn có muốn đăng xuất?" }
            p { "Bạn sẽ đăng xuất khỏi hệ thống xác thực tập trung và các cổng dịch vụ công đã đăng nhập bằng phiên này." }
            form method="post" action="/logout" {
                @for (name, value) in hidden {
                    input type="hidden" name=(name) value=(value);
                }
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="confirm" value="yes";
                button type="submit" { "Đăng xuất" }
            }
        },
    )
}

/// After a logout without a way back to a portal.
pub fn logged_out_page() -> HttpResponse {
    page(
        StatusCode::OK,
        "Đã đăng xuất",
        html! {
            h1 { "Bạn đã đăng xuất" }
            p { "Phiên đăng nhập bằng tài khoản định danh điện tử VNeID trên hệ thống đã kết thúc. Để bảo vệ thông tin cá nhân, hãy đóng trình duyệt nếu bạn dùng máy tính chung." }
        },
    )
}

/// `/`: what this is, and where the demo and the simulator's phone are when they run.
pub fn home_page(demo: bool, simulator: bool) -> HttpResponse {
    let branding = super::branding::current();
    page(
        StatusCode::OK,
        &branding.settings.service_name,
        html! {
            h1 { (branding.settings.service_name) }
            p { "Cổng xác thực VNeID cho Hệ thống Một cửa điện tử. Các cổng dịch vụ chuyển người dùng đến đây bằng OpenID Connect." }
            ul {
                @if demo { li { a href="/demo" { "Cổng dịch vụ công thử nghiệm (demo)" } } }
                @if simulator { li { a href="/simulator/phone" { "Điện thoại giả lập (nhận mã OTP, quét mã QR)" } } }
                li { a href="/.well-known/openid-configuration" { "Cấu hình OpenID Connect" } }
            }
        },
    )
}

/// Any unknown path.
pub fn not_found_page() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Không tìm thấy trang",
        "Địa chỉ bạn truy cập không tồn tại.",
    )
}
