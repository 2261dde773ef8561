//! The bytes of an upload before either format reads them: the byte-order mark, the UTF-8
//! check, physical line breaks, and how many rows to allocate for.

use super::FileError;

/// `bytes` without a leading UTF-8 byte-order mark (at most one is removed).
pub(super) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Line breaks in `bytes[from..to]`: LF, CRLF, and a lone CR (old Mac files), which the CSV
/// reader also takes for a record end.
pub(super) fn count_line_breaks(bytes: &[u8], from: usize, to: usize) -> usize {
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
pub(super) fn check_utf8(bytes: &[u8]) -> Result<(), FileError> {
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(()),
        Err(e) => Err(FileError::NotUtf8 {
            line: 1 + count_line_breaks(bytes, 0, e.valid_up_to()),
        }),
    }
}

/// How many rows to allocate for at once: an upper bound (lines, `{` bytes), but no more than a
/// real row per 64 bytes, so that a file of blank lines or braces cannot make us reserve much
/// more memory than its own size. Only an estimate: more rows just grow the vectors.
pub(super) fn estimate_rows(upper_bound: usize, input_len: usize) -> usize {
    upper_bound.min(input_len / 64 + 1)
}
