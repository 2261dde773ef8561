//! The login decision. Pure: it reads an [`UpstreamIdentity`], what the client requires and the
//! date, and returns either an admitted login or a refusal with a stable reason code. No I/O.
//!
//! Rules, in the order they are checked (the first failing one is the reason):
//! 1. the account system (`login_idp`): from `vneid_only_from` on, only `vneid_login_idp`
//!    (VNeID, `BCA`) is accepted — accounts of the old national portal and of Vietnam Post are
//!    refused;
//! 2. the level (`IAL`) must be present and a valid integer level (fail closed), and at least
//!    the level required: max(client `min_level`, level asked with `acr_values`);
//! 3. the personal ID number must be present and valid (format, province code), and agree with
//!    the birth date when one is given; a birth date that cannot be read is a refusal too, since
//!    the number could not be checked against it.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use vneid_core::{AssuranceLevel, Claim, PersonalId, PersonalIdError, UpstreamIdentity};

/// The `[policy]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// From this date on only `vneid_login_idp` is accepted.
    pub vneid_only_from: NaiveDate,
    /// The `loginIdp` value of VNeID accounts.
    pub vneid_login_idp: String,
    /// Level required of clients that set no `min_level`.
    pub default_min_level: AssuranceLevel,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            vneid_only_from: NaiveDate::from_ymd_opt(2024, 7, 1).unwrap_or_default(),
            vneid_login_idp: "BCA".to_owned(),
            default_min_level: AssuranceLevel::Level2,
        }
    }
}

/// The level a login must reach: the client's minimum (or the default), raised by any of the
/// gateway's own `acr` values the client asked for in `acr_values`. Values the gateway does not
/// know are ignored, as OpenID Connect Core §3.1.2.1 makes `acr_values` a voluntary request; a
/// request for level 1 never lowers a client's minimum.
pub fn required_level(
    config: &PolicyConfig,
    client_min_level: Option<AssuranceLevel>,
    acr_values: Option<&str>,
) -> AssuranceLevel {
    let base = client_min_level.unwrap_or(config.default_min_level);
    acr_values
        .unwrap_or("")
        .split_ascii_whitespace()
        .filter_map(|v| AssuranceLevel::from_acr(v).ok())
        .fold(base, Ord::max)
}

/// Why a login was refused. `code()` is stable: it is the metric label, the audit reason and
/// the `error_description` prefix the portal sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The account system is not accepted on this date (Vietnam Post, old national portal).
    AccountSystemNotAccepted {
        login_idp: Option<String>,
    },
    /// No level in userinfo.
    LevelMissing,
    /// A level that is not 1 or 2.
    LevelInvalid,
    /// A real level, but lower than required.
    LevelTooLow {
        have: AssuranceLevel,
        need: AssuranceLevel,
    },
    PersonalIdMissing,
    PersonalIdInvalid(PersonalIdError),
    BirthdateInvalid,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::AccountSystemNotAccepted { .. } => "account_system_not_accepted",
            Self::LevelMissing => "level_missing",
            Self::LevelInvalid => "level_invalid",
            Self::LevelTooLow { .. } => "level_too_low",
            Self::PersonalIdMissing => "personal_id_missing",
            Self::PersonalIdInvalid(PersonalIdError::BirthYearMismatch { .. }) => {
                "personal_id_birth_year_mismatch"
            }
            Self::PersonalIdInvalid(_) => "personal_id_invalid",
            Self::BirthdateInvalid => "birthdate_invalid",
        }
    }

    /// Every code `code()` can return, for metrics and documentation.
    pub const CODES: [&'static str; 8] = [
        "account_system_not_accepted",
        "level_missing",
        "level_invalid",
        "level_too_low",
        "personal_id_missing",
        "personal_id_invalid",
        "personal_id_birth_year_mismatch",
        "birthdate_invalid",
    ];

    /// An English sentence for `error_description` (portal developers read it in logs).
    pub fn description(&self) -> String {
        match self {
            Self::AccountSystemNotAccepted { login_idp } => format!(
                "only VNeID accounts are accepted; this login used account system {:?}",
                login_idp.as_deref().unwrap_or("unknown")
            ),
            Self::LevelMissing => "the upstream sent no identity assurance level".to_owned(),
            Self::LevelInvalid => {
                "the upstream sent an unusable identity assurance level".to_owned()
            }
            Self::LevelTooLow { have, need } => {
                format!("a level-{need} VNeID account is required; this account is level {have}")
            }
            Self::PersonalIdMissing => "the upstream sent no personal ID number".to_owned(),
            Self::PersonalIdInvalid(e) => format!("the personal ID number is not valid: {e}"),
            Self::BirthdateInvalid => {
                "the upstream sent a birth date that cannot be read".to_owned()
            }
        }
    }
}

/// A login the policy lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub personal_id: PersonalId,
    pub level: AssuranceLevel,
    pub birthdate: Option<NaiveDate>,
}

