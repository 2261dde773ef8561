//! The run itself: tokens obtained before the clock starts, then the virtual users' loops over
//! the warm-up and the measured window, then the figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use super::flow::{Client, Gateway, LoginParams};
use super::procfs::{clock_ticks, CpuSnapshot, ProcessMemory};
use super::report::{CpuReport, Report};
use super::stats::{ErrorLog, Latency, UserStats};
use super::{Mode, Options};

/// Logins per gateway that provide the access tokens of introspect and userinfo runs.
const TOKEN_LOGINS: usize = 4;
/// A user whose operation failed waits this long, so that a dead gateway is not spun on.
const AFTER_ERROR: Duration = Duration::from_millis(10);

/// What the users of a run share.
struct Shared {
    client: Client,
    mode: Mode,
    login: Option<LoginParams>,
    machine: Option<(String, String)>,
}

/// One virtual user: its gateway, and its token (an access token, or the current refresh token
/// of its chain) when the mode needs one.
struct User {
    gateway: Gateway,
    token: Option<String>,
}

pub(crate) async fn run(o: &Options) -> anyhow::Result<Report> {
    check(o)?;
    let client = if o.dpop {
        Client::new()?.with_dpop()?
    } else {
        Client::new()?
    };
    let mut gateways = Vec::new();
    for url in &o.gateways {
        gateways.push(client.gateway(url.trim_end_matches('/')).await);
    }
    // An unreadable pid is a mistake of the caller: refuse it before running.
    CpuSnapshot::take(&o.pids)?;
    let shared = Arc::new(Shared {
        client,
        mode: o.mode,
        login: o.client.clone().map(|client| LoginParams {
            client,
            redirect_uri: o.redirect_uri.clone(),
            person: o.person.clone(),
            password: o.password.clone(),
        }),
        machine: o.machine.clone(),
    });

    let mut errors = ErrorLog::default();
    let users = setup(&shared, &gateways, o.users, &mut errors).await;

    let started = Instant::now();
    let window_start = started + o.warmup;
    let end = window_start + o.duration;
    let tasks: Vec<_> = users
        .into_iter()
        .map(|user| tokio::spawn(user_loop(shared.clone(), user, window_start, end)))
        .collect();
    tokio::time::sleep_until(window_start.into()).await;
    let cpu_before = CpuSnapshot::take(&o.pids);
    let mut samples = Vec::new();
    for task in tasks {
        match task.await {
            Ok(stats) => {
                samples.extend(stats.samples);
                errors.merge(stats.errors);
            }
            Err(e) => errors.add(format!("a virtual user died: {e}")),
        }
    }
    let seconds = window_start.elapsed().as_secs_f64();
    let cpu_after = CpuSnapshot::take(&o.pids);

    let ops = samples.len() as u64;
    let cpu = if o.pids.is_empty() {
        None
    } else {
        let before = cpu_before.context("reading the gateway CPU time at the window's start")?;
        let after = cpu_after.context("reading the gateway CPU time at the window's end")?;
        let mut memory = Vec::new();
        for &pid in &o.pids {
            memory.push(ProcessMemory::of(pid)?);
        }
        Some(CpuReport::new(
            clock_ticks(),
            after.ticks.saturating_sub(before.ticks),
            ops,
            memory,
        ))
    };
    Ok(Report {
        mode: o.mode,
        dpop: o.dpop,
        gateways: gateways.into_iter().map(|g| g.url).collect(),
        users: o.users,
        seconds,
        ops,
        ops_per_s: if seconds > 0.0 {
            ops as f64 / seconds
        } else {
            0.0
        },
        errors,
        latency: Latency::of(&mut samples),
        cpu,
    })
}

/// The options a run cannot do without.
fn check(o: &Options) -> anyhow::Result<()> {
    if o.gateways.is_empty() {
        bail!("no gateway: give --gateway URL");
    }
    if o.users == 0 {
        bail!("--users must be at least 1");
    }
    if o.mode.needs_portal() && o.client.is_none() {
        bail!("--mode {} needs --client ID:SECRET", o.mode.as_str());
    }
    if o.mode == Mode::ClientCredentials && o.machine.is_none() {
        bail!("--mode client-credentials needs --machine ID:SECRET");
    }
    Ok(())
}

