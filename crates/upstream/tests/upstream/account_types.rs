//! The account type and an organisation's facts: `[upstreams.account_types]`, the
//! organisation field names, and every way the field can arrive.

use serde_json::{json, Value};
use vneid_core::{AccountType, Claim, OrganisationFacts};
use vneid_upstream::{AccountTypeValues, Upstream, UpstreamConfig};

use crate::provider::{upstream_from, userinfo};

fn config(extra: Value) -> UpstreamConfig {
    let mut v = json!({
        "id": "dvcqg",
        "issuer": "https://broker.example",
        "authorization_endpoint": "https://broker.example/oauth2/authorize",
        "token_endpoint": "https://broker.example/oauth2/token",
        "userinfo_endpoint": "https://broker.example/oauth2/userinfo",
        "jwks_uri": "https://broker.example/oauth2/jwks",
        "client_id": "gw",
        "client_secret": "secret",
    });
    for (k, value) in extra.as_object().unwrap() {
        v[k] = value.clone();
    }
    serde_json::from_value(v).unwrap()
}

fn upstream(extra: Value) -> Upstream {
    upstream_from(config(extra))
}

/// The userinfo of an organisation account, as the national broker sends it.
fn organisation_userinfo() -> Value {
    let mut info = userinfo("org-1");
    info["LoaiTaiKhoan"] = json!("2");
    info["MaSoDoanhNghiep"] = json!("4100123456");
    info["MaSoThue"] = json!("4100123456-001");
    info["TenDoanhNghiep"] = json!("Công ty TNHH Thương mại Quy Nhơn");
    info["NguoiDaiDien"] = json!("Trần Văn Đức");
    info
}

fn account_type_of(up: &Upstream, value: Option<Value>) -> Claim<AccountType> {
    let mut info = userinfo("s-1");
    match value {
        Some(v) => info["LoaiTaiKhoan"] = v,
        None => {
            info.as_object_mut().unwrap().remove("LoaiTaiKhoan");
        }
    }
    up.map_userinfo(&info).unwrap().account_type
}

#[test]
fn the_defaults_map_1_to_citizen_and_2_to_organisation() {
    let up = upstream(json!({}));
    assert_eq!(
        config(json!({})).account_types,
        AccountTypeValues {
            citizen: vec!["1".into()],
            organisation: vec!["2".into()],
        }
    );
    for (value, want) in [
        (json!("1"), AccountType::Citizen),
        (json!(1), AccountType::Citizen),
        (json!("2"), AccountType::Organisation),
        (json!(2), AccountType::Organisation),
    ] {
        assert_eq!(
            account_type_of(&up, Some(value.clone())),
            Claim::Valid(want),
            "{value}"
        );
    }
}

#[test]
fn any_other_value_is_invalid_with_its_raw_text_and_none_is_missing() {
    let up = upstream(json!({}));
    for (value, raw) in [
        (json!("3"), "3"),
        (json!("01"), "01"),
        (json!(" 1"), " 1"),
        (json!("1.0"), "1.0"),
        (json!(1.0), "1.0"),
        (json!("citizen"), "citizen"),
        (json!(true), "true"),
        (json!([1]), "[1]"),
        (json!({"a": 1}), "{\"a\":1}"),
    ] {
        assert_eq!(
            account_type_of(&up, Some(value.clone())),
            Claim::Invalid(raw.into()),
            "{value}"
        );
    }
    for absent in [None, Some(Value::Null), Some(json!(""))] {
        assert_eq!(
            account_type_of(&up, absent.clone()),
            Claim::Missing,
            "{absent:?}"
        );
    }
}

#[test]
fn configured_values_replace_the_defaults() {
    let up = upstream(json!({
        "account_types": {"citizen": ["CD", "1"], "organisation": ["TC"]},
        "claims": {"account_type": "kind"},
    }));
    let with_kind = |v: Value| {
        let mut info = userinfo("s-1");
        info["kind"] = v;
        up.map_userinfo(&info).unwrap().account_type
    };
    assert_eq!(with_kind(json!("CD")), Claim::Valid(AccountType::Citizen));
    assert_eq!(with_kind(json!(1)), Claim::Valid(AccountType::Citizen));
    assert_eq!(
        with_kind(json!("TC")),
        Claim::Valid(AccountType::Organisation)
    );
    assert_eq!(with_kind(json!("2")), Claim::Invalid("2".into()));
    // Only `organisation` given: `citizen` keeps its default.
    let up = upstream(json!({"account_types": {"organisation": ["DN"]}}));
    assert_eq!(
        account_type_of(&up, Some(json!("1"))),
        Claim::Valid(AccountType::Citizen)
    );
    assert_eq!(
        account_type_of(&up, Some(json!("2"))),
        Claim::Invalid("2".into())
    );
}

