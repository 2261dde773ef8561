//! Linking a person who has just logged in to their one-stop-shop account, by personal ID
//! number, and the rules on which accounts a login may reach.

use chrono::{DateTime, Utc};
use serde::Serialize;
use vneid_store::{AccountLink, AuditEvent, Database, DirectoryAccount, LinkConflict, StoreError};

/// What a login tells the linker.
#[derive(Debug, Clone)]
pub struct LoginFacts<'a> {
    pub person_id: &'a str,
    /// Keyed hash of the person's (validated) personal ID number.
    pub personal_id_hash: &'a str,
    /// The level of this login (1 or 2).
    pub level: u8,
    /// The account system the person used (`"BCA"` = VNeID).
    pub login_idp: Option<&'a str>,
    /// The policy's VNeID account system (`policy.vneid_login_idp`).
    pub vneid_login_idp: &'a str,
    pub request_id: Option<&'a str>,
    pub at: DateTime<Utc>,
}

impl LoginFacts<'_> {
    /// Whether this is a VNeID level-2 login, the only way into a staff account: `true` exactly
    /// when [`account_reachable`] lets this login reach a staff account.
    pub fn is_vneid_level_2(&self) -> bool {
        account_reachable("staff", self.level, self.login_idp, self.vneid_login_idp)
    }
}

/// What linking did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LinkOutcome {
    /// The person was linked to this account now.
    Linked { username: String },
    /// The person was already linked (to this account).
    AlreadyLinked { username: String },
    /// No account holds the person's number.
    NoMatch,
    /// An account holds the number but the link was not made; recorded for the admin.
    Conflict {
        reason: ConflictReason,
        usernames: Vec<String>,
    },
}

/// Why a matching account was not linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictReason {
    /// The number is flagged duplicate in the directory (several accounts hold it).
    DuplicatePersonalId,
    /// Several accounts hold the number (the flag has not been recomputed yet).
    SeveralAccounts,
    /// A staff account, reached by a login that is not VNeID level 2.
    StaffRequiresVneidLevel2,
    /// The account is already linked to another person.
    AccountLinkedToAnotherPerson,
}

impl ConflictReason {
    /// The stable code of the reason, as serialised and as recorded with the conflict.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DuplicatePersonalId => "duplicate_personal_id",
            Self::SeveralAccounts => "several_accounts",
            Self::StaffRequiresVneidLevel2 => "staff_requires_vneid_level_2",
            Self::AccountLinkedToAnotherPerson => "account_linked_to_another_person",
        }
    }
}

/// After a successful login: links the person to the one directory account holding the same
/// valid personal ID number. Exactly one match links (with an audit event); a number flagged
/// duplicate, several matches, a staff account reached other than through VNeID level 2, or an
/// account linked to someone else records a conflict for the admin (and an audit event); no
/// match does nothing. A person already linked stays as they are.
pub async fn link_on_login(
    db: &Database,
    facts: &LoginFacts<'_>,
) -> Result<LinkOutcome, StoreError> {
    if let Some((link, _)) = db.account_link_by_person(facts.person_id).await? {
        return Ok(LinkOutcome::AlreadyLinked {
            username: link.username,
        });
    }
    // An inactive account (its unit's latest sync import left it out) is never linked.
    let mut accounts = db
        .directory_accounts_by_personal_id_hash(facts.personal_id_hash)
        .await?;
    accounts.retain(DirectoryAccount::is_active);
    let usernames = |accounts: &[DirectoryAccount]| -> Vec<String> {
        accounts.iter().map(|a| a.username.clone()).collect()
    };
    let account = match accounts.as_slice() {
        [] => return Ok(LinkOutcome::NoMatch),
        [one] if one.personal_id_status == "valid" => one,
        [_] => {
            return conflict(
                db,
                facts,
                ConflictReason::DuplicatePersonalId,
                usernames(&accounts),
            )
            .await
        }
        _ => {
            let reason = if accounts.iter().any(|a| a.personal_id_status == "duplicate") {
                ConflictReason::DuplicatePersonalId
            } else {
                ConflictReason::SeveralAccounts
            };
            return conflict(db, facts, reason, usernames(&accounts)).await;
        }
    };
    if !account_reachable(
        &account.kind,
        facts.level,
        facts.login_idp,
        facts.vneid_login_idp,
    ) {
        return conflict(
            db,
            facts,
            ConflictReason::StaffRequiresVneidLevel2,
            vec![account.username.clone()],
        )
        .await;
    }
    if let Some(other) = db.account_link_by_username(&account.username).await? {
        if other.person_id != facts.person_id {
            return conflict(
                db,
                facts,
                ConflictReason::AccountLinkedToAnotherPerson,
                vec![account.username.clone()],
            )
            .await;
        }
    }
    let link = AccountLink {
        username: account.username.clone(),
        person_id: facts.person_id.to_owned(),
        level: facts.level,
        login_idp: facts.login_idp.map(str::to_owned),
        via: "login".to_owned(),
        created_at: facts.at,
    };
    match db.create_account_link(&link).await {
        Ok(()) => {}
        // Two logins of one person at once: the other one linked first.
        Err(StoreError::Conflict(_)) => {
            return Ok(match db.account_link_by_person(facts.person_id).await? {
                Some((l, _)) => LinkOutcome::AlreadyLinked {
                    username: l.username,
                },
                None => {
                    return conflict(
                        db,
                        facts,
                        ConflictReason::AccountLinkedToAnotherPerson,
                        vec![account.username.clone()],
                    )
                    .await
                }
            })
        }
        Err(e) => return Err(e),
    }
    db.clear_link_conflict(facts.person_id).await?;
    let mut event = AuditEvent::new("account_linked", "success")
        .at(facts.at)
        .person_id(facts.person_id)
        .level(facts.level)
        .detail(serde_json::json!({
            "username": account.username,
            "unit_code": account.unit_code,
            "kind": account.kind,
            "via": "login",
        }));
    if let Some(r) = facts.request_id {
        event = event.request_id(r);
    }
    if let Some(idp) = facts.login_idp {
        event = event.login_idp(idp);
    }
    db.append_audit(&event).await?;
    Ok(LinkOutcome::Linked {
        username: account.username.clone(),
    })
}

