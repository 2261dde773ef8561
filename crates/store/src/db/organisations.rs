//! Organisation accounts as people: found by their upstream identity or by their organisation
//! key, never by a personal ID number (see migration 0008).

use super::people::{attach_identity, person_from_row, PersonRow, PERSON_COLUMNS};
use super::{to_unix, LoginUpsert, PersonRecord, Tx};
use crate::StoreError;

/// [`super::people::upsert_in`] for an organisation's login, in `tx`. `None`: a concurrent login
/// won a race; the caller rolls back and tries again.
///
/// 1. A known `(upstream, subject)` of an organisation → that organisation, its name and sealed
///    facts refreshed, its key adopted if it had none and no other organisation holds it. A
///    known identity whose organisation reports another key fails with
///    [`StoreError::Conflict`], as a citizen's changed personal ID number does.
/// 2. A known identity whose person is a citizen (a build before account types stored this
///    organisation account as a person) is moved to an organisation of its own, found or made
///    as in 3; the person it leaves keeps everything else.
/// 3. Otherwise the organisation holding the key, or else a new one, gets the identity.
pub(super) async fn upsert_organisation_in(
    tx: &mut Tx,
    login: &LoginUpsert,
) -> Result<Option<PersonRecord>, StoreError> {
    let at = to_unix(login.at);
    let known: Option<String> = on_tx!(tx, |c| {
        sqlx::query_scalar(
            "UPDATE upstream_identities SET last_login = $1, level = $2, login_idp = $3 \
             WHERE upstream = $4 AND subject = $5 RETURNING person_id",
        )
        .bind(at)
        .bind(i64::from(login.level))
        .bind(login.login_idp.as_deref())
        .bind(&login.upstream)
        .bind(&login.subject)
        .fetch_optional(c)
        .await?
    });
    let mut moved_from = None;
    if let Some(person_id) = known {
        let stored: Option<(Option<String>, Option<String>)> = on_tx!(tx, |c| {
            sqlx::query_as("SELECT account_type, organisation_key FROM people WHERE id = $1")
                .bind(&person_id)
                .fetch_optional(c)
                .await?
        });
        let Some((stored_type, stored_key)) = stored else {
            return Err(StoreError::Corrupt(
                "upstream identity points at a missing person".into(),
            ));
        };
        if stored_type.as_deref() == Some("organisation") {
            let adopt = match (&stored_key, &login.organisation_key) {
                (Some(stored), Some(new)) if stored != new => {
                    return Err(StoreError::Conflict(
                        "this upstream account now reports another organisation than the one \
                         on record"
                            .into(),
                    ))
                }
                (None, Some(new)) => holder(tx, new).await?.is_none(),
                _ => false,
            };
            return refresh(tx, login, &person_id, adopt).await.map(Some);
        }
        moved_from = Some(person_id);
    }

    // A new identity, or one to move: the organisation holding the key, or a new one.
    let new_id = uuid::Uuid::new_v4().to_string();
    let sql = format!(
        "INSERT INTO people (id, created_at, updated_at, personal_id_hash, personal_id_sealed, \
         name, birthdate, account_type, organisation_key, organisation_sealed) \
         VALUES ($1, $2, $2, NULL, NULL, $3, NULL, 'organisation', $4, $5) \
         ON CONFLICT (organisation_key) DO NOTHING RETURNING {PERSON_COLUMNS}"
    );
    let inserted: Option<PersonRow> = on_tx!(tx, |c| {
        sqlx::query_as(&sql)
            .bind(&new_id)
            .bind(at)
            .bind(login.name.as_deref())
            .bind(login.organisation_key.as_deref())
            .bind(login.organisation_sealed.as_deref())
            .fetch_optional(c)
            .await?
    });
    let (person_id, created) = match inserted {
        Some(row) => {
            let person = person_from_row(row, true)?;
            (person.id.clone(), Some(person))
        }
        None => {
            // The key is taken: the same organisation, seen through another account.
            let Some(key) = &login.organisation_key else {
                return Ok(None);
            };
            match holder(tx, key).await? {
                Some(id) => (id, None),
                None => return Ok(None),
            }
        }
    };
    match &moved_from {
        Some(from) => {
            on_tx!(tx, |c| {
                sqlx::query(
                    "UPDATE upstream_identities SET person_id = $1 \
                     WHERE upstream = $2 AND subject = $3",
                )
                .bind(&person_id)
                .bind(&login.upstream)
                .bind(&login.subject)
                .execute(c)
                .await?
                .rows_affected()
            });
            tracing::warn!(
                from = %from,
                to = %person_id,
                "an organisation account stored as a citizen by an earlier build now has an \
                 organisation record of its own"
            );
        }
        None => {
            if !attach_identity(tx, login, &person_id).await? {
                return Ok(None);
            }
        }
    }
    if let Some(person) = created {
        return Ok(Some(person));
    }
    refresh(tx, login, &person_id, false).await.map(Some)
}

/// The organisation holding `key`, if any.
async fn holder(tx: &mut Tx, key: &str) -> Result<Option<String>, StoreError> {
    Ok(on_tx!(tx, |c| {
        sqlx::query_scalar("SELECT id FROM people WHERE organisation_key = $1")
            .bind(key)
            .fetch_optional(c)
            .await?
    }))
}

/// Refreshes an organisation's name and sealed facts from this login (and its key when
/// `adopt_key`), returning it.
async fn refresh(
    tx: &mut Tx,
    login: &LoginUpsert,
    person_id: &str,
    adopt_key: bool,
) -> Result<PersonRecord, StoreError> {
    let sql = format!(
        "UPDATE people SET updated_at = $1, name = COALESCE($2, name), \
         organisation_sealed = COALESCE($3, organisation_sealed), \
         organisation_key = CASE WHEN $4 THEN $5 ELSE organisation_key END \
         WHERE id = $6 RETURNING {PERSON_COLUMNS}"
    );
    let row: Option<PersonRow> = on_tx!(tx, |c| {
        sqlx::query_as(&sql)
            .bind(to_unix(login.at))
            .bind(login.name.as_deref())
            .bind(login.organisation_sealed.as_deref())
            .bind(adopt_key)
            .bind(login.organisation_key.as_deref())
            .bind(person_id)
            .fetch_optional(c)
            .await?
    });
    match row {
        Some(row) => person_from_row(row, false),
        None => Err(StoreError::Corrupt(
            "upstream identity points at a missing person".into(),
        )),
    }
}
