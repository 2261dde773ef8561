//! Reading the units' account lists: CSV (a spreadsheet export) or JSON (an integration), into
//! [`Parsed`] rows ready for the store, plus one [`Rejection`] per problem found. Pure: no I/O, no
//! clock, no panics on any input.
//!
//! # CSV
//! - The first non-blank line is the header: the nine [`COLUMNS`], each exactly once, in any
//!   order, matched case-insensitively after trimming. A missing, unknown or repeated column is a
//!   [`FileError`] naming it.
//! - A UTF-8 byte-order mark is stripped; CRLF, LF (and a lone CR) end lines; RFC 4180 quoting
//!   (commas, doubled quotes and line breaks inside quotes). A file that is not UTF-8 is a
//!   [`FileError::NotUtf8`] naming the line of the first bad byte (typically a "CSV" saved in a
//!   Windows code page).
//! - The delimiter is `,`, or `;` (then `\t`) when the header line has no comma: Excel in a
//!   Vietnamese regional setting, where `,` is the decimal separator, saves "CSV" with `;`.
//! - Blank lines are skipped, and so are records whose every field is empty or white space (the
//!   `,,,,,,,,` rows spreadsheets leave behind). They count for nothing, not even in
//!   [`Parsed::total_rows`].
//! - A row's [`line`](ImportRow::line) is the physical line on which its record starts (the header
//!   is on line 1 when the file starts with it), also after multi-line quoted fields and skipped
//!   blank lines.
//!
//! # JSON
//! An array of objects with the same keys (trimmed, case-insensitive); a missing key or `null` is
//! an empty value. A row's `line` is its 1-based position in the array. Numbers are accepted as
//! their decimal text (integrators send phone and personal ID numbers as numbers; the leading zero
//! is then lost, and such a personal ID number comes out `invalid`, never repaired). An unknown or
//! repeated key, or a value that is a boolean, array or object, is a [`FileError`] naming the
//! element and the key. Objects are never skipped as blank.
//!
//! # Rows
//! Every value is trimmed; `full_name` and `unit_name` are NFC-normalised and otherwise kept
//! exactly; `username` is kept as written. A row with problems is not in [`Parsed::rows`]; it gets
//! one [`Rejection`] per problem, in column order (see [`reason`] for the codes):
//! `field_count`, `username_missing`, `username_duplicate`, `full_name_missing`,
//! `unit_code_missing`, `kind_unknown`, `birth_date_invalid`.
//! - Usernames are one-stop-shop logins, which are case-insensitive: `Alice` and `alice` are
//!   duplicates. The later row is rejected (whether or not the earlier one was rejected for
//!   something else) and its message names the line of the first. A row with the wrong number of
//!   fields takes no username: which field is the username is not known there.
//! - `birth_date`: `YYYY-MM-DD`, or the spreadsheet form `DD/MM/YYYY` (also `D/M/YYYY`); day
//!   and month may have one or two digits, the year has four; impossible dates (`31/02/1990`) and
//!   anything else (Excel serial numbers, times) are rejected.
//! - A personal ID number is never a rejection: see [`PersonalIdCheck`].
//!
//! Messages are English and never repeat personal data (name, birth date, personal ID number,
//! phone, email); they may repeat the username and the `kind` value.
//!
//! # Limits
//! At most [`MAX_ROWS`] rows and [`MAX_FIELD_CHARS`] characters a value (see [`Limits`]); more is
//! a [`FileError`]. An over-long value usually means an unbalanced quote swallowed the rest of the
//! file, so the error names the line where it starts.

mod csv;
mod input;
mod json;
mod personal_id;
mod row;

use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;

pub use personal_id::PersonalIdCheck;

/// The columns of the CSV header and the keys of the JSON objects, in canonical order.
pub const COLUMNS: [&str; 9] = [
    "username",
    "full_name",
    "unit_code",
    "unit_name",
    "kind",
    "personal_id",
    "birth_date",
    "phone",
    "email",
];

const USERNAME: usize = 0;
const FULL_NAME: usize = 1;
const UNIT_CODE: usize = 2;
const UNIT_NAME: usize = 3;
const KIND: usize = 4;
const PERSONAL_ID: usize = 5;
const BIRTH_DATE: usize = 6;
const PHONE: usize = 7;
const EMAIL: usize = 8;

/// Rows a file may hold (blank lines not counted).
pub const MAX_ROWS: usize = 1_000_000;
/// Characters a single value may hold (before trimming).
pub const MAX_FIELD_CHARS: usize = 1_000;

