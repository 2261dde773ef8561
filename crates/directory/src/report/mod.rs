//! Reports for the IT centre and the province: readiness of staff accounts unit by unit, and
//! login statistics for VNeID reporting.
//!
//! - [`readiness()`]: the readiness report ([`ReadinessReport`]) from the store's rows.
//! - [`readiness_csv`]: that report as CSV for a spreadsheet, formulas defused.
//! - [`logins()`]: the login statistics ([`LoginReport`]) of a period, by Vietnam's days.

mod csv;
mod logins;
mod readiness;

pub use self::csv::{readiness_csv, READINESS_CSV_HEADER};
pub use logins::{logins, LoginDay, LoginGroup, LoginReport, LoginTotals};
pub use readiness::{readiness, Counts, Disclosure, NotReady, ReadinessReport, UnitReadiness};
pub use vneid_core::vietnam::day_bounds;

#[cfg(test)]
mod tests;
