use std::fmt;

use serde::{Deserialize, Serialize};

/// Identity assurance level of a VNeID account (Decree 69/2024/NĐ-CP): level 1 is registered
/// online from the app; level 2 was verified in person (face and fingerprints against the chip
/// ID card).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum AssuranceLevel {
    Level1 = 1,
    Level2 = 2,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LevelError {
    #[error("assurance level must be 1 or 2, got {0}")]
    OutOfRange(i64),
    #[error("unknown acr value {0:?}")]
    UnknownAcr(String),
}

impl AssuranceLevel {
    pub const ACR_PREFIX: &'static str = "urn:vneid:loa:";

    pub fn from_number(n: i64) -> Result<Self, LevelError> {
        match n {
            1 => Ok(Self::Level1),
            2 => Ok(Self::Level2),
            other => Err(LevelError::OutOfRange(other)),
        }
    }

    pub fn number(self) -> u8 {
        self as u8
    }

    /// The `acr` value the gateway puts in its tokens: `urn:vneid:loa:1` or `urn:vneid:loa:2`.
    pub fn acr(self) -> &'static str {
        match self {
            Self::Level1 => "urn:vneid:loa:1",
            Self::Level2 => "urn:vneid:loa:2",
        }
    }

    /// Parses one of the gateway's own `acr` values (as a client sends in `acr_values`).
    pub fn from_acr(acr: &str) -> Result<Self, LevelError> {
        match acr {
            "urn:vneid:loa:1" => Ok(Self::Level1),
            "urn:vneid:loa:2" => Ok(Self::Level2),
            other => Err(LevelError::UnknownAcr(other.to_owned())),
        }
    }

    pub fn all() -> [Self; 2] {
        [Self::Level1, Self::Level2]
    }
}

impl TryFrom<u8> for AssuranceLevel {
    type Error = LevelError;
    fn try_from(n: u8) -> Result<Self, Self::Error> {
        Self::from_number(i64::from(n))
    }
}

impl From<AssuranceLevel> for u8 {
    fn from(l: AssuranceLevel) -> u8 {
        l.number()
    }
}

impl fmt::Display for AssuranceLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn acr_round_trips_and_orders() {
        for l in AssuranceLevel::all() {
            assert_eq!(AssuranceLevel::from_acr(l.acr()), Ok(l));
        }
        assert!(AssuranceLevel::Level2 > AssuranceLevel::Level1);
        assert!(AssuranceLevel::from_acr("LoA1").is_err());
        assert!(AssuranceLevel::from_number(3).is_err());
        assert!(AssuranceLevel::from_number(0).is_err());
    }
}
