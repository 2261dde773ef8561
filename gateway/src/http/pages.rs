//! The pages people see, in Vietnamese. Every value is HTML-escaped; there is no inline script,
//! so the CSP can forbid scripts altogether.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use vneid_policy::Refusal;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;background:#f3f5f8;color:#1c2430;margin:0}\
header{background:#b3261e;color:#fff;padding:14px 24px}header b{display:block;font-size:15px;letter-spacing:.5px}header span{font-size:13px;opacity:.9}\
main{max-width:640px;margin:32px auto;background:#fff;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.12);padding:28px 32px}\
h1{font-size:22px;margin:0 0 16px}p,li{line-height:1.55}.reason{background:#fdecea;border-left:4px solid #b3261e;padding:10px 14px;margin:16px 0}\
a.button,button{display:inline-block;background:#1f5fbf;color:#fff;border:0;border-radius:6px;padding:10px 18px;text-decoration:none;font-size:15px;cursor:pointer}\
a.button.secondary{background:#5b6675}.muted{color:#5b6675;font-size:13px}ul.choices{list-style:none;padding:0}ul.choices li{margin:10px 0}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #e3e7ee;padding:6px 8px;text-align:left;vertical-align:top;font-size:14px}code{word-break:break-all;font-family:'Liberation Mono','Noto Sans Mono',ui-monospace,monospace}.value{word-break:break-all}\
main:has(table.wide){max-width:1180px}";

/// A whole page: the national header, a title and the body (already HTML).
pub fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><link rel=\"icon\" href=\"data:,\"><title>{title}</title>\
<style>{STYLE}</style></head><body><header><b>HỆ THỐNG XÁC THỰC TẬP TRUNG</b>\
<span>Đăng nhập bằng tài khoản định danh điện tử VNeID</span></header><main>{body}</main></body></html>",
        title = escape(title),
    )
}

pub fn html(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(layout(title, body))
}

/// The upstream failed to complete a login (network, bad token): a page with the way back.
pub fn upstream_failed_page(back: &str, portal: &str) -> HttpResponse {
    html(
        StatusCode::BAD_GATEWAY,
        "Không hoàn tất được đăng nhập",
        &format!(
            "<h1>Không hoàn tất được đăng nhập</h1><p>Hệ thống xác thực quốc gia không trả về thông tin hợp lệ. \
Vui lòng thử lại sau ít phút.</p><p><a class=\"button secondary\" href=\"{}\">Quay lại {}</a></p>",
            escape(back),
            escape(portal)
        ),
    )
}

/// A page for an error found before the portal's redirect URI could be trusted, or any error
/// the person must read: title, explanation, no redirect.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    html(
        status,
        title,
        &format!(
            "<h1>{}</h1><p>{}</p><p class=\"muted\">Nếu lỗi lặp lại, hãy quay lại trang của cơ quan bạn đang sử dụng và đăng nhập lại.</p>",
            escape(title),
            escape(message)
        ),
    )
}

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

const HOW_TO_LEVEL_2: &str = "<h2 style=\"font-size:17px\">Làm thế nào để có tài khoản VNeID mức độ 2?</h2><ul>\
<li>Đến Công an xã, phường hoặc nơi làm thủ tục cấp thẻ căn cước, mang theo thẻ căn cước (hoặc thẻ căn cước công dân gắn chip còn hạn); \
cán bộ sẽ chụp ảnh chân dung, thu vân tay và đối chiếu với thẻ để kích hoạt tài khoản mức độ 2.</li>\
<li>Hoặc đăng ký tài khoản mức độ 2 cùng lúc khi làm thủ tục cấp thẻ căn cước.</li>\
<li>Sau khi được kích hoạt, đăng nhập ứng dụng VNeID trên điện thoại để kiểm tra mức độ tài khoản, rồi quay lại đây đăng nhập.</li></ul>";

/// The refusal page: why, how to get a level-2 account, and a link back to the portal carrying
/// `error=access_denied`.
pub fn refusal_page(refusal: &Refusal, back: Option<&str>, portal: &str) -> HttpResponse {
    let (title, text) = refusal_text(refusal);
    let help = match refusal {
        Refusal::LevelTooLow { .. } | Refusal::AccountSystemNotAccepted { .. } => HOW_TO_LEVEL_2,
        _ => "",
    };
    let back = back
        .map(|url| {
            format!(
                "<p><a class=\"button secondary\" href=\"{}\">Quay lại {}</a></p>",
                escape(url),
                escape(portal)
            )
        })
        .unwrap_or_default();
    html(
        StatusCode::FORBIDDEN,
        title,
        &format!(
            "<h1>Không thể đăng nhập</h1><div class=\"reason\"><b>{}</b><br>{}</div>{help}{back}\
<p class=\"muted\">Mã lý do: <code>{}</code></p>",
            escape(title),
            escape(&text),
            escape(refusal.code())
        ),
    )
}

/// Choosing the upstream when a portal allows several.
pub fn chooser_page(choices: &[(String, String)]) -> HttpResponse {
    let items: String = choices
        .iter()
        .map(|(url, name)| {
            format!(
                "<li><a class=\"button\" href=\"{}\">{}</a></li>",
                escape(url),
                escape(name)
            )
        })
        .collect();
    html(
        StatusCode::OK,
        "Chọn cách đăng nhập",
        &format!(
            "<h1>Chọn loại tài khoản để đăng nhập</h1><ul class=\"choices\">{items}</ul>\
<p class=\"muted\">Từ ngày 01/7/2024 chỉ tài khoản định danh điện tử VNeID do Bộ Công an cấp được dùng để thực hiện dịch vụ công trực tuyến.</p>"
        ),
    )
}

pub fn unavailable_page() -> HttpResponse {
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Hệ thống tạm thời gián đoạn",
        "Hệ thống đăng nhập đang tạm thời không phục vụ được. Vui lòng thử lại sau ít phút.",
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("Nguyễn Văn An"), "Nguyễn Văn An");
    }

    #[test]
    fn every_refusal_has_vietnamese_text() {
        use vneid_core::AssuranceLevel::*;
        let r = Refusal::LevelTooLow {
            have: Level1,
            need: Level2,
        };
        let (title, text) = refusal_text(&r);
        assert!(title.contains("mức độ 2"));
        assert!(text.contains("mức độ 1"));
    }
}
