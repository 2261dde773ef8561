//! `[audit]`: how long audit events are kept and how often the chain's head is signed.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::duration::parse_duration;

/// `[audit]` of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Events older than this are deleted (once a day, by every replica; the first to get there
    /// does it) behind a signed checkpoint, so the rest of the chain stays verifiable. `None`
    /// (`retain = "forever"`) keeps every event.
    #[serde(deserialize_with = "de_retain")]
    pub retain: Option<Duration>,
    /// How often a replica signs the chain's head (a checkpoint) when events were added since
    /// the last one. A rewrite of the chain up to a checkpoint is detected even by someone who
    /// recomputes every hash; what came after the last one is protected by the hashes alone.
    #[serde(deserialize_with = "super::duration::de_duration")]
    pub checkpoint_every: Duration,
}

/// Five years: how long the gateway keeps audit events unless told otherwise.
pub const DEFAULT_RETAIN: Duration = Duration::from_secs(5 * 365 * 86400);

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            retain: Some(DEFAULT_RETAIN),
            checkpoint_every: Duration::from_secs(3600),
        }
    }
}

/// `"forever"` or a duration (`"5y"`, `"400d"`); zero is refused (it would delete everything).
fn de_retain<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim() == "forever" {
        return Ok(None);
    }
    let retain = parse_duration(&text).map_err(serde::de::Error::custom)?;
    if retain.is_zero() {
        return Err(serde::de::Error::custom(
            "a retention of zero would delete every audit event; use \"forever\" to keep them all",
        ));
    }
    Ok(Some(retain))
}
