//! The pages: login, OTP, errors and messages, the simulated phone, the index. Each is its
//! content inside [`document`].

use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped};
use qrcode::render::svg;
use qrcode::QrCode;

use super::layout::{document, Frame, Width};
use crate::broker::{LoginView, OtpView, PageError, PendingQr, Sms, MAX_OTP_FAILURES};
use crate::people::Person;

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

/// The error line of a form page, when there is one.
fn error_box(error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error {
            div.error role="alert" { (e) }
        }
    }
}

/// "Hủy và quay lại dịch vụ": posts the pending login `rid` to `/cancel`.
fn cancel_form(issuer: &str, rid: &str) -> Markup {
    html! {
        form.cancel method="post" action={ (issuer) "/cancel" } {
            input type="hidden" name="request" value=(rid);
            button.link type="submit" { "Hủy và quay lại dịch vụ" }
        }
    }
}

/// The QR code as inline SVG, or nothing if it cannot be drawn.
pub(super) fn qr_svg(data: &str) -> String {
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

/// The password form, the QR code the phone approves (polled by the inline script), and the
/// way out.
pub(crate) fn login_page(frame: &Frame<'_>, v: &LoginView) -> Markup {
    let issuer = frame.issuer;
    // Markup drawn by the qrcode crate from the QR id (base64url): nothing from a request.
    let svg = PreEscaped(qr_svg(&format!("vneid://login?request={}", v.qr_ref)));
    let body = html! {
        div.card {
            h1 { "Đăng nhập VNeID" }
            (error_box(v.error.as_deref()))
            form method="post" action={ (issuer) "/login" } autocomplete="off" {
                input type="hidden" name="request" value=(v.rid);
                label for="personal_id" { "Tài khoản" }
                input id="personal_id" name="personal_id" type="text" inputmode="numeric"
                    placeholder="Số định danh cá nhân" value=(v.personal_id) required autofocus;
                div.hint { "Số định danh cá nhân (số CCCD gắn chip)" }
                label for="password" { "Mật khẩu" }
                input id="password" name="password" type="password" placeholder="Mật khẩu" required;
                button.primary type="submit" { "Đăng nhập" }
            }
            div.qr #qr data-poll={ (issuer) "/qr/" (v.rid) } {
                p { "Hoặc quét mã QR bằng ứng dụng VNeID để đăng nhập." }
                (svg)
                p.hint { "Mã QR: " code id="qr-ref" { (v.qr_ref) } }
                p id="qr-status" class="hint" aria-live="polite" {
                    "Đang chờ xác nhận trên ứng dụng VNeID…"
                }
                p.hint {
                    a href={ (issuer) "/qr/" (v.rid) "/continue" } {
                        "Đã xác nhận trên ứng dụng? Tiếp tục"
                    }
                }
            }
            (cancel_form(issuer, &v.rid))
        }
        p.hint {
            "Giả lập: mở "
            a href={ (issuer) "/phone" } target="_blank" rel="noopener" { "điện thoại giả lập" }
            " để xem mã OTP hoặc xác nhận đăng nhập bằng mã QR."
        }
    };
    document(
        frame,
        "Đăng nhập VNeID",
        Width::Narrow,
        body,
        Some(QR_SCRIPT),
    )
}

/// The OTP form, saying where the OTP went and how many tries there are.
pub(crate) fn otp_page(frame: &Frame<'_>, v: &OtpView) -> Markup {
    let issuer = frame.issuer;
    let body = html! {
        div.card {
            h1 { "Xác thực OTP" }
            p.info { "Mã OTP đã được gửi tới số điện thoại " (v.masked_phone) }
            (error_box(v.error.as_deref()))
            form method="post" action={ (issuer) "/otp" } autocomplete="off" {
                input type="hidden" name="request" value=(v.rid);
                label for="otp" { "Mã OTP" }
                input id="otp" name="otp" type="text" inputmode="numeric"
                    autocomplete="one-time-code" maxlength="6"
                    placeholder="Nhập mã OTP gồm 6 chữ số" required autofocus;
                button.primary type="submit" { "Nhập" }
            }
            p.hint { "Nhập sai quá " (MAX_OTP_FAILURES) " lần, yêu cầu đăng nhập sẽ bị hủy." }
            (cancel_form(issuer, &v.rid))
        }
        p.hint {
            "Giả lập: tin nhắn OTP hiện trên "
            a href={ (issuer) "/phone" } target="_blank" rel="noopener" { "điện thoại giả lập" }
            "."
        }
    };
    document(frame, "Xác thực OTP", Width::Narrow, body, None)
}

/// The error's title and message, with a link back to the client when it has one.
pub(crate) fn error_page(frame: &Frame<'_>, e: &PageError) -> Markup {
    let body = html! {
        div.card {
            h1 { (e.title) }
            div.error role="alert" { (e.message) }
            @if let Some(back) = &e.back {
                p { a href=(back) { "Quay lại dịch vụ" } }
            }
        }
    };
    document(frame, e.title, Width::Narrow, body, None)
}

