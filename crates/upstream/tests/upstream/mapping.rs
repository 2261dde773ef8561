//! `map_userinfo`: field names from configuration, and every `Claim` case.

use chrono::NaiveDate;
use proptest::prelude::*;
use serde_json::{json, Value};
use vneid_core::{AccountType, AssuranceLevel, Claim, PersonalId};
use vneid_upstream::{ClaimNames, Upstream, UpstreamConfig};

use crate::provider::{upstream_from, userinfo};

/// An upstream with explicit endpoints: no network is touched by `map_userinfo`.
fn upstream(claims: ClaimNames) -> Upstream {
    let mut config: UpstreamConfig = serde_json::from_value(json!({
        "id": "dvcqg",
        "issuer": "https://broker.example",
        "authorization_endpoint": "https://broker.example/oauth2/authorize",
        "token_endpoint": "https://broker.example/oauth2/token",
        "userinfo_endpoint": "https://broker.example/oauth2/userinfo",
        "jwks_uri": "https://broker.example/oauth2/jwks",
        "client_id": "gw",
        "client_secret": "secret",
    }))
    .unwrap();
    config.claims = claims;
    upstream_from(config)
}

fn default_upstream() -> Upstream {
    upstream(ClaimNames::default())
}

fn with(field: &str, value: Value) -> Value {
    let mut info = userinfo("s-1");
    info[field] = value;
    info
}

fn without(field: &str) -> Value {
    let mut info = userinfo("s-1");
    info.as_object_mut().unwrap().remove(field);
    info
}

fn level_of(info: &Value) -> Claim<AssuranceLevel> {
    default_upstream().map_userinfo(info).unwrap().level
}

fn birthdate_of(info: &Value) -> Claim<NaiveDate> {
    default_upstream().map_userinfo(info).unwrap().birthdate
}

#[test]
fn national_broker_userinfo_maps_with_the_default_names() {
    let identity = default_upstream().map_userinfo(&userinfo("s-1")).unwrap();
    assert_eq!(identity.upstream, "dvcqg");
    assert_eq!(identity.subject, "s-1");
    assert_eq!(identity.personal_id.as_deref(), Some("052190012381"));
    assert_eq!(identity.name.as_deref(), Some("Nguyễn Văn An"));
    assert_eq!(
        identity.birthdate,
        Claim::Valid(NaiveDate::from_ymd_opt(1990, 5, 17).unwrap())
    );
    assert_eq!(identity.level, Claim::Valid(AssuranceLevel::Level2));
    assert_eq!(identity.login_idp.as_deref(), Some("BCA"));
    assert_eq!(identity.account_type, Claim::Valid(AccountType::Citizen));
    assert_eq!(identity.organisation, None);
    assert_eq!(identity.tech_id.as_deref(), Some("tech-77"));
}

#[test]
fn renamed_fields_are_read_by_their_configured_names() {
    let names = ClaimNames {
        subject: "uid".into(),
        personal_id: "cccd".into(),
        name: "full_name".into(),
        birthdate: "dob".into(),
        birthdate_format: "%d/%m/%Y".into(),
        level: "loa".into(),
        login_idp: "idp".into(),
        account_type: "kind".into(),
        tech_id: "tid".into(),
        organisation_id: vec!["mst".into()],
        organisation_name: "ten".into(),
        organisation_representative: "dai_dien".into(),
    };
    let info = json!({
        "uid": "u-9", "cccd": "001203000001", "full_name": "Trần Thị Bình",
        "dob": "01/02/2003", "loa": 1, "idp": "VNPOST", "kind": "2", "tid": 42,
        "mst": "0101234567", "ten": "Công ty A", "dai_dien": "Trần Thị Bình",
        "MaSoDoanhNghiep": "ignored", "TenDoanhNghiep": "ignored",
        // The default names are ignored.
        "sub": "ignored", "IAL": 2, "SoDinhDanh": "052190012381",
    });
    let identity = upstream(names).map_userinfo(&info).unwrap();
    assert_eq!(identity.subject, "u-9");
    assert_eq!(identity.personal_id.as_deref(), Some("001203000001"));
    assert_eq!(identity.name.as_deref(), Some("Trần Thị Bình"));
    assert_eq!(
        identity.birthdate,
        Claim::Valid(NaiveDate::from_ymd_opt(2003, 2, 1).unwrap())
    );
    assert_eq!(identity.level, Claim::Valid(AssuranceLevel::Level1));
    assert_eq!(identity.login_idp.as_deref(), Some("VNPOST"));
    assert_eq!(
        identity.account_type,
        Claim::Valid(AccountType::Organisation)
    );
    let organisation = identity.organisation.unwrap();
    assert_eq!(organisation.id.as_deref(), Some("0101234567"));
    assert_eq!(organisation.name.as_deref(), Some("Công ty A"));
    assert_eq!(
        organisation.representative.as_deref(),
        Some("Trần Thị Bình")
    );
    assert_eq!(identity.tech_id.as_deref(), Some("42"));
}

