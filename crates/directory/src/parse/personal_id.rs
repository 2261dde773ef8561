//! The personal ID number of a row: checked, never a reason to reject the row.

use std::borrow::Cow;
use std::fmt;

use chrono::NaiveDate;
use serde::{Serialize, Serializer};
use vneid_core::{mask, PersonalId};

use super::problem;

/// What became of a row's personal ID number. Never a reason to reject the row.
///
/// The text is trimmed; spaces (also no-break spaces) or dots between groups of digits are
/// accepted as separators (`001 099 012 345`, `001.099.012.345`) when they are all the same
/// character and every group after the first has at least three digits — so `05219001238.1` is
/// not read as a number. Anything else is checked as it is: an 11-digit number (a spreadsheet
/// dropped the leading zero) or Excel's `7.9203E+11` is `invalid` with problem `format`, never
/// repaired.
///
/// `Debug` and `Serialize` show the number masked (`052*******81`); the raw text is only reachable
/// through [`PersonalIdCheck::raw`] and [`PersonalId::expose`].
#[derive(Clone, PartialEq, Eq)]
pub enum PersonalIdCheck {
    /// The value was empty.
    Missing,
    /// The text as given (trimmed) and why it is not a valid number (a [`problem`] code).
    Invalid { raw: String, problem: &'static str },
    /// A valid number, in agreement with the birth date when one was given.
    Valid(PersonalId),
}

impl PersonalIdCheck {
    /// Checks a value: the rules above, then [`PersonalId::parse`], the century (born before
    /// 2100), and [`PersonalId::check_birthdate`] when `birth_date` is known.
    pub fn check(value: &str, birth_date: Option<NaiveDate>) -> Self {
        let raw = value.trim();
        if raw.is_empty() {
            return Self::Missing;
        }
        let invalid = |problem: &'static str| Self::Invalid {
            raw: raw.to_owned(),
            problem,
        };
        let digits = strip_separators(raw);
        let id = match PersonalId::parse(&digits) {
            Ok(id) => id,
            Err(e) => return invalid(e.code()),
        };
        if id.birth_year() >= 2100 {
            return invalid(problem::CENTURY);
        }
        if let Some(date) = birth_date {
            if let Err(e) = id.check_birthdate(date) {
                return invalid(e.code());
            }
        }
        Self::Valid(id)
    }

    /// `missing`, `invalid` or `valid` (the store's `personal_id_status` on input).
    pub fn status(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid { .. } => "invalid",
            Self::Valid(_) => "valid",
        }
    }

    /// The [`problem`] code of an invalid number.
    pub fn problem(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { problem, .. } => Some(problem),
            _ => None,
        }
    }

    /// The number as given (invalid) or its 12 digits (valid); `None` when missing. Personal
    /// data: seal it, never log it.
    pub fn raw(&self) -> Option<&str> {
        match self {
            Self::Missing => None,
            Self::Invalid { raw, .. } => Some(raw),
            Self::Valid(id) => Some(id.expose()),
        }
    }

    /// [`vneid_core::mask`] of [`raw`](Self::raw), for reports without access to personal data.
    pub fn masked(&self) -> Option<String> {
        self.raw().map(mask)
    }

    /// The number, when it is valid; `None` when missing or invalid.
    pub fn valid(&self) -> Option<&PersonalId> {
        match self {
            Self::Valid(id) => Some(id),
            _ => None,
        }
    }
}

impl fmt::Debug for PersonalIdCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("Missing"),
            Self::Invalid { raw, problem } => f
                .debug_struct("Invalid")
                .field("raw", &mask(raw))
                .field("problem", problem)
                .finish(),
            Self::Valid(id) => f.debug_tuple("Valid").field(id).finish(),
        }
    }
}

/// `{"status": "invalid", "problem": "format", "masked": "792*****11"}`: never the number in clear.
impl Serialize for PersonalIdCheck {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("PersonalIdCheck", 3)?;
        s.serialize_field("status", self.status())?;
        s.serialize_field("problem", &self.problem())?;
        s.serialize_field("masked", &self.masked())?;
        s.end()
    }
}

/// The digits of a personal ID number written with group separators, or the text unchanged.
fn strip_separators(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Cow::Borrowed(s);
    }
    let Some(separator) = s.chars().find(|c| !c.is_ascii_digit()) else {
        return Cow::Borrowed(s);
    };
    if !matches!(separator, ' ' | '\u{a0}' | '.') {
        return Cow::Borrowed(s);
    }
    let mut digits = String::with_capacity(12);
    for (i, group) in s.split(separator).enumerate() {
        let ok = !group.is_empty()
            && group.bytes().all(|b| b.is_ascii_digit())
            && (i == 0 || group.len() >= 3);
        if !ok {
            return Cow::Borrowed(s);
        }
        digits.push_str(group);
    }
    Cow::Owned(digits)
}
