//! The people who can log in to the simulated broker, read from TOML (`[[people]]` tables).

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::SimulatorError;

const EMBEDDED: &str = include_str!("../fixtures/people.toml");

/// A person known to the simulated VNeID, with what the broker says about them in userinfo.
///
/// Values are kept exactly as the broker would send them, including deliberately bad ones (a
/// malformed personal ID number, a birth date that disagrees with it, an `IAL` that is not an
/// integer): the simulator does not judge, the gateway must.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// The login name: số định danh cá nhân (`SoDinhDanh`), as typed in "Tài khoản".
    pub personal_id: String,
    pub password: String,
    /// The phone the OTP is "sent" to.
    pub phone: String,
    /// `HoVaTen`.
    pub full_name: String,
    /// `NgayThangNamSinh`, `yyyyMMdd` as the broker sends it.
    pub birth_date: String,
    /// `IAL` exactly as sent: normally the integer 1 or 2; absent means the record has no IAL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ial: Option<serde_json::Value>,
    /// `loginIdp`: `BCA` (VNeID), `VNPOST` (Vietnam Post), `DVCQG` (old national portal).
    #[serde(default = "default_login_idp")]
    pub login_idp: String,
    /// `LoaiTaiKhoan`: `"1"` citizen, `"2"` organisation.
    #[serde(default = "default_account_type")]
    pub account_type: String,
    /// `MaSoDoanhNghiep`: an organisation's enterprise code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_code: Option<String>,
    /// `MaSoThue`: an organisation's tax code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_code: Option<String>,
    /// `TenDoanhNghiep`: an organisation's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation_name: Option<String>,
    /// `NguoiDaiDien`: an organisation's legal representative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representative: Option<String>,
    /// `TechID`; derived from the personal ID number when left empty.
    #[serde(default)]
    pub tech_id: String,
    /// `sub`; derived from the personal ID number when left empty.
    #[serde(default)]
    pub sub: String,
    /// `loAs`: session-level, like `acr`; never the person's level.
    #[serde(default = "default_loas")]
    pub loas: String,
    /// What the record is for; shown on the phone page.
    #[serde(default)]
    pub note: String,
}

fn default_login_idp() -> String {
    "BCA".to_owned()
}

fn default_account_type() -> String {
    "1".to_owned()
}

fn default_loas() -> String {
    "LoA1".to_owned()
}

impl fmt::Debug for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Person")
            .field("personal_id", &vneid_core::mask(&self.personal_id))
            .field("password", &"[redacted]")
            .field("phone", &mask_phone(&self.phone))
            .field("ial", &self.ial)
            .field("login_idp", &self.login_idp)
            .field("account_type", &self.account_type)
            .finish_non_exhaustive()
    }
}

impl Person {
    /// Fills in `sub` and `TechID` when they were left empty, from a hash of the personal ID
    /// number so they stay the same from one run to the next.
    pub(crate) fn complete(mut self) -> Self {
        if self.sub.is_empty() {
            self.sub = derived_uuid("sub", &self.personal_id);
        }
        if self.tech_id.is_empty() {
            self.tech_id = derived_uuid("TechID", &self.personal_id);
        }
        self
    }

    /// The first problem with the record, as `field: what is wrong`.
    fn problem(&self) -> Option<String> {
        let required = [
            ("personal_id", &self.personal_id),
            ("password", &self.password),
            ("phone", &self.phone),
            ("full_name", &self.full_name),
            ("birth_date", &self.birth_date),
            ("login_idp", &self.login_idp),
            ("account_type", &self.account_type),
        ];
        for (name, value) in required {
            if value.trim().is_empty() {
                return Some(format!("field `{name}` is empty"));
            }
        }
        if self.phone.len() < 6 || !self.phone.bytes().all(|b| b.is_ascii_digit()) {
            return Some("field `phone` must be at least 6 digits".to_owned());
        }
        if self.personal_id.chars().any(char::is_whitespace) {
            return Some("field `personal_id` contains whitespace".to_owned());
        }
        None
    }
}

fn derived_uuid(kind: &str, personal_id: &str) -> String {
    let h = Sha256::digest(format!("vneid-simulator/{kind}/{personal_id}").as_bytes());
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `0901234123` → `09*****123`, as the OTP page shows it.
pub(crate) fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 6 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < 2 || i >= n - 3 { *c } else { '*' })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeopleFile {
    #[serde(default)]
    people: Vec<toml::Spanned<Person>>,
}

/// The demo people, from the `fixtures/people.toml` embedded in the crate (see the crate's
/// README for the table). The embedded file is checked by a test; should it ever fail to parse
/// the error is logged and nobody can log in.
pub fn default_people() -> Vec<Person> {
    match parse_people(EMBEDDED, "embedded people.toml") {
        Ok(people) => people,
        Err(e) => {
            tracing::error!(error = %e, "the embedded people fixture does not parse");
            Vec::new()
        }
    }
}

