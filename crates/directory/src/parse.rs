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

use std::borrow::Cow;
use std::collections::hash_map::{Entry, HashMap, RandomState};
use std::fmt;
use std::hash::BuildHasher;

use chrono::NaiveDate;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
use vneid_core::{mask, PersonalId};

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

pub fn parse_with_limits(
    bytes: &[u8],
    format: Format,
    limits: Limits,
) -> Result<Parsed, FileError> {
    match format {
        Format::Csv => csv_with_limits(bytes, limits),
        Format::Json => json_with_limits(bytes, limits),
    }
}

/// Reads a CSV export; see the [module documentation](self) for the rules.
pub fn parse_csv(bytes: &[u8]) -> Result<Parsed, FileError> {
    csv_with_limits(bytes, Limits::default())
}

/// Reads a JSON array of objects; see the [module documentation](self) for the rules.
pub fn parse_json(bytes: &[u8]) -> Result<Parsed, FileError> {
    json_with_limits(bytes, Limits::default())
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Line breaks in `bytes[from..to]`: LF, CRLF, and a lone CR (old Mac files), which the CSV
/// reader also takes for a record end.
fn count_line_breaks(bytes: &[u8], from: usize, to: usize) -> usize {
    let to = to.min(bytes.len());
    let from = from.min(to);
    let region = &bytes[from..to];
    let lf = region.iter().filter(|&&b| b == b'\n').count();
    let cr = region.iter().filter(|&&b| b == b'\r').count();
    if cr == 0 {
        return lf;
    }
    // A CR followed by LF (also just past the region) is one break, counted with the LF.
    let crlf = region.windows(2).filter(|w| w == b"\r\n").count()
        + usize::from(region.last() == Some(&b'\r') && bytes.get(to) == Some(&b'\n'));
    lf + cr - crlf
}

/// Checks the whole input is UTF-8, naming the line of the first bad byte.
fn check_utf8(bytes: &[u8]) -> Result<(), FileError> {
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(()),
        Err(e) => Err(FileError::NotUtf8 {
            line: 1 + count_line_breaks(bytes, 0, e.valid_up_to()),
        }),
    }
}

/// `,` unless the header line has none and has `;` (or else a tab).
fn detect_delimiter(bytes: &[u8]) -> u8 {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    let rest = &bytes[start..];
    let end = rest
        .iter()
        .position(|b| matches!(b, b'\r' | b'\n'))
        .unwrap_or(rest.len());
    let header = &rest[..end];
    if header.contains(&b',') {
        b','
    } else if header.contains(&b';') {
        b';'
    } else if header.contains(&b'\t') {
        b'\t'
    } else {
        b','
    }
}

/// Turns the byte offset where the CSV reader started a record into the physical line where the
/// record starts: the reader's own offset is just after the previous record's terminator, so the
/// rest of a CRLF and any blank lines are skipped first. Offsets only grow, so counting is done
/// once over the input.
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    fn record_line(&mut self, reader_offset: u64) -> usize {
        let len = self.bytes.len();
        let mut start = usize::try_from(reader_offset)
            .unwrap_or(len)
            .clamp(self.offset, len);
        while start < len && matches!(self.bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        self.line += count_line_breaks(self.bytes, self.offset, start);
        self.offset = start;
        self.line
    }
}

/// How many rows to allocate for at once: an upper bound (lines, `{` bytes), but no more than a
/// real row per 64 bytes, so that a file of blank lines or braces cannot make us reserve much
/// more memory than its own size. Only an estimate: more rows just grow the vectors.
fn estimate_rows(upper_bound: usize, input_len: usize) -> usize {
    upper_bound.min(input_len / 64 + 1)
}

fn csv_error(e: &csv::Error) -> FileError {
    FileError::MalformedCsv {
        message: e.to_string(),
    }
}

/// Maps header positions to columns.
fn read_header(fields: &Fields<'_>, input: &[u8]) -> Result<Vec<usize>, FileError> {
    let mut by_position = Vec::with_capacity(fields.len());
    let mut seen = [false; COLUMNS.len()];
    for i in 0..fields.len() {
        let name = fields.get(i, input)?.trim();
        let Some(col) = COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(name)) else {
            return Err(FileError::UnknownColumn {
                name: name.to_owned(),
                position: i + 1,
            });
        };
        if seen[col] {
            return Err(FileError::DuplicateColumn { name: COLUMNS[col] });
        }
        seen[col] = true;
        by_position.push(col);
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(FileError::MissingColumn {
            name: COLUMNS[missing],
        });
    }
    Ok(by_position)
}

/// A record's fields as text, validated once for the whole record.
struct Fields<'r> {
    record: &'r csv::ByteRecord,
    text: &'r str,
}