#[test]
fn level_integers_one_and_two_are_valid() {
    assert_eq!(
        level_of(&with("IAL", json!(1))),
        Claim::Valid(AssuranceLevel::Level1)
    );
    assert_eq!(
        level_of(&with("IAL", json!(2))),
        Claim::Valid(AssuranceLevel::Level2)
    );
}

#[test]
fn level_as_a_string_holding_the_integer_is_valid() {
    assert_eq!(
        level_of(&with("IAL", json!("2"))),
        Claim::Valid(AssuranceLevel::Level2)
    );
    assert_eq!(
        level_of(&with("IAL", json!("1"))),
        Claim::Valid(AssuranceLevel::Level1)
    );
}

#[test]
fn missing_null_or_empty_level_is_missing() {
    assert_eq!(level_of(&without("IAL")), Claim::Missing);
    assert_eq!(level_of(&with("IAL", Value::Null)), Claim::Missing);
    assert_eq!(level_of(&with("IAL", json!(""))), Claim::Missing);
}

#[test]
fn any_other_level_is_invalid_with_its_raw_text() {
    for (value, raw) in [
        (json!("2a"), "2a"),
        (json!("02"), "02"),
        (json!(" 2"), " 2"),
        (json!("+2"), "+2"),
        (json!("2.0"), "2.0"),
        (json!("3"), "3"),
        (json!("LoA2"), "LoA2"),
        (json!(2.5), "2.5"),
        (json!(2.0), "2.0"),
        (json!(3), "3"),
        (json!(0), "0"),
        (json!(-1), "-1"),
        (json!(true), "true"),
        (json!([2]), "[2]"),
        (json!({"v": 2}), "{\"v\":2}"),
    ] {
        assert_eq!(
            level_of(&with("IAL", value.clone())),
            Claim::Invalid(raw.into()),
            "{value}"
        );
    }
}

#[test]
fn level_is_never_taken_from_acr() {
    let mut info = without("IAL");
    info["acr"] = json!("2");
    info["loAs"] = json!("2");
    assert_eq!(level_of(&info), Claim::Missing);
    info["acr"] = json!("urn:vneid:loa:2");
    assert_eq!(level_of(&info), Claim::Missing);
}

#[test]
fn birthdate_is_parsed_with_the_configured_format() {
    assert_eq!(
        birthdate_of(&with("NgayThangNamSinh", json!("20031231"))),
        Claim::Valid(NaiveDate::from_ymd_opt(2003, 12, 31).unwrap())
    );
    // A JSON integer is read as its digits.
    assert_eq!(
        birthdate_of(&with("NgayThangNamSinh", json!(19900517))),
        Claim::Valid(NaiveDate::from_ymd_opt(1990, 5, 17).unwrap())
    );
}

#[test]
fn unparseable_birthdate_is_invalid_and_absent_is_missing() {
    for (value, raw) in [
        (json!("19900231"), "19900231"),
        (json!("1990-05-17"), "1990-05-17"),
        (json!("199005171"), "199005171"),
        (json!("abc"), "abc"),
        (json!(true), "true"),
        (json!(1990.5), "1990.5"),
    ] {
        assert_eq!(
            birthdate_of(&with("NgayThangNamSinh", value)),
            Claim::Invalid(raw.into())
        );
    }
    assert_eq!(birthdate_of(&without("NgayThangNamSinh")), Claim::Missing);
    assert_eq!(
        birthdate_of(&with("NgayThangNamSinh", Value::Null)),
        Claim::Missing
    );
}

