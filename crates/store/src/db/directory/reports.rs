//! The aggregates the reports are made of: readiness rows, per-unit readiness counts for the
//! gauges, login statistics.

use chrono::{DateTime, NaiveDate, Utc};

use super::{count_from_db, level_from_db, LoginStatRow, LoginStats, ReadinessRow, UnitCounts};
use crate::db::{from_unix, to_unix, Database, Tx};
use crate::StoreError;

type ReadinessDbRow = (
    String,          // username
    String,          // full_name
    String,          // unit_code
    String,          // unit_name
    String,          // kind
    String,          // status
    String,          // personal_id_status
    Option<String>,  // personal_id_problem
    Option<String>,  // personal_id_masked
    Option<Vec<u8>>, // personal_id_sealed
    Option<i64>,     // account_links.level
    Option<String>,  // account_links.login_idp
);

/// The calendar day (days since 1970-01-01) of `at` at the UTC offset bound as `$3`: a floor
/// division written with `%` and `/`, which truncate towards zero alike on SQLite (INTEGER) and
/// Postgres (BIGINT), so that it is also right before 1970 (a negative dividend).
const DAY_EXPR: &str = "((at + $3) - (((at + $3) % 86400) + 86400) % 86400) / 86400";

/// One group of [`Database::login_stats`]: day index, login_idp, level, outcome, events, people.
type LoginStatDbRow = (i64, Option<String>, Option<i64>, String, i64, i64);

fn day_from_index(day: i64) -> Result<NaiveDate, StoreError> {
    let secs = day
        .checked_mul(86_400)
        .ok_or_else(|| StoreError::Corrupt(format!("audit_events.at: day {day} out of range")))?;
    Ok(from_unix(secs, "audit_events.at")?.date_naive())
}

/// The SQL condition "a staff account linked through VNeID at level 2", the one home of that
/// rule in this crate: every query that counts such staff writes it through this function.
///
/// It reads `a` (a `directory_accounts` row) and `l` (its `account_links` row, LEFT JOINed: an
/// account without a link has NULLs there and does not match), and compares the link's
/// account system with the VNeID `login_idp` bound as `vneid_param` (a placeholder such as
/// `"$1"`). It is true exactly when `a.kind` is `staff`, the link's level is at least 2 and the
/// link was made through that account system.
///
/// It must match `vneid_directory::link::account_reachable` for a staff account: a staff
/// account counts only when its link was made through the VNeID account system at level 2.
/// Change both together.
fn staff_linked_through_vneid(vneid_param: &str) -> String {
    format!("a.kind = 'staff' AND l.level >= 2 AND l.login_idp = {vneid_param}")
}

