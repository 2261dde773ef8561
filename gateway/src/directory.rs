//! The one-stop-shop directory over HTTP (admin API) and on the command line: import, accounts,
//! links, link conflicts, the readiness and login reports; and the per-unit readiness gauges.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Duration, NaiveDate};
use serde::Deserialize;
use serde_json::json;
use vneid_directory::import::{ImportOptions, ImportReport};
use vneid_directory::parse::{self, Format};
use vneid_directory::report::{self, Disclosure, ReadinessReport};
use vneid_store::{AccountLink, AuditEvent, Database, DirectoryAccount, StoreError};
use vneid_tokens::MasterKey;

use crate::admin::{authorize, no_store, AdminCaller};
use crate::errors::OAuthError;
use crate::state::AppState;

type Data = web::Data<AppState>;

/// The largest import body the admin API accepts (100,000 rows are about 15 MiB).
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;
/// The longest period the login report covers.
const MAX_REPORT_DAYS: i64 = 366;
/// Page size of the listings when the caller gives none, and the most they give.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

/// The admin routes of the directory, inside `/admin/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/directory/import")
            .app_data(web::PayloadConfig::new(MAX_IMPORT_BYTES))
            .route(web::post().to(import)),
    )
    .route("/directory/accounts", web::get().to(list_accounts))
    .route("/directory/accounts/{username}", web::get().to(get_account))
    .route("/links", web::get().to(list_links))
    .route("/links", web::post().to(create_link))
    .route("/links/conflicts", web::get().to(list_conflicts))
    .route("/links/{username}", web::delete().to(remove_link))
    .route("/reports/readiness", web::get().to(readiness))
    .route("/reports/logins", web::get().to(logins));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    allow_partial: bool,
}

/// `POST /admin/v1/directory/import`: a CSV (`text/csv`) or JSON (`application/json`) body.
/// 200 with the report when written (or a dry run); 422 with the report when rows were rejected
/// and nothing was written.
async fn import(
    req: HttpRequest,
    state: Data,
    query: Result<web::Query<ImportQuery>, actix_web::Error>,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let caller = authorize(&req, &state).await?;
    let query = query.map_err(|e| OAuthError::invalid_request(format!("query: {e}")))?;
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Browsers on Windows label a .csv upload application/vnd.ms-excel; a binary .xls sent
    // that way fails CSV parsing with a clear 400.
    let format = Format::from_content_type(content_type)
        .or_else(|| {
            content_type
                .split(';')
                .next()
                .filter(|t| t.trim().eq_ignore_ascii_case("application/vnd.ms-excel"))
                .map(|_| Format::Csv)
        })
        .ok_or_else(|| {
            OAuthError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "send the file as text/csv or application/json",
            )
        })?;
    let options = ImportOptions {
        dry_run: query.dry_run,
        allow_partial: query.allow_partial,
    };
    let report = run_import(&state, &body, format, options, &caller.client_id).await?;
    let status = if report.refused() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(no_store(status).json(report))
}

/// Parses and imports; audits the import; refreshes the gauges after a write.
async fn run_import(
    state: &AppState,
    body: &[u8],
    format: Format,
    options: ImportOptions,
    actor: &str,
) -> Result<ImportReport, OAuthError> {
    let parsed =
        parse::parse(body, format).map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    let now = state.clock.now();
    let db = &state.db;
    let report = vneid_directory::import::import(db, &state.master, &parsed, options, now)
        .await
        .map_err(|e| match e {
            vneid_directory::import::ImportError::Store(s) => OAuthError::from_store(s),
            other => {
                tracing::error!(error = %other, "directory import failed");
                OAuthError::server_error()
            }
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
            "missing_personal_id": report.flagged.missing.len(),
            "invalid_personal_id": report.flagged.invalid.len(),
            "duplicate_personal_id": report.flagged.duplicate.len(),
        }));
    if !actor.is_empty() {
        event = event.client_id(actor);
    }
    db.append_audit(&event).await
}

/// An account as the admin API shows it: the number masked unless the caller holds
/// `admin:pii`.
fn account_json(
    a: &DirectoryAccount,
    caller: &AdminCaller,
    master: &MasterKey,
) -> serde_json::Value {
    let personal_id = if caller.pii {
        a.personal_id_sealed
            .as_ref()
            .and_then(|s| {
                master
                    .open(s, vneid_directory::import::PERSONAL_ID_AAD)
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok())
    } else {
        a.personal_id_masked.clone()
    };
    json!({
        "username": a.username,
        "full_name": a.full_name,
        "unit_code": a.unit_code,
        "unit_name": a.unit_name,
        "kind": a.kind,
        "personal_id": personal_id,
        "personal_id_status": a.personal_id_status,
        "personal_id_problem": a.personal_id_problem,
        "birth_date": a.birth_date.map(|d| d.to_string()),
        "phone": if caller.pii { a.phone.clone() } else { a.phone.as_deref().map(vneid_core::mask) },
        "email": if caller.pii { a.email.clone() } else { a.email.as_deref().map(vneid_core::mask) },
        "status": a.status,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    unit_code: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

fn page_limit(limit: Option<u32>) -> Result<u32, OAuthError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(OAuthError::invalid_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        ))),
    }
}

