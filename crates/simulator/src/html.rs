//! The pages, in Vietnamese, styled after the national login screens. Every value that comes
//! from a request or a fixture goes through [`esc`].
//!
//! Inline CSS and JS carry a per-response nonce (see `http::csp`); there are no `style=""`
//! attributes or inline event handlers, so the CSP needs no `'unsafe-inline'`.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use qrcode::render::svg;
use qrcode::QrCode;

use crate::broker::{LoginView, OtpView, PageError, PendingQr, Sms, MAX_OTP_FAILURES};
use crate::people::Person;

/// HTML-escapes text for element content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
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

const CSS: &str = r#"
:root{--red:#c8102e;--red-dark:#9e0b22;--gold:#f6c343;--ink:#1f2933;--muted:#5f6b7a;--line:#d9dee5;--bg:#f2f3f5}
*{box-sizing:border-box}
body{margin:0;font-family:"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:var(--bg);line-height:1.45}
header.top{background:linear-gradient(180deg,var(--red),var(--red-dark));color:#fff;padding:12px 20px;display:flex;align-items:center;gap:14px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
header.top svg{width:54px;height:54px;flex:none}
header.top .org1{font-weight:700;font-size:19px;letter-spacing:.6px}
header.top .org2{font-size:14px;opacity:.95}
main{max-width:440px;margin:28px auto;padding:0 16px}
main.wide{max-width:820px}
.card{background:#fff;border-radius:10px;box-shadow:0 2px 14px rgba(0,0,0,.08);padding:26px 26px 22px;margin-bottom:18px}
.card .card{box-shadow:none;border:1px solid var(--line);padding:14px 16px;margin:12px 0 0}
.card .card p{margin-top:0}
h1{margin:0 0 18px;text-align:center;font-size:23px;color:var(--red)}
h2{font-size:17px;margin:0 0 12px;color:var(--red-dark)}
label{display:block;font-weight:600;margin:14px 0 6px}
input[type=text],input[type=password],select{width:100%;padding:11px 12px;border:1px solid var(--line);border-radius:6px;font-size:16px;background:#fff}
input:focus,select:focus{outline:2px solid var(--gold);border-color:var(--red)}
button{cursor:pointer;font-size:16px;font-weight:600;border:0;border-radius:6px}
button.primary{width:100%;margin-top:20px;padding:12px;background:var(--red);color:#fff}
button.primary:hover{background:var(--red-dark)}
button.link{background:none;color:var(--muted);text-decoration:underline;padding:4px;font-weight:400;font-size:14px}
form.cancel{text-align:center;margin-top:8px}
.warning{background:#fff4ce;color:#5c3b00;border-bottom:2px solid #c98a00;padding:10px 16px;font-weight:600}
.error{background:#fdecea;color:#8a1c1c;border:1px solid #f5c2c0;padding:10px 12px;border-radius:6px;margin-bottom:6px}
.info{background:#eef6ff;border:1px solid #c7dcf5;padding:10px 12px;border-radius:6px}
.hint{color:var(--muted);font-size:13px}
.qr{text-align:center;margin-top:20px;border-top:1px solid var(--line);padding-top:16px}
.qr svg{width:184px;height:184px;border:1px solid var(--line);border-radius:6px}
.qr.expired svg{opacity:.25}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;background:#f4f5f7;padding:1px 5px;border-radius:4px;word-break:break-all}
.otp{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:20px;font-weight:700;letter-spacing:3px}
table{width:100%;border-collapse:collapse;font-size:14px}
th,td{text-align:left;padding:7px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}
.row{display:flex;gap:10px;align-items:flex-end;flex-wrap:wrap}
.row select{flex:1 1 320px}
.row button.primary{width:auto;margin-top:0;padding:11px 16px}
footer{text-align:center;color:var(--muted);font-size:12px;margin:8px 16px 28px}
a{color:var(--red-dark)}
"#;

/// A gold-on-red round emblem: a stylised stand-in, not the real insignia.
const EMBLEM: &str = r##"<svg viewBox="0 0 64 64" aria-hidden="true"><circle cx="32" cy="32" r="29" fill="#d71f26" stroke="#f6c343" stroke-width="4"/><polygon fill="#f6c343" points="32,12 37.6,25.8 52.4,26.8 41,36.4 44.6,50.8 32,42.9 19.4,50.8 23,36.4 11.6,26.8 26.4,25.8"/></svg>"##;

const QR_SCRIPT: &str = r#"
(function () {
  var box = document.getElementById('qr');
  var status = document.getElementById('qr-status');
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute('data-poll');
  function tick() {
    fetch(url, { cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.status === 'approved' && s.redirect) {
          status.textContent = 'Đã xác nhận. Đang chuyển về dịch vụ…';
          window.location.assign(s.redirect);
        } else if (s.status === 'expired') {
          box.classList.add('expired');
          status.textContent = 'Mã QR đã hết hạn. Vui lòng quay lại dịch vụ và đăng nhập lại.';
        } else {
          setTimeout(tick, 1000);
        }
      })
      .catch(function () { setTimeout(tick, 3000); });
  }
  setTimeout(tick, 1000);
})();
"#;

fn document(
    nonce: &str,
    title: &str,
    main_class: &str,
    body: &str,
    script: Option<&str>,
) -> String {
    let script = script
        .map(|s| format!("<script nonce=\"{}\">{s}</script>", esc(nonce)))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\">\
<title>{title} – VNeID (giả lập)</title><style nonce=\"{nonce}\">{CSS}</style></head><body>\
<header class=\"top\">{EMBLEM}<div><div class=\"org1\">BỘ CÔNG AN</div>\
<div class=\"org2\">Trung tâm dữ liệu Quốc gia về dân cư</div></div></header>\
<main class=\"{main_class}\">{body}</main>\
<footer>Trình giả lập Cổng xác thực quốc gia – chỉ dùng để phát triển và kiểm thử, không phải \
hệ thống thật.</footer>{script}</body></html>\n",
        title = esc(title),
        nonce = esc(nonce),
    )
}

/// `page` with a warning banner right after `<body>` (a simulator running beside production
/// backends says so on every page).
pub(crate) fn with_banner(page: String, warning: Option<&str>) -> String {
    match warning {
        Some(w) => page.replacen(
            "<body>",
            &format!(
                "<body><div class=\"warning\" role=\"alert\">{}</div>",
                esc(w)
            ),
            1,
        ),
        None => page,
    }
}

fn error_box(error: Option<&str>) -> String {
    error
        .map(|e| format!("<div class=\"error\" role=\"alert\">{}</div>", esc(e)))
        .unwrap_or_default()
}

fn cancel_form(issuer: &str, rid: &str) -> String {
    format!(
        "<form class=\"cancel\" method=\"post\" action=\"{}/cancel\">\
<input type=\"hidden\" name=\"request\" value=\"{}\">\
<button class=\"link\" type=\"submit\">Hủy và quay lại dịch vụ</button></form>",
        esc(issuer),
        esc(rid)
    )
}

/// The QR code as inline SVG, or nothing if it cannot be drawn.
fn qr_svg(data: &str) -> String {
    match QrCode::new(data.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<svg::Color<'_>>()
                .min_dimensions(184, 184)
                .quiet_zone(true)
                .build();
            // Drop the XML declaration: the SVG goes inline.
            match svg.find("<svg") {
                Some(i) => svg[i..].to_owned(),
                None => String::new(),
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot draw the QR code");
            String::new()
        }
    }
}

pub(crate) fn login_page(issuer: &str, nonce: &str, v: &LoginView) -> String {
    let qr_data = format!("vneid://login?request={}", v.qr_ref);
    let body = format!(
        "<div class=\"card\"><h1>Đăng nhập VNeID</h1>{error}\
<form method=\"post\" action=\"{issuer}/login\" autocomplete=\"off\">\
<input type=\"hidden\" name=\"request\" value=\"{rid}\">\
<label for=\"personal_id\">Tài khoản</label>\
<input id=\"personal_id\" name=\"personal_id\" type=\"text\" inputmode=\"numeric\" \
placeholder=\"Số định danh cá nhân\" value=\"{pid}\" required autofocus>\
<div class=\"hint\">Số định danh cá nhân (số CCCD gắn chip)</div>\
<label for=\"password\">Mật khẩu</label>\
<input id=\"password\" name=\"password\" type=\"password\" placeholder=\"Mật khẩu\" required>\
<button class=\"primary\" type=\"submit\">Đăng nhập</button></form>\
<div class=\"qr\" id=\"qr\" data-poll=\"{issuer}/qr/{rid}\">\
<p>Hoặc quét mã QR bằng ứng dụng VNeID để đăng nhập.</p>{svg}\
<p class=\"hint\">Mã QR: <code id=\"qr-ref\">{qr_ref}</code></p>\
<p id=\"qr-status\" class=\"hint\" aria-live=\"polite\">Đang chờ xác nhận trên ứng dụng VNeID…</p>\
<p class=\"hint\"><a href=\"{issuer}/qr/{rid}/continue\">Đã xác nhận trên ứng dụng? Tiếp tục</a></p>\
</div>{cancel}</div>\
<p class=\"hint\">Giả lập: mở <a href=\"{issuer}/phone\" target=\"_blank\" rel=\"noopener\">\
điện thoại giả lập</a> để xem mã OTP hoặc xác nhận đăng nhập bằng mã QR.</p>",
        error = error_box(v.error.as_deref()),
        issuer = esc(issuer),
        rid = esc(&v.rid),
        pid = esc(&v.personal_id),
        svg = qr_svg(&qr_data),
        qr_ref = esc(&v.qr_ref),
        cancel = cancel_form(issuer, &v.rid),
    );
    document(nonce, "Đăng nhập VNeID", "", &body, Some(QR_SCRIPT))
}

pub(crate) fn otp_page(issuer: &str, nonce: &str, v: &OtpView) -> String {
    let body = format!(
        "<div class=\"card\"><h1>Xác thực OTP</h1>\
<p class=\"info\">Mã OTP đã được gửi tới số điện thoại {phone}</p>{error}\
<form method=\"post\" action=\"{issuer}/otp\" autocomplete=\"off\">\
<input type=\"hidden\" name=\"request\" value=\"{rid}\">\
<label for=\"otp\">Mã OTP</label>\
<input id=\"otp\" name=\"otp\" type=\"text\" inputmode=\"numeric\" autocomplete=\"one-time-code\" \
maxlength=\"6\" placeholder=\"Nhập mã OTP gồm 6 chữ số\" required autofocus>\
<button class=\"primary\" type=\"submit\">Nhập</button></form>\
<p class=\"hint\">Nhập sai quá {max} lần, yêu cầu đăng nhập sẽ bị hủy.</p>{cancel}</div>\
<p class=\"hint\">Giả lập: tin nhắn OTP hiện trên \
<a href=\"{issuer}/phone\" target=\"_blank\" rel=\"noopener\">điện thoại giả lập</a>.</p>",
        phone = esc(&v.masked_phone),
        error = error_box(v.error.as_deref()),
        issuer = esc(issuer),
        rid = esc(&v.rid),
        max = MAX_OTP_FAILURES,
        cancel = cancel_form(issuer, &v.rid),
    );
    document(nonce, "Xác thực OTP", "", &body, None)
}

pub(crate) fn error_page(nonce: &str, e: &PageError) -> String {
    let back = e
        .back
        .as_deref()
        .map(|b| format!("<p><a href=\"{}\">Quay lại dịch vụ</a></p>", esc(b)))
        .unwrap_or_default();
    let body = format!(
        "<div class=\"card\"><h1>{title}</h1><div class=\"error\" role=\"alert\">{msg}</div>{back}</div>",
        title = esc(e.title),
        msg = esc(&e.message),
    );
    document(nonce, e.title, "", &body, None)
}

pub(crate) fn message_page(nonce: &str, title: &str, message: &str) -> String {
    let body = format!(
        "<div class=\"card\"><h1>{}</h1><p class=\"info\">{}</p></div>",
        esc(title),
        esc(message)
    );
    document(nonce, title, "", &body, None)
}

/// Vietnam time (UTC+7), `HH:MM:SS dd/MM/yyyy`.
fn vn_time(at: DateTime<Utc>) -> String {
    vneid_core::vietnam::local(at)
        .format("%H:%M:%S %d/%m/%Y")
        .to_string()
}

fn person_label(p: &Person) -> String {
    let ial = match &p.ial {
        None => "không có IAL".to_owned(),
        Some(serde_json::Value::String(s)) => format!("IAL \"{s}\""),
        Some(v) => format!("IAL {v}"),
    };
    format!(
        "{} – {} ({}, {})",
        p.personal_id, p.full_name, ial, p.login_idp
    )
}

pub(crate) fn phone_page(
    issuer: &str,
    nonce: &str,
    sms: &[Sms],
    qr: &[PendingQr],
    people: &[Person],
    flash: Option<&str>,
) -> String {
    let mut body = String::new();
    body.push_str("<div class=\"card\"><h1>Điện thoại giả lập</h1>");
    if let Some(f) = flash {
        let _ = write!(body, "<p class=\"info\">{}</p>", esc(f));
    }
    let _ = write!(
        body,
        "<p class=\"hint\">Tin nhắn OTP đã “gửi” và các yêu cầu đăng nhập bằng mã QR đang chờ. \
<a href=\"{}/phone\">Làm mới</a></p></div>",
        esc(issuer)
    );

    body.push_str("<div class=\"card\"><h2>Tin nhắn SMS</h2>");
    if sms.is_empty() {
        body.push_str("<p class=\"hint\">Chưa có tin nhắn nào.</p>");
    } else {
        body.push_str(
            "<table><thead><tr><th>Số điện thoại</th><th>Mã OTP</th><th>Tài khoản</th>\
<th>Thời gian</th></tr></thead><tbody>",
        );
        for m in sms {
            let _ = write!(
                body,
                "<tr><td>{}</td><td class=\"otp\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&m.phone),
                esc(&m.otp),
                esc(&m.personal_id),
                esc(&vn_time(m.at)),
            );
        }
        body.push_str("</tbody></table>");
    }
    body.push_str("</div>");

    body.push_str("<div class=\"card\"><h2>Yêu cầu đăng nhập bằng mã QR</h2>");
    if qr.is_empty() {
        body.push_str("<p class=\"hint\">Không có yêu cầu nào đang chờ.</p>");
    }
    let options: String = people
        .iter()
        .map(|p| {
            format!(
                "<option value=\"{}\">{}</option>",
                esc(&p.personal_id),
                esc(&person_label(p))
            )
        })
        .collect();
    for q in qr {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"{issuer}/phone/approve\" class=\"card\">\
<p>Mã QR: <code>{r}</code><br><span class=\"hint\">Dịch vụ: {c} · tạo lúc {t}</span></p>\
<input type=\"hidden\" name=\"request\" value=\"{r}\">\
<label for=\"p-{r}\">Ứng dụng VNeID đang đăng nhập với tài khoản</label>\
<div class=\"row\"><select id=\"p-{r}\" name=\"personal_id\">{options}</select>\
<button class=\"primary\" type=\"submit\">Xác nhận đăng nhập</button></div></form>",
            issuer = esc(issuer),
            r = esc(&q.qr_ref),
            c = esc(&q.client_id),
            t = esc(&vn_time(q.created)),
        );
    }
    body.push_str("</div>");
    document(nonce, "Điện thoại giả lập", "wide", &body, None)
}

pub(crate) fn index_page(issuer: &str, nonce: &str, people: &[Person]) -> String {
    let mut rows = String::new();
    for p in people {
        let _ = write!(
            rows,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&p.personal_id),
            esc(&p.password),
            esc(&p.full_name),
            esc(&p.note),
        );
    }
    let i = esc(issuer);
    let body = format!(
        "<div class=\"card\"><h1>Cổng xác thực giả lập</h1>\
<p>Trình giả lập Cổng Dịch vụ công quốc gia liên thông VNeID (OpenID Connect). Đăng nhập bắt đầu \
từ dịch vụ kết nối; trang này chỉ để tra cứu.</p>\
<ul><li><a href=\"{i}/.well-known/openid-configuration\">Cấu hình OpenID</a></li>\
<li><a href=\"{i}/jwks\">Khóa công khai (JWKS)</a></li>\
<li><a href=\"{i}/phone\">Điện thoại giả lập</a> (mã OTP, xác nhận mã QR)</li></ul></div>\
<div class=\"card\"><h2>Tài khoản thử nghiệm</h2><table><thead><tr><th>Tài khoản</th>\
<th>Mật khẩu</th><th>Họ và tên</th><th>Ghi chú</th></tr></thead><tbody>{rows}</tbody></table></div>"
    );
    document(nonce, "Cổng xác thực giả lập", "wide", &body, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\" title='y'>&</a>"),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(esc("Đăng nhập"), "Đăng nhập");
    }

    #[test]
    fn qr_code_is_inline_svg() {
        let svg = qr_svg("vneid://login?request=abc");
        assert!(svg.starts_with("<svg"));
        assert!(!svg.contains("<?xml"));
        assert!(!svg.contains("style="));
    }

    #[test]
    fn login_page_escapes_what_the_person_typed() {
        let v = LoginView {
            rid: "r".into(),
            qr_ref: "q".into(),
            redirect_origin: "http://x".into(),
            personal_id: "\"><script>alert(1)</script>".into(),
            error: Some("<b>".into()),
        };
        let html = login_page("http://127.0.0.1/sim", "n0nce", &v);
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;b&gt;"));
        assert!(html.contains("Đăng nhập VNeID"));
        assert!(html.contains("BỘ CÔNG AN"));
        assert!(html.contains("Trung tâm dữ liệu Quốc gia về dân cư"));
        assert!(html.contains("Hoặc quét mã QR bằng ứng dụng VNeID để đăng nhập."));
        assert!(!html.contains(" style="));
        assert!(!html.contains(" onclick="));
    }
}