impl<'r> Fields<'r> {
    /// On bad UTF-8, the error names the line of the first bad byte of the input: records are
    /// read in order and every byte outside them is a line end, so that byte is in this record.
    fn new(record: &'r csv::ByteRecord, input: &[u8]) -> Result<Self, FileError> {
        match std::str::from_utf8(record.as_slice()) {
            Ok(text) => Ok(Self { record, text }),
            Err(_) => Err(not_utf8(input)),
        }
    }

    fn len(&self) -> usize {
        self.record.len()
    }

    fn get(&self, i: usize, input: &[u8]) -> Result<&'r str, FileError> {
        // A field boundary inside a character means the bytes around a delimiter only looked
        // like UTF-8 once the delimiter was removed.
        self.record
            .range(i)
            .and_then(|range| self.text.get(range))
            .ok_or_else(|| not_utf8(input))
    }

    fn is_blank(&self) -> bool {
        (0..self.len()).all(|i| {
            self.record
                .range(i)
                .and_then(|range| self.text.get(range))
                .is_some_and(|f| f.trim().is_empty())
        })
    }
}

fn not_utf8(input: &[u8]) -> FileError {
    match check_utf8(input) {
        Err(e) => e,
        // Unreachable in practice: a record was not UTF-8, so the input is not.
        Ok(()) => FileError::MalformedCsv {
            message: "a record is not UTF-8 text".to_owned(),
        },
    }
}

fn csv_with_limits(input: &[u8], limits: Limits) -> Result<Parsed, FileError> {
    let input = strip_bom(input);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(detect_delimiter(input))
        .from_reader(input);
    let mut record = csv::ByteRecord::new();
    let mut lines = LineCounter::new(input);

    let header = loop {
        if !reader
            .read_byte_record(&mut record)
            .map_err(|e| csv_error(&e))?
        {
            return Err(FileError::Empty);
        }
        let fields = Fields::new(&record, input)?;
        if !fields.is_blank() {
            break read_header(&fields, input)?;
        }
    };
    // column -> position in the record
    let mut position_of = [0usize; COLUMNS.len()];
    for (position, &col) in header.iter().enumerate() {
        position_of[col] = position;
    }

    let line_ends = input.iter().filter(|&&b| b == b'\n').count();
    let mut builder = Builder::new(limits, "line", estimate_rows(line_ends + 1, input.len()));
    loop {
        let offset = reader.position().byte();
        if !reader
            .read_byte_record(&mut record)
            .map_err(|e| csv_error(&e))?
        {
            break;
        }
        let line = lines.record_line(offset);
        let fields = Fields::new(&record, input)?;
        if fields.is_blank() {
            continue;
        }
        builder.count_row()?;
        for position in 0..fields.len() {
            let column = header.get(position).map(|&c| COLUMNS[c]);
            builder.check_length(line, column, fields.get(position, input)?)?;
        }
        if fields.len() != header.len() {
            let username = if position_of[USERNAME] < fields.len() {
                Some(fields.get(position_of[USERNAME], input)?)
            } else {
                None
            };
            builder.field_count(line, header.len(), fields.len(), username);
            continue;
        }
        let mut values = [""; COLUMNS.len()];
        for (col, value) in values.iter_mut().enumerate() {
            *value = fields.get(position_of[col], input)?;
        }
        builder.row(line, &values);
    }
    Ok(builder.finish())
}

