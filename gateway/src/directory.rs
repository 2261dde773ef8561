//! The one-stop-shop directory services shared by the admin API, the IT centre's pages and the
//! command line: imports (audited), the readiness report, links made or removed by an admin
//! (the staff rule is `vneid_directory::link::account_reachable`), who may open the console, and
//! the per-unit readiness gauges.

use serde_json::json;
use vneid_directory::import::{ImportOptions, ImportReport};
use vneid_directory::parse::{self, Format};
use vneid_directory::report::{self, Disclosure, ReadinessReport};
use vneid_store::{AccountLink, AuditEvent, Database, StoreError};
use vneid_tokens::MasterKey;

use crate::login::Authentication;
use crate::state::AppState;

/// Why an import through the admin API failed (a refused file is not a failure: its report
/// says which rows).
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    /// The file cannot be read at all (not UTF-8, no header, too large).
    #[error("{0}")]
    Unreadable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("directory import failed: {0}")]
    Internal(String),
}

/// Parses and imports a file sent by the admin API client `actor`; audits the import;
/// refreshes the gauges after a write.
pub async fn import(
    state: &AppState,
    body: &[u8],
    format: Format,
    options: ImportOptions,
    actor: &str,
) -> Result<ImportReport, ImportFailure> {
    let parsed =
        parse::parse(body, format).map_err(|e| ImportFailure::Unreadable(e.to_string()))?;
    let now = state.clock.now();
    let db = &state.db;
    let report = vneid_directory::import::import(db, &state.master, &parsed, options, now)
        .await
        .map_err(|e| match e {
            vneid_directory::import::ImportError::Store(s) => ImportFailure::Store(s),
            other => ImportFailure::Internal(other.to_string()),
        })?;
    audit_import(db, &report, actor, "admin", now).await?;
    if report.written {
        refresh_gauges(state).await;
    }
    Ok(report)
}

