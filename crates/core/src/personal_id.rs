use std::fmt;

use chrono::{Datelike, NaiveDate};

/// The 63 province codes of the place of birth registration (Circular 59/2021/TT-BCA, annex),
/// with the province's name. Sorted by code.
pub const PROVINCE_CODES: [(&str, &str); 63] = [
    ("001", "Hà Nội"),
    ("002", "Hà Giang"),
    ("004", "Cao Bằng"),
    ("006", "Bắc Kạn"),
    ("008", "Tuyên Quang"),
    ("010", "Lào Cai"),
    ("011", "Điện Biên"),
    ("012", "Lai Châu"),
    ("014", "Sơn La"),
    ("015", "Yên Bái"),
    ("017", "Hòa Bình"),
    ("019", "Thái Nguyên"),
    ("020", "Lạng Sơn"),
    ("022", "Quảng Ninh"),
    ("024", "Bắc Giang"),
    ("025", "Phú Thọ"),
    ("026", "Vĩnh Phúc"),
    ("027", "Bắc Ninh"),
    ("030", "Hải Dương"),
    ("031", "Hải Phòng"),
    ("033", "Hưng Yên"),
    ("034", "Thái Bình"),
    ("035", "Hà Nam"),
    ("036", "Nam Định"),
    ("037", "Ninh Bình"),
    ("038", "Thanh Hóa"),
    ("040", "Nghệ An"),
    ("042", "Hà Tĩnh"),
    ("044", "Quảng Bình"),
    ("045", "Quảng Trị"),
    ("046", "Thừa Thiên Huế"),
    ("048", "Đà Nẵng"),
    ("049", "Quảng Nam"),
    ("051", "Quảng Ngãi"),
    ("052", "Bình Định"),
    ("054", "Phú Yên"),
    ("056", "Khánh Hòa"),
    ("058", "Ninh Thuận"),
    ("060", "Bình Thuận"),
    ("062", "Kon Tum"),
    ("064", "Gia Lai"),
    ("066", "Đắk Lắk"),
    ("067", "Đắk Nông"),
    ("068", "Lâm Đồng"),
    ("070", "Bình Phước"),
    ("072", "Tây Ninh"),
    ("074", "Bình Dương"),
    ("075", "Đồng Nai"),
    ("077", "Bà Rịa - Vũng Tàu"),
    ("079", "Hồ Chí Minh"),
    ("080", "Long An"),
    ("082", "Tiền Giang"),
    ("083", "Bến Tre"),
    ("084", "Trà Vinh"),
    ("086", "Vĩnh Long"),
    ("087", "Đồng Tháp"),
    ("089", "An Giang"),
    ("091", "Kiên Giang"),
    ("092", "Cần Thơ"),
    ("093", "Hậu Giang"),
    ("094", "Sóc Trăng"),
    ("095", "Bạc Liêu"),
    ("096", "Cà Mau"),
];

/// The name of a province code (`"052"` → `"Bình Định"`).
pub fn province_name(code: &str) -> Option<&'static str> {
    PROVINCE_CODES
        .binary_search_by(|(c, _)| (*c).cmp(code))
        .ok()
        .map(|i| PROVINCE_CODES[i].1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonalIdError {
    #[error("a personal ID number has 12 digits, got {0} characters")]
    WrongLength(usize),
    #[error("a personal ID number has only digits")]
    NotDigits,
    #[error("unknown province code {0}")]
    UnknownProvince(String),
    #[error("the number says born in {in_number}, the birth date says {in_birthdate}")]
    BirthYearMismatch { in_number: i32, in_birthdate: i32 },
}

impl PersonalIdError {
    /// A stable machine code for reports and refusal reasons.
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongLength(_) | Self::NotDigits => "format",
            Self::UnknownProvince(_) => "unknown_province",
            Self::BirthYearMismatch { .. } => "birth_year_mismatch",
        }
    }
}

/// A personal ID number (số định danh cá nhân): 12 digits; digits 1–3 the province of birth
/// registration, digit 4 century and sex, digits 5–6 the last two digits of the birth year, the
/// last six free. `Display` and `Debug` show it masked (`052*******81`); the raw number is only
/// reachable through [`PersonalId::expose`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonalId([u8; 12]);

