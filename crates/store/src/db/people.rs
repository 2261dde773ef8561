//! People and their upstream identities.

use chrono::{DateTime, NaiveDate, Utc};
use vneid_core::AccountType;

use super::group::{mismatched_answer, Done, Work};
use super::{from_date_text, to_date_text, to_unix, AuditEvent, Database, Tx};
use crate::StoreError;

/// What a successful upstream login tells the store about a person. Its `Debug` output leaves
/// out the personal data (hash, sealed ID, name, birth date).
#[derive(Clone, PartialEq, Eq)]
pub struct LoginUpsert {
    /// The upstream's id in the gateway configuration (`[[upstreams]] id`).
    pub upstream: String,
    /// The account's subject at that upstream.
    pub subject: String,
    /// Keyed hash of the personal ID number, for lookup (never the number itself).
    pub personal_id_hash: Option<String>,
    /// The personal ID number sealed with the master key (AEAD).
    pub personal_id_sealed: Option<Vec<u8>>,
    pub name: Option<String>,
    pub birthdate: Option<NaiveDate>,
    /// The account system the person used (`"BCA"` = VNeID).
    pub login_idp: Option<String>,
    /// Assurance level of this login (1 or 2).
    pub level: u8,
    pub at: DateTime<Utc>,
    /// A citizen's account or an organisation's. An organisation has no personal ID number:
    /// `personal_id_hash` and `personal_id_sealed` are `None` for it.
    pub account_type: AccountType,
    /// An organisation's keyed lookup hash of its identifier (enterprise or tax code), in a
    /// namespace of its own: how another upstream account of the same organisation finds it.
    pub organisation_key: Option<String>,
    /// An organisation's identifier, name and representative, sealed with the master key.
    pub organisation_sealed: Option<Vec<u8>>,
}

impl std::fmt::Debug for LoginUpsert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginUpsert")
            .field("upstream", &self.upstream)
            .field("subject", &self.subject)
            .field(
                "personal_id_hash",
                &self.personal_id_hash.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "personal_id_sealed",
                &self.personal_id_sealed.as_ref().map(|_| "[sealed]"),
            )
            .field("name", &self.name.as_ref().map(|_| "[redacted]"))
            .field("birthdate", &self.birthdate.as_ref().map(|_| "[redacted]"))
            .field("login_idp", &self.login_idp)
            .field("level", &self.level)
            .field("at", &self.at)
            .field("account_type", &self.account_type)
            .field(
                "organisation_key",
                &self.organisation_key.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "organisation_sealed",
                &self.organisation_sealed.as_ref().map(|_| "[sealed]"),
            )
            .finish()
    }
}

/// A person as stored. `id` is the `sub` of every token the gateway issues for them.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonRecord {
    pub id: String,
    pub personal_id_sealed: Option<Vec<u8>>,
    pub name: Option<String>,
    pub birthdate: Option<NaiveDate>,
    /// A citizen or an organisation (rows of a build before account types: a citizen).
    pub account_type: AccountType,
    /// An organisation's identifier, name and representative, sealed with the master key.
    pub organisation_sealed: Option<Vec<u8>>,
    /// True when this call created the person (first login of this human anywhere).
    pub created: bool,
}

impl std::fmt::Debug for PersonRecord {
    // Personal data stays out of logs: the name and birth date are elided, the sealed ID is
    // only said to be present.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonRecord")
            .field("id", &self.id)
            .field(
                "personal_id_sealed",
                &self.personal_id_sealed.as_ref().map(|_| "[sealed]"),
            )
            .field("name", &self.name.as_ref().map(|_| "[redacted]"))
            .field("birthdate", &self.birthdate.as_ref().map(|_| "[redacted]"))
            .field("account_type", &self.account_type)
            .field(
                "organisation_sealed",
                &self.organisation_sealed.as_ref().map(|_| "[sealed]"),
            )
            .field("created", &self.created)
            .finish()
    }
}

/// Columns of `people` every query returns, in this order.
pub(super) const PERSON_COLUMNS: &str =
    "id, personal_id_sealed, name, birthdate, account_type, organisation_sealed";

pub(super) type PersonRow = (
    String,
    Option<Vec<u8>>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
);

pub(super) fn person_from_row(row: PersonRow, created: bool) -> Result<PersonRecord, StoreError> {
    let (id, personal_id_sealed, name, birthdate, account_type, organisation_sealed) = row;
    Ok(PersonRecord {
        id,
        personal_id_sealed,
        name,
        birthdate: birthdate
            .as_deref()
            .map(|b| from_date_text(b, "people.birthdate"))
            .transpose()?,
        account_type: account_type_from_column(account_type.as_deref())?,
        organisation_sealed,
        created,
    })
}