/// A title and one informational paragraph.
pub(crate) fn message_page(frame: &Frame<'_>, title: &str, message: &str) -> Markup {
    let body = html! {
        div.card {
            h1 { (title) }
            p.info { (message) }
        }
    };
    document(frame, title, Width::Narrow, body, None)
}

/// Vietnam time (UTC+7), `HH:MM:SS dd/MM/yyyy`.
fn vn_time(at: DateTime<Utc>) -> String {
    vneid_core::vietnam::local(at)
        .format("%H:%M:%S %d/%m/%Y")
        .to_string()
}

/// How the phone page's list names a person: number, name, IAL as recorded, identity provider.
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

/// The simulated phone: the SMS "sent" (newest first) and, for each QR login waiting, a form
/// approving it as one of `people`; `flash` is shown on top after an approval.
pub(crate) fn phone_page(
    frame: &Frame<'_>,
    sms: &[Sms],
    qr: &[PendingQr],
    people: &[Person],
    flash: Option<&str>,
) -> Markup {
    let issuer = frame.issuer;
    let options = html! {
        @for p in people {
            option value=(p.personal_id) { (person_label(p)) }
        }
    };
    let body = html! {
        div.card {
            h1 { "Điện thoại giả lập" }
            @if let Some(f) = flash {
                p.info { (f) }
            }
            p.hint {
                "Tin nhắn OTP đã “gửi” và các yêu cầu đăng nhập bằng mã QR đang chờ. "
                a href={ (issuer) "/phone" } { "Làm mới" }
            }
        }
        div.card {
            h2 { "Tin nhắn SMS" }
            @if sms.is_empty() {
                p.hint { "Chưa có tin nhắn nào." }
            } @else {
                div.scroll role="region" tabindex="0" aria-label="Tin nhắn SMS" {
                    table {
                        thead {
                            tr {
                                th { "Số điện thoại" }
                                th { "Mã OTP" }
                                th { "Tài khoản" }
                                th { "Thời gian" }
                            }
                        }
                        tbody {
                            @for m in sms {
                                tr {
                                    td { (m.phone) }
                                    td.otp { (m.otp) }
                                    td { (m.personal_id) }
                                    td { (vn_time(m.at)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        div.card {
            h2 { "Yêu cầu đăng nhập bằng mã QR" }
            @if qr.is_empty() {
                p.hint { "Không có yêu cầu nào đang chờ." }
            }
            @for q in qr {
                form method="post" action={ (issuer) "/phone/approve" } class="card" {
                    p {
                        "Mã QR: " code { (q.qr_ref) } br;
                        span.hint { "Dịch vụ: " (q.client_id) " · tạo lúc " (vn_time(q.created)) }
                    }
                    input type="hidden" name="request" value=(q.qr_ref);
                    label for={ "p-" (q.qr_ref) } { "Ứng dụng VNeID đang đăng nhập với tài khoản" }
                    div.row {
                        select id={ "p-" (q.qr_ref) } name="personal_id" { (options) }
                        button.primary type="submit" { "Xác nhận đăng nhập" }
                    }
                }
            }
        }
    };
    document(frame, "Điện thoại giả lập", Width::Wide, body, None)
}

/// Where the simulator is, its links, and the demo accounts with their passwords.
pub(crate) fn index_page(frame: &Frame<'_>, people: &[Person]) -> Markup {
    let i = frame.issuer;
    let body = html! {
        div.card {
            h1 { "Cổng xác thực giả lập" }
            p {
                "Trình giả lập Cổng Dịch vụ công quốc gia liên thông VNeID (OpenID Connect). Đăng \
                 nhập bắt đầu từ dịch vụ kết nối; trang này chỉ để tra cứu."
            }
            ul {
                li { a href={ (i) "/.well-known/openid-configuration" } { "Cấu hình OpenID" } }
                li { a href={ (i) "/jwks" } { "Khóa công khai (JWKS)" } }
                li { a href={ (i) "/phone" } { "Điện thoại giả lập" } " (mã OTP, xác nhận mã QR)" }
            }
        }
        div.card {
            h2 { "Tài khoản thử nghiệm" }
            div.scroll role="region" tabindex="0" aria-label="Tài khoản thử nghiệm" {
                table {
                    thead {
                        tr {
                            th { "Tài khoản" }
                            th { "Mật khẩu" }
                            th { "Họ và tên" }
                            th { "Ghi chú" }
                        }
                    }
                    tbody {
                        @for p in people {
                            tr {
                                td { code { (p.personal_id) } }
                                td { code { (p.password) } }
                                td { (p.full_name) }
                                td { (p.note) }
                            }
                        }
                    }
                }
            }
        }
    };
    document(frame, "Cổng xác thực giả lập", Width::Wide, body, None)
}
