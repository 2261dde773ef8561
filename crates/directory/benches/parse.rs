//! Throughput of the directory parser on a generated 100,000-row account list.
//!
//! `cargo bench -p vneid-directory --bench parse` prints rows per second for CSV and JSON, the
//! median of 5 runs each (min and max beside it). Rows look like a unit's export: Vietnamese
//! names (some quoted with commas, some in NFD), valid and invalid personal ID numbers, both
//! birth-date forms, a few rejected rows. A benchmark, not a test: nothing here fails on a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use vneid_directory::parse::{parse_csv, parse_json, Parsed};

const ROWS: usize = 100_000;
const RUNS: usize = 5;

const SURNAMES: [&str; 6] = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh"];
const GIVEN: [&str; 6] = [
    "Văn An",
    "Thị Bình",
    "Minh Châu",
    "Đức Dũng",
    "Thu Hà",
    "Quốc Khánh",
];
const PROVINCES: [&str; 4] = ["001", "052", "079", "096"];

struct Row {
    username: String,
    full_name: String,
    unit_code: String,
    unit_name: &'static str,
    kind: &'static str,
    personal_id: String,
    birth_date: String,
    phone: String,
    email: String,
}

fn rows() -> Vec<Row> {
    (0..ROWS)
        .map(|i| {
            let year = 1950 + (i % 60);
            let mut full_name = format!("{} {}", SURNAMES[i % 6], GIVEN[(i / 6) % 6]);
            if i % 50 == 0 {
                full_name.push_str(", Jr");
            }
            if i % 20 == 0 {
                // NFD: "ễ" decomposed.
                full_name = full_name.replace('ễ', "e\u{302}\u{303}");
            }
            let personal_id = match i % 100 {
                0 => String::new(),
                1 => format!("{}", 52_000_000_000u64 + i as u64), // leading zero dropped
                2 => "7.9203E+11".to_owned(),
                _ => format!("{}0{:02}{:06}", PROVINCES[i % 4], year % 100, i),
            };
            let birth_date = if i % 2 == 0 {
                format!("{year}-{:02}-{:02}", 1 + i % 12, 1 + i % 28)
            } else {
                format!("{:02}/{:02}/{year}", 1 + i % 28, 1 + i % 12)
            };
            Row {
                username: if i % 1000 == 999 {
                    String::new()
                } else {
                    format!("user{i:06}")
                },
                full_name,
                unit_code: format!("UBND-{:03}", i % 150),
                unit_name: "UBND phường Quang Trung",
                kind: ["citizen", "staff", "organisation", "Citizen"][i % 4],
                personal_id,
                birth_date,
                phone: format!("09{:08}", i),
                email: format!("user{i}@quangtrung.gov.vn"),
            }
        })
        .collect()
}

fn csv(rows: &[Row]) -> Vec<u8> {
    let mut out = String::from(
        "\u{feff}username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email\r\n",
    );
    for r in rows {
        let name = if r.full_name.contains(',') {
            format!("\"{}\"", r.full_name)
        } else {
            r.full_name.clone()
        };
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}\r",
            r.username,
            name,
            r.unit_code,
            r.unit_name,
            r.kind,
            r.personal_id,
            r.birth_date,
            r.phone,
            r.email
        )
        .unwrap();
    }
    out.into_bytes()
}

fn json(rows: &[Row]) -> Vec<u8> {
    let array: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "username": r.username, "full_name": r.full_name, "unit_code": r.unit_code,
                "unit_name": r.unit_name, "kind": r.kind, "personal_id": r.personal_id,
                "birth_date": r.birth_date, "phone": r.phone, "email": r.email,
            })
        })
        .collect();
    serde_json::to_vec(&array).unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// CPU time of this thread in seconds (user + system), from `/proc/thread-self/stat`, in clock
/// ticks (normally 10 ms): on a busy machine wall time also counts waiting for a core.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // Fields 14 and 15 of the whole line (utime, stime) are 11 and 12 after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

type ParseFn = fn(&[u8]) -> Result<Parsed, vneid_directory::parse::FileError>;

fn run(what: &str, input: &[u8], parse: ParseFn) {
    let mut wall = Vec::with_capacity(RUNS);
    let mut cpu = Vec::with_capacity(RUNS);
    let mut rows = (0, 0, 0);
    for _ in 0..RUNS {
        let cpu_start = thread_cpu_seconds();
        let start = Instant::now();
        let parsed = black_box(parse(black_box(input))).unwrap();
        let secs = start.elapsed().as_secs_f64();
        if let (Some(a), Some(b)) = (cpu_start, thread_cpu_seconds()) {
            cpu.push(b - a);
        }
        wall.push(secs);
        rows = (parsed.total_rows, parsed.rows.len(), parsed.rejected_rows());
        drop(parsed);
    }
    let (total, accepted, rejected) = rows;
    let min = wall.iter().copied().fold(f64::INFINITY, f64::min);
    let max = wall.iter().copied().fold(0.0, f64::max);
    let secs = median(wall);
    let cpu = if cpu.is_empty() {
        String::new()
    } else {
        format!(", CPU {:.0} ms", 1e3 * median(cpu))
    };
    println!(
        "{what:<5} {total} rows ({:.1} MB): {:>8.0} rows/s, {:>6.1} ms{cpu}  (wall min {:.1}, max {:.1} ms; {accepted} accepted, {rejected} rejected)",
        input.len() as f64 / 1e6,
        total as f64 / secs,
        1e3 * secs,
        1e3 * min,
        1e3 * max,
    );
}

fn main() {
    let rows = rows();
    run("csv", &csv(&rows), parse_csv);
    run("json", &json(&rows), parse_json);
}