async fn audit_import(
    db: &Database,
    report: &ImportReport,
    actor: &str,
    via: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<i64, StoreError> {
    let outcome = if report.dry_run {
        "dry_run"
    } else if report.written {
        "success"
    } else {
        "refused"
    };
    let mut event = AuditEvent::new("directory_import", outcome)
        .at(at)
        .detail(json!({
            "via": via,
            "rows": report.rows,
            "accepted": report.accepted,
            "rejected": report.rejected_rows,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "reactivated": report.reactivated,
            "deactivated": report.deactivated,
            "missing_personal_id": report.flagged.missing.len(),
            "invalid_personal_id": report.flagged.invalid.len(),
            "duplicate_personal_id": report.flagged.duplicate.len(),
        }));
    if !actor.is_empty() {
        event = event.client_id(actor);
    }
    db.append_audit(&event).await
}

/// Builds the readiness report from the store.
pub async fn readiness_report(
    db: &Database,
    master: &MasterKey,
    vneid_login_idp: &str,
    pii: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ReadinessReport, StoreError> {
    let rows = db.readiness_rows().await?;
    let disclosure = if pii {
        Disclosure::Clear(master)
    } else {
        Disclosure::Masked
    };
    Ok(report::readiness(&rows, vneid_login_idp, &disclosure, now))
}

/// How an admin's link request ended.
pub enum AdminLink {
    Linked(AccountLink),
    NoAccount,
    /// The account's unit no longer lists it (a sync import made it inactive).
    Inactive,
    NoPerson,
    /// A staff account, and the person never logged in through VNeID at level 2.
    StaffNeedsVneidLevel2,
    /// A staff account, and the person is an organisation.
    StaffNeedsCitizen,
    /// The account or the person is linked already.
    Taken(String),
}

/// Links the person `person_id` to the account `username` on behalf of the admin API client
/// `caller`. The person's strongest VNeID identity counts (a staff account needs VNeID level
/// 2); the link, the cleared conflict and the audit event are written together.
pub async fn link_by_admin(
    state: &AppState,
    username: &str,
    person_id: &str,
    caller: &str,
) -> Result<AdminLink, StoreError> {
    let Some(account) = state.db.directory_account(username).await? else {
        return Ok(AdminLink::NoAccount);
    };
    if !account.is_active() {
        return Ok(AdminLink::Inactive);
    }
    let Some(person) = state.db.person(person_id).await? else {
        return Ok(AdminLink::NoPerson);
    };
    if !vneid_directory::link::staff_holder_allowed(&account.kind, person.account_type) {
        return Ok(AdminLink::StaffNeedsCitizen);
    }
    let identities = state.db.person_identities(person_id).await?;
    let vneid = &state.settings.policy.vneid_login_idp;
    let best = identities
        .iter()
        .find(|(_, idp, _)| idp.as_deref() == Some(vneid.as_str()))
        .or(identities.first());
    let (level, login_idp) = best
        .map(|(_, idp, level)| (*level, idp.clone()))
        .unwrap_or((1, None));
    if !vneid_directory::link::account_reachable(&account.kind, level, login_idp.as_deref(), vneid)
    {
        return Ok(AdminLink::StaffNeedsVneidLevel2);
    }
    let now = state.clock.now();
    let link = AccountLink {
        username: account.username.clone(),
        person_id: person_id.to_owned(),
        level,
        login_idp,
        via: "admin".into(),
        created_at: now,
    };
    let event = AuditEvent::new("account_linked", "success")
        .at(now)
        .client_id(caller)
        .person_id(person_id)
        .level(level)
        .detail(json!({"username": account.username, "unit_code": account.unit_code, "kind": account.kind, "via": "admin"}));
    match state.db.create_admin_link(&link, &event).await {
        Ok(()) => {}
        Err(StoreError::Conflict(m)) => return Ok(AdminLink::Taken(m)),
        Err(e) => return Err(e),
    }
    refresh_gauges(state).await;
    Ok(AdminLink::Linked(link))
}

/// Removes the link of account `username` ("Xóa liên kết") on behalf of `caller`, audited.
pub async fn unlink_by_admin(
    state: &AppState,
    username: &str,
    caller: &str,
) -> Result<Option<AccountLink>, StoreError> {
    // Usernames compare case-insensitively: the stored spelling holds the link.
    let stored = state.db.directory_account(username).await?;
    let username = stored.as_ref().map_or(username, |a| a.username.as_str());
    let Some(removed) = state.db.remove_account_link(username).await? else {
        return Ok(None);
    };
    state
        .db
        .append_audit(
            &AuditEvent::new("account_unlinked", "success")
                .at(state.clock.now())
                .client_id(caller)
                .person_id(&removed.person_id)
                .detail(json!({"username": removed.username, "via": "admin"})),
        )
        .await?;
    refresh_gauges(state).await;
    Ok(Some(removed))
}

/// Who may open the IT centre's pages: a person logged in through VNeID at level 2 whose
/// linked one-stop-shop account is a staff account listed in `admin.console_users`.
pub enum ConsoleAccess {
    Allowed {
        username: String,
    },
    /// Logged in, but not allowed; why, in Vietnamese.
    Refused(String),
}

/// The console's access rule for the person of a session.
pub async fn console_access(
    state: &AppState,
    auth: &Authentication,
) -> Result<ConsoleAccess, StoreError> {
    let vneid = &state.settings.policy.vneid_login_idp;
    if auth.level.number() < 2 || auth.login_idp.as_deref() != Some(vneid.as_str()) {
        return Ok(ConsoleAccess::Refused(
            "Trang này chỉ mở cho cán bộ đăng nhập bằng tài khoản định danh điện tử VNeID mức độ 2."
                .into(),
        ));
    }
    // Staff accounts are citizens' (an organisation's login never reaches the console: its
    // client admits citizens only; this covers a link made otherwise).
    let citizen = state
        .db
        .person(&auth.person_id)
        .await?
        .is_some_and(|p| p.account_type == vneid_core::AccountType::Citizen);
    if !citizen {
        return Ok(ConsoleAccess::Refused(
            "Trang này chỉ mở cho cán bộ đăng nhập bằng tài khoản định danh điện tử của cá nhân, không mở cho tài khoản của tổ chức, doanh nghiệp."
                .into(),
        ));
    }
    let Some((link, account)) = state.db.account_link_by_person(&auth.person_id).await? else {
        return Ok(ConsoleAccess::Refused(
            "Tài khoản VNeID của bạn chưa được liên kết với tài khoản nào trên Hệ thống Một cửa điện tử."
                .into(),
        ));
    };
    let key = vneid_core::username_key(&link.username);
    let listed = state
        .settings
        .admin
        .console_users
        .iter()
        .any(|u| vneid_core::username_key(u) == key);
    if account.kind == "staff" && account.is_active() && listed {
        return Ok(ConsoleAccess::Allowed {
            username: link.username,
        });
    }
    Ok(ConsoleAccess::Refused(format!(
        "Tài khoản một cửa {} chưa được cấp quyền xem báo cáo này. Vui lòng liên hệ Trung tâm Công nghệ thông tin.",
        link.username
    )))
}

/// Recomputes the per-unit readiness gauges (counted in SQL, one row per unit). Failures are
/// logged: the gauges keep their last values.
pub async fn refresh_gauges(state: &AppState) {
    match state
        .db
        .readiness_unit_counts(&state.settings.policy.vneid_login_idp)
        .await
    {
        Ok(units) => state.metrics.set_readiness(&units),
        Err(e) => tracing::warn!(error = %e, "cannot refresh the readiness gauges"),
    }
}

/// `gateway directory import FILE`, first half: reads and parses the file (its extension says
/// the format: `.json`, else CSV), before anything is opened.
pub fn read_file(path: &std::path::Path) -> anyhow::Result<vneid_directory::parse::Parsed> {
    use anyhow::Context as _;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let format = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(Format::from_file_name)
        .unwrap_or(Format::Csv);
    parse::parse(&bytes, format).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// `gateway directory import FILE`, second half: imports what [`read_file`] parsed and audits
/// the import (via `cli`).
pub async fn import_parsed(
    db: &Database,
    master: &MasterKey,
    parsed: &vneid_directory::parse::Parsed,
    options: ImportOptions,
) -> anyhow::Result<ImportReport> {
    let now = vneid_core::Clock::now(&vneid_core::SystemClock);
    let report = vneid_directory::import::import(db, master, parsed, options, now).await?;
    audit_import(db, &report, "", "cli", now).await?;
    Ok(report)
}

/// The import report for people at a terminal: one line per rejected row and per flagged
/// account, then the counts.
pub fn import_summary(report: &ImportReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for r in &report.rejected {
        let _ = writeln!(
            out,
            "line {}: {}{}: {}",
            r.line,
            r.field.map(|f| format!("field {f}: ")).unwrap_or_default(),
            r.reason,
            r.message
        );
    }
    for f in &report.flagged.missing {
        let _ = writeln!(
            out,
            "line {}: {}: personal ID number missing (imported, flagged)",
            f.line, f.username
        );
    }
    for f in &report.flagged.invalid {
        let _ = writeln!(
            out,
            "line {}: {}: personal ID number invalid ({}) (imported, flagged)",
            f.line,
            f.username,
            f.problem.as_deref().unwrap_or("invalid")
        );
    }
    if !report.flagged.duplicate.is_empty() {
        let _ = writeln!(
            out,
            "personal ID number held by several accounts (flagged): {}",
            report.flagged.duplicate.join(", ")
        );
    }
    if !report.deactivated.is_empty() {
        let _ = writeln!(
            out,
            "no longer listed by their unit (inactive{}): {}",
            if report.written { "" } else { " if written" },
            report.deactivated.join(", ")
        );
    }
    let verb = if report.written {
        "imported"
    } else if report.dry_run {
        "dry run, nothing written"
    } else {
        "NOTHING WRITTEN: rows were rejected (fix them, or pass --allow-partial to write the good rows)"
    };
    let _ = writeln!(
        out,
        "{} rows: {} accepted, {} rejected ({} problem(s)); {} new, {} changed, {} unchanged, {} reactivated, {} deactivated; personal ID flagged: {} missing, {} invalid, {} duplicate — {verb}",
        report.rows,
        report.accepted,
        report.rejected_rows,
        report.rejected.len(),
        report.created,
        report.updated,
        report.unchanged,
        report.reactivated,
        report.deactivated.len(),
        report.flagged.missing.len(),
        report.flagged.invalid.len(),
        report.flagged.duplicate.len(),
    );
    out
}

/// How soon after a login made a link the gauges of this replica show it (links made at login
/// are batched: a morning of first logins costs one recount per this interval, not one each).
const LINK_GAUGE_DELAY: std::time::Duration = std::time::Duration::from_secs(10);

/// Keeps the readiness gauges current on this replica: now, within [`LINK_GAUGE_DELAY`] of a
/// link made at login here, and every `admin.gauge_refresh_interval` (imports from the CLI and
/// changes made on other replicas show up then).
pub fn spawn_gauge_refresher(state: actix_web::web::Data<AppState>) {
    let every = state.settings.admin.gauge_refresh_interval;
    actix_web::rt::spawn(async move {
        let mut last: Option<std::time::Instant> = None;
        loop {
            let due = last.is_none_or(|t| t.elapsed() >= every);
            if due || state.metrics.take_directory_changed() {
                refresh_gauges(&state).await;
                last = Some(std::time::Instant::now());
            }
            tokio::time::sleep(LINK_GAUGE_DELAY.min(every)).await;
        }
    });
}
