//! A record's fields, one value per column, into a validated [`ImportRow`] or one
//! [`Rejection`] per problem: usernames (unique, case-insensitively), names, unit codes, kinds
//! and birth dates. Shared by both formats.

use std::collections::hash_map::{Entry, HashMap, RandomState};
use std::hash::BuildHasher;

use chrono::NaiveDate;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use super::{
    reason, FileError, ImportRow, Kind, Limits, Parsed, PersonalIdCheck, Rejection, BIRTH_DATE,
    COLUMNS, EMAIL, FULL_NAME, KIND, PERSONAL_ID, PHONE, UNIT_CODE, UNIT_NAME, USERNAME,
};

/// Accumulates rows and rejections; shared by both formats.
pub(super) struct Builder {
    limits: Limits,
    /// How a row's position is named in messages: "line" or "element".
    place: &'static str,
    rows: Vec<ImportRow>,
    rejected: Vec<Rejection>,
    total: usize,
    usernames: Usernames,
}

impl Builder {
    /// `expected_rows`: an estimate, to allocate once.
    pub(super) fn new(limits: Limits, place: &'static str, expected_rows: usize) -> Self {
        let expected_rows = expected_rows.min(limits.max_rows);
        Self {
            limits,
            place,
            rows: Vec::with_capacity(expected_rows),
            rejected: Vec::new(),
            total: 0,
            usernames: Usernames::with_capacity(expected_rows),
        }
    }

    /// Counts one more data row: a [`FileError::TooManyRows`] once there are more than
    /// `limits.max_rows`.
    pub(super) fn count_row(&mut self) -> Result<(), FileError> {
        self.total += 1;
        if self.total > self.limits.max_rows {
            return Err(FileError::TooManyRows {
                max: self.limits.max_rows,
            });
        }
        Ok(())
    }

    /// `Ok` unless `value` has more than `limits.max_field_chars` characters: then a
    /// [`FileError::FieldTooLong`] naming `line` and `column`.
    pub(super) fn check_length(
        &self,
        line: usize,
        column: Option<&'static str>,
        value: &str,
    ) -> Result<(), FileError> {
        let max = self.limits.max_field_chars;
        if value.len() > max && value.chars().count() > max {
            return Err(FileError::FieldTooLong { line, column, max });
        }
        Ok(())
    }

    fn reject(
        &mut self,
        line: usize,
        field: Option<&'static str>,
        reason: &'static str,
        message: String,
        username: &str,
    ) {
        self.rejected.push(Rejection {
            line,
            field,
            reason,
            message,
            username: (!username.is_empty()).then(|| username.to_owned()),
        });
    }

    /// Rejects the row at `line` for having `found` fields where the header has `expected`;
    /// `username` is the value at the username column's position, when the row reaches it.
    pub(super) fn field_count(
        &mut self,
        line: usize,
        expected: usize,
        found: usize,
        username: Option<&str>,
    ) {
        self.reject(
            line,
            None,
            reason::FIELD_COUNT,
            format!(
                "expected {expected} fields as in the header, found {found} (a comma in an unquoted value?)"
            ),
            username.map(str::trim).unwrap_or(""),
        );
    }

    /// One row with a value (possibly empty, untrimmed) for every column, in [`COLUMNS`] order.
    /// [`Builder::count_row`] and [`Builder::check_length`] were called already.
    pub(super) fn row(&mut self, line: usize, fields: &[&str; COLUMNS.len()]) {
        let before = self.rejected.len();
        let username = fields[USERNAME].trim();
        let full_name = fields[FULL_NAME].trim();
        let unit_code = fields[UNIT_CODE].trim();
        let kind_text = fields[KIND].trim();
        let birth_text = fields[BIRTH_DATE].trim();

        if username.is_empty() {
            self.reject(
                line,
                Some(COLUMNS[USERNAME]),
                reason::USERNAME_MISSING,
                "username is empty".to_owned(),
                username,
            );
        } else if let Some(first) = self.usernames.first_line(username, line) {
            let message = format!(
                "username \"{username}\" is already used at {} {first} (usernames are case-insensitive)",
                self.place
            );
            self.reject(
                line,
                Some(COLUMNS[USERNAME]),
                reason::USERNAME_DUPLICATE,
                message,
                username,
            );
        }
        if full_name.is_empty() {
            self.reject(
                line,
                Some(COLUMNS[FULL_NAME]),
                reason::FULL_NAME_MISSING,
                "full_name is empty".to_owned(),
                username,
            );
        }
        if unit_code.is_empty() {
            self.reject(
                line,
                Some(COLUMNS[UNIT_CODE]),
                reason::UNIT_CODE_MISSING,
                "unit_code is empty".to_owned(),
                username,
            );
        }
        let kind = Kind::parse(kind_text);
        if kind.is_none() {
            let message = if kind_text.is_empty() {
                "kind is empty; expected staff, citizen or organisation".to_owned()
            } else {
                format!("kind \"{kind_text}\" is not staff, citizen or organisation")
            };
            self.reject(
                line,
                Some(COLUMNS[KIND]),
                reason::KIND_UNKNOWN,
                message,
                username,
            );
        }
        let birth_date = if birth_text.is_empty() {
            None
        } else {
            match parse_birth_date(birth_text) {
                Ok(date) => Some(date),
                Err(message) => {
                    self.reject(
                        line,
                        Some(COLUMNS[BIRTH_DATE]),
                        reason::BIRTH_DATE_INVALID,
                        message.to_owned(),
                        username,
                    );
                    None
                }
            }
        };

        let Some(kind) = kind else { return };
        if self.rejected.len() != before {
            return;
        }
        self.rows.push(ImportRow {
            line,
            username: username.to_owned(),
            full_name: nfc(full_name),
            unit_code: unit_code.to_owned(),
            unit_name: nfc(fields[UNIT_NAME].trim()),
            kind,
            personal_id: PersonalIdCheck::check(fields[PERSONAL_ID], birth_date),
            birth_date,
            phone: non_empty(fields[PHONE]),
            email: non_empty(fields[EMAIL]),
        });
    }