impl Database {
    /// The readiness counts of every unit, computed in SQL (one row per unit, by unit code)
    /// over its active accounts: what the per-unit gauges need, without reading every account. `staff_linked` counts
    /// the staff accounts linked at level 2 through `vneid_login_idp`
    /// (the rule of `staff_linked_through_vneid`).
    pub async fn readiness_unit_counts(
        &self,
        vneid_login_idp: &str,
    ) -> Result<Vec<UnitCounts>, StoreError> {
        type Row = (String, String, i64, i64, i64, i64, i64, i64, i64);
        let sql = format!(
            "SELECT a.unit_code, MAX(a.unit_name), COUNT(*), \
             SUM(CASE WHEN a.kind = 'staff' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN a.kind = 'staff' AND a.personal_id_status = 'valid' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN a.kind = 'staff' AND a.personal_id_status = 'missing' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN a.kind = 'staff' AND a.personal_id_status = 'invalid' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN a.kind = 'staff' AND a.personal_id_status = 'duplicate' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN {staff_linked} THEN 1 ELSE 0 END) \
             FROM directory_accounts a LEFT JOIN account_links l ON l.username = a.username \
             WHERE a.status = 'active' \
             GROUP BY a.unit_code ORDER BY a.unit_code",
            staff_linked = staff_linked_through_vneid("$1"),
        );
        let rows: Vec<Row> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql)
                .bind(vneid_login_idp)
                .fetch_all(pool)
                .await?
        });
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(rows
            .into_iter()
            .map(|(unit_code, unit_name, a, s, v, m, i, d, l)| UnitCounts {
                unit_code,
                unit_name,
                accounts: n(a),
                staff: n(s),
                staff_valid_personal_id: n(v),
                staff_missing_personal_id: n(m),
                staff_invalid_personal_id: n(i),
                staff_duplicate_personal_id: n(d),
                staff_linked: n(l),
            })
            .collect())
    }

    /// Every account with its link, if any, ordered by unit_code then username (byte order):
    /// the readiness report's input. The link's level and account system are returned as
    /// stored: which links count as VNeID level 2 is left to the caller.
    pub async fn readiness_rows(&self) -> Result<Vec<ReadinessRow>, StoreError> {
        let rows: Vec<ReadinessDbRow> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT a.username, a.full_name, a.unit_code, a.unit_name, a.kind, a.status, \
                 a.personal_id_status, a.personal_id_problem, a.personal_id_masked, \
                 a.personal_id_sealed, l.level, l.login_idp \
                 FROM directory_accounts a LEFT JOIN account_links l ON l.username = a.username \
                 ORDER BY a.unit_code, a.username",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| {
                let (
                    username,
                    full_name,
                    unit_code,
                    unit_name,
                    kind,
                    status,
                    personal_id_status,
                    personal_id_problem,
                    personal_id_masked,
                    personal_id_sealed,
                    level,
                    linked_login_idp,
                ) = row;
                Ok(ReadinessRow {
                    username,
                    full_name,
                    unit_code,
                    unit_name,
                    kind,
                    status,
                    personal_id_status,
                    personal_id_problem,
                    personal_id_masked,
                    personal_id_sealed,
                    linked_level: level
                        .map(|l| level_from_db(l, "account_links.level"))
                        .transpose()?,
                    linked_login_idp,
                })
            })
            .collect()
    }

    /// Login statistics from the audit events of kind `login` with `from <= at < to`,
    /// aggregated in SQL:
    ///
    /// - `rows`: events and distinct people per calendar day at `utc_offset_secs` (Vietnam:
    ///   25200), `login_idp`, `level` and `outcome` (either may be `None`: a refusal before the
    ///   level was known, an upstream failure);
    /// - `people_per_day`: distinct people with a **successful** login (outcome `success`),
    ///   per day;
    /// - `people_total`: distinct people with a successful login over the whole range.
    ///
    /// The three are read in one transaction (a consistent snapshot on both backends).
    #[tracing::instrument(skip(self))]
    pub async fn login_stats(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        utc_offset_secs: i64,
    ) -> Result<LoginStats, StoreError> {
        let (from, to) = (to_unix(from), to_unix(to));
        let mut tx = Tx::begin(&self.pool).await?;
        if let Tx::Postgres(t) = &mut tx {
            // One snapshot for the three statements (READ COMMITTED would take one each).
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut **t)
                .await?;
        }
        let grouped_sql = format!(
            "SELECT day, login_idp, level, outcome, COUNT(*), COUNT(DISTINCT person_id) \
             FROM (SELECT {DAY_EXPR} AS day, login_idp, level, outcome, person_id \
                   FROM audit_events WHERE kind = 'login' AND at >= $1 AND at < $2) e \
             GROUP BY day, login_idp, level, outcome"
        );
        let grouped: Vec<LoginStatDbRow> = on_tx!(&mut tx, |c| {
            sqlx::query_as(&grouped_sql)
                .bind(from)
                .bind(to)
                .bind(utc_offset_secs)
                .fetch_all(c)
                .await?
        });
        let per_day_sql = format!(
            "SELECT day, COUNT(DISTINCT person_id) \
             FROM (SELECT {DAY_EXPR} AS day, person_id FROM audit_events \
                   WHERE kind = 'login' AND outcome = 'success' AND person_id IS NOT NULL \
                   AND at >= $1 AND at < $2) e \
             GROUP BY day ORDER BY day"
        );
        let per_day: Vec<(i64, i64)> = on_tx!(&mut tx, |c| {
            sqlx::query_as(&per_day_sql)
                .bind(from)
                .bind(to)
                .bind(utc_offset_secs)
                .fetch_all(c)
                .await?
        });
        let total: i64 = on_tx!(&mut tx, |c| {
            sqlx::query_scalar(
                "SELECT COUNT(DISTINCT person_id) FROM audit_events \
                 WHERE kind = 'login' AND outcome = 'success' AND at >= $1 AND at < $2",
            )
            .bind(from)
            .bind(to)
            .fetch_one(c)
            .await?
        });
        tx.commit().await?;

        let mut rows = grouped
            .into_iter()
            .map(|(day, login_idp, level, outcome, logins, people)| {
                Ok(LoginStatRow {
                    day: day_from_index(day)?,
                    login_idp,
                    level: level
                        .map(|l| level_from_db(l, "audit_events.level"))
                        .transpose()?,
                    outcome,
                    logins: count_from_db(logins)?,
                    people: count_from_db(people)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Sorted here, not in SQL: the backends put NULLs at opposite ends.
        rows.sort_by(|a, b| {
            (a.day, &a.login_idp, a.level, &a.outcome).cmp(&(
                b.day,
                &b.login_idp,
                b.level,
                &b.outcome,
            ))
        });
        let people_per_day = per_day
            .into_iter()
            .map(|(day, n)| Ok((day_from_index(day)?, count_from_db(n)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(LoginStats {
            rows,
            people_per_day,
            people_total: count_from_db(total)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_count_from_the_epoch() {
        assert_eq!(
            day_from_index(0).unwrap(),
            NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
        );
        assert_eq!(
            day_from_index(-1).unwrap(),
            NaiveDate::from_ymd_opt(1969, 12, 31).unwrap()
        );
        assert_eq!(
            day_from_index(20_254).unwrap(),
            NaiveDate::from_ymd_opt(2025, 6, 15).unwrap()
        );
    }
}
