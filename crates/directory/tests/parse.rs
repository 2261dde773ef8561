//! The directory parser against a realistic spreadsheet export and its JSON twin.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::NaiveDate;
use proptest::prelude::*;
use vneid_directory::parse::{
    parse, parse_csv, parse_json, FileError, Format, ImportRow, Kind, Parsed, PersonalIdCheck,
    Rejection,
};

const BAD_ROWS_CSV: &[u8] = include_bytes!("fixtures/bad_rows.csv");
const BAD_ROWS_JSON: &[u8] = include_bytes!("fixtures/bad_rows.json");

fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

fn summary(row: &ImportRow) -> (usize, &str, Kind, &'static str, Option<&'static str>) {
    (
        row.line,
        row.username.as_str(),
        row.kind,
        row.personal_id.status(),
        row.personal_id.problem(),
    )
}

fn rejection_summary(r: &Rejection) -> (usize, Option<&'static str>, &'static str, Option<&str>) {
    (r.line, r.field, r.reason, r.username.as_deref())
}

#[test]
fn the_fixture_starts_with_a_bom_and_uses_crlf() {
    assert!(BAD_ROWS_CSV.starts_with(b"\xEF\xBB\xBF"));
    assert!(BAD_ROWS_CSV.windows(2).any(|w| w == b"\r\n"));
}

#[test]
fn spreadsheet_export_rows_come_out_with_their_physical_lines_and_personal_id_flags() {
    let p = parse_csv(BAD_ROWS_CSV).unwrap();
    let rows: Vec<_> = p.rows.iter().map(summary).collect();
    assert_eq!(
        rows,
        vec![
            (2, "canbo01", Kind::Staff, "valid", None),
            (3, "dan01", Kind::Citizen, "valid", None),
            (5, "tochuc01", Kind::Organisation, "missing", None),
            (6, "dan02", Kind::Citizen, "invalid", Some("format")),
            (
                8,
                "dan03",
                Kind::Citizen,
                "invalid",
                Some("unknown_province")
            ),
            (
                9,
                "dan04",
                Kind::Citizen,
                "invalid",
                Some("birth_year_mismatch")
            ),
            (10, "dan05", Kind::Citizen, "invalid", Some("format")),
            (11, "dan06", Kind::Citizen, "invalid", Some("format")),
            (12, "dan07", Kind::Citizen, "invalid", Some("century")),
            (13, "dan08", Kind::Citizen, "valid", None),
            (26, "canbo02", Kind::Staff, "valid", None),
        ]
    );
    assert_eq!(p.total_rows, 20);
    assert_eq!(p.rejected_rows(), 9);

    let staff = &p.rows[0];
    assert_eq!(staff.full_name, "Nguyễn Văn A, Jr");
    assert_eq!(staff.unit_code, "UBND-P01");
    assert_eq!(staff.unit_name, "UBND phường Quang Trung");
    assert_eq!(staff.personal_id.raw(), Some("001085000123"));
    assert_eq!(staff.birth_date, date(1985, 3, 15));
    assert_eq!(staff.phone.as_deref(), Some("0912345678"));
    assert_eq!(staff.email.as_deref(), Some("nva@quangtrung.gov.vn"));

    let citizen = &p.rows[1];
    assert_eq!(citizen.birth_date, date(1995, 7, 20));
    assert_eq!(
        (citizen.phone.as_deref(), citizen.email.as_deref()),
        (None, None)
    );

    let organisation = &p.rows[2];
    assert_eq!(organisation.full_name, "Công ty TNHH \"Minh Phát\"");
    assert_eq!(organisation.personal_id, PersonalIdCheck::Missing);

    // A quoted name over two physical lines (LF inside, CRLF between records).
    assert_eq!(p.rows[3].full_name, "Lê Văn Cường\n(hộ khẩu cũ: thôn 3)");
    // 11 digits: the spreadsheet dropped the leading zero; kept as given, not repaired.
    assert_eq!(p.rows[3].personal_id.raw(), Some("52090012345"));
    assert_eq!(
        p.rows[3].personal_id.masked().as_deref(),
        Some("520******45")
    );
    // Excel's scientific notation.
    assert_eq!(p.rows[6].personal_id.raw(), Some("7.9203E+11"));
    // Spaces between groups of digits are separators.
    assert_eq!(p.rows[9].personal_id.raw(), Some("052090012346"));
    // D/M/YYYY.
    assert_eq!(p.rows[10].birth_date, date(1990, 2, 1));
}