impl PersonalId {
    /// Parses and validates the number on its own (format, province, century digit).
    pub fn parse(s: &str) -> Result<Self, PersonalIdError> {
        let bytes = s.as_bytes();
        if bytes.len() != 12 {
            // Count characters, not bytes, so the message matches what a person typed.
            let chars = s.chars().count();
            if chars == 12 {
                return Err(PersonalIdError::NotDigits);
            }
            return Err(PersonalIdError::WrongLength(chars));
        }
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(PersonalIdError::NotDigits);
        }
        let province = &s[0..3];
        if province_name(province).is_none() {
            return Err(PersonalIdError::UnknownProvince(province.to_owned()));
        }
        let mut digits = [0u8; 12];
        digits.copy_from_slice(bytes);
        Ok(Self(digits))
    }

    /// Parses, and when a birth date is known checks that the century and year in the number
    /// are the birth date's.
    pub fn parse_with_birthdate(
        s: &str,
        birthdate: Option<NaiveDate>,
    ) -> Result<Self, PersonalIdError> {
        let id = Self::parse(s)?;
        if let Some(date) = birthdate {
            id.check_birthdate(date)?;
        }
        Ok(id)
    }

    pub fn check_birthdate(&self, date: NaiveDate) -> Result<(), PersonalIdError> {
        if self.birth_year() != date.year() {
            return Err(PersonalIdError::BirthYearMismatch {
                in_number: self.birth_year(),
                in_birthdate: date.year(),
            });
        }
        Ok(())
    }

    fn digit(&self, i: usize) -> u8 {
        self.0[i] - b'0'
    }

    /// The three-digit province code of birth registration.
    pub fn province_code(&self) -> &str {
        // The bytes were checked to be ASCII digits in `parse`.
        std::str::from_utf8(&self.0[0..3]).unwrap_or("000")
    }

    pub fn province(&self) -> &'static str {
        province_name(self.province_code()).unwrap_or("")
    }

    /// Digit 4: even = male, odd = female.
    pub fn sex(&self) -> Sex {
        if self.digit(3).is_multiple_of(2) {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// The birth year the number encodes: century from digit 4 (0/1 → 1900s, 2/3 → 2000s,
    /// 4/5 → 2100s, …), year within the century from digits 5–6.
    pub fn birth_year(&self) -> i32 {
        let century = 1900 + 100 * i32::from(self.digit(3) / 2);
        century + i32::from(self.digit(4)) * 10 + i32::from(self.digit(5))
    }

    /// The raw 12 digits. Call only where the number may be released: the `personal_id` scope,
    /// encryption at rest, the keyed lookup hash.
    pub fn expose(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// `052*******81`: the province code and the last two digits.
    pub fn masked(&self) -> String {
        mask(self.expose())
    }
}

/// Masks any string the way personal ID numbers are shown in logs: first three and last two
/// characters kept when it is long enough, the rest replaced by `*`. For raw, unvalidated input.
pub fn mask(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < 3 || i >= n - 2 { *c } else { '*' })
        .collect()
}

impl fmt::Display for PersonalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for PersonalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonalId({})", self.masked())
    }
}

impl std::str::FromStr for PersonalId {
    type Err = PersonalIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn there_are_sixty_three_sorted_unique_province_codes() {
        assert_eq!(PROVINCE_CODES.len(), 63);
        assert!(PROVINCE_CODES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(province_name("052"), Some("Bình Định"));
        assert_eq!(province_name("003"), None);
    }

    #[test]
    fn valid_number_is_parsed_and_decoded() {
        let id = PersonalId::parse("052190012381").unwrap();
        assert_eq!(id.province_code(), "052");
        assert_eq!(id.province(), "Bình Định");
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.birth_year(), 1990);
        let id = PersonalId::parse("001203000001").unwrap();
        assert_eq!(id.birth_year(), 2003);
        assert_eq!(id.sex(), Sex::Male);
    }

