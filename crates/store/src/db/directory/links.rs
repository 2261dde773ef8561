//! Links between directory accounts and people, and the conflicts that kept a login from
//! being linked.

use super::{
    account_columns, account_from_row, decode_account, decode_link, link_columns, link_from_row,
    AccountDbRow, AccountLink, DirectoryAccount, LinkConflict, LinkDbRow, DIRECTORY_LIST_MAX,
    LINK_COLUMN_NAMES,
};
use crate::db::{from_unix, to_unix, Database, Tx};
use crate::StoreError;

type ConflictDbRow = (String, String, String, i64);

fn conflict_from_row(row: ConflictDbRow) -> Result<LinkConflict, StoreError> {
    let (person_id, reason, usernames, at) = row;
    Ok(LinkConflict {
        person_id,
        reason,
        usernames: serde_json::from_str(&usernames).map_err(|_| {
            StoreError::Corrupt("link_conflicts.usernames is not a JSON array of strings".into())
        })?,
        at: from_unix(at, "link_conflicts.at")?,
    })
}

impl Database {
    /// Links a directory account to a person.
    ///
    /// [`StoreError::Conflict`] when the account or the person is already linked (the message
    /// says which); [`StoreError::NotFound`] when the account or the person does not exist;
    /// [`StoreError::Invalid`] when `via` is neither `login` nor `admin`.
    #[tracing::instrument(skip_all, fields(username = %link.username, person_id = %link.person_id))]
    pub async fn create_account_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        if !matches!(link.via.as_str(), "login" | "admin") {
            return Err(StoreError::Invalid(format!(
                "account link via {:?} (expected login or admin)",
                link.via
            )));
        }
        let inserted: Result<(), StoreError> = on_pool!(&self.pool, |pool| {
            sqlx::query(
                "INSERT INTO account_links (username, person_id, level, login_idp, via, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&link.username)
            .bind(&link.person_id)
            .bind(i64::from(link.level))
            .bind(link.login_idp.as_deref())
            .bind(&link.via)
            .bind(to_unix(link.created_at))
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(StoreError::from)
        });
        match inserted {
            Err(e) if e.is_unique_violation() => Err(self.explain_link_conflict(link).await?),
            Err(e) if e.is_foreign_key_violation() => Err(self
                .explain_missing(&link.username, &link.person_id)
                .await?),
            other => other,
        }
    }

    /// An admin's link: the link, the person's cleared conflict and the audit event `event`, in
    /// one transaction — all of them, or none. A taken account or person is
    /// [`StoreError::Conflict`], a missing one [`StoreError::NotFound`], as with
    /// [`Database::create_account_link`].
    pub async fn create_admin_link(
        &self,
        link: &AccountLink,
        event: &crate::AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = Tx::begin(&self.pool).await?;
        let inserted: Result<(), StoreError> = on_tx!(&mut tx, |c| {
            sqlx::query(
                "INSERT INTO account_links (username, person_id, level, login_idp, via, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&link.username)
            .bind(&link.person_id)
            .bind(i64::from(link.level))
            .bind(link.login_idp.as_deref())
            .bind(&link.via)
            .bind(to_unix(link.created_at))
            .execute(c)
            .await
            .map(|_| ())
            .map_err(StoreError::from)
        });
        if let Err(e) = inserted {
            tx.rollback().await?;
            return Err(if e.is_unique_violation() {
                self.explain_link_conflict(link).await?
            } else if e.is_foreign_key_violation() {
                self.explain_missing(&link.username, &link.person_id)
                    .await?
            } else {
                e
            });
        }
        on_tx!(&mut tx, |c| {
            sqlx::query("DELETE FROM link_conflicts WHERE person_id = $1")
                .bind(&link.person_id)
                .execute(c)
                .await?;
        });
        crate::db::audit::append_audit_in(&mut tx, event).await?;
        tx.commit().await
    }

    /// Which side of a refused link is already linked, as a [`StoreError::Conflict`].
    async fn explain_link_conflict(&self, link: &AccountLink) -> Result<StoreError, StoreError> {
        if let Some(existing) = self.account_link_by_username(&link.username).await? {
            if existing.person_id == link.person_id {
                return Ok(StoreError::Conflict(format!(
                    "directory account {:?} is already linked to this person",
                    link.username
                )));
            }
            return Ok(StoreError::Conflict(format!(
                "directory account {:?} is already linked to another person",
                link.username
            )));
        }
        let other: Option<String> = on_pool!(&self.pool, |pool| {
            sqlx::query_scalar("SELECT username FROM account_links WHERE person_id = $1")
                .bind(&link.person_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(StoreError::Conflict(match other {
            Some(other) => format!(
                "person {} is already linked to directory account {other:?}",
                link.person_id
            ),
            None => "the account or the person is already linked".into(),
        }))
    }

    /// Which row a write refused by a foreign key lacks, as a [`StoreError::NotFound`].
    async fn explain_missing(
        &self,
        username: &str,
        person_id: &str,
    ) -> Result<StoreError, StoreError> {
        let (account, person): (i64, i64) = on_pool!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM directory_accounts WHERE username = $1), \
                        (SELECT COUNT(*) FROM people WHERE id = $2)",
            )
            .bind(username)
            .bind(person_id)
            .fetch_one(pool)
            .await?
        });
        Ok(StoreError::NotFound(if account == 0 {
            format!("no directory account {username:?}")
        } else if person == 0 {
            format!("no person {person_id}")
        } else {
            "the directory account or the person does not exist".into()
        }))
    }

