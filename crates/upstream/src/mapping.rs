//! Userinfo → [`UpstreamIdentity`], by the configured field names. Pure.
//!
//! Decisions (the broker is sloppy about JSON types; policy, not this module, judges values):
//!
//! - **Absent values.** A missing field, JSON `null` and the empty string `""` all mean
//!   "absent" (OIDC Core 5.3.2 says claims without a value are left out; brokers send `null`
//!   or `""` instead).
//! - **Level** (`IAL`): the JSON integers `1` and `2` are valid, and so are the strings `"1"`
//!   and `"2"` (written exactly so: no sign, spaces, leading zeros or decimals), because brokers
//!   put numbers in strings. Anything else present is [`Claim::Invalid`] with the raw text:
//!   `"2a"`, `"02"`, `2.5`, `2.0`, `3`, `0`, `true`, `[2]`. The level is read from the level
//!   field only, never from `acr`.
//! - **Birth date**: a string parsed with `birthdate_format` (the whole string must match);
//!   a JSON integer is read as its decimal digits (`19900517` with `%Y%m%d`). Otherwise
//!   [`Claim::Invalid`] with the raw text.
//! - **Personal ID number**: a string is kept exactly as received (validation is policy's,
//!   through `PersonalId::parse`). A JSON number is kept as its decimal digits: the leading
//!   zero every real number has (province codes run 001–096) is lost by then, so such a value
//!   always fails validation later — fail closed, with the raw value kept for the audit log,
//!   rather than guess the zeros back. Booleans, arrays and objects are treated as absent.
//! - **Name, login IdP, TechID**: strings as received; numbers and booleans as their JSON text;
//!   arrays and objects are treated as absent.
//! - **Account type** (`LoaiTaiKhoan`): its text (a JSON number as its digits, `1` → `"1"`)
//!   looked up in `[upstreams.account_types]`: a listed value is [`Claim::Valid`]; any other
//!   value, and a boolean, array or object, is [`Claim::Invalid`] with the raw text; absent is
//!   [`Claim::Missing`]. Policy refuses both (fail closed).
//! - **Organisation** (`MaSoDoanhNghiep` else `MaSoThue`, `TenDoanhNghiep`, `NguoiDaiDien`):
//!   read only for an organisation account, as text like the name; a citizen's identity never
//!   carries them.
//! - **Subject**: a non-empty string, or an integer as its digits; anything else is an error,
//!   since a login without a stable subject cannot be linked.
//! - Raw text kept in [`Claim::Invalid`] is cut to 100 characters.

use chrono::NaiveDate;
use serde_json::Value;
use vneid_core::{AccountType, AssuranceLevel, Claim, OrganisationFacts, UpstreamIdentity};

use crate::{AccountTypeValues, UpstreamConfig, UpstreamError};

const MAX_RAW: usize = 100;

pub(crate) fn map_userinfo(
    config: &UpstreamConfig,
    userinfo: &Value,
) -> Result<UpstreamIdentity, UpstreamError> {
    let (upstream, names) = (&config.id, &config.claims);
    let fields = userinfo
        .as_object()
        .ok_or_else(|| UpstreamError::Userinfo("the response is not a JSON object".to_owned()))?;
    let get = |name: &str| present(fields.get(name));

    let subject = match get(&names.subject) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        None => {
            return Err(UpstreamError::Userinfo(format!(
                "no subject field {:?}",
                names.subject
            )))
        }
        Some(_) => {
            return Err(UpstreamError::Userinfo(format!(
                "subject field {:?} is not a string",
                names.subject
            )))
        }
    };

    let account_type = account_type(get(&names.account_type), &config.account_types);
    let organisation =
        (account_type == Claim::Valid(AccountType::Organisation)).then(|| OrganisationFacts {
            id: names
                .organisation_id
                .iter()
                .find_map(|name| text(get(name))),
            name: text(get(&names.organisation_name)),
            representative: text(get(&names.organisation_representative)),
        });
    Ok(UpstreamIdentity {
        upstream: upstream.clone(),
        subject,
        personal_id: match get(&names.personal_id) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        },
        name: text(get(&names.name)),
        birthdate: birthdate(get(&names.birthdate), &names.birthdate_format),
        level: level(get(&names.level)),
        login_idp: text(get(&names.login_idp)),
        account_type,
        organisation,
        tech_id: text(get(&names.tech_id)),
    })
}

/// `None` for a missing field, `null` and `""`.
fn present(value: Option<&Value>) -> Option<&Value> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(v) => Some(v),
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// The raw text of a value, for `Claim::Invalid`: a string's content, otherwise its JSON.
fn raw(value: &Value) -> String {
    let s = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > MAX_RAW {
        s.chars().take(MAX_RAW).collect()
    } else {
        s
    }
}

fn account_type(value: Option<&Value>, values: &AccountTypeValues) -> Claim<AccountType> {
    let Some(value) = value else {
        return Claim::Missing;
    };
    let mapped = match value {
        Value::String(s) => values.account_type(s),
        Value::Number(n) => values.account_type(&n.to_string()),
        _ => None,
    };
    match mapped {
        Some(t) => Claim::Valid(t),
        None => Claim::Invalid(raw(value)),
    }
}

fn level(value: Option<&Value>) -> Claim<AssuranceLevel> {
    let Some(value) = value else {
        return Claim::Missing;
    };
    let number = match value {
        Value::Number(n) => n.as_i64(),
        // Exactly the decimal form of a small integer: "2", not "02", "+2", " 2" or "2.0".
        Value::String(s)
            if !s.is_empty()
                && s.len() <= 3
                && s.bytes().all(|b| b.is_ascii_digit())
                && (s == "0" || !s.starts_with('0')) =>
        {
            s.parse::<i64>().ok()
        }
        _ => None,
    };
    match number.map(AssuranceLevel::from_number) {
        Some(Ok(level)) => Claim::Valid(level),
        _ => Claim::Invalid(raw(value)),
    }
}

fn birthdate(value: Option<&Value>, format: &str) -> Claim<NaiveDate> {
    let Some(value) = value else {
        return Claim::Missing;
    };
    let text = match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_u64() => Some(n.to_string()),
        _ => None,
    };
    match text.map(|t| NaiveDate::parse_from_str(&t, format)) {
        Some(Ok(date)) => Claim::Valid(date),
        _ => Claim::Invalid(raw(value)),
    }
}