    #[test]
    fn display_and_debug_are_masked() {
        let id = PersonalId::parse("052190012381").unwrap();
        assert_eq!(id.to_string(), "052*******81");
        assert_eq!(format!("{id:?}"), "PersonalId(052*******81)");
        assert!(!format!("{id:?}").contains("0123"));
        assert_eq!(id.expose(), "052190012381");
    }

    #[test]
    fn malformed_numbers_are_refused_with_a_reason() {
        assert_eq!(
            PersonalId::parse("05219001238"),
            Err(PersonalIdError::WrongLength(11))
        );
        assert_eq!(
            PersonalId::parse("0521900123811"),
            Err(PersonalIdError::WrongLength(13))
        );
        assert_eq!(
            PersonalId::parse("05219001238a"),
            Err(PersonalIdError::NotDigits)
        );
        assert_eq!(
            PersonalId::parse("05219001238٣"),
            Err(PersonalIdError::NotDigits)
        );
        assert_eq!(
            PersonalId::parse("003190012381"),
            Err(PersonalIdError::UnknownProvince("003".into()))
        );
        assert_eq!(
            PersonalId::parse("097190012381"),
            Err(PersonalIdError::UnknownProvince("097".into()))
        );
        assert_eq!(PersonalId::parse(""), Err(PersonalIdError::WrongLength(0)));
    }

    #[test]
    fn birth_date_must_agree_with_century_and_year() {
        assert!(PersonalId::parse_with_birthdate("052190012381", Some(date(1990, 5, 1))).is_ok());
        assert_eq!(
            PersonalId::parse_with_birthdate("052190012381", Some(date(1991, 5, 1))),
            Err(PersonalIdError::BirthYearMismatch {
                in_number: 1990,
                in_birthdate: 1991
            })
        );
        // Same two digits, wrong century: 2 = 2000s.
        assert!(PersonalId::parse_with_birthdate("052290012381", Some(date(1990, 5, 1))).is_err());
        assert!(PersonalId::parse_with_birthdate("052290012381", None).is_ok());
    }

    #[test]
    fn mask_keeps_short_strings_hidden() {
        assert_eq!(mask("123"), "***");
        assert_eq!(mask("052190012381"), "052*******81");
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,20}") {
            let _ = PersonalId::parse(&s);
        }

        #[test]
        fn every_well_formed_number_parses_and_round_trips(
            p in 0usize..63, century in 0u8..10, yy in 0u8..100, rest in 0u32..1_000_000
        ) {
            let s = format!("{}{}{:02}{:06}", PROVINCE_CODES[p].0, century, yy, rest);
            let id = PersonalId::parse(&s).unwrap();
            prop_assert_eq!(id.expose(), s.as_str());
            prop_assert_eq!(id.birth_year(), 1900 + 100 * i32::from(century / 2) + i32::from(yy));
            let masked = id.to_string();
            prop_assert_eq!(&masked[..3], &s[..3]);
            prop_assert_eq!(&masked[10..], &s[10..]);
            prop_assert_eq!(masked.matches('*').count(), 7);
            let birth = NaiveDate::from_ymd_opt(id.birth_year(), 1, 1).unwrap();
            prop_assert!(PersonalId::parse_with_birthdate(&s, Some(birth)).is_ok());
            let other = NaiveDate::from_ymd_opt(id.birth_year() + 1, 1, 1).unwrap();
            prop_assert!(PersonalId::parse_with_birthdate(&s, Some(other)).is_err());
        }

        #[test]
        fn unknown_province_codes_are_refused(code in 0u16..1000, rest in 0u64..1_000_000_000) {
            let c = format!("{code:03}");
            prop_assume!(province_name(&c).is_none());
            let s = format!("{c}{rest:09}");
            prop_assert_eq!(PersonalId::parse(&s), Err(PersonalIdError::UnknownProvince(c)));
        }

        #[test]
        fn non_digit_anywhere_is_refused(pos in 0usize..12, ch in "[^0-9]") {
            let mut s: Vec<char> = "052190012381".chars().collect();
            s[pos] = ch.chars().next().unwrap();
            let s: String = s.into_iter().collect();
            prop_assert!(PersonalId::parse(&s).is_err());
        }
    }
}
