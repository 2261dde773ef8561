//! QR login: the login page polls, the simulated phone approves, the browser continues to the
//! code. Also what the phone page lists.

use vneid_core::mask;

use super::error::PageError;
use super::login::LoginView;
use super::store::{PendingQr, Sms, Stage};
use super::Broker;
use crate::params::Params;

/// Where `/qr/{id}/continue` leads.
pub(crate) enum QrContinue {
    Waiting(LoginView),
    Redirect(String),
}

/// What the login page's poll of `/qr/{id}` learns.
pub(crate) enum QrStatus {
    Pending,
    Approved { continue_url: String },
    Expired,
}

/// Ids in URLs are base64url strings of bounded length; anything else is simply unknown.
fn plausible_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Broker {
    /// Whether the phone has approved the pending login `rid`; `Expired` for anything unknown.
    /// Changes nothing.
    pub(crate) fn qr_status(&self, rid: &str) -> QrStatus {
        if !plausible_id(rid) {
            return QrStatus::Expired;
        }
        let store = self.store(self.now());
        match store.pending.get(rid).map(|p| &p.stage) {
            None => QrStatus::Expired,
            Some(Stage::QrApproved { .. }) => QrStatus::Approved {
                continue_url: format!("{}/qr/{rid}/continue", self.issuer),
            },
            Some(_) => QrStatus::Pending,
        }
    }

    /// After the phone's approval: the code is issued and the pending login removed (once).
    /// Before it: the login page again, saying the approval is still missing.
    pub(crate) fn qr_continue(&self, rid: &str) -> Result<QrContinue, PageError> {
        if !plausible_id(rid) {
            return Err(PageError::expired());
        }
        let now = self.now();
        let mut store = self.store(now);
        let pending = store.pending.get(rid).ok_or_else(PageError::expired)?;
        let Stage::QrApproved { personal_id } = &pending.stage else {
            let mut view = Self::login_view(rid, pending);
            view.error = Some(
                "Yêu cầu đăng nhập chưa được xác nhận trên ứng dụng VNeID. Hãy quét mã QR và xác \
                 nhận, hoặc đăng nhập bằng tài khoản và mật khẩu."
                    .to_owned(),
            );
            return Ok(QrContinue::Waiting(view));
        };
        let personal_id = personal_id.clone();
        let Some(done) = store.remove_pending(rid) else {
            return Err(PageError::expired());
        };
        tracing::info!(personal_id = %mask(&personal_id), "QR login complete");
        let url = Self::issue_code(&mut store, done.req, personal_id, now)?;
        Ok(QrContinue::Redirect(url))
    }

    // ---- the phone ------------------------------------------------------------------------

    /// The app, logged in as `personal_id`, approves the QR request `request`: the QR id, or
    /// the browser's own request id (which only the browser and the test hooks know).
    pub(crate) fn phone_approve(&self, p: &Params) -> Result<(), PageError> {
        let qr_ref = p
            .get("request")
            .ok_or_else(|| PageError::bad_request("Thiếu mã yêu cầu (request)."))?;
        let personal_id = p
            .get("personal_id")
            .ok_or_else(|| PageError::bad_request("Chưa chọn người đăng nhập (personal_id)."))?;
        let person = self.person(personal_id).ok_or_else(|| {
            PageError::bad_request("Không có tài khoản VNeID nào với số định danh này.")
        })?;
        let mut store = self.store(self.now());
        let not_found = || PageError {
            status: 404,
            title: "Không tìm thấy yêu cầu",
            message: "Không tìm thấy yêu cầu đăng nhập bằng mã QR này (có thể đã hết hạn hoặc \
                      đã được xác nhận)."
                .to_owned(),
            back: None,
        };
        let rid = match store.by_ref.get(qr_ref) {
            Some(rid) => rid.clone(),
            None if store.pending.contains_key(qr_ref) => qr_ref.to_owned(),
            None => return Err(not_found()),
        };
        let pending = store.pending.get_mut(&rid).ok_or_else(not_found)?;
        if matches!(pending.stage, Stage::QrApproved { .. }) {
            return Err(not_found());
        }
        pending.stage = Stage::QrApproved {
            personal_id: person.personal_id.clone(),
        };
        tracing::info!(personal_id = %mask(&person.personal_id), "QR login approved on the phone");
        Ok(())
    }

    /// SMS newest first, and QR requests still waiting for the phone.
    pub(crate) fn phone_view(&self) -> (Vec<Sms>, Vec<PendingQr>) {
        let store = self.store(self.now());
        let sms = store.sms.iter().cloned().collect();
        let mut qr: Vec<PendingQr> = store
            .pending
            .values()
            .filter(|p| !matches!(p.stage, Stage::QrApproved { .. }))
            .map(|p| PendingQr {
                qr_ref: p.qr_ref.clone(),
                client_id: p.req.client_id.clone(),
                created: p.created,
            })
            .collect();
        qr.sort_by_key(|q| std::cmp::Reverse(q.created));
        (sms, qr)
    }
}