#[test]
fn invalid_raw_text_is_cut_to_a_hundred_characters() {
    let long = "x".repeat(1000);
    assert_eq!(
        level_of(&with("IAL", json!(long))),
        Claim::Invalid("x".repeat(100))
    );
}

#[test]
fn personal_id_is_kept_raw_and_a_json_number_loses_its_leading_zero() {
    let up = default_upstream();
    let raw = up
        .map_userinfo(&with("SoDinhDanh", json!(" 052190012381")))
        .unwrap();
    assert_eq!(raw.personal_id.as_deref(), Some(" 052190012381"));

    let number = up
        .map_userinfo(&with("SoDinhDanh", json!(52190012381u64)))
        .unwrap();
    assert_eq!(number.personal_id.as_deref(), Some("52190012381"));
    // ...and so it fails validation later: fail closed, no guessing the zero back.
    assert!(PersonalId::parse(number.personal_id.as_deref().unwrap()).is_err());

    assert_eq!(
        up.map_userinfo(&without("SoDinhDanh")).unwrap().personal_id,
        None
    );
    assert_eq!(
        up.map_userinfo(&with("SoDinhDanh", json!(["052190012381"])))
            .unwrap()
            .personal_id,
        None
    );
}

#[test]
fn numbers_in_text_fields_become_their_digits() {
    let identity = default_upstream()
        .map_userinfo(&with("TechID", json!(123456)))
        .unwrap();
    assert_eq!(identity.tech_id.as_deref(), Some("123456"));
    // `LoaiTaiKhoan: 1` (a number) is the citizen's "1".
    assert_eq!(identity.account_type, Claim::Valid(AccountType::Citizen));
    let identity = default_upstream()
        .map_userinfo(&with("HoVaTen", json!({"a": 1})))
        .unwrap();
    assert_eq!(identity.name, None);
    let identity = default_upstream()
        .map_userinfo(&with("loginIdp", json!("")))
        .unwrap();
    assert_eq!(identity.login_idp, None);
}

#[test]
fn missing_sub_is_an_error() {
    let up = default_upstream();
    for info in [
        without("sub"),
        with("sub", Value::Null),
        with("sub", json!("")),
        with("sub", json!({"id": 1})),
    ] {
        let err = up.map_userinfo(&info).unwrap_err();
        assert_eq!(err.code(), "userinfo", "{info}");
    }
    assert_eq!(
        up.map_userinfo(&with("sub", json!(42))).unwrap().subject,
        "42"
    );
}

#[test]
fn userinfo_that_is_not_an_object_is_an_error() {
    let up = default_upstream();
    for v in [json!([]), json!("x"), json!(1), Value::Null] {
        assert_eq!(up.map_userinfo(&v).unwrap_err().code(), "userinfo");
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::String),
        "[0-9]{0,14}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::hash_map(
                prop_oneof![
                    Just("sub".to_owned()),
                    Just("IAL".to_owned()),
                    Just("SoDinhDanh".to_owned()),
                    Just("NgayThangNamSinh".to_owned()),
                    Just("HoVaTen".to_owned()),
                    Just("LoaiTaiKhoan".to_owned()),
                    "\\PC{0,8}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn map_userinfo_never_panics_on_arbitrary_json(value in arb_json()) {
        let up = default_upstream();
        let _ = up.map_userinfo(&value);
    }

    #[test]
    fn any_field_value_under_a_valid_sub_maps(field in prop_oneof![
        Just("IAL"), Just("SoDinhDanh"), Just("NgayThangNamSinh"), Just("HoVaTen"),
        Just("loginIdp"), Just("LoaiTaiKhoan"), Just("TechID")
    ], value in arb_json()) {
        let identity = default_upstream().map_userinfo(&with(field, value)).unwrap();
        prop_assert_eq!(identity.subject, "s-1");
    }
}
