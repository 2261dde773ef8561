//! The policy's tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use proptest::prelude::*;
use AssuranceLevel::{Level1, Level2};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

const BOTH: &[AccountType] = &AccountType::ALL;
const CITIZENS: &[AccountType] = &[AccountType::Citizen];

/// A client that admits both account types and requires `level`.
fn need(level: AssuranceLevel) -> Requirement<'static> {
    Requirement {
        level,
        account_types: BOTH,
    }
}

fn citizen() -> UpstreamIdentity {
    UpstreamIdentity {
        upstream: "dvcqg".into(),
        subject: "s-1".into(),
        personal_id: Some("052090000123".into()),
        name: Some("Nguyễn Văn An".into()),
        birthdate: Claim::Valid(date(1990, 3, 15)),
        level: Claim::Valid(Level2),
        login_idp: Some("BCA".into()),
        account_type: Claim::Valid(AccountType::Citizen),
        organisation: None,
        tech_id: None,
    }
}

fn organisation() -> UpstreamIdentity {
    UpstreamIdentity {
        subject: "s-org".into(),
        // What an organisation account may carry where a person's number would be: never
        // checked as one.
        personal_id: Some("0101234567".into()),
        name: Some("Công ty TNHH Thương mại Quy Nhơn".into()),
        birthdate: Claim::Invalid("".into()),
        account_type: Claim::Valid(AccountType::Organisation),
        organisation: Some(vneid_core::OrganisationFacts {
            id: Some("0101234567".into()),
            name: Some("Công ty TNHH Thương mại Quy Nhơn".into()),
            representative: Some("Trần Văn Đức".into()),
        }),
        ..citizen()
    }
}

const TODAY: fn() -> NaiveDate = || date(2026, 11, 27);

#[test]
fn level_two_vneid_citizen_is_admitted() {
    let a = decide(&PolicyConfig::default(), &citizen(), need(Level2), TODAY()).unwrap();
    assert_eq!(a.level, Level2);
    assert_eq!(a.account_type(), AccountType::Citizen);
    assert_eq!(a.personal_id().unwrap().expose(), "052090000123");
}

#[test]
fn level_one_account_is_refused_where_level_two_is_required() {
    let mut p = citizen();
    p.level = Claim::Valid(Level1);
    assert_eq!(
        decide(&PolicyConfig::default(), &p, need(Level2), TODAY()),
        Err(Refusal::LevelTooLow {
            have: Level1,
            need: Level2
        })
    );
    assert!(decide(&PolicyConfig::default(), &p, need(Level1), TODAY()).is_ok());
}

#[test]
fn missing_or_unusable_level_fails_closed() {
    let mut p = citizen();
    p.level = Claim::Missing;
    assert_eq!(
        decide(&PolicyConfig::default(), &p, need(Level1), TODAY()),
        Err(Refusal::LevelMissing)
    );
    p.level = Claim::Invalid("2a".into());
    assert_eq!(
        decide(&PolicyConfig::default(), &p, need(Level1), TODAY()),
        Err(Refusal::LevelInvalid)
    );
}

#[test]
fn vietnam_post_and_old_portal_accounts_are_refused_after_the_cutover() {
    for idp in [Some("VNPOST"), Some("DVCQG"), None] {
        let mut p = citizen();
        p.login_idp = idp.map(str::to_owned);
        let r = decide(&PolicyConfig::default(), &p, need(Level2), TODAY()).unwrap_err();
        assert_eq!(r.code(), "account_system_not_accepted");
        // The day before the cut-over they were still accepted.
        assert!(decide(
            &PolicyConfig::default(),
            &p,
            need(Level2),
            date(2024, 6, 30)
        )
        .is_ok());
        // And on the day itself they are not.
        assert!(decide(&PolicyConfig::default(), &p, need(Level2), date(2024, 7, 1)).is_err());
    }
}

#[test]
fn malformed_personal_id_is_refused() {
    let mut p = citizen();
    p.personal_id = Some("05209000012".into());
    assert_eq!(
        decide(&PolicyConfig::default(), &p, need(Level2), TODAY())
            .unwrap_err()
            .code(),
        "personal_id_invalid"
    );
    p.personal_id = None;
    assert_eq!(
        decide(&PolicyConfig::default(), &p, need(Level2), TODAY()),
        Err(Refusal::PersonalIdMissing)
    );
}

