//! The standard `process_*` metrics of a Prometheus exporter, read from `/proc/self` at each
//! scrape (Linux; elsewhere the collector reports nothing): CPU seconds, resident and virtual
//! memory, open and maximum file descriptors, threads, start time.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Gauge, IntGauge, Opts};

/// Reads `/proc/self` when Prometheus scrapes.
pub struct ProcessCollector {
    cpu_seconds: Counter,
    resident: IntGauge,
    virtual_memory: IntGauge,
    open_fds: IntGauge,
    max_fds: IntGauge,
    threads: IntGauge,
    start_time: Gauge,
    descs: Vec<Desc>,
}

/// What `/proc/self/stat` says of the process: CPU ticks (user + system), threads, start
/// (ticks after boot), virtual memory in bytes, resident memory in pages.
struct Stat {
    cpu_ticks: u64,
    threads: i64,
    start_ticks: u64,
    vsize: i64,
    rss_pages: i64,
}

/// Clock ticks per second of `/proc/*/stat` (`sysconf(_SC_CLK_TCK)`): 100 on Linux.
const TICKS: f64 = 100.0;
/// Page size for `rss`: 4 KiB on the platforms this runs on.
const PAGE: i64 = 4096;

fn parse_stat(text: &str) -> Option<Stat> {
    // The command name is in parentheses and may hold spaces: fields count from after it.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // Fields 3.. of proc(5), so index = field - 3.
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        cpu_ticks: num(11)? + num(12)?,
        threads: i64::try_from(num(17)?).ok()?,
        start_ticks: num(19)?,
        vsize: i64::try_from(num(20)?).ok()?,
        rss_pages: i64::try_from(num(21)?).ok()?,
    })
}

/// The soft limit of open files, from `/proc/self/limits`.
fn parse_max_fds(limits: &str) -> Option<i64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Seconds since the epoch at boot, from `/proc/stat`'s `btime`.
fn boot_time(stat: &str) -> Option<f64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

impl ProcessCollector {
    pub fn new() -> Result<Self, prometheus::Error> {
        let cpu_seconds = Counter::with_opts(Opts::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        ))?;
        let resident = IntGauge::new(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        )?;
        let virtual_memory = IntGauge::new(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
        )?;
        let open_fds = IntGauge::new("process_open_fds", "Number of open file descriptors.")?;
        let max_fds = IntGauge::new(
            "process_max_fds",
            "Maximum number of open file descriptors.",
        )?;
        let threads = IntGauge::new("process_threads", "Number of OS threads in the process.")?;
        let start_time = Gauge::new(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
        )?;
        let descs = [
            cpu_seconds.desc(),
            resident.desc(),
            virtual_memory.desc(),
            open_fds.desc(),
            max_fds.desc(),
            threads.desc(),
            start_time.desc(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        Ok(Self {
            cpu_seconds,
            resident,
            virtual_memory,
            open_fds,
            max_fds,
            threads,
            start_time,
            descs,
        })
    }
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(stat) = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|t| parse_stat(&t))
        else {
            return Vec::new();
        };
        let cpu = stat.cpu_ticks as f64 / TICKS;
        // A counter only goes up: add what was spent since the last scrape.
        let seen = self.cpu_seconds.get();
        if cpu > seen {
            self.cpu_seconds.inc_by(cpu - seen);
        }
        self.resident.set(stat.rss_pages * PAGE);
        self.virtual_memory.set(stat.vsize);
        self.threads.set(stat.threads);
        if let Some(boot) = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| boot_time(&t))
        {
            self.start_time.set(boot + stat.start_ticks as f64 / TICKS);
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds
                .set(i64::try_from(dir.count()).unwrap_or(i64::MAX));
        }
        if let Some(max) = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|t| parse_max_fds(&t))
        {
            self.max_fds.set(max);
        }
        let mut out = Vec::new();
        out.extend(self.cpu_seconds.collect());
        out.extend(self.resident.collect());
        out.extend(self.virtual_memory.collect());
        out.extend(self.open_fds.collect());
        out.extend(self.max_fds.collect());
        out.extend(self.threads.collect());
        out.extend(self.start_time.collect());
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_a_command_name_with_spaces() {
        // proc(5): pid (comm) state ppid ... utime(14) stime(15) ... num_threads(20) ...
        // starttime(22) vsize(23) rss(24)
        let line = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 1234 \
                    104857600 2560 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.cpu_ticks, 300);
        assert_eq!(s.threads, 7);
        assert_eq!(s.start_ticks, 1234);
        assert_eq!(s.vsize, 104_857_600);
        assert_eq!(s.rss_pages, 2560);
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn the_process_metrics_of_this_process_are_plausible() {
        let c = ProcessCollector::new().unwrap();
        let families = c.collect();
        let get = |name: &str| {
            families
                .iter()
                .find(|f| f.name() == name)
                .unwrap_or_else(|| panic!("{name} missing"))
                .get_metric()[0]
                .clone()
        };
        assert!(get("process_resident_memory_bytes").get_gauge().get_value() > 1_000_000.0);
        assert!(get("process_open_fds").get_gauge().get_value() >= 3.0);
        assert!(get("process_max_fds").get_gauge().get_value() >= 64.0);
        assert!(get("process_threads").get_gauge().get_value() >= 1.0);
        let started = get("process_start_time_seconds").get_gauge().get_value();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            started > now - 86_400.0 && started <= now + 1.0,
            "{started} vs {now}"
        );
    }

    #[test]
    fn max_open_files_is_the_soft_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits), Some(1024));
    }
}
