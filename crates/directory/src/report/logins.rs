//! Login statistics for VNeID reporting: logins per Vietnam day by account system, level and
//! outcome, and the totals of the period.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use vneid_store::LoginStats;

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
