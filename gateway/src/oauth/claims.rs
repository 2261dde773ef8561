//! What a token releases about a person, under which scope — one rule for the ID token and for
//! userinfo: `name` and `birthdate` with `profile`, `personal_id` with `personal_id`, `account`
//! with `account` (a staff account only to a grant made through VNeID at level 2),
//! `account_type` always (with `openid`: a portal must know whether the subject is a person),
//! `organisation` with `organisation` (organisation accounts only; they never get
//! `personal_id`).

use serde_json::{json, Value};

use crate::errors::OAuthError;
use crate::state::AppState;

/// The person's claims a set of scopes releases.
#[derive(Debug, Default)]
pub struct Released {
    pub name: Option<String>,
    pub birthdate: Option<String>,
    pub personal_id: Option<String>,
    pub account: Option<Value>,
    /// `citizen` or `organisation`, whatever the scopes.
    pub account_type: Option<String>,
    pub organisation: Option<Value>,
}

/// The claims `scopes` release about `person`, for a grant at `level` through `login_idp`.
pub async fn released(
    state: &AppState,
    person: &vneid_store::PersonRecord,
    scopes: &[&str],
    level: u8,
    login_idp: Option<&str>,
) -> Result<Released, OAuthError> {
    let has = |s: &str| scopes.contains(&s);
    let mut out = Released {
        account_type: Some(person.account_type.as_str().to_owned()),
        ..Released::default()
    };
    let organisation = person.account_type == vneid_core::AccountType::Organisation;
    if has("organisation") && organisation {
        out.organisation = organisation_claim(state, person);
    }
    if has("profile") {
        out.name = person.name.clone();
        out.birthdate = person.birthdate.map(|d| d.format("%Y-%m-%d").to_string());
    }
    if has("personal_id") && !organisation {
        out.personal_id = open_personal_id(state, person);
    }
    if has("account") {
        out.account = account_claim(state, &person.id, level, login_idp).await?;
    }
    Ok(out)
}

fn open_personal_id(state: &AppState, person: &vneid_store::PersonRecord) -> Option<String> {
    let sealed = person.personal_id_sealed.as_ref()?;
    match state.master.open_personal_id(sealed) {
        Ok(number) => Some(number),
        Err(e) => {
            tracing::error!(error = %e, person_id = %person.id, "cannot open a sealed personal ID number");
            None
        }
    }
}

/// The `organisation` claim: `{id, name, representative}` as the upstream last sent them
/// (absent ones `null`).
fn organisation_claim(state: &AppState, person: &vneid_store::PersonRecord) -> Option<Value> {
    let sealed = person.organisation_sealed.as_ref()?;
    match state.master.open_organisation(sealed) {
        Ok(o) => Some(json!({"id": o.id, "name": o.name, "representative": o.representative})),
        Err(e) => {
            tracing::error!(error = %e, person_id = %person.id, "cannot open an organisation's sealed facts");
            None
        }
    }
}

/// The `account` claim (scope `account`): the one-stop-shop account linked to the person —
/// a staff account only to a grant made through VNeID at level 2.
pub async fn account_claim(
    state: &AppState,
    person_id: &str,
    level: u8,
    login_idp: Option<&str>,
) -> Result<Option<Value>, OAuthError> {
    let Some((_, account)) = state.db.account_link_by_person(person_id).await? else {
        return Ok(None);
    };
    // Its unit's latest sync import no longer lists it: the link is kept, the claim is not
    // released.
    if !account.is_active() {
        return Ok(None);
    }
    if !vneid_directory::link::account_reachable(
        &account.kind,
        level,
        login_idp,
        &state.settings.policy.vneid_login_idp,
    ) {
        return Ok(None);
    }
    Ok(Some(json!({
        "username": account.username,
        "unit_code": account.unit_code,
        "unit_name": account.unit_name,
        "kind": account.kind,
    })))
}
