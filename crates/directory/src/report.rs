//! Reports for the IT centre and the province: readiness of staff accounts unit by unit, and
//! login statistics for VNeID reporting.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use vneid_store::{LoginStats, ReadinessRow};
use vneid_tokens::MasterKey;

use crate::import::PERSONAL_ID_AAD;

/// Counts of one unit, or of all units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Every account of the unit (staff, citizens, organisations).
    pub accounts: u64,
    pub staff: u64,
    /// Staff whose number is valid and held by no other account.
    pub staff_valid_personal_id: u64,
    pub staff_missing_personal_id: u64,
    pub staff_invalid_personal_id: u64,
    pub staff_duplicate_personal_id: u64,
    /// Staff linked to a VNeID level-2 identity.
    pub staff_linked: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.accounts += other.accounts;
        self.staff += other.staff;
        self.staff_valid_personal_id += other.staff_valid_personal_id;
        self.staff_missing_personal_id += other.staff_missing_personal_id;
        self.staff_invalid_personal_id += other.staff_invalid_personal_id;
        self.staff_duplicate_personal_id += other.staff_duplicate_personal_id;
        self.staff_linked += other.staff_linked;
    }
}

/// A staff account that cannot be reached through VNeID yet, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotReady {
    pub username: String,
    pub full_name: String,
    /// `personal_id_missing`, `personal_id_invalid` or `personal_id_duplicate`.
    pub reason: &'static str,
    /// What is wrong with an invalid number (`format`, `unknown_province`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The number on file: masked, or in clear for a caller holding `admin:pii`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personal_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitReadiness {
    pub unit_code: String,
    pub unit_name: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub not_ready: Vec<NotReady>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadinessReport {
    pub generated_at: DateTime<Utc>,
    pub units: Vec<UnitReadiness>,
    pub totals: Counts,
}

/// How personal ID numbers appear in a report.
pub enum Disclosure<'a> {
    Masked,
    /// In clear, opened with the master key (callers holding `admin:pii`).
    Clear(&'a MasterKey),
}

/// The readiness report from the store's rows (ordered by unit, then username). A staff
/// account is ready when its number is valid and unique; `staff_linked` counts staff linked
/// through a VNeID (`vneid_login_idp`) level-2 login or by an admin to such a person.
pub fn readiness(
    rows: &[ReadinessRow],
    vneid_login_idp: &str,
    disclosure: &Disclosure<'_>,
    generated_at: DateTime<Utc>,
) -> ReadinessReport {
    let mut units: Vec<UnitReadiness> = Vec::new();
    let mut totals = Counts::default();
    for row in rows {
        if units.last().map(|u| u.unit_code.as_str()) != Some(row.unit_code.as_str()) {
            units.push(UnitReadiness {
                unit_code: row.unit_code.clone(),
                unit_name: row.unit_name.clone(),
                counts: Counts::default(),
                not_ready: Vec::new(),
            });
        }
        let Some(unit) = units.last_mut() else {
            continue;
        };
        unit.counts.accounts += 1;
        if row.kind != "staff" {
            continue;
        }
        unit.counts.staff += 1;
        let reason = match row.personal_id_status.as_str() {
            "valid" => {
                unit.counts.staff_valid_personal_id += 1;
                None
            }
            "missing" => {
                unit.counts.staff_missing_personal_id += 1;
                Some("personal_id_missing")
            }
            "duplicate" => {
                unit.counts.staff_duplicate_personal_id += 1;
                Some("personal_id_duplicate")
            }
            _ => {
                unit.counts.staff_invalid_personal_id += 1;
                Some("personal_id_invalid")
            }
        };
        if row.linked_level.is_some_and(|l| l >= 2)
            && row.linked_login_idp.as_deref() == Some(vneid_login_idp)
        {
            unit.counts.staff_linked += 1;
        }
        if let Some(reason) = reason {
            unit.not_ready.push(NotReady {
                username: row.username.clone(),
                full_name: row.full_name.clone(),
                reason,
                problem: row.personal_id_problem.clone(),
                personal_id: shown_number(row, disclosure),
            });
        }
    }
    for u in &units {
        totals.add(&u.counts);
    }
    ReadinessReport {
        generated_at,
        units,
        totals,
    }
}

