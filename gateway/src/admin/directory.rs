//! `/admin/v1/directory`, `/admin/v1/links`, `/admin/v1/reports`: the one-stop-shop directory
//! over HTTP, served by [`crate::directory`].

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Duration, NaiveDate};
use serde::Deserialize;
use serde_json::json;
use vneid_directory::import::ImportOptions;
use vneid_directory::parse::Format;
use vneid_directory::report;
use vneid_store::DirectoryAccount;
use vneid_tokens::MasterKey;

use super::{authorize, no_store, AdminCaller, AdminError};
use crate::directory::{self, readiness_report, AdminLink, ImportFailure};
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
    use super::allow;
    cfg.service(
        web::resource("/directory/import")
            .app_data(web::PayloadConfig::new(MAX_IMPORT_BYTES))
            .route(web::post().to(import))
            .default_service(allow("POST")),
    )
    .service(
        web::resource("/directory/accounts")
            .route(web::get().to(list_accounts))
            .default_service(allow("GET")),
    )
    .service(
        web::resource("/directory/accounts/{username}")
            .route(web::get().to(get_account))
            .default_service(allow("GET")),
    )
    .service(
        web::resource("/links")
            .route(web::get().to(list_links))
            .route(web::post().to(create_link))
            .default_service(allow("GET, POST")),
    )
    // Before `/links/{username}`, which would take "conflicts" as a username.
    .service(
        web::resource("/links/conflicts")
            .route(web::get().to(list_conflicts))
            .default_service(allow("GET")),
    )
    .service(
        web::resource("/links/{username}")
            .route(web::delete().to(remove_link))
            .default_service(allow("DELETE")),
    )
    .service(
        web::resource("/reports/readiness")
            .route(web::get().to(readiness))
            .default_service(allow("GET")),
    )
    .service(
        web::resource("/reports/logins")
            .route(web::get().to(logins))
            .default_service(allow("GET")),
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    allow_partial: bool,
    #[serde(default)]
    sync: bool,
}

/// `POST /admin/v1/directory/import`: a CSV (`text/csv`) or JSON (`application/json`) body.
/// 200 with the report when written (or a dry run); 422 with the report when rows were rejected
/// and nothing was written.
async fn import(
    req: HttpRequest,
    state: Data,
    query: Result<web::Query<ImportQuery>, actix_web::Error>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let caller = authorize(&req, &state).await?;
    let query = query.map_err(|e| AdminError::invalid_request(format!("query: {e}")))?;
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
            AdminError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "send the file as text/csv or application/json",
            )
        })?;
    let options = ImportOptions {
        dry_run: query.dry_run,
        allow_partial: query.allow_partial,
        sync: query.sync,
    };
    let report = directory::import(&state, &body, format, options, &caller.client_id)
        .await
        .map_err(|e| match e {
            ImportFailure::Unreadable(m) => AdminError::invalid_request(m),
            ImportFailure::Store(s) => AdminError::from(s),
            ImportFailure::Internal(m) => {
                tracing::error!(error = %m, "directory import failed");
                AdminError::server_error()
            }
        })?;
    let status = if report.refused() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(no_store(status).json(report))
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
            .and_then(|s| master.open_personal_id(s).ok())
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

fn page_limit(limit: Option<u32>) -> Result<u32, AdminError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(AdminError::invalid_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        ))),
    }
}

async fn list_accounts(
    req: HttpRequest,
    state: Data,
    query: Result<web::Query<PageQuery>, actix_web::Error>,
) -> Result<HttpResponse, AdminError> {
    let caller = authorize(&req, &state).await?;
    let q = query.map_err(|e| AdminError::invalid_request(format!("query: {e}")))?;
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
) -> Result<HttpResponse, AdminError> {
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

fn not_found() -> AdminError {
    AdminError::new(StatusCode::NOT_FOUND, "not_found", "no such account")
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
) -> Result<HttpResponse, AdminError> {
    authorize(&req, &state).await?;
    let q = query.map_err(|e| AdminError::invalid_request(format!("query: {e}")))?;
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
) -> Result<HttpResponse, AdminError> {
    let caller = authorize(&req, &state).await?;
    let new: NewLink = serde_json::from_slice(&body)
        .map_err(|e| AdminError::invalid_request(format!("body: {e}")))?;
    match directory::link_by_admin(&state, &new.username, &new.person_id, &caller.client_id).await? {
        AdminLink::Linked(link) => Ok(no_store(StatusCode::CREATED).json(link)),
        AdminLink::NoAccount => Err(not_found()),
        AdminLink::NoPerson => Err(AdminError::not_found("no such person")),
        AdminLink::Inactive => Err(AdminError::conflict(
            "account_inactive",
            "the account is inactive: the latest sync import of its unit no longer lists it",
        )),
        AdminLink::StaffNeedsVneidLevel2 => Err(AdminError::conflict(
            "staff_requires_vneid_level_2",
            "a staff account can only be linked to a person who has logged in through VNeID at level 2",
        )),
        AdminLink::StaffNeedsCitizen => Err(AdminError::conflict(
            "staff_requires_citizen",
            "a staff account can only be linked to a citizen, not to an organisation's account",
        )),
        AdminLink::Taken(m) => Err(AdminError::conflict("conflict", m)),
    }
}

/// `DELETE /admin/v1/links/{username}`: "Xóa liên kết".
async fn remove_link(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let caller = authorize(&req, &state).await?;
    directory::unlink_by_admin(&state, &path, &caller.client_id)
        .await?
        .ok_or_else(|| AdminError::not_found("no such link"))?;
    Ok(no_store(StatusCode::NO_CONTENT).finish())
}

async fn list_conflicts(req: HttpRequest, state: Data) -> Result<HttpResponse, AdminError> {
    authorize(&req, &state).await?;
    let conflicts = state.db.list_link_conflicts(MAX_PAGE).await?;
    Ok(no_store(StatusCode::OK).json(json!({"conflicts": conflicts})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    format: Option<String>,
}

async fn readiness(
    req: HttpRequest,
    state: Data,
    query: Result<web::Query<ReportQuery>, actix_web::Error>,
) -> Result<HttpResponse, AdminError> {
    let caller = authorize(&req, &state).await?;
    let q = query.map_err(|e| AdminError::invalid_request(format!("query: {e}")))?;
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
        Some(other) => Err(AdminError::invalid_request(format!(
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

/// A date `YYYY-MM-DD` between 1970 and 9999 (a far year would overflow the day's bounds).
fn parse_day(name: &str, value: &str) -> Result<NaiveDate, AdminError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|d| (1970..=9999).contains(&chrono::Datelike::year(d)))
        .ok_or_else(|| {
            AdminError::invalid_request(format!(
                "{name} must be a date YYYY-MM-DD between 1970 and 9999"
            ))
        })
}

/// `GET /admin/v1/reports/logins?from=YYYY-MM-DD&to=YYYY-MM-DD`: Vietnam calendar days, both
/// included; `to` defaults to today, `from` to 29 days before `to`.
async fn logins(
    req: HttpRequest,
    state: Data,
    query: Result<web::Query<LoginsQuery>, actix_web::Error>,
) -> Result<HttpResponse, AdminError> {
    authorize(&req, &state).await?;
    let q = query.map_err(|e| AdminError::invalid_request(format!("query: {e}")))?;
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
        return Err(AdminError::invalid_request("from is after to"));
    }
    if (to - from).num_days() >= MAX_REPORT_DAYS {
        return Err(AdminError::invalid_request(format!(
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