/// Accumulates rows and rejections; shared by both formats.
struct Builder {
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
    fn new(limits: Limits, place: &'static str, expected_rows: usize) -> Self {
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

    fn count_row(&mut self) -> Result<(), FileError> {
        self.total += 1;
        if self.total > self.limits.max_rows {
            return Err(FileError::TooManyRows {
                max: self.limits.max_rows,
            });
        }
        Ok(())
    }

    fn check_length(
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

    fn field_count(&mut self, line: usize, expected: usize, found: usize, username: Option<&str>) {
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
    fn row(&mut self, line: usize, fields: &[&str; COLUMNS.len()]) {
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

    fn finish(self) -> Parsed {
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
            self.folded.push_str(&nfc(username).to_lowercase());
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
fn parse_birth_date(s: &str) -> Result<NaiveDate, &'static str> {
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

// ---------------------------------------------------------------------------------------------
// JSON: streamed through serde so that rows are checked as they are read, without building a
// `serde_json::Value` of the whole document. A structured error is left in the state and the
// deserializer stopped with a placeholder error.

struct JsonState {
    builder: Builder,
    error: Option<FileError>,
}

impl JsonState {
    fn fail<E: de::Error>(&mut self, error: FileError) -> E {
        let e = E::custom(&error);
        self.error = Some(error);
        e
    }
}

fn json_with_limits(bytes: &[u8], limits: Limits) -> Result<Parsed, FileError> {
    let bytes = strip_bom(bytes);
    check_utf8(bytes)?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => return Err(FileError::Empty),
        Some(b'[') => {}
        Some(_) => {
            return Err(match serde_json::from_slice::<IgnoredAny>(bytes) {
                Ok(_) => FileError::NotAnArray,
                Err(e) => malformed_json(&e),
            })
        }
    }
    let mut state = JsonState {
        builder: Builder::new(
            limits,
            "element",
            estimate_rows(bytes.iter().filter(|&&b| b == b'{').count(), bytes.len()),
        ),
        error: None,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result = JsonRows(&mut state)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    match result {
        Ok(()) => Ok(state.builder.finish()),
        Err(e) => Err(state.error.take().unwrap_or_else(|| malformed_json(&e))),
    }
}

fn malformed_json(e: &serde_json::Error) -> FileError {
    FileError::MalformedJson {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    }
}

struct JsonRows<'s>(&'s mut JsonState);

impl<'de> DeserializeSeed<'de> for JsonRows<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for JsonRows<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            index += 1;
            let element = JsonRow {
                state: &mut *self.0,
                index,
            };
            if seq.next_element_seed(element)?.is_none() {
                return Ok(());
            }
        }
    }
}

struct JsonRow<'s> {
    state: &'s mut JsonState,
    index: usize,
}

impl JsonRow<'_> {
    fn not_an_object<E: de::Error>(self) -> Result<(), E> {
        Err(self
            .state
            .fail(FileError::NotAnObject { index: self.index }))
    }
}

impl<'de> DeserializeSeed<'de> for JsonRow<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonRow<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let index = self.index;
        let state = self.state;
        let mut cells: [Option<Cow<'de, str>>; COLUMNS.len()] = Default::default();
        let mut seen = [false; COLUMNS.len()];
        while let Some(key) = map.next_key::<JsonKey>()? {
            let col = match key {
                JsonKey::Column(col) => col,
                JsonKey::Unknown(key) => {
                    return Err(state.fail(FileError::UnknownKey { index, key }));
                }
            };
            if seen[col] {
                return Err(state.fail(FileError::DuplicateKey {
                    index,
                    key: COLUMNS[col],
                }));
            }
            seen[col] = true;
            match map.next_value::<JsonCell<'de>>()? {
                JsonCell::Text(text) => cells[col] = Some(text),
                JsonCell::Null => {}
                JsonCell::Other(found) => {
                    return Err(state.fail(FileError::NotAString {
                        index,
                        key: COLUMNS[col],
                        found,
                    }));
                }
            }
        }
        let fields: [&str; COLUMNS.len()] =
            std::array::from_fn(|i| cells[i].as_deref().unwrap_or(""));
        let builder = &mut state.builder;
        let checked = builder.count_row().and_then(|()| {
            fields
                .iter()
                .zip(COLUMNS)
                .try_for_each(|(value, column)| builder.check_length(index, Some(column), value))
        });
        if let Err(error) = checked {
            return Err(state.fail(error));
        }
        state.builder.row(index, &fields);
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.not_an_object()
    }
}

enum JsonKey {
    Column(usize),
    Unknown(String),
}

