//! A run's figures, as text for people or one JSON object for scripts.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::procfs::ProcessMemory;
use super::stats::{ErrorLog, Latency};
use super::Mode;

/// What a run measured over its window (the warm-up excluded).
#[derive(Debug, Clone)]
pub struct Report {
    /// What the users did.
    pub mode: Mode,
    /// Whether their requests carried DPoP proofs (`--dpop`).
    pub dpop: bool,
    /// The gateways' base URLs.
    pub gateways: Vec<String>,
    /// Concurrent virtual users.
    pub users: usize,
    /// Length of the measured window, from its start until the last user stopped.
    pub seconds: f64,
    /// Successful operations started in the window.
    pub ops: u64,
    /// `ops / seconds`.
    pub ops_per_s: f64,
    /// Failed operations of the window and failed setup logins.
    pub errors: ErrorLog,
    /// Latency of the successful operations.
    pub latency: Latency,
    /// CPU and memory of the measured processes (`--pid`), if any were given.
    pub cpu: Option<CpuReport>,
}

/// CPU time and memory of the measured gateway processes.
#[derive(Debug, Clone)]
pub struct CpuReport {
    /// Clock ticks per second used to convert `/proc` times.
    pub clock_ticks: u64,
    /// User + system CPU seconds of all the processes over the window.
    pub cpu_seconds: f64,
    /// CPU milliseconds per successful operation (`None` without operations).
    pub cpu_ms_per_op: Option<f64>,
    /// Successful operations per CPU second (`None` without CPU time).
    pub ops_per_cpu_second: Option<f64>,
    /// Memory of each process at the end of the window.
    pub memory: Vec<ProcessMemory>,
}

impl CpuReport {
    /// The figures of `ticks` CPU ticks spent on `ops` operations.
    pub fn new(clock_ticks: u64, ticks: u64, ops: u64, memory: Vec<ProcessMemory>) -> Self {
        let cpu_seconds = ticks as f64 / clock_ticks.max(1) as f64;
        CpuReport {
            clock_ticks,
            cpu_seconds,
            cpu_ms_per_op: (ops > 0).then(|| cpu_seconds * 1000.0 / ops as f64),
            ops_per_cpu_second: (ticks > 0).then(|| ops as f64 / cpu_seconds),
            memory,
        }
    }
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

impl Report {
    /// One JSON object with every figure.
    pub fn to_json(&self) -> Value {
        let cpu = self.cpu.as_ref().map(|c| {
            json!({
                "clock_ticks": c.clock_ticks,
                "cpu_seconds": round(c.cpu_seconds, 3),
                "cpu_ms_per_op": c.cpu_ms_per_op.map(|x| round(x, 4)),
                "ops_per_cpu_second": c.ops_per_cpu_second.map(|x| round(x, 1)),
                "processes": c.memory.iter().map(|m| json!({
                    "pid": m.pid,
                    "rss_kib": m.rss_kib,
                    "peak_rss_kib": m.peak_kib,
                })).collect::<Vec<_>>(),
            })
        });
        json!({
            "mode": self.mode.as_str(),
            "dpop": self.dpop,
            "gateways": self.gateways,
            "users": self.users,
            "seconds": round(self.seconds, 3),
            "ops": self.ops,
            "ops_per_s": round(self.ops_per_s, 1),
            "errors": self.errors.count,
            "error_messages": self.errors.first,
            "p50_ms": round(self.latency.p50_ms, 3),
            "p99_ms": round(self.latency.p99_ms, 3),
            "max_ms": round(self.latency.max_ms, 3),
            "cpu": cpu,
        })
    }

    /// A few lines for people.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}{}: {} users on {} for {:.1} s",
            self.mode.as_str(),
            if self.dpop { " (DPoP)" } else { "" },
            self.users,
            self.gateways.join(", "),
            self.seconds
        );
        let _ = writeln!(
            s,
            "  ops {}  ops/s {:.1}  errors {}",
            self.ops, self.ops_per_s, self.errors.count
        );
        for m in &self.errors.first {
            let _ = writeln!(s, "    error: {m}");
        }
        let _ = writeln!(
            s,
            "  latency ms  p50 {:.2}  p99 {:.2}  max {:.2}",
            self.latency.p50_ms, self.latency.p99_ms, self.latency.max_ms
        );
        if let Some(c) = &self.cpu {
            let per_op = c
                .cpu_ms_per_op
                .map_or_else(|| "-".to_owned(), |x| format!("{x:.3}"));
            let per_cpu = c
                .ops_per_cpu_second
                .map_or_else(|| "-".to_owned(), |x| format!("{x:.0}"));
            let _ = writeln!(
                s,
                "  gateway CPU {:.2} s  ({per_op} ms/op, {per_cpu} ops per CPU-second; CLK_TCK {})",
                c.cpu_seconds, c.clock_ticks
            );
            for m in &c.memory {
                let _ = writeln!(
                    s,
                    "  pid {}  RSS {} KiB  peak RSS (VmHWM) {} KiB",
                    m.pid, m.rss_kib, m.peak_kib
                );
            }
        }
        s
    }
}
