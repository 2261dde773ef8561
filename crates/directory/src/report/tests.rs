#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use vneid_store::{LoginStatRow, LoginStats, ReadinessRow};
use vneid_tokens::MasterKey;

use super::csv::csv_field;
use super::*;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 7, 1, 3, 0, 0).unwrap()
}

/// A row of the store as `readiness_rows` returns it.
fn row(unit: (&str, &str), username: &str, kind: &str, status: &str) -> ReadinessRow {
    ReadinessRow {
        username: username.into(),
        full_name: format!("Họ tên {username}"),
        unit_code: unit.0.into(),
        unit_name: unit.1.into(),
        kind: kind.into(),
        status: "active".into(),
        personal_id_status: status.into(),
        personal_id_problem: None,
        personal_id_masked: None,
        personal_id_sealed: None,
        linked_level: None,
        linked_login_idp: None,
    }
}

fn linked(mut r: ReadinessRow, level: u8, login_idp: &str) -> ReadinessRow {
    r.linked_level = Some(level);
    r.linked_login_idp = Some(login_idp.into());
    r
}

fn numbered(mut r: ReadinessRow, masked: &str, problem: Option<&str>) -> ReadinessRow {
    r.personal_id_masked = Some(masked.into());
    r.personal_id_problem = problem.map(str::to_owned);
    r
}

const P01: (&str, &str) = ("UBND-P01", "UBND phường Hải Châu 1");
const P02: (&str, &str) = ("UBND-P02", "UBND phường Thạch Thang");
const DAN: (&str, &str) = ("CONGDAN", "Công dân");

/// Three units, ordered by unit then username as the store returns them.
fn fixture() -> Vec<ReadinessRow> {
    vec![
        // Citizens: accounts, never staff, whatever their number or link.
        linked(row(DAN, "an.nv", "citizen", "valid"), 2, "BCA"),
        row(DAN, "khach", "citizen", "missing"),
        // P01: valid and linked through VNeID level 2 (counts), valid and linked at level 1
        // (does not), an organisation, a missing number.
        linked(row(P01, "cuong.lv", "staff", "valid"), 2, "BCA"),
        linked(row(P01, "duc.lv", "staff", "valid"), 1, "BCA"),
        row(P01, "htx.hai.chau", "organisation", "missing"),
        row(P01, "thieu.so", "staff", "missing"),
        // P02: duplicate, invalid, level 2 through Vietnam Post (not counted), valid unlinked.
        numbered(
            row(P02, "binh.tt2", "staff", "duplicate"),
            "052*******67",
            None,
        ),
        linked(row(P02, "dung.pt", "staff", "valid"), 2, "VNPOST"),
        numbered(
            row(P02, "sai.so", "staff", "invalid"),
            "052******89",
            Some("format"),
        ),
        numbered(
            row(P02, "xa.tinh", "staff", "invalid"),
            "003*******89",
            Some("unknown_province"),
        ),
        row(P02, "yen.ht", "staff", "valid"),
    ]
}

fn counts(c: [u64; 7]) -> Counts {
    Counts {
        accounts: c[0],
        staff: c[1],
        staff_valid_personal_id: c[2],
        staff_missing_personal_id: c[3],
        staff_invalid_personal_id: c[4],
        staff_duplicate_personal_id: c[5],
        staff_linked: c[6],
        staff_inactive: 0,
    }
}