    /// The rows, the rejections and the number of data rows read.
    pub(super) fn finish(self) -> Parsed {
        Parsed {
            rows: self.rows,
            rejected: self.rejected,
            total_rows: self.total,
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn nfc(s: &str) -> String {
    if s.is_ascii() || is_nfc_quick(s.chars()) == IsNormalized::Yes {
        s.to_owned()
    } else {
        s.nfc().collect()
    }
}

/// The usernames seen so far, compared case-folded (and NFC), without an allocation per row:
/// the folded names are appended to one buffer, and a table maps the keyed hash of a name to
/// where it is in the buffer. Different names with the same 64-bit hash (in practice never: the
/// hash is keyed per process) go to an overflow list.
struct Usernames {
    hasher: RandomState,
    folded: String,
    by_hash: HashMap<u64, SeenName>,
    overflow: Vec<(u64, SeenName)>,
}

#[derive(Clone, Copy)]
struct SeenName {
    start: usize,
    end: usize,
    line: usize,
}

impl Usernames {
    fn with_capacity(names: usize) -> Self {
        Self {
            hasher: RandomState::new(),
            folded: String::with_capacity(names.saturating_mul(12)),
            by_hash: HashMap::with_capacity(names),
            overflow: Vec::new(),
        }
    }

    /// The line of the first row with this username, or `None` (and `line` is remembered).
    fn first_line(&mut self, username: &str, line: usize) -> Option<usize> {
        let start = self.folded.len();
        if username.is_ascii() {
            self.folded.push_str(username);
            self.folded[start..].make_ascii_lowercase();
        } else {
            self.folded.push_str(&vneid_core::username_key(username));
        }
        let end = self.folded.len();
        let folded = &self.folded;
        let name = &folded[start..end];
        let hash = self.hasher.hash_one(name);
        let seen = SeenName { start, end, line };
        let found = match self.by_hash.entry(hash) {
            Entry::Vacant(vacant) => {
                vacant.insert(seen);
                return None;
            }
            Entry::Occupied(occupied) => {
                let first = *occupied.get();
                if folded.get(first.start..first.end) == Some(name) {
                    Some(first.line)
                } else {
                    self.overflow
                        .iter()
                        .find(|(h, s)| *h == hash && folded.get(s.start..s.end) == Some(name))
                        .map(|(_, s)| s.line)
                }
            }
        };
        match found {
            Some(first) => {
                self.folded.truncate(start);
                Some(first)
            }
            None => {
                self.overflow.push((hash, seen));
                None
            }
        }
    }
}

/// ASCII digits only, between `min` and `max` of them.
fn number(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `YYYY-MM-DD` or `DD/MM/YYYY` (day and month with one or two digits).
pub(super) fn parse_birth_date(s: &str) -> Result<NaiveDate, &'static str> {
    const SHAPE: &str = "birth_date is not a date in the form YYYY-MM-DD or DD/MM/YYYY";
    const IMPOSSIBLE: &str = "birth_date is not a real date (day or month out of range)";
    // Exactly two separators; the parts are checked to be digits below.
    let parts = |sep: u8| -> Option<[&str; 3]> {
        let first = s.bytes().position(|b| b == sep)?;
        let rest = &s[first + 1..];
        let second = rest.bytes().position(|b| b == sep)?;
        let last = &rest[second + 1..];
        (!last.bytes().any(|b| b == sep)).then(|| [&s[..first], &rest[..second], last])
    };
    let (year, month, day) = if let Some([y, m, d]) = parts(b'-') {
        (number(y, 4, 4), number(m, 1, 2), number(d, 1, 2))
    } else if let Some([d, m, y]) = parts(b'/') {
        (number(y, 4, 4), number(m, 1, 2), number(d, 1, 2))
    } else {
        return Err(SHAPE);
    };
    let (Some(year), Some(month), Some(day)) = (year, month, day) else {
        return Err(SHAPE);
    };
    let year = i32::try_from(year).map_err(|_| SHAPE)?;
    NaiveDate::from_ymd_opt(year, month, day).ok_or(IMPOSSIBLE)
}

#[cfg(test)]
mod tests;