#[test]
fn spreadsheet_export_rejections_name_line_field_reason_and_username() {
    let p = parse_csv(BAD_ROWS_CSV).unwrap();
    let rejected: Vec<_> = p.rejected.iter().map(rejection_summary).collect();
    assert_eq!(
        rejected,
        vec![
            (16, None, "field_count", Some("dan09")),
            (17, Some("username"), "username_missing", None),
            (18, Some("username"), "username_duplicate", Some("DAN01")),
            (19, Some("kind"), "kind_unknown", Some("dan10")),
            (20, Some("birth_date"), "birth_date_invalid", Some("dan11")),
            (21, Some("birth_date"), "birth_date_invalid", Some("dan12")),
            (22, Some("full_name"), "full_name_missing", Some("dan13")),
            (23, Some("unit_code"), "unit_code_missing", Some("dan14")),
            (25, Some("full_name"), "full_name_missing", Some("dan15")),
            (25, Some("unit_code"), "unit_code_missing", Some("dan15")),
            (25, Some("kind"), "kind_unknown", Some("dan15")),
            (25, Some("birth_date"), "birth_date_invalid", Some("dan15")),
        ]
    );
    let message = |line: usize, reason: &str| {
        p.rejected
            .iter()
            .find(|r| r.line == line && r.reason == reason)
            .map(|r| r.message.as_str())
            .unwrap()
    };
    assert_eq!(
        message(16, "field_count"),
        "expected 9 fields as in the header, found 10 (a comma in an unquoted value?)"
    );
    assert_eq!(
        message(18, "username_duplicate"),
        "username \"DAN01\" is already used at line 3 (usernames are case-insensitive)"
    );
    assert_eq!(
        message(19, "kind_unknown"),
        "kind \"cán bộ\" is not staff, citizen or organisation"
    );
    assert_eq!(
        message(20, "birth_date_invalid"),
        "birth_date is not a real date (day or month out of range)"
    );
    assert_eq!(
        message(21, "birth_date_invalid"),
        "birth_date is not a date in the form YYYY-MM-DD or DD/MM/YYYY"
    );
    for r in &p.rejected {
        assert!(!r.message.contains("1990"), "{}", r.message);
    }
}

#[test]
fn line_ends_do_not_change_the_result() {
    let crlf = parse_csv(BAD_ROWS_CSV).unwrap();
    let lf: Vec<u8> = String::from_utf8(BAD_ROWS_CSV.to_vec())
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes();
    assert_eq!(parse_csv(&lf).unwrap(), crlf);
    let mut ended = BAD_ROWS_CSV.to_vec();
    ended.extend_from_slice(b"\r\n\r\n");
    assert_eq!(parse_csv(&ended).unwrap(), crlf);
}

#[test]
fn the_json_twin_yields_the_same_rows_with_positions_for_lines() {
    let csv = parse_csv(BAD_ROWS_CSV).unwrap();
    let json = parse(BAD_ROWS_JSON, Format::Json).unwrap();
    // CSV line of each JSON element (the field_count row has no JSON form).
    let csv_lines = [
        2, 3, 5, 6, 8, 9, 10, 11, 12, 13, 17, 18, 19, 20, 21, 22, 23, 25, 26,
    ];
    let position = |line: usize| csv_lines.iter().position(|&l| l == line).unwrap() + 1;

    let expected_rows: Vec<ImportRow> = csv
        .rows
        .iter()
        .map(|r| ImportRow {
            line: position(r.line),
            ..r.clone()
        })
        .collect();
    assert_eq!(json.rows, expected_rows);
    assert_eq!(json.total_rows, csv.total_rows - 1);

    let expected_rejected: Vec<_> = csv
        .rejected
        .iter()
        .filter(|r| r.reason != "field_count")
        .map(|r| (position(r.line), r.field, r.reason, r.username.clone()))
        .collect();
    let rejected: Vec<_> = json
        .rejected
        .iter()
        .map(|r| (r.line, r.field, r.reason, r.username.clone()))
        .collect();
    assert_eq!(rejected, expected_rejected);
    let duplicate = json
        .rejected
        .iter()
        .find(|r| r.reason == "username_duplicate")
        .unwrap();
    assert_eq!(
        duplicate.message,
        "username \"DAN01\" is already used at element 2 (usernames are case-insensitive)"
    );
}

#[test]
fn nfd_names_come_out_nfc() {
    // "Nguyễn Thị Ánh", "Phường Đống Đa" decomposed, as macOS and some web forms send them.
    let name = "Nguye\u{302}\u{303}n Thi\u{323} A\u{301}nh";
    let unit = "Phu\u{31b}o\u{31b}\u{300}ng \u{110}o\u{302}\u{301}ng \u{110}a";
    let text = format!(
        "username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email\n\
         u1,{name},P1,{unit},citizen,,,,\n"
    );
    let p = parse_csv(text.as_bytes()).unwrap();
    assert_eq!(p.rows[0].full_name, "Nguyễn Thị Ánh");
    assert_eq!(p.rows[0].unit_name, "Phường Đống Đa");
    assert!(p.rows[0].full_name.len() < name.len());

    let json = format!(
        r#"[{{"username": "u1", "full_name": "{name}", "unit_code": "P1", "unit_name": "{unit}", "kind": "citizen"}}]"#
    );
    let j = parse_json(json.as_bytes()).unwrap();
    assert_eq!(j.rows[0].full_name, "Nguyễn Thị Ánh");
    assert_eq!(j.rows[0].unit_name, "Phường Đống Đa");
}

