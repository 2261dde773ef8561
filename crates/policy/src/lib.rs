//! The login decision. Pure: it reads an [`UpstreamIdentity`], what the client requires and the
//! date, and returns either an admitted login or a refusal with a stable reason code. No I/O.
//!
//! Rules, in the order they are checked (the first failing one is the reason):
//! 1. the account system (`login_idp`): from `vneid_only_from` on, only `vneid_login_idp`
//!    (VNeID, `BCA`) is accepted — accounts of the old national portal and of Vietnam Post are
//!    refused;
//! 2. the account type must be present and one the upstream's `[upstreams.account_types]`
//!    lists (fail closed), and one the client admits (its `account_types`;
//!    [`account_type_admitted`], also applied to an SSO session and at the token endpoint);
//! 3. the level (`IAL`) must be present and a valid integer level (fail closed), and at least
//!    the level required: max(client `min_level`, level asked with `acr_values`);
//! 4. for a citizen only: the personal ID number must be present and valid (format, province
//!    code), and agree with the birth date when one is given; a birth date that cannot be read
//!    is a refusal too, since the number could not be checked against it. An organisation has
//!    no personal ID number: its identifier is never checked as one, nor released as one.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use vneid_core::{
    AccountType, AssuranceLevel, Claim, PersonalId, PersonalIdError, UpstreamIdentity,
};

/// The `[policy]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// From this date on only `vneid_login_idp` is accepted.
    pub vneid_only_from: NaiveDate,
    /// The `loginIdp` value of VNeID accounts.
    pub vneid_login_idp: String,
    /// Level required of clients that set no `min_level`.
    pub default_min_level: AssuranceLevel,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            vneid_only_from: NaiveDate::from_ymd_opt(2024, 7, 1).unwrap_or_default(),
            vneid_login_idp: "BCA".to_owned(),
            default_min_level: AssuranceLevel::Level2,
        }
    }
}

/// The level a login must reach: the client's minimum (or the default), raised by any of the
/// gateway's own `acr` values the client asked for in `acr_values`. Values the gateway does not
/// know are ignored, as OpenID Connect Core §3.1.2.1 makes `acr_values` a voluntary request; a
/// request for level 1 never lowers a client's minimum.
pub fn required_level(
    config: &PolicyConfig,
    client_min_level: Option<AssuranceLevel>,
    acr_values: Option<&str>,
) -> AssuranceLevel {
    let base = client_min_level.unwrap_or(config.default_min_level);
    acr_values
        .unwrap_or("")
        .split_ascii_whitespace()
        .filter_map(|v| AssuranceLevel::from_acr(v).ok())
        .fold(base, Ord::max)
}

/// Why a login was refused. `code()` is stable: it is the metric label, the audit reason and
/// the `error_description` prefix the portal sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The account system is not accepted on this date (Vietnam Post, old national portal).
    AccountSystemNotAccepted {
        login_idp: Option<String>,
    },
    /// No level in userinfo.
    LevelMissing,
    /// A level that is not 1 or 2.
    LevelInvalid,
    /// No account type in userinfo.
    AccountTypeMissing,
    /// An account type `[upstreams.account_types]` does not list (the raw value when it is a
    /// short code, see `shown_account_type`).
    AccountTypeUnknown {
        value: String,
    },
    /// A known account type this client does not admit (a citizens' portal and an
    /// organisation's account).
    AccountTypeNotAllowed {
        have: AccountType,
    },
    /// A real level, but lower than required.
    LevelTooLow {
        have: AssuranceLevel,
        need: AssuranceLevel,
    },
    PersonalIdMissing,
    PersonalIdInvalid(PersonalIdError),
    BirthdateInvalid,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::AccountSystemNotAccepted { .. } => "account_system_not_accepted",
            Self::AccountTypeMissing => "account_type_missing",
            Self::AccountTypeUnknown { .. } => "account_type_unknown",
            Self::AccountTypeNotAllowed { .. } => "account_type_not_allowed",
            Self::LevelMissing => "level_missing",
            Self::LevelInvalid => "level_invalid",
            Self::LevelTooLow { .. } => "level_too_low",
            Self::PersonalIdMissing => "personal_id_missing",
            Self::PersonalIdInvalid(PersonalIdError::BirthYearMismatch { .. }) => {
                "personal_id_birth_year_mismatch"
            }
            Self::PersonalIdInvalid(_) => "personal_id_invalid",
            Self::BirthdateInvalid => "birthdate_invalid",
        }
    }

    /// Every code `code()` can return, for metrics and documentation.
    pub const CODES: [&'static str; 11] = [
        "account_system_not_accepted",
        "account_type_missing",
        "account_type_unknown",
        "account_type_not_allowed",
        "level_missing",
        "level_invalid",
        "level_too_low",
        "personal_id_missing",
        "personal_id_invalid",
        "personal_id_birth_year_mismatch",
        "birthdate_invalid",
    ];

    /// An English sentence for `error_description` (portal developers read it in logs).
    pub fn description(&self) -> String {
        match self {
            Self::AccountSystemNotAccepted { login_idp } => format!(
                "only VNeID accounts are accepted; this login used account system {:?}",
                login_idp.as_deref().unwrap_or("unknown")
            ),
            Self::AccountTypeMissing => "the upstream sent no account type".to_owned(),
            Self::AccountTypeUnknown { value } => format!(
                "the upstream sent account type {value:?}, which is not configured as a citizen's or an organisation's"
            ),
            Self::AccountTypeNotAllowed { have } => {
                format!("this client does not admit {have} accounts")
            }
            Self::LevelMissing => "the upstream sent no identity assurance level".to_owned(),
            Self::LevelInvalid => {
                "the upstream sent an unusable identity assurance level".to_owned()
            }
            Self::LevelTooLow { have, need } => {
                format!("a level-{need} VNeID account is required; this account is level {have}")
            }
            Self::PersonalIdMissing => "the upstream sent no personal ID number".to_owned(),
            Self::PersonalIdInvalid(e) => format!("the personal ID number is not valid: {e}"),
            Self::BirthdateInvalid => {
                "the upstream sent a birth date that cannot be read".to_owned()
            }
        }
    }
}

