//! Prometheus metrics of the `vneid` namespace, in a registry of their own, beside the standard
//! `process_*` metrics ([`process`]). Labels are bounded enums (upstream id, level, outcome,
//! reason, route pattern) — never a person, an IP or a raw URL. Every labelled counter whose
//! labels are known in advance exists at zero from the start ([`Metrics::preregister`]), so that
//! after a restart dashboards and alerts see `0`, not nothing.

mod process;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Grants counted by `vneid_tokens_issued_total`.
const GRANTS: [&str; 4] = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "token_exchange",
];
/// Outcomes of `vneid_account_links_total`.
const LINK_OUTCOMES: [&str; 5] = ["linked", "already_linked", "no_match", "conflict", "error"];
/// Outcomes of `vneid_backchannel_logout_total`.
const LOGOUT_OUTCOMES: [&str; 2] = ["delivered", "failed"];
/// Results of `vneid_forward_auth_total`: a session at the app's level, none, one below the
/// app's `min_level`, or a store that did not answer (503).
pub const FORWARD_AUTH_RESULTS: [&str; 4] = ["allowed", "unauthenticated", "level", "error"];

/// Reasons of `vneid_dpop_refused_total`: a proof that does not verify (`invalid`) or is too old
/// (`too_old`); one without the current nonce (`nonce_needed`, a normal step: the client fetches
/// it and retries); one seen before (`replayed`); none where one is required (`missing`); one by
/// another key than the token, code or refresh token is bound to (`wrong_key`); a bound token
/// sent as `Bearer` (`bearer`).
pub const DPOP_REFUSALS: [&str; 7] = [
    "invalid",
    "too_old",
    "nonce_needed",
    "replayed",
    "missing",
    "wrong_key",
    "bearer",
];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `process_*`, unprefixed as every exporter names them.
    process: Registry,
    /// Logins by upstream, account system, level and outcome (with the refusal reason).
    pub logins: IntCounterVec,
    /// Tokens issued, by grant type.
    pub tokens_issued: IntCounterVec,
    /// Calls to upstream providers, by upstream and outcome.
    pub upstream_duration: HistogramVec,
    /// HTTP requests by route pattern, method and status class.
    pub http_requests: HistogramVec,
    /// Back-channel logout deliveries, by outcome (delivered | failed).
    pub backchannel_logout: IntCounterVec,
    /// Directory accounts per unit (`unit` = the unit code, never a person).
    pub directory_accounts: IntGaugeVec,
    /// Staff accounts per unit by readiness `state`: valid | missing | invalid | duplicate
    /// (of the personal ID number) and linked (to a VNeID level-2 identity).
    pub directory_staff: IntGaugeVec,
    /// Linking after a login, by outcome (linked | already_linked | no_match | conflict |
    /// error).
    pub account_links: IntCounterVec,
    /// Requests refused by a rate limit, by `limit` (authorize | token | userinfo |
    /// client_auth_failures).
    pub rate_limited: IntCounterVec,
    /// Whether each upstream's discovery and keys answer (1) or not (0), by `upstream`.
    pub upstream_up: IntGaugeVec,
    /// DPoP proofs refused, by reason ([`DPOP_REFUSALS`]).
    pub dpop_refused: IntCounterVec,
    /// Entries held by the in-memory ephemeral store (absent with Redis).
    pub ephemeral_entries: IntGauge,
    /// Writes the ephemeral store refused because it was full (the request got a 503).
    pub ephemeral_full: IntCounter,
    /// 1 once this replica's check of the audit chain found it tampered with, 0 before.
    pub audit_chain_broken: IntGauge,
    /// The audit chain's head (`seq`) at this replica's last check.
    pub audit_chain_head: IntGauge,
    /// Migrations in the database newer than every one this build knows.
    pub schema_ahead: IntGauge,
    /// Forward-auth checks (`{prefix}/auth`) by protected app and result.
    pub forward_auth: IntCounterVec,
    /// Set when a login made a link, so that the gauge refresher recounts soon.
    directory_changed: Arc<AtomicBool>,
}