#[test]
fn readiness_counts_every_status_per_unit_and_only_vneid_level_2_links() {
    let r = readiness(&fixture(), "BCA", &Disclosure::Masked, at());
    assert_eq!(r.generated_at, at());
    let units: Vec<(&str, &str, Counts)> = r
        .units
        .iter()
        .map(|u| (u.unit_code.as_str(), u.unit_name.as_str(), u.counts))
        .collect();
    assert_eq!(
        units,
        [
            ("CONGDAN", "Công dân", counts([2, 0, 0, 0, 0, 0, 0])),
            (
                "UBND-P01",
                "UBND phường Hải Châu 1",
                counts([4, 3, 2, 1, 0, 0, 1])
            ),
            (
                "UBND-P02",
                "UBND phường Thạch Thang",
                counts([5, 5, 2, 0, 2, 1, 0])
            ),
        ]
    );
    assert_eq!(r.totals, counts([11, 8, 4, 1, 2, 1, 1]));
    // The totals are the sum of the units.
    let mut sum = Counts::default();
    for u in &r.units {
        sum.add(&u.counts);
    }
    assert_eq!(sum, r.totals);
}

/// A not-ready entry: username, reason, problem, number shown.
type Shown<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>);

#[test]
fn not_ready_lists_staff_with_unusable_numbers_in_row_order_with_reason_and_problem() {
    let r = readiness(&fixture(), "BCA", &Disclosure::Masked, at());
    let not_ready: Vec<Vec<Shown<'_>>> = r
        .units
        .iter()
        .map(|u| {
            u.not_ready
                .iter()
                .map(|n| {
                    (
                        n.username.as_str(),
                        n.reason,
                        n.problem.as_deref(),
                        n.personal_id.as_deref(),
                    )
                })
                .collect()
        })
        .collect();
    assert_eq!(
        not_ready,
        [
            // Citizens are never "not ready", even without a number.
            vec![],
            // The organisation without a number is not staff either.
            vec![("thieu.so", "personal_id_missing", None, None)],
            vec![
                (
                    "binh.tt2",
                    "personal_id_duplicate",
                    None,
                    Some("052*******67")
                ),
                (
                    "sai.so",
                    "personal_id_invalid",
                    Some("format"),
                    Some("052******89")
                ),
                (
                    "xa.tinh",
                    "personal_id_invalid",
                    Some("unknown_province"),
                    Some("003*******89")
                ),
            ],
        ]
    );
    assert_eq!(r.units[1].not_ready[0].full_name, "Họ tên thieu.so");
}

#[test]
fn staff_linked_follows_the_configured_vneid_login_idp() {
    // With "VNPOST" as the VNeID system (a realm configured so), the level-2 VNPOST link
    // counts and the BCA ones do not.
    let r = readiness(&fixture(), "VNPOST", &Disclosure::Masked, at());
    assert_eq!(r.units[1].counts.staff_linked, 0);
    assert_eq!(r.units[2].counts.staff_linked, 1);
    assert_eq!(r.totals.staff_linked, 1);
}

#[test]
fn an_empty_directory_gives_no_units_and_zero_totals() {
    let r = readiness(&[], "BCA", &Disclosure::Masked, at());
    assert!(r.units.is_empty());
    assert_eq!(r.totals, Counts::default());
    assert_eq!(
        readiness_csv(&r),
        format!("\u{feff}{READINESS_CSV_HEADER}\r\nTOTAL,,0,0,0,0,0,0,0,0,\r\n")
    );
}