/// Longest raw account-type value kept in a refusal (it reaches the portal, the audit trail
/// and the log).
const MAX_RAW_ACCOUNT_TYPE: usize = 8;

/// What a refusal keeps of an account-type value no configuration lists: the value itself when
/// it is a short code (at most 8 ASCII letters, digits, `-` or `_`, as account-type codes are),
/// otherwise only that it was not one — so that a field mapped by mistake to a name or a number
/// (`claims.account_type = "SoDinhDanh"`) never carries personal data into the portal's
/// `error_description`, the audit trail or the log.
fn shown_account_type(raw: &str) -> String {
    let code = !raw.is_empty()
        && raw.len() <= MAX_RAW_ACCOUNT_TYPE
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if code {
        raw.to_owned()
    } else {
        "(not a short code)".to_owned()
    }
}

/// Who a login the policy lets through is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admittee {
    /// A citizen, with their checked personal ID number.
    Citizen {
        personal_id: PersonalId,
        birthdate: Option<NaiveDate>,
    },
    /// An organisation: no personal ID number (the identity's `organisation` facts say which).
    Organisation,
}

/// A login the policy lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub level: AssuranceLevel,
    pub who: Admittee,
}

impl Admitted {
    pub fn account_type(&self) -> AccountType {
        match self.who {
            Admittee::Citizen { .. } => AccountType::Citizen,
            Admittee::Organisation => AccountType::Organisation,
        }
    }

    /// The citizen's personal ID number; `None` for an organisation.
    pub fn personal_id(&self) -> Option<&PersonalId> {
        match &self.who {
            Admittee::Citizen { personal_id, .. } => Some(personal_id),
            Admittee::Organisation => None,
        }
    }
}

/// What the client asks of a login: the level (see [`required_level`]) and the account types it
/// admits (its `account_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement<'a> {
    pub level: AssuranceLevel,
    pub account_types: &'a [AccountType],
}

/// Whether a client that admits `admitted` account types admits an account of type `have`: the
/// one rule for a login, an SSO session reused for another portal, and a token endpoint grant.
pub fn account_type_admitted(admitted: &[AccountType], have: AccountType) -> Result<(), Refusal> {
    if admitted.contains(&have) {
        Ok(())
    } else {
        Err(Refusal::AccountTypeNotAllowed { have })
    }
}

/// Decides one login. `today` is the date in the province (the caller converts its clock).
pub fn decide(
    config: &PolicyConfig,
    identity: &UpstreamIdentity,
    required: Requirement<'_>,
    today: NaiveDate,
) -> Result<Admitted, Refusal> {
    if today >= config.vneid_only_from
        && identity.login_idp.as_deref() != Some(config.vneid_login_idp.as_str())
    {
        return Err(Refusal::AccountSystemNotAccepted {
            login_idp: identity.login_idp.clone(),
        });
    }
    let account_type = match &identity.account_type {
        Claim::Missing => return Err(Refusal::AccountTypeMissing),
        Claim::Invalid(raw) => {
            return Err(Refusal::AccountTypeUnknown {
                value: shown_account_type(raw),
            })
        }
        Claim::Valid(t) => *t,
    };
    account_type_admitted(required.account_types, account_type)?;
    let required = required.level;
    let level = match &identity.level {
        Claim::Missing => return Err(Refusal::LevelMissing),
        Claim::Invalid(_) => return Err(Refusal::LevelInvalid),
        Claim::Valid(l) => *l,
    };
    if level < required {
        return Err(Refusal::LevelTooLow {
            have: level,
            need: required,
        });
    }
    if account_type == AccountType::Organisation {
        return Ok(Admitted {
            level,
            who: Admittee::Organisation,
        });
    }
    let birthdate = match &identity.birthdate {
        Claim::Missing => None,
        Claim::Invalid(_) => return Err(Refusal::BirthdateInvalid),
        Claim::Valid(d) => Some(*d),
    };
    let raw = identity
        .personal_id
        .as_deref()
        .ok_or(Refusal::PersonalIdMissing)?;
    let personal_id =
        PersonalId::parse_with_birthdate(raw, birthdate).map_err(Refusal::PersonalIdInvalid)?;
    Ok(Admitted {
        level,
        who: Admittee::Citizen {
            personal_id,
            birthdate,
        },
    })
}

#[cfg(test)]
mod tests;