impl<'de> de::Deserialize<'de> for JsonKey {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = JsonKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<JsonKey, E> {
                let name = key.trim();
                Ok(
                    match COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(name)) {
                        Some(col) => JsonKey::Column(col),
                        None => JsonKey::Unknown(key.to_owned()),
                    },
                )
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

enum JsonCell<'de> {
    Text(Cow<'de, str>),
    Null,
    /// What was found instead ("a boolean", "an array", "an object").
    Other(&'static str),
}

impl<'de> de::Deserialize<'de> for JsonCell<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CellVisitor;
        impl<'de> Visitor<'de> for CellVisitor {
            type Value = JsonCell<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number or null")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonCell::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonCell::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonCell::Text(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(JsonCell::Text(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(JsonCell::Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // serde_json's own rendering keeps a float recognisable (`792030000000.0`), so
                // `7.9203E+11` stays an invalid personal ID number.
                let text = serde_json::Number::from_f64(v)
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                Ok(JsonCell::Text(Cow::Owned(text)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(JsonCell::Other("a boolean"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(JsonCell::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(JsonCell::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(JsonCell::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JsonCell::Other("an object"))
            }
        }
        deserializer.deserialize_any(CellVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const HEADER: &str =
        "username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email";

    fn csv(body: &str) -> Parsed {
        parse_csv(format!("{HEADER}\n{body}").as_bytes()).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn reasons(p: &Parsed) -> Vec<(usize, Option<&'static str>, &'static str)> {
        p.rejected
            .iter()
            .map(|r| (r.line, r.field, r.reason))
            .collect()
    }

    #[test]
    fn a_good_row_is_read_with_every_field() {
        let p = csv("nva, Nguyễn Văn A ,UB01,UBND phường 1,Staff,001085000123,15/03/1985, 0912345678 ,a@x.vn\n");
        assert_eq!(p.total_rows, 1);
        assert!(p.rejected.is_empty());
        let row = &p.rows[0];
        assert_eq!(row.line, 2);
        assert_eq!(row.username, "nva");
        assert_eq!(row.full_name, "Nguyễn Văn A");
        assert_eq!(row.unit_code, "UB01");
        assert_eq!(row.unit_name, "UBND phường 1");
        assert_eq!(row.kind, Kind::Staff);
        assert_eq!(row.personal_id.status(), "valid");
        assert_eq!(row.personal_id.raw(), Some("001085000123"));
        assert_eq!(row.birth_date, Some(date(1985, 3, 15)));
        assert_eq!(row.phone.as_deref(), Some("0912345678"));
        assert_eq!(row.email.as_deref(), Some("a@x.vn"));
    }

    #[test]
    fn line_numbers_are_physical_lines_after_blank_lines_and_multi_line_fields() {
        let body = "\r\n\r\na,\"A\r\nB\",U,,citizen,,,,\r\n\n   \n,,,,,,,,\r\nb,B,U,,citizen,,,,\r\n\"c\",\"C\n\n\",U,,citizen,,,,\nd,D,U,,citizen,,,,";
        let p = parse_csv(format!("{HEADER}\r\n{body}").as_bytes()).unwrap();
        let lines: Vec<usize> = p.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![4, 9, 10, 13]);
        assert_eq!(p.total_rows, 4);
        assert_eq!(p.rows[0].full_name, "A\r\nB");
    }

    #[test]
    fn a_lone_carriage_return_ends_a_line_too() {
        let p = parse_csv(format!("{HEADER}\ra,A,U,,staff,,,,\r\rb,B,U,,staff,,,,\r\nc,\"C\rC\",U,,staff,,,,\rd,D,U,,staff,,,,").as_bytes())
            .unwrap();
        let lines: Vec<usize> = p.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 4, 5, 7]);
    }

    #[test]
    fn a_header_after_blank_lines_keeps_physical_line_numbers() {
        let p = parse_csv(format!("\n\n{HEADER}\na,A,U,,staff,,,,\n").as_bytes()).unwrap();
        assert_eq!(p.rows[0].line, 4);
    }

    #[test]
    fn bom_is_stripped_and_header_is_case_insensitive_trimmed_and_in_any_order() {
        let text = "\u{feff} EMAIL ,Kind,username,Full_Name,unit_code,unit_name,personal_id,birth_date,phone\r\nx@y.vn,citizen,u1,Tên,U,,,,\r\n";
        let p = parse_csv(text.as_bytes()).unwrap();
        assert!(p.rejected.is_empty(), "{:?}", p.rejected);
        assert_eq!(p.rows[0].username, "u1");
        assert_eq!(p.rows[0].email.as_deref(), Some("x@y.vn"));
        assert_eq!(p.rows[0].kind, Kind::Citizen);
    }

    #[test]
    fn semicolon_files_from_a_vietnamese_excel_are_read() {
        let text = HEADER.replace(',', ";") + "\r\nu1;\"Nguyễn Văn A; Jr\";U;;staff;;;;\r\n";
        let p = parse_csv(text.as_bytes()).unwrap();
        assert_eq!(p.rows[0].full_name, "Nguyễn Văn A; Jr");
    }

    #[test]
    fn header_problems_are_file_errors_naming_the_column() {
        let missing = HEADER.replace(",email", "");
        assert_eq!(
            parse_csv(missing.as_bytes()),
            Err(FileError::MissingColumn { name: "email" })
        );
        let unknown = format!("{HEADER},Ghi chú");
        assert_eq!(
            parse_csv(unknown.as_bytes()),
            Err(FileError::UnknownColumn {
                name: "Ghi chú".into(),
                position: 10
            })
        );
        let twice = format!("{HEADER},Phone");
        assert_eq!(
            parse_csv(twice.as_bytes()),
            Err(FileError::DuplicateColumn { name: "phone" })
        );
        assert_eq!(parse_csv(b""), Err(FileError::Empty));
        assert_eq!(parse_csv(b"\xEF\xBB\xBF\r\n\r\n"), Err(FileError::Empty));
        let e = parse_csv(unknown.as_bytes()).unwrap_err();
        assert_eq!(e.code(), "unknown_column");
        assert!(e.to_string().contains("\"Ghi chú\""), "{e}");
    }

    #[test]
    fn a_header_alone_is_an_empty_list() {
        let p = parse_csv(HEADER.as_bytes()).unwrap();
        assert_eq!(p.total_rows, 0);
        assert!(p.rows.is_empty() && p.rejected.is_empty());
    }

    #[test]
    fn bytes_that_are_not_utf8_name_their_line() {
        let mut bytes = format!("{HEADER}\r\nu1,A,U,,staff,,,,\r\nu2,").into_bytes();
        bytes.extend_from_slice(b"Nguy\xEAn,U,,staff,,,,\r\n");
        assert_eq!(parse_csv(&bytes), Err(FileError::NotUtf8 { line: 3 }));
        assert_eq!(
            parse_csv(b"\xFF\xFEu\0"),
            Err(FileError::NotUtf8 { line: 1 })
        );
        // Halves of "é" on both sides of a delimiter: valid only once the comma is removed.
        let mut split = format!("{HEADER}\r\n\r\nu1,A").into_bytes();
        split.extend_from_slice(b"\xC3,\xA9U,,staff,,,,\r\n");
        assert_eq!(parse_csv(&split), Err(FileError::NotUtf8 { line: 3 }));
        assert_eq!(
            parse_json(b"[\n{\"username\": \"\xFF\"}]"),
            Err(FileError::NotUtf8 { line: 2 })
        );
    }

    #[test]
    fn every_row_problem_is_one_rejection_and_the_row_is_left_out() {
        let p = csv(concat!(
            "u1,A,U,,staff,,,,\n",
            ",,,,,,31/02/1990,,\n",
            "u2,B,U,,boss,,,,\n",
            "u3,C,U,,staff,,,,,\n",
        ));
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.total_rows, 4);
        assert_eq!(p.rejected_rows(), 3);
        assert_eq!(
            reasons(&p),
            vec![
                (3, Some("username"), "username_missing"),
                (3, Some("full_name"), "full_name_missing"),
                (3, Some("unit_code"), "unit_code_missing"),
                (3, Some("kind"), "kind_unknown"),
                (3, Some("birth_date"), "birth_date_invalid"),
                (4, Some("kind"), "kind_unknown"),
                (5, None, "field_count"),
            ]
        );
        assert_eq!(p.rejected[0].username, None);
        assert_eq!(p.rejected[5].username.as_deref(), Some("u2"));
        assert_eq!(
            p.rejected[5].message,
            "kind \"boss\" is not staff, citizen or organisation"
        );
        assert_eq!(p.rejected[6].username.as_deref(), Some("u3"));
        assert_eq!(
            p.rejected[6].message,
            "expected 9 fields as in the header, found 10 (a comma in an unquoted value?)"
        );
    }

    #[test]
    fn usernames_are_duplicates_regardless_of_case_and_the_later_row_is_rejected() {
        let p = csv(concat!(
            "Alice,A,U,,staff,,,,\n",
            "bob,B,U,,boss,,,,\n",
            "ALICE,A2,U,,staff,,,,\n",
            "Bob,B2,U,,staff,,,,\n",
            "alice,A3,U,,staff,,,,\n",
        ));
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].username, "Alice");
        assert_eq!(
            reasons(&p),
            vec![
                (3, Some("kind"), "kind_unknown"),
                (4, Some("username"), "username_duplicate"),
                (5, Some("username"), "username_duplicate"),
                (6, Some("username"), "username_duplicate"),
            ]
        );
        assert_eq!(
            p.rejected[1].message,
            "username \"ALICE\" is already used at line 2 (usernames are case-insensitive)"
        );
        assert!(p.rejected[2].message.contains("at line 3"));
        assert!(p.rejected[3].message.contains("at line 2"));
        assert_eq!(p.rejected[1].username.as_deref(), Some("ALICE"));
    }

    #[test]
    fn non_ascii_usernames_are_compared_case_insensitively_and_normalised() {
        let p = csv("Đức,A,U,,staff,,,,\nđu\u{31b}\u{301}c,B,U,,staff,,,,\n");
        assert_eq!(p.rows.len(), 1);
        assert_eq!(
            reasons(&p),
            vec![(3, Some("username"), "username_duplicate")]
        );
    }

    #[test]
    fn usernames_with_the_same_hash_are_told_apart() {
        let mut seen = Usernames::with_capacity(0);
        assert_eq!(seen.first_line("alice", 2), None);
        // Fake a collision: the table says mallory's hash belongs to alice.
        let alice = seen.by_hash[&seen.hasher.hash_one("alice")];
        let mallory = seen.hasher.hash_one("mallory");
        seen.by_hash.insert(mallory, alice);
        assert_eq!(seen.first_line("Mallory", 9), None);
        assert_eq!(seen.overflow.len(), 1);
        assert_eq!(seen.first_line("MALLORY", 10), Some(9));
        assert_eq!(seen.first_line("ALICE", 11), Some(2));
        assert_eq!(seen.first_line("bob", 12), None);
        assert_eq!(seen.first_line("Bob", 13), Some(12));
        assert_eq!(seen.folded, "alicemallorybob");
    }

    #[test]
    fn names_are_nfc_normalised_and_otherwise_kept() {
        // "Nguyễn  Thị" typed in NFD with two spaces inside.
        let nfd = "Nguye\u{302}\u{303}n  Thi\u{323}";
        let p = csv(&format!(
            "u1,{nfd},U, Phu\u{31b}o\u{31b}\u{300}ng 1 ,citizen,,,,\n"
        ));
        assert_eq!(p.rows[0].full_name, "Nguyễn  Thị");
        assert_eq!(p.rows[0].unit_name, "Phường 1");
        assert_ne!(p.rows[0].full_name, nfd);
    }

    #[test]
    fn birth_dates_in_iso_and_spreadsheet_forms() {
        assert_eq!(parse_birth_date("1990-05-01"), Ok(date(1990, 5, 1)));
        assert_eq!(parse_birth_date("1990-5-1"), Ok(date(1990, 5, 1)));
        assert_eq!(parse_birth_date("01/05/1990"), Ok(date(1990, 5, 1)));
        assert_eq!(parse_birth_date("1/5/1990"), Ok(date(1990, 5, 1)));
        assert_eq!(parse_birth_date("29/02/2000"), Ok(date(2000, 2, 29)));
        for bad in [
            "31/02/1990",
            "29/02/1990",
            "1990-13-01",
            "00/01/1990",
            "1/1/90",
            "1990/05/01",
            "01-05-1990",
            "19900501",
            "32994",
            "01/05/1990 00:00",
            "+1990-05-01",
            "1990-05-01-",
            "١٩٩٠-05-01",
            "",
            "//",
        ] {
            assert!(parse_birth_date(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_birth_date("31/02/1990"),
            Err("birth_date is not a real date (day or month out of range)")
        );
    }

    #[test]
    fn personal_id_numbers_are_checked_never_rejected() {
        let check = PersonalIdCheck::check;
        let b1990 = Some(date(1990, 6, 1));
        assert_eq!(check("  ", None), PersonalIdCheck::Missing);
        assert_eq!(check("052090012345", b1990).status(), "valid");
        assert_eq!(check(" 052090012345 ", None).raw(), Some("052090012345"));
        let cases = [
            ("52090012345", None, "format"),
            ("0520900123456", None, "format"),
            ("7.9203E+11", None, "format"),
            ("792030000000.0", None, "format"),
            ("05209001234X", None, "format"),
            ("０５２０９００１２３４５", None, "format"),
            ("05209001234.5", None, "format"),
            ("052 090 012 34 5", None, "format"),
            ("052  090012345", None, "format"),
            ("052 090.012.345", None, "format"),
            ("003090012345", None, "unknown_province"),
            ("792031234567", None, "unknown_province"),
            ("052490012345", None, "century"),
            ("052990012345", None, "century"),
            (
                "052090012345",
                Some(date(1991, 1, 1)),
                "birth_year_mismatch",
            ),
            ("052290012345", b1990, "birth_year_mismatch"),
        ];
        for (raw, birth, problem) in cases {
            let c = check(raw, birth);
            assert_eq!(c.status(), "invalid", "{raw}");
            assert_eq!(c.problem(), Some(problem), "{raw}");
            assert_eq!(c.raw(), Some(raw), "{raw}");
        }
        for spaced in [
            "052 090 012 345",
            "052.090.012.345",
            "052090 012345",
            "0520\u{a0}9001\u{a0}2345",
        ] {
            let c = check(spaced, b1990);
            assert_eq!(c.status(), "valid", "{spaced}");
            assert_eq!(c.raw(), Some("052090012345"));
        }
    }

    #[test]
    fn debug_and_serialize_never_show_personal_data_in_clear() {
        let p = csv(concat!(
            "u1,Nguyễn Văn A,U,,citizen,052090012345,1990-05-01,0912345678,a@x.vn\n",
            "u2,B,U,,citizen,05209001234X,,,\n",
        ));
        let debug = format!("{:?}", p.rows);
        for secret in [
            "052090012345",
            "0912345678",
            "a@x.vn",
            "1990",
            "05209001234X",
        ] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(debug.contains("052*******45"), "{debug}");
        assert!(debug.contains("Some([redacted])"), "{debug}");
        let json = serde_json::to_value(&p.rows).unwrap();
        assert_eq!(
            json[0]["personal_id"],
            serde_json::json!({"status": "valid", "problem": null, "masked": "052*******45"})
        );
        assert_eq!(
            json[1]["personal_id"],
            serde_json::json!({"status": "invalid", "problem": "format", "masked": "052*******4X"})
        );
        assert_eq!(json[0]["kind"], "citizen");
        assert_eq!(json[0]["birth_date"], "1990-05-01");
        assert!(!json.to_string().contains("052090012345"));
    }

    #[test]
    fn limits_refuse_the_whole_file() {
        let body = "u1,A,U,,staff,,,,\nu2,B,U,,staff,,,,\n\nu3,C,U,,staff,,,,\n";
        let text = format!("{HEADER}\n{body}");
        let two = Limits {
            max_rows: 2,
            max_field_chars: 10,
        };
        assert_eq!(
            parse_with_limits(text.as_bytes(), Format::Csv, two),
            Err(FileError::TooManyRows { max: 2 })
        );
        let three = Limits { max_rows: 3, ..two };
        assert_eq!(
            parse_with_limits(text.as_bytes(), Format::Csv, three)
                .unwrap()
                .total_rows,
            3
        );
        // Ten characters (thirty bytes) is fine, eleven is not.
        let long = format!("{HEADER}\nu1,ỄỄỄỄỄỄỄỄỄỄ,U,,staff,,,,\nu2,\"B\n,,,,staff,,,,\n");
        assert_eq!(
            parse_with_limits(long.as_bytes(), Format::Csv, two),
            Err(FileError::FieldTooLong {
                line: 3,
                column: Some("full_name"),
                max: 10
            })
        );
        let json = r#"[{"username": "u1", "email": "abcdefghijk"}]"#;
        assert_eq!(
            parse_with_limits(json.as_bytes(), Format::Json, two),
            Err(FileError::FieldTooLong {
                line: 1,
                column: Some("email"),
                max: 10
            })
        );
        let json = r#"[{"username": "u1"}, {}, {}]"#;
        assert_eq!(
            parse_with_limits(json.as_bytes(), Format::Json, two),
            Err(FileError::TooManyRows { max: 2 })
        );
    }

    #[test]
    fn the_default_field_limit_is_a_thousand_characters() {
        let ok = format!("{HEADER}\nu1,{},U,,staff,,,,\n", "ạ".repeat(1000));
        assert_eq!(parse_csv(ok.as_bytes()).unwrap().rows.len(), 1);
        let long = format!("{HEADER}\nu1,A,U,,staff,,,,{}\n", "a".repeat(1001));
        assert_eq!(
            parse_csv(long.as_bytes()),
            Err(FileError::FieldTooLong {
                line: 2,
                column: Some("email"),
                max: 1000
            })
        );
        let extra = format!("{HEADER}\nu1,A,U,,staff,,,,,{}\n", "a".repeat(1001));
        assert_eq!(
            parse_csv(extra.as_bytes()),
            Err(FileError::FieldTooLong {
                line: 2,
                column: None,
                max: 1000
            })
        );
    }

    #[test]
    fn json_rows_follow_the_same_rules_with_positions_as_lines() {
        let text = r#"[
            {"username": "u1", "full_name": "Nguye\u0302\u0303n Văn A", "unit_code": "U", "kind": "STAFF",
             "personal_id": "001085000123", "birth_date": "15/03/1985", "phone": 912345678, "email": null},
            {"username": "U1", "full_name": "B", "unit_code": "U", "kind": "citizen"},
            {"Username ": "u2", "full_name": "C", "unit_code": "U", "kind": "citizen", "personal_id": 52090012345},
            {"username": "u3", "full_name": "D", "unit_code": "U", "kind": "citizen", "personal_id": 7.9203E+11},
            {}
        ]"#;
        let p = parse_json(text.as_bytes()).unwrap();
        assert_eq!(p.total_rows, 5);
        assert_eq!(p.rows.len(), 3);
        let r = &p.rows[0];
        assert_eq!((r.line, r.full_name.as_str()), (1, "Nguyễn Văn A"));
        assert_eq!(r.phone.as_deref(), Some("912345678"));
        assert_eq!(r.email, None);
        assert_eq!(r.personal_id.status(), "valid");
        assert_eq!(p.rows[1].personal_id.problem(), Some("format"));
        assert_eq!(p.rows[1].personal_id.raw(), Some("52090012345"));
        assert_eq!(p.rows[2].personal_id.problem(), Some("format"));
        assert_eq!(
            reasons(&p),
            vec![
                (2, Some("username"), "username_duplicate"),
                (5, Some("username"), "username_missing"),
                (5, Some("full_name"), "full_name_missing"),
                (5, Some("unit_code"), "unit_code_missing"),
                (5, Some("kind"), "kind_unknown"),
            ]
        );
        assert!(p.rejected[0].message.contains("at element 1"));
    }

    #[test]
    fn json_shape_problems_are_file_errors_naming_element_and_key() {
        let err = |s: &str| parse_json(s.as_bytes()).unwrap_err();
        assert_eq!(err(""), FileError::Empty);
        assert_eq!(err("  \n "), FileError::Empty);
        assert_eq!(err(r#"{"username": "u1"}"#), FileError::NotAnArray);
        assert_eq!(err("42"), FileError::NotAnArray);
        assert_eq!(
            err(r#"[{"username": "u1"}, "u2"]"#),
            FileError::NotAnObject { index: 2 }
        );
        assert_eq!(err("[null]"), FileError::NotAnObject { index: 1 });
        assert_eq!(err("[[]]"), FileError::NotAnObject { index: 1 });
        assert_eq!(
            err(r#"[{"username": "u1", "kind": true}]"#),
            FileError::NotAString {
                index: 1,
                key: "kind",
                found: "a boolean"
            }
        );
        assert_eq!(
            err(r#"[{}, {"phone": ["1", "2"]}]"#),
            FileError::NotAString {
                index: 2,
                key: "phone",
                found: "an array"
            }
        );
        assert_eq!(
            err(r#"[{"email": {"work": "a@b"}}]"#),
            FileError::NotAString {
                index: 1,
                key: "email",
                found: "an object"
            }
        );
        assert_eq!(
            err(r#"[{"id": 7}]"#),
            FileError::UnknownKey {
                index: 1,
                key: "id".into()
            }
        );
        assert_eq!(
            err(r#"[{"phone": "1", "PHONE": null}]"#),
            FileError::DuplicateKey {
                index: 1,
                key: "phone"
            }
        );
        match err("[{\"username\": \"u1\"},\n {\"username\" \"u2\"}]") {
            FileError::MalformedJson { line, column, .. } => assert_eq!((line, column), (2, 14)),
            other => panic!("{other:?}"),
        }
        assert_eq!(err("[] []").code(), "malformed_json");
        assert_eq!(err("[").code(), "malformed_json");
        assert_eq!(err("{").code(), "malformed_json");
        let deep = "[".repeat(10_000);
        assert!(parse_json(deep.as_bytes()).is_err());
    }

    #[test]
    fn json_with_a_bom_and_an_empty_array() {
        let p = parse_json(b"\xEF\xBB\xBF[]").unwrap();
        assert_eq!(p.total_rows, 0);
    }

    #[test]
    fn formats_from_content_type_and_file_name() {
        assert_eq!(
            Format::from_content_type("text/csv; charset=utf-8"),
            Some(Format::Csv)
        );
        assert_eq!(
            Format::from_content_type("Application/CSV"),
            Some(Format::Csv)
        );
        assert_eq!(
            Format::from_content_type("application/json"),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_content_type("application/vnd.api+json"),
            Some(Format::Json)
        );
        assert_eq!(Format::from_content_type("application/vnd.ms-excel"), None);
        assert_eq!(Format::from_content_type("text/plain"), None);
        assert_eq!(Format::from_content_type("+json"), None);
        assert_eq!(Format::from_content_type("ứng dụng/json"), None);
        assert_eq!(Format::from_file_name("accounts.CSV"), Some(Format::Csv));
        assert_eq!(Format::from_file_name("/tmp/x.y.json"), Some(Format::Json));
        assert_eq!(Format::from_file_name("csv"), Some(Format::Csv));
        assert_eq!(Format::from_file_name(".json"), Some(Format::Json));
        assert_eq!(Format::from_file_name("accounts.xlsx"), None);
        assert_eq!(Format::Csv.to_string(), "csv");
    }

    #[test]
    fn kinds_are_case_insensitive() {
        assert_eq!(Kind::parse(" Organisation "), Some(Kind::Organisation));
        assert_eq!(Kind::parse("CITIZEN"), Some(Kind::Citizen));
        assert_eq!(Kind::parse("organization"), None);
        assert_eq!(Kind::parse(""), None);
        assert_eq!(Kind::Staff.as_str(), "staff");
    }
}