#[test]
fn numbers_are_masked_unless_disclosed_in_clear_with_the_master_key() {
    let master = MasterKey::generate().unwrap();
    let mut sealed = numbered(
        row(P02, "sai.so", "staff", "invalid"),
        "052******89",
        Some("format"),
    );
    sealed.personal_id_sealed = Some(master.seal_personal_id("05208500789").unwrap());
    // Sealed under another key: cannot be opened, so the masked form is shown.
    let mut foreign = numbered(
        row(P02, "ngoai.lai", "staff", "duplicate"),
        "052*******67",
        None,
    );
    foreign.personal_id_sealed = Some(
        MasterKey::generate()
            .unwrap()
            .seal_personal_id("052195004567")
            .unwrap(),
    );
    // Sealed with another associated data: not a personal ID number's seal.
    let mut other_aad = numbered(
        row(P02, "sai.aad", "staff", "invalid"),
        "052******11",
        Some("format"),
    );
    other_aad.personal_id_sealed = Some(master.seal(b"05208500711", b"other").unwrap());
    let missing = row(P02, "thieu.so", "staff", "missing");
    let rows = vec![foreign, other_aad, sealed, missing];

    let shown = |d: &Disclosure<'_>| -> Vec<Option<String>> {
        readiness(&rows, "BCA", d, at()).units[0]
            .not_ready
            .iter()
            .map(|n| n.personal_id.clone())
            .collect()
    };
    assert_eq!(
        shown(&Disclosure::Masked),
        [
            Some("052*******67".to_owned()),
            Some("052******11".to_owned()),
            Some("052******89".to_owned()),
            None
        ]
    );
    assert_eq!(
        shown(&Disclosure::Clear(&master)),
        [
            Some("052*******67".to_owned()),
            Some("052******11".to_owned()),
            Some("05208500789".to_owned()),
            None
        ]
    );
    // The masked report carries no clear number anywhere, serialised either.
    let json = serde_json::to_string(&readiness(&rows, "BCA", &Disclosure::Masked, at())).unwrap();
    assert!(!json.contains("05208500789"), "{json}");
}

#[test]
fn readiness_csv_quotes_commas_and_quotes_and_defuses_formulas() {
    let rows = vec![
        row(("=cmd", "Đơn vị thường"), "@sum", "staff", "missing"),
        row(("=cmd", "Đơn vị thường"), "ok.staff", "staff", "valid"),
        row(
            ("P-MOTCUA", "Phòng \"Một cửa\", quận Hải Châu"),
            "-x",
            "staff",
            "invalid",
        ),
        row(
            ("P-MOTCUA", "Phòng \"Một cửa\", quận Hải Châu"),
            "y.y",
            "staff",
            "duplicate",
        ),
        row(
            ("+1", "=HYPERLINK(\"http://x\")"),
            "dan",
            "citizen",
            "valid",
        ),
    ];
    let csv = readiness_csv(&readiness(&rows, "BCA", &Disclosure::Masked, at()));
    let lines: Vec<&str> = csv
        .strip_prefix('\u{feff}')
        .expect("a byte-order mark")
        .split("\r\n")
        .collect();
    assert_eq!(
        lines,
        [
            READINESS_CSV_HEADER,
            "'=cmd,Đơn vị thường,2,2,1,1,0,0,0,0,'@sum",
            "P-MOTCUA,\"Phòng \"\"Một cửa\"\", quận Hải Châu\",2,2,0,0,1,1,0,0,'-x y.y",
            "'+1,\"'=HYPERLINK(\"\"http://x\"\")\",1,0,0,0,0,0,0,0,",
            "TOTAL,,5,4,1,1,1,1,0,0,",
            "",
        ]
    );
    assert_eq!(READINESS_CSV_HEADER.split(',').count(), 11);
}

#[test]
fn csv_fields_are_left_alone_when_harmless() {
    assert_eq!(csv_field("UBND-P01"), "UBND-P01");
    assert_eq!(csv_field("Công dân"), "Công dân");
    assert_eq!(csv_field(""), "");
    assert_eq!(csv_field("a\nb"), "\"a\nb\"");
    assert_eq!(csv_field("a\rb"), "\"a\rb\"");
    assert_eq!(csv_field("@x,y"), "\"'@x,y\"");
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 7, d).unwrap()
}

fn stat(
    d: u32,
    login_idp: Option<&str>,
    level: Option<u8>,
    outcome: &str,
    logins: u64,
    people: u64,
) -> LoginStatRow {
    LoginStatRow {
        day: day(d),
        login_idp: login_idp.map(str::to_owned),
        level,
        outcome: outcome.into(),
        logins,
        people,
    }
}