/// `people.account_type`: NULL on rows of a build before account types, which admitted
/// citizens only (accounts with a valid personal ID number).
pub(super) fn account_type_from_column(value: Option<&str>) -> Result<AccountType, StoreError> {
    match value {
        None => Ok(AccountType::Citizen),
        Some(v) => {
            AccountType::parse(v).ok_or_else(|| StoreError::Corrupt("people.account_type".into()))
        }
    }
}

impl Database {
    /// Records a successful upstream login and returns the person it belongs to, in one
    /// transaction:
    ///
    /// 1. a known `(upstream, subject)` → its person: `last_login`, `level` and `login_idp`
    ///    are set; name, birth date and sealed ID refreshed when given;
    /// 2. else a person with this `personal_id_hash` → the new identity is attached to them (the
    ///    same human using a second account system);
    /// 3. else a new person and identity are created (`created: true`).
    ///
    /// Race-safe on both backends: two first logins of the same new human at once yield one
    /// person (unique constraints plus `ON CONFLICT DO NOTHING`, and a retry of the whole
    /// transaction for the loser). On Postgres (READ COMMITTED) a concurrent insert of the same
    /// key makes `ON CONFLICT` wait for the other transaction and then do nothing; each
    /// statement sees what committed before it, so the loser finds the winner's row. Every path
    /// writes the upstream identity before the person, so concurrent logins of one human queue
    /// instead of deadlocking; should Postgres still abort one (`40P01` deadlock, `40001`
    /// serialization failure), it is rolled back and retried like a lost race. On a SQLite file
    /// the write joins the next group commit ([`super::group`]).
    ///
    /// Fails with [`StoreError::Conflict`] when a known identity's person is on record with a
    /// *different* personal ID number than this login reports: the account would otherwise be
    /// handed to someone else, so the login must be refused, not silently re-bound.
    #[tracing::instrument(skip_all, fields(upstream = %login.upstream))]
    ///
    /// An organisation ([`LoginUpsert::account_type`]) takes its own path
    /// ([`super::organisations`]): it is never matched by, nor given, a personal ID number.
    pub async fn upsert_person_on_login(
        &self,
        login: &LoginUpsert,
    ) -> Result<PersonRecord, StoreError> {
        match self.write(Work::Person(Box::new(login.clone()))).await? {
            Done::Person(person) => Ok(person),
            _ => Err(mismatched_answer()),
        }
    }

    /// [`Database::upsert_person_on_login`] and the login's audit event in one transaction:
    /// the event is stored with the person's id, and neither is stored without the other.
    /// Returns the person and the event's id. The answer comes only after both are durable.
    #[tracing::instrument(skip_all, fields(upstream = %login.upstream, kind = %event.kind))]
    pub async fn record_login(
        &self,
        login: LoginUpsert,
        event: AuditEvent,
    ) -> Result<(PersonRecord, i64), StoreError> {
        let work = Work::Login(Box::new(login), Box::new(event));
        match self.write(work).await? {
            Done::Login(person, id) => Ok((person, id)),
            _ => Err(mismatched_answer()),
        }
    }

    /// The person with this id, if any.
    pub async fn person(&self, id: &str) -> Result<Option<PersonRecord>, StoreError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM people WHERE id = $1");
        let row: Option<PersonRow> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        row.map(|r| person_from_row(r, false)).transpose()
    }

    /// The person whose personal ID number has this keyed hash, if any.
    pub async fn person_by_personal_id_hash(
        &self,
        hash: &str,
    ) -> Result<Option<PersonRecord>, StoreError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM people WHERE personal_id_hash = $1");
        let row: Option<PersonRow> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql).bind(hash).fetch_optional(pool).await?
        });
        row.map(|r| person_from_row(r, false)).transpose()
    }

    /// The upstream identities of a person as `(upstream, login_idp, level)`, highest level
    /// first: what an admin needs to know before linking the person to a staff account.
    pub async fn person_identities(
        &self,
        person_id: &str,
    ) -> Result<Vec<(String, Option<String>, u8)>, StoreError> {
        let rows: Vec<(String, Option<String>, i64)> = on_pool!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT upstream, login_idp, level FROM upstream_identities \
                 WHERE person_id = $1 ORDER BY level DESC, upstream, subject",
            )
            .bind(person_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(u, idp, level)| {
                let level = u8::try_from(level)
                    .map_err(|_| StoreError::Corrupt("upstream_identities.level".into()))?;
                Ok((u, idp, level))
            })
            .collect()
    }
}