#[test]
fn an_organisation_gets_its_facts_by_the_default_names() {
    let identity = upstream(json!({}))
        .map_userinfo(&organisation_userinfo())
        .unwrap();
    assert_eq!(
        identity.account_type,
        Claim::Valid(AccountType::Organisation)
    );
    assert_eq!(
        identity.organisation,
        Some(OrganisationFacts {
            id: Some("4100123456".into()),
            name: Some("Công ty TNHH Thương mại Quy Nhơn".into()),
            representative: Some("Trần Văn Đức".into()),
        })
    );
}

#[test]
fn the_tax_code_stands_in_when_there_is_no_enterprise_code() {
    let up = upstream(json!({}));
    for absent in [Value::Null, json!("")] {
        let mut info = organisation_userinfo();
        info["MaSoDoanhNghiep"] = absent;
        let o = up.map_userinfo(&info).unwrap().organisation.unwrap();
        assert_eq!(o.id.as_deref(), Some("4100123456-001"));
    }
    let mut info = organisation_userinfo();
    info.as_object_mut().unwrap().remove("MaSoDoanhNghiep");
    info.as_object_mut().unwrap().remove("MaSoThue");
    let o = up.map_userinfo(&info).unwrap().organisation.unwrap();
    assert_eq!(o.id, None);
    assert_eq!(o.name.as_deref(), Some("Công ty TNHH Thương mại Quy Nhơn"));
}

#[test]
fn a_citizen_or_an_unknown_account_never_carries_organisation_facts() {
    let up = upstream(json!({}));
    for kind in [json!("1"), json!("9"), Value::Null] {
        let mut info = organisation_userinfo();
        info["LoaiTaiKhoan"] = kind.clone();
        assert_eq!(up.map_userinfo(&info).unwrap().organisation, None, "{kind}");
    }
}

#[test]
fn organisation_field_names_are_configurable() {
    let up = upstream(json!({"claims": {
        "organisation_id": ["tax_code"],
        "organisation_name": "company",
        "organisation_representative": "legal_rep",
    }}));
    let mut info = organisation_userinfo();
    info["tax_code"] = json!(4100999999u64);
    info["company"] = json!("Hợp tác xã Nông nghiệp Phước Hòa");
    info["legal_rep"] = json!("Lê Thị Mai");
    let o = up.map_userinfo(&info).unwrap().organisation.unwrap();
    assert_eq!(o.id.as_deref(), Some("4100999999"));
    assert_eq!(o.name.as_deref(), Some("Hợp tác xã Nông nghiệp Phước Hòa"));
    assert_eq!(o.representative.as_deref(), Some("Lê Thị Mai"));
}

#[test]
fn account_type_settings_are_validated_naming_the_key() {
    for (extra, key) in [
        (
            json!({"account_types": {"citizen": ["1"], "organisation": ["1"]}}),
            "upstreams[dvcqg].account_types.organisation",
        ),
        (
            json!({"account_types": {"citizen": []}}),
            "upstreams[dvcqg].account_types.citizen",
        ),
        (
            json!({"account_types": {"organisation": [" 2"]}}),
            "upstreams[dvcqg].account_types.organisation",
        ),
        (
            json!({"account_types": {"citizen": [""]}}),
            "upstreams[dvcqg].account_types.citizen",
        ),
        (
            json!({"claims": {"organisation_id": []}}),
            "upstreams[dvcqg].claims.organisation_id",
        ),
        (
            json!({"claims": {"organisation_name": ""}}),
            "upstreams[dvcqg].claims.organisation_name",
        ),
    ] {
        let err = config(extra.clone()).validate().unwrap_err();
        assert!(err.starts_with(&format!("{key}: ")), "{extra}: {err}");
    }
    // An organisation list may be empty: such an upstream admits citizens only.
    assert_eq!(
        config(json!({"account_types": {"organisation": []}})).validate(),
        Ok(())
    );
    let mut v = json!({"account_types": {"citizens": ["1"]}});
    v["id"] = json!("dvcqg");
    assert!(serde_json::from_value::<AccountTypeValues>(v["account_types"].clone()).is_err());
}