#[test]
fn logins_sum_by_day_with_vneid_share_refusals_and_people() {
    let stats = LoginStats {
        // Not in day order: the report sorts the days.
        rows: vec![
            stat(3, Some("BCA"), Some(2), "success", 4, 3),
            stat(1, Some("BCA"), Some(2), "success", 5, 4),
            stat(1, Some("BCA"), Some(1), "refused", 2, 2),
            stat(1, Some("VNPOST"), Some(2), "success", 3, 1),
            stat(1, None, None, "error", 1, 0),
            stat(3, Some("BCA"), Some(1), "success", 2, 2),
            stat(3, Some("OLD"), Some(1), "refused", 1, 1),
        ],
        people_per_day: vec![(day(1), 5), (day(3), 4), (day(9), 1)],
        people_total: 7,
    };
    let r = logins(&stats, day(1), day(3), "BCA");
    assert_eq!((r.from, r.to, r.utc_offset), (day(1), day(3), "+07:00"));
    let days: Vec<(NaiveDate, u64, u64, u64, usize)> = r
        .days
        .iter()
        .map(|d| {
            (
                d.date,
                d.logins,
                d.successful_logins,
                d.people,
                d.groups.len(),
            )
        })
        .collect();
    // Day 2 had no login: absent. Day 9's people are outside the rows: ignored.
    assert_eq!(days, [(day(1), 11, 8, 5, 4), (day(3), 7, 6, 4, 3)]);
    assert_eq!(
        r.days[0].groups[1],
        LoginGroup {
            login_idp: Some("BCA".into()),
            level: Some(1),
            outcome: "refused".into(),
            logins: 2,
            people: 2,
        }
    );
    assert_eq!(r.days[0].groups[3].login_idp, None);
    assert_eq!(
        r.totals,
        LoginTotals {
            logins: 18,
            successful_logins: 14,
            vneid_logins: 11,
            vneid_share: 11.0 / 14.0,
            refused_logins: 3,
            people: 7,
        }
    );
}

#[test]
fn no_successful_login_gives_a_share_of_zero() {
    let stats = LoginStats {
        rows: vec![stat(2, Some("BCA"), Some(1), "refused", 3, 1)],
        people_per_day: vec![],
        people_total: 0,
    };
    let r = logins(&stats, day(1), day(2), "BCA");
    assert_eq!(r.totals.vneid_share, 0.0);
    assert_eq!(r.totals.refused_logins, 3);
    assert_eq!(r.days[0].people, 0);
    let empty = logins(
        &LoginStats {
            rows: vec![],
            people_per_day: vec![],
            people_total: 0,
        },
        day(1),
        day(1),
        "BCA",
    );
    assert!(empty.days.is_empty());
    assert_eq!(empty.totals.logins, 0);
    assert_eq!(empty.totals.vneid_share, 0.0);
}

#[test]
fn day_bounds_are_vietnam_midnights() {
    let (start, end) = day_bounds(day(1), day(1));
    assert_eq!(start, Utc.with_ymd_and_hms(2024, 6, 30, 17, 0, 0).unwrap());
    assert_eq!(end, Utc.with_ymd_and_hms(2024, 7, 1, 17, 0, 0).unwrap());
    // 23:59:59 in Hà Nội on July 1st is inside; midnight of the 2nd is not (end exclusive).
    let last = Utc.with_ymd_and_hms(2024, 7, 1, 16, 59, 59).unwrap();
    assert!(start <= last && last < end);
    // Several days, across a month end and a year end.
    let (start, end) = day_bounds(day(30), NaiveDate::from_ymd_opt(2024, 8, 2).unwrap());
    assert_eq!(start, Utc.with_ymd_and_hms(2024, 7, 29, 17, 0, 0).unwrap());
    assert_eq!(end, Utc.with_ymd_and_hms(2024, 8, 2, 17, 0, 0).unwrap());
    let ny = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    let (start, end) = day_bounds(ny, ny);
    assert_eq!(start, Utc.with_ymd_and_hms(2024, 12, 31, 17, 0, 0).unwrap());
    assert_eq!(end - start, chrono::Duration::days(1));
}
