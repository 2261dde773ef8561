//! The one layout every page shares: head, the CSP nonce on `<style>` and `<script>`, the
//! optional warning banner, header and footer.

use maud::{html, Markup, PreEscaped, DOCTYPE};

/// What every page shares besides its content: the issuer (every absolute link starts with it),
/// the response's CSP nonce, and the warning shown at the top of every page (see
/// [`crate::Simulator::with_warning`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) nonce: &'a str,
    pub(crate) warning: Option<&'a str>,
}

/// How wide a page's content runs.
#[derive(Debug, Clone, Copy)]
pub(super) enum Width {
    /// A form-sized column.
    Narrow,
    /// Tables (the phone, the demo accounts).
    Wide,
}

impl Width {
    /// The class of `<main>`: empty for the stylesheet's narrow default, `wide` for tables.
    fn class(self) -> &'static str {
        match self {
            Width::Narrow => "",
            Width::Wide => "wide",
        }
    }
}

const CSS: &str = r#"
:root{--red:#c8102e;--red-dark:#9e0b22;--gold:#f6c343;--ink:#1f2933;--muted:#5f6b7a;--line:#d9dee5;--bg:#f2f3f5}
*{box-sizing:border-box}
body{margin:0;font-family:"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:var(--bg);line-height:1.45;overflow-wrap:break-word}
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
input[type=text],input[type=password],select{width:100%;max-width:100%;padding:11px 12px;border:1px solid var(--line);border-radius:6px;font-size:16px;background:#fff}
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
.scroll{overflow-x:auto}
.scroll td code{white-space:nowrap;word-break:normal}
table{width:100%;border-collapse:collapse;font-size:14px}
th,td{text-align:left;padding:7px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}
.row{display:flex;gap:10px;align-items:flex-end;flex-wrap:wrap}
.row select{flex:1 1 320px;min-width:0}
.row button.primary{width:auto;margin-top:0;padding:11px 16px}
footer{text-align:center;color:var(--muted);font-size:12px;margin:8px 16px 28px}
a{color:var(--red-dark)}
@media (max-width:480px){header.top{padding:10px 14px}main{margin:16px auto;padding:0 8px}.card{padding:20px 14px 16px}}
"#;

/// A gold-on-red round emblem: a stylised stand-in, not the real insignia.
const EMBLEM: &str = r##"<svg viewBox="0 0 64 64" aria-hidden="true"><circle cx="32" cy="32" r="29" fill="#d71f26" stroke="#f6c343" stroke-width="4"/><polygon fill="#f6c343" points="32,12 37.6,25.8 52.4,26.8 41,36.4 44.6,50.8 32,42.9 19.4,50.8 23,36.4 11.6,26.8 26.4,25.8"/></svg>"##;

/// A complete page: `body` inside the shared head, banner, header and footer, `title` in the
/// window title, and `script` (constant, trusted code) inline at the end. The style and the
/// script carry `frame.nonce`, so they run under a CSP without `'unsafe-inline'`; every value
/// given is escaped, `body` being markup already.
pub(super) fn document(
    frame: &Frame<'_>,
    title: &str,
    width: Width,
    body: Markup,
    script: Option<&'static str>,
) -> Markup {
    html! {
        (DOCTYPE) "\n"
        html lang="vi" {
            head {
                meta charset="utf-8";
                link rel="icon" href="data:,";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " – VNeID (giả lập)" }
                style nonce=(frame.nonce) { (PreEscaped(CSS)) }
            }
            body {
                @if let Some(w) = frame.warning {
                    div.warning role="alert" { (w) }
                }
                header.top {
                    (PreEscaped(EMBLEM))
                    div {
                        div.org1 { "BỘ CÔNG AN" }
                        div.org2 { "Trung tâm dữ liệu Quốc gia về dân cư" }
                    }
                }
                main class=(width.class()) { (body) }
                footer {
                    "Trình giả lập Cổng xác thực quốc gia – chỉ dùng để phát triển và kiểm thử, \
                     không phải hệ thống thật."
                }
                @if let Some(s) = script {
                    script nonce=(frame.nonce) { (PreEscaped(s)) }
                }
            }
        }
        "\n"
    }
}