/// Decides one login. `today` is the date in the province (the caller converts its clock).
pub fn decide(
    config: &PolicyConfig,
    identity: &UpstreamIdentity,
    required: AssuranceLevel,
    today: NaiveDate,
) -> Result<Admitted, Refusal> {
    if today >= config.vneid_only_from
        && identity.login_idp.as_deref() != Some(config.vneid_login_idp.as_str())
    {
        return Err(Refusal::AccountSystemNotAccepted {
            login_idp: identity.login_idp.clone(),
        });
    }
    let level = match &identity.level {
        Claim::Missing => return Err(Refusal::LevelMissing),
        Claim::Invalid(_) => return Err(Refusal::LevelInvalid),
        Claim::Valid(l) => *l,
    };
    if level < required {
        return Err(Refusal::LevelTooLow {
            have: level,
            need: required,
        });
    }
    let birthdate = match &identity.birthdate {
        Claim::Missing => None,
        Claim::Invalid(_) => return Err(Refusal::BirthdateInvalid),
        Claim::Valid(d) => Some(*d),
    };
    let raw = identity
        .personal_id
        .as_deref()
        .ok_or(Refusal::PersonalIdMissing)?;
    let personal_id =
        PersonalId::parse_with_birthdate(raw, birthdate).map_err(Refusal::PersonalIdInvalid)?;
    Ok(Admitted {
        personal_id,
        level,
        birthdate,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use AssuranceLevel::{Level1, Level2};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
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
            account_type: Some("1".into()),
            tech_id: None,
        }
    }

    const TODAY: fn() -> NaiveDate = || date(2026, 11, 27);

    #[test]
    fn level_two_vneid_citizen_is_admitted() {
        let a = decide(&PolicyConfig::default(), &citizen(), Level2, TODAY()).unwrap();
        assert_eq!(a.level, Level2);
        assert_eq!(a.personal_id.expose(), "052090000123");
    }

    #[test]
    fn level_one_account_is_refused_where_level_two_is_required() {
        let mut p = citizen();
        p.level = Claim::Valid(Level1);
        assert_eq!(
            decide(&PolicyConfig::default(), &p, Level2, TODAY()),
            Err(Refusal::LevelTooLow {
                have: Level1,
                need: Level2
            })
        );
        assert!(decide(&PolicyConfig::default(), &p, Level1, TODAY()).is_ok());
    }

    #[test]
    fn missing_or_unusable_level_fails_closed() {
        let mut p = citizen();
        p.level = Claim::Missing;
        assert_eq!(
            decide(&PolicyConfig::default(), &p, Level1, TODAY()),
            Err(Refusal::LevelMissing)
        );
        p.level = Claim::Invalid("2a".into());
        assert_eq!(
            decide(&PolicyConfig::default(), &p, Level1, TODAY()),
            Err(Refusal::LevelInvalid)
        );
    }

    #[test]
    fn vietnam_post_and_old_portal_accounts_are_refused_after_the_cutover() {
        for idp in [Some("VNPOST"), Some("DVCQG"), None] {
            let mut p = citizen();
            p.login_idp = idp.map(str::to_owned);
            let r = decide(&PolicyConfig::default(), &p, Level2, TODAY()).unwrap_err();
            assert_eq!(r.code(), "account_system_not_accepted");
            // The day before the cut-over they were still accepted.
            assert!(decide(&PolicyConfig::default(), &p, Level2, date(2024, 6, 30)).is_ok());
            // And on the day itself they are not.
            assert!(decide(&PolicyConfig::default(), &p, Level2, date(2024, 7, 1)).is_err());
        }
    }

    #[test]
    fn malformed_personal_id_is_refused() {
        let mut p = citizen();
        p.personal_id = Some("05209000012".into());
        assert_eq!(
            decide(&PolicyConfig::default(), &p, Level2, TODAY())
                .unwrap_err()
                .code(),
            "personal_id_invalid"
        );
        p.personal_id = None;
        assert_eq!(
            decide(&PolicyConfig::default(), &p, Level2, TODAY()),
            Err(Refusal::PersonalIdMissing)
        );
    }

    #[test]
    fn birth_year_that_disagrees_with_the_number_is_refused() {
        let mut p = citizen();
        p.birthdate = Claim::Valid(date(1985, 3, 15));
        assert_eq!(
            decide(&PolicyConfig::default(), &p, Level2, TODAY())
                .unwrap_err()
                .code(),
            "personal_id_birth_year_mismatch"
        );
        p.birthdate = Claim::Invalid("15/03/1990".into());
        assert_eq!(
            decide(&PolicyConfig::default(), &p, Level2, TODAY()),
            Err(Refusal::BirthdateInvalid)
        );
        p.birthdate = Claim::Missing;
        assert!(decide(&PolicyConfig::default(), &p, Level2, TODAY()).is_ok());
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
        ];
        for r in all {
            assert!(Refusal::CODES.contains(&r.code()), "{}", r.code());
            assert!(!r.description().is_empty());
        }
    }

    proptest! {
        #[test]
        fn nothing_below_the_required_level_is_ever_admitted(
            level in prop_oneof![Just(Claim::Missing), Just(Claim::Valid(Level1)), Just(Claim::Valid(Level2)), "\\PC{0,4}".prop_map(Claim::Invalid)],
            idp in prop_oneof![Just(None), Just(Some("BCA".to_owned())), "\\PC{0,6}".prop_map(Some)],
            pid in proptest::option::of("[0-9]{10,13}"),
            need in prop_oneof![Just(Level1), Just(Level2)],
        ) {
            let mut p = citizen();
            p.level = level.clone();
            p.login_idp = idp.clone();
            p.personal_id = pid;
            if let Ok(a) = decide(&PolicyConfig::default(), &p, need, TODAY()) {
                prop_assert!(a.level >= need);
                prop_assert_eq!(idp.as_deref(), Some("BCA"));
                prop_assert_eq!(Claim::Valid(a.level), level);
            }
        }
    }
}
