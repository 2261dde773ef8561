//! Durations in the configuration: `30s`, `10m`, `8h`, `2d`, `5y` (365-day years), `250ms` or a
//! number of seconds.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses `30s`, `10m`, `8h`, `2d`, `5y` (365-day years) or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (use 30s, 10m, 8h or 2d)"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "y" => 365 * 86400,
        "ms" => return Ok(Duration::from_millis(n)),
        _ => return Err(format!("{s:?} is not a duration (use 30s, 10m, 8h or 2d)")),
    };
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

pub(crate) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Secs(n) => Ok(Duration::from_secs(n)),
        Raw::Text(s) => parse_duration(&s).map_err(serde::de::Error::custom),
    }
}
