use serde::{Deserialize, Serialize};

use crate::{AccountType, AssuranceLevel, OrganisationFacts};

/// A claim as received from upstream: absent, present but unusable (with the raw text kept for
/// the audit log), or parsed. Policy must tell the three apart: a missing level and a level of
/// `"abc"` are both refusals, with different reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "value", rename_all = "snake_case")]
pub enum Claim<T> {
    Missing,
    Invalid(String),
    Valid(T),
}

impl<T> Claim<T> {
    pub fn valid(&self) -> Option<&T> {
        match self {
            Claim::Valid(v) => Some(v),
            _ => None,
        }
    }
}

/// What the national login broker told us about the person, mapped from the configured userinfo
/// field names but not yet judged. Policy turns it into an admitted login or a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamIdentity {
    /// The gateway's id of the upstream (`[[upstreams]] id`).
    pub upstream: String,
    /// The upstream's `sub` for this person.
    pub subject: String,
    /// Personal ID number exactly as received (not yet validated).
    pub personal_id: Option<String>,
    pub name: Option<String>,
    pub birthdate: Claim<chrono::NaiveDate>,
    /// Identity assurance level from userinfo (`IAL`); never taken from `acr`.
    pub level: Claim<AssuranceLevel>,
    /// Which account system the person used (`loginIdp`; `BCA` = VNeID).
    pub login_idp: Option<String>,
    /// The account type (`LoaiTaiKhoan`), mapped through the upstream's
    /// `[upstreams.account_types]`: a value it does not list is `Invalid` with the raw text.
    pub account_type: Claim<AccountType>,
    /// What the upstream says about an organisation; filled only for organisation accounts.
    pub organisation: Option<OrganisationFacts>,
    /// `TechID` of the national portal, kept for support.
    pub tech_id: Option<String>,
}
