//! CPU time and memory of gateway processes, from Linux's `/proc`.

use anyhow::Context as _;

/// Clock ticks per second of `/proc/PID/stat` times: `getconf CLK_TCK`, or 100 (the value on
/// every Linux architecture in use) when `getconf` cannot be run.
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t: &u64| t > 0)
        .unwrap_or(100)
}

/// User + system CPU time of some processes at one moment, in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuSnapshot {
    /// Sum of utime + stime over the processes.
    pub ticks: u64,
}

impl CpuSnapshot {
    /// The summed CPU time of `pids` now.
    pub fn take(pids: &[u32]) -> anyhow::Result<CpuSnapshot> {
        let mut ticks = 0;
        for &pid in pids {
            ticks += cpu_ticks(pid)?;
        }
        Ok(CpuSnapshot { ticks })
    }
}

/// utime + stime (fields 14 and 15 of `/proc/PID/stat`) of one process.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("--pid {pid}: {path}"))?;
    parse_stat_ticks(&text).with_context(|| format!("--pid {pid}: unexpected {path}"))
}

/// utime + stime of a `/proc/PID/stat` line. The command name (field 2) is in parentheses and
/// may hold spaces, so fields are counted after its closing parenthesis, where field 3 starts.
fn parse_stat_ticks(stat: &str) -> anyhow::Result<u64> {
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .context("no ')' after the command name")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> {
        fields
            .get(n - 3)
            .context("too few fields")?
            .parse::<u64>()
            .with_context(|| format!("field {n} is not a number"))
    };
    Ok(field(14)? + field(15)?)
}

/// Resident memory of one process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessMemory {
    /// The process id.
    pub pid: u32,
    /// Resident set size now (VmRSS), KiB.
    pub rss_kib: u64,
    /// Peak resident set size (VmHWM), KiB.
    pub peak_kib: u64,
}

impl ProcessMemory {
    /// The memory figures of `pid` now.
    pub fn of(pid: u32) -> anyhow::Result<ProcessMemory> {
        let path = format!("/proc/{pid}/status");
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("--pid {pid}: {path}"))?;
        let kib = |key: &str| -> anyhow::Result<u64> {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("--pid {pid}: no {key} in {path}"))
        };
        Ok(ProcessMemory {
            pid,
            rss_kib: kib("VmRSS:")?,
            peak_kib: kib("VmHWM:")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line = "4242 (gate way) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 9 0";
        assert_eq!(parse_stat_ticks(line).ok(), Some(287));
        assert!(parse_stat_ticks("4242 (x) S 1").is_err());
    }

    #[test]
    fn this_process_can_be_read() {
        let me = std::process::id();
        assert!(cpu_ticks(me).is_ok());
        let mem = ProcessMemory::of(me);
        assert!(mem.is_ok_and(|m| m.peak_kib >= m.rss_kib && m.rss_kib > 0));
        assert!(clock_ticks() > 0);
    }
}
