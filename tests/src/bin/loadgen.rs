//! `loadgen`: a load generator for vneid-gateway. Virtual users do whole logins through the
//! simulator's real pages, or call `/token` (client credentials, refresh), `/introspect` or
//! `/userinfo`, for a measured window after a warm-up; it prints operations per second, latency
//! percentiles, errors and, with `--pid`, the gateway's CPU time per operation and peak memory.
//!
//! ```text
//! cargo run --release -p vneid-e2e --bin loadgen -- \
//!     --gateway http://127.0.0.1:8080 --mode login --client portal:SECRET --users 16
//! ```
//!
//! `--help` lists every option. Exit status: 0 after a run (its errors are in the report),
//! 2 for a bad command line, 1 when the run could not start.

use std::process::ExitCode;

use vneid_e2e::load::{parse_args, run, Parsed, USAGE};

fn main() -> ExitCode {
    let (options, json) = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run { options, json }) => (options, json),
        Err(e) => {
            eprintln!("loadgen: {e}\nTry loadgen --help.");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&options)) {
        Ok(report) if json => {
            println!("{}", report.to_json());
            ExitCode::SUCCESS
        }
        Ok(report) => {
            print!("{}", report.to_text());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