/// Reads people from a TOML file in the format of `fixtures/people.toml`. Errors name the file,
/// the line and the field.
pub fn load_people(path: &Path) -> Result<Vec<Person>, SimulatorError> {
    let text = std::fs::read_to_string(path).map_err(|source| SimulatorError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_people(&text, &path.display().to_string())
}

pub(crate) fn parse_people(text: &str, origin: &str) -> Result<Vec<Person>, SimulatorError> {
    let err = |message: String| SimulatorError::People {
        origin: origin.to_owned(),
        message,
    };
    let file: PeopleFile = toml::from_str(text).map_err(|e| err(one_line(&e.to_string())))?;
    let mut people: Vec<Person> = Vec::with_capacity(file.people.len());
    for (i, spanned) in file.people.into_iter().enumerate() {
        let line = line_of(text, spanned.span().start);
        let person = spanned.into_inner();
        if let Some(problem) = person.problem() {
            return Err(err(format!("line {line}: people[{i}]: {problem}")));
        }
        if people.iter().any(|p| p.personal_id == person.personal_id) {
            return Err(err(format!(
                "line {line}: people[{i}]: field `personal_id` repeats an earlier record"
            )));
        }
        people.push(person.complete());
    }
    Ok(people)
}

/// toml's messages span several lines (with a source excerpt); keep them readable in one log line.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_fixture_parses_and_has_every_kind_of_record() {
        let people = parse_people(EMBEDDED, "embedded").unwrap();
        assert!(people.len() >= 9);
        assert_eq!(default_people(), people);
        let by_id = |id: &str| people.iter().find(|p| p.personal_id == id).unwrap();
        let an = by_id("052090000123");
        assert_eq!(an.full_name, "Nguyễn Văn An");
        assert_eq!(an.ial, Some(serde_json::json!(2)));
        assert_eq!(an.login_idp, "BCA");
        assert!(people.iter().any(|p| p.ial.is_none()));
        assert!(people
            .iter()
            .any(|p| p.ial == Some(serde_json::json!("2a"))));
        assert!(people.iter().any(|p| p.login_idp == "VNPOST"));
        assert!(people.iter().any(|p| p.login_idp == "DVCQG"));
        assert!(people
            .iter()
            .any(|p| vneid_core::PersonalId::parse(&p.personal_id).is_err()));
        let organisation = people.iter().find(|p| p.account_type == "2").unwrap();
        assert_eq!(organisation.ial, Some(serde_json::json!(2)));
        assert!(organisation.enterprise_code.is_some() && organisation.tax_code.is_some());
        assert!(organisation.organisation_name.is_some() && organisation.representative.is_some());
        assert!(people
            .iter()
            .any(|p| !["1", "2"].contains(&p.account_type.as_str())));
        for p in &people {
            assert!(!p.sub.is_empty() && !p.tech_id.is_empty());
            assert!(!p.sub.contains(&p.personal_id));
        }
    }

    #[test]
    fn derived_identifiers_are_stable_and_distinct() {
        assert_eq!(
            derived_uuid("sub", "052090000123"),
            derived_uuid("sub", "052090000123")
        );
        assert_ne!(
            derived_uuid("sub", "052090000123"),
            derived_uuid("TechID", "052090000123")
        );
        assert_eq!(derived_uuid("sub", "x").len(), 36);
    }

    #[test]
    fn phone_is_masked_like_the_otp_page() {
        assert_eq!(mask_phone("0901234123"), "09*****123");
        assert_eq!(mask_phone("123"), "***");
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let text = "[[people]]\npersonal_id = \"052090000123\"\npassword = \"x\"\nphone = \"0900000000\"\nfull_name = \"A\"\nbirth_date = \"19900101\"\n\n[[people]]\npersonal_id = \"052090000124\"\npassword = \"\"\nphone = \"0900000000\"\nfull_name = \"B\"\nbirth_date = \"19900101\"\n";
        let e = parse_people(text, "t.toml").unwrap_err().to_string();
        assert!(e.contains("t.toml"), "{e}");
        assert!(e.contains("line 8"), "{e}");
        assert!(e.contains("password"), "{e}");

        let unknown = "[[people]]\npersonal_id = \"1\"\npasword = \"x\"\n";
        let e = parse_people(unknown, "u.toml").unwrap_err().to_string();
        assert!(e.contains("pasword") && e.contains("line 3"), "{e}");

        let missing = "[[people]]\npersonal_id = \"1\"\n";
        let e = parse_people(missing, "m.toml").unwrap_err().to_string();
        assert!(e.contains("password"), "{e}");

        let dup = "[[people]]\npersonal_id = \"1\"\npassword = \"x\"\nphone = \"0900000000\"\nfull_name = \"A\"\nbirth_date = \"1\"\n[[people]]\npersonal_id = \"1\"\npassword = \"x\"\nphone = \"0900000000\"\nfull_name = \"A\"\nbirth_date = \"1\"\n";
        let e = parse_people(dup, "d.toml").unwrap_err().to_string();
        assert!(e.contains("line 7") && e.contains("personal_id"), "{e}");
    }

    #[test]
    fn load_people_reports_a_missing_file() {
        let e = load_people(Path::new("/nonexistent/people.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/people.toml"));
    }

    #[test]
    fn debug_hides_password_and_personal_id() {
        let p = parse_people(EMBEDDED, "e").unwrap().remove(0);
        let d = format!("{p:?}");
        assert!(!d.contains(&p.password));
        assert!(!d.contains(&p.personal_id));
    }
}