#[test]
fn header_errors_refuse_the_file_and_name_the_column() {
    let text = String::from_utf8(BAD_ROWS_CSV.to_vec()).unwrap();
    let with_header = |header: &str| {
        let (_, rest) = text.split_once("\r\n").unwrap();
        format!("{header}\r\n{rest}").into_bytes()
    };
    let err = parse_csv(&with_header(
        "username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone",
    ))
    .unwrap_err();
    assert_eq!(err, FileError::MissingColumn { name: "email" });
    assert_eq!(err.code(), "missing_column");
    assert!(err.to_string().contains("\"email\""));

    let err = parse_csv(&with_header(
        "username,full_name,unit_code,unit_name,kind,cccd,birth_date,phone,email",
    ))
    .unwrap_err();
    assert_eq!(
        err,
        FileError::UnknownColumn {
            name: "cccd".into(),
            position: 6
        }
    );
    let err = parse_csv(&with_header(
        "username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email,USERNAME",
    ))
    .unwrap_err();
    assert_eq!(err, FileError::DuplicateColumn { name: "username" });
    assert_eq!(parse_csv(b"\xEF\xBB\xBF"), Err(FileError::Empty));
}

#[test]
fn a_file_saved_in_a_windows_code_page_is_refused_naming_the_line() {
    let mut bytes = BAD_ROWS_CSV.to_vec();
    // "Trần" in Windows-1258 has 0xD2 for "ầ"'s base letter: not UTF-8.
    let at = bytes.windows(5).position(|w| w == b"dan01").unwrap() + 6;
    bytes[at + 2] = 0xD2;
    let err = parse_csv(&bytes).unwrap_err();
    assert_eq!(err, FileError::NotUtf8 { line: 3 });
    assert!(err.to_string().contains("CSV UTF-8"));
}

#[test]
fn the_format_is_chosen_from_the_upload() {
    let by_type = Format::from_content_type("text/csv; charset=UTF-8").unwrap();
    assert_eq!(parse(BAD_ROWS_CSV, by_type).unwrap().rows.len(), 11);
    let by_name = Format::from_file_name("danh_sach_tai_khoan.json").unwrap();
    assert_eq!(parse(BAD_ROWS_JSON, by_name).unwrap().rows.len(), 11);
}

#[test]
fn the_parsed_result_serialises_without_personal_id_numbers() {
    let p = parse_csv(BAD_ROWS_CSV).unwrap();
    let json = serde_json::to_string(&p).unwrap();
    for number in ["001085000123", "079195004321", "052090012346"] {
        assert!(!json.contains(number), "{number}");
    }
    let debug = format!("{p:?}");
    for secret in [
        "001085000123",
        "0912345678",
        "nva@quangtrung.gov.vn",
        "52090012345",
    ] {
        assert!(!debug.contains(secret), "{secret}");
    }
}

fn check_invariants(p: &Parsed) {
    let mut lines: Vec<usize> = p.rejected.iter().map(|r| r.line).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]));
    lines.dedup();
    assert_eq!(p.total_rows, p.rows.len() + lines.len());
    assert!(p.rows.windows(2).all(|w| w[0].line < w[1].line));
    for r in &p.rows {
        assert!(!r.username.is_empty() && !r.full_name.is_empty() && !r.unit_code.is_empty());
        assert!(!lines.contains(&r.line));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_csv_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(p) = parse_csv(&bytes) {
            check_invariants(&p);
        }
    }

    #[test]
    fn parse_csv_never_panics_on_near_valid_files(
        cells in proptest::collection::vec("[a-zA-Z0-9 ,\"\r\n;./\u{a0}ễ\u{303}-]{0,14}", 0..60)
    ) {
        let mut text = String::from(
            "\u{feff}username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email\r\n",
        );
        for (i, cell) in cells.iter().enumerate() {
            text.push_str(cell);
            text.push_str(if i % 9 == 8 { "\r\n" } else { "," });
        }
        if let Ok(p) = parse_csv(text.as_bytes()) {
            check_invariants(&p);
        }
    }

    #[test]
    fn parse_json_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(p) = parse_json(&bytes) {
            check_invariants(&p);
        }
    }

    #[test]
    fn parse_json_never_panics_on_near_valid_documents(
        values in proptest::collection::vec(
            ("(username|full_name|unit_code|kind|personal_id|birth_date|phone|x)", "[a-z0-9 ./ễ]{0,12}"),
            0..20,
        ),
        split in 0usize..20,
    ) {
        let mut text = String::from("[{");
        for (i, (key, value)) in values.iter().enumerate() {
            if i > 0 {
                text.push_str(if i == split { "}, {" } else { ", " });
            }
            text.push_str(&format!("{key:?}: {value:?}"));
        }
        text.push_str("}]");
        if let Ok(p) = parse_json(text.as_bytes()) {
            check_invariants(&p);
        }
    }
}
