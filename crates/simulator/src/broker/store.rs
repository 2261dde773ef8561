//! The broker's in-memory state: pending logins (with their OTP or QR approval), authorization
//! codes, spent codes, access tokens and the phone's SMS. Only the maps and what keeps them
//! consistent live here; the flows that change them are in `login`, `qr` and `token`.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use super::{CODE_TTL, PENDING_TTL, SPENT_TTL};

#[derive(Debug, Clone)]
pub(super) struct AuthRequest {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) state: Option<String>,
    pub(super) nonce: Option<String>,
    pub(super) code_challenge: Option<String>,
}

#[derive(Debug)]
pub(super) enum Stage {
    Login,
    Otp { personal_id: String, otp: String },
    QrApproved { personal_id: String },
}

#[derive(Debug)]
pub(super) struct Pending {
    pub(super) req: AuthRequest,
    pub(super) qr_ref: String,
    pub(super) created: DateTime<Utc>,
    pub(super) stage: Stage,
    pub(super) password_failures: u32,
    pub(super) otp_failures: u32,
}

pub(super) struct CodeGrant {
    pub(super) req: AuthRequest,
    pub(super) personal_id: String,
    pub(super) issued: DateTime<Utc>,
}

pub(super) struct SpentCode {
    pub(super) at: DateTime<Utc>,
    pub(super) access_token: Option<String>,
}

pub(super) struct AccessGrant {
    pub(super) personal_id: String,
    pub(super) expires: DateTime<Utc>,
}

/// An OTP "sent" by SMS, as the phone page lists it.
#[derive(Debug, Clone)]
pub(crate) struct Sms {
    pub(crate) phone: String,
    pub(crate) personal_id: String,
    pub(crate) otp: String,
    /// The login form's request id (the hidden `request` field of the login and OTP pages).
    pub(crate) request: String,
    /// The public QR id of the same request.
    pub(crate) qr: String,
    pub(crate) at: DateTime<Utc>,
}

/// A QR login waiting for the phone, as the phone page lists it.
#[derive(Debug, Clone)]
pub(crate) struct PendingQr {
    pub(crate) qr_ref: String,
    pub(crate) client_id: String,
    pub(crate) created: DateTime<Utc>,
}

#[derive(Default)]
pub(super) struct Store {
    /// Pending logins by the login form's request id.
    pub(super) pending: HashMap<String, Pending>,
    /// QR id → request id, for every pending login.
    pub(super) by_ref: HashMap<String, String>,
    pub(super) codes: HashMap<String, CodeGrant>,
    pub(super) spent: HashMap<String, SpentCode>,
    pub(super) tokens: HashMap<String, AccessGrant>,
    /// Newest first.
    pub(super) sms: VecDeque<Sms>,
}

impl Store {
    /// Drops every entry that has expired at `now`; afterwards `by_ref` names only pending
    /// logins that still exist.
    pub(super) fn purge(&mut self, now: DateTime<Utc>) {
        self.pending.retain(|_, p| p.created + PENDING_TTL > now);
        let pending = &self.pending;
        self.by_ref.retain(|_, rid| pending.contains_key(rid));
        self.codes.retain(|_, c| c.issued + CODE_TTL > now);
        self.spent.retain(|_, s| s.at + SPENT_TTL > now);
        self.tokens.retain(|_, t| t.expires > now);
    }

    /// Removes a pending login together with its QR id.
    pub(super) fn remove_pending(&mut self, rid: &str) -> Option<Pending> {
        let p = self.pending.remove(rid)?;
        self.by_ref.remove(&p.qr_ref);
        Some(p)
    }
}