/// The stable rejection codes of [`Rejection::reason`].
pub mod reason {
    /// The record has not as many fields as the header (`field` is `None`).
    pub const FIELD_COUNT: &str = "field_count";
    pub const USERNAME_MISSING: &str = "username_missing";
    /// The username (compared case-insensitively) was already used by an earlier row.
    pub const USERNAME_DUPLICATE: &str = "username_duplicate";
    pub const KIND_UNKNOWN: &str = "kind_unknown";
    pub const BIRTH_DATE_INVALID: &str = "birth_date_invalid";
    pub const FULL_NAME_MISSING: &str = "full_name_missing";
    pub const UNIT_CODE_MISSING: &str = "unit_code_missing";
}

/// The stable problem codes of [`PersonalIdCheck::Invalid`].
pub mod problem {
    /// Not 12 digits (also: 11 digits after a spreadsheet dropped the leading zero, Excel's
    /// scientific notation `7.9203E+11`, letters).
    pub const FORMAT: &str = "format";
    /// Digits 1–3 are not one of the 63 province codes.
    pub const UNKNOWN_PROVINCE: &str = "unknown_province";
    /// Digit 4 says born in 2100 or later.
    pub const CENTURY: &str = "century";
    /// The century and year in the number are not the birth date's.
    pub const BIRTH_YEAR_MISMATCH: &str = "birth_year_mismatch";
}

/// How the bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// `csv` or `json`: the stable name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }

    /// From a `Content-Type` (parameters ignored): `text/csv`, `application/csv`,
    /// `text/comma-separated-values`; `application/json`, `text/json`, `application/*+json`.
    /// `None` for anything else — including `application/vnd.ms-excel`, which Windows browsers
    /// send for `.csv` files but which also means a binary `.xls`: fall back to
    /// [`Format::from_file_name`] then.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        let is = |s: &str| essence.eq_ignore_ascii_case(s);
        if is("text/csv") || is("application/csv") || is("text/comma-separated-values") {
            Some(Self::Csv)
        } else if is("application/json")
            || is("text/json")
            || (essence.len() > 5
                && essence.is_char_boundary(essence.len() - 5)
                && essence[essence.len() - 5..].eq_ignore_ascii_case("+json"))
        {
            Some(Self::Json)
        } else {
            None
        }
    }

    /// From a file name or a bare extension, case-insensitively: `accounts.CSV`, `csv`, `.json`.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let ext = name.rsplit('.').next().unwrap_or(name);
        if ext.eq_ignore_ascii_case("csv") {
            Some(Self::Csv)
        } else if ext.eq_ignore_ascii_case("json") {
            Some(Self::Json)
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a file may hold before it is refused whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_rows: usize,
    pub max_field_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_rows: MAX_ROWS,
            max_field_chars: MAX_FIELD_CHARS,
        }
    }
}

/// The account kinds of the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A civil servant (cán bộ, công chức, viên chức).
    Staff,
    Citizen,
    Organisation,
}

impl Kind {
    /// `staff`, `citizen` or `organisation`: the stable name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Staff => "staff",
            Self::Citizen => "citizen",
            Self::Organisation => "organisation",
        }
    }

    /// `staff`, `citizen` or `organisation`, case-insensitively, surrounding white space ignored.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        [Self::Staff, Self::Citizen, Self::Organisation]
            .into_iter()
            .find(|k| s.eq_ignore_ascii_case(k.as_str()))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row that passed every check.
///
/// `Debug` redacts the birth date, phone and email and masks the personal ID number; `Serialize`
/// masks the personal ID number only (the serialised form is for an administrator's report).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ImportRow {
    /// CSV: the physical line where the record starts; JSON: the 1-based position in the array.
    pub line: usize,
    pub username: String,
    /// NFC.
    pub full_name: String,
    pub unit_code: String,
    /// NFC; may be empty.
    pub unit_name: String,
    pub kind: Kind,
    pub personal_id: PersonalIdCheck,
    pub birth_date: Option<NaiveDate>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

impl fmt::Debug for ImportRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Redacted<'a, T>(&'a Option<T>);
        impl<T> fmt::Debug for Redacted<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(if self.0.is_some() {
                    "Some([redacted])"
                } else {
                    "None"
                })
            }
        }
        f.debug_struct("ImportRow")
            .field("line", &self.line)
            .field("username", &self.username)
            .field("full_name", &self.full_name)
            .field("unit_code", &self.unit_code)
            .field("unit_name", &self.unit_name)
            .field("kind", &self.kind)
            .field("personal_id", &self.personal_id)
            .field("birth_date", &Redacted(&self.birth_date))
            .field("phone", &Redacted(&self.phone))
            .field("email", &Redacted(&self.email))
            .finish()
    }
}