/// The users, round-robin over the gateways, with the tokens their mode needs: for refresh a
/// login of each user (its own chain), for introspect and userinfo a few logins per gateway
/// whose access tokens the gateway's users share. Failed logins are counted as errors; a user
/// left without a token logs in again in its loop.
async fn setup(
    shared: &Arc<Shared>,
    gateways: &[Gateway],
    count: usize,
    errors: &mut ErrorLog,
) -> Vec<User> {
    let mut users: Vec<User> = (0..count)
        .map(|i| User {
            gateway: gateways[i % gateways.len()].clone(),
            token: None,
        })
        .collect();
    let logins_per_gateway = match shared.mode {
        Mode::Login | Mode::ClientCredentials => return users,
        Mode::Refresh => usize::MAX,
        Mode::Introspect | Mode::Userinfo => TOKEN_LOGINS,
    };
    // Which users log in: the first `logins_per_gateway` of each gateway.
    let logging_in: Vec<usize> = (0..count)
        .filter(|i| i / gateways.len() < logins_per_gateway)
        .collect();
    let tasks: Vec<_> = logging_in
        .iter()
        .map(|&i| {
            let (shared, gw) = (shared.clone(), users[i].gateway.clone());
            tokio::spawn(async move { first_token(&shared, &gw).await })
        })
        .collect();
    for (task, &i) in tasks.into_iter().zip(&logging_in) {
        match task.await {
            Ok(Ok(token)) => users[i].token = Some(token),
            Ok(Err(e)) => errors.add(format!("setup login: {e:#}")),
            Err(e) => errors.add(format!("setup login died: {e}")),
        }
    }
    // The others borrow a token of a user of the same gateway.
    for i in 0..count {
        if users[i].token.is_none() && shared.mode != Mode::Refresh {
            let lender = (i % gateways.len()..count)
                .step_by(gateways.len())
                .find(|&j| users[j].token.is_some());
            users[i].token = lender.and_then(|j| users[j].token.clone());
        }
    }
    users
}

/// The token a user of the mode starts from: an access token, or a refresh token.
async fn first_token(shared: &Shared, gw: &Gateway) -> anyhow::Result<String> {
    let login = shared.login.as_ref().context("no --client")?;
    let tokens = shared.client.login(gw, login).await?;
    let key = match shared.mode {
        Mode::Refresh => "refresh_token",
        _ => "access_token",
    };
    tokens[key]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("the login's token response has no {key}"))
}

/// One user's loop: operations started in the measured window are counted; a user without a
/// token gets one first (a login, not counted as an operation of the mode).
async fn user_loop(
    shared: Arc<Shared>,
    mut user: User,
    window_start: Instant,
    end: Instant,
) -> UserStats {
    let mut stats = UserStats::default();
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        let result = step(&shared, &mut user).await;
        let counted = t0 >= window_start;
        match result {
            Ok(true) if counted => stats.samples.push(t0.elapsed()),
            Ok(_) => {}
            Err(e) => {
                if counted {
                    stats.errors.add(format!("{e:#}"));
                }
                tokio::time::sleep(AFTER_ERROR).await;
            }
        }
    }
    stats
}

/// One operation of the mode; `Ok(false)` when the user only obtained its token.
async fn step(shared: &Shared, user: &mut User) -> anyhow::Result<bool> {
    let gw = &user.gateway;
    let portal = shared.login.as_ref().map(|l| &l.client);
    if shared.mode == Mode::Login {
        let login = shared.login.as_ref().context("no --client")?;
        shared.client.login(gw, login).await?;
        return Ok(true);
    }
    if shared.mode == Mode::ClientCredentials {
        let machine = shared.machine.as_ref().context("no --machine")?;
        shared.client.client_credentials(gw, machine).await?;
        return Ok(true);
    }
    let Some(token) = user.token.clone() else {
        user.token = Some(first_token(shared, gw).await?);
        return Ok(false);
    };
    let portal = portal.context("no --client")?;
    match shared.mode {
        Mode::Introspect => shared.client.introspect(gw, portal, &token).await?,
        Mode::Userinfo => shared.client.userinfo(gw, &token).await?,
        _ => match shared.client.refresh(gw, portal, &token).await {
            Ok(next) => user.token = Some(next),
            Err(e) => {
                // The chain may be broken (reuse detected): start a new one.
                user.token = None;
                return Err(e);
            }
        },
    }
    Ok(true)
}