#[test]
fn birth_year_that_disagrees_with_the_number_is_refused() {
    let mut p = citizen();
    p.birthdate = Claim::Valid(date(1985, 3, 15));
    assert_eq!(
        decide(&PolicyConfig::default(), &p, need(Level2), TODAY())
            .unwrap_err()
            .code(),
        "personal_id_birth_year_mismatch"
    );
    p.birthdate = Claim::Invalid("15/03/1990".into());
    assert_eq!(
        decide(&PolicyConfig::default(), &p, need(Level2), TODAY()),
        Err(Refusal::BirthdateInvalid)
    );
    p.birthdate = Claim::Missing;
    assert!(decide(&PolicyConfig::default(), &p, need(Level2), TODAY()).is_ok());
}

#[test]
fn required_level_is_the_highest_of_client_minimum_and_acr_values() {
    let c = PolicyConfig::default();
    assert_eq!(required_level(&c, None, None), Level2);
    assert_eq!(required_level(&c, Some(Level1), None), Level1);
    assert_eq!(
        required_level(&c, Some(Level1), Some("urn:vneid:loa:2")),
        Level2
    );
    assert_eq!(
        required_level(&c, Some(Level2), Some("urn:vneid:loa:1")),
        Level2
    );
    assert_eq!(
        required_level(&c, Some(Level1), Some("LoA1 urn:vneid:loa:2 junk")),
        Level2
    );
    assert_eq!(required_level(&c, Some(Level1), Some("LoA1")), Level1);
}

#[test]
fn every_refusal_code_is_listed() {
    let all = [
        Refusal::AccountSystemNotAccepted { login_idp: None },
        Refusal::LevelMissing,
        Refusal::LevelInvalid,
        Refusal::LevelTooLow {
            have: Level1,
            need: Level2,
        },
        Refusal::PersonalIdMissing,
        Refusal::PersonalIdInvalid(PersonalIdError::NotDigits),
        Refusal::PersonalIdInvalid(PersonalIdError::BirthYearMismatch {
            in_number: 1,
            in_birthdate: 2,
        }),
        Refusal::BirthdateInvalid,
        Refusal::AccountTypeMissing,
        Refusal::AccountTypeUnknown { value: "3".into() },
        Refusal::AccountTypeNotAllowed {
            have: AccountType::Organisation,
        },
    ];
    assert_eq!(all.len(), Refusal::CODES.len());
    for r in all {
        assert!(Refusal::CODES.contains(&r.code()), "{}", r.code());
        assert!(!r.description().is_empty());
    }
}

#[test]
fn an_organisation_is_admitted_without_a_personal_id_number() {
    let a = decide(
        &PolicyConfig::default(),
        &organisation(),
        need(Level2),
        TODAY(),
    )
    .unwrap();
    assert_eq!(a.who, Admittee::Organisation);
    assert_eq!(a.account_type(), AccountType::Organisation);
    assert_eq!(a.personal_id(), None);
    // Its identifier is never checked against the personal-ID rules, nor is a birth date
    // asked of it: neither a missing nor an unreadable one refuses it.
    let mut o = organisation();
    o.personal_id = None;
    o.birthdate = Claim::Missing;
    assert!(decide(&PolicyConfig::default(), &o, need(Level2), TODAY()).is_ok());
}

#[test]
fn an_organisation_still_needs_vneid_and_the_level() {
    let mut o = organisation();
    o.level = Claim::Valid(Level1);
    assert_eq!(
        decide(&PolicyConfig::default(), &o, need(Level2), TODAY())
            .unwrap_err()
            .code(),
        "level_too_low"
    );
    let mut o = organisation();
    o.login_idp = Some("VNPOST".into());
    assert_eq!(
        decide(&PolicyConfig::default(), &o, need(Level2), TODAY())
            .unwrap_err()
            .code(),
        "account_system_not_accepted"
    );
}