/// One problem with one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// As [`ImportRow::line`].
    pub line: usize,
    /// The column at fault (one of [`COLUMNS`]); `None` for `field_count`.
    pub field: Option<&'static str>,
    /// A stable code from [`reason`].
    pub reason: &'static str,
    /// For a person, in English; no personal data.
    pub message: String,
    /// The row's username, when it has one. For `field_count`, the value found at the username
    /// column's position, which may be shifted.
    pub username: Option<String>,
}

/// The result of reading a file that was readable as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parsed {
    /// Rows without problems, in file order.
    pub rows: Vec<ImportRow>,
    /// Problems, by line, in column order within a line.
    pub rejected: Vec<Rejection>,
    /// Data rows read (blank lines not counted): `rows.len()` plus the number of distinct lines
    /// in `rejected`.
    pub total_rows: usize,
}

impl Parsed {
    /// The number of rows rejected (a row with several problems counts once).
    pub fn rejected_rows(&self) -> usize {
        self.total_rows - self.rows.len()
    }
}

/// A file refused whole. [`FileError::code`] is a stable machine code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty; its first line must be the header {}", COLUMNS.join(","))]
    Empty,
    #[error("line {line} is not UTF-8 text; save the spreadsheet as \"CSV UTF-8\"")]
    NotUtf8 { line: usize },
    #[error("the header has no column \"{name}\"; the columns are {}", COLUMNS.join(","))]
    MissingColumn { name: &'static str },
    #[error("unknown column \"{name}\" (column {position} of the header); the columns are {}", COLUMNS.join(","))]
    UnknownColumn { name: String, position: usize },
    #[error("column \"{name}\" appears more than once in the header")]
    DuplicateColumn { name: &'static str },
    #[error("the file has more than {max} rows; split it")]
    TooManyRows { max: usize },
    #[error("the {} value of the row at {line} is longer than {max} characters (an unbalanced quote?)", column.unwrap_or("extra"))]
    FieldTooLong {
        /// As [`ImportRow::line`].
        line: usize,
        /// `None` for a field beyond the header's columns.
        column: Option<&'static str>,
        max: usize,
    },
    #[error("malformed CSV: {message}")]
    MalformedCsv { message: String },
    #[error("malformed JSON: {message}")]
    MalformedJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("the JSON document must be an array of objects")]
    NotAnArray,
    #[error("element {index} of the JSON array is not an object")]
    NotAnObject { index: usize },
    #[error("element {index}: \"{key}\" is {found}; expected a string (or a number)")]
    NotAString {
        index: usize,
        key: &'static str,
        found: &'static str,
    },
    #[error("element {index}: unknown key \"{key}\"; the keys are {}", COLUMNS.join(","))]
    UnknownKey { index: usize, key: String },
    #[error("element {index}: key \"{key}\" appears more than once")]
    DuplicateKey { index: usize, key: &'static str },
}

impl FileError {
    /// The stable machine code of the error, one per variant (`empty_file`, `not_utf8`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty_file",
            Self::NotUtf8 { .. } => "not_utf8",
            Self::MissingColumn { .. } => "missing_column",
            Self::UnknownColumn { .. } => "unknown_column",
            Self::DuplicateColumn { .. } => "duplicate_column",
            Self::TooManyRows { .. } => "too_many_rows",
            Self::FieldTooLong { .. } => "field_too_long",
            Self::MalformedCsv { .. } => "malformed_csv",
            Self::MalformedJson { .. } => "malformed_json",
            Self::NotAnArray => "not_an_array",
            Self::NotAnObject { .. } => "not_an_object",
            Self::NotAString { .. } => "not_a_string",
            Self::UnknownKey { .. } => "unknown_key",
            Self::DuplicateKey { .. } => "duplicate_key",
        }
    }
}

/// Reads a file of either format with the default [`Limits`].
pub fn parse(bytes: &[u8], format: Format) -> Result<Parsed, FileError> {
    parse_with_limits(bytes, format, Limits::default())
}

/// Reads a file of either format within `limits`: a file with more rows, or a value with more
/// characters, than they allow is refused whole with a [`FileError`].
pub fn parse_with_limits(
    bytes: &[u8],
    format: Format,
    limits: Limits,
) -> Result<Parsed, FileError> {
    match format {
        Format::Csv => self::csv::read(bytes, limits),
        Format::Json => json::read(bytes, limits),
    }
}

/// Reads a CSV export; see the [module documentation](self) for the rules.
pub fn parse_csv(bytes: &[u8]) -> Result<Parsed, FileError> {
    self::csv::read(bytes, Limits::default())
}

/// Reads a JSON array of objects; see the [module documentation](self) for the rules.
pub fn parse_json(bytes: &[u8]) -> Result<Parsed, FileError> {
    json::read(bytes, Limits::default())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
