use super::row::parse_birth_date;
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
    let p = csv(
        "nva, Nguyễn Văn A ,UB01,UBND phường 1,Staff,001085000123,15/03/1985, 0912345678 ,a@x.vn\n",
    );
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