/// One try of the login upsert in `tx`, which the caller commits. `None`: a concurrent login won
/// a race; the caller rolls back (to a savepoint, or the whole transaction) and tries again.
///
/// The first statement is a write (`UPDATE upstream_identities`), so on SQLite the transaction
/// takes the write lock up front, waiting under the busy timeout, instead of upgrading a read
/// snapshot later (which SQLite refuses with SQLITE_BUSY regardless of the timeout). On
/// Postgres it locks the identity row, if any, so concurrent logins of one known identity queue.
pub(super) async fn upsert_in(
    tx: &mut Tx,
    login: &LoginUpsert,
) -> Result<Option<PersonRecord>, StoreError> {
    if login.account_type == AccountType::Organisation {
        return super::organisations::upsert_organisation_in(tx, login).await;
    }
    let at = to_unix(login.at);
    let level = i64::from(login.level);
    let birthdate = login.birthdate.map(to_date_text);

    // 1. A known upstream identity.
    let known: Option<String> = on_tx!(tx, |c| {
        sqlx::query_scalar(
            "UPDATE upstream_identities SET last_login = $1, level = $2, login_idp = $3 \
             WHERE upstream = $4 AND subject = $5 RETURNING person_id",
        )
        .bind(at)
        .bind(level)
        .bind(login.login_idp.as_deref())
        .bind(&login.upstream)
        .bind(&login.subject)
        .fetch_optional(c)
        .await?
    });

    if let Some(person_id) = known {
        let stored: Option<(Option<String>, Option<String>)> = on_tx!(tx, |c| {
            sqlx::query_as("SELECT personal_id_hash, account_type FROM people WHERE id = $1")
                .bind(&person_id)
                .fetch_optional(c)
                .await?
        });
        let Some((stored_hash, stored_type)) = stored else {
            return Err(StoreError::Corrupt(
                "upstream identity points at a missing person".into(),
            ));
        };
        if account_type_from_column(stored_type.as_deref())? != AccountType::Citizen {
            return Err(StoreError::Conflict(
                "this upstream account belongs to an organisation on record and now reports a \
                 citizen's account"
                    .into(),
            ));
        }
        // Whether this login's (hash, sealed) pair is written to the person.
        let write_id = match (&stored_hash, &login.personal_id_hash) {
            (_, None) => false,
            (Some(stored), Some(new)) if stored == new => true,
            (Some(_), Some(_)) => {
                return Err(StoreError::Conflict(
                    "this upstream account now reports another personal ID number than the \
                     one on record for its person"
                        .into(),
                ))
            }
            (None, Some(new)) => {
                // The person was created without an ID number; adopt this one unless it
                // already belongs to someone else (two records of one human: left for an
                // administrator to merge, never merged silently).
                let taken: Option<String> = on_tx!(tx, |c| {
                    sqlx::query_scalar("SELECT id FROM people WHERE personal_id_hash = $1")
                        .bind(new)
                        .fetch_optional(c)
                        .await?
                });
                if taken.is_some() {
                    tracing::warn!(
                        person_id = %person_id,
                        "personal ID number of this login belongs to another person; not merged"
                    );
                }
                taken.is_none()
            }
        };
        let row: Option<PersonRow> = if write_id {
            let sql = format!(
                "UPDATE people SET updated_at = $1, name = COALESCE($2, name), \
                 account_type = 'citizen', \
                 birthdate = COALESCE($3, birthdate), personal_id_hash = $4, \
                 personal_id_sealed = COALESCE($5, personal_id_sealed) \
                 WHERE id = $6 RETURNING {PERSON_COLUMNS}"
            );
            on_tx!(tx, |c| {
                sqlx::query_as(&sql)
                    .bind(at)
                    .bind(login.name.as_deref())
                    .bind(birthdate.as_deref())
                    .bind(login.personal_id_hash.as_deref())
                    .bind(login.personal_id_sealed.as_deref())
                    .bind(&person_id)
                    .fetch_optional(c)
                    .await?
            })
        } else {
            let sql = format!(
                "UPDATE people SET updated_at = $1, name = COALESCE($2, name), \
                 account_type = 'citizen', \
                 birthdate = COALESCE($3, birthdate) WHERE id = $4 RETURNING {PERSON_COLUMNS}"
            );
            on_tx!(tx, |c| {
                sqlx::query_as(&sql)
                    .bind(at)
                    .bind(login.name.as_deref())
                    .bind(birthdate.as_deref())
                    .bind(&person_id)
                    .fetch_optional(c)
                    .await?
            })
        };
        let Some(row) = row else {
            return Err(StoreError::Corrupt(
                "upstream identity points at a missing person".into(),
            ));
        };
        return person_from_row(row, false).map(Some);
    }

    // 2./3. A new upstream identity: find or create its person.
    let new_id = uuid::Uuid::new_v4().to_string();
    let inserted: Option<PersonRow> = match &login.personal_id_hash {
        Some(_) => {
            let sql = format!(
                "INSERT INTO people (id, created_at, updated_at, personal_id_hash, \
                 personal_id_sealed, name, birthdate, account_type) \
                 VALUES ($1, $2, $2, $3, $4, $5, $6, 'citizen') \
                 ON CONFLICT (personal_id_hash) DO NOTHING RETURNING {PERSON_COLUMNS}"
            );
            on_tx!(tx, |c| {
                sqlx::query_as(&sql)
                    .bind(&new_id)
                    .bind(at)
                    .bind(login.personal_id_hash.as_deref())
                    .bind(login.personal_id_sealed.as_deref())
                    .bind(login.name.as_deref())
                    .bind(birthdate.as_deref())
                    .fetch_optional(c)
                    .await?
            })
        }
        None => {
            // Without an ID number there is nothing to match on: always a new person.
            let sql = format!(
                "INSERT INTO people (id, created_at, updated_at, personal_id_hash, \
                 personal_id_sealed, name, birthdate, account_type) \
                 VALUES ($1, $2, $2, NULL, $3, $4, $5, 'citizen') \
                 RETURNING {PERSON_COLUMNS}"
            );
            on_tx!(tx, |c| {
                sqlx::query_as(&sql)
                    .bind(&new_id)
                    .bind(at)
                    .bind(login.personal_id_sealed.as_deref())
                    .bind(login.name.as_deref())
                    .bind(birthdate.as_deref())
                    .fetch_optional(c)
                    .await?
            })
        }
    };
    let person = match inserted {
        Some(row) => {
            let person = person_from_row(row, true)?;
            if !attach_identity(tx, login, &person.id).await? {
                return Ok(None);
            }
            person
        }
        None => {
            // The hash is taken: the same human, seen before through another account. (On
            // Postgres the INSERT above waited for the transaction that took it to commit, and
            // this statement's fresh snapshot sees its row.)
            let existing: Option<String> = on_tx!(tx, |c| {
                sqlx::query_scalar("SELECT id FROM people WHERE personal_id_hash = $1")
                    .bind(login.personal_id_hash.as_deref())
                    .fetch_optional(c)
                    .await?
            });
            let Some(person_id) = existing else {
                return Ok(None);
            };
            // The identity first, then the person: the order in which the known-identity path
            // above locks them. The other order deadlocks on Postgres against a concurrent
            // login of an identity of the same person.
            if !attach_identity(tx, login, &person_id).await? {
                return Ok(None);
            }
            let sql = format!(
                "UPDATE people SET updated_at = $1, name = COALESCE($2, name), \
                 account_type = 'citizen', birthdate = COALESCE($3, birthdate), \
                 personal_id_sealed = COALESCE($4, personal_id_sealed) \
                 WHERE id = $5 RETURNING {PERSON_COLUMNS}"
            );
            let row: Option<PersonRow> = on_tx!(tx, |c| {
                sqlx::query_as(&sql)
                    .bind(at)
                    .bind(login.name.as_deref())
                    .bind(birthdate.as_deref())
                    .bind(login.personal_id_sealed.as_deref())
                    .bind(&person_id)
                    .fetch_optional(c)
                    .await?
            });
            match row {
                Some(row) => person_from_row(row, false)?,
                None => return Ok(None),
            }
        }
    };
    Ok(Some(person))
}

/// Inserts the login's upstream identity for `person_id`. False when a concurrent login
/// created this identity first (on Postgres the INSERT waited for it to commit): the caller
/// rolls back (with the person it may have made) and takes the known-identity path next try.
pub(super) async fn attach_identity(
    tx: &mut Tx,
    login: &LoginUpsert,
    person_id: &str,
) -> Result<bool, StoreError> {
    let at = to_unix(login.at);
    let attached: u64 = on_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO upstream_identities (upstream, subject, person_id, login_idp, level, \
             first_seen, last_login) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (upstream, subject) DO NOTHING",
        )
        .bind(&login.upstream)
        .bind(&login.subject)
        .bind(person_id)
        .bind(login.login_idp.as_deref())
        .bind(i64::from(login.level))
        .bind(at)
        .execute(c)
        .await?
        .rows_affected()
    });
    Ok(attached > 0)
}