async fn list_accounts(
    req: HttpRequest,
    state: Data,
    query: Result<web::Query<PageQuery>, actix_web::Error>,
) -> Result<HttpResponse, OAuthError> {
    let caller = authorize(&req, &state).await?;
    let q = query.map_err(|e| OAuthError::invalid_request(format!("query: {e}")))?;
    let limit = page_limit(q.limit)?;
    let rows = state
        .db
        .list_directory_accounts(q.unit_code.as_deref(), q.after.as_deref(), limit)
        .await?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|a| a.username.clone()))
        .flatten();
    let accounts: Vec<_> = rows
        .iter()
        .map(|a| account_json(a, &caller, &state.master))
        .collect();
    Ok(no_store(StatusCode::OK).json(json!({"accounts": accounts, "next_after": next})))
}

async fn get_account(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<HttpResponse, OAuthError> {
    let caller = authorize(&req, &state).await?;
    let account = state
        .db
        .directory_account(&path)
        .await?
        .ok_or_else(not_found)?;
    let link = state.db.account_link_by_username(&account.username).await?;
    let mut body = account_json(&account, &caller, &state.master);
    body["link"] = json!(link);
    Ok(no_store(StatusCode::OK).json(body))
}

fn not_found() -> OAuthError {
    OAuthError::new(StatusCode::NOT_FOUND, "not_found", "no such account")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkPageQuery {
    after: Option<String>,
    limit: Option<u32>,
}

async fn list_links(
    req: HttpRequest,
    state: Data,
    query: Result<web::Query<LinkPageQuery>, actix_web::Error>,
) -> Result<HttpResponse, OAuthError> {
    authorize(&req, &state).await?;
    let q = query.map_err(|e| OAuthError::invalid_request(format!("query: {e}")))?;
    let limit = page_limit(q.limit)?;
    let links = state
        .db
        .list_account_links(q.after.as_deref(), limit)
        .await?;
    let next = (links.len() == limit as usize)
        .then(|| links.last().map(|l| l.username.clone()))
        .flatten();
    Ok(no_store(StatusCode::OK).json(json!({"links": links, "next_after": next})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLink {
    username: String,
    person_id: String,
}

/// `POST /admin/v1/links`: an admin links a person to an account. A staff account can only be
/// linked to a person who has logged in through VNeID at level 2.
async fn create_link(
    req: HttpRequest,
    state: Data,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let caller = authorize(&req, &state).await?;
    let new: NewLink = serde_json::from_slice(&body)
        .map_err(|e| OAuthError::invalid_request(format!("body: {e}")))?;
    let account = state
        .db
        .directory_account(&new.username)
        .await?
        .ok_or_else(not_found)?;
    if state.db.person(&new.person_id).await?.is_none() {
        return Err(OAuthError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such person",
        ));
    }
    let identities = state.db.person_identities(&new.person_id).await?;
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
        return Err(OAuthError::new(
            StatusCode::CONFLICT,
            "staff_requires_vneid_level_2",
            "a staff account can only be linked to a person who has logged in through VNeID at level 2",
        ));
    }
    let now = state.clock.now();
    let link = AccountLink {
        username: account.username.clone(),
        person_id: new.person_id.clone(),
        level,
        login_idp,
        via: "admin".into(),
        created_at: now,
    };
    state
        .db
        .create_account_link(&link)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => OAuthError::new(StatusCode::CONFLICT, "conflict", m),
            other => OAuthError::from_store(other),
        })?;
    state.db.clear_link_conflict(&new.person_id).await?;
    state
        .db
        .append_audit(
            &AuditEvent::new("account_linked", "success")
                .at(now)
                .client_id(&caller.client_id)
                .person_id(&new.person_id)
                .level(level)
                .detail(json!({"username": account.username, "unit_code": account.unit_code, "kind": account.kind, "via": "admin"})),
        )
        .await?;
    refresh_gauges(&state).await;
    Ok(no_store(StatusCode::CREATED).json(link))
}

/// `DELETE /admin/v1/links/{username}`: "Xóa liên kết".
async fn remove_link(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<HttpResponse, OAuthError> {
    let caller = authorize(&req, &state).await?;
    let removed = state
        .db
        .remove_account_link(&path)
        .await?
        .ok_or_else(|| OAuthError::new(StatusCode::NOT_FOUND, "not_found", "no such link"))?;
    state
        .db
        .append_audit(
            &AuditEvent::new("account_unlinked", "success")
                .at(state.clock.now())
                .client_id(&caller.client_id)
                .person_id(&removed.person_id)
                .detail(json!({"username": removed.username, "via": "admin"})),
        )
        .await?;
    refresh_gauges(&state).await;
    Ok(no_store(StatusCode::NO_CONTENT).finish())
}

async fn list_conflicts(req: HttpRequest, state: Data) -> Result<HttpResponse, OAuthError> {
    authorize(&req, &state).await?;
    let conflicts = state.db.list_link_conflicts(MAX_PAGE).await?;
    Ok(no_store(StatusCode::OK).json(json!({"conflicts": conflicts})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    format: Option<String>,
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

async fn readiness(
    req: HttpRequest,
    state: Data,
    query: Result<web::Query<ReportQuery>, actix_web::Error>,
) -> Result<HttpResponse, OAuthError> {
    let caller = authorize(&req, &state).await?;
    let q = query.map_err(|e| OAuthError::invalid_request(format!("query: {e}")))?;
    let report = readiness_report(
        &state.db,
        &state.master,
        &state.settings.policy.vneid_login_idp,
        caller.pii,
        state.clock.now(),
    )
    .await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(no_store(StatusCode::OK).json(report)),
        Some("csv") => Ok(no_store(StatusCode::OK)
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                "attachment; filename=\"readiness.csv\"",
            ))
            .body(report::readiness_csv(&report))),
        Some(other) => Err(OAuthError::invalid_request(format!(
            "format {other:?} is not json or csv"
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginsQuery {
    from: Option<String>,
    to: Option<String>,
}

fn parse_day(name: &str, value: &str) -> Result<NaiveDate, OAuthError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| OAuthError::invalid_request(format!("{name} must be a date YYYY-MM-DD")))
}

/// `GET /admin/v1/reports/logins?from=YYYY-MM-DD&to=YYYY-MM-DD`: Vietnam calendar days, both
/// included; `to` defaults to today, `from` to 29 days before `to`.
async fn logins(
    req: HttpRequest,
    state: Data,
    query: Result<web::Query<LoginsQuery>, actix_web::Error>,
) -> Result<HttpResponse, OAuthError> {
    authorize(&req, &state).await?;
    let q = query.map_err(|e| OAuthError::invalid_request(format!("query: {e}")))?;
    let today = vneid_core::vietnam::date(state.clock.now());
    let to = match &q.to {
        Some(t) => parse_day("to", t)?,
        None => today,
    };
    let from = match &q.from {
        Some(f) => parse_day("from", f)?,
        None => to - Duration::days(29),
    };
    if from > to {
        return Err(OAuthError::invalid_request("from is after to"));
    }
    if (to - from).num_days() >= MAX_REPORT_DAYS {
        return Err(OAuthError::invalid_request(format!(
            "the period is longer than {MAX_REPORT_DAYS} days"
        )));
    }
    let (start, end) = report::day_bounds(from, to);
    let stats = state
        .db
        .login_stats(start, end, vneid_core::vietnam::UTC_OFFSET_SECS)
        .await?;
    let body = report::logins(&stats, from, to, &state.settings.policy.vneid_login_idp);
    Ok(no_store(StatusCode::OK).json(body))
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

/// `gateway directory import FILE`: parses and imports the file, audits the import (via
/// `cli`), and returns the report. The format follows the file's extension (`.json`, else
/// CSV).
pub async fn import_file(
    settings: &crate::config::Settings,
    path: &std::path::Path,
    options: ImportOptions,
) -> anyhow::Result<ImportReport> {
    use anyhow::Context as _;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let format = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(Format::from_file_name)
        .unwrap_or(Format::Csv);
    let parsed =
        parse::parse(&bytes, format).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let (db, master) = crate::startup::store::open_existing(settings).await?;
    let now = chrono::Utc::now();
    let report = vneid_directory::import::import(&db, &master, &parsed, options, now).await?;
    audit_import(&db, &report, "", "cli", now).await?;
    Ok(report)
}

/// `gateway report readiness`: the report from the configured database.
pub async fn readiness_cli(
    settings: &crate::config::Settings,
    pii: bool,
) -> anyhow::Result<ReadinessReport> {
    let (db, master) = crate::startup::store::open_existing(settings).await?;
    Ok(readiness_report(
        &db,
        &master,
        &settings.policy.vneid_login_idp,
        pii,
        chrono::Utc::now(),
    )
    .await?)
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
    let verb = if report.written {
        "imported"
    } else if report.dry_run {
        "dry run, nothing written"
    } else {
        "NOTHING WRITTEN: rows were rejected (fix them, or pass --allow-partial to write the good rows)"
    };
    let _ = writeln!(
        out,
        "{} rows: {} accepted, {} rejected ({} problem(s)); {} new, {} changed, {} unchanged; personal ID flagged: {} missing, {} invalid, {} duplicate — {verb}",
        report.rows,
        report.accepted,
        report.rejected_rows,
        report.rejected.len(),
        report.created,
        report.updated,
        report.unchanged,
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
pub fn spawn_gauge_refresher(state: web::Data<AppState>) {
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