#[test]
fn a_citizens_only_client_refuses_organisations_and_admits_citizens() {
    let citizens_only = Requirement {
        level: Level2,
        account_types: CITIZENS,
    };
    let r = decide(
        &PolicyConfig::default(),
        &organisation(),
        citizens_only,
        TODAY(),
    )
    .unwrap_err();
    assert_eq!(
        r,
        Refusal::AccountTypeNotAllowed {
            have: AccountType::Organisation
        }
    );
    assert_eq!(r.code(), "account_type_not_allowed");
    assert!(decide(&PolicyConfig::default(), &citizen(), citizens_only, TODAY()).is_ok());
    // Not admitted is the reason even when the level would not do either.
    let mut o = organisation();
    o.level = Claim::Valid(Level1);
    assert_eq!(
        decide(&PolicyConfig::default(), &o, citizens_only, TODAY())
            .unwrap_err()
            .code(),
        "account_type_not_allowed"
    );
    let organisations_only = [AccountType::Organisation];
    assert!(account_type_admitted(&organisations_only, AccountType::Citizen).is_err());
    assert!(account_type_admitted(&organisations_only, AccountType::Organisation).is_ok());
    assert!(account_type_admitted(&[], AccountType::Citizen).is_err());
}

#[test]
fn a_missing_or_unknown_account_type_fails_closed() {
    let mut p = citizen();
    p.account_type = Claim::Missing;
    assert_eq!(
        decide(&PolicyConfig::default(), &p, need(Level1), TODAY()),
        Err(Refusal::AccountTypeMissing)
    );
    p.account_type = Claim::Invalid("3".into());
    let r = decide(&PolicyConfig::default(), &p, need(Level1), TODAY()).unwrap_err();
    assert_eq!(r.code(), "account_type_unknown");
    assert!(r.description().contains("\"3\""));
    // Only a short code reaches the portal, the audit trail and the log: never a value that
    // could be a name or a number (a field mapped by mistake).
    for (raw, shown) in [
        ("DN", "DN"),
        ("to-chuc", "to-chuc"),
        ("052090000123", "(not a short code)"),
        ("Nguyễn", "(not a short code)"),
        ("a b", "(not a short code)"),
        ("x".repeat(100).as_str(), "(not a short code)"),
    ] {
        p.account_type = Claim::Invalid(raw.into());
        match decide(&PolicyConfig::default(), &p, need(Level1), TODAY()) {
            Err(Refusal::AccountTypeUnknown { value }) => assert_eq!(value, shown, "{raw}"),
            other => panic!("{other:?}"),
        }
    }
}

proptest! {
    #[test]
    fn only_a_listed_and_admitted_account_type_is_ever_admitted(
        account_type in prop_oneof![
            Just(Claim::Missing),
            Just(Claim::Valid(AccountType::Citizen)),
            Just(Claim::Valid(AccountType::Organisation)),
            "\\PC{0,4}".prop_map(Claim::Invalid),
        ],
        citizens_only in any::<bool>(),
    ) {
        let mut p = organisation();
        p.account_type = account_type.clone();
        let account_types = if citizens_only { CITIZENS } else { BOTH };
        let req = Requirement { level: Level1, account_types };
        if let Ok(a) = decide(&PolicyConfig::default(), &p, req, TODAY()) {
            prop_assert_eq!(Claim::Valid(a.account_type()), account_type);
            prop_assert!(account_types.contains(&a.account_type()));
        }
    }

    #[test]
    fn nothing_below_the_required_level_is_ever_admitted(
        level in prop_oneof![Just(Claim::Missing), Just(Claim::Valid(Level1)), Just(Claim::Valid(Level2)), "\\PC{0,4}".prop_map(Claim::Invalid)],
        idp in prop_oneof![Just(None), Just(Some("BCA".to_owned())), "\\PC{0,6}".prop_map(Some)],
        pid in proptest::option::of("[0-9]{10,13}"),
        required in prop_oneof![Just(Level1), Just(Level2)],
    ) {
        let mut p = citizen();
        p.level = level.clone();
        p.login_idp = idp.clone();
        p.personal_id = pid;
        if let Ok(a) = decide(&PolicyConfig::default(), &p, need(required), TODAY()) {
            prop_assert!(a.level >= required);
            prop_assert_eq!(idp.as_deref(), Some("BCA"));
            prop_assert_eq!(Claim::Valid(a.level), level);
        }
    }
}
