//! The load generator (`vneid_e2e::load`, the `loadgen` binary): every mode runs against an
//! embedded gateway without errors, and its command line names the argument at fault.

use std::time::Duration;

use vneid_e2e::load::{self, Mode, Options, Parsed};
use vneid_e2e::*;

const LOAD_PORTAL: &str = "load-portal";
const LOAD_PORTAL_SECRET: &str = "load-portal-secret-0123456789-abcdefghij";
const MACHINE: &str = "load-machine";
const MACHINE_SECRET: &str = "load-machine-secret-0123456789-abcdefghi";

/// A portal with refresh tokens, a machine client, and no rate limits (all the load comes from
/// one address).
fn extra() -> String {
    format!(
        r#"
[limits]
authorize = {{ requests = 0, per = "1m" }}
token = {{ requests = 0, per = "1m" }}
userinfo = {{ requests = 0, per = "1m" }}

[[clients]]
client_id = "{LOAD_PORTAL}"
client_secret = "{LOAD_PORTAL_SECRET}"
redirect_uris = ["{PORTAL_CB}"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile"]

[[clients]]
client_id = "{MACHINE}"
client_secret = "{MACHINE_SECRET}"
grant_types = ["client_credentials"]
scopes = []
"#
    )
}

#[actix_web::test]
async fn every_mode_runs_without_errors_against_the_embedded_gateway() {
    every_mode_runs(false).await;
}

/// The same with `--dpop`: the tokens are bound (a bound token at `/userinfo` goes as `DPoP`
/// with a proof, which the gateway would refuse for an unbound one) and the nonce is fetched.
#[actix_web::test]
async fn every_mode_runs_with_dpop_proofs() {
    let gw = every_mode_runs(true).await;
    assert!(
        metric_value(&gw.url, "vneid_dpop_refused_total{reason=\"nonce_needed\"}").await >= 1.0
    );
    assert_eq!(
        metric_value(&gw.url, "vneid_dpop_refused_total{reason=\"replayed\"}").await,
        0.0
    );
}

async fn every_mode_runs(dpop: bool) -> TestGateway {
    let gw = spawn_embedded(&extra()).await;
    for mode in Mode::ALL {
        let mut o = Options::new(vec![gw.url.clone()], mode);
        o.dpop = dpop;
        o.users = 3;
        o.warmup = Duration::from_millis(200);
        o.duration = Duration::from_millis(1200);
        o.client = Some((LOAD_PORTAL.into(), LOAD_PORTAL_SECRET.into()));
        o.machine = Some((MACHINE.into(), MACHINE_SECRET.into()));
        o.pids = vec![std::process::id()];
        let r = without_hanging(mode.as_str(), load::run(&o)).await.unwrap();
        let name = mode.as_str();
        assert_eq!(r.errors.count, 0, "{name}: {:?}", r.errors.first);
        assert!(r.ops > 0, "{name}: no operations");
        assert!(r.ops_per_s > 0.0, "{name}");
        let l = r.latency;
        assert!(
            0.0 < l.p50_ms && l.p50_ms <= l.p99_ms && l.p99_ms <= l.max_ms,
            "{name}: {l:?}"
        );
        let cpu = r.cpu.as_ref().expect("--pid given");
        assert!(cpu.cpu_ms_per_op.is_some_and(|x| x >= 0.0), "{name}");
        assert!(cpu.memory[0].peak_kib >= cpu.memory[0].rss_kib, "{name}");
        let json = r.to_json();
        assert_eq!(json["mode"], name);
        assert_eq!(json["dpop"], dpop);
        assert_eq!(json["ops"], r.ops);
    }
    gw
}

/// A gateway that is not there: every operation is an error with its message, nothing panics.
#[actix_web::test]
async fn a_refused_connection_is_counted_as_errors() {
    let port = vneid_e2e::services::free_port();
    let mut o = Options::new(
        vec![format!("http://127.0.0.1:{port}")],
        Mode::ClientCredentials,
    );
    o.users = 2;
    o.warmup = Duration::ZERO;
    o.duration = Duration::from_millis(300);
    o.machine = Some((MACHINE.into(), MACHINE_SECRET.into()));
    let r = load::run(&o).await.unwrap();
    assert_eq!(r.ops, 0);
    assert!(r.errors.count > 0);
    assert!(
        r.errors.first[0].starts_with("POST /token (client_credentials)"),
        "{:?}",
        r.errors.first
    );
    // A login mode whose setup logins fail says so too.
    o.mode = Mode::Userinfo;
    o.client = Some((LOAD_PORTAL.into(), LOAD_PORTAL_SECRET.into()));
    let r = load::run(&o).await.unwrap();
    assert_eq!(r.ops, 0);
    assert!(r.errors.first.iter().any(|m| m.starts_with("setup login")));
}

fn parse(args: &[&str]) -> Result<Parsed, load::ArgError> {
    load::parse_args(args.iter().map(|s| s.to_string()))
}

fn parse_error(args: &[&str]) -> String {
    match parse(args) {
        Err(e) => e.to_string(),
        Ok(p) => panic!("{args:?} accepted: {p:?}"),
    }
}

#[test]
fn loadgen_arguments_are_parsed_and_mistakes_name_the_argument() {
    let Ok(Parsed::Run { options, json }) = parse(&[
        "--gateway",
        "http://127.0.0.1:8080/",
        "--gateway=http://127.0.0.1:8081",
        "--mode",
        "refresh",
        "--users",
        "4",
        "--duration",
        "1.5",
        "--warmup=0",
        "--client",
        "portal:se:cret",
        "--pid",
        "42",
        "--dpop",
        "--json",
    ]) else {
        panic!("valid arguments refused")
    };
    assert!(json);
    assert_eq!(
        options.gateways,
        ["http://127.0.0.1:8080", "http://127.0.0.1:8081"]
    );
    assert_eq!(options.mode, Mode::Refresh);
    assert_eq!(options.users, 4);
    assert_eq!(options.duration, Duration::from_millis(1500));
    assert_eq!(options.warmup, Duration::ZERO);
    assert_eq!(options.client, Some(("portal".into(), "se:cret".into())));
    assert_eq!(options.pids, [42]);
    assert!(options.dpop);
    assert_eq!(options.person, people::LEVEL2_CITIZEN);
    assert!(matches!(parse(&["--help"]), Ok(Parsed::Help)));

    let gw = ["--gateway", "http://127.0.0.1:1", "--client", "a:b"];
    let with = |more: &[&'static str]| [&gw[..], more].concat();
    assert!(parse_error(&with(&["--mode", "fast"])).starts_with("--mode \"fast\""));
    assert!(parse_error(&with(&["--users"])).starts_with("--users: missing value"));
    assert!(parse_error(&with(&["--users", "many"])).starts_with("--users \"many\""));
    assert!(parse_error(&with(&["--users", "0"])).starts_with("--users \"0\""));
    assert!(parse_error(&with(&["--duration", "-1"])).starts_with("--duration \"-1\""));
    assert!(parse_error(&with(&["--warmup", "soon"])).starts_with("--warmup \"soon\""));
    assert!(parse_error(&with(&["--pid", "x"])).starts_with("--pid \"x\""));
    assert!(parse_error(&with(&["--machine", "nosecret"])).starts_with("--machine"));
    assert!(parse_error(&with(&["--speed", "1"])).starts_with("--speed: unknown"));
    assert!(parse_error(&["--gateway", "not a url", "--client", "a:b"]).starts_with("--gateway"));
    assert!(parse_error(&["--client", "a:b"]).starts_with("--gateway: required"));
    assert!(parse_error(&["--gateway", "http://h"]).starts_with("--client: required"));
    assert!(
        parse_error(&["--gateway", "http://h", "--mode", "client-credentials"])
            .starts_with("--machine: required")
    );
}