    /// Removes and returns the link of this username, if any.
    #[tracing::instrument(skip(self))]
    pub async fn remove_account_link(
        &self,
        username: &str,
    ) -> Result<Option<AccountLink>, StoreError> {
        let sql = format!(
            "DELETE FROM account_links WHERE username = $1 RETURNING {}",
            link_columns("")
        );
        let row: Option<LinkDbRow> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql)
                .bind(username)
                .fetch_optional(pool)
                .await?
        });
        row.map(link_from_row).transpose()
    }

    /// The link of this person with its account, if any.
    pub async fn account_link_by_person(
        &self,
        person_id: &str,
    ) -> Result<Option<(AccountLink, DirectoryAccount)>, StoreError> {
        let sql = format!(
            "SELECT {}, {} FROM account_links l \
             JOIN directory_accounts a ON a.username = l.username WHERE l.person_id = $1",
            link_columns("l."),
            account_columns("a.")
        );
        let row: Option<(LinkDbRow, AccountDbRow)> = on_pool!(&self.pool, |pool| {
            match sqlx::query(&sql)
                .bind(person_id)
                .fetch_optional(pool)
                .await?
            {
                Some(r) => Some((
                    decode_link(&r, 0)?,
                    decode_account(&r, LINK_COLUMN_NAMES.len())?,
                )),
                None => None,
            }
        });
        row.map(|(link, account)| Ok((link_from_row(link)?, account_from_row(account)?)))
            .transpose()
    }

    /// The link of this username, if any.
    pub async fn account_link_by_username(
        &self,
        username: &str,
    ) -> Result<Option<AccountLink>, StoreError> {
        let sql = format!(
            "SELECT {} FROM account_links WHERE username = $1",
            link_columns("")
        );
        let row: Option<LinkDbRow> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql)
                .bind(username)
                .fetch_optional(pool)
                .await?
        });
        row.map(link_from_row).transpose()
    }

    /// Links by username (byte order), those after `after` (exclusive); at most `limit`,
    /// capped at [`DIRECTORY_LIST_MAX`].
    pub async fn list_account_links(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccountLink>, StoreError> {
        let limit = i64::from(limit.min(DIRECTORY_LIST_MAX));
        let columns = link_columns("");
        let rows: Vec<LinkDbRow> = on_pool!(&self.pool, |pool| {
            match after {
                Some(after) => {
                    let sql = format!(
                        "SELECT {columns} FROM account_links WHERE username > $1 \
                         ORDER BY username LIMIT $2"
                    );
                    sqlx::query_as(&sql)
                        .bind(after)
                        .bind(limit)
                        .fetch_all(pool)
                        .await?
                }
                None => {
                    let sql =
                        format!("SELECT {columns} FROM account_links ORDER BY username LIMIT $1");
                    sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?
                }
            }
        });
        rows.into_iter().map(link_from_row).collect()
    }

    /// Records why this person could not be linked, replacing what was recorded for them.
    /// [`StoreError::NotFound`] when the person does not exist.
    #[tracing::instrument(skip_all, fields(person_id = %c.person_id, reason = %c.reason))]
    pub async fn record_link_conflict(&self, c: &LinkConflict) -> Result<(), StoreError> {
        let usernames =
            serde_json::to_string(&c.usernames).map_err(|e| StoreError::Other(Box::new(e)))?;
        let result: Result<(), StoreError> = on_pool!(&self.pool, |pool| {
            sqlx::query(
                "INSERT INTO link_conflicts (person_id, reason, usernames, at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (person_id) DO UPDATE SET \
                 reason = excluded.reason, usernames = excluded.usernames, at = excluded.at",
            )
            .bind(&c.person_id)
            .bind(&c.reason)
            .bind(&usernames)
            .bind(to_unix(c.at))
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(StoreError::from)
        });
        match result {
            Err(e) if e.is_foreign_key_violation() => {
                Err(StoreError::NotFound(format!("no person {}", c.person_id)))
            }
            other => other,
        }
    }

    /// Forgets the link conflict of this person (e.g. once linked). Nothing to forget is fine.
    #[tracing::instrument(skip(self))]
    pub async fn clear_link_conflict(&self, person_id: &str) -> Result<(), StoreError> {
        on_pool!(&self.pool, |pool| {
            sqlx::query("DELETE FROM link_conflicts WHERE person_id = $1")
                .bind(person_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Link conflicts, newest first (then by person id); at most `limit`, capped at
    /// [`DIRECTORY_LIST_MAX`].
    pub async fn list_link_conflicts(&self, limit: u32) -> Result<Vec<LinkConflict>, StoreError> {
        let limit = i64::from(limit.min(DIRECTORY_LIST_MAX));
        let rows: Vec<ConflictDbRow> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT person_id, reason, usernames, at FROM link_conflicts \
                 ORDER BY at DESC, person_id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(conflict_from_row).collect()
    }
}
