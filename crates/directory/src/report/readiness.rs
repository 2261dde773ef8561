//! The readiness of staff accounts, unit by unit: who can log in through VNeID, and who cannot
//! yet, and why.

use chrono::{DateTime, Utc};
use serde::Serialize;
use vneid_store::ReadinessRow;
use vneid_tokens::MasterKey;

use crate::link::account_reachable;

/// Counts of one unit, or of all units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Every active account of the unit (staff, citizens, organisations).
    pub accounts: u64,
    /// Active staff accounts: the figures below count these.
    pub staff: u64,
    /// Staff whose number is valid and held by no other account.
    pub staff_valid_personal_id: u64,
    pub staff_missing_personal_id: u64,
    pub staff_invalid_personal_id: u64,
    pub staff_duplicate_personal_id: u64,
    /// Staff linked to a VNeID level-2 identity.
    pub staff_linked: u64,
    /// Staff accounts a sync import of the unit no longer listed (inactive), counted apart.
    pub staff_inactive: u64,
}

impl Counts {
    /// Adds `other`'s counts to these, field by field.
    pub(super) fn add(&mut self, other: &Counts) {
        self.accounts += other.accounts;
        self.staff += other.staff;
        self.staff_valid_personal_id += other.staff_valid_personal_id;
        self.staff_missing_personal_id += other.staff_missing_personal_id;
        self.staff_invalid_personal_id += other.staff_invalid_personal_id;
        self.staff_duplicate_personal_id += other.staff_duplicate_personal_id;
        self.staff_linked += other.staff_linked;
        self.staff_inactive += other.staff_inactive;
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
/// through a VNeID (`vneid_login_idp`) level-2 login or by an admin to such a person: staff
/// whose link passes [`account_reachable`].
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
        if row.status != vneid_store::ACCOUNT_ACTIVE {
            if row.kind == "staff" {
                unit.counts.staff_inactive += 1;
            }
            continue;
        }
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
        if row.linked_level.is_some_and(|level| {
            account_reachable(
                &row.kind,
                level,
                row.linked_login_idp.as_deref(),
                vneid_login_idp,
            )
        }) {
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
                .open_personal_id(sealed)
                .ok()
                .or_else(|| row.personal_id_masked.clone())
        }
    }
}