/// The `login_idp` label: the known account systems, everything else folded into `other`.
pub fn login_idp_label(login_idp: Option<&str>) -> &'static str {
    match login_idp {
        Some("BCA") => "BCA",
        Some("VNPOST") => "VNPOST",
        Some("DVCQG") => "DVCQG",
        Some(_) => "other",
        None => "none",
    }
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("vneid".into()), None)?;
        let logins = IntCounterVec::new(
            Opts::new(
                "logins_total",
                "Logins by upstream, account system, level and outcome",
            ),
            &["upstream", "login_idp", "level", "outcome", "reason"],
        )?;
        let tokens_issued = IntCounterVec::new(
            Opts::new(
                "tokens_issued_total",
                "Tokens issued at the token endpoint, by grant",
            ),
            &["grant"],
        )?;
        let upstream_duration = HistogramVec::new(
            HistogramOpts::new(
                "upstream_request_duration_seconds",
                "Time to complete a login at an upstream (code exchange, ID token, userinfo)",
            )
            .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["upstream", "outcome"],
        )?;
        let http_requests = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP requests served").buckets(
                vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0],
            ),
            &["route", "method", "status"],
        )?;
        registry.register(Box::new(logins.clone()))?;
        registry.register(Box::new(tokens_issued.clone()))?;
        registry.register(Box::new(upstream_duration.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        let backchannel_logout = IntCounterVec::new(
            Opts::new(
                "backchannel_logout_total",
                "Back-channel logout tokens sent to portals, by outcome (after retries)",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(backchannel_logout.clone()))?;
        let directory_accounts = IntGaugeVec::new(
            Opts::new(
                "directory_accounts",
                "One-stop-shop directory accounts per unit",
            ),
            &["unit"],
        )?;
        let directory_staff = IntGaugeVec::new(
            Opts::new(
                "directory_staff",
                "Staff accounts per unit by readiness: valid, missing, invalid or duplicate personal ID number, and linked to VNeID level 2",
            ),
            &["unit", "state"],
        )?;
        let account_links = IntCounterVec::new(
            Opts::new(
                "account_links_total",
                "Linking of a person to their one-stop-shop account after a login, by outcome",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(directory_accounts.clone()))?;
        registry.register(Box::new(directory_staff.clone()))?;
        registry.register(Box::new(account_links.clone()))?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "rate_limited_total",
                "Requests answered 429 by a rate limit, by limit",
            ),
            &["limit"],
        )?;
        let ephemeral_entries = IntGauge::new(
            "ephemeral_entries",
            "Entries held by the in-memory ephemeral store (pending logins, codes, sessions, caches)",
        )?;
        let ephemeral_full = IntCounter::new(
            "ephemeral_full_total",
            "Writes refused because the ephemeral store was full (answered 503)",
        )?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(ephemeral_entries.clone()))?;
        registry.register(Box::new(ephemeral_full.clone()))?;
        for limit in crate::ratelimit::Limit::ALL {
            rate_limited.with_label_values(&[limit.name()]);
        }
        let dpop_refused = IntCounterVec::new(
            Opts::new(
                "dpop_refused_total",
                "DPoP proofs refused, by reason (nonce_needed is a normal step: the client fetches the nonce and retries)",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(dpop_refused.clone()))?;
        for reason in DPOP_REFUSALS {
            dpop_refused.with_label_values(&[reason]);
        }
        let upstream_up = IntGaugeVec::new(
            Opts::new(
                "upstream_up",
                "1 when the upstream's discovery and keys answer, 0 when not (logins through it get the 503 page)",
            ),
            &["upstream"],
        )?;
        registry.register(Box::new(upstream_up.clone()))?;
        let audit_chain_broken = IntGauge::new(
            "audit_chain_broken",
            "Set to 1 once this replica's check of the audit trail's hash chain (before each checkpoint) found it tampered with; run `gateway audit verify`",
        )?;
        let audit_chain_head = IntGauge::new(
            "audit_chain_head",
            "The audit chain's last seq at this replica's last check",
        )?;
        registry.register(Box::new(audit_chain_broken.clone()))?;
        registry.register(Box::new(audit_chain_head.clone()))?;
        let schema_ahead = IntGauge::new(
            "schema_ahead",
            "Migrations in the database newer than every one this build knows: a newer build migrated it (a rolling upgrade in progress, or a rollback); 0 normally",
        )?;
        registry.register(Box::new(schema_ahead.clone()))?;
        let forward_auth = IntCounterVec::new(
            Opts::new(
                "forward_auth_total",
                "Forward-auth checks of protected apps, by app and result (allowed, unauthenticated, level: below the app's min_level, error: the store did not answer)",
            ),
            &["app", "result"],
        )?;
        registry.register(Box::new(forward_auth.clone()))?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "build_info",
                "Always 1: the version of this gateway and the build (a hash of its sources)",
            ),
            &["version", "revision"],
        )?;
        registry.register(Box::new(build_info.clone()))?;
        build_info
            .with_label_values(&[crate::VERSION, crate::BUILD_ID])
            .set(1);
        let process = Registry::new();
        process.register(Box::new(process::ProcessCollector::new()?))?;
        Ok(Self {
            registry,
            process,
            logins,
            tokens_issued,
            upstream_duration,
            http_requests,
            backchannel_logout,
            directory_accounts,
            directory_staff,
            account_links,
            rate_limited,
            upstream_up,
            dpop_refused,
            ephemeral_entries,
            ephemeral_full,
            audit_chain_broken,
            audit_chain_head,
            schema_ahead,
            forward_auth,
            directory_changed: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Creates at zero every labelled counter whose labels are known now: logins by upstream
    /// (success at level 2 through VNeID, each refusal reason, the broker's errors) and their
    /// upstream call durations, tokens by grant,
    /// account links and back-channel logouts by outcome. Rate limits are created in `new`.
    pub fn preregister<'a>(&self, upstreams: impl IntoIterator<Item = &'a str>) {
        for upstream in upstreams {
            self.logins
                .with_label_values(&[upstream, "BCA", "2", "success", ""]);
            for reason in vneid_policy::Refusal::CODES {
                self.logins
                    .with_label_values(&[upstream, "none", "none", "refused", reason]);
            }
            for reason in ["upstream_denied", "upstream_error"] {
                self.logins
                    .with_label_values(&[upstream, "none", "none", "error", reason]);
            }
            self.upstream_duration.with_label_values(&[upstream, "ok"]);
        }
        for grant in GRANTS {
            self.tokens_issued.with_label_values(&[grant]);
        }
        for outcome in LINK_OUTCOMES {
            self.account_links.with_label_values(&[outcome]);
        }
        for outcome in LOGOUT_OUTCOMES {
            self.backchannel_logout.with_label_values(&[outcome]);
        }
    }

    /// Creates at zero the forward-auth counters of every protected app.
    pub fn preregister_apps<'a>(&self, apps: impl IntoIterator<Item = &'a str>) {
        for app in apps {
            for result in FORWARD_AUTH_RESULTS {
                self.forward_auth.with_label_values(&[app, result]);
            }
        }
    }

    /// Notes that the directory's links changed (the gauges are recounted shortly).
    pub fn directory_changed(&self) {
        self.directory_changed.store(true, Ordering::Relaxed);
    }

    /// Whether the directory changed since the last call.
    pub fn take_directory_changed(&self) -> bool {
        self.directory_changed.swap(false, Ordering::Relaxed)
    }

    /// Sets the per-unit directory gauges; units no longer in the directory disappear.
    pub fn set_readiness(&self, units: &[vneid_store::UnitCounts]) {
        self.directory_accounts.reset();
        self.directory_staff.reset();
        for c in units {
            let unit = c.unit_code.as_str();
            self.directory_accounts
                .with_label_values(&[unit])
                .set(c.accounts as i64);
            for (state, n) in [
                ("valid", c.staff_valid_personal_id),
                ("missing", c.staff_missing_personal_id),
                ("invalid", c.staff_invalid_personal_id),
                ("duplicate", c.staff_duplicate_personal_id),
                ("linked", c.staff_linked),
            ] {
                self.directory_staff
                    .with_label_values(&[unit, state])
                    .set(n as i64);
            }
        }
    }

    pub fn login(
        &self,
        upstream: &str,
        login_idp: Option<&str>,
        level: Option<u8>,
        outcome: &str,
        reason: &str,
    ) {
        let level = match level {
            Some(1) => "1",
            Some(2) => "2",
            _ => "none",
        };
        self.logins
            .with_label_values(&[upstream, login_idp_label(login_idp), level, outcome, reason])
            .inc();
    }

    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::new();
        let mut families = self.process.gather();
        families.extend(self.registry.gather());
        TextEncoder::new().encode(&families, &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}