async fn conflict(
    db: &Database,
    facts: &LoginFacts<'_>,
    reason: ConflictReason,
    usernames: Vec<String>,
) -> Result<LinkOutcome, StoreError> {
    db.record_link_conflict(&LinkConflict {
        person_id: facts.person_id.to_owned(),
        reason: reason.as_str().to_owned(),
        usernames: usernames.clone(),
        at: facts.at,
    })
    .await?;
    let mut event = AuditEvent::new("account_link", "conflict")
        .at(facts.at)
        .reason(reason.as_str())
        .person_id(facts.person_id)
        .level(facts.level)
        .detail(serde_json::json!({ "usernames": usernames }));
    if let Some(r) = facts.request_id {
        event = event.request_id(r);
    }
    if let Some(idp) = facts.login_idp {
        event = event.login_idp(idp);
    }
    db.append_audit(&event).await?;
    Ok(LinkOutcome::Conflict { reason, usernames })
}

/// The staff rule, and its one home: a staff account is linked to, and released to, a person
/// only through VNeID (`vneid_login_idp`) at level 2; any other account always.
///
/// Returns `true` exactly when `kind` is not `"staff"`, or `level` is 2 or more and `login_idp`
/// is `vneid_login_idp`. Every decision on it calls this: [`link_on_login`] (a staff account
/// reached otherwise is a [`ConflictReason::StaffRequiresVneidLevel2`] conflict),
/// [`LoginFacts::is_vneid_level_2`], the readiness report's `staff_linked`, and the gateway
/// before it links an account or releases it in a token of a grant at `level` through
/// `login_idp`. The store's SQL count of linked staff (`readiness_unit_counts`) states the same
/// rule on its own.
pub fn account_reachable(
    kind: &str,
    level: u8,
    login_idp: Option<&str>,
    vneid_login_idp: &str,
) -> bool {
    kind != "staff" || (level >= 2 && login_idp == Some(vneid_login_idp))
}

/// Staff accounts are held by citizens only: an organisation's account (which has no personal
/// ID number, so is never linked at login) is not linked to a staff account by an admin either,
/// nor let into the IT centre's pages. `true` exactly when `kind` is not `"staff"` or the holder
/// is a citizen.
pub fn staff_holder_allowed(kind: &str, holder: vneid_core::AccountType) -> bool {
    kind != "staff" || holder == vneid_core::AccountType::Citizen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_accounts_only_for_citizens() {
        use vneid_core::AccountType::{Citizen, Organisation};
        assert!(staff_holder_allowed("staff", Citizen));
        assert!(!staff_holder_allowed("staff", Organisation));
        assert!(staff_holder_allowed("organisation", Organisation));
        assert!(staff_holder_allowed("citizen", Organisation));
    }

    #[test]
    fn staff_accounts_only_through_vneid_level_2() {
        assert!(account_reachable("staff", 2, Some("BCA"), "BCA"));
        assert!(!account_reachable("staff", 1, Some("BCA"), "BCA"));
        assert!(!account_reachable("staff", 2, Some("VNPOST"), "BCA"));
        assert!(!account_reachable("staff", 2, None, "BCA"));
        assert!(account_reachable("citizen", 1, Some("VNPOST"), "BCA"));
        assert!(account_reachable("organisation", 1, None, "BCA"));
    }
}
