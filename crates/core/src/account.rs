use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of account logged in at the national broker: a citizen's (a person, with a
/// personal ID number) or an organisation's (an enterprise, identified by its enterprise or tax
/// code; never a person). The upstream's account-type field is mapped to this through its
/// `[upstreams.account_types]`; values it does not list are refused, never guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountType {
    Citizen,
    Organisation,
}

impl AccountType {
    /// Every account type, in the order they are listed.
    pub const ALL: [Self; 2] = [Self::Citizen, Self::Organisation];

    /// The name used in configuration, the `account_type` claim, audit events and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Citizen => "citizen",
            Self::Organisation => "organisation",
        }
    }

    /// Parses a name as [`AccountType::as_str`] writes it (exactly, lower case).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for AccountType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the upstream says about an organisation account, by the configured field names:
/// its identifier (the enterprise code, or else the tax code), its name and its legal
/// representative. Kept as received; absent fields stay `None`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganisationFacts {
    pub id: Option<String>,
    pub name: Option<String>,
    pub representative: Option<String>,
}

impl fmt::Debug for OrganisationFacts {
    // The representative is a person: their name stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrganisationFacts")
            .field("id", &self.id)
            .field("name", &self.name)
            .field(
                "representative",
                &self.representative.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_nothing_else_parses() {
        for t in AccountType::ALL {
            assert_eq!(AccountType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
        for bad in ["", "Citizen", "organization", "1", "2", " citizen"] {
            assert_eq!(AccountType::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn debug_hides_the_representative() {
        let o = OrganisationFacts {
            id: Some("0101234567".into()),
            name: Some("Công ty TNHH A".into()),
            representative: Some("Nguyễn Văn A".into()),
        };
        assert!(!format!("{o:?}").contains("Nguyễn"));
    }
}
