//! CSV: the header, the delimiter (`,`, `;` or a tab), RFC 4180 quoting through the `csv`
//! crate, and the physical line on which each record starts. See the [module
//! documentation](super) for the rules.

use super::input::{check_utf8, count_line_breaks, estimate_rows, strip_bom};
use super::row::Builder;
use super::{FileError, Limits, Parsed, COLUMNS, USERNAME};

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

/// Reads a CSV export within `limits`: every non-blank record after the header becomes a row
/// or rejections, each with the physical line where it starts.
pub(super) fn read(input: &[u8], limits: Limits) -> Result<Parsed, FileError> {
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
