//! The pages people see, in Vietnamese, from maud templates: every value is escaped unless it is
//! marked as trusted markup, and every page shares one [`layout`]. There is no script, so the
//! CSP forbids scripts altogether.

pub mod branding;
mod forward_auth;
mod login;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::{html, Markup, PreEscaped, DOCTYPE};

pub use forward_auth::*;
pub use login::*;

/// The one stylesheet. Every page fits a 390 px phone: text wraps anywhere a long value would
/// stick out, wide tables scroll inside their `.scroll` box (never the page), and below 600 px
/// the card loses its outer margin. The console's tables keep a readable minimum width and
/// scroll rather than squeeze their columns. The readiness bars are `<meter>` elements: no
/// inline style, so nothing depends on `style-src` allowing style attributes.
const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;background:#f3f5f8;color:#1c2430;margin:0;overflow-wrap:break-word}\
header{background:#b3261e;color:#fff;padding:14px 24px;display:flex;gap:14px;align-items:center}header>div{min-width:0}header img.logo{height:48px;width:auto;max-width:96px;flex:none}header small{display:block;font-size:13px;opacity:.95}header b{display:block;font-size:15px;letter-spacing:.5px}header span{font-size:13px;opacity:.9}\
footer{max-width:640px;margin:0 auto 32px;padding:0 16px;color:#5b6675;font-size:13px;text-align:center}footer a{color:#1f5fbf}footer a[href^=tel]{white-space:nowrap}\
main{max-width:640px;margin:32px auto;background:#fff;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.12);padding:28px 32px}\
h1{font-size:22px;margin:0 0 16px}h2{font-size:17px;margin:24px 0 10px}h2.small{font-size:15px}p,li{line-height:1.55}.reason{background:#fdecea;border-left:4px solid #b3261e;padding:10px 14px;margin:16px 0}\
a.button,button{display:inline-block;background:#1f5fbf;color:#fff;border:0;border-radius:6px;padding:10px 18px;text-decoration:none;font-size:15px;line-height:1.4;cursor:pointer}\
a.button.secondary{background:#5b6675}.muted{color:#5b6675;font-size:13px}ul.choices{list-style:none;padding:0}ul.choices li{margin:10px 0}\
.actions{display:flex;flex-wrap:wrap;align-items:center;gap:10px 16px}\
.scroll{overflow-x:auto;margin:0 0 16px}.scroll:focus-visible{outline:2px solid #1f5fbf;outline-offset:2px}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #e3e7ee;padding:6px 8px;text-align:left;vertical-align:top;font-size:14px}code{word-break:break-all;font-family:'Liberation Mono','Noto Sans Mono',ui-monospace,monospace}code.nowrap{white-space:nowrap;word-break:normal}.value{overflow-wrap:anywhere}\
main:has(table.wide){max-width:1180px}table.wide{min-width:46em}table.list{min-width:34em}\
ul.bars{list-style:none;padding:0;margin:0 0 24px;max-width:760px}ul.bars>li{padding:8px 0;border-bottom:1px solid #e3e7ee}ul.bars>li.total{border-bottom:0;border-top:2px solid #c9d0da}.unit{font-weight:600}\
.bar{display:flex;flex-wrap:wrap;align-items:center;gap:2px 10px;margin-top:4px;font-size:14px}.bar .what{flex:0 0 12.5em}.bar meter{flex:1 1 8em;min-width:6em;height:14px}.bar .figure{flex:0 0 auto;min-width:6.5em;font-variant-numeric:tabular-nums}\
meter::-webkit-meter-bar{background:#e3e7ee;border:0;border-radius:4px;height:14px}meter::-webkit-meter-optimum-value{background:#2e7d32;border-radius:4px}meter::-webkit-meter-suboptimum-value{background:#c77700;border-radius:4px}meter::-webkit-meter-even-less-good-value{background:#b3261e;border-radius:4px}\
meter{background:#e3e7ee;border-radius:4px}meter:-moz-meter-optimum::-moz-meter-bar{background:#2e7d32}meter:-moz-meter-sub-optimum::-moz-meter-bar{background:#c77700}meter:-moz-meter-sub-sub-optimum::-moz-meter-bar{background:#b3261e}\
@media (min-width:601px) and (max-width:1260px){main:has(table.wide){margin-left:16px;margin-right:16px}}\
@media (max-width:600px){header{padding:12px 16px}main{margin:16px 8px;padding:20px 16px}footer{margin-bottom:24px}.bar .what{flex-basis:100%}}";

/// A whole page: the national header, a title, and the body.
pub fn layout(title: &str, body: Markup) -> Markup {
    let b = branding::current();
    html! {
        (DOCTYPE)
        html lang="vi" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                link rel="icon" href="data:,";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    @if b.logo.is_some() {
                        img.logo src="/branding/logo" alt="";
                    }
                    div {
                        @if let Some(org) = &b.settings.organisation {
                            small { (org) }
                        }
                        b { (b.settings.service_name.to_uppercase()) }
                        span { "Đăng nhập bằng tài khoản định danh điện tử VNeID" }
                    }
                }
                main { (body) }
                @let support = &b.settings.support;
                @if support.hotline.is_some() || support.email.is_some() {
                    footer {
                        "Hỗ trợ: "
                        @if let Some(h) = &support.hotline {
                            "đường dây nóng " a href={ "tel:" (h.replace(' ', "")) } { (h) }
                        }
                        @if support.hotline.is_some() && support.email.is_some() { " · " }
                        @if let Some(e) = &support.email {
                            "thư điện tử " a href={ "mailto:" (e) } { (e) }
                        }
                    }
                }
            }
        }
    }
}

/// A table that may be wider than a phone: it scrolls sideways inside its own box, never the
/// page. The box is a named region people can reach with the keyboard to scroll it.
pub fn scroll(label: &str, table: Markup) -> Markup {
    html! {
        div.scroll role="region" tabindex="0" aria-label=(label) { (table) }
    }
}

/// A page answer: never cached.
pub fn page(status: StatusCode, title: &str, body: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(layout(title, body).into_string())
}

/// A page for an error found before the portal's redirect URI could be trusted, or any error
/// the person must read: title, explanation, no redirect.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    page(
        status,
        title,
        html! {
            h1 { (title) }
            p { (message) }
            p.muted { "Nếu lỗi lặp lại, hãy quay lại trang của cơ quan bạn đang sử dụng và đăng nhập lại." }
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn interpolated_values_are_escaped() {
        let page = layout("<t>", html! { p { ("<a href=\"x\">&</a>") } }).into_string();
        assert!(page.contains("<title>&lt;t&gt;</title>"), "{page}");
        assert!(
            page.contains("<p>&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;</p>"),
            "{page}"
        );
        assert!(page.contains("Nguyễn") || !page.contains("Nguy&"));
    }

    #[test]
    fn every_refusal_has_vietnamese_text() {
        use vneid_core::AssuranceLevel::*;
        use vneid_policy::Refusal;
        let r = Refusal::LevelTooLow {
            have: Level1,
            need: Level2,
        };
        let (title, text) = refusal_text(&r);
        assert!(title.contains("mức độ 2"));
        assert!(text.contains("mức độ 1"));
    }
}