fn shown_number(row: &ReadinessRow, disclosure: &Disclosure<'_>) -> Option<String> {
    match disclosure {
        Disclosure::Masked => row.personal_id_masked.clone(),
        Disclosure::Clear(master) => {
            let sealed = row.personal_id_sealed.as_ref()?;
            master
                .open(sealed, PERSONAL_ID_AAD)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .or_else(|| row.personal_id_masked.clone())
        }
    }
}

/// The CSV header of [`readiness_csv`].
pub const READINESS_CSV_HEADER: &str = "unit_code,unit_name,accounts,staff,\
staff_valid_personal_id,staff_missing_personal_id,staff_invalid_personal_id,\
staff_duplicate_personal_id,staff_linked,not_ready";

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
            "{},{},{},{},{},{},{},{},{},{}\r\n",
            csv_field(code),
            csv_field(name),
            c.accounts,
            c.staff,
            c.staff_valid_personal_id,
            c.staff_missing_personal_id,
            c.staff_invalid_personal_id,
            c.staff_duplicate_personal_id,
            c.staff_linked,
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
fn csv_field(s: &str) -> String {
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

/// Logins of one day by account system, level and outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginGroup {
    pub login_idp: Option<String>,
    pub level: Option<u8>,
    pub outcome: String,
    pub logins: u64,
    pub people: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginDay {
    pub date: NaiveDate,
    pub logins: u64,
    pub successful_logins: u64,
    /// Distinct people who logged in successfully that day.
    pub people: u64,
    pub groups: Vec<LoginGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoginTotals {
    pub logins: u64,
    pub successful_logins: u64,
    /// Successful logins through VNeID (`policy.vneid_login_idp`).
    pub vneid_logins: u64,
    /// `vneid_logins / successful_logins`, 0 when there were none.
    pub vneid_share: f64,
    pub refused_logins: u64,
    /// Distinct people who logged in successfully in the period.
    pub people: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoginReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The days are Vietnam's calendar days.
    pub utc_offset: &'static str,
    pub days: Vec<LoginDay>,
    pub totals: LoginTotals,
}

/// Vietnam's offset from UTC, in seconds.
pub const VIETNAM_UTC_OFFSET_SECS: i64 = 7 * 3600;

/// The instants bounding Vietnam's calendar days `from..=to`.
pub fn day_bounds(from: NaiveDate, to: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
        - Duration::seconds(VIETNAM_UTC_OFFSET_SECS);
    let end = to.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() + Duration::days(1)
        - Duration::seconds(VIETNAM_UTC_OFFSET_SECS);
    (start, end)
}

/// The login report from the store's statistics for `from..=to`.
pub fn logins(
    stats: &LoginStats,
    from: NaiveDate,
    to: NaiveDate,
    vneid_login_idp: &str,
) -> LoginReport {
    let mut days: BTreeMap<NaiveDate, LoginDay> = BTreeMap::new();
    let mut totals = LoginTotals {
        logins: 0,
        successful_logins: 0,
        vneid_logins: 0,
        vneid_share: 0.0,
        refused_logins: 0,
        people: stats.people_total,
    };
    for r in &stats.rows {
        let day = days.entry(r.day).or_insert_with(|| LoginDay {
            date: r.day,
            logins: 0,
            successful_logins: 0,
            people: 0,
            groups: Vec::new(),
        });
        day.logins += r.logins;
        totals.logins += r.logins;
        if r.outcome == "success" {
            day.successful_logins += r.logins;
            totals.successful_logins += r.logins;
            if r.login_idp.as_deref() == Some(vneid_login_idp) {
                totals.vneid_logins += r.logins;
            }
        } else if r.outcome == "refused" {
            totals.refused_logins += r.logins;
        }
        day.groups.push(LoginGroup {
            login_idp: r.login_idp.clone(),
            level: r.level,
            outcome: r.outcome.clone(),
            logins: r.logins,
            people: r.people,
        });
    }
    for (date, people) in &stats.people_per_day {
        if let Some(d) = days.get_mut(date) {
            d.people = *people;
        }
    }
    if totals.successful_logins > 0 {
        totals.vneid_share = totals.vneid_logins as f64 / totals.successful_logins as f64;
    }
    LoginReport {
        from,
        to,
        utc_offset: "+07:00",
        days: days.into_values().collect(),
        totals,
    }
}
