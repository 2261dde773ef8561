//! Latency samples and errors of one run.

use std::time::Duration;

/// Latency percentiles of the measured operations, in milliseconds (nearest rank over every
/// sample, sorted).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest operation.
    pub max_ms: f64,
}

impl Latency {
    /// The percentiles of `samples` (sorted here); all zero without samples.
    pub fn of(samples: &mut [Duration]) -> Latency {
        samples.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let rank = |p: f64| {
            // Nearest rank: the smallest sample with at least p of the samples at or below it.
            let n = samples.len();
            let k = (p * n as f64).ceil() as usize;
            samples.get(k.clamp(1, n) - 1).copied().map(ms)
        };
        match samples.last() {
            None => Latency::default(),
            Some(max) => Latency {
                p50_ms: rank(0.50).unwrap_or(0.0),
                p99_ms: rank(0.99).unwrap_or(0.0),
                max_ms: ms(*max),
            },
        }
    }
}

/// How many distinct error messages are kept.
const KEPT_MESSAGES: usize = 5;

/// Failed operations: their count and the first few distinct messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorLog {
    /// Every failure.
    pub count: u64,
    /// The first distinct messages, in order of first appearance.
    pub first: Vec<String>,
}

impl ErrorLog {
    /// Counts one failure with its message.
    pub fn add(&mut self, message: String) {
        self.count += 1;
        if self.first.len() < KEPT_MESSAGES && !self.first.contains(&message) {
            self.first.push(message);
        }
    }

    /// Adds another log's failures to this one.
    pub fn merge(&mut self, other: ErrorLog) {
        self.count += other.count;
        for m in other.first {
            if self.first.len() < KEPT_MESSAGES && !self.first.contains(&m) {
                self.first.push(m);
            }
        }
    }
}

/// What one virtual user measured.
#[derive(Debug, Default)]
pub(crate) struct UserStats {
    pub(crate) samples: Vec<Duration>,
    pub(crate) errors: ErrorLog,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut s: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let l = Latency::of(&mut s);
        assert_eq!((l.p50_ms, l.p99_ms, l.max_ms), (50.0, 99.0, 100.0));
        let mut one = vec![Duration::from_millis(7)];
        assert_eq!(Latency::of(&mut one).p50_ms, 7.0);
        assert_eq!(Latency::of(&mut []), Latency::default());
    }

    #[test]
    fn errors_keep_distinct_first_messages() {
        let mut e = ErrorLog::default();
        for m in ["a", "b", "a", "c", "d", "e", "f"] {
            e.add(m.into());
        }
        assert_eq!(e.count, 7);
        assert_eq!(e.first, ["a", "b", "c", "d", "e"]);
    }
}
