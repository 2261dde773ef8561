//! `[dpop]`: how DPoP proofs (RFC 9449) are judged — how old one may be and whether the
//! gateway's nonce is required in it.

use std::time::Duration;

use serde::Deserialize;

use super::duration::de_duration;
use super::ConfigError;

/// `[dpop]` of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpopSettings {
    /// A proof whose `iat` is older than this is refused; its `jti` is remembered this long
    /// (plus a few seconds of clock skew), so a replay within the window is refused too.
    #[serde(deserialize_with = "de_duration")]
    pub proof_max_age: Duration,
    /// Every proof must carry a nonce the gateway handed out (`DPoP-Nonce`, RFC 9449 §8): a
    /// proof made in advance, or by someone who stole the key for a moment, soon stops working.
    pub require_nonce: bool,
    /// How often the nonce changes. The current and the previous one are accepted, so a nonce
    /// lives between one and two of these.
    #[serde(deserialize_with = "de_duration")]
    pub nonce_rotation: Duration,
}

impl Default for DpopSettings {
    fn default() -> Self {
        Self {
            proof_max_age: Duration::from_secs(60),
            require_nonce: true,
            nonce_rotation: Duration::from_secs(300),
        }
    }
}

impl DpopSettings {
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.proof_max_age < Duration::from_secs(5)
            || self.proof_max_age > Duration::from_secs(600)
        {
            return Err(ConfigError::new(
                "dpop.proof_max_age",
                "must be between 5s and 10m (a proof is made just before its request)",
            ));
        }
        if self.nonce_rotation < Duration::from_secs(10)
            || self.nonce_rotation > Duration::from_secs(86_400)
        {
            return Err(ConfigError::new(
                "dpop.nonce_rotation",
                "must be between 10s and 24h",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pass_and_out_of_range_windows_are_refused_naming_the_key() {
        assert!(DpopSettings::default().check().is_ok());
        let short = DpopSettings {
            proof_max_age: Duration::from_secs(1),
            ..DpopSettings::default()
        };
        assert!(short
            .check()
            .unwrap_err()
            .to_string()
            .contains("dpop.proof_max_age"));
        let fast = DpopSettings {
            nonce_rotation: Duration::from_secs(1),
            ..DpopSettings::default()
        };
        assert!(fast
            .check()
            .unwrap_err()
            .to_string()
            .contains("dpop.nonce_rotation"));
    }
}
