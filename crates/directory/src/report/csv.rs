//! The readiness report as CSV for a spreadsheet, with values that could run as formulas
//! defused.

use std::fmt::Write as _;

use super::{Counts, ReadinessReport};

/// The CSV header of [`readiness_csv`].
pub const READINESS_CSV_HEADER: &str = "unit_code,unit_name,accounts,staff,\
staff_valid_personal_id,staff_missing_personal_id,staff_invalid_personal_id,\
staff_duplicate_personal_id,staff_linked,staff_inactive,not_ready";

/// The readiness report as CSV for a spreadsheet: one line per unit and a last line `TOTAL`,
/// with a UTF-8 byte-order mark so that spreadsheet programs read Vietnamese names right.
/// `not_ready` lists the usernames, separated by spaces.
pub fn readiness_csv(report: &ReadinessReport) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(READINESS_CSV_HEADER);
    out.push_str("\r\n");
    let line = |out: &mut String, code: &str, name: &str, c: &Counts, not_ready: &str| {
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}\r\n",
            csv_field(code),
            csv_field(name),
            c.accounts,
            c.staff,
            c.staff_valid_personal_id,
            c.staff_missing_personal_id,
            c.staff_invalid_personal_id,
            c.staff_duplicate_personal_id,
            c.staff_linked,
            c.staff_inactive,
            csv_field(not_ready),
        );
    };
    for u in &report.units {
        let names: Vec<&str> = u.not_ready.iter().map(|n| n.username.as_str()).collect();
        line(
            &mut out,
            &u.unit_code,
            &u.unit_name,
            &u.counts,
            &names.join(" "),
        );
    }
    line(&mut out, "TOTAL", "", &report.totals, "");
    out
}

/// A CSV field, quoted when it must be; a leading `=`, `+`, `-` or `@` is prefixed with `'` so
/// that a spreadsheet does not run it as a formula.
pub(super) fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}
