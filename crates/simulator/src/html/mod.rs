//! The pages, in Vietnamese, styled after the national login screens, built with `maud`: every
//! interpolated value (from a request, a fixture or the configuration) is escaped by the
//! template. Only constant markup goes in unescaped — the stylesheet, the emblem, the inline
//! script — and the QR code, drawn by the `qrcode` crate from the QR id.
//!
//! [`layout`] holds the one layout every page uses; [`pages`] the pages. Inline CSS and JS carry
//! a per-response nonce (see `http::csp`); there are no `style=""` attributes or inline event
//! handlers, so the CSP needs no `'unsafe-inline'`.

mod layout;
mod pages;
#[cfg(test)]
mod tests;

pub(crate) use layout::Frame;
pub(crate) use pages::{error_page, index_page, login_page, message_page, otp_page, phone_page};
