//! The `loadgen` command line, parsed by hand: `--name VALUE` or `--name=VALUE`; every error
//! names the argument at fault.

use std::time::Duration;

use super::{Mode, Options};

/// Usage text of `loadgen --help`.
pub const USAGE: &str = "\
loadgen: load generator for vneid-gateway

USAGE:
  loadgen --gateway URL [--gateway URL ...] --mode MODE [options]

MODES:
  login               whole logins through the simulator's password + OTP pages, ending with
                      the code exchange at /token (needs --client)
  client-credentials  /token grant_type=client_credentials (needs --machine)
  introspect          /introspect of access tokens from a few logins (needs --client)
  userinfo            /userinfo with access tokens from a few logins (needs --client)
  refresh             /token grant_type=refresh_token, each user its own rotating chain
                      (needs --client with the refresh_token grant)

OPTIONS:
  --gateway URL         gateway base URL; repeat for replicas (users go round-robin)
  --mode MODE           what the users do (default login)
  --users N             concurrent virtual users (default 16)
  --duration SECS       measured window (default 10; fractions allowed)
  --warmup SECS         warm-up before it, not counted (default 2)
  --client ID:SECRET    the confidential portal
  --redirect-uri URI    the portal's registered redirect URI (default http://127.0.0.1:9/cb)
  --machine ID:SECRET   the machine client (client_credentials grant)
  --person PERSONAL_ID  simulator person who logs in (default 052090000123, level 2)
  --password PASSWORD   that person's password (default matkhau123)
  --pid PID             gateway process whose CPU time and memory are measured (repeatable)
  --dpop                token requests and /userinfo carry DPoP proofs of one ES256 key
                        (the tokens are bound; the nonce is fetched and kept)
  --json                print one JSON object instead of text
  --help                this text
";

/// What the command line asks for.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Parsed {
    /// `--help`.
    Help,
    /// A run, and whether to print JSON.
    Run {
        /// The run's options.
        options: Options,
        /// `--json`.
        json: bool,
    },
}

/// A command-line mistake; its message names the argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError(pub String);

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

fn err<T>(message: String) -> Result<T, ArgError> {
    Err(ArgError(message))
}

/// Parses the arguments after the program name.
pub fn parse_args<I>(args: I) -> Result<Parsed, ArgError>
where
    I: IntoIterator<Item = String>,
{
    let mut o = Options::new(Vec::new(), Mode::Login);
    let mut json = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        match name.as_str() {
            "--help" | "-h" => return Ok(Parsed::Help),
            "--json" => {
                json = true;
                continue;
            }
            "--dpop" => {
                o.dpop = true;
                continue;
            }
            _ => {}
        }
        let value = match inline {
            Some(v) => v,
            None => match args.next() {
                Some(v) => v,
                None => return err(format!("{name}: missing value")),
            },
        };
        match name.as_str() {
            "--gateway" => o.gateways.push(gateway_url(&value)?),
            "--mode" => {
                o.mode = Mode::parse(&value).ok_or_else(|| {
                    ArgError(format!(
                        "--mode {value:?}: expected login, client-credentials, introspect, \
                         userinfo or refresh"
                    ))
                })?
            }
            "--users" => o.users = number(&name, &value, 1)?,
            "--duration" => o.duration = seconds(&name, &value, false)?,
            "--warmup" => o.warmup = seconds(&name, &value, true)?,
            "--client" => o.client = Some(id_secret(&name, &value)?),
            "--machine" => o.machine = Some(id_secret(&name, &value)?),
            "--redirect-uri" => {
                url::Url::parse(&value)
                    .map_err(|e| ArgError(format!("--redirect-uri {value:?}: {e}")))?;
                o.redirect_uri = value;
            }
            "--person" => o.person = value,
            "--password" => o.password = value,
            "--pid" => o.pids.push(number(&name, &value, 1)?),
            _ => return err(format!("{name}: unknown argument (see --help)")),
        }
    }
    if o.gateways.is_empty() {
        return err("--gateway: required (the gateway's base URL)".into());
    }
    if o.mode.needs_portal() && o.client.is_none() {
        return err(format!("--client: required for --mode {}", o.mode.as_str()));
    }
    if o.mode == Mode::ClientCredentials && o.machine.is_none() {
        return err("--machine: required for --mode client-credentials".into());
    }
    Ok(Parsed::Run { options: o, json })
}

fn gateway_url(value: &str) -> Result<String, ArgError> {
    let url = url::Url::parse(value).map_err(|e| ArgError(format!("--gateway {value:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return err(format!("--gateway {value:?}: expected http:// or https://"));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

fn number<T>(name: &str, value: &str, min: T) -> Result<T, ArgError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    match value.parse::<T>() {
        Ok(n) if n >= min => Ok(n),
        Ok(_) => err(format!("{name} {value:?}: must be at least {min}")),
        Err(_) => err(format!("{name} {value:?}: not a whole number")),
    }
}

fn seconds(name: &str, value: &str, zero_allowed: bool) -> Result<Duration, ArgError> {
    let secs: f64 = value
        .parse()
        .map_err(|_| ArgError(format!("{name} {value:?}: not a number of seconds")))?;
    if !secs.is_finite() || secs < 0.0 || (secs == 0.0 && !zero_allowed) || secs > 86_400.0 {
        return err(format!("{name} {value:?}: out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn id_secret(name: &str, value: &str) -> Result<(String, String), ArgError> {
    match value.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
            Ok((id.to_owned(), secret.to_owned()))
        }
        _ => err(format!("{name}: expected ID:SECRET")),
    }
}
